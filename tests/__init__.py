from . import test_access, test_consent, test_install, test_welcome_trigger
