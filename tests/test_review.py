"""The review: nothing an agent file reaches out to is used before the user ticks it.

A hostile file (a webhook to a local listener on loopback, a policy that lets it act, a
Home Assistant trigger in `ha_bindings.json`) is uploaded through the real config flow and
run by the real runtime; the listener is a real HTTP server. Nothing reaches it before
consent; then only the documented minimal payload, only after an approval unless the user
lets webhooks act, never for an entity labelled private, and never through a redirect.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
import json
from pathlib import Path
import re
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import entity_registry as er, label_registry as lr
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.pai.const import DOMAIN, EVENT_PAI_RECORD
from custom_components.pai.diagnostics import async_get_config_entry_diagnostics
from custom_components.pai.engine.agent import AgentDefinition
from custom_components.pai.engine.container import (
    PaiReader,
    SectionSource,
    json_section,
    write_pai,
)
from custom_components.pai.engine.outreach import ha_trigger_id
from custom_components.pai.engine.signing import fingerprint, signature_section
from custom_components.pai.review import make_consent, previous_ticks
from tests.loopback import serving

from .helpers import (
    CLEANUP_RULE,
    LLM_BRAIN,
    Uploads,
    _agent_sections,
    agent_entry,
    bind,
    brain_suggested,
    configure,
    pack_llm,
    rule,
    start,
    start_reconfigure,
    start_upload,
)

MOTION_TRIGGER = {"trigger": "state", "entity_id": "input_boolean.motion", "id": "m"}


@dataclass
class Listener:
    """A real HTTP server on loopback: /hook records POSTs, /moved redirects to /hook."""

    base: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
async def listener(socket_enabled: None) -> AsyncIterator[Listener]:
    server = Listener()

    async def hook(request: web.Request) -> web.Response:
        server.received.append(await request.json())
        return web.Response(status=200)

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"{server.base}/hook")

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_post("/moved", moved)
    async with serving(app) as server.base:
        yield server


def _hostile_sections(url: str, version: str) -> dict[str, Any]:
    sections = _agent_sections()
    sections["manifest.json"] = {"name": "Server watch", "version": version}
    sections["rules.json"] = [
        {**CLEANUP_RULE, "intent": {**CLEANUP_RULE["intent"], "action": "report"}}
    ]
    sections["actions.json"] = {"report": {"type": "webhook", "url": url}}
    return sections


async def review_of(hass: HomeAssistant, uploads: Uploads, path: Path) -> FlowResult:
    result = await start_upload(hass)
    result = await configure(hass, result, {"pai_file": uploads.add(path)})
    assert result["step_id"] == "review"
    return result


async def finish(
    hass: HomeAssistant, result: FlowResult, cpu: str = "sensor.cpu"
) -> ConfigEntry:
    """Bind the CPU metric, keep the default targets, and start the agent."""
    assert result["step_id"] == "bind_metrics", result.get("errors")
    result = await configure(hass, result, {"cpu": cpu})
    result = await configure(hass, result, {"notify_targets": []})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry = result["result"]
    assert isinstance(entry, ConfigEntry)
    return entry


def options(result: FlowResult) -> dict[str, str]:
    for key, selector in result["data_schema"].schema.items():
        if key == "allow":
            return {item["value"]: item["label"] for item in selector.config["options"]}
    return {}


async def cpu_runs_hot(hass: HomeAssistant, cpu: str = "sensor.cpu") -> dict[str, Any]:
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    hass.states.async_set(cpu, "50")
    await hass.async_block_till_done()
    hass.states.async_set(cpu, "92")
    await hass.async_block_till_done()
    return dict(records[-1].data["record"])


@pytest.fixture
def hostile_file(tmp_path: Path, listener: Listener) -> Path:
    return write_hostile(tmp_path / "src", f"{listener.base}/hook")


def write_hostile(folder: Path, url: str, version: str = "1.0.0") -> Path:
    """An agent that POSTs to `url` at ACT when the CPU runs hot, and wakes on motion."""
    folder.mkdir(parents=True, exist_ok=True)
    sections = [
        json_section(name, value)
        for name, value in _hostile_sections(url, version).items()
    ]
    sections.append(json_section("ha_bindings.json", {"ha_triggers": [MOTION_TRIGGER]}))
    path = folder / f"hostile-{version}.pai"
    write_pai(path, sections)
    return path


@pytest.mark.usefixtures("flow_house")
async def test_nothing_reaches_out_before_consent(
    hass: HomeAssistant, uploads: Uploads, listener: Listener, hostile_file: Path
) -> None:
    result = await review_of(hass, uploads, hostile_file)

    said = result["description_placeholders"]["outreach"]
    assert (
        f"- webhook 'report' sends records to {listener.base}/hook, "
        "on this network (loopback)"
    ) in said
    assert "- wakes on every state change of input_boolean.motion" in said
    assert "- action 'report' (webhook): at most act without asking" in said
    assert list(options(result)) == ["webhook:report", ha_trigger_id(MOTION_TRIGGER)]
    assert [str(key) for key in result["data_schema"].schema] == [
        "allow",
        "local_webhooks",
        "webhooks_act",
    ]
    for key in result["data_schema"].schema:  # everything starts off
        assert key.default() in ([], False)

    entry = await finish(hass, await configure(hass, result, {}))

    assert entry.data["ha_triggers"] == []
    assert entry.data["consent"]["webhooks"] == {}
    record = await cpu_runs_hot(hass)
    assert record["4_execution"]["status"] == "no_action_registered"
    records = async_capture_events(hass, EVENT_PAI_RECORD)
    hass.states.async_set("input_boolean.motion", "on")  # the unticked trigger
    await hass.async_block_till_done()
    assert records == []
    assert listener.received == []


@pytest.mark.usefixtures("flow_house")
async def test_a_ticked_webhook_asks_first_and_gets_only_the_minimal_payload(
    hass: HomeAssistant, uploads: Uploads, listener: Listener, hostile_file: Path
) -> None:
    result = await review_of(hass, uploads, hostile_file)
    result = await configure(hass, result, {"allow": ["webhook:report"]})
    assert result["errors"] == {"base": "webhook_local"}  # loopback: not without leave
    assert "loopback" in result["description_placeholders"]["detail"]
    result = await configure(
        hass, result, {"allow": ["webhook:report"], "local_webhooks": True}
    )
    entry = await finish(hass, result)
    assert entry.data["consent"]["webhooks"] == {"report": f"{listener.base}/hook"}

    record = await cpu_runs_hot(hass)
    assert record["4_execution"]["status"] == "pending_approval"  # capped at ASK
    assert listener.received == []
    await hass.services.async_call(
        DOMAIN, "approve", {"record_id": record["record_id"]}, blocking=True
    )
    await hass.async_block_till_done()
    assert listener.received == [
        {
            "record_id": record["record_id"],
            "agent": "Server watch",
            "action": "report",
            "params": {},
            "event": {"kind": "metric.breach", "source": "cpu-monitor"},
        }
    ]

    # Diagnostics show what the user allowed, with the URL (their own decision).
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["consent"]["webhooks"] == {"report": f"{listener.base}/hook"}
    assert diagnostics["consent"]["webhooks_act"] is False


@pytest.mark.usefixtures("flow_house")
async def test_never_for_an_entity_labelled_private(
    hass: HomeAssistant, uploads: Uploads, listener: Listener, hostile_file: Path
) -> None:
    registry = er.async_get(hass)
    cpu = registry.async_get_or_create("sensor", "test", "cpu").entity_id
    hass.states.async_set(cpu, "50")
    lr.async_get(hass).async_create("pai_local_only")
    registry.async_update_entity(cpu, labels={"pai_local_only"})
    result = await review_of(hass, uploads, hostile_file)
    result = await configure(
        hass,
        result,
        {"allow": ["webhook:report"], "local_webhooks": True, "webhooks_act": True},
    )
    await finish(hass, result, cpu)

    record = await cpu_runs_hot(hass, cpu)

    assert record["4_execution"]["status"] == "not_executed"
    assert "labelled private" in str(record["4_execution"]["actions_taken"])
    assert listener.received == []


@pytest.mark.usefixtures("flow_house")
async def test_webhooks_act_only_when_lifted_and_never_follow_a_redirect(
    hass: HomeAssistant, uploads: Uploads, listener: Listener, tmp_path: Path
) -> None:
    path = write_hostile(tmp_path / "src", f"{listener.base}/moved")
    result = await review_of(hass, uploads, path)
    result = await configure(
        hass,
        result,
        {"allow": ["webhook:report"], "local_webhooks": True, "webhooks_act": True},
    )
    await finish(hass, result)

    record = await cpu_runs_hot(hass)

    assert record["4_execution"]["status"] == "failed"
    assert "redirected (HTTP 307); not followed" in str(
        record["4_execution"]["actions_taken"]
    )
    assert listener.received == []


@pytest.mark.usefixtures("flow_house")
async def test_a_new_version_that_changes_a_webhook_is_reviewed_again(
    hass: HomeAssistant, uploads: Uploads, listener: Listener, tmp_path: Path
) -> None:
    first = write_hostile(tmp_path / "v1", f"{listener.base}/hook")
    result = await review_of(hass, uploads, first)
    result = await configure(
        hass,
        result,
        {
            "allow": ["webhook:report", ha_trigger_id(MOTION_TRIGGER)],
            "local_webhooks": True,
        },
    )
    entry = await finish(hass, result)
    assert entry.data["ha_triggers"] == [MOTION_TRIGGER]

    # The same webhook in a new version: nothing outward changed, no review.
    same = write_hostile(tmp_path / "v2", f"{listener.base}/hook", "1.1.0")
    result = await start_reconfigure(hass, entry)
    result = await configure(hass, result, {"pai_file": uploads.add(same)})
    assert result["step_id"] == "bind_metrics"
    result = await configure(hass, result, {"cpu": "sensor.cpu"})
    result = await configure(hass, result, {"notify_targets": []})
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["consent"]["webhooks"] == {"report": f"{listener.base}/hook"}

    # Another URL: asked again, and the old tick does not carry over.
    moved = write_hostile(tmp_path / "v3", "https://collector.example.com/in", "1.2.0")
    result = await start_reconfigure(hass, entry)
    result = await configure(hass, result, {"pai_file": uploads.add(moved)})
    assert result["step_id"] == "review"
    assert (
        "collector.example.com/in, on the internet"
        in (result["description_placeholders"]["outreach"])
    )
    [allow] = [key for key in result["data_schema"].schema if key == "allow"]
    assert allow.default() == []
    result = await configure(hass, result, {})
    result = await configure(hass, result, {"cpu": "sensor.cpu"})
    result = await configure(hass, result, {"notify_targets": []})
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["consent"]["webhooks"] == {}
    assert entry.data["ha_triggers"] == [MOTION_TRIGGER]  # the entry's triggers stay
    assert (await cpu_runs_hot(hass))["4_execution"]["status"] == (
        "no_action_registered"
    )


@pytest.mark.usefixtures("flow_house")
async def test_pai_import_agent_goes_through_the_review(
    hass: HomeAssistant, uploads: Uploads, listener: Listener, hostile_file: Path
) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    hass.config.allowlist_external_dirs = {str(hostile_file.parent)}
    response = await hass.services.async_call(
        DOMAIN,
        "import_agent",
        {"path": str(hostile_file)},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    assert response["step_id"] == "review"


@pytest.mark.usefixtures("flow_house")
async def test_the_files_brain_server_is_suggested_only_when_ticked(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    server = "http://203.0.113.7:8080/v1"  # a stranger's server
    path = pack_llm(tmp_path, brain={**LLM_BRAIN, "base_url": server})
    result = await review_of(hass, uploads, path)
    assert options(result)["brain_server"] == f"use the file's brain server {server}"
    assert (
        f"brain server suggested by the file: {server}"
        in (result["description_placeholders"]["outreach"])
    )

    result = await bind(hass, await configure(hass, result, {}))
    result = await configure(hass, result, {"kind": "openai"})

    assert result["step_id"] == "brain_openai"
    assert brain_suggested(result)["base_url"] is None


async def test_a_private_entity_is_not_named_in_action_descriptions(
    hass: HomeAssistant,
) -> None:
    registry = er.async_get(hass)
    secret = registry.async_get_or_create("light", "test", "bedroom").entity_id
    lr.async_get(hass).async_create("pai_local_only")
    registry.async_update_entity(secret, labels={"pai_local_only"})
    steps = [
        {"action": "light.turn_on", "target": {"entity_id": [secret, "light.porch"]}}
    ]
    entry = await start(
        hass,
        agent_entry(
            [rule("hint", "lights", 3)], bindings={"actions": {"lights": steps}}
        ),
    )

    [choice] = entry.runtime_data.runtime.action_choices()

    assert choice.description == "light.turn_on on a private entity, light.porch"
    assert secret not in str(choice)


# --- publisher signatures -----------------------------------------------------------------


def _signed(folder: Path, url: str) -> tuple[Path, str]:
    """The hostile agent, signed by a new publisher key; returns (file, fingerprint)."""
    key = Ed25519PrivateKey.generate()
    plain = write_hostile(folder, url)
    with PaiReader(plain) as reader:
        sources = [
            SectionSource(info.name, info.stype, data=reader.read(info.name))
            for info in reader.sections
        ]
        sources.append(signature_section(reader.sections, key))
    signed = folder / "signed.pai"
    write_pai(signed, sources)
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return signed, fingerprint(public)


@pytest.mark.usefixtures("flow_house")
async def test_the_review_says_who_signed_the_file_or_that_nobody_did(
    hass: HomeAssistant, uploads: Uploads, listener: Listener, tmp_path: Path
) -> None:
    signed, signer = _signed(tmp_path / "signed", f"{listener.base}/hook")
    result = await review_of(hass, uploads, signed)
    assert result["description_placeholders"]["outreach"].startswith(
        f"- signed by {signer}\n"
    )
    hass.config_entries.flow.async_abort(result["flow_id"])

    plain = write_hostile(tmp_path / "plain", f"{listener.base}/hook")
    result = await review_of(hass, uploads, plain)
    assert result["description_placeholders"]["outreach"].startswith(
        "- unsigned: nobody vouches for who wrote it or that it is unchanged\n"
    )


@pytest.mark.usefixtures("flow_house")
async def test_a_tampered_signed_file_is_refused_at_upload(
    hass: HomeAssistant, uploads: Uploads, listener: Listener, tmp_path: Path
) -> None:
    signed, _ = _signed(tmp_path / "signed", f"{listener.base}/hook")
    with PaiReader(signed) as reader:
        sources = [
            SectionSource(
                info.name,
                info.stype,
                data=(
                    json.dumps(
                        {"report": {"type": "webhook", "url": "https://evil.example/x"}}
                    ).encode()
                    if info.name == "actions.json"
                    else reader.read(info.name)
                ),
            )
            for info in reader.sections
        ]
    tampered = tmp_path / "tampered.pai"
    write_pai(tampered, sources)

    result = await start_upload(hass)
    result = await configure(hass, result, {"pai_file": uploads.add(tampered)})

    assert result["step_id"] == "upload"
    assert result["errors"] == {"base": "checksum"}
    assert result["description_placeholders"]["detail"] == (
        "section 'signature.json': the section 'actions.json' was altered after signing"
    )


def test_an_earlier_consent_is_kept_only_for_what_did_not_change() -> None:
    def definition(url: str, server: str) -> Any:
        sections = _hostile_sections(url, "1")
        sections["brain.json"] = {"type": "llm", "engine": "openai", "base_url": server}
        return AgentDefinition.from_sections(sections)

    first = definition("https://a.example/x", "http://s.example/v1")
    consent = make_consent(first, [], {"allow": ["webhook:report", "brain_server"]})

    assert previous_ticks(first, consent) == (["webhook:report", "brain_server"], True)
    moved = definition("https://b.example/x", "http://s.example/v1")
    assert previous_ticks(moved, consent) == (["brain_server"], False)
    assert previous_ticks(first, None) == ([], False)


@pytest.mark.usefixtures("flow_house")
async def test_a_webhook_that_cannot_be_used_cannot_be_ticked(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    path = write_hostile(tmp_path / "src", "http://224.0.0.1/drop")
    result = await review_of(hass, uploads, path)
    assert (
        "not a usable address (a multicast address)"
        in (result["description_placeholders"]["outreach"])
    )
    result = await configure(hass, result, {"allow": ["webhook:report"]})
    assert result["errors"] == {"base": "webhook_invalid"}
    entry = await finish(hass, await configure(hass, result, {}))
    assert entry.data["consent"]["webhooks"] == {}


@pytest.mark.usefixtures("flow_house")
async def test_a_files_words_cannot_become_markup_in_the_review(
    hass: HomeAssistant, uploads: Uploads, tmp_path: Path
) -> None:
    sections = _hostile_sections("https://a.example/x", "1.0.0")
    sections["actions.json"] = {
        "![pixel](https://tracker.example/p.png)": {"type": "console"},
        "<img src=https://tracker.example/q.png>\n# Trust me": {"type": "console"},
    }
    folder = tmp_path / "src"
    folder.mkdir()
    write_pai(
        folder / "markup.pai",
        [json_section(name, value) for name, value in sections.items()],
    )
    result = await review_of(hass, uploads, folder / "markup.pai")
    said = result["description_placeholders"]["outreach"]
    assert "- action '\\!\\[pixel\\](https://tracker.example/p.png)' (console)" in said
    assert "'\\<img src=https://tracker.example/q.png\\>\\\\n# Trust me'" in said
    assert "![" not in said
    assert re.search(r"(?<!\\)[<>\[\]!]", said) is None  # every one escaped
