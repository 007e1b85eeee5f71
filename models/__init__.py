from . import (
    marketing_trigger,
    marketing_trigger_consent,
    marketing_trigger_decision,
    marketing_trigger_delivery,
    res_partner,
)
