"""Campaigns and templates (contract sections 3.4 and 3.5)."""

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from listmonk import CampaignDraft, ListmonkValidationError


@pytest.fixture
def draft(customers):
    return CampaignDraft(
        name="July news",
        subject="Hello {{ .Subscriber.FirstName }}",
        lists=(customers.id,),
        body='<p>Read <a href="https://example.com/a@TrackLink">this</a></p>',
        content_type="html",
        from_email="News <news@example.com>",
        tags=("monthly",),
        headers=({"X-CRM-Batch": "42"},),
        attribs={"odoo_mailing_id": 5},
    )


def test_a_created_campaign_is_a_draft_with_the_default_template(fake, client, draft):
    campaign = client.create_campaign(draft)
    assert (campaign.status, campaign.template_id, campaign.list_ids) == ("draft", 1, draft.lists)
    assert campaign.body == draft.body  # \u003c escapes decoded
    assert campaign.headers == ({"X-CRM-Batch": "42"},)
    assert campaign.attribs == {"odoo_mailing_id": 5}
    assert client.get_campaign(campaign.id) == campaign


def test_a_deleted_list_is_dropped_silently_from_a_new_campaign(client, draft, customers):
    """Listmonk keeps the IDs of lists that exist and creates the campaign anyway, even
    with none left: the caller must look at the lists it got."""
    news = client.create_list("News")
    client.delete_list(news.id)
    campaign = client.create_campaign(replace(draft, lists=(customers.id, news.id)))
    assert campaign.list_ids == (customers.id,)
    orphan = client.create_campaign(replace(draft, name="Nobody's", lists=(news.id,)))
    assert (orphan.status, orphan.lists) == ("draft", ())
    assert client.start_campaign(orphan.id).status == "running", "and it starts"
    with pytest.raises(ListmonkValidationError, match="Invalid list IDs."):
        client.create_campaign(replace(draft, lists=()))


def test_an_update_sends_the_whole_campaign(client, draft):
    campaign = client.create_campaign(draft)
    updated = client.update_campaign(campaign.id, replace(draft, subject="Changed"))
    assert (updated.subject, updated.attribs, updated.tags) == (
        "Changed",
        {"odoo_mailing_id": 5},
        ("monthly",),
    )


def test_schedule_then_run(fake, client, draft):
    campaign = client.create_campaign(draft)
    when = datetime.now(timezone.utc) + timedelta(days=1)
    scheduled = client.schedule_campaign(campaign.id, when)
    assert scheduled.status == "scheduled"
    assert abs(scheduled.send_at - when) < timedelta(milliseconds=1)
    assert scheduled.attribs == {"odoo_mailing_id": 5}, "kept through the update"
    back = client.set_campaign_status(campaign.id, "draft")
    assert back.status == "draft"


def test_starting_a_campaign_with_send_at_reports_what_is_stored(client, draft):
    when = datetime.now(timezone.utc) + timedelta(hours=2)
    campaign = client.create_campaign(replace(draft, send_at=when))
    started = client.start_campaign(campaign.id)
    assert started.status == "scheduled", "Listmonk says running but stores scheduled"


def test_start_pause_cancel_and_finish(fake, client, draft):
    client.create_subscriber("a@example.com", lists=list(draft.lists))
    campaign = client.create_campaign(draft)
    running = client.start_campaign(campaign.id)
    assert (running.status, running.to_send) == ("running", 1)
    assert running.started_at is not None
    assert client.pause_campaign(campaign.id).status == "paused"
    assert client.start_campaign(campaign.id).status == "running"
    fake.run_campaigns()
    finished = client.get_campaign(campaign.id)
    assert (finished.status, finished.sent) == ("finished", 1)


@pytest.mark.parametrize(
    "status, message",
    [
        ("paused", "Only active campaigns can be paused."),
        ("scheduled", "Campaign needs a date to be scheduled."),
        ("cancelled", "Only active campaigns can be cancelled."),
    ],
)
def test_refused_transitions_carry_listmonks_reason(client, draft, status, message):
    campaign = client.create_campaign(draft)
    with pytest.raises(ListmonkValidationError) as caught:
        client.set_campaign_status(campaign.id, status)
    assert caught.value.message == message


def test_a_running_campaign_cannot_be_updated(client, draft):
    campaign = client.create_campaign(draft)
    client.start_campaign(campaign.id)
    with pytest.raises(ListmonkValidationError) as caught:
        client.update_campaign(campaign.id, draft)
    assert caught.value.message == "Cannot update a running or a finished campaign."


def test_a_send_at_in_the_past_is_refused(client, draft):
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    with pytest.raises(ListmonkValidationError) as caught:
        client.create_campaign(replace(draft, send_at=past))
    assert caught.value.message == "Scheduled date should be in the future."


def test_campaigns_filter_by_status_and_tag(client, draft):
    first = client.create_campaign(draft)
    client.create_campaign(replace(draft, name="Other", tags=("weekly",)))
    client.start_campaign(first.id)
    assert [c.id for c in client.iter_campaigns(statuses=["running"])] == [first.id]
    assert [c.name for c in client.iter_campaigns(tags=["weekly"])] == ["Other"]
    assert all(c.body == "" for c in client.iter_campaigns()), "listed without bodies"


def test_analytics_accept_dates_and_precise_datetimes(fake, client, draft):
    campaign = client.create_campaign(draft)
    moment = datetime.now(timezone.utc)
    fake.state.views += [(campaign.id, moment), (campaign.id, moment)]
    fake.state.clicks.append((campaign.id, "https://example.com/a", moment))
    start = moment - timedelta(days=10)  # with microseconds: would be 32 characters
    [point] = client.campaign_analytics("views", [campaign.id], start, moment + timedelta(days=1))
    assert (point.campaign_id, point.count) == (campaign.id, 2)
    links = client.campaign_links(
        [campaign.id], date.today() - timedelta(days=1), start + timedelta(days=12)
    )
    assert [(link.url, link.count) for link in links] == [("https://example.com/a", 1)]


def test_delete_campaign(client, draft):
    campaign = client.create_campaign(draft)
    client.delete_campaign(campaign.id)
    assert list(client.iter_campaigns()) == []


def test_templates(client):
    listed = client.get_templates()
    assert [t.type for t in listed] == ["campaign", "campaign", "tx", "campaign_visual"]
    assert all(t.body is None for t in listed), "listed without bodies"
    tx = client.create_template(
        "Order receipt", type="tx", subject="Order {{ .Tx.Data.order_id }}", body="<p>Hi</p>"
    )
    assert client.find_template("Order receipt", "tx").id == tx.id
    assert client.get_template(tx.id).body == "<p>Hi</p>"
    layout = client.create_template(
        "Layout", type="campaign", body='<div>{{ template "content" . }}</div>'
    )
    assert layout.subject == ""
    renamed = client.update_template(
        layout.id, name="Layout 2", type="campaign", body=layout.body or ""
    )
    assert (renamed.name, renamed.subject) == ("Layout 2", "Layout 2")  # Listmonk's quirk
    client.delete_template(layout.id)
    assert client.find_template("Layout 2") is None


@pytest.mark.parametrize(
    "kind, body, message",
    [
        ("campaign", "<p>no placeholder</p>", "should appear exactly once"),
        ("tx", '<a href="{{ TrackLink "https://x" }}">x</a>', 'function "TrackLink" not defined'),
    ],
)
def test_invalid_templates_are_refused(client, kind, body, message):
    with pytest.raises(ListmonkValidationError) as caught:
        client.create_template("Bad", type=kind, subject="s", body=body)
    assert message in caught.value.message
