from . import (
    test_access,
    test_channels,
    test_consent,
    test_date_triggers,
    test_install,
    test_policy,
    test_record_events,
    test_time_triggers,
    test_variants,
    test_welcome_trigger,
)
