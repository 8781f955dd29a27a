"""The web console in real headless Chromium (Debian's package, driven by Playwright): log in with an access
key, see the instance's live worker, test an endpoint, start a PostgreSQL -> PostgreSQL task, watch its
tables reach Table completed, its changes counted and its latency graphed, stop it; then the same pages at
phone width. Screenshots: console-task.png and console-phone.png in the test's tmp_path."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from dms_env import execute, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
# No GPU, no sandbox (root in CI), nothing fetched from the network by the browser itself.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TABLES = ("public.items", "public.notes")


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extras)")
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") or os.environ.get("DMS_TEST_REQUIRE_SERVERS"):
            pytest.fail(f"{CHROMIUM} is missing: deploy/install-test-deps.sh installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def console(dms):
    """`dms api --port 0` of the test's installation: its URL, once it answers."""
    log = dms.tmp / "api.log"
    proc = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "api", "--port", "0"], env=dms.env,
                            stdout=subprocess.DEVNULL, stderr=open(log, "w"), start_new_session=True)  # noqa: SIM115
    try:
        found = wait_for(lambda: proc.poll() is not None or re.search(r"http://\S+", log.read_text()), 60,
                         "dms api to listen")
        assert proc.poll() is None, f"dms api exited {proc.returncode}: {log.read_text()}"
        yield found[0]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _get(url: str) -> int:
    try:
        return urllib.request.urlopen(url, timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code


def _login(page, url: str, key: dict[str, str]) -> None:
    page.goto(url)
    page.fill("#key-id", key["AccessKeyId"])
    page.fill("#key-secret", key["SecretAccessKey"])
    page.click("#login-button")
    page.wait_for_selector("#nav:not([hidden])")


def test_console_runs_a_task_and_graphs_its_latency(dms, src, dst, console, browser, tmp_path):
    from playwright.sync_api import expect

    execute(src, "CREATE TABLE items (id int PRIMARY KEY, name text)",
            "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 500) g",
            "CREATE TABLE notes (id int PRIMARY KEY, body text)",
            "INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 200) g")
    task = dms.task("web", src, dst, "full-load-and-cdc")
    source = f"src-{dms.suffix}-web"
    dms.start_worker(concurrency=2)
    key = json.loads(dms.dms("api", "keys", "create", "--json").stdout)
    assert _get(f"{console}/console/overview") == 401  # nothing without a session

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(console)
    page.fill("#key-id", key["AccessKeyId"])
    page.fill("#key-secret", "not the secret")
    page.click("#login-button")
    expect(page.locator("#login-error")).to_contain_text("wrong access key id or secret")
    _login(page, console, key)

    expect(page.locator(f'tr[data-instance="{dms.instance}"]')).to_contain_text("1 live", timeout=30_000)
    endpoint = page.locator(f'tr[data-endpoint="{source}"]')
    endpoint.get_by_role("button", name="Test connection").click()
    expect(endpoint.locator(".test-result")).to_contain_text("connected to postgres endpoint", timeout=30_000)
    expect(page.locator(f'tr[data-task="{task}"] .status')).to_have_text("ready")

    page.click(f'tr[data-task="{task}"] a')
    page.click("#start")
    expect(page.locator("#notice")).to_contain_text(f"task {task} started (start-replication)")
    for table in TABLES:
        expect(page.locator(f'tr[data-table="{table}"] .table-state')).to_have_text("Table completed",
                                                                                   timeout=90_000)
    expect(page.locator("#phase")).to_have_text("ongoing-replication", timeout=60_000)
    execute(src, "INSERT INTO items SELECT g, 'new ' || g FROM generate_series(501, 530) g")
    expect(page.locator('tr[data-table="public.items"] td.num').nth(1)).to_have_text("30", timeout=60_000)

    # The latency graph: its buckets come from the CDC job's reports through Redis (worker/series.py); one
    # ends every 10 s, so within a poll or two of that the line has a point besides the live one.
    latency = page.locator('#latency-chart path[data-key="CDCLatencySource"]')
    wait_for(lambda: int(latency.get_attribute("data-points") or 0) >= 2, 60, "a latency point from the series")
    assert int(page.locator('#latency-chart path[data-key="CDCLatencyTarget"]').get_attribute("data-points")) >= 2
    applied = page.locator('#throughput-chart path[data-key="CDCThroughputRowsTarget"]')  # the 30 changes
    wait_for(lambda: float(applied.get_attribute("data-max") or 0) > 0, 60, "CDCThroughputRowsTarget in the graph")
    page.screenshot(path=str(tmp_path / "console-task.png"), full_page=True)

    page.click("#stop")
    expect(page.locator("#notice")).to_contain_text(re.compile(f"task {task} stopp(ing|ed)"))
    expect(page.locator(".facts .badge").first).to_have_text("stopped", timeout=60_000)
    assert dms.describe(task)["Status"] == "stopped"
    page.close()

    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    _login(phone, console, key)
    expect(phone.locator(f'tr[data-task="{task}"] .status')).to_have_text("stopped")
    phone.click(f'tr[data-task="{task}"] a')
    expect(phone.locator('tr[data-table="public.items"] .table-state')).to_have_text("Table completed")
    # Nothing wider than the phone: wide tables scroll inside their cards, the page itself does not.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    assert phone.locator("#latency-chart svg").bounding_box()["width"] <= 390
    phone.screenshot(path=str(tmp_path / "console-phone.png"), full_page=True)
    assert (tmp_path / "console-task.png").stat().st_size > 10_000
    print(f"screenshots: {tmp_path / 'console-task.png'} {tmp_path / 'console-phone.png'}")
