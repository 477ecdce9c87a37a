"""What hassfest, HACS and the Marketplace enforce on a custom integration, checked on PAI.

hassfest (home-assistant/core `script/hassfest`) is not in the homeassistant wheel, so the
rules it applies to custom integrations are restated here from its source, each next to the
file it comes from: `manifest.py` (CUSTOM_INTEGRATION_MANIFEST_SCHEMA, sorted keys, domain,
IoT class, version), `requirements.py` (validate_requirements_format: the only requirement
check for custom integrations; core integrations must pin with `==`) and `quality_scale.py`
(ALL_RULES and SCHEMA; hassfest grades only core integrations, PAI holds itself to it).
Where Home Assistant's own code is in the wheel it is used instead of a copy: the manifest keys
Home Assistant reads (`homeassistant.loader.Manifest`), the services.yaml schema
(`homeassistant.helpers.service`), the anthropic SDK its own integration pins, and from 2026.11
the Marketplace's validators of hacs.json and manifest.json
(`homeassistant.components.marketplace.utils.validate`, the successor of HACS's).
"""

from __future__ import annotations

import importlib
from pathlib import Path
import re
from typing import Any
from urllib.parse import urlparse

from awesomeversion import AwesomeVersion, AwesomeVersionStrategy
from homeassistant.const import __version__ as ha_version
from homeassistant.core import HomeAssistant
from homeassistant.helpers import service as ha_service
from homeassistant.loader import Manifest, async_get_integration
from packaging.requirements import Requirement
import probatio as vol
import pytest
import yaml

from tests.repo import INTEGRATION, REPO, _json

HA_COMPONENTS = Path(importlib.import_module("homeassistant.components").__path__[0])

# --- script/hassfest/manifest.py ------------------------------------------------------------

SUPPORTED_IOT_CLASSES = [
    "assumed_state", "calculated", "cloud_polling", "cloud_push", "local_polling",
    "local_push",
]  # fmt: skip
INTEGRATION_TYPES = [
    "device",
    "entity",
    "hardware",
    "helper",
    "hub",
    "service",
    "system",
]
VERSION_STRATEGIES = [
    AwesomeVersionStrategy.CALVER,
    AwesomeVersionStrategy.SEMVER,
    AwesomeVersionStrategy.SIMPLEVER,
    AwesomeVersionStrategy.BUILDVER,
    AwesomeVersionStrategy.PEP440,
]


def custom_documentation_url(value: str) -> str:
    if urlparse(value).scheme != "https":
        raise vol.Invalid("Documentation url is not prefixed with https")
    if value.startswith("https://www.home-assistant.io/integrations"):
        raise vol.Invalid("Documentation URL should point to the custom integration")
    return value


def verify_version(value: str) -> str:
    if not AwesomeVersion(value).strategy in VERSION_STRATEGIES:  # noqa: E713
        raise vol.Invalid(f"'{value}' is not a valid version.")
    return value


# CUSTOM_INTEGRATION_MANIFEST_SCHEMA: the discovery keys' inner schemas are left out (PAI
# has none); an unknown key is an error (no ALLOW_EXTRA).
CUSTOM_INTEGRATION_MANIFEST_SCHEMA = vol.Schema(
    {
        vol.Required("domain"): str,
        vol.Required("name"): str,
        vol.Optional("integration_type", default="hub"): vol.In(INTEGRATION_TYPES),
        vol.Optional("config_flow"): bool,
        vol.Optional("mqtt"): [str],
        vol.Optional("zeroconf"): list,
        vol.Optional("ssdp"): list,
        vol.Optional("bluetooth"): list,
        vol.Optional("homekit"): dict,
        vol.Optional("dhcp"): list,
        vol.Optional("usb"): list,
        vol.Required("documentation"): vol.All(vol.Url(), custom_documentation_url),
        vol.Optional("quality_scale"): str,
        vol.Optional("requirements"): [str],
        vol.Optional("dependencies"): [str],
        vol.Optional("after_dependencies"): [str],
        vol.Required("codeowners"): [str],
        vol.Optional("loggers"): [str],
        vol.Optional("disabled"): str,
        vol.Optional("iot_class"): vol.In(SUPPORTED_IOT_CLASSES),
        vol.Optional("single_config_entry"): bool,
        vol.Optional("preview_features"): dict,
        vol.Optional("version"): vol.All(str, verify_version),
        vol.Optional("issue_tracker"): vol.Url(),
        vol.Optional("import_executor"): bool,
    }
)

# --- script/hassfest/requirements.py (validate_requirements_format) --------------------------

PACKAGE_REGEX = re.compile(
    r"^(?:--.+\s)?([-_,\.\w\d\[\]]+)(==|>=|<=|~=|!=|<|>|===)*(.*)$"
)

# --- script/hassfest/quality_scale.py (ALL_RULES, SCHEMA) ------------------------------------

QUALITY_RULES = {
    "bronze": [
        "action-setup", "appropriate-polling", "brands", "common-modules", "config-flow",
        "config-flow-test-coverage", "dependency-transparency", "docs-actions",
        "docs-conditions", "docs-high-level-description",
        "docs-installation-instructions", "docs-removal-instructions", "docs-triggers",
        "entity-event-setup", "entity-unique-id", "has-entity-name", "runtime-data",
        "test-before-configure", "test-before-setup", "unique-config-entry",
    ],
    "silver": [
        "action-exceptions", "config-entry-unloading", "docs-configuration-parameters",
        "docs-installation-parameters", "entity-unavailable", "integration-owner",
        "log-when-unavailable", "parallel-updates", "reauthentication-flow",
        "test-coverage",
    ],
    "gold": [
        "devices", "diagnostics", "discovery", "discovery-update-info",
        "docs-data-update", "docs-examples", "docs-known-limitations",
        "docs-supported-devices", "docs-supported-functions", "docs-troubleshooting",
        "docs-use-cases", "dynamic-devices", "entity-category", "entity-device-class",
        "entity-disabled-by-default", "entity-translations", "exception-translations",
        "icon-translations", "reconfiguration-flow", "repair-issues", "stale-devices",
    ],
    "platinum": ["async-dependency", "inject-websession", "strict-typing"],
}  # fmt: skip
ALL_RULES = [rule for rules in QUALITY_RULES.values() for rule in rules]
QUALITY_SCALE_SCHEMA = vol.Schema(
    {
        vol.Required("rules"): vol.Schema(
            {
                vol.Optional(rule): vol.Any(
                    vol.In(["todo", "done"]),
                    vol.Schema(
                        {
                            vol.Required("status"): vol.In(["todo", "done"]),
                            vol.Required("comment"): str,
                        }
                    ),
                    vol.Schema(
                        {vol.Required("status"): "exempt", vol.Required("comment"): str}
                    ),
                )
                for rule in ALL_RULES
            }
        )
    }
)

# --- HACS (hacs/integration custom_components/hacs/utils/validate.py) ------------------------

HACS_JSON_SCHEMA = vol.Schema(
    {
        vol.Required("name"): str,
        vol.Optional("content_in_root"): bool,
        vol.Optional("zip_release"): bool,
        vol.Optional("filename"): str,
        vol.Optional("hide_default_branch"): bool,
        vol.Optional("country"): vol.Any([str], str),
        vol.Optional("homeassistant"): str,
        vol.Optional("hacs"): str,
        vol.Optional("persistent_directory"): str,
        vol.Optional("render_readme"): bool,
    }
)

SUPPORTED_ANTHROPIC_PINS = {"2026.10": "0.125.0", "2026.11": "2.3.0"}
"""What the core anthropic integration of each supported release pins."""


@pytest.fixture(name="manifest")
def manifest_fixture() -> dict[str, Any]:
    manifest: dict[str, Any] = _json(INTEGRATION / "manifest.json")
    return manifest


@pytest.fixture(name="strings")
def strings_fixture() -> dict[str, Any]:
    strings: dict[str, Any] = _json(INTEGRATION / "translations" / "en.json")
    return strings


def test_manifest_passes_hassfests_custom_integration_checks(
    manifest: dict[str, Any],
) -> None:
    CUSTOM_INTEGRATION_MANIFEST_SCHEMA(manifest)
    assert manifest["domain"] == INTEGRATION.name, "Domain does not match dir name"
    assert not (HA_COMPONENTS / manifest["domain"]).exists(), "collides with core"
    assert "iot_class" in manifest, "Domain is missing an IoT Class"
    assert manifest.get("version"), "No 'version' key in the manifest file."
    keys = list(manifest)
    assert keys == ["domain", "name", *sorted(keys[2:])], (
        "Manifest keys are not sorted correctly: domain, name, then alphabetical order"
    )
    # Every key is one Home Assistant itself reads.
    assert set(keys) <= set(Manifest.__annotations__), set(keys) - set(
        Manifest.__annotations__
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"documentation": "https://www.home-assistant.io/integrations/pai"}, "custom"),
        ({"version": "banana"}, "not a valid version"),
        ({"iot_class": "psychic"}, "iot_class"),
        ({"homepage": "https://example.com"}, "homepage"),
    ],
)
def test_the_restated_schema_refuses_what_hassfest_refuses(
    manifest: dict[str, Any], change: dict[str, str], problem: str
) -> None:
    with pytest.raises(vol.Invalid, match=problem):
        CUSTOM_INTEGRATION_MANIFEST_SCHEMA({**manifest, **change})


def test_requirements_format_and_coexistence_with_core(
    manifest: dict[str, Any],
) -> None:
    """hassfest's format rules, and a range that takes what core's integration pins."""
    core = _json(HA_COMPONENTS / "anthropic" / "manifest.json")
    core_pin = Requirement(next(r for r in core["requirements"] if "anthropic" in r))
    for requirement in manifest["requirements"]:
        assert " " not in requirement, f'Requirement "{requirement}" contains a space'
        assert PACKAGE_REGEX.match(requirement), requirement
        parsed = Requirement(requirement)
        if parsed.name != "anthropic":
            continue
        # Never an exact pin: it would fight core's at every restart.
        assert not any(spec.operator == "==" for spec in parsed.specifier)
        for version in [*SUPPORTED_ANTHROPIC_PINS.values(), *core_pin.specifier]:
            wanted = version if isinstance(version, str) else version.version
            assert parsed.specifier.contains(wanted), (requirement, wanted)


def test_quality_scale_follows_hassfests_schema_and_lists_every_rule() -> None:
    scale = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text("utf-8"))
    QUALITY_SCALE_SCHEMA(scale)
    assert set(scale["rules"]) == set(ALL_RULES), set(scale["rules"]) ^ set(ALL_RULES)


def test_quality_scale_claims_no_done_bronze_rule_it_marks_todo() -> None:
    """The tiers PAI claims: every Bronze rule met (done or exempt) except those marked todo."""
    rules = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text("utf-8"))[
        "rules"
    ]
    todo = {
        rule
        for rule, value in rules.items()
        if (value["status"] if isinstance(value, dict) else value) == "todo"
    }
    assert todo <= {"config-flow-test-coverage", "entity-disabled-by-default"}, todo


def test_services_yaml_passes_home_assistants_own_schema() -> None:
    services = yaml.safe_load((INTEGRATION / "services.yaml").read_text("utf-8"))
    ha_service._SERVICES_SCHEMA(services)


def test_hacs_json(manifest: dict[str, Any]) -> None:
    hacs = _json(REPO / "hacs.json")
    HACS_JSON_SCHEMA(hacs)
    minimum = AwesomeVersion(hacs["homeassistant"])
    assert minimum <= AwesomeVersion(ha_version), (
        "hacs.json promises an older Home Assistant than the tests run against"
    )
    for needed in ("README.md", "LICENSE", "CHANGELOG.md"):
        assert (REPO / needed).is_file(), f"a release needs {needed}"
    assert f"## {manifest['version']} " in (REPO / "CHANGELOG.md").read_text(), (
        "the manifest's version has no CHANGELOG entry"
    )


def test_the_marketplace_reads_hacs_json_and_the_manifest(
    manifest: dict[str, Any],
) -> None:
    """From 2026.11: the values the Marketplace reads all pass its own validators."""
    validate = pytest.importorskip(
        "homeassistant.components.marketplace.utils.validate"
    )
    hacs = _json(REPO / "hacs.json")
    for key, schema in validate.REPOSITORY_MANIFEST_VALUES.items():
        if key in hacs:
            schema(hacs[key])
    for key, schema in validate.INTEGRATION_MANIFEST_VALUES.items():
        schema(manifest[key])
    assert validate.VALID_DOMAIN.match(manifest["domain"])


def test_manifest_dependencies_cover_imports(manifest: dict[str, Any]) -> None:
    """Every `homeassistant.components.X` imported (X not an entity platform) is a dependency."""
    platforms = {
        "binary_sensor", "button", "diagnostics", "logbook", "number", "repairs",
        "select", "sensor", "switch", "text", "event", "notify", "todo",
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
    core = {"homeassistant"}  # always set up (hassfest allows it without declaring)
    assert imported - platforms - core <= declared, imported - platforms - declared


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


async def test_home_assistant_loads_the_manifest(hass: HomeAssistant) -> None:
    integration = await async_get_integration(hass, "pai")
    assert integration.domain == "pai"
    assert integration.version == AwesomeVersion(
        _json(INTEGRATION / "manifest.json")["version"]
    )
    assert integration.config_flow is True
    assert integration.integration_type == "service"
