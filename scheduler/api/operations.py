"""Every operation the API serves: its DMS name -> the function answering it (context, request) -> response."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .arns import Context

Operation = Callable[[Context, dict[str, Any]], dict[str, Any]]

OPERATIONS: dict[str, Operation] = {}

from .operations_endpoints import OPERATIONS as _ENDPOINTS  # noqa: E402
from .operations_tasks import OPERATIONS as _TASKS  # noqa: E402
from .tags import OPERATIONS as _TAGS  # noqa: E402

OPERATIONS.update(_ENDPOINTS)
OPERATIONS.update(_TASKS)
OPERATIONS.update(_TAGS)
