"""What can go wrong when talking to Listmonk, as exceptions a caller can act on.

Listmonk's status codes do not mean what HTTP usually means (see the contract,
``LISTMONK.md`` section 2.3): every auth failure is **403**, a missing record is a
**400** whose message ends in ``not found``, a duplicate email is **409** on create but
a **500** on update, and a 500 is sometimes a deterministic database error (an invalid
enum value). :func:`classify` turns a status and Listmonk's message into one of:

- :class:`ListmonkAuthError`: wrong credentials or a missing permission (fix the
  configuration; retrying does not help).
- :class:`ListmonkNotFound`: the record does not exist.
- :class:`ListmonkDuplicate`: the email belongs to another subscriber.
- :class:`ListmonkValidationError`: Listmonk refused the input; ``message`` says why.
- :class:`ListmonkUnavailable`: temporary (5xx, timeout, connection refused); the call
  did not take effect and can be tried again later.
- :class:`ListmonkOutcomeUnknown`: a call that is not safe to repeat (a transactional
  send, a campaign creation) may or may not have taken effect. It is deliberately *not*
  a :class:`ListmonkUnavailable`, so ``except ListmonkUnavailable: retry()`` never sends
  a message twice.
- :class:`ListmonkProtocolError`: the answer is not the Listmonk API (wrong base URL, a
  server too old for the route, HTML instead of JSON).

Two more come from the bulk import, which Listmonk runs in the background, one at a
time: :class:`ListmonkImportFailed` (Listmonk reported the import ``failed``) and
:class:`ListmonkImportBusy`, a :class:`ListmonkUnavailable` (an import, this one or
another, was still running when the wait ran out: try again later).

>>> classify(400, "Subscriber (999: ) not found").__name__
'ListmonkNotFound'
>>> classify(500, 'Error updating subscriber: pq: duplicate key value violates ...').__name__
'ListmonkDuplicate'
>>> classify(503, "Service Unavailable").__name__
'ListmonkUnavailable'
>>> permission_in("permission denied: subscribers:get")
'subscribers:get'
"""

from __future__ import annotations

import re
from typing import Any

_PERMISSION_RE = re.compile(r"^permission denied: (?P<perm>\S+)$", re.IGNORECASE)


class ListmonkError(Exception):
    """Base of every error of this package.

    ``status`` is the HTTP status (``None`` when no answer came), ``message`` Listmonk's
    own text, ``attempts`` how many times the request was sent.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str = "",
        path: str = "",
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.method = method
        self.path = path
        self.attempts = attempts

    def __str__(self) -> str:
        where = f"{self.method} {self.path}".strip()
        status = f" [{self.status}]" if self.status is not None else ""
        return f"{where}{status}: {self.message}" if where else self.message


class ListmonkAuthError(ListmonkError):
    """403 (Listmonk v4+) or 401 (before v4): credentials refused or a permission missing.

    ``permission`` names the missing permission when Listmonk says which one.
    """

    @property
    def permission(self) -> str | None:
        return permission_in(self.message)


class ListmonkNotFound(ListmonkError):
    """The subscriber, list, campaign, template or bounce does not exist (a 400)."""


class ListmonkDuplicate(ListmonkError):
    """The email already belongs to a subscriber (409 on create, 500 on update)."""


class ListmonkValidationError(ListmonkError):
    """Listmonk refused the request's content (400, 415, or a database enum error)."""


class ListmonkUnavailable(ListmonkError):
    """Temporary: the server, a proxy or the network failed and nothing took effect that
    cannot be safely repeated. Try again later."""


class ListmonkOutcomeUnknown(ListmonkError):
    """A request that must not be repeated blindly was sent, and no usable answer came.

    It may have taken effect (a transactional email queued, a campaign created) or not.
    Record it as unknown on the caller's side and let a person, or a read, decide.
    """


class ListmonkImportFailed(ListmonkError):
    """Listmonk reported the import ``failed`` (an unreadable file, a database error).
    ``log`` is the importer's log, which says why."""

    def __init__(self, message: str, *, log: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.log = log


class ListmonkImportBusy(ListmonkUnavailable):
    """An import was still running when the wait ran out: this one (Listmonk carries on
    with it) or another one (Listmonk runs one import at a time). Try again later."""


class ListmonkProtocolError(ListmonkError):
    """The answer is not what the Listmonk API gives: a wrong base URL, a route this
    server version does not have (404/405), or a body that is not the JSON envelope."""


def permission_in(message: str) -> str | None:
    """The permission a 403 message names (``permission denied: lists:get_all`` or the
    capitalised ``Permission denied: subscribers:sql_query``), else ``None``.

    >>> permission_in("invalid API credentials") is None
    True
    """
    match = _PERMISSION_RE.match(message.strip())
    return match["perm"] if match else None


def _all_not_found(message: str) -> bool:
    parts = [part.strip() for part in message.split(";")]
    return bool(parts) and all(part.lower().endswith("not found") for part in parts)


def classify(status: int, message: str) -> type[ListmonkError]:
    """The exception class for a non-200 answer of Listmonk (v4+ semantics)."""
    lowered = message.lower()
    if status in (401, 403):
        return ListmonkAuthError
    if status == 409:
        return ListmonkDuplicate
    if status == 400:
        return ListmonkNotFound if _all_not_found(message) else ListmonkValidationError
    if status == 415:
        return ListmonkValidationError
    if status == 500:
        # Database errors that no retry can fix (contract 2.3, 3.2).
        if "duplicate key value" in lowered:
            return ListmonkDuplicate
        if "violates foreign key constraint" in lowered:
            return ListmonkNotFound
        if "invalid input value" in lowered:
            return ListmonkValidationError
        return ListmonkUnavailable
    if status == 429 or status >= 500:
        return ListmonkUnavailable
    return ListmonkProtocolError
