"""Structured logs: one JSON event per meaningful step, carrying task, job, table and phase.

Our events come from structlog; Celery's and kombu's stdlib records are rendered by the same
processors, so a worker's stderr is one JSON object per line whoever wrote it.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

import structlog

_configured = False


def setup(level: str | None = None, *, json_output: bool = True, force: bool = False,
          stream: TextIO | None = None) -> None:
    """Route every log record to `stream` (stderr by default): an in-process worker logs to a file instead."""
    global _configured
    if _configured and not force:
        return
    _configured = True
    level_no = logging.getLevelName((level or os.environ.get("DMS_LOG_LEVEL", "INFO")).upper())
    renderer = structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer(colors=False)
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=structlog.WriteLoggerFactory(stream or sys.stderr),  # one write a line (print makes two)
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, structlog.processors.format_exc_info],
    ))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level_no)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)


bind = structlog.contextvars.bind_contextvars
clear = structlog.contextvars.clear_contextvars
unbind = structlog.contextvars.unbind_contextvars
