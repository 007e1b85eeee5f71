# isort: off
# The content mixin must be defined before the models that inherit it.
from . import marketing_trigger_content

# isort: on
from . import (
    base,
    crm_lead,
    ir_http,
    mail_activity,
    mail_mail,
    mail_render_mixin,
    mail_template,
    mail_thread,
    marketing_listmonk_server,
    marketing_trigger,
    marketing_trigger_action,
    marketing_trigger_consent,
    marketing_trigger_date,
    marketing_trigger_decision,
    marketing_trigger_delay_units,
    marketing_trigger_delivery,
    marketing_trigger_delivery_outcome,
    marketing_trigger_delivery_sender,
    marketing_trigger_engagement,
    marketing_trigger_event,
    marketing_trigger_forecast,
    marketing_trigger_interest,
    marketing_trigger_kind_info,
    marketing_trigger_landing,
    marketing_trigger_landing_preview,
    marketing_trigger_parallel,
    marketing_trigger_partner,
    marketing_trigger_policy,
    marketing_trigger_preview,
    marketing_trigger_product,
    marketing_trigger_sale,
    marketing_trigger_subscription,
    marketing_trigger_subscription_form,
    marketing_trigger_time,
    marketing_trigger_topic,
    marketing_trigger_touch,
    marketing_trigger_tracking,
    marketing_trigger_variant,
    res_config_settings,
    res_partner,
    sale_order,
    sms_sms,
)

# isort: off
# The Listmonk bridge extends triggers, deliveries and tracking: after them.
from . import (
    marketing_listmonk_list,
    marketing_listmonk_sync,
    marketing_listmonk_readback,
    marketing_listmonk_campaign,
    marketing_listmonk_tracking,
    marketing_listmonk_outbox,
)

# Journeys build on triggers, decisions and deliveries: after them.
from . import (
    marketing_journey,
    marketing_journey_step,
    marketing_journey_participant,
    marketing_journey_run,
    marketing_journey_hooks,
    marketing_journey_enrol,
    marketing_journey_test,
    marketing_journey_listmonk,
    marketing_journey_forecast,
    marketing_journey_funnel,
)

# The callback scenario extends the callback kind, engagement and deliveries: after them.
from . import marketing_trigger_callback

# Messages about the record behind the occurrence: once every kind and content exists.
from . import marketing_trigger_record
from . import marketing_trigger_picking
from . import marketing_trigger_keypad
from . import marketing_trigger_lifecycle
from . import marketing_trigger_overview

# Every model that puts customer URLs in messages, once they all exist.
from . import marketing_trigger_base_url

# isort: on
