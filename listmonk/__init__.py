"""marketing_trigger's Listmonk client: plain Python over httpx, no ``odoo`` import.

Written against the API contract in ``LISTMONK.md`` (Listmonk v6.2 read from source),
with its quirks handled here so the Odoo side does not meet them: 403 for every auth
failure, 400 for missing records, the ``{"data": …}`` envelope, SQL ``query=`` lookups,
PUT replacing what PATCH merges, partial transactional sends.

- :mod:`.client`: :class:`ListmonkClient`, one per Listmonk configuration.
- :mod:`.transport`: timeouts, retries with backoff where repeating is safe.
- :mod:`.errors`: the exceptions, from Listmonk's status codes and messages.
- :mod:`.models`: the frozen dataclasses the client takes and returns.
- :mod:`.sync`: batched, resumable subscriber sync (by ID, lookup, or bulk import).
- :mod:`.imports`: the bulk CSV import, uploaded and waited for.

Test support, never imported by the product: :mod:`.testing`, an in-memory Listmonk
HTTP server with failure switches (``python -m listmonk.testing`` runs one).
"""

from .campaigns import CampaignDraft
from .client import CRM_PERMISSIONS, ListmonkClient
from .errors import (
    ListmonkAuthError,
    ListmonkDuplicate,
    ListmonkError,
    ListmonkImportBusy,
    ListmonkImportFailed,
    ListmonkNotFound,
    ListmonkOutcomeUnknown,
    ListmonkProtocolError,
    ListmonkUnavailable,
    ListmonkValidationError,
)
from .models import (
    AnalyticsPoint,
    Bounce,
    Campaign,
    CampaignList,
    ConnectionCheck,
    ImportStatus,
    LinkCount,
    MailingList,
    Page,
    ServerInfo,
    Subscriber,
    SubscriberData,
    Subscription,
    SyncAction,
    SyncOutcome,
    SyncReport,
    Template,
    TxResult,
)

__all__ = [
    "CRM_PERMISSIONS",
    "AnalyticsPoint",
    "Bounce",
    "Campaign",
    "CampaignDraft",
    "CampaignList",
    "ConnectionCheck",
    "ImportStatus",
    "LinkCount",
    "ListmonkAuthError",
    "ListmonkClient",
    "ListmonkDuplicate",
    "ListmonkError",
    "ListmonkImportBusy",
    "ListmonkImportFailed",
    "ListmonkNotFound",
    "ListmonkOutcomeUnknown",
    "ListmonkProtocolError",
    "ListmonkUnavailable",
    "ListmonkValidationError",
    "MailingList",
    "Page",
    "ServerInfo",
    "Subscriber",
    "SubscriberData",
    "Subscription",
    "SyncAction",
    "SyncOutcome",
    "SyncReport",
    "Template",
    "TxResult",
]
