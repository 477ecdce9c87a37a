"""What hassfest and HACS would check on a published custom integration."""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

from awesomeversion import AwesomeVersion, AwesomeVersionStrategy
from homeassistant.const import __version__ as ha_version
from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration
import pytest
import yaml

REPO = Path(__file__).parent.parent
INTEGRATION = REPO / "custom_components" / "pai"

MANIFEST_KEYS = {
    "domain", "name", "after_dependencies", "bluetooth", "codeowners", "config_flow",
    "dependencies", "dhcp", "documentation", "homekit", "import_executor",
    "integration_type", "iot_class", "issue_tracker", "loggers", "mqtt", "requirements",
    "single_config_entry", "ssdp", "usb", "version", "zeroconf",
}  # fmt: skip
REQUIRED_MANIFEST_KEYS = {
    "domain", "name", "codeowners", "config_flow", "dependencies", "documentation",
    "integration_type", "iot_class", "issue_tracker", "requirements", "version",
}  # fmt: skip
IOT_CLASSES = {
    "assumed_state", "cloud_polling", "cloud_push", "local_polling", "local_push",
    "calculated",
}  # fmt: skip
HACS_KEYS = {
    "name", "content_in_root", "zip_release", "filename", "hide_default_branch",
    "country", "homeassistant", "hacs", "persistent_directory", "render_readme",
}  # fmt: skip
QUALITY_RULES = {
    # Bronze
    "action-setup", "appropriate-polling", "brands", "common-modules", "config-flow",
    "config-flow-test-coverage", "dependency-transparency", "docs-actions",
    "docs-high-level-description", "docs-installation-instructions",
    "docs-removal-instructions", "entity-event-setup", "entity-unique-id",
    "has-entity-name", "runtime-data", "test-before-configure", "test-before-setup",
    "unique-config-entry",
    # Silver
    "action-exceptions", "config-entry-unloading", "docs-configuration-parameters",
    "docs-installation-parameters", "entity-unavailable", "integration-owner",
    "log-when-unavailable", "parallel-updates", "reauthentication-flow", "test-coverage",
    # Gold
    "devices", "diagnostics", "discovery", "discovery-update-info", "docs-data-update",
    "docs-examples", "docs-known-limitations", "docs-supported-devices",
    "docs-supported-functions", "docs-troubleshooting", "docs-use-cases",
    "dynamic-devices", "entity-category", "entity-device-class",
    "entity-disabled-by-default", "entity-translations", "exception-translations",
    "icon-translations", "reconfiguration-flow", "repair-issues", "stale-devices",
    # Platinum
    "async-dependency", "inject-websession", "strict-typing",
}  # fmt: skip


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(name="manifest")
def manifest_fixture() -> dict[str, Any]:
    manifest: dict[str, Any] = _json(INTEGRATION / "manifest.json")
    return manifest


@pytest.fixture(name="strings")
def strings_fixture() -> dict[str, Any]:
    strings: dict[str, Any] = _json(INTEGRATION / "translations" / "en.json")
    return strings


def test_manifest_keys_sorted_known_and_complete(manifest: dict[str, Any]) -> None:
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"], "hassfest wants domain, name first"
    assert keys[2:] == sorted(keys[2:]), "then the other keys in alphabetical order"
    assert set(keys) <= MANIFEST_KEYS, f"unknown keys: {set(keys) - MANIFEST_KEYS}"
    assert set(keys) >= REQUIRED_MANIFEST_KEYS, REQUIRED_MANIFEST_KEYS - set(keys)


def test_manifest_values(manifest: dict[str, Any]) -> None:
    assert manifest["domain"] == "pai"
    assert manifest["integration_type"] == "service"
    assert manifest["iot_class"] in IOT_CLASSES
    assert manifest["config_flow"] is True
    for url_key in ("documentation", "issue_tracker"):
        assert manifest[url_key].startswith("https://"), url_key
        assert "home-assistant.io" not in manifest[url_key]
    assert all(owner.startswith("@") for owner in manifest["codeowners"])
    version = AwesomeVersion(manifest["version"])
    assert version.strategy in {
        AwesomeVersionStrategy.CALVER,
        AwesomeVersionStrategy.SEMVER,
        AwesomeVersionStrategy.SIMPLEVER,
        AwesomeVersionStrategy.PEP440,
    }, f"hassfest cannot parse version {manifest['version']!r}"


def test_manifest_dependencies_cover_imports(manifest: dict[str, Any]) -> None:
    """Every `homeassistant.components.X` imported (X not an entity platform) is a dependency."""
    platforms = {
        "binary_sensor", "button", "diagnostics", "logbook", "number", "repairs",
        "select", "sensor", "switch", "text", "event", "notify",
    }  # fmt: skip
    imported: set[str] = set()
    for source in INTEGRATION.rglob("*.py"):
        imported |= set(
            re.findall(
                r"homeassistant\.components\.(\w+)", source.read_text(encoding="utf-8")
            )
        )
    declared = set(manifest["dependencies"]) | set(
        manifest.get("after_dependencies", [])
    )
    assert imported - platforms <= declared, imported - platforms - declared


def test_hacs_json() -> None:
    hacs = _json(REPO / "hacs.json")
    assert set(hacs) <= HACS_KEYS, f"unknown hacs.json keys: {set(hacs) - HACS_KEYS}"
    assert hacs["name"]
    minimum = AwesomeVersion(hacs["homeassistant"])
    assert minimum <= AwesomeVersion(ha_version), (
        "hacs.json promises an older Home Assistant than the tests run against"
    )
    for needed in ("README.md", "LICENSE"):
        assert (REPO / needed).is_file(), f"HACS needs {needed}"


def test_services_have_strings(strings: dict[str, Any]) -> None:
    services_file = INTEGRATION / "services.yaml"
    services = (
        yaml.safe_load(services_file.read_text(encoding="utf-8")) or {}
        if services_file.exists()
        else {}
    )
    translated = strings.get("services", {})
    assert set(services) == set(translated), "services.yaml and en.json disagree"
    for service, spec in services.items():
        assert translated[service].get("name"), f"{service}: no name"
        assert translated[service].get("description"), f"{service}: no description"
        for field in (spec or {}).get("fields", {}):
            field_strings = translated[service].get("fields", {}).get(field, {})
            assert field_strings.get("name"), f"{service}.{field}: no name"
            assert field_strings.get("description"), (
                f"{service}.{field}: no description"
            )


def _flow_sources() -> str:
    return "".join(
        (INTEGRATION / name).read_text(encoding="utf-8")
        for name in ("config_flow.py",)
        if (INTEGRATION / name).exists()
    )


def test_config_flow_strings_complete(strings: dict[str, Any]) -> None:
    """Every step has a title and a description for each field; every error and abort used exists."""
    config = strings["config"]
    for step_id, step in config["step"].items():
        assert step.get("title") or step.get("description"), step_id
        for field in step.get("data", {}):
            assert step.get("data_description", {}).get(field), (
                f"config step {step_id}: field {field} has no data_description"
            )
    source = _flow_sources()
    used_errors = set(re.findall(r'errors\[[^\]]+\]\s*=\s*"(\w+)"', source))
    used_aborts = set(re.findall(r'async_abort\(\s*reason="(\w+)"', source))
    if "_abort_if_unique_id_configured" in source:
        used_aborts.add("already_configured")
    assert used_errors <= set(config.get("error", {})), used_errors
    assert used_aborts <= set(config.get("abort", {})), used_aborts


def test_translation_strings_are_plain_text(strings: dict[str, Any]) -> None:
    """Custom integrations get no [%key:...%] references resolved."""

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        else:
            assert isinstance(node, str), path
            assert node.strip(), path
            assert "[%key:" not in node, f"{path} uses a reference"

    walk(strings, "en")


def test_quality_scale_lists_every_rule() -> None:
    scale = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text("utf-8"))
    rules: dict[str, Any] = scale["rules"]
    assert set(rules) == QUALITY_RULES, set(rules) ^ QUALITY_RULES
    for rule, status in rules.items():
        if isinstance(status, dict):
            assert status["status"] == "exempt", rule
            assert status["comment"], rule
        else:
            assert status in {"done", "todo"}, rule


async def test_home_assistant_loads_the_manifest(hass: HomeAssistant) -> None:
    integration = await async_get_integration(hass, "pai")
    assert integration.domain == "pai"
    assert integration.version == AwesomeVersion(
        _json(INTEGRATION / "manifest.json")["version"]
    )
    assert integration.config_flow is True
    assert integration.integration_type == "service"
