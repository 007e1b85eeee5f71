"""Against a real Listmonk (v6.1+), when one is configured:

    LISTMONK_URL=http://localhost:9000 LISTMONK_USER=crm LISTMONK_TOKEN=... \\
        .venv/bin/python -m pytest listmonk/tests/test_live.py -q

The API user needs the CRM permissions (``listmonk.CRM_PERMISSIONS``). Everything the
tests create is named ``mt-live-<random>`` and deleted afterwards. No email is sent:
transactional sends go to an address that does not exist in ``default`` mode, which
Listmonk refuses before queueing.
"""

import os
import secrets

import pytest

from listmonk import (
    CampaignDraft,
    ListmonkAuthError,
    ListmonkClient,
    ListmonkNotFound,
    SubscriberData,
    SyncAction,
)

URL = os.environ.get("LISTMONK_URL", "")
USER = os.environ.get("LISTMONK_USER", "")
TOKEN = os.environ.get("LISTMONK_TOKEN", "")

pytestmark = pytest.mark.skipif(
    not (URL and USER and TOKEN),
    reason="no real Listmonk: set LISTMONK_URL, LISTMONK_USER and LISTMONK_TOKEN to run",
)


@pytest.fixture(scope="module")
def live():
    with ListmonkClient(URL, USER, TOKEN, timeout=10, retries=1) as client:
        yield client


@pytest.fixture
def tag():
    return f"mt-live-{secrets.token_hex(4)}"


@pytest.fixture
def scratch_list(live, tag):
    created = live.create_list(tag, tags=[tag])
    yield created
    for subscriber in live.iter_subscribers(list_ids=[created.id]):
        live.delete_subscribers([subscriber.id])
    live.delete_list(created.id)


def test_health_version_and_permissions(live):
    assert live.health() is True
    info = live.server_info()
    assert info.version
    check = live.check_connection()
    assert check.ok, check.problems


def test_wrong_token_is_refused():
    with ListmonkClient(URL, USER, "wrong-token", timeout=10) as bad:
        with pytest.raises(ListmonkAuthError):
            bad.health()


def test_missing_records_are_not_found(live):
    with pytest.raises(ListmonkNotFound):
        live.get_subscriber(2_000_000_000)
    with pytest.raises(ListmonkNotFound):
        live.get_list(2_000_000_000)


def test_sync_lookup_patch_and_blocklist_read_back(live, scratch_list, tag):
    records = [
        SubscriberData(
            f"{tag}-{n}@example.com", f"Live {n}", {"mt_live": tag, "n": n}, (scratch_list.id,)
        )
        for n in range(3)
    ]
    first = live.sync_subscribers(records, batch_size=2, match_attribute="n")
    assert first.complete and len(first.created) == 3
    again = live.sync_subscribers(records, batch_size=2, match_attribute="n")
    assert [o.action for o in again.outcomes] == [SyncAction.UNCHANGED] * 3

    found = live.find_subscriber_by_email(records[0].email.upper())
    assert found is not None and found.attribs["mt_live"] == tag
    patched = live.patch_subscriber(found.id, attribs={"extra": 1})
    assert patched.attribs["mt_live"] == tag and patched.attribs["extra"] == 1

    live.blocklist_subscribers([found.id])
    blocked = live.get_subscriber(found.id)
    assert blocked.is_blocklisted and blocked.unsubscribed_list_ids == {scratch_list.id}
    assert len(list(live.iter_subscribers(list_ids=[scratch_list.id], per_page=2))) == 3


def test_campaign_draft_lifecycle(live, scratch_list, tag):
    campaign = live.create_campaign(
        CampaignDraft(
            tag, "Live test", (scratch_list.id,), body="<p>x</p>", content_type="html", tags=(tag,)
        )
    )
    try:
        assert campaign.status == "draft"
        assert [c.id for c in live.iter_campaigns(tags=[tag])] == [campaign.id]
    finally:
        live.delete_campaign(campaign.id)


def test_tx_to_an_unknown_address_reports_it_and_sends_nothing(live, tag):
    template = next((t for t in live.get_templates() if t.type == "tx"), None)
    if template is None:
        pytest.skip("no transactional template on this Listmonk")
    result = live.send_tx(template.id, emails=[f"{tag}@example.invalid"])
    assert result.missing_emails == (f"{tag}@example.invalid",)
