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
CONF_TRUST_STREAK: Final = "trust_approvals_in_a_row"
"""Autonomy earned with consent: approvals in a row before PAI asks to act alone (0: never)."""
CONF_TRUST_DAYS: Final = "trust_min_days"
"""Autonomy earned with consent: the days those approvals must span, at least."""
CONF_CRITICAL_NOTIFICATIONS: Final = "critical_notifications"
CONF_ESCALATION_TARGETS: Final = "escalation_targets"
CONF_ESCALATION_WAIT: Final = "escalation_wait_minutes"
CONF_ESCALATION_PRESENCE: Final = "escalation_presence"
CONF_IGNORED_UNBOUND: Final = "ignored_unbound_actions"
"""Actions the user chose to leave unbound (the Repairs issue about them stays away)."""

DEFAULT_INTERRUPTION_COST: Final = 0.3
DEFAULT_APPROVAL_EXPIRY_MINUTES: Final = 30
DEFAULT_UNDO_WINDOW_MINUTES: Final = 60
DEFAULT_ESCALATION_WAIT_MINUTES: Final = 10

# the LLM brain (config entry data: CONF_BRAIN = {"kind": ..., credentials})
CONF_BRAIN: Final = "brain"
CONF_BRAIN_KIND: Final = "kind"
"""What thinks for the agent: rules alone or one of the LLM brains below (`BRAIN_*`).

The name of the brain section's key in the entry's data and of the field on the forms.
Entries before 1.3 kept it as "engine" (migration.py); a `.pai` file's brain.json still
calls its own field `engine` (the format paigent shares)."""
CONF_API_KEY: Final = "api_key"
CONF_BASE_URL: Final = "base_url"
CONF_AI_TASK_ENTITY: Final = "entity_id"
BRAIN_RULES: Final = "rules"
BRAIN_ANTHROPIC: Final = "anthropic"
BRAIN_OPENAI: Final = "openai"
BRAIN_AI_TASK: Final = "ai_task"
BRAIN_LOCAL: Final = "local"

# the LLM brain (options)
CONF_BRAIN_MODEL: Final = "brain_model"
CONF_LLM_EVERY_EVENT: Final = "llm_every_event"
CONF_LLM_MIN_INTERVAL: Final = "llm_min_interval_seconds"
CONF_LLM_MAX_CALLS: Final = "llm_max_calls_per_hour"
CONF_LLM_MAX_COST: Final = "llm_max_cost_per_day"
CONF_LLM_TIMEOUT: Final = "llm_timeout_seconds"
CONF_LLM_PRICE_INPUT: Final = "llm_price_input_per_mtok"
CONF_LLM_PRICE_OUTPUT: Final = "llm_price_output_per_mtok"
CONF_PRIVACY_LABEL: Final = "privacy_label"
CONF_LOCAL_N_CTX: Final = "local_n_ctx"
CONF_LOCAL_THREADS: Final = "local_threads"

DEFAULT_ANTHROPIC_MODEL: Final = "claude-haiku-4-5"
DEFAULT_PRIVACY_LABEL: Final = "pai_local_only"
DEFAULT_LLM_MIN_INTERVAL: Final = 30
DEFAULT_LLM_MAX_CALLS: Final = 60
DEFAULT_LLM_MAX_COST: Final = 1.0
DEFAULT_LLM_TIMEOUT: Final = 30
DEFAULT_LOCAL_N_CTX: Final = 2048

# The config flow's optional dry run on the recorder's last week (dry_run.py).
CONF_PREVIEW: Final = "preview"

# shadow versions, promote and rollback (options; shadow.py, versions.py)
CONF_ROLLBACK_WINDOW: Final = "rollback_window_hours"
CONF_ROLLBACK_MARGIN: Final = "rollback_margin"
DEFAULT_ROLLBACK_WINDOW_HOURS: Final = 24
DEFAULT_ROLLBACK_MARGIN: Final = 0.2
ROLLBACK_MIN_REQUESTS: Final = 3
"""Requests the promoted version must have made before it can be rolled back by itself."""
