"""Endpoint checks shared by `dms endpoint modify|test` and the API's ModifyEndpoint and TestConnection."""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.base import Endpoint
from connectors.errors import ConfigError
from connectors.model.catalog import Catalog
from connectors.model.states import ACTIVE
from connectors.registry import open_endpoint

from .capture import leftovers
from .cli_common import live_state
from .homes import state_for


def check_idle(catalog: Catalog, endpoint_id: str) -> None:
    """No task using the endpoint is running: tasks take an endpoint's change at their next start."""
    users = [t for t in catalog.tasks() if endpoint_id in (t.source, t.target)]
    here = live_state() if users else None
    for t in users:
        store = state_for(t, here)
        status = store.status(t.id) if store else "unknown"
        if status in ACTIVE or store is None:
            raise ConfigError(f"endpoint {endpoint_id} is used by task {t.id}, which is {status}: stop it first "
                              f"(`dms task stop {t.id}`)")


@dataclass
class Tested:
    """What connecting to an endpoint found: `problems` empty when it connected and may be used."""

    problems: list[str]
    cdc_problems: list[str] = field(default_factory=list)  # a source: why it is not ready for CDC
    warnings: list[str] = field(default_factory=list)


def probe_endpoint(catalog: Catalog, ep: Endpoint) -> Tested:
    """Connect to the endpoint and check it as a source (also for CDC) or as a target."""
    conn = open_endpoint(ep)
    try:
        problems = conn.check(cdc=False) if ep.kind == "source" else conn.check()
        if ep.kind != "source" or problems:
            return Tested(problems)
        cdc_problems = conn.check(cdc=True)
        orphans = leftovers(catalog, conn) + (conn.advice(cdc=True) if not cdc_problems else [])
        return Tested(problems, cdc_problems, orphans)
    finally:
        conn.close()


def test_report(catalog: Catalog, ep: Endpoint) -> tuple[str, list[str]]:
    """probe_endpoint as `dms endpoint test` and the console say it: ConfigError naming every problem, or the
    OK line (with, for a source, whether it is ready for CDC) and the warnings."""
    tested = probe_endpoint(catalog, ep)
    if tested.problems:
        raise ConfigError("; ".join(tested.problems))
    readiness = ""
    if ep.kind == "source":
        readiness = " (ready for CDC)" if not tested.cdc_problems else \
            f" (full load only: {'; '.join(tested.cdc_problems)})"
    return f"OK: connected to {ep.where()}{f' as {ep.user}' if ep.user else ''}{readiness}", tested.warnings
