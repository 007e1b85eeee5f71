"""A typed client for the Listmonk HTTP API (v4+ API users; v6.1+ for the sync).

One :class:`ListmonkClient` per Listmonk configuration; it holds its own connection pool
and no module state, so each company (and thread) of an Odoo server uses its own::

    from listmonk import ListmonkClient, SubscriberData

    with ListmonkClient("https://lists.example.com", "crm", token, timeout=10) as lm:
        check = lm.check_connection()          # the "Test connection" button
        if not check.ok:
            raise UserError("\\n".join(check.problems))
        customers = lm.ensure_list("Customers", optin="single")
        report = lm.sync_subscribers(
            [SubscriberData("ada@example.com", "Ada", {"odoo_partner_id": 7}, (customers.id,))],
            match_attribute="odoo_partner_id",
            import_from=200,    # a batch with 200+ new contacts: one CSV import
        )
        report.pending          # what an outage left undone: sync it again later
        report.outcomes[0].subscriber.id   # store it: the next sync PATCHes by ID
        lm.import_subscribers(records, [customers.id])  # a bulk import, waited for
        lm.send_tx(5, emails=["ada@example.com"], data={"order": "S0042"})

Errors are the classes of :mod:`listmonk.errors`. Calls that set a state (GET, PUT,
PATCH, DELETE) are retried with exponential backoff on temporary failures; a
transactional send or a creation is never repeated once sent, and an unknown outcome
raises :class:`~listmonk.errors.ListmonkOutcomeUnknown` (see :mod:`listmonk.transport`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .campaigns import CampaignsAPI
from .errors import (
    ListmonkAuthError,
    ListmonkError,
    ListmonkProtocolError,
    ListmonkUnavailable,
)
from .models import ConnectionCheck, ServerInfo, SubscriberData, SyncReport
from .subscribers import SubscribersAPI
from .sync import iter_sync, sync_subscribers

# PATCH /api/subscribers/:id, which the sync relies on, arrived in v6.1.
MIN_SYNC_VERSION = (6, 1)


@dataclass(frozen=True, slots=True)
class PermissionProbe:
    """A request that needs ``permission`` and changes nothing: it is invalid on purpose
    (empty name, empty ids, ID 0), so a permitted user gets a 400 and an unpermitted one
    a 403 (permissions are checked before the handler validates anything)."""

    permission: str
    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    # What Listmonk's 403 names when neither is granted: the route accepts either.
    named_as: str = ""


PROBES: tuple[PermissionProbe, ...] = (
    PermissionProbe(
        "subscribers:get_all", "GET", "api/subscribers", {"per_page": 1}, None, "subscribers:get"
    ),
    PermissionProbe(
        "subscribers:sql_query",
        "GET",
        "api/subscribers",
        {"per_page": 1, "query": "subscribers.id = 0"},
    ),
    PermissionProbe("subscribers:manage", "PUT", "api/subscribers/lists", json={"ids": []}),
    PermissionProbe("lists:manage_all", "POST", "api/lists", json={"name": ""}),
    PermissionProbe(
        "campaigns:get_all",
        "GET",
        "api/campaigns",
        {"per_page": 1, "no_body": "true"},
        None,
        "campaigns:get",
    ),
    PermissionProbe(
        "campaigns:manage_all", "POST", "api/campaigns", None, {"name": ""}, "campaigns:manage"
    ),
    PermissionProbe("campaigns:send", "PUT", "api/campaigns/0/status", json={"status": "draft"}),
    PermissionProbe("campaigns:get_analytics", "GET", "api/campaigns/analytics/views"),
    PermissionProbe("templates:get", "GET", "api/templates", {"no_body": "true"}),
    PermissionProbe(
        "templates:manage",
        "POST",
        "api/templates",
        json={"name": "permission probe", "type": "tx", "subject": "", "body": ""},
    ),
    PermissionProbe("tx:send", "POST", "api/tx", json={}),
    # No ``params``: Listmonk answers 400 "Invalid params" (or "An import is already
    # running"), after the route's permission check, before anything starts.
    PermissionProbe("subscribers:import", "POST", "api/import/subscribers"),
    PermissionProbe("bounces:get", "GET", "api/bounces", {"per_page": 1}),
)

# Needed by a CRM sync but not testable without side effects: GET /api/lists has no
# route permission (it just shows fewer lists), the bounce webhook may be disabled.
UNPROBED_PERMISSIONS = ("lists:get_all",)

CRM_PERMISSIONS: tuple[str, ...] = tuple(p.permission for p in PROBES) + UNPROBED_PERMISSIONS


class ListmonkClient(SubscribersAPI, CampaignsAPI):
    """The Listmonk API for one configuration. See the module docstring."""

    def health(self) -> bool:
        """Whether Listmonk answers and accepts the credentials (``/api/health``)."""
        return self.call("GET", "api/health") is True

    def server_info(self) -> ServerInfo:
        """Version and settings from ``GET /api/config`` (any authenticated user)."""
        return ServerInfo.from_json(self.call("GET", "api/config"))

    def check_connection(self, required: Sequence[str] = CRM_PERMISSIONS) -> ConnectionCheck:
        """Reach the server, authenticate, read the version and find which of the
        ``required`` permissions the API user lacks, without changing anything."""
        try:
            info = self.server_info()
        except ListmonkAuthError as exc:
            return ConnectionCheck(
                False, problems=(f"Listmonk refused the API user: {exc.message}",)
            )
        except ListmonkUnavailable as exc:
            return ConnectionCheck(False, problems=(f"Listmonk cannot be reached: {exc.message}",))
        except ListmonkError as exc:
            return ConnectionCheck(
                False, problems=(f"This URL does not answer like Listmonk v4+: {exc.message}",)
            )
        problems: list[str] = []
        if not info.at_least(*MIN_SYNC_VERSION):
            problems.append(
                f"Listmonk {info.version} is too old: the sync needs v6.1 or later "
                "(partial subscriber updates)."
            )
        missing: list[str] = []
        unverified = [perm for perm in required if perm in UNPROBED_PERMISSIONS]
        for probe in (p for p in PROBES if p.permission in required):
            try:
                self.call(probe.method, probe.path, params=probe.params, json=probe.json)
            except ListmonkAuthError as exc:
                named = exc.permission
                if named is None:  # the credentials themselves stopped working
                    problems.append(f"Listmonk refused the API user: {exc.message}")
                    break
                if named.lower() in (probe.permission, probe.named_as):
                    missing.append(probe.permission)
                else:  # blocked earlier by another missing permission
                    unverified.append(probe.permission)
            except ListmonkUnavailable as exc:
                problems.append(f"Listmonk stopped answering during the check: {exc.message}")
                break
            except ListmonkProtocolError:
                unverified.append(probe.permission)
            except ListmonkError:
                pass  # a 400 for the deliberately invalid request: the permission is there
        if missing:
            problems.append("The API user's role lacks: " + ", ".join(missing) + ".")
        return ConnectionCheck(
            ok=not problems,
            version=info.version,
            missing_permissions=tuple(missing),
            unverified_permissions=tuple(unverified),
            problems=tuple(problems),
        )

    def sync_subscribers(
        self,
        records: Iterable[SubscriberData],
        *,
        batch_size: int = 100,
        match_attribute: str | None = None,
        preconfirm: bool = False,
        import_from: int | None = None,
        workers: int = 1,
    ) -> SyncReport:
        """Create or update subscribers in batches; see :func:`listmonk.sync.sync_subscribers`."""
        return sync_subscribers(
            self,
            records,
            batch_size=batch_size,
            match_attribute=match_attribute,
            preconfirm=preconfirm,
            import_from=import_from,
            workers=workers,
        )

    def iter_sync(
        self,
        records: Iterable[SubscriberData],
        *,
        batch_size: int = 100,
        match_attribute: str | None = None,
        preconfirm: bool = False,
        import_from: int | None = None,
        workers: int = 1,
    ) -> Iterator[SyncReport]:
        """One :class:`~listmonk.sync.SyncReport` per batch, for callers that commit
        their own progress between batches (an Odoo cron)."""
        return iter_sync(
            self,
            records,
            batch_size=batch_size,
            match_attribute=match_attribute,
            preconfirm=preconfirm,
            import_from=import_from,
            workers=workers,
        )
