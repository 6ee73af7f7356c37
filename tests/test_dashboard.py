"""The dashboard in a real headless browser (Debian's chromium, driven by Playwright).

What the page shows is compared with what other clients see of the same server: the plant's
numbers with the control API's ``/state``, a register's decoded value with the words a
pymodbus client reads. A fault is injected by filling the form the page generated from the
OpenAPI document and clicking; the pymodbus read then gets the Modbus exception and the
traffic view shows the request with the fault's name; clearing it restores the reads. Every
wait is one of Playwright's auto-waiting expectations.

With ``MOCK_SUNGROW_SCREENSHOTS=docs/images`` the test writes the screenshots the docs show
(docs/dashboard.md). Skipped, saying why, without chromium or the playwright package (the
``test`` extra has it; ``.ci/run`` installs chromium). No browser is downloaded: the
system's chromium is driven.
"""

from __future__ import annotations

import math
import os
import shutil
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import ModbusTcpClient

from mock_sungrow import MockSungrowServer
from mock_sungrow.clock import ManualClock
from mock_sungrow.fleet import Fleet
from tests.helpers import control_call

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("MOCK_SUNGROW_CHROMIUM", "/usr/bin/chromium")
if shutil.which(CHROMIUM) is None:
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium; or set "
                "MOCK_SUNGROW_CHROMIUM)", allow_module_level=True)
try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    pytest.skip("the playwright package is not installed (pip install -e '.[test]')",
                allow_module_level=True)

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
#: 07:00 at the default site (UTC+11 in January): the sun is just up.
MORNING = datetime(2026, 1, 9, 20, 0, tzinfo=timezone.utc)
SCREENSHOTS = os.environ.get("MOCK_SUNGROW_SCREENSHOTS")


@pytest.fixture
def browser() -> Iterator[Browser]:
    before = set(threading.enumerate())
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
    # asyncio waits for Playwright's driver process to exit on a thread of its own
    # ("asyncio-waitpid-N"), which may outlive the driver's pipes for a moment on a loaded machine:
    # the leak check would count it.
    for thread in set(threading.enumerate()) - before:
        if "waitpid" in thread.name:  # asyncio-waitpid-N
            thread.join(timeout=60)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, errors  # an exception in the page's script fails the test


def shot(page: Page, name: str, *, full_page: bool = False) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        # Written here, not by screenshot(path=...): Playwright writes the file on an executor
        # thread of its loop that can outlive the test (the leak check saw it).
        image = page.screenshot(full_page=full_page)
        (Path(SCREENSHOTS) / f"dashboard-{name}.png").write_bytes(image)


def watts(value: float) -> str:
    """A power as the page shows it: whole watts, halves rounded up (JavaScript's round)."""
    return f"{math.floor(value + 0.5)} W"


def open_tab(page: Page, name: str) -> None:
    page.locator(f'#tabs button[data-tab="{name}"]').click()
    expect(page.locator(f"#tab-{name}")).to_be_visible()


def u32(words: list[int]) -> int:
    """Sungrow's 32-bit registers: the low word first (the protocol document, 4.2)."""
    return words[1] << 16 | words[0]


def plant_field(page: Page, field: str) -> Any:
    return page.locator(f'#tab-plant dd[data-field="{field}"]')


@pytest.fixture
def hybrid(mock_sungrow_factory: Any) -> MockSungrowServer:
    server: MockSungrowServer = mock_sungrow_factory(
        model="SH10RT", server_type="modbus", control_port=0, clock=ManualClock(MORNING))
    return server


def test_the_page_follows_the_plant_and_steers_a_fault(hybrid: MockSungrowServer,
                                                       page: Page) -> None:
    base = hybrid.get_connection_info("control")["url"]
    modbus = hybrid.get_connection_info("modbus")["port"]
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    page.goto(base)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#link")).to_have_text("live")

    # The plant as /state has it.
    status, state = control_call(base.rstrip("/"), "GET", "/state")
    assert status == 200
    expect(plant_field(page, "dc_power_w")).to_have_text(watts(state["dc_power_w"]))
    expect(plant_field(page, "battery_soc_pct")).to_have_text(f"{state['battery_soc_pct']:.1f} %")
    expect(plant_field(page, "mode")).to_have_text(state["mode"])
    expect(plant_field(page, "daily_yield_kwh")).to_have_text(f"{state['daily_yield_kwh']:.1f} kWh")

    # Five hours later (the Clock view's form), by the page's numbers and /state's.
    open_tab(page, "clock")
    page.locator('#clock-advance input[name="seconds"]').fill("18000")
    page.locator("#clock-advance button").click()
    expect(page.locator("#clock-utc")).to_have_text("2026-01-10T01:00:00+00:00")
    status, noon = control_call(base.rstrip("/"), "GET", "/state")
    assert noon["dc_power_w"] > state["dc_power_w"] + 1000  # the sun is up: the values moved
    open_tab(page, "plant")
    expect(plant_field(page, "dc_power_w")).to_have_text(watts(noon["dc_power_w"]))
    expect(plant_field(page, "load_power_w")).to_have_text(watts(noon["load_power_w"]))
    expect(page.locator("#flow-pv")).to_have_text(watts(noon["dc_power_w"]))
    expect(page.locator("#curves polyline")).to_have_count(4)  # PV, load, battery, grid
    expect(page.locator("#curves-legend")).to_contain_text("house load")
    shot(page, "plant", full_page=True)

    with ModbusTcpClient("127.0.0.1", port=modbus, timeout=10, retries=0) as client:
        # The register view's decoded value is what a pymodbus client reads.
        words = client.read_input_registers(5016, count=2, device_id=1)
        assert not words.isError(), words
        open_tab(page, "registers")
        page.locator('#register-search input[name="search"]').fill("total_dc_power")
        page.locator('#register-search button[type="submit"]').click()
        row = page.locator('#registers tr[data-register="total_dc_power"]')
        expect(row.locator("td.value")).to_have_text(f"{u32(words.registers)} W")
        expect(row.locator("td.raw")).to_have_text(" ".join(f"0x{w:04x}"
                                                            for w in words.registers))

        # A fault from the generated form: exception 4 on input 5017.
        open_tab(page, "faults")
        page.locator("#fault-kind").select_option("exception")
        form = page.locator("#fault-form")
        form.locator('input[name="code"]').fill("4")
        form.locator('select[name="table"]').select_option("input")
        form.locator('input[name="address"]').fill("5017")
        form.locator("#inject").click()
        expect(page.locator("#fault-result")).to_contain_text("injected fault")
        expect(page.locator("#active-faults tr")).to_have_count(1)
        expect(page.locator("#active-faults tr td").nth(1)).to_have_text("exception")
        shot(page, "faults")

        refused = client.read_input_registers(5016, count=2, device_id=1)
        assert refused.isError()
        assert refused.exception_code == 4

        open_tab(page, "traffic")
        faulted = page.locator('#requests tr[data-fault="exception"]')
        expect(faulted).to_have_count(1)
        expect(faulted.locator("td").nth(8)).to_have_text("exception 4")
        expect(faulted.locator("td").nth(6)).to_have_text("5017")
        expect(page.locator("#clients tr td").nth(4)).to_have_text("1")  # one error
        shot(page, "traffic")

        # Cleared from the page: the reads work again, and the log says so.
        open_tab(page, "faults")
        page.locator("#clear-faults").click()
        expect(page.locator("#active-faults tr")).to_have_count(0)
        form.locator("#inject").click()  # the form keeps its values: one more, removed alone
        expect(page.locator("#active-faults tr")).to_have_count(1)
        page.locator("#active-faults tr button").click()
        expect(page.locator("#active-faults tr")).to_have_count(0)
        status, faults = control_call(base.rstrip("/"), "GET", "/faults")
        assert (status, faults) == (200, [])
        again = client.read_input_registers(5016, count=2, device_id=1)
        assert not again.isError(), again
        open_tab(page, "traffic")
        rows = page.locator("#requests tr")
        expect(rows).to_have_count(3)
        expect(rows.first).to_have_attribute("data-outcome", "ok")
        # Filtered to the failures; then paused: a new request waits until it is unticked.
        filters = page.locator("#traffic-filters")
        filters.locator('select[name="outcome"]').select_option("error")
        expect(rows).to_have_count(1)
        filters.locator('select[name="outcome"]').select_option("")
        page.locator("#pause").check()
        assert not client.read_input_registers(5016, count=2, device_id=1).isError()
        expect(page.locator("#paused-count")).to_have_text("1 new while paused")
        expect(rows).to_have_count(3)
        page.locator("#pause").uncheck()
        expect(rows).to_have_count(4)

        # A pin from the register view is what the client reads; unpinned, it is gone.
        open_tab(page, "registers")
        row = page.locator('#registers tr[data-register="total_dc_power"]')
        row.locator("td.control input").fill("4321, 0")
        row.locator("td.control button").click()
        expect(row.locator("td").nth(4)).to_have_text("pinned")
        expect(row.locator("td.value")).to_have_text("4321 W")
        assert client.read_input_registers(5016, count=2, device_id=1).registers == [4321, 0]
        page.locator("#unpin-all").click()
        expect(row.locator("td").nth(4)).to_have_text("")
        assert client.read_input_registers(5016, count=2, device_id=1).registers != [4321, 0]

    # The manual clock set, and the inverter's own clock, from the page: what /clock reports.
    open_tab(page, "clock")
    page.locator('#clock-set input[name="when"]').fill("2026-01-10T02:00:00+00:00")
    page.locator("#clock-set button").click()
    expect(page.locator("#clock-utc")).to_have_text("2026-01-10T02:00:00+00:00")
    page.locator('#inverter-clock input[name="when"]').fill("2026-01-10T15:30:00")
    page.locator("#inverter-clock button").click()
    expect(page.locator("#clock-inverter")).to_have_text("2026-01-10T15:30:00+11:00")
    status, clock = control_call(base.rstrip("/"), "GET", "/clock")
    assert clock["inverter_time"] == "2026-01-10T15:30:00+11:00"

    # Every device of the installation; the battery's view is the battery's.
    status, devices = control_call(base.rstrip("/"), "GET", "/devices")
    open_tab(page, "devices")
    listed = page.locator("#devices tr")
    expect(listed).to_have_count(len(devices))
    for device in devices:
        expect(page.locator(f'#devices tr[data-device="{device["id"]}"] td').nth(5)).to_have_text(
            device["serial"])
    page.locator('#devices tr[data-device="battery[1]"] button').click()
    expect(page.locator("#device-badge")).to_have_text("battery[1]")
    status, battery = control_call(base.rstrip("/"), "GET", "/state?device=battery[1]")
    assert status == 200
    expect(plant_field(page, "battery_soc_pct")).to_have_text(
        f"{battery['battery_soc_pct']:.1f} %")
    # Everything the page loaded came from the server itself: nothing from another origin.
    assert fetched and all(url.startswith(base) for url in fetched), fetched


def test_a_read_only_dashboard_shows_no_controls(mock_sungrow_factory: Any,
                                                  page: Page) -> None:
    server = mock_sungrow_factory(server_type="modbus", control_port=0, control_read_only=True,
                                  clock=ManualClock(MORNING))
    base = server.get_connection_info("control")["url"]
    page.goto(base)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#read-only-badge")).to_be_visible()
    open_tab(page, "faults")
    expect(page.locator("#clear-faults")).to_be_hidden()
    expect(page.locator("#fault-form")).to_be_hidden()
    open_tab(page, "clock")
    expect(page.locator("#clock-advance")).to_be_hidden()
    expect(page.locator("#clock-kind")).to_have_text("ManualClock")  # still shown
    status, body = control_call(base.rstrip("/"), "POST", "/clock", {"advance": 60})
    assert status == 403 and "read-only" in body["error"]


def test_a_fleet_is_searched_and_a_site_opened(tmp_path: Path, page: Page) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text("[[group]]\ncount = 3\nports = { modbus = 0 }\n"
                    "[[group]]\nname = 'hy'\ncount = 2\nmodel = 'SH10RT'\n"
                    "ports = { modbus = 0 }\n")
    with Fleet(path, control_port=0, clock=ManualClock(MORNING)) as fleet:
        info = fleet.control_info()
        assert info is not None
        base = info["url"].rstrip("/")
        status, sites = control_call(base, "GET", "/sites")
        assert status == 200
        wanted = next(s for s in sites if s["model"] == "SH10RT")
        page.goto(info["url"])
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        expect(page.locator("#sites tr")).to_have_count(5)
        page.locator("#fleet-search").fill(wanted["serial"])
        expect(page.locator("#sites tr")).to_have_count(1)
        page.locator("#fleet-search").fill("sh10rt")
        expect(page.locator("#sites tr")).to_have_count(2)
        shot(page, "fleet")
        page.locator(f'#sites tr[data-site="{wanted["id"]}"] button').click()
        expect(page.locator("#site-badge")).to_have_text(f"site {wanted['id']}")
        status, state = control_call(base, "GET", f"/sites/{wanted['id']}/state")
        assert status == 200
        expect(page.locator("#link")).to_have_text("live")
        expect(plant_field(page, "battery_soc_pct")).to_have_text(
            f"{state['battery_soc_pct']:.1f} %")
        expect(plant_field(page, "dc_power_w")).to_have_text(watts(state["dc_power_w"]))
        open_tab(page, "devices")
        expect(page.locator("#devices tr").first).to_contain_text("SH10RT")
        page.close()  # the page's event stream ends before the fleet stops
