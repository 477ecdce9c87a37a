"""A user adds PAI agents from .pai files against a real Home Assistant, in a real browser.

Chromium (driven by Playwright) logs in on Home Assistant's own login page and works with
PAI's own forms and pages; what belongs to Home Assistant's frontend rather than to PAI (the
action picker's search lists) is not clicked through: those values go in through the same
config-flow API the frontend calls.

- a file written here whose action has no binding yet: uploaded and bound to
  `light.turn_on` on the demo's bed light through the flow API (file_upload, then the flow's
  steps); in the browser the agent's options are saved and its entities are found on its
  device page. The API then confirms what the screens showed: the entry is loaded, the
  binding is kept, the option is kept.
- the shipped examples/night_watch.pai, as the README's quick start walks it, all in the
  browser: uploaded in PAI's form, the bindings come pre-filled, and after "dark + motion in
  the backyard" the device page says Ask and the request waits in the agent's inbox (the
  To-do lists dashboard).

Every wait is on a condition, never a fixed sleep, and no step waits more than 15 s.

Every step is a full-page 1280x800 screenshot in `$PAI_ARTIFACTS` (default
tests/e2e/artifacts/); docs/screenshots/ holds copies of a few.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
import json
import os
from pathlib import Path
import re
import shutil
import time
from typing import Any
import urllib.request

import pytest

from custom_components.pai.engine.container import json_section, write_pai

from .hass_process import REPO, HassInstance, run_hass
from .ws import allow_sockets, connect, finish_onboarding

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("socket_enabled")]

async_api = pytest.importorskip("playwright.async_api")
expect = async_api.expect

PASSWORD = "correct-horse-battery"  # noqa: S105  # the owner HassInstance.onboard makes
AGENT = "Bedtime helper"
NIGHT_WATCH = "Night watch"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STEP_TIMEOUT_MS = 15_000
"""The longest any one step may wait for what it expects."""


def chromium_path() -> str:
    """Return the Chromium to drive (Playwright's own download does not work here)."""
    path = os.environ.get("PAI_CHROMIUM") or shutil.which("chromium") or ""
    if not path or not Path(path).exists():
        pytest.skip("no Chromium: install Debian's chromium or set PAI_CHROMIUM")
    return path


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("PAI_ARTIFACTS") or REPO / "tests/e2e/artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_agent_file(path: Path) -> Path:
    """Write an agent as an author would: a rule that proposes an action HA must bind."""
    sections: dict[str, Any] = {
        "manifest.json": {
            "name": AGENT,
            "version": "1.0.0",
            "author": "e2e tests",
            "description": "Turns the bed light on at bedtime",
            "pai_format": 1,
            "kind": "proactive-agent",
        },
        "policy.json": {"default_max_level": 1},
        "triggers.json": [
            {
                "type": "interval",
                "name": "every-30-min",
                "params": {"interval_sec": 1800},
            }
        ],
        "rules.json": [
            {
                "name": "light-up",
                "when": {"kind": "schedule.tick"},
                "intent": {
                    "action": "bed_light_on",
                    "params": {},
                    "confidence": 0.9,
                    "urgency": 0.5,
                    "rationale": "Bedtime",
                    "level": 1,
                },
            }
        ],
        "actions.json": {"bed_light_on": {"type": "callback", "handler": "lights"}},
    }
    write_pai(path, [json_section(name, value) for name, value in sections.items()])
    return path


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HassInstance]:
    allow_sockets()
    with run_hass(tmp_path_factory.mktemp("browser")) as instance:
        instance.onboard()
        finish_onboarding(instance)
        yield instance


class Screens:
    """Numbered full-page screenshots of one walk through the UI."""

    def __init__(self, page: Any, folder: Path, walk: str) -> None:
        self.page = page
        self.folder = folder
        self.walk = walk
        self.taken: list[Path] = []

    async def shot(self, name: str) -> None:
        path = self.folder / f"{self.walk}_{len(self.taken) + 1:02d}_{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)


@asynccontextmanager
async def logged_in(
    hass: HassInstance, walk: str
) -> AsyncIterator[tuple[Any, Screens]]:
    """Open Chromium, log in as the owner on HA's login page; shoot the page on failure."""
    executable = chromium_path()
    expect.set_options(timeout=STEP_TIMEOUT_MS)
    started = time.monotonic()
    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable,
            args=CHROMIUM_FLAGS,  # and a fresh profile: Playwright makes one per launch
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(STEP_TIMEOUT_MS)
        screens = Screens(page, artifacts_dir(), walk)
        try:
            await page.goto(hass.base_url + "/")
            await page.get_by_role("textbox", name="Username").fill("owner")
            await page.get_by_role("textbox", name="Password").fill(PASSWORD)
            await screens.shot("login")
            await page.get_by_role("button", name="Log in").click()
            await page.wait_for_url(re.compile(r"/(home|lovelace)"))
            yield page, screens
        except Exception:
            await screens.shot("failure")
            raise
        finally:
            await browser.close()
    elapsed = time.monotonic() - started
    print(f"{walk}: {elapsed:.1f} s, {len(screens.taken)} screenshots")  # noqa: T201


async def upload(page: Any, screens: Screens, hass: HassInstance, file: Path) -> None:
    """Settings -> Devices & services -> Add integration -> PAI -> import `file`."""
    await page.goto(hass.base_url + "/config/integrations/dashboard")
    await page.get_by_role("button", name="Add integration").click()
    await page.get_by_placeholder("Search for a brand name").fill("PAI")
    brand = page.locator("[part=headline]", has_text="PAI Proactive Agents")
    await expect(brand).to_be_visible()
    await screens.shot("search_pai")
    await brand.click()
    await page.get_by_text("Import an agent file (.pai)").click()
    await expect(page.get_by_text("Upload a .pai agent file")).to_be_visible()
    await page.locator("input[type=file]").set_input_files(str(file))
    await expect(page.get_by_text(file.name)).to_be_visible()
    await screens.shot("upload")
    await page.get_by_role("button", name="Submit").click()


async def review(page: Any, screens: Screens, tick: tuple[str, ...] = ()) -> None:
    """The review of what the file reaches out to: tick `tick`, leave the rest off."""
    await expect(page.get_by_text("reaches out to")).to_be_visible()
    for label in tick:
        await page.get_by_text(label, exact=True).click()
    await screens.shot("review")
    await page.get_by_role("button", name="Submit").click()


async def finish_flow(page: Any, screens: Screens) -> None:
    """Keep the suggested notification target, then finish (the device keeps its name)."""
    targets = page.get_by_text("Where the agent's suggestions and approval")
    await expect(targets).to_be_visible()
    await expect(page.get_by_text("persistent_notification")).to_be_visible()
    await screens.shot("targets")
    await page.get_by_role("button", name="Submit").click()
    # A step the flow may add after it (a brain to choose) keeps its defaults.
    named = page.get_by_text("Name and assign")
    for _ in range(2):
        await expect(targets).to_be_hidden()
        await expect(
            named.or_(page.get_by_role("button", name="Submit")).first
        ).to_be_visible()
        if await named.is_visible():
            break
        await screens.shot("extra_step")
        await page.get_by_role("button", name="Submit").click()
    await expect(named).to_be_visible()
    await screens.shot("created")
    await page.get_by_role("button", name=re.compile("finish", re.I)).click()
    await expect(named).to_be_hidden()


async def open_device(page: Any, hass: HassInstance, title: str) -> None:
    """Open the agent's entry under the integration, then its device page."""
    await page.goto(hass.base_url + "/config/integrations/integration/pai")
    await expect(page.get_by_text(title).first).to_be_visible()
    entry_id = pai_entry(hass, title)["entry_id"]
    device = await device_id(hass, entry_id)
    row = page.locator("ha-config-entry-device-row", has_text=title)
    await row.get_by_role("listitem").first.click()
    await page.wait_for_url(re.compile(rf"/config/devices/device/{device}"))


def upload_file(hass: HassInstance, file: Path) -> str:
    """POST the file to Home Assistant's file_upload, as the form's file picker does."""
    boundary = "pai-e2e-boundary"
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{file.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + file.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        hass.base_url + "/api/file_upload",
        data=body,
        headers={
            "Authorization": f"Bearer {hass.token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=15) as response:
        return str(json.loads(response.read())["file_id"])


def flow_step(
    hass: HassInstance, flow: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    status, result = hass.request(
        "POST", f"/api/config/config_entries/flow/{flow['flow_id']}", data
    )
    assert status == 200, result
    return dict(result)


def add_and_bind_through_the_flow_api(hass: HassInstance, file: Path) -> None:
    """Upload `file`, bind its action to the bed light, keep the suggested target."""
    status, flow = hass.request(
        "POST", "/api/config/config_entries/flow", {"handler": "pai"}
    )
    assert status == 200, flow
    flow = flow_step(hass, flow, {"next_step_id": "upload"})
    flow = flow_step(hass, flow, {"pai_file": upload_file(hass, file)})
    assert flow.get("step_id") == "review", flow
    flow = flow_step(hass, flow, {})  # nothing outward to tick in this file
    assert flow.get("step_id") == "bind_actions", flow
    flow = flow_step(
        hass,
        flow,
        {
            "bed_light_on": [
                {"action": "light.turn_on", "target": {"entity_id": "light.bed_light"}}
            ]
        },
    )
    assert flow.get("step_id") == "targets", flow
    flow = flow_step(hass, flow, {"notify_targets": ["persistent_notification"]})
    for _ in range(3):  # steps the flow may add after it keep their defaults
        if flow["type"] != "form":
            break
        flow = flow_step(hass, flow, {})
    assert flow["type"] == "create_entry", flow


async def test_add_an_agent_file_and_configure_it_in_the_browser(
    home: HassInstance, tmp_path: Path
) -> None:
    hass = home
    agent_file = write_agent_file(tmp_path / "bedtime_helper.pai")
    add_and_bind_through_the_flow_api(hass, agent_file)
    async with logged_in(hass, "bedtime") as (page, screens):
        # The agent's entry: Configure (the options) and save a change.
        await page.goto(hass.base_url + "/config/integrations/integration/pai")
        await expect(page.get_by_text(AGENT).first).to_be_visible()
        await screens.shot("entry")
        # The only agent yet (this test runs first): its gear is the one Configure.
        await page.get_by_role("button", name="Configure").first.click()
        await expect(page.get_by_text(f"Governance of {AGENT}")).to_be_visible()
        await page.get_by_role("spinbutton", name="Minimum confidence").fill("0.5")
        await screens.shot("options")
        await page.get_by_role("button", name="Submit").click()
        await expect(page.get_by_text("Options successfully saved.")).to_be_visible()
        await screens.shot("options_saved")
        await page.get_by_role("button", name="Finish").click()

        # The agent's device page lists its entities.
        await open_device(page, hass, AGENT)
        entities = await agent_entities(hass, AGENT)
        assert entities, "the agent has no entities"
        for name in entities.values():
            await expect(page.get_by_text(name, exact=True).first).to_be_visible()
        await screens.shot("device")

    # What the screens showed is what Home Assistant keeps.
    entry_data = pai_entry(hass, AGENT)
    assert entry_data["state"] == "loaded"
    stored = stored_entry(hass, entry_data["entry_id"])
    assert _called(stored["data"]["bindings"]["actions"]["bed_light_on"]) == (
        "light.turn_on",
        ["light.bed_light"],
    )
    assert stored["options"]["min_confidence"] == 0.5
    assert stored["options"]["notify_targets"] == ["persistent_notification"]
    assert_no_pai_errors(hass)


async def test_the_shipped_example_asks_before_lighting_the_entrance(
    home: HassInstance,
) -> None:
    """Walk the README's quick start with examples/night_watch.pai (its screenshots)."""
    hass = home
    example = REPO / "examples" / "night_watch.pai"
    if not example.exists():
        pytest.skip("examples/night_watch.pai is not in this checkout")
    async with logged_in(hass, "night_watch") as (page, screens):
        await upload(page, screens, hass, example)
        # The review: the example wakes on three Home Assistant triggers; tick them.
        await review(
            page,
            screens,
            (
                "wake on a template reading binary_sensor.movement_backyard, sun.sun",
                "wake on a template reading lock.kitchen_door",
                "wake on every state change of binary_sensor.basement_floor_wet to 'on'",
            ),
        )

        # The bindings come pre-filled from the file: submit them as they are.
        await expect(page.get_by_text("Bind the agent's actions")).to_be_visible()
        await expect(
            page.get_by_text("Entrance Color + White Lights", exact=True).first
        ).to_be_visible()
        await screens.shot("bind_actions")
        await page.get_by_role("button", name="Submit").click()
        await finish_flow(page, screens)

        # Step 5 of the quick start: dark, and something moves in the backyard.
        for entity_id, value in (
            ("sun.sun", "below_horizon"),
            ("binary_sensor.movement_backyard", "off"),
            ("binary_sensor.movement_backyard", "on"),
        ):
            status, body = hass.request(
                "POST", f"/api/states/{entity_id}", {"state": value}
            )
            assert status in (200, 201), body
        sensor = await entity_of(hass, NIGHT_WATCH, "last_decision")
        deadline = time.monotonic() + 20
        while hass.request("GET", f"/api/states/{sensor}")[1]["state"] != "ask":
            assert time.monotonic() < deadline, "the agent did not ask"
            await asyncio.sleep(0.2)

        await open_device(page, hass, NIGHT_WATCH)
        await expect(
            page.get_by_text("Ask", exact=True).filter(visible=True).first
        ).to_be_visible()
        await expect(page.get_by_text("Pending approvals")).to_be_visible()
        await screens.shot("entities")

        # The request waits in the agent's inbox, on the To-do lists dashboard too.
        inbox = await entity_of(hass, NIGHT_WATCH, "inbox")
        await page.goto(f"{hass.base_url}/todo?entity_id={inbox}")
        await expect(
            page.get_by_text(re.compile("Entrance Color \\+ White Lights"))
            .filter(visible=True)
            .first
        ).to_be_visible()
        await screens.shot("inbox")
    assert_no_pai_errors(hass)


def assert_no_pai_errors(hass: HassInstance) -> None:
    log = hass.log()
    assert not [
        line for line in log.splitlines() if " ERROR " in line and "pai" in line
    ]


def _called(sequence: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """Return the action and target entities of a one-step sequence."""
    (step,) = sequence
    target = step.get("target", {}).get("entity_id")
    return step["action"], target if isinstance(target, list) else [target]


def pai_entry(hass: HassInstance, title: str) -> dict[str, Any]:
    status, entries = hass.request("GET", "/api/config/config_entries/entry")
    assert status == 200, entries
    (entry,) = [e for e in entries if e["domain"] == "pai" and e["title"] == title]
    return dict(entry)


def stored_entry(hass: HassInstance, entry_id: str) -> dict[str, Any]:
    """Read the entry as Home Assistant stored it (saved a second after a change)."""
    path = hass.config_dir / ".storage" / "core.config_entries"
    deadline = time.monotonic() + 15
    while True:
        entries = json.loads(path.read_text())["data"]["entries"]
        (entry,) = [entry for entry in entries if entry["entry_id"] == entry_id]
        if "min_confidence" in entry["options"] or time.monotonic() > deadline:
            return dict(entry)
        time.sleep(0.5)


async def device_id(hass: HassInstance, entry_id: str) -> str:
    async with connect(hass) as ws:
        devices = await ws.command("config/device_registry/list")
    (device,) = [d for d in devices if entry_id in d["config_entries"]]
    return str(device["id"])


async def registry_entries(hass: HassInstance, title: str) -> list[dict[str, Any]]:
    entry_id = pai_entry(hass, title)["entry_id"]
    async with connect(hass) as ws:
        registry = await ws.command("config/entity_registry/list")
    return [
        item
        for item in registry
        if item["config_entry_id"] == entry_id and not item["disabled_by"]
    ]


async def entity_of(hass: HassInstance, title: str, suffix: str) -> str:
    """Return the agent's entity whose id ends with `suffix`."""
    (entity_id,) = [
        item["entity_id"]
        for item in await registry_entries(hass, title)
        if item["entity_id"].endswith(suffix)
    ]
    return str(entity_id)


async def agent_entities(hass: HassInstance, title: str) -> dict[str, str]:
    """Map the agent's entity ids to the names its device page shows for them."""
    names = {}
    for item in await registry_entries(hass, title):
        status, state = hass.request("GET", f"/api/states/{item['entity_id']}")
        assert status == 200, state
        friendly = state["attributes"]["friendly_name"]
        names[item["entity_id"]] = friendly.removeprefix(title).strip() or friendly
    return names
