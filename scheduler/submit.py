"""Starting, stopping and deleting tasks: preflight, initial state, enqueueing jobs."""

from __future__ import annotations

import time

from connectors.base import Capability, TableId, TableSchema
from connectors.errors import ConfigError, DmsError, PositionLost
from connectors.model.catalog import Catalog, TaskDef
from connectors.model.states import ACTIVE, UNLOADED, JobState, Status, StopReason, TableStage, ValidationState
from connectors.model.tablemap import TableMap, build_maps
from connectors.registry import open_source, open_target, source_class
from worker.app import LEASE_SECONDS, redis_home
from worker.dispatch import dispatch, enqueue
from worker.job import settle
from worker.state import CDC_JOB, StateStore
from worker.validation import FAILED_OVERALL

from .plan import initial_table_state, jobs_to_run
from .status import state_lost


def start_task(catalog: Catalog, state: StateStore, task_id: str, start_type: str | None,
               home: str | None = None) -> str:
    """Start or resume a task; returns the start type actually used (and how, when it was not plain).
    ``home``: the Redis the task's live state is in, as the CLI that asked spells it (default: this process's)."""
    task = catalog.task(task_id)
    catalog.instance(task.instance)
    info = state.task(task_id)
    lost = state_lost(task, info)
    has_run = "FreshStartDate" in info or lost
    start_type = start_type or ("resume-processing" if has_run else "start-replication")
    if start_type == "start-replication" and has_run:
        raise ConfigError(
            f"task {task_id} has run before: use --type resume-processing to continue from its checkpoint "
            "or --type reload-target to load everything again"
        )
    if start_type == "resume-processing" and not has_run:
        start_type = "start-replication"
    if start_type == "resume-processing" and task.changed:
        raise ConfigError(f"task {task_id}'s {task.changed} changed since its run (dms task modify), and its run "
                          "cannot go on with them: start it with --type reload-target to load everything again")

    if state.status(task_id) not in ACTIVE:  # an active task is refused just below; its jobs run on
        _wait_ended(state, task_id)  # before the claim: jobs still ending see the task halted, and stop
    claimed, status = state.claim_start(task_id)  # two concurrent starts: one wins, one is told
    if not claimed:
        raise ConfigError(f"task {task_id} is {status}: stop it first with `dms task stop {task_id}`")
    catalog.record_home(task_id, home or redis_home())
    recover = lost and start_type == "resume-processing"
    try:
        _prepare(catalog, task, state, start_type, recover)
        fresh = start_type != "resume-processing"
        # A run started before the catalog kept runs, or whose record of its loaded tables was missed.
        was_loaded = not fresh and "FullLoadFinishDate" in info and \
            TableStage.FAILED not in state.table_states(task_id).values()
        catalog.record_start(task_id, fresh=fresh, loaded=not task.full_load or was_loaded)
    except PositionLost as exc:  # nothing to resume from: the task has failed, as a worker would find
        state.set_task(task_id, Status=Status.FAILED, StopReason=StopReason.FATAL_ERROR, LastFailureMessage=str(exc),
                       StopDate=time.time())
        state.add_event(task_id, "failure", f"task failed: {exc}")
        raise
    except BaseException:
        state.set_task(task_id, Status=status)
        raise

    jobs = jobs_to_run(task, state.table_states(task_id), state.jobs(task_id))
    now = time.time()
    stale = ["StopReason", "StopDate", "LastFailureMessage", "pending_stop_reason"]
    if any(j != CDC_JOB for j in jobs):
        stale.append("FullLoadFinishDate")
    state.clear_task_fields(task_id, *stale)
    loads = [j for j in jobs if j != CDC_JOB]
    state.clear_waiting(task_id)
    state.hold(task_id, loads)  # in load order; at most MaxFullLoadSubTasks go to the queues at once
    if CDC_JOB in jobs:
        state.set_job(task_id, CDC_JOB, JobState.QUEUED)
    state.set_task(task_id, Status=Status.RUNNING, StartDate=now, start_type=start_type,
                   max_full_load_subtasks=task.settings.max_full_load_subtasks,
                   **({"FullLoadStartDate": now} if task.full_load and start_type != "resume-processing" else {}))
    state.set_active(task_id, True)
    state.add_event(task_id, "state change", f"started ({start_type})")
    if CDC_JOB in jobs:
        enqueue(task.instance, task_id, CDC_JOB)
    dispatch(state, task_id, task.instance)
    if settle(state, task_id):  # a resumed full-load task with nothing left ends here
        catalog.record_loaded(task_id)
    return f"{start_type}, from the source's capture and the target's checkpoints: {REBUILT}" if recover else start_type


def _wait_ended(state: StateStore, task_id: str) -> None:
    """A start begins once the jobs of the task's last run have ended. The job that failed the task still
    closes its connections and records its outcome after the task shows failed: a job of the new run sent
    meanwhile would find its lease held and be skipped, and the old job's record would then overwrite the new
    run's, leaving the task running with no job. A lease left by a killed worker expires within LEASE_SECONDS."""
    deadline = time.monotonic() + LEASE_SECONDS + 1
    jobs = sorted({*state.jobs(task_id), CDC_JOB})  # the last run's: a stopped task's job list stays as it is
    while held := state.leased(task_id, jobs):
        if time.monotonic() > deadline:
            raise ConfigError(f"task {task_id}'s job(s) {', '.join(held)} of its last run still run on a worker: "
                              f"stop the task with `dms task stop {task_id}`, or try again shortly")
        time.sleep(0.05)


REBUILT = "the live state had vanished from Redis; every table counts as loaded and statistics restart from 0"


def _prepare(catalog: Catalog, task: TaskDef, state: StateStore, start_type: str, recover: bool = False) -> None:
    """Preflight, then the initial state of a fresh start or the checks of a resume."""
    source_ep = catalog.endpoint(task.source)
    source = open_source(source_ep)
    try:
        target = open_target(catalog.endpoint(task.target))
    except BaseException:
        source.close()
        raise
    try:
        if task.cdc and Capability.CDC not in source.capabilities:
            raise ConfigError(f"source {task.source} ({source_ep.engine}) cannot capture changes: "
                              "use --migration-type full-load")
        problems = source.check(cdc=task.cdc) + target.check()
        if problems:
            raise ConfigError("; ".join(problems))
        state.set_task(task.id, instance=task.instance, MigrationType=task.migration_type,
                       ValidationOnly=task.validation_only)
        if recover:
            _recover(task, source, state)
        elif start_type == "resume-processing":
            _resume(task, source, state)
            _put_back_if_loaded(task, target, state)
        else:
            _fresh(task, source, target, state)
    finally:
        source.close()
        target.close()


def _fresh(task: TaskDef, source, target, state: StateStore) -> None:
    schemas = source.tables(task.mappings.selections)
    if not schemas:
        raise ConfigError(
            f"the table mappings of task {task.id} select no table on source {task.source}: "
            "check the schema-name and table-name patterns of its selection rules"
        )
    maps = check_rules(task, source, schemas)
    state.reset_run(task.id)
    state.clear_task_fields(task.id, "stop_hook_done", "cdc_acked", FAILED_OVERALL)  # a new P0 follows
    if not task.validation_only:  # a validation-only task only reads the target
        target.forget(task.id)
    _before_load(task, target, state, [maps[s.table].target for s in schemas])
    p0 = None
    if task.cdc:
        given = None
        if task.migration_type == "cdc" and task.cdc_start_position:
            given = source.parse_position(task.id, task.cdc_start_position)
            _check_position(source, task.id, given)  # before capture objects exist: none left behind
        p0 = source.start_cdc(task.id, schemas)  # before any snapshot: every snapshot is at or after P0
        if given is not None:
            try:  # against what capture holds now it exists
                _check_position(source, task.id, given)
            except ConfigError:
                source.drop_cdc(task.id)  # capture left behind would keep the source's log growing
                raise
        p0 = given or p0
        for line in source.advice(cdc=True):
            state.add_event(task.id, "configuration change", f"source: warning: {line}")
    if not task.full_load and not task.validation_only:
        for schema in schemas:  # cdc only: create missing tables, never drop or empty existing ones
            target.prepare(maps[schema.table].target, "keep")
    _plan_tables(task, state, schemas, initial_table_state(task))
    fields = {"FreshStartDate": time.time()}
    if p0 is not None:
        fields |= {"p0": p0, "CdcStartPosition": p0.token, "RecoveryCheckpoint": p0.token}
    state.set_task(task.id, **fields)


def _plan_tables(task: TaskDef, state: StateStore, schemas: list[TableSchema], table_state: TableStage) -> None:
    state.save_tables(task.id, schemas)
    validating = task.settings.validation.EnableValidation
    first_stats = {"ValidationState": ValidationState.PENDING_VALIDATION} if validating else {}
    for schema in schemas:
        state.set_table_state(task.id, schema.table, table_state, FullLoadRows=0, Inserts=0, Updates=0, Deletes=0,
                              Ddls=0, **first_stats)


def _recover(task: TaskDef, source, state: StateStore) -> None:
    """Resume a task whose live state vanished, from what outlives Redis: the catalog (the run and whether
    its full load had finished), the source's capture (kept back to what the target has) and the target's
    checkpoints (changes at or before them are skipped)."""
    if not task.resumable_without_state:
        raise ConfigError(task.vanished_message())
    _resume(task, source, state)  # the source's capture must still be there
    p0 = source.resume_position(task.id)
    if p0 is None:  # the source keeps no capture of its own: where the task stood was only in the live state
        raise ConfigError(f"live state of task {task.id} vanished from Redis, and source {task.source} keeps no record "
                          f"of where its changes were read: run `dms task start {task.id} --type reload-target`")
    schemas = source.tables(task.mappings.selections)
    check_rules(task, source, schemas)
    state.reset_run(task.id)
    state.clear_task_fields(task.id, "stop_hook_done", FAILED_OVERALL)
    # Every table was loaded (resumable_without_state): all apply changes from where capture resumes on.
    _plan_tables(task, state, schemas, TableStage.LIVE)
    state.set_task(task.id, FreshStartDate=task.started_at, p0=p0, RecoveryCheckpoint=p0.token,
                   CdcStartPosition=task.cdc_start_position or p0.token)
    state.add_event(task.id, "state change", f"resumed from the source's capture at {p0.token} and the target's "
                    f"checkpoints: {REBUILT}")


def _put_back_if_loaded(task: TaskDef, target, state: StateStore) -> None:
    """A full-load task resumed with every table loaded runs no job that would put back what its start set
    aside on the target (a worker died in between): this start does (with CDC, the CDC job does)."""
    states = state.table_states(task.id).values()
    if task.cdc or not task.full_load or task.validation_only or task.settings.prep_mode == "drop" or \
            any(s in UNLOADED for s in states):
        return
    for note in target.after_load(task.id, replicating=False):
        state.add_event(task.id, "configuration change", f"target: {note}")


def _before_load(task: TaskDef, target, state: StateStore, tables: list[TableSchema]) -> None:
    """Tables the user created first (TRUNCATE_BEFORE_LOAD, DO_NOTHING): emptied together, their foreign keys
    and triggers kept from refusing or rewriting the load (Target.before_load); what was done is shown."""
    if not task.full_load or task.validation_only or task.settings.prep_mode == "drop":
        state.clear_task_fields(task.id, "TargetPreparation")
        return
    notes = target.before_load(task.id, tables, task.settings.prep_mode)
    for note in notes:
        state.add_event(task.id, "configuration change", f"target: {note}")
    if notes:
        state.set_task(task.id, TargetPreparation="; ".join(notes))
    else:
        state.clear_task_fields(task.id, "TargetPreparation")


def check_rules(task: TaskDef, source, schemas: list[TableSchema]) -> dict[TableId, TableMap]:
    """Every selected table's map: a rule that cannot apply to the source's tables fails here, with its id."""
    return build_maps(task.mappings, task.settings, schemas, Capability.BEFORE_IMAGE in source.capabilities)


def _check_position(source, task_id: str, position) -> None:
    problem = source.check_position(task_id, position)
    if problem:
        raise ConfigError(problem)


def _resume(task: TaskDef, source, state: StateStore) -> None:
    lost = source.can_resume(task.id) if task.cdc else None
    if lost:
        raise PositionLost(f"{lost}: reload the task with `dms task start {task.id} --type reload-target`")


def request_stop(task: TaskDef, state: StateStore) -> None:
    """`dms task stop` (and the console's Stop) without the wait: a task whose live state vanished is failed."""
    if state_lost(task, state.task(task.id)):
        raise ConfigError(f"task {task.id} is failed, not running: {task.vanished_message()}")
    stop_task(state, task.id)


def stop_task(state: StateStore, task_id: str, reason: str | None = None) -> None:
    status = state.status(task_id)
    if status not in (Status.STARTING, Status.RUNNING):
        raise ConfigError(f"task {task_id} is {status}, not running: nothing to stop")
    fields = {"Status": Status.STOPPING}
    if reason:
        fields["pending_stop_reason"] = reason
    state.set_task(task_id, **fields)
    for job, job_state in state.jobs(task_id).items():
        # not running anywhere: nothing to wait for
        if job_state in (JobState.WAITING, JobState.QUEUED, JobState.HANDOFF):
            state.set_job(task_id, job, JobState.STOPPED)
    _retire_orphans(state, task_id)


def _retire_orphans(state: StateStore, task_id: str) -> None:
    """Jobs whose workers died hold no lease: nothing will stop them, so they count as stopped."""
    for job, job_state in state.jobs(task_id).items():
        if job_state == JobState.RUNNING:
            state.reclaim(task_id, job, to=JobState.STOPPED)
    settle(state, task_id)


def wait_until_stopped(state: StateStore, task_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while (status := state.status(task_id)) == Status.STOPPING and time.monotonic() < deadline:
        time.sleep(0.5)
        _retire_orphans(state, task_id)
    return status


def delete_task(catalog: Catalog, state: StateStore, task_id: str, force: bool = False) -> list[str]:
    """Delete a stopped task with its capture objects on the source and its checkpoints on the target.

    An endpoint that cannot be reached fails the delete, as capture objects left behind would keep the
    source's log growing; with ``force`` the task goes all the same, and the result says what was left.
    """
    task = catalog.task(task_id)
    status = state.status(task_id)
    if status in ACTIVE:
        raise ConfigError(f"task {task_id} is {status}: stop it first with `dms task stop {task_id}`")
    left: list[str] = []

    def clean(what: str, endpoint_id: str, opener, step, cure: str = "") -> None:
        try:
            connection = opener(catalog.endpoint(endpoint_id))
            try:
                step(connection)
            finally:
                connection.close()
        except DmsError as exc:
            if not force:
                raise ConfigError(f"{exc} (while removing {what}; fix the endpoint, or delete the task anyway "
                                  f"with `dms task delete {task_id} --force`, leaving {what} behind)") from None
            left.append(f"{what} on endpoint {endpoint_id} ({exc}){cure}")

    source_ep = catalog.endpoint(task.source)
    objects = source_class(source_ep).capture_objects(source_ep, task_id) if task.cdc else []
    if objects:  # left behind, they would keep the source's log growing
        sql = "".join(f"\n    {statement}" for _, statement in objects)
        clean(" and ".join(name for name, _ in objects), task.source, open_source,
              lambda source: source.drop_cdc(task_id), f"; to drop them, run on database {source_ep.database}:{sql}")
    clean("the task's checkpoints", task.target, open_target, lambda target: target.forget(task_id))
    state.forget_task(task_id)
    catalog.delete_task(task_id)
    return left
