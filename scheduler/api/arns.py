"""DMS's ARNs (`arn:aws:dms:REGION:ACCOUNT:endpoint:ID`, `:rep:`, `:task:`) and the request's context that
forms them: taken wherever DMS takes an ARN, and an identifier too, as the CLI takes it."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache

from connectors.model.catalog import Catalog

from . import errors

KINDS = {"endpoint": "endpoint", "instance": "rep", "task": "task"}
_NAMES = {"endpoint": "an endpoint", "rep": "a replication instance", "task": "a replication task"}
_ARN = re.compile(r"arn:aws[a-z-]*:dms:([a-z0-9-]*):(\d*):(endpoint|rep|task):(.+)$")


def account() -> str:
    """The account in the ARNs formed (DMS_API_ACCOUNT_ID, else twelve zeros): OpenDMS has no accounts."""
    return os.environ.get("DMS_API_ACCOUNT_ID") or "000000000000"


@cache
def catalog(url: str | None) -> Catalog:
    """One Catalog (one connection pool) per catalog URL for the server's life."""
    return Catalog(url)


@dataclass(frozen=True)
class Context:
    region: str  # of the request's signature: ARNs are formed in the client's region
    key_id: str
    catalog_url: str | None = None

    @property
    def catalog(self) -> Catalog:
        return catalog(self.catalog_url)

    def arn(self, kind: str, ident: str) -> str:
        return f"arn:aws:dms:{self.region}:{account()}:{KINDS[kind]}:{ident}"


def ident(value: object, kind: str, param: str) -> str:
    """The identifier an ARN (or an identifier) given for `param` names, lower-case as the catalog keeps it."""
    if not isinstance(value, str) or not value:
        raise errors.invalid_value(f"{param} must be a non-empty string")
    if not value.startswith("arn:"):
        return value.lower()
    match = _ARN.match(value)
    if not match:
        raise errors.invalid_value(f"{param} {value} is not a DMS ARN (arn:aws:dms:REGION:ACCOUNT:{KINDS[kind]}:ID)")
    if match.group(3) != KINDS[kind]:
        raise errors.invalid_value(f"{param} {value} is the ARN of {_NAMES[match.group(3)]}, not of "
                                   f"{_NAMES[KINDS[kind]]}")
    return match.group(4).lower()
