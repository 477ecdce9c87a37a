"""Constants shared by the PAI integration's Home Assistant modules."""

from typing import Final

DOMAIN: Final = "pai"
MANUFACTURER: Final = "PAI"

EVENT_PAI_RECORD: Final = "pai_record"
"""Fired with {entry_id, agent, record} each time a PAID record is made or changes."""

EVENT_MOBILE_APP_ACTION: Final = "mobile_app_notification_action"

LEVEL_NAMES: Final = ("observe", "suggest", "ask", "act")
"""Autonomy levels by their integer value, as options, selects and translations name them."""

# config entry data
CONF_AGENT_NAME: Final = "name"
CONF_AGENT: Final = "agent"
CONF_BINDINGS: Final = "bindings"
CONF_HA_TRIGGERS: Final = "ha_triggers"

# config entry options
CONF_MIN_CONFIDENCE: Final = "min_confidence"
CONF_ACT_CONFIDENCE: Final = "act_confidence"
CONF_DEFAULT_MAX_LEVEL: Final = "default_max_level"
CONF_ACTION_MAX_LEVELS: Final = "action_max_levels"
CONF_QUIET_START: Final = "quiet_hours_start"
CONF_QUIET_END: Final = "quiet_hours_end"
CONF_MAX_INTERRUPTIONS: Final = "max_interruptions_per_hour"
CONF_URGENCY_OVERRIDE: Final = "urgency_override"
CONF_DECLINE_THRESHOLD: Final = "decline_penalty_threshold"
CONF_INTERRUPTION_COST_TEMPLATE: Final = "interruption_cost_template"
CONF_USER_STATE_TEMPLATE: Final = "user_state_template"
CONF_AUTONOMY_CEILING: Final = "autonomy_ceiling"
CONF_ALLOWED_ACTIONS: Final = "allowed_actions"
CONF_LIFTED_ACTIONS: Final = "lifted_actions"
CONF_NOTIFY_TARGETS: Final = "notify_targets"
CONF_APPROVAL_EXPIRY: Final = "approval_expiry_minutes"
CONF_APPROVERS: Final = "approvers"
CONF_UNDO_WINDOW: Final = "undo_window_minutes"

DEFAULT_INTERRUPTION_COST: Final = 0.3
DEFAULT_APPROVAL_EXPIRY_MINUTES: Final = 30
DEFAULT_UNDO_WINDOW_MINUTES: Final = 60
