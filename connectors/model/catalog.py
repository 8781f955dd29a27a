"""The catalog: endpoint, instance and task definitions in a SQLAlchemy database.

Shared by the CLI and every worker through DMS_CATALOG_URL (default: a SQLite file in the user's
data directory). Definitions only; live state is in Redis (worker/state.py).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from connectors.base import Endpoint
from connectors.errors import ConfigError

from . import secret_key
from .locations import catalog_url, data_dir, default_catalog_url  # noqa: F401  (their home before)
from .mappings import TableMappings, parse_table_mappings
from .settings import TaskSettings, parse_task_settings

_meta = sa.MetaData()

endpoints_table = sa.Table(
    "dms_endpoints",
    _meta,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("engine", sa.String(32), nullable=False),
    sa.Column("host", sa.String(255), nullable=False, default=""),
    sa.Column("port", sa.Integer, nullable=False, default=0),
    sa.Column("database", sa.String(255), nullable=False, default=""),
    sa.Column("username", sa.String(255), nullable=False, default=""),
    sa.Column("password", sa.Text, nullable=False, default=""),
    sa.Column("ssl_mode", sa.String(16), nullable=False, default="none"),
    sa.Column("extra", sa.Text, nullable=False, default="{}"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

instances_table = sa.Table(
    "dms_instances",
    _meta,
    sa.Column("id", sa.String(63), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

tasks_table = sa.Table(
    "dms_tasks",
    _meta,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("source", sa.String(255), nullable=False),
    sa.Column("target", sa.String(255), nullable=False),
    sa.Column("instance", sa.String(63), nullable=False),
    sa.Column("migration_type", sa.String(32), nullable=False),
    sa.Column("table_mappings", sa.Text, nullable=False),
    sa.Column("settings", sa.Text, nullable=False, default=""),
    sa.Column("cdc_start_position", sa.String(255), nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Survives Redis: that a task has been started, so that a task whose live state vanished (a Redis
# restarted empty or flushed) says so instead of looking new. Epoch seconds.
task_runs_table = sa.Table(
    "dms_task_runs",
    _meta,
    sa.Column("task_id", sa.String(255), primary_key=True),
    sa.Column("started_at", sa.Float, nullable=False),  # the last fresh start (start-replication, reload-target)
    sa.Column("loaded_at", sa.Float, nullable=True),  # when every table's rows were in, none failed, since then
)

# What `task modify` changed since the task's last fresh start that its run cannot resume with (table
# mappings, migration type): the next start must load again. Cleared by a fresh start.
task_changes_table = sa.Table(
    "dms_task_changes",
    _meta,
    sa.Column("task_id", sa.String(255), primary_key=True),
    sa.Column("what", sa.String(1000), nullable=False),
)

# Which Redis holds a task's live state ("embedded", or the server's URL with its password masked): the
# embedded mode and a fleet share the catalog but not the Redis, and a task must be looked up where it ran.
task_homes_table = sa.Table(
    "dms_task_homes",
    _meta,
    sa.Column("task_id", sa.String(255), primary_key=True),
    sa.Column("redis", sa.String(1000), nullable=False),
)


@dataclass(frozen=True)
class TaskDef:
    id: str
    source: str
    target: str
    instance: str
    migration_type: str
    table_mappings_json: str
    settings_json: str = ""
    cdc_start_position: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_at: float | None = None  # from dms_task_runs: the last fresh start, None if never started
    loaded_at: float | None = None  # every table loaded since then (none failed)
    redis_home: str | None = None  # the Redis its live state is in (dms_task_homes); None if never started
    changed: str | None = None  # what `task modify` changed that a resume cannot take (dms_task_changes)

    @property
    def mappings(self) -> TableMappings:
        return parse_table_mappings(self.table_mappings_json)

    @property
    def settings(self) -> TaskSettings:
        return parse_task_settings(self.settings_json)

    def target_options(self) -> dict[str, str]:
        """What of the task a target reads from its endpoint's extra attributes (JSON text under keys starting
        ``task.``): ``task.BeforeImageSettings``, the settings object when set; ``task.ObjectMappings``, the
        table mappings' object-mapping rules as given (stream targets route and key tables by them)."""
        out: dict[str, str] = {}
        settings = json.loads(self.settings_json or "{}")
        if isinstance(settings, dict) and settings.get("BeforeImageSettings"):
            out["task.BeforeImageSettings"] = json.dumps(settings["BeforeImageSettings"])
        rules = json.loads(self.table_mappings_json or "{}").get("rules", [])
        objects = [r for r in rules if isinstance(r, dict) and r.get("rule-type") == "object-mapping"]
        if objects:
            out["task.ObjectMappings"] = json.dumps(objects)
        return out

    @property
    def cdc(self) -> bool:
        """Changes are captured and applied (a validation-only task captures none, whatever its type)."""
        return self.migration_type in ("cdc", "full-load-and-cdc") and not self.validation_only

    @property
    def validation_only(self) -> bool:
        """ValidationSettings.ValidationOnly: each table is compared once and nothing moves."""
        return self.settings.validation.ValidationOnly

    @property
    def full_load(self) -> bool:
        return self.migration_type in ("full-load", "full-load-and-cdc")

    @property
    def resumable_without_state(self) -> bool:
        """Its live state lost, the task can go on from the source's capture and the target's checkpoints:
        it captures changes, and no table still needed its full load (whose progress lived in Redis)."""
        return self.cdc and (not self.full_load or self.loaded_at is not None)

    def vanished_message(self) -> str:
        """What describe and the workers say when the task's live state is gone from Redis."""
        if self.resumable_without_state:
            cure = (f"run `dms task start {self.id} --type resume-processing` to resume from the target's "
                    "checkpoints, or `--type reload-target` to load everything again")
        else:
            done = "its full load had not finished" if self.cdc else "its progress was kept there"
            cure = f"{done}: run `dms task start {self.id} --type reload-target` to load everything again"
        return f"live state of task {self.id} vanished from Redis (was it restarted empty, or flushed?): {cure}"


class Catalog:
    """Identifiers are stored and looked up lower-case, as DMS does: `T1` and `t1` are one task."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or catalog_url()
        if self.url.startswith("sqlite:///"):
            path = Path(self.url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True)
            fresh = not path.exists()
        else:
            fresh = False
        where = sa.engine.make_url(self.url).render_as_string(hide_password=True) if "://" in self.url else self.url
        try:
            self.engine = sa.create_engine(self.url)
            _meta.create_all(self.engine)
        except OperationalError as exc:
            reason = " ".join(str(exc.orig).split())
            raise ConfigError(f"cannot open the catalog at {where}: {reason}; check DMS_CATALOG_URL") from None
        except (ImportError, sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
            raise ConfigError(f"catalog URL {where} is not usable ({exc}); check DMS_CATALOG_URL") from None
        if fresh:
            os.chmod(path, 0o600)  # its passwords are encrypted, but its hosts and users are nobody else's business

    # endpoints -------------------------------------------------------------------------------

    def add_endpoint(self, ep: Endpoint) -> None:
        ep = replace(ep, id=ep.id.lower())
        row = {
            "id": ep.id, "kind": ep.kind, "engine": ep.engine, "host": ep.host, "port": ep.port,
            "database": ep.database, "username": ep.user, "password": secret_key.encrypt(ep.password),
            "ssl_mode": ep.ssl_mode, "extra": json.dumps(dict(ep.extra)), "created_at": datetime.now(UTC),
        }
        self._insert(endpoints_table, row, f"endpoint {ep.id} already exists: pick another id or delete it first")

    def update_endpoint(self, ep: Endpoint) -> None:
        """Replace an endpoint's settings (its id, type and engine stay)."""
        row = {"host": ep.host, "port": ep.port, "database": ep.database, "username": ep.user,
               "password": secret_key.encrypt(ep.password), "ssl_mode": ep.ssl_mode,
               "extra": json.dumps(dict(ep.extra))}
        with self.engine.begin() as conn:
            conn.execute(endpoints_table.update().where(endpoints_table.c.id == ep.id.lower()).values(**row))

    def endpoint(self, endpoint_id: str, decrypt: bool = True) -> Endpoint:
        """The endpoint with its password decrypted (`decrypt` False: without its password, and no key needed)."""
        endpoint_id = endpoint_id.lower()
        for attempt in range(2):
            with self.engine.connect() as conn:
                query = sa.select(endpoints_table).where(endpoints_table.c.id == endpoint_id)
                row = conn.execute(query).mappings().first()
            if row is None:
                raise ConfigError(f"endpoint {endpoint_id} does not exist: see `dms endpoint list`")
            try:
                password = secret_key.decrypt(row["password"], f"the password of endpoint {endpoint_id}") \
                    if decrypt else ""
                break
            except secret_key.SecretKeyError:
                if attempt:  # read once more: `dms secrets rotate` may have changed key and value in between
                    raise
        return Endpoint(
            id=row["id"], kind=row["kind"], engine=row["engine"], host=row["host"], port=row["port"],
            database=row["database"], user=row["username"], password=password,
            ssl_mode=row["ssl_mode"], extra=json.loads(row["extra"] or "{}"),
        )

    def target_endpoint(self, task: TaskDef) -> Endpoint:
        """The task's target endpoint as the task's jobs open it: with the task's target options in its extra
        attributes (TaskDef.target_options), so a target keys and routes records as the task says."""
        ep = self.endpoint(task.target)
        options = task.target_options()
        return replace(ep, extra={**ep.extra, **options}) if options else ep

    def endpoints(self, decrypt: bool = True) -> list[Endpoint]:
        with self.engine.connect() as conn:
            ids = conn.execute(sa.select(endpoints_table.c.id).order_by(endpoints_table.c.id)).scalars().all()
        return [self.endpoint(i, decrypt) for i in ids]

    def plain_text_passwords(self) -> list[str]:
        """Endpoints whose password an older OpenDMS stored unencrypted."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(endpoints_table.c.id, endpoints_table.c.password)).all()
        return sorted(i for i, stored in rows if stored and not secret_key.is_encrypted(stored))

    def reencrypt_passwords(self, old: secret_key.Keys | None, new: secret_key.Keys) -> tuple[int, int]:
        """Every stored password decrypted with `old` and encrypted with `new`'s first key, in one
        transaction: (how many, how many of them were plain text)."""
        count = plain = 0
        with self.engine.begin() as conn:
            rows = conn.execute(sa.select(endpoints_table.c.id, endpoints_table.c.password)).all()
            for endpoint_id, stored in rows:
                if not stored:
                    continue
                password = secret_key.decrypt(stored, f"the password of endpoint {endpoint_id}", old or new)
                conn.execute(endpoints_table.update().where(endpoints_table.c.id == endpoint_id)
                             .values(password=secret_key.encrypt(password, new)))
                count += 1
                plain += not secret_key.is_encrypted(stored)
        return count, plain

    def delete_endpoint(self, endpoint_id: str) -> None:
        endpoint_id = endpoint_id.lower()
        self.endpoint(endpoint_id, decrypt=False)
        users = [t.id for t in self.tasks() if endpoint_id in (t.source, t.target)]
        if users:
            raise ConfigError(f"endpoint {endpoint_id} is used by task(s) {', '.join(users)}: delete them first")
        self._delete(endpoints_table, endpoint_id)

    # instances -------------------------------------------------------------------------------

    def add_instance(self, instance_id: str) -> None:
        instance_id = instance_id.lower()
        row = {"id": instance_id, "created_at": datetime.now(UTC)}
        self._insert(instances_table, row, f"instance {instance_id} already exists")

    def instance(self, instance_id: str) -> dict[str, object]:
        instance_id = instance_id.lower()
        with self.engine.connect() as conn:
            query = sa.select(instances_table).where(instances_table.c.id == instance_id)
            row = conn.execute(query).mappings().first()
        if row is None:
            raise ConfigError(f"replication instance {instance_id} does not exist: see `dms instance create`")
        return dict(row)

    def instances(self) -> list[dict[str, object]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(instances_table).order_by(instances_table.c.id)).mappings().all()
        return [dict(r) for r in rows]

    def delete_instance(self, instance_id: str) -> None:
        instance_id = instance_id.lower()
        self.instance(instance_id)
        users = [t.id for t in self.tasks() if t.instance == instance_id]
        if users:
            raise ConfigError(f"instance {instance_id} is used by task(s) {', '.join(users)}: delete them first")
        self._delete(instances_table, instance_id)

    # tasks -----------------------------------------------------------------------------------

    def add_task(self, task: TaskDef) -> None:
        task = replace(task, id=task.id.lower(), source=task.source.lower(), target=task.target.lower(),
                       instance=task.instance.lower())
        row = {
            "id": task.id, "source": task.source, "target": task.target, "instance": task.instance,
            "migration_type": task.migration_type, "table_mappings": task.table_mappings_json,
            "settings": task.settings_json, "cdc_start_position": task.cdc_start_position,
            "created_at": task.created_at,
        }
        self._insert(tasks_table, row, f"task {task.id} already exists: pick another id or delete it first")

    def update_task(self, task: TaskDef) -> None:
        """Replace what `task modify` may change: migration type, mappings, settings, start position, instance."""
        row = {"instance": task.instance.lower(), "migration_type": task.migration_type,
               "table_mappings": task.table_mappings_json, "settings": task.settings_json,
               "cdc_start_position": task.cdc_start_position}
        with self.engine.begin() as conn:
            conn.execute(tasks_table.update().where(tasks_table.c.id == task.id.lower()).values(**row))

    def record_changed(self, task_id: str, what: str) -> None:
        """A modification the task's run cannot resume with; kept until its next fresh start."""
        task_id = task_id.lower()
        with self.engine.begin() as conn:
            old = conn.execute(sa.select(task_changes_table.c.what).where(task_changes_table.c.task_id == task_id)
                               ).scalar()
            conn.execute(task_changes_table.delete().where(task_changes_table.c.task_id == task_id))
            both = ", ".join(dict.fromkeys([*(old.split(", ") if old else []), *what.split(", ")]))
            conn.execute(task_changes_table.insert().values(task_id=task_id, what=both))

    def task(self, task_id: str) -> TaskDef:
        task_id = task_id.lower()
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(tasks_table).where(tasks_table.c.id == task_id)).mappings().first()
            runs = sa.select(task_runs_table).where(task_runs_table.c.task_id == task_id)
            run = conn.execute(runs).mappings().first()
            home = conn.execute(sa.select(task_homes_table.c.redis).where(task_homes_table.c.task_id == task_id)
                                ).scalar()
            changed = conn.execute(sa.select(task_changes_table.c.what)
                                   .where(task_changes_table.c.task_id == task_id)).scalar()
        if row is None:
            raise ConfigError(f"task {task_id} does not exist: see `dms task list`")
        return TaskDef(
            id=row["id"], source=row["source"], target=row["target"], instance=row["instance"],
            migration_type=row["migration_type"], table_mappings_json=row["table_mappings"],
            settings_json=row["settings"] or "", cdc_start_position=row["cdc_start_position"] or "",
            created_at=row["created_at"], started_at=run["started_at"] if run else None,
            loaded_at=run["loaded_at"] if run else None, redis_home=home, changed=changed,
        )

    def record_start(self, task_id: str, fresh: bool, loaded: bool) -> None:
        """A start of the task: a fresh one (start-replication, reload-target) begins a new run; ``loaded``:
        no table of the run needs its full load any more."""
        now = time.time()
        where = task_runs_table.c.task_id == task_id
        with self.engine.begin() as conn:
            run = conn.execute(sa.select(task_runs_table).where(where)).mappings().first()
            if run is None:
                conn.execute(task_runs_table.insert().values(task_id=task_id, started_at=now,
                                                             loaded_at=now if loaded else None))
            elif fresh:
                conn.execute(task_runs_table.update().where(where).values(started_at=now,
                                                                          loaded_at=now if loaded else None))
            if fresh:
                conn.execute(task_changes_table.delete().where(task_changes_table.c.task_id == task_id))
            elif loaded and run is not None and run["loaded_at"] is None:
                conn.execute(task_runs_table.update().where(where).values(loaded_at=now))

    def record_home(self, task_id: str, redis: str) -> None:
        """The Redis the task is started on, where its live state will be."""
        with self.engine.begin() as conn:
            conn.execute(task_homes_table.delete().where(task_homes_table.c.task_id == task_id))
            conn.execute(task_homes_table.insert().values(task_id=task_id, redis=redis))

    def record_loaded(self, task_id: str) -> None:
        """Every table of the run is loaded and none failed: the run no longer needs Redis to resume."""
        with self.engine.begin() as conn:
            conn.execute(task_runs_table.update().where(task_runs_table.c.task_id == task_id)
                         .values(loaded_at=time.time()))

    def tasks(self) -> list[TaskDef]:
        with self.engine.connect() as conn:
            ids = conn.execute(sa.select(tasks_table.c.id).order_by(tasks_table.c.id)).scalars().all()
        return [self.task(i) for i in ids]

    def delete_task(self, task_id: str) -> None:
        task_id = task_id.lower()
        with self.engine.begin() as conn:
            conn.execute(task_runs_table.delete().where(task_runs_table.c.task_id == task_id))
            conn.execute(task_homes_table.delete().where(task_homes_table.c.task_id == task_id))
            conn.execute(task_changes_table.delete().where(task_changes_table.c.task_id == task_id))
        self._delete(tasks_table, task_id)

    # -----------------------------------------------------------------------------------------

    def _insert(self, table: sa.Table, row: dict[str, object], duplicate: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(table.insert().values(**row))
        except IntegrityError:
            raise ConfigError(duplicate) from None

    def _delete(self, table: sa.Table, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(table.delete().where(table.c.id == key))
