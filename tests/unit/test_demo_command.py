"""The demo ends with commands to go on with: they must work in the shell that ran it."""

from __future__ import annotations

import sys
from pathlib import Path

from scheduler.demo import dms_command


def test_dms_by_name_when_it_is_on_path(tmp_path, monkeypatch):
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "dms").write_text("#!/bin/sh\n")
    (bin_dir / "dms").chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python3"))
    monkeypatch.setenv("PATH", str(bin_dir))
    assert dms_command() == "dms"


def test_the_script_beside_python_when_the_environment_is_not_activated(tmp_path, monkeypatch):
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "dms").write_text("#!/bin/sh\n")
    (bin_dir / "dms").chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python3"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.chdir(tmp_path)
    assert dms_command() == str(Path(".venv/bin/dms"))


def test_the_module_when_there_is_no_script(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python3"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert dms_command() == "python3 -m scheduler.cli"
