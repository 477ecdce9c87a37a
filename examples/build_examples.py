"""Build the example agents in this folder with PAI's own .pai writer.

    scripts/run python examples/build_examples.py          # (re)writes examples/*.pai
    scripts/run python examples/build_examples.py --check  # exit 1 if a shipped file differs

The sections are written here as data, so a change to an example is a reviewable diff of
this file; the .pai files are rebuilt byte for byte (fixed creation time), and a test checks
that the shipped files are exactly what this script makes.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
import tempfile
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from anywhere: the engine is in the repo

from custom_components.pai.engine.agent import AgentDefinition  # noqa: E402
from custom_components.pai.engine.container import json_section, write_pai  # noqa: E402

CREATED_AT = 1_795_000_000  # fixed, so that a rebuild gives the same bytes

# --- night_watch.pai ----------------------------------------------------------------------------
# Works on the demo configuration (`scripts/develop`): the demo integration has a backyard
# motion sensor, a basement leak sensor, an entrance light and a kitchen door lock.

NIGHT_MOTION = "backyard_motion_at_night"
DOOR_OPEN_AT_NIGHT = "kitchen_door_unlocked_at_night"
LEAK = "basement_leak"

NIGHT_WATCH: dict[str, Any] = {
    "manifest.json": {
        "name": "Night watch",
        "version": "1.0.0",
        "author": "PAI examples",
        "description": (
            "Keeps an eye on the house after dark: asks before lighting the entrance when "
            "something moves in the backyard, asks before locking a door left unlocked "
            "late at night, and tells you at once about water in the basement."
        ),
        "pai_format": 1,
        "kind": "proactive-agent",
    },
    "policy.json": {
        "min_confidence": 0.5,
        "act_confidence": 0.9,
        "default_max_level": 2,
        "action_max_levels": {
            "entrance_light_on": 2,
            "lock_kitchen_door": 2,
            "leak_alert": 1,
        },
        "max_interruptions_per_hour": 6,
        "urgency_override": 0.9,
    },
    # The portable part has no trigger of its own: what to watch is Home Assistant's
    # business (ha_bindings.json below), so the same rules can watch other entities.
    "triggers.json": [],
    "rules.json": [
        {
            "name": "movement in the backyard after dark",
            "when": {"kind": "ha.template", "source": NIGHT_MOTION},
            "intent": {
                "action": "entrance_light_on",
                "params": {},
                "confidence": 0.9,
                "urgency": 0.7,
                "rationale": "Something moves in the backyard after dark: light the entrance?",
                # It would act; the policy holds it at ASK until the user lets it act
                # (autonomy earned with consent, README).
                "level": 3,
            },
        },
        {
            "name": "a door left unlocked at night",
            "when": {"kind": "ha.template", "source": DOOR_OPEN_AT_NIGHT},
            "intent": {
                "action": "lock_kitchen_door",
                "params": {},
                "confidence": 0.85,
                "urgency": 0.6,
                "rationale": "The kitchen door is still unlocked late at night: lock it?",
                "level": 2,
            },
        },
        {
            "name": "water in the basement",
            "when": {
                "kind": "ha.state",
                "source": LEAK,
                "payload": [{"field": "to_state", "op": "==", "value": "on"}],
            },
            "intent": {
                "action": "leak_alert",
                "params": {},
                "confidence": 0.95,
                "urgency": 0.95,
                "rationale": "The basement floor is wet: check for a leak now.",
                "level": 1,
            },
        },
    ],
    "actions.json": {
        "entrance_light_on": {"type": "callback", "handler": "entrance_light_on"},
        "lock_kitchen_door": {"type": "callback", "handler": "lock_kitchen_door"},
        "leak_alert": {"type": "console"},
    },
    # What ties the agent to a Home Assistant (here: the demo's entities). Importing the
    # file pre-fills the binding steps with it; change anything there before saving.
    "ha_bindings.json": {
        "bindings": {
            "metrics": {},
            "actions": {
                "entrance_light_on": [
                    {
                        "action": "light.turn_on",
                        "target": {"entity_id": "light.entrance_color_white_lights"},
                    }
                ],
                "lock_kitchen_door": [
                    {
                        "action": "lock.lock",
                        "target": {"entity_id": "lock.kitchen_door"},
                    }
                ],
            },
        },
        "ha_triggers": [
            {
                "trigger": "template",
                "value_template": (
                    "{{ is_state('binary_sensor.movement_backyard', 'on')"
                    " and is_state('sun.sun', 'below_horizon') }}"
                ),
                "id": NIGHT_MOTION,
            },
            {
                "trigger": "template",
                "value_template": (
                    "{{ is_state('lock.kitchen_door', 'unlocked')"
                    " and (now().hour >= 23 or now().hour < 5) }}"
                ),
                "id": DOOR_OPEN_AT_NIGHT,
            },
            {
                "trigger": "state",
                "entity_id": "binary_sensor.basement_floor_wet",
                "to": "on",
                "id": LEAK,
            },
        ],
        "options": {"notify_targets": ["persistent_notification"]},
    },
}

EXAMPLES: dict[str, dict[str, Any]] = {"night_watch.pai": NIGHT_WATCH}


def build(name: str, folder: Path) -> Path:
    """Write one example into `folder` and return its path; refuse an invalid agent."""
    sections = EXAMPLES[name]
    definition = AgentDefinition.from_sections(sections)
    if definition.problems:
        raise SystemExit(f"{name}: {'; '.join(definition.problems)}")
    path = folder / name
    write_pai(
        path,
        [json_section(section, value) for section, value in sections.items()],
        created_at=CREATED_AT,
    )
    return path


def main(argv: list[str] | None = None) -> int:
    """Rebuild the examples, or with --check say whether the shipped ones are current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    stale = []
    with tempfile.TemporaryDirectory() as temp:
        for name in EXAMPLES:
            built = build(name, Path(temp))
            shipped = HERE / name
            if args.check:
                if not shipped.is_file() or shipped.read_bytes() != built.read_bytes():
                    stale.append(name)
                continue
            shipped.write_bytes(built.read_bytes())
            print(f"wrote {shipped.relative_to(HERE.parent)}")  # noqa: T201
    for name in stale:
        print(f"{name} differs from what build_examples.py makes", file=sys.stderr)  # noqa: T201
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
