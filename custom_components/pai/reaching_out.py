"""How an agent's parts that reach the user are put together.

The phones and other targets, escalation, pending requests, step delivery, answers and
snoozes.

The runtime composes its agent from these and the deciding parts; kept here so that
`runtime.py` reads as the decision loop's shell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .answers import Answers
from .const import DOMAIN
from .delivery import DeliveryParts, StepDelivery
from .escalation import Escalator
from .executor import ActionExecutor
from .notifications import Notifier, PhoneStyle
from .pending import PendingRequests
from .snooze import Snoozes

if TYPE_CHECKING:
    from .runtime import AgentRuntime


@dataclass(frozen=True, slots=True)
class ReachingOut:
    """The parts of one agent that notify, ask, run and take answers."""

    notifier: Notifier
    escalator: Escalator
    executor: ActionExecutor
    pending: PendingRequests
    delivery: StepDelivery
    answers: Answers
    snoozes: Snoozes


def reaching_out(runtime: AgentRuntime) -> ReachingOut:
    """Put together the parts of `runtime` that reach the user (from its settings)."""
    hass, name, settings = runtime.hass, runtime.name, runtime.settings
    style = PhoneStyle.of_agent(
        runtime.entry_id,
        urgency_override=settings.policy.urgency_override,
        critical=settings.critical_notifications,
    )
    notifier = Notifier(hass, list(settings.notify_targets), style)
    keeper = runtime.keeper
    escalator = Escalator(
        hass,
        name,
        settings,
        style,
        book=lambda: keeper.memory.approvals,
        save=keeper.async_save,
        sensitive=lambda action: action in runtime.survival.sensitive_actions,
    )
    executor = ActionExecutor(hass, DOMAIN)
    pending = PendingRequests(
        name,
        keeper,
        runtime.book,
        notifier,
        escalator,
        noted=runtime.autonomy.async_noted,
    )
    parts = DeliveryParts(
        book=runtime.book,
        pending=pending,
        notifier=notifier,
        executor=executor,
        own=runtime.own,
        privacy=runtime.privacy,
        autonomy=runtime.autonomy,
    )
    delivery = StepDelivery(
        hass,
        name,
        runtime.entry_id,
        settings=settings,
        bindings=runtime.action_bindings,
        webhooks=runtime.webhooks,
        parts=parts,
    )
    return ReachingOut(
        notifier=notifier,
        escalator=escalator,
        executor=executor,
        pending=pending,
        delivery=delivery,
        answers=Answers(name, settings, keeper, delivery, parts),
        snoozes=Snoozes(name, settings, keeper, delivery, parts),
    )
