"""One client per configuration: the Listmonk package keeps no state at module level.
(That it imports no odoo is checked with the engine, in engine/tests/test_no_odoo_import.py.)"""


def test_no_module_keeps_client_state():
    """One client per configuration: nothing at module level may hold a connection."""
    import listmonk.client
    import listmonk.transport

    for module in (listmonk.client, listmonk.transport):
        for value in vars(module).values():
            assert not type(value).__module__.startswith("httpx"), value
