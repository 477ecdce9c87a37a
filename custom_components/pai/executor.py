"""Running an intent's bound Home Assistant actions, and undoing them.

An agent's action names are bound to ordinary Home Assistant action sequences (what a script
runs). The executor validates and runs one through `Script`, with the intent's params, the
event and the record id as variables, after taking a snapshot of the states the sequence
refers to, so that the user can undo what PAI did (`async_reproduce_state`). A run that
fails becomes a `failed` result with a short human message: an agent's mistake must never
surface as a traceback in the event loop. An action the agent file declares as a webhook is
POSTed as JSON instead, with Home Assistant's shared HTTP session; it has nothing to undo.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import logging
from typing import Any, cast

import aiohttp
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import Context, HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.script import Script, async_validate_actions_config
from homeassistant.helpers.state import async_reproduce_state
from homeassistant.util.json import json_loads
import probatio as vol

from .engine.bounds import short
from .engine.records import ExecutionStatus
from .engine.rules import action_params

_LOGGER = logging.getLogger(__name__)

RESULT_MAX_CHARS = 200
"""A result is a line for the record and the logbook, not a report."""

MAX_PARALLEL_RUNS = 100
"""Runs of one binding at a time (approvals answered together, long delays)."""

WEBHOOK_TIMEOUT = aiohttp.ClientTimeout(total=10)
WEBHOOK_SCHEMES = ("http://", "https://")

_NOT_RESTORABLE = frozenset({STATE_UNAVAILABLE, STATE_UNKNOWN})


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """What running (or undoing) an action did.

    `snapshot` holds, as JSON-ready `State.as_dict()` dicts, the states before the run of
    the entities the sequence refers to (those that existed with a known state).
    """

    status: ExecutionStatus
    result: str
    snapshot: list[dict[str, Any]] = field(default_factory=list)


class ActionExecutor:
    """Runs bound action sequences on behalf of one integration, and undoes them."""

    def __init__(self, hass: HomeAssistant, domain_name: str) -> None:
        """Run scripts in `hass`, owned by `domain_name` (their traces and logs say so)."""
        self._hass = hass
        self._domain = domain_name
        self._scripts: dict[int, tuple[list[dict[str, Any]], Script, str]] = {}

    async def async_execute(
        self,
        sequence: list[dict[str, Any]] | None,
        *,
        params: Mapping[str, Any],
        event: Mapping[str, Any],
        record_id: str,
        context: Context,
    ) -> ExecutionResult:
        """Run `sequence` once; never raises (a failure is a `failed` result)."""
        if sequence is None:
            return ExecutionResult(
                ExecutionStatus.NO_ACTION_REGISTERED, "no action is bound"
            )
        cached = self._scripts.get(id(sequence))
        if cached is not None and cached[0] is sequence:
            _, script, described = cached
        else:
            try:
                actions = await async_validate_actions_config(
                    self._hass, cv.SCRIPT_SCHEMA(sequence)
                )
            except (vol.Invalid, HomeAssistantError) as err:
                return self._failed(record_id, f"invalid action: {_message(err)}")
            except Exception as err:
                _LOGGER.exception("Validating the actions of %s failed", record_id)
                return ExecutionResult(ExecutionStatus.FAILED, _short(_message(err)))
            # A binding is validated and made a script once (it does not change while
            # the agent runs); its runs are told apart by their `record_id` variable.
            script = Script(
                self._hass,
                actions,
                f"{self._domain} action",
                self._domain,
                script_mode="parallel",
                max_runs=MAX_PARALLEL_RUNS,
                log_exceptions=False,
                logger=_LOGGER,
                running_description=f"{self._domain} action",
            )
            described = _short(f"ran {_describe(actions)}")
            self._scripts[id(sequence)] = (sequence, script, described)
        snapshot = self._snapshot(script.referenced_entities)
        variables = {
            "params": action_params(params),
            "event": dict(event),
            "record_id": record_id,
        }
        try:
            run = await script.async_run(variables, context)
        except (vol.Invalid, HomeAssistantError) as err:
            return self._failed(record_id, _message(err), snapshot)
        except Exception as err:
            _LOGGER.exception("The actions of %s failed", record_id)
            return ExecutionResult(
                ExecutionStatus.FAILED, _short(_message(err)), snapshot
            )
        if run is None:
            return self._failed(record_id, "Home Assistant did not run it", snapshot)
        return ExecutionResult(ExecutionStatus.EXECUTED, described, snapshot)

    async def async_unload(self) -> None:
        """Unload the scripts made for the bindings (the agent stops)."""
        scripts, self._scripts = self._scripts, {}
        for _, script, _ in scripts.values():
            await script.async_unload()

    async def async_post_webhook(
        self, url: str, payload: Mapping[str, Any], record_id: str
    ) -> ExecutionResult:
        """POST `payload` as JSON to an http(s) `url` once; never raises."""
        if not url.lower().startswith(WEBHOOK_SCHEMES):
            return self._failed(record_id, f"webhook URL must be http or https: {url}")
        session = async_get_clientsession(self._hass)
        try:
            async with session.post(
                url, json=dict(payload), timeout=WEBHOOK_TIMEOUT, allow_redirects=False
            ) as response:
                status = response.status
        except TimeoutError:
            return self._failed(record_id, f"webhook {url} did not answer in time")
        except (aiohttp.ClientError, ValueError) as err:
            return self._failed(record_id, f"webhook {url}: {_message(err)}")
        if 300 <= status < 400:  # the user consented to this URL, not to another
            return self._failed(
                record_id, f"webhook {url} redirected (HTTP {status}); not followed"
            )
        if status >= 400:
            return self._failed(record_id, f"webhook {url} answered HTTP {status}")
        return ExecutionResult(
            ExecutionStatus.EXECUTED, _short(f"posted to {url} (HTTP {status})")
        )

    async def async_undo(
        self, snapshot: list[dict[str, Any]], context: Context
    ) -> ExecutionResult:
        """Put the snapshotted entities back as they were; never raises.

        Returns `executed` when every readable state was handed to its integration to
        reproduce, `failed` (with the reason) otherwise.
        """
        states: list[State] = []
        for data in snapshot if isinstance(snapshot, list) else []:
            try:
                state = State.from_dict(dict(data))
            except (HomeAssistantError, AttributeError, TypeError, ValueError) as err:
                _LOGGER.warning("Undo skips an unreadable state %r: %s", data, err)
                continue
            if state is None:
                _LOGGER.warning("Undo skips an unreadable state %r", data)
                continue
            states.append(state)
        if not states:
            return ExecutionResult(ExecutionStatus.FAILED, "nothing to restore")
        try:
            await async_reproduce_state(self._hass, states, context=context)
        except (vol.Invalid, HomeAssistantError) as err:
            _LOGGER.warning("Undo failed: %s", _message(err))
            return ExecutionResult(ExecutionStatus.FAILED, _short(_message(err)))
        except Exception as err:
            _LOGGER.exception("Undo failed")
            return ExecutionResult(ExecutionStatus.FAILED, _short(_message(err)))
        restored = ", ".join(state.entity_id for state in states)
        return ExecutionResult(ExecutionStatus.EXECUTED, _short(f"restored {restored}"))

    def _snapshot(self, entity_ids: set[str]) -> list[dict[str, Any]]:
        snapshot: list[dict[str, Any]] = []
        for entity_id in sorted(entity_ids):
            state = self._hass.states.get(entity_id)
            if state is None or state.state in _NOT_RESTORABLE:
                continue
            # Plain JSON (a dict, as State.as_dict), fit for the Store.
            snapshot.append(cast(dict[str, Any], json_loads(state.as_dict_json)))
        return snapshot

    @staticmethod
    def _failed(
        record_id: str, reason: str, snapshot: list[dict[str, Any]] | None = None
    ) -> ExecutionResult:
        _LOGGER.warning("The actions of %s failed: %s", record_id, reason)
        return ExecutionResult(ExecutionStatus.FAILED, _short(reason), snapshot or [])


def _message(err: BaseException) -> str:
    return str(err) or type(err).__name__


def _short(text: str) -> str:
    return short(text, RESULT_MAX_CHARS)


def _describe(actions: list[dict[str, Any]]) -> str:
    """Name the steps: the actions called, else the kind of each step."""
    names = [
        str(step.get("action") or cv.determine_script_action(step)) for step in actions
    ]
    return ", ".join(names)
