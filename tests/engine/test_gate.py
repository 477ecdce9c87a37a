"""The governance gate: what a user sees granted, and the reasons they are told."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.pai.engine.gate import (
    POLICY_LAYER,
    SURVIVAL_LAYER,
    count_recent_interruptions,
    decide,
)
from custom_components.pai.engine.models import (
    SECURITY_SENSITIVE_ACTIONS,
    AutonomyLevel,
    GateInputs,
    Intent,
    InvalidModelError,
    Policy,
    QuietHours,
    ReasonCode,
    SurvivalPolicy,
)

OBSERVE, SUGGEST, ASK, ACT = AutonomyLevel
NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)
NIGHT = QuietHours(time(22), time(7))
ACT_ALLOWED = Policy(default_max_level=ACT)


def intent(
    action: str = "notify.phone",
    *,
    confidence: float = 0.9,
    urgency: float = 0.8,
    level: AutonomyLevel = SUGGEST,
) -> Intent:
    return Intent(action, confidence=confidence, urgency=urgency, requested_level=level)


def inputs(**overrides: Any) -> GateInputs:
    return GateInputs(**{"now": NOW} | overrides)


def unchecked[T](kind: Callable[..., T], **fields: Any) -> T:
    """Build a model the way untyped JSON or a careless host would, past the type checker."""
    return kind(**fields)


def codes(decision: Any) -> list[ReasonCode]:
    return [reason.code for reason in decision.reasons]


# Paigent's six steps, as a user meets them.


def test_a_confident_useful_suggestion_goes_through_and_interrupts() -> None:
    decision = decide(intent(), Policy(), inputs())

    assert decision.requested is SUGGEST
    assert decision.granted is SUGGEST
    assert decision.reasons == ()
    assert decision.interrupts
    assert decision.interruption_cost == 0.3


def test_observe_requested_is_observe_granted_without_reasons() -> None:
    decision = decide(intent(level=OBSERVE), Policy(), inputs())

    assert decision.granted is OBSERVE
    assert decision.reasons == ()
    assert not decision.interrupts


def test_low_confidence_is_only_recorded_and_says_why() -> None:
    decision = decide(intent(confidence=0.39, level=ACT), ACT_ALLOWED, inputs())

    assert decision.granted is OBSERVE
    (reason,) = decision.reasons
    assert reason.code is ReasonCode.LOW_CONFIDENCE
    assert reason.layer == POLICY_LAYER
    assert (reason.before, reason.after) == (ACT, OBSERVE)
    assert reason.detail == "confidence 0.39 is below the minimum of 0.4"


def test_confidence_exactly_at_the_minimum_passes() -> None:
    decision = decide(intent(confidence=0.4, urgency=1.0), Policy(), inputs())

    assert decision.granted is SUGGEST


def test_default_cap_keeps_an_agent_at_suggest() -> None:
    decision = decide(intent(level=ACT), Policy(), inputs())

    assert decision.granted is SUGGEST
    (reason,) = decision.reasons
    assert reason.code is ReasonCode.ACTION_CAP
    assert "up to suggest by default" in reason.detail


def test_per_action_cap_overrides_the_default_both_ways() -> None:
    policy = Policy(
        default_max_level=ASK,
        action_max_levels={"light.turn_off": ACT, "notify.email": SUGGEST},
    )

    lights = decide(intent("light.turn_off", level=ACT), policy, inputs())
    email = decide(intent("notify.email", level=ASK), policy, inputs())

    assert lights.granted is ACT
    assert lights.reasons == ()
    assert not lights.interrupts
    assert email.granted is SUGGEST
    assert (
        email.reasons[0].detail
        == "the agent's policy allows 'notify.email' up to suggest"
    )


def test_acting_alone_needs_higher_confidence_else_it_asks() -> None:
    unsure = decide(intent(confidence=0.84, level=ACT), ACT_ALLOWED, inputs())
    sure = decide(intent(confidence=0.85, level=ACT), ACT_ALLOWED, inputs())

    assert unsure.granted is ASK
    assert codes(unsure) == [ReasonCode.ACT_CONFIDENCE]
    assert (
        unsure.reasons[0].detail == "acting alone needs confidence 0.85, this has 0.84"
    )
    assert sure.granted is ACT


def test_repeated_declines_make_that_action_one_level_more_careful() -> None:
    policy = Policy(default_max_level=ASK)
    declined = inputs(recent_declines={"notify.phone": 3, "light.turn_on": 9})

    penalised = decide(intent(level=ASK), policy, declined)
    other = decide(intent("climate.set_temperature", level=ASK), policy, declined)
    fewer = decide(
        intent(level=ASK), policy, inputs(recent_declines={"notify.phone": 2})
    )

    assert penalised.granted is SUGGEST
    assert codes(penalised) == [ReasonCode.DECLINE_PENALTY]
    assert (
        "declined 'notify.phone' 3 times in the last 24 h"
        in penalised.reasons[0].detail
    )
    assert other.granted is ASK
    assert fewer.granted is ASK


@pytest.mark.parametrize(
    ("wall_clock", "quiet"),
    [
        (time(21, 59), False),
        (time(22, 0), True),
        (time(0, 30), True),
        (time(6, 59), True),
        (time(7, 0), False),
    ],
)
def test_quiet_hours_wrap_midnight(wall_clock: time, quiet: bool) -> None:
    now = datetime.combine(NOW.date(), wall_clock, UTC)

    decision = decide(intent(), Policy(quiet_hours=NIGHT), inputs(now=now))

    assert (decision.granted is OBSERVE) is quiet
    assert codes(decision) == ([ReasonCode.QUIET_HOURS] if quiet else [])


def test_quiet_hours_are_read_on_the_wall_clock_of_now() -> None:
    berlin_summer = timezone(timedelta(hours=2))
    late_evening = datetime(2026, 7, 1, 23, 0, tzinfo=berlin_summer)  # 21:00 UTC

    decision = decide(intent(), Policy(quiet_hours=NIGHT), inputs(now=late_evening))

    assert decision.granted is OBSERVE
    assert decision.reasons[0].detail == (
        "quiet hours (22:00 to 07:00), and urgency 0.8 is below the override of 0.9"
    )


def test_an_urgent_matter_breaks_quiet_hours_but_only_as_a_suggestion() -> None:
    policy = Policy(default_max_level=ACT, quiet_hours=NIGHT)
    night = inputs(now=datetime(2026, 3, 14, 3, 0, tzinfo=UTC))

    act = decide(intent(urgency=0.95, level=ACT), policy, night)
    suggest = decide(intent(urgency=0.9), policy, night)

    assert act.granted is SUGGEST
    assert act.interrupts
    assert codes(act) == [ReasonCode.QUIET_HOURS_URGENT]
    assert (act.reasons[0].before, act.reasons[0].after) == (ACT, SUGGEST)
    # Kept at SUGGEST, and the record still says quiet hours were overridden.
    assert suggest.granted is SUGGEST
    assert codes(suggest) == [ReasonCode.QUIET_HOURS_URGENT]
    assert suggest.reasons[0].before == suggest.reasons[0].after == SUGGEST


def test_equal_quiet_hours_bounds_mean_no_quiet_hours() -> None:
    policy = Policy(quiet_hours=QuietHours(time(8), time(8)))

    assert decide(intent(), policy, inputs()).granted is SUGGEST


def test_interrupting_must_be_worth_more_than_it_costs() -> None:
    # 0.5 x 0.6 is exactly the cost: not above it, so not worth interrupting.
    at_cost = decide(intent(confidence=0.6, urgency=0.5), Policy(), inputs())
    above = decide(intent(confidence=0.61, urgency=0.5), Policy(), inputs())
    busy = decide(intent(), Policy(), inputs(interruption_cost=0.75))

    assert at_cost.granted is OBSERVE
    assert codes(at_cost) == [ReasonCode.INTERRUPTION_COST]
    assert at_cost.reasons[0].detail == (
        "urgency 0.5 times confidence 0.6 is 0.3, not above the cost of "
        "interrupting you now (0.3)"
    )
    assert above.granted is SUGGEST
    assert busy.granted is OBSERVE
    assert busy.interruption_cost == 0.75


def test_acting_silently_is_not_weighed_as_an_interruption() -> None:
    decision = decide(
        intent(confidence=0.9, urgency=0.1, level=ACT),
        ACT_ALLOWED,
        inputs(interruption_cost=1.0),
    )

    assert decision.granted is ACT


def test_hourly_cap_counts_only_the_last_hour() -> None:
    six_recent = tuple(NOW - timedelta(minutes=5 * i) for i in range(1, 7))
    one_stale = (*six_recent[:5], NOW - timedelta(hours=1))

    capped = decide(intent(), Policy(), inputs(recent_interruptions=six_recent))
    free = decide(intent(), Policy(), inputs(recent_interruptions=one_stale))

    assert capped.granted is OBSERVE
    assert codes(capped) == [ReasonCode.HOURLY_CAP]
    assert capped.reasons[0].detail == (
        "6 interruptions in the last hour already (the limit is 6)"
    )
    assert free.granted is SUGGEST


def test_hourly_cap_does_not_hold_back_silent_actions() -> None:
    many = tuple(NOW - timedelta(minutes=i) for i in range(10))

    decision = decide(intent(level=ACT), ACT_ALLOWED, inputs(recent_interruptions=many))

    assert decision.granted is ACT


def test_zero_interruptions_per_hour_keeps_an_agent_silent() -> None:
    decision = decide(intent(), Policy(max_interruptions_per_hour=0), inputs())

    assert decision.granted is OBSERVE


def test_counting_recent_interruptions_includes_clock_jumps_ahead() -> None:
    times = (
        NOW - timedelta(minutes=59, seconds=59),
        NOW - timedelta(hours=1),
        NOW + timedelta(minutes=1),
    )

    assert count_recent_interruptions(times, NOW) == 2


# The user's survival policy: the outer layer no agent file or brain can loosen.


def test_an_action_the_user_did_not_allow_is_only_recorded() -> None:
    survival = SurvivalPolicy(allowed_actions=frozenset({"light.turn_on"}))

    blocked = decide(intent("notify.phone", level=ACT), ACT_ALLOWED, inputs(), survival)
    allowed = decide(
        intent("light.turn_on", level=ACT), ACT_ALLOWED, inputs(), survival
    )

    assert blocked.granted is OBSERVE
    (reason,) = blocked.reasons
    assert reason.layer == SURVIVAL_LAYER
    assert reason.code is ReasonCode.NOT_ALLOWED
    assert reason.detail == (
        "'notify.phone' is not among the actions you allowed this agent"
    )
    assert allowed.granted is ACT


def test_an_empty_allow_list_allows_nothing() -> None:
    survival = SurvivalPolicy(allowed_actions=frozenset())

    assert decide(intent(), Policy(), inputs(), survival).granted is OBSERVE


def test_the_users_ceiling_beats_the_agents_own_caps() -> None:
    survival = SurvivalPolicy(ceiling=SUGGEST)

    decision = decide(intent(level=ACT), ACT_ALLOWED, inputs(), survival)

    assert decision.granted is SUGGEST
    assert codes(decision) == [ReasonCode.CEILING]
    assert decision.reasons[0].detail == "you allow this agent up to suggest"


def test_a_ceiling_is_only_blamed_when_it_made_a_difference() -> None:
    decision = decide(
        intent(level=ACT), Policy(), inputs(), SurvivalPolicy(ceiling=ASK)
    )

    assert decision.granted is SUGGEST
    assert codes(decision) == [ReasonCode.ACTION_CAP]


@pytest.mark.parametrize("action", sorted(SECURITY_SENSITIVE_ACTIONS))
def test_security_sensitive_actions_never_act_alone_by_default(action: str) -> None:
    policy = Policy(action_max_levels={action: ACT})

    decision = decide(intent(action, confidence=1.0, level=ACT), policy, inputs())

    assert decision.granted is ASK
    assert codes(decision) == [ReasonCode.SECURITY_SENSITIVE]
    assert decision.reasons[0].layer == SURVIVAL_LAYER


def test_the_user_can_lift_the_sensitive_cap_for_one_action_but_not_the_ceiling() -> (
    None
):
    policy = Policy(default_max_level=ACT)
    lifted = SurvivalPolicy(lifted_actions=frozenset({"lock.unlock"}))
    capped = replace(lifted, ceiling=ASK)

    unlock = decide(intent("lock.unlock", level=ACT), policy, inputs(), lifted)
    disarm = decide(
        intent("alarm_control_panel.alarm_disarm", level=ACT), policy, inputs(), lifted
    )
    still_capped = decide(intent("lock.unlock", level=ACT), policy, inputs(), capped)

    assert unlock.granted is ACT
    assert disarm.granted is ASK
    assert still_capped.granted is ASK
    assert codes(still_capped) == [ReasonCode.CEILING]


def test_an_ask_forced_by_the_survival_layer_still_meets_the_hourly_cap() -> None:
    policy = Policy(action_max_levels={"lock.unlock": ACT})
    full_hour = tuple(NOW - timedelta(minutes=i) for i in range(6))

    decision = decide(
        intent("lock.unlock", confidence=1.0, level=ACT),
        policy,
        inputs(recent_interruptions=full_hour),
    )

    assert decision.granted is OBSERVE
    assert codes(decision) == [ReasonCode.SECURITY_SENSITIVE, ReasonCode.HOURLY_CAP]


def test_reasons_tell_the_whole_way_down_in_order() -> None:
    policy = Policy(default_max_level=ACT, decline_penalty_threshold=1)
    decision = decide(
        intent(confidence=0.8, urgency=0.3, level=ACT),
        policy,
        inputs(recent_declines={"notify.phone": 1}),
    )

    assert [(r.code, r.before, r.after) for r in decision.reasons] == [
        (ReasonCode.ACT_CONFIDENCE, ACT, ASK),
        (ReasonCode.DECLINE_PENALTY, ASK, SUGGEST),
        (ReasonCode.INTERRUPTION_COST, SUGGEST, OBSERVE),
    ]
    assert decision.reasons[0].to_dict() == {
        "layer": "policy",
        "code": "act_confidence",
        "before": 3,
        "after": 2,
        "detail": "acting alone needs confidence 0.85, this has 0.8",
    }


def test_plain_integers_from_json_are_read_as_levels() -> None:
    policy = unchecked(
        Policy, default_max_level=2, action_max_levels={"light.turn_on": 3}
    )
    survival = unchecked(SurvivalPolicy, ceiling=3, sensitive_max_level=1)

    def ask_at_3(action: str) -> Intent:
        return unchecked(Intent, action=action, confidence=0.9, requested_level=3)

    asked = decide(ask_at_3("notify.phone"), policy, inputs(), survival)
    acted = decide(ask_at_3("light.turn_on"), policy, inputs(), survival)
    unlock = decide(ask_at_3("lock.unlock"), ACT_ALLOWED, inputs(), survival)

    assert policy.default_max_level is ASK
    assert policy.action_max_levels == {"light.turn_on": ACT}
    assert type(policy.action_max_levels["light.turn_on"]) is AutonomyLevel
    assert (survival.ceiling, survival.sensitive_max_level) == (ACT, SUGGEST)
    assert asked.requested is ACT
    assert asked.granted is ASK
    assert acted.granted is ACT
    assert unlock.granted is SUGGEST


def test_whole_scores_become_floats_and_any_set_of_names_a_frozenset() -> None:
    sure = unchecked(Intent, action="light.turn_on", confidence=1, urgency=0)
    survival = unchecked(SurvivalPolicy, allowed_actions={"light.turn_on"})
    free = unchecked(GateInputs, now=NOW, interruption_cost=0)

    decision = decide(sure, Policy(), free, survival)

    assert (sure.confidence, sure.urgency) == (1.0, 0.0)
    assert type(sure.confidence) is type(free.interruption_cost) is float
    assert survival.allowed_actions == frozenset({"light.turn_on"})
    assert type(survival.allowed_actions) is frozenset
    assert decision.granted is OBSERVE  # 1 x 0 is not above a cost of 0
    assert decision.reasons[0].detail.endswith(
        "is 0, not above the cost of interrupting you now (0)"
    )


# Whatever comes in, the gate never grants more than was asked or allowed.

levels = st.sampled_from(list(AutonomyLevel))
scores = st.sampled_from([0.0, 0.3, 0.4, 0.5, 0.6, 0.85, 0.9, 1.0]) | st.floats(0, 1)


@settings(max_examples=300, deadline=None)
@given(
    confidence=scores,
    urgency=scores,
    requested=levels,
    cap=levels,
    ceiling=levels,
    hour=st.integers(0, 23),
    declines=st.integers(0, 4),
    recent=st.integers(0, 8),
    cost=scores,
)
def test_the_gate_only_ever_lowers_and_explains_each_step(
    *,
    confidence: float,
    urgency: float,
    requested: AutonomyLevel,
    cap: AutonomyLevel,
    ceiling: AutonomyLevel,
    hour: int,
    declines: int,
    recent: int,
    cost: float,
) -> None:
    now = NOW.replace(hour=hour)
    decision = decide(
        intent(confidence=confidence, urgency=urgency, level=requested),
        Policy(default_max_level=cap, quiet_hours=NIGHT),
        GateInputs(
            now=now,
            interruption_cost=cost,
            recent_interruptions=(now,) * recent,
            recent_declines={"notify.phone": declines},
        ),
        SurvivalPolicy(ceiling=ceiling),
    )

    assert decision.granted <= min(requested, cap, ceiling)
    assert decision.granted != ACT or confidence >= 0.85
    if decision.interrupts:
        assert urgency * confidence > cost
        assert recent < 6
    level = requested
    for reason in decision.reasons:
        assert reason.before == level
        assert reason.after <= reason.before
        assert reason.detail
        level = reason.after
    assert level == decision.granted


# Hostile input: each model refuses it where it is made, with a sentence that names the
# culprit (never a traceback), so the gate only ever judges values it can trust.

NAN, INF = float("nan"), float("inf")

BAD_INTENTS = [
    (
        {"confidence": NAN},
        "intent 'notify.phone': confidence must be a number from 0 to 1, got nan",
    ),
    ({"confidence": 1.5}, "confidence must be a number from 0 to 1, got 1.5"),
    ({"urgency": -0.1}, "urgency must be a number from 0 to 1, got -0.1"),
    ({"urgency": INF}, "urgency must be a number from 0 to 1, got inf"),
    ({"urgency": True}, "urgency must be a number from 0 to 1, got True"),
    ({"confidence": "high"}, "confidence must be a number from 0 to 1, got 'high'"),
    (
        {"requested_level": 7},
        "requested_level must be one of 0 (observe), 1 (suggest), 2 (ask), 3 (act), got 7",
    ),
    ({"requested_level": "ACT"}, "requested_level must be one of"),
    ({"requested_level": True}, "requested_level must be one of"),
    ({"action": ""}, "intent: action must be a non-empty name, got ''"),
    ({"action": None}, "intent: action must be a non-empty name, got None"),
    ({"params": ["x"]}, "intent 'notify.phone': params must map names to values"),
]


@pytest.mark.parametrize(("fields", "message"), BAD_INTENTS)
def test_a_malformed_intent_is_refused_with_a_sentence(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidModelError) as caught:
        unchecked(Intent, **{"action": "notify.phone"} | fields)

    assert message in str(caught.value)


BAD_POLICIES = [
    (
        {"min_confidence": INF},
        "policy: min_confidence must be a number from 0 to 1, got inf",
    ),
    (
        {"act_confidence": 2},
        "policy: act_confidence must be a number from 0 to 1, got 2",
    ),
    ({"urgency_override": None}, "policy: urgency_override must be a number"),
    (
        {"max_interruptions_per_hour": -1},
        "policy: max_interruptions_per_hour must be a whole number >= 0, got -1",
    ),
    (
        {"decline_penalty_threshold": 2.5},
        "policy: decline_penalty_threshold must be a whole number >= 0, got 2.5",
    ),
    (
        {"decline_window_hours": True},
        "policy: decline_window_hours must be a whole number >= 0, got True",
    ),
    ({"default_max_level": 4}, "policy: default_max_level must be one of 0 (observe)"),
    (
        {"action_max_levels": {"notify.phone": "ACT"}},
        "policy: action_max_levels['notify.phone'] must be one of",
    ),
    (
        {"action_max_levels": ["notify.phone"]},
        "policy: action_max_levels must map action names to levels",
    ),
    (
        {"action_max_levels": {3: ACT}},
        "policy: action_max_levels must map action names to levels, got {3: ",
    ),
    (
        {"quiet_hours": (22, 7)},
        "policy: quiet_hours must be a start and an end wall-clock time (no timezone), got (22, 7)",
    ),
]


@pytest.mark.parametrize(("fields", "message"), BAD_POLICIES)
def test_a_malformed_policy_is_refused_with_a_sentence(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidModelError) as caught:
        unchecked(Policy, **fields)

    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (
            time(22, tzinfo=UTC),
            time(7),
            "quiet hours: start must be a wall-clock time (no timezone), got "
            "datetime.time(22, 0, tzinfo=datetime.timezone.utc)",
        ),
        (time(22), "07:00", "quiet hours: end must be a wall-clock time"),
    ],
)
def test_quiet_hours_need_two_wall_clock_times(
    start: object, end: object, message: str
) -> None:
    with pytest.raises(InvalidModelError) as caught:
        unchecked(QuietHours, start=start, end=end)

    assert message in str(caught.value)


BAD_SURVIVAL = [
    ({"ceiling": -1}, "survival policy: ceiling must be one of"),
    (
        {"sensitive_max_level": None},
        "survival policy: sensitive_max_level must be one of",
    ),
    (
        {"allowed_actions": "notify.phone"},
        "survival policy: allowed_actions must be a set of action names, got 'notify.phone'",
    ),
    (
        {"allowed_actions": frozenset({"notify.phone", 3})},
        "survival policy: allowed_actions must be a set of action names",
    ),
    (
        {"sensitive_actions": ["lock.unlock"]},
        "survival policy: sensitive_actions must be a set",
    ),
    ({"lifted_actions": None}, "survival policy: lifted_actions must be a set"),
]


@pytest.mark.parametrize(("fields", "message"), BAD_SURVIVAL)
def test_a_malformed_survival_policy_is_refused_with_a_sentence(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidModelError) as caught:
        unchecked(SurvivalPolicy, **fields)

    assert message in str(caught.value)


BAD_INPUTS = [
    (
        {"now": datetime(2026, 3, 14, 15)},
        "gate inputs: now must be a timezone-aware datetime, got datetime.datetime(2026, 3, 14, 15, 0)",
    ),
    ({"now": "15:00"}, "gate inputs: now must be a timezone-aware datetime"),
    (
        {"interruption_cost": NAN},
        "gate inputs: interruption_cost must be a number from 0 to 1, got nan",
    ),
    (
        {"recent_interruptions": (NOW, datetime(2026, 3, 14))},
        "gate inputs: recent_interruptions must hold timezone-aware datetimes, "
        "got datetime.datetime(2026, 3, 14, 0, 0)",
    ),
    (
        {"recent_interruptions": None},
        "gate inputs: recent_interruptions must be a sequence of datetimes, got None",
    ),
    (
        {"recent_declines": {"notify.phone": -2}},
        "gate inputs: recent_declines['notify.phone'] must be a whole number >= 0, got -2",
    ),
    (
        {"recent_declines": 3},
        "gate inputs: recent_declines must map action names to counts, got 3",
    ),
    (
        {"recent_declines": {None: 1}},
        "gate inputs: recent_declines must map action names to counts, got {None: 1}",
    ),
]


@pytest.mark.parametrize(("fields", "message"), BAD_INPUTS)
def test_malformed_gate_inputs_are_refused_with_a_sentence(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidModelError) as caught:
        unchecked(GateInputs, **{"now": NOW} | fields)

    assert message in str(caught.value)


def test_a_refusal_is_a_value_error_for_callers_that_catch_broadly() -> None:
    assert issubclass(InvalidModelError, ValueError)


def test_a_change_made_through_replace_is_checked_too() -> None:
    with pytest.raises(InvalidModelError, match="policy: min_confidence"):
        replace(Policy(), min_confidence=-0.5)


def test_models_keep_their_own_copies_of_what_they_were_given() -> None:
    caps = {"light.turn_off": ACT}
    declines = {"notify.phone": 1}
    times = [NOW]
    policy = Policy(action_max_levels=caps)
    given = GateInputs(now=NOW, recent_interruptions=times, recent_declines=declines)  # type: ignore[arg-type]
    caps["light.turn_off"] = OBSERVE
    declines["notify.phone"] = 9
    times.append(NOW)

    assert policy.action_max_levels == {"light.turn_off": ACT}
    assert given.recent_declines == {"notify.phone": 1}
    assert given.recent_interruptions == (NOW,)
