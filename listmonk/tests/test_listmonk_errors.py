"""Listmonk's status codes become the right exceptions (contract sections 2.2, 2.3, 8)."""

import pytest

from listmonk import (
    CampaignDraft,
    ListmonkClient,
    ListmonkDuplicate,
    ListmonkNotFound,
    ListmonkProtocolError,
    ListmonkUnavailable,
    ListmonkValidationError,
)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda c: c.get_subscriber(999), "Subscriber (999: ) not found"),
        (lambda c: c.get_list(77), "List not found"),
        (lambda c: c.get_campaign(5), "Campaign not found"),
        (lambda c: c.get_template(50), "Template not found"),
        (lambda c: c.get_bounce(3), "Bounce not found"),
        (lambda c: c.patch_subscriber(999, name="x"), "Subscriber (999: ) not found"),
    ],
)
def test_a_400_saying_not_found_is_not_found(fake, client, call, message):
    with pytest.raises(ListmonkNotFound) as caught:
        call(client)
    assert caught.value.status == 400
    assert caught.value.message == message
    assert len(fake.requests) == 1, "a 400 is not retried"


def test_duplicate_email_on_create_is_409(client):
    client.create_subscriber("Jane.Roe@Example.com")
    with pytest.raises(ListmonkDuplicate) as caught:
        client.create_subscriber("jane.roe@example.com", name="Again")
    assert (caught.value.status, caught.value.message) == (409, "E-mail already exists.")


def test_duplicate_email_on_update_is_a_500_and_still_a_duplicate(fake, client):
    client.create_subscriber("a@example.com")
    other = client.create_subscriber("b@example.com")
    with pytest.raises(ListmonkDuplicate) as caught:
        client.patch_subscriber(other.id, email="a@example.com")
    assert caught.value.status == 500
    assert len(fake.calls("PATCH")) == 1, "a deterministic 500 is not retried"


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda c: c.create_subscriber("Jane <jane@x.com>"), "Invalid email."),
        (lambda c: c.create_campaign(CampaignDraft("x", "y", ())), "Invalid list IDs."),
        (lambda c: c.create_list(""), "Invalid name"),
        (
            lambda c: c.change_subscriptions([1], "move", [1]),  # type: ignore[arg-type]
            "Invalid action.",
        ),
        (
            lambda c: c.create_template("t", type="tx", body="x"),
            "Missing field(s): subject",
        ),
    ],
)
def test_validation_errors_carry_listmonks_message(client, call, message):
    with pytest.raises(ListmonkValidationError) as caught:
        call(client)
    assert caught.value.message == message


def test_an_invalid_enum_500_is_a_validation_error(fake, client):
    subscriber = client.create_subscriber("a@example.com")
    with pytest.raises(ListmonkValidationError) as caught:
        client.patch_subscriber(subscriber.id, status="gone")  # type: ignore[arg-type]
    assert caught.value.status == 500
    assert "invalid input value for enum" in caught.value.message
    assert len(fake.calls("PATCH")) == 1


def test_a_template_without_name_is_refused_before_listmonk_answers_a_bare_500(fake, client):
    with pytest.raises(ListmonkValidationError):
        client.create_template("", type="tx", subject="s", body="b")
    assert fake.calls("POST", "/api/templates") == []


def test_415_is_a_validation_error(fake, client):
    fake.inject(path="/api/lists", status=415, message="Unsupported Media Type")
    with pytest.raises(ListmonkValidationError) as caught:
        client.create_list("News")
    assert (caught.value.status, caught.value.message) == (415, "Unsupported Media Type")


def test_the_fake_really_answers_415_to_a_non_json_body(fake, client):
    import httpx

    response = httpx.post(
        fake.base_url + "/api/subscribers",
        content=b"email=a@b.com",
        headers={
            "Authorization": f"token {fake.username}:{fake.token}",
            "Content-Type": "text/plain",
        },
    )
    assert (response.status_code, response.json()) == (415, {"message": "Unsupported Media Type"})


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_unavailable_after_the_retries(fake, client, sleeps, status):
    fake.inject(path="/api/lists", status=status, message="Internal Server Error")
    with pytest.raises(ListmonkUnavailable) as caught:
        client.get_lists()
    assert caught.value.status == status
    assert caught.value.attempts == 3
    assert len(fake.requests) == 3


def test_an_unknown_endpoint_is_a_protocol_error(fake):
    with ListmonkClient(fake.base_url, fake.username, fake.token) as api:
        with pytest.raises(ListmonkProtocolError) as caught:
            api.call("GET", "api/nope")
    assert caught.value.status == 404
    assert caught.value.message.startswith("404 unknown endpoint")


def test_an_html_page_instead_of_the_api_is_a_protocol_error(fake, client, monkeypatch):
    from listmonk.testing import fake as fake_module

    monkeypatch.setattr(fake_module, "_encode", lambda payload: b"<html>admin</html>")
    with pytest.raises(ListmonkProtocolError) as caught:
        client.health()
    assert "envelope" in caught.value.message


def test_error_text_says_what_failed(client):
    with pytest.raises(ListmonkNotFound) as caught:
        client.get_list(77)
    assert str(caught.value) == "GET api/lists/77 [400]: List not found"
