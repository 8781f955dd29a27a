"""The error tree shared by the scheduler, the worker and every connector.

::

    DmsError
    ├── ConfigError     bad spec, endpoint, credentials or privilege; source not CDC-ready
    │                   -> fail at preflight, CLI exit 2
    ├── TransientError  connection lost, timeout, deadlock, server restarting
    │                   -> back off with jitter and resume from the last checkpoint
    ├── DataError       a row or change cannot be converted or applied
    │   │               -> the table fails (Table error); other tables go on
    │   ├── ObjectError     the table itself refuses every row (missing object, unsupported operation)
    │   │                   -> the table fails at once, in CDC too, whatever DataErrorPolicy says
    │   └── ApplyConflict   a change found the target other than it expected (ApplyError*Policy)
    └── PositionLost    the source log no longer holds our position (log removed, capture gone)
                        -> CDC fails; tables must be reloaded
    Stop                a requested stop: control flow, not a failure

Messages say what is wrong, where, and what to do, in one line.
Every class rebuilds from ``(message,)`` so Celery can pickle it across processes.
"""

from __future__ import annotations


class DmsError(Exception):
    """Base of every error OpenDMS raises on purpose."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self):  # keeps subclasses picklable whatever their constructor
        return (self.__class__, (self.message,))

    def __str__(self) -> str:
        return self.message


class ConfigError(DmsError):
    """The user must change something (definition, credentials, server setting)."""

    exit_code = 2


class TransientError(DmsError):
    """Worth retrying: the same call may succeed later."""


class DataError(DmsError):
    """A row or change that cannot be converted or applied."""


class ObjectError(DataError):
    """The table itself refuses the rows, whichever they are: a missing table, column or type, a
    definition that differs from the source's, an operation the engine does not support. Neither
    waiting nor skipping rows helps: the table fails (TableErrorPolicy decides about the task)."""


class ApplyConflict(DataError):
    """A change found the target other than it expected, under a policy that stops on it; nothing of
    its batch was applied."""

    def __init__(self, message: str, conflicts: list | None = None) -> None:
        super().__init__(message)
        self.conflicts = conflicts or []  # connectors.base.Conflict; not pickled, used where raised


class PositionLost(DmsError):
    """The source can no longer serve changes from the checkpoint."""


class Stop(Exception):
    """A stop was requested; unwinds a job without marking anything failed."""
