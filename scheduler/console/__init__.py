"""The web console of `dms api` (docs/console.md): instances, endpoints, tasks and their last hour."""
