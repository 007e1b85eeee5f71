"""Selections shared by several models (stored values are the engine's enum values)."""

CHANNEL_SELECTION = [
    ("email", "Email"),
    ("sms", "SMS"),
    ("phone", "Salesperson call (task)"),
    ("newsletter", "Newsletter"),
    ("voice", "Voice message"),
    ("fax", "Fax"),
    ("letter", "Letter"),
]

LIFECYCLE_STAGES = [
    ("new", "New"),
    ("onboarding", "Onboarding"),
    ("engaged", "Engaged"),
    ("churn_risk", "Churn risk"),
    ("winback", "Win-back"),
    ("lost", "Lost"),
]
