"""Which `dms` command lines a running worker may plan (scheduler/start_requests.py); the rest go to the CLI."""

from __future__ import annotations

import pytest

from scheduler.start_requests import ask, catalog_id, parse_argv


@pytest.mark.parametrize(("argv", "parsed"), [
    (["task", "start", "T1"], ("t1", None)),  # identifiers are case-insensitive, as the CLI reads them
    (["task", "start", "t1", "--type", "resume-processing"], ("t1", "resume-processing")),
    (["task", "start", "t1", "--type=reload-target"], ("t1", "reload-target")),
    (["task", "start", "t1", "--type", "nonsense"], None),  # the CLI's own error says what --type takes
    (["task", "start", "t1", "--type"], None),
    (["task", "start", "--help"], None),
    (["task", "start"], None),
    (["task", "start", "t1", "--json"], None),
    (["task", "stop", "t1"], None),
    (["endpoint", "start", "t1"], None),
    ([], None),
])
def test_only_a_plain_task_start_is_asked_of_a_worker(argv, parsed):
    assert parse_argv(argv) == parsed


def test_the_embedded_mode_always_plans_in_the_cli(monkeypatch):
    monkeypatch.delenv("DMS_REDIS_URL", raising=False)
    assert ask(["task", "start", "t1"]) is None


def test_catalogs_are_told_apart_by_their_url(monkeypatch):
    monkeypatch.setenv("DMS_CATALOG_URL", "sqlite:////a/catalog.db")
    assert catalog_id() == catalog_id("sqlite:////a/catalog.db") != catalog_id("sqlite:////b/catalog.db")


def test_a_redis_that_does_not_answer_is_left_to_the_cli_to_report(monkeypatch):
    monkeypatch.setenv("DMS_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    assert ask(["task", "start", "t1"]) is None
    monkeypatch.setenv("DMS_REDIS_URL", "not a url")
    assert ask(["task", "start", "t1"]) is None


def test_the_start_types_are_the_clis():
    from scheduler.plan import START_TYPES
    from scheduler.start_requests import START_TYPES as asked

    assert asked == START_TYPES
