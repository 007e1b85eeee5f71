# engine/ is plain Python and its test runner imports this package without Odoo on the
# path (pytest sets up every package above a test file); load the Odoo parts only here.
try:
    import odoo  # noqa: F401
except ImportError:
    pass
else:
    from . import cli, controllers, models
