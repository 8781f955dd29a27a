"""DMS's task-settings JSON (``--settings FILE``), with DMS's key names and DMS's defaults.

Keys typed below take effect (one deliberate difference: with no LOB key named, LOBs migrate
whole, where DMS's defaults cut them at 32 KB; see TargetMetadata.lob_max_kb); keys declared with
``no_effect`` are DMS keys that mean nothing here, accepted with a warning when set to something
other than DMS's default; any other key is rejected with its path and the key probably meant
(connectors/model/spec.py).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from connectors.base import OnConflict, Op
from connectors.errors import ConfigError

from .spec import (
    DmsModel,
    Text,
    closest,
    int_range,
    load_json_document,
    no_effect,
    no_effect_warnings,
    read_spellings,
    spelling_of,
    validate,
)

PREP_MODES = {"DROP_AND_CREATE": "drop", "TRUNCATE_BEFORE_LOAD": "truncate", "DO_NOTHING": "keep"}
Policy = Literal["IGNORE_RECORD", "LOG_ERROR", "SUSPEND_TABLE", "STOP_TASK"]

_LOGS = "OpenDMS writes structured logs to stderr (level from DMS_LOG_LEVEL); there is no CloudWatch"
_CONTROL = "OpenDMS keeps status, history and suspended tables in live state (`dms task describe/stats`)"
_BUFFERS = "a DMS-internal buffer size; OpenDMS streams through bounded pipes and the Redis change cache"
_PARALLEL_APPLY = "parallel apply is for Kinesis, Kafka, DocumentDB and Redshift targets, which OpenDMS does not have"
_STREAMING = "before images for Kafka and Kinesis targets, which OpenDMS does not have yet"
_NOT_YET = "not implemented in OpenDMS yet"
_MIGRATION_TYPE = "a legacy DMS key; --migration-type says whether the task loads tables and applies changes"
_RESUME = ("a legacy DMS key; an interrupted full load restarts the tables (or chunks) it had not finished, "
           "whatever their size or key")
_S3 = "Time Travel writes DMS's own logs to S3, which OpenDMS does not have"
_LOOPBACK = "loopback prevention is for bidirectional replication, which OpenDMS does not do"
_CHARSET = "text travels as Unicode; there is no character-set substitution"
_ONE_PASS = ("each table is validated once after its load (or its catch-up); records failing then are "
             "re-checked once, not validated again as changes go on")


# Naming any of these asks for DMS's LOB handling; naming none migrates LOBs whole (TargetMetadata.lob_max_kb).
LOB_KEYS = frozenset({"SupportLobs", "FullLobMode", "LimitedSizeLobMode", "LobMaxSize", "InlineLobMaxSize"})


class TargetMetadata(DmsModel):
    TargetSchema: Text = ""
    SupportLobs: bool = True
    FullLobMode: bool = False
    LobChunkSize: Any = no_effect("LOBs are copied whole with their rows (bulk load), never in chunks", 64, 0)
    # DMS's defaults, which apply only when the settings name a LOB key: otherwise LOBs migrate whole (lob_max_kb)
    LimitedSizeLobMode: bool = True
    LobMaxSize: int_range(0, 102_400) = 32  # KB
    InlineLobMaxSize: Any = no_effect("LOBs always travel inline with their rows", 0)
    LoadMaxFileSize: Any = no_effect("for targets loaded from staged CSV files; OpenDMS streams bulk loads", 0)
    BatchApplyEnabled: bool = False  # changes are always applied as set-based batches; both values behave alike
    TaskRecoveryTableEnabled: Any = no_effect("checkpoints are always kept in awsdms_txn_state on the target", False)
    ParallelLoadThreads: Any = no_effect("tables load in parallel across worker processes (--concurrency)", 0)
    ParallelLoadBufferSize: Any = no_effect("tables load in parallel across worker processes (--concurrency)", 50, 0)
    ParallelLoadQueuesPerThread: Any = no_effect("tables load in parallel across worker processes", 1, 0)
    ParallelApplyThreads: Any = no_effect(_PARALLEL_APPLY, 0)
    ParallelApplyBufferSize: Any = no_effect(_PARALLEL_APPLY, 100, 0)
    ParallelApplyQueuesPerThread: Any = no_effect(_PARALLEL_APPLY, 1, 0)

    @property
    def lobs_given(self) -> bool:
        """The settings name a LOB key: DMS's LOB rules, with DMS's defaults for the keys not named, apply."""
        return not self.model_fields_set.isdisjoint(LOB_KEYS)

    @property
    def lob_max_kb(self) -> int | None:
        """The size in KB LOB values are cut to (limited LOB mode), or None: they migrate whole.

        DMS's defaults (LimitedSizeLobMode, LobMaxSize 32) cut every longer text and binary value. OpenDMS's
        LOBs travel in the row stream, so with no LOB key named they migrate whole; a user who names one
        (a DMS export names them all) gets what DMS would do."""
        if not self.lobs_given or not self.SupportLobs or self.FullLobMode or not self.LimitedSizeLobMode:
            return None
        return self.LobMaxSize or None


class FullLoadSettings(DmsModel):
    TargetTablePrepMode: Literal["DO_NOTHING", "DROP_AND_CREATE", "TRUNCATE_BEFORE_LOAD"] = "DROP_AND_CREATE"
    CreatePkAfterFullLoad: bool = False  # DROP_AND_CREATE only: the key is added when the table's rows are in
    StopTaskCachedChangesApplied: bool = False
    StopTaskCachedChangesNotApplied: bool = False
    MaxFullLoadSubTasks: int_range(1, 49) = 8  # full-load jobs (tables or chunks) of the task at once, fleet-wide
    TransactionConsistencyTimeout: Any = no_effect(
        "capture starts at once from a consistent point of the source's log; open transactions need no wait", 600)
    CommitRate: int_range(1, 50_000) = 10_000
    # Legacy keys of older exports (DMS still accepts them; defaults as DMS hands them back).
    FullLoadEnabled: Any = no_effect(_MIGRATION_TYPE, True)
    ApplyChangesEnabled: Any = no_effect(_MIGRATION_TYPE, False)
    ResumeEnabled: Any = no_effect(_RESUME, False)
    ResumeMinTableSize: Any = no_effect(_RESUME, 100_000)
    ResumeOnlyClusteredPKTables: Any = no_effect(_RESUME, True)


class _LogComponent(DmsModel):
    Id: Text
    Severity: Literal["LOGGER_SEVERITY_ERROR", "LOGGER_SEVERITY_WARNING", "LOGGER_SEVERITY_INFO",
                      "LOGGER_SEVERITY_DEFAULT", "LOGGER_SEVERITY_DEBUG", "LOGGER_SEVERITY_DETAILED_DEBUG"] = \
        no_effect(_LOGS, "LOGGER_SEVERITY_DEFAULT")


class _LogConfiguration(DmsModel):
    EnableTraceOnError: Any = no_effect(_LOGS, False)
    TraceOnErrorMb: Any = no_effect(_LOGS, 10)


class Logging(DmsModel):
    EnableLogging: Any = no_effect(_LOGS, False)
    EnableLogContext: Any = no_effect(_LOGS, False)
    DeleteTaskLogs: Any = no_effect(_LOGS, False)
    LogComponents: list[_LogComponent] | None = None  # each component's Severity warns when not DEFAULT
    LogConfiguration: _LogConfiguration | None = None
    CloudWatchLogGroup: Any = no_effect(_LOGS)
    CloudWatchLogStream: Any = no_effect(_LOGS)


class ControlTablesSettings(DmsModel):
    ControlSchema: Any = no_effect("control tables are created in the target's default schema", "")
    HistoryTimeslotInMinutes: Any = no_effect(_CONTROL, 5)
    historyTimeslotInMinutes: Any = no_effect(_CONTROL, 5)  # the DMS console saves this lower-case twin
    HistoryTableEnabled: Any = no_effect(_CONTROL, False)
    SuspendedTablesTableEnabled: Any = no_effect(_CONTROL, False)
    StatusTableEnabled: Any = no_effect(_CONTROL, False)
    FullLoadExceptionTableEnabled: Any = no_effect(_CONTROL, False)
    CommitPositionTableEnabled: Any = no_effect(_CONTROL, False)  # legacy: Serverless configs still return it


class StreamBufferSettings(DmsModel):
    StreamBufferCount: Any = no_effect(_BUFFERS, 3)
    StreamBufferSizeInMB: Any = no_effect(_BUFFERS, 8)
    CtrlStreamBufferSizeInMB: Any = no_effect(_BUFFERS, 5)


class ChangeProcessingDdlHandlingPolicy(DmsModel):
    HandleSourceTableDropped: bool = True  # worker/cdc/ddl.py; docs/schema.md "Schema changes during CDC"
    HandleSourceTableTruncated: bool = True
    HandleSourceTableAltered: bool = True


class ErrorBehavior(DmsModel):
    DataErrorPolicy: Policy = "LOG_ERROR"
    DataTruncationErrorPolicy: Policy = "LOG_ERROR"
    DataMaskingErrorPolicy: Any = no_effect("data-masking rules are refused, so nothing is masked", "STOP_TASK")
    DataErrorEscalationPolicy: Any = no_effect(_NOT_YET, "SUSPEND_TABLE")
    DataErrorEscalationCount: Any = no_effect(_NOT_YET, 0)
    EventErrorPolicy: Any = no_effect("DMS's event errors come from its Oracle and SQL Server sources", "IGNORE")
    TableErrorPolicy: Literal["SUSPEND_TABLE", "STOP_TASK"] = "SUSPEND_TABLE"
    TableErrorEscalationPolicy: Any = no_effect(_NOT_YET, "STOP_TASK")
    TableErrorEscalationCount: Any = no_effect(_NOT_YET, 0)
    RecoverableErrorCount: int_range(-1, 2**31) = -1
    RecoverableErrorInterval: int_range(0, 86_400) = 5
    RecoverableErrorThrottling: bool = True
    RecoverableErrorThrottlingMax: int_range(1, 86_400) = 1800
    RecoverableErrorStopRetryAfterThrottlingMax: Any = no_effect(_NOT_YET, True, False)
    # What a change does when the target is not as it expects (an insert over an existing row, an
    # update or delete of a missing one); the *_RECORD values make the row what the change says.
    ApplyErrorDeletePolicy: Policy = "IGNORE_RECORD"
    ApplyErrorInsertPolicy: Literal["IGNORE_RECORD", "LOG_ERROR", "SUSPEND_TABLE", "STOP_TASK", "INSERT_RECORD"] = \
        "LOG_ERROR"
    ApplyErrorUpdatePolicy: Literal["IGNORE_RECORD", "LOG_ERROR", "SUSPEND_TABLE", "STOP_TASK", "UPDATE_RECORD"] = \
        "LOG_ERROR"
    ApplyErrorEscalationPolicy: Literal["LOG_ERROR", "SUSPEND_TABLE", "STOP_TASK"] = "LOG_ERROR"
    ApplyErrorEscalationCount: int_range(0, 2**31) = 0  # apply conflicts of one table before escalating; 0: never
    ApplyErrorFailOnTruncationDdl: Any = no_effect(_NOT_YET, False)
    # Conflicts met while a table's cached changes apply over its fresh load are resolved (idempotent
    # apply); false puts them under the ApplyError*Policy keys too.
    FullLoadIgnoreConflicts: bool = True
    FailOnTransactionConsistencyBreached: Any = no_effect(
        "there is no transaction-consistency wait to breach (see TransactionConsistencyTimeout)", False)
    FailOnNoTablesCaptured: Any = no_effect("a task whose rules select no table always fails to start", True, False)
    # Spellings of an old DMS guide's prose: read as the keys they misspell.
    DataErrorsEscalationCount: Any = spelling_of("DataErrorEscalationCount")
    ApplyErrorsEscalationCount: Any = spelling_of("ApplyErrorEscalationCount")
    FulloadIgnoreConflicts: Any = spelling_of("FullLoadIgnoreConflicts")

    @model_validator(mode="before")
    @classmethod
    def _misspelt(cls, data: Any) -> Any:
        return read_spellings(cls, data)

    def policy(self, op: Op) -> tuple[str, str]:
        """The ApplyError*Policy key that rules a conflict of this op, and its value."""
        key = {Op.INSERT: "ApplyErrorInsertPolicy", Op.UPDATE: "ApplyErrorUpdatePolicy"}.get(
            op, "ApplyErrorDeletePolicy")
        return key, getattr(self, key)

    def on_conflict(self) -> dict[Op, OnConflict]:
        """The policies as the targets take them: resolve, skip (and report), or fail the batch."""
        rules = {}
        for op in (Op.INSERT, Op.UPDATE, Op.DELETE):
            value = self.policy(op)[1]
            rules[op] = (OnConflict.RESOLVE if value in ("INSERT_RECORD", "UPDATE_RECORD") or
                         (op is Op.DELETE and value == "IGNORE_RECORD") else
                         OnConflict.FAIL if value in ("SUSPEND_TABLE", "STOP_TASK") else OnConflict.SKIP)
        return rules


class ChangeProcessingTuning(DmsModel):
    BatchApplyPreserveTransaction: Any = no_effect("batches are always cut at source transaction ends", True)
    BatchApplyTimeoutMin: int_range(0, 86_400) = 1
    BatchApplyTimeoutMax: int_range(1, 86_400) = 30
    BatchApplyMemoryLimit: Any = no_effect("apply batches are bounded by BatchSplitSize and MemoryLimitTotal", 500)
    BatchSplitSize: int_range(0, 10_000_000) = 0
    MinTransactionSize: int_range(0, 10_000_000) = no_effect(
        "changes apply at least every CommitTimeout (at most 0.25 s), whatever their number", 1000)
    CommitTimeout: int_range(1, 86_400) = 1
    MemoryLimitTotal: int_range(1, 1_048_576) = 1024  # MB
    MemoryKeepTime: Any = no_effect("changes wait in memory at most CommitTimeout/BatchApplyTimeoutMax", 60)
    StatementCacheSize: Any = no_effect("apply statements are set-based, not prepared per row", 50)
    RecoveryTimeout: Any = no_effect(_NOT_YET, -1)


class ValidationSettings(DmsModel):
    """Validation compares each table once its rows are in (worker/validation.py); DMS validates on through CDC."""

    EnableValidation: bool = False
    ValidationMode: Literal["ROW_LEVEL"] = "ROW_LEVEL"
    ThreadCount: int_range(1, 1000) = 5  # validation jobs of the task comparing at once
    PartitionSize: Any = no_effect("validation streams both sides in key order; it needs no partitions", 10_000)
    FailureMaxCount: int_range(0, 2**31) = 10_000
    TableFailureMaxCount: int_range(0, 2**31) = 1000
    # While CDC applies, mismatching records are compared once more after twice the apply latency (at least
    # 2 s), but never later than this: one re-check, not DMS's repeated ones.
    RecordFailureDelayInMinutes: int_range(0, 2**31) = 5
    RecordSuspendDelayInMinutes: Any = no_effect(_ONE_PASS, 30)
    RecordFailureDelayLimitInMinutes: Any = no_effect(_ONE_PASS, 0)
    MaxKeyColumnSize: Any = no_effect("keys of any size are compared", 8096)
    ValidationOnly: bool = False
    HandleCollationDiff: Any = no_effect("rows are compared as values, not by collation", False)
    SkipLobColumns: Any = no_effect(_NOT_YET, False)
    ValidationPartialLobSize: Any = no_effect(_NOT_YET, 0)
    ValidationQueryCdcDelaySeconds: Any = no_effect(_ONE_PASS, 0)


class _TTS3(DmsModel):
    EncryptionMode: Any = no_effect(_S3, "SSE_S3")
    ServerSideEncryptionKmsKeyId: Any = no_effect(_S3)
    ServiceAccessRoleArn: Any = no_effect(_S3)
    BucketName: Any = no_effect(_S3)
    BucketFolder: Any = no_effect(_S3)
    EnableDeletingFromS3OnTaskDelete: Any = no_effect(_S3, False, "false")


class _TTRecord(DmsModel):
    EnableRawData: Any = no_effect(_S3, False)
    RawDataFormat: Any = no_effect(_S3)
    OperationsToLog: Any = no_effect(_S3, "ALL")
    MaxRecordSize: Any = no_effect(_S3, 64)


class _TimeTravel(DmsModel):
    EnableTT: Any = no_effect(_S3, False)
    FailTaskOnTTFailure: Any = no_effect(_S3, False)
    TTS3Settings: _TTS3 | None = None
    TTRecordSettings: _TTRecord | None = None


class _BeforeImage(DmsModel):
    EnableBeforeImage: Any = no_effect(_STREAMING, False)
    FieldName: Any = no_effect(_STREAMING, "")
    ColumnFilter: Any = no_effect(_STREAMING, "pk-only")


class _Loopback(DmsModel):
    EnableLoopbackPrevention: Any = no_effect(_LOOPBACK, False)
    SourceSchema: Any = no_effect(_LOOPBACK, "")
    TargetSchema: Any = no_effect(_LOOPBACK, "")


class _CharacterReplacement(DmsModel):
    SourceCharacterCodePoint: Any = no_effect(_CHARSET)
    TargetCharacterCodePoint: Any = no_effect(_CHARSET)


class _CharacterSetSupport(DmsModel):
    CharacterSet: Any = no_effect(_CHARSET)
    ReplaceWithCharacterCodePoint: Any = no_effect(_CHARSET)


class _CharacterSet(DmsModel):
    CharacterReplacements: list[_CharacterReplacement] | None = None
    CharacterSetSupport: _CharacterSetSupport | None = None


class _PreMigrationAssessment(DmsModel):
    Enable: Any = no_effect("premigration assessments are DMS's; `dms task create --dry-run` checks the rules "
                            "against the source", False)


class TaskSettings(DmsModel):
    """The whole task-settings document; sections absent or null take DMS's defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)

    target_metadata: TargetMetadata = Field(TargetMetadata(), alias="TargetMetadata")
    full_load: FullLoadSettings = Field(FullLoadSettings(), alias="FullLoadSettings")
    logging: Logging = Field(Logging(), alias="Logging")
    control_tables: ControlTablesSettings = Field(ControlTablesSettings(), alias="ControlTablesSettings")
    stream_buffers: StreamBufferSettings = Field(StreamBufferSettings(), alias="StreamBufferSettings")
    ddl_handling: ChangeProcessingDdlHandlingPolicy = Field(ChangeProcessingDdlHandlingPolicy(),
                                                            alias="ChangeProcessingDdlHandlingPolicy")
    errors: ErrorBehavior = Field(ErrorBehavior(), alias="ErrorBehavior")
    tuning: ChangeProcessingTuning = Field(ChangeProcessingTuning(), alias="ChangeProcessingTuning")
    validation: ValidationSettings = Field(ValidationSettings(), alias="ValidationSettings")
    # Sections DMS returns as null when unset; each of their keys warns when set to a non-default value.
    BeforeImageSettings: _BeforeImage | None = None
    LoopbackPreventionSettings: _Loopback | None = None
    CharacterSetSettings: _CharacterSet | None = None
    TTSettings: _TimeTravel | None = None
    PreMigrationAssessment: _PreMigrationAssessment | None = None  # Serverless ReplicationSettings
    PostProcessingRules: Any = no_effect(_NOT_YET)  # its shape is documented nowhere: any value is taken
    FailTaskWhenCleanTaskResourceFailed: Any = no_effect(_NOT_YET, False)

    @property
    def prep_mode(self) -> Literal["drop", "truncate", "keep"]:
        return PREP_MODES[self.full_load.TargetTablePrepMode]  # type: ignore[return-value]

    @property
    def commit_rate(self) -> int:
        return self.full_load.CommitRate

    @property
    def max_full_load_subtasks(self) -> int:
        return self.full_load.MaxFullLoadSubTasks

    def warnings(self) -> list[str]:
        return no_effect_warnings(self)

    def to_json(self) -> dict[str, Any]:
        """The effective settings: every key OpenDMS reads, with its value or DMS's default (LOB keys
        none of which was named: full LOB mode, which is what happens)."""
        doc = self.model_dump(by_alias=True, exclude_none=True)
        if not self.target_metadata.lobs_given:
            doc["TargetMetadata"].update(FullLobMode=True, LimitedSizeLobMode=False)
        return doc


_SECTIONS = {f.alias: f.annotation for f in TaskSettings.model_fields.values() if isinstance(f.default, DmsModel)}


def _belongs(key: str) -> str:
    """For a key placed in the wrong section: where it belongs."""
    for section, model in _SECTIONS.items():
        if key in model.model_fields:
            return f": it belongs in {section}"
    return ""


def parse_task_settings(text: str | None, what: str = "task settings") -> TaskSettings:
    """No text: DMS's defaults (a task created without --settings). ``what`` names the document in a
    JSON syntax error ("task settings file s.json")."""
    if not text or not text.strip():
        return TaskSettings()
    doc = load_json_document(text, what)
    if not isinstance(doc, dict):
        raise ConfigError('task settings must be a JSON object such as {"FullLoadSettings": {...}}')
    settings: TaskSettings = validate(TaskSettings, doc, "", _belongs)
    _check(settings)
    return settings


def _check(s: TaskSettings) -> None:
    """Rules across keys, as DMS enforces them."""
    if s.validation.ValidationOnly and s.full_load.TargetTablePrepMode != "DO_NOTHING":
        raise ConfigError("ValidationSettings.ValidationOnly needs FullLoadSettings.TargetTablePrepMode DO_NOTHING: "
                          "a validation-only task must not touch the target's tables")
    tuning = s.tuning
    if tuning.BatchApplyTimeoutMin > tuning.BatchApplyTimeoutMax:
        raise ConfigError(f"ChangeProcessingTuning.BatchApplyTimeoutMin ({tuning.BatchApplyTimeoutMin}) is larger "
                          f"than BatchApplyTimeoutMax ({tuning.BatchApplyTimeoutMax})")


__all__ = ["LOB_KEYS", "PREP_MODES", "TaskSettings", "closest", "parse_task_settings"]
