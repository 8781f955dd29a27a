"""Latencies that keep growing while a CDC job is silent (worker/metrics.py)."""

from __future__ import annotations

from worker.metrics import STALE_SECONDS, cdc_latency, cdc_silence

RUNNING = {"Status": "running", "MigrationType": "cdc", "StartDate": "1000", "cdc_reported": "2000",
           "CDCLatencySource": "0.5", "CDCLatencyTarget": "0.75"}


def test_a_fresh_report_is_shown_as_reported():
    assert cdc_latency(RUNNING, 2000 + STALE_SECONDS - 0.1) == {"CDCLatencySource": 0.5, "CDCLatencyTarget": 0.75}


def test_a_stale_report_grows_with_wall_time():
    late = 2000 + STALE_SECONDS + 40
    assert cdc_latency(RUNNING, late) == {"CDCLatencySource": 0.5 + STALE_SECONDS + 40,
                                          "CDCLatencyTarget": 0.75 + STALE_SECONDS + 40}


def test_before_any_report_the_silence_counts_from_the_start():
    info = {**RUNNING, "cdc_reported": ""}
    assert cdc_silence(info, 1000 + STALE_SECONDS + 1) == STALE_SECONDS + 1


def test_a_later_start_counts_from_the_start_not_from_an_older_run():
    info = {**RUNNING, "StartDate": "3000"}
    assert cdc_silence(info, 3001) == 0


def test_only_a_running_replicating_task_is_silent():
    late = 2000 + STALE_SECONDS + 40
    for info in ({**RUNNING, "Status": "stopped"}, {**RUNNING, "MigrationType": "full-load"},
                 {**RUNNING, "ValidationOnly": "true"}):
        assert cdc_silence(info, late) == 0


def _task(migration_type: str, loaded_at: float | None = None):
    from connectors.model.catalog import TaskDef

    return TaskDef("t1", "s", "d", "ri1", migration_type, "{}", started_at=1.0, loaded_at=loaded_at)


def test_a_task_resumes_without_its_live_state_only_when_no_table_still_needed_its_load():
    assert _task("cdc").resumable_without_state
    assert _task("full-load-and-cdc", loaded_at=2.0).resumable_without_state
    assert not _task("full-load-and-cdc").resumable_without_state
    assert not _task("full-load", loaded_at=2.0).resumable_without_state
    assert "--type resume-processing" in _task("cdc").vanished_message()
    for task in (_task("full-load-and-cdc"), _task("full-load", loaded_at=2.0)):
        assert task.vanished_message().endswith("run `dms task start t1 --type reload-target` to load everything again")


def test_the_catalog_keeps_each_run_and_whether_its_load_finished(tmp_path):
    from connectors.model.catalog import Catalog, TaskDef

    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    catalog.add_task(TaskDef("t1", "s", "d", "ri1", "full-load-and-cdc", "{}"))
    assert catalog.task("t1").started_at is None
    catalog.record_start("t1", fresh=True, loaded=False)
    first = catalog.task("t1")
    assert first.started_at is not None and first.loaded_at is None
    catalog.record_loaded("t1")
    assert catalog.task("t1").loaded_at is not None
    catalog.record_start("t1", fresh=False, loaded=False)  # a resume keeps the run
    assert catalog.task("t1").started_at == first.started_at and catalog.task("t1").loaded_at is not None
    catalog.record_start("t1", fresh=True, loaded=False)  # reload-target: a new run, nothing loaded yet
    assert catalog.task("t1").loaded_at is None
    catalog.record_start("t1", fresh=False, loaded=True)  # a resume that finds every table loaded says so
    assert catalog.task("t1").loaded_at is not None
    catalog.delete_task("t1")
    catalog.add_task(TaskDef("t1", "s", "d", "ri1", "cdc", "{}"))
    assert catalog.task("t1").started_at is None  # a new task of the same name has not run
