"""Test support for the Listmonk client: a fake Listmonk server. Not part of the product.

The addon (``models/``, ``controllers/``, the client modules of ``listmonk/``) never
imports this package; the client's pytest suite (``listmonk/tests``), the Odoo tests
(``tests/test_listmonk_*.py``) and the benchmark (``bench/listmonk_sync.py``) do, and
``listmonk/tests/test_listmonk_layout.py`` checks that nothing else does::

    from listmonk.testing import FakeListmonk      # odoo.addons.marketing_trigger.listmonk…

    with FakeListmonk() as fake:
        ...

or, in a process of its own (prints where it listens as one JSON line, serves until
killed)::

    python -m listmonk.testing --port 0

See :mod:`listmonk.testing.fake` for what it models.
"""

from .fake import FakeListmonk, FakeUser, Fault, LoggedRequest

__all__ = ["Fault", "FakeListmonk", "FakeUser", "LoggedRequest"]
