from . import (
    base,
    mail_activity,
    marketing_trigger,
    marketing_trigger_consent,
    marketing_trigger_decision,
    marketing_trigger_delivery,
    marketing_trigger_forecast,
    marketing_trigger_policy,
    marketing_trigger_time,
    marketing_trigger_topic,
    marketing_trigger_touch,
    res_partner,
)
