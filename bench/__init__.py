"""Benchmarks: OpenDMS beside the best plain tools on the same servers, in the same run."""
