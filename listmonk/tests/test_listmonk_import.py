"""The bulk import (contract 3.8, cmd/import.go, internal/subimporter): the fake from raw
HTTP, then the client's upload-and-wait."""

import io
import json
import threading
import time
import zipfile

import httpx
import pytest

from listmonk import (
    ImportStatus,
    ListmonkAuthError,
    ListmonkImportBusy,
    ListmonkImportFailed,
    ListmonkUnavailable,
    SubscriberData,
)
from listmonk import imports as imports_module

PATH = "/api/import/subscribers"
PARAMS = {"mode": "subscribe", "delim": ",", "lists": [1]}


@pytest.fixture
def http(fake):
    with httpx.Client(base_url=fake.base_url) as session:
        yield session


@pytest.fixture
def auth(fake):
    return {"Authorization": f"token {fake.username}:{fake.token}"}


@pytest.fixture
def lists(client):
    return [client.create_list("A").id, client.create_list("B").id]


def upload(http, auth, csv_text="email\nada@example.com\n", params=None, filename="p.csv"):
    return http.post(
        PATH,
        data={"params": json.dumps(PARAMS if params is None else params)},
        files={"file": (filename, csv_text.encode(), "text/csv")},
        headers=auth,
    )


def run(fake, http, auth, *args, **kwargs):
    answer = upload(http, auth, *args, **kwargs)
    assert answer.status_code == 200, answer.text
    return fake.wait_for_import()


# -- the fake, from raw HTTP ------------------------------------------------------------


@pytest.mark.parametrize(
    "params, status, message",
    [
        (None, 400, "Invalid params: unexpected end of JSON input"),
        ("{", 400, "Invalid params: unexpected end of JSON input"),
        (
            '{"lists": "1"}',
            400,
            "Invalid params: json: cannot unmarshal string into Go struct "
            "field SessionOpt.lists of type []int",
        ),
        ('{"mode": "subscribe", "delim": ","}', 403, "Permission denied: lists"),
        ('{"mode": "merge", "lists": [1]}', 400, "Invalid mode"),
        (
            '{"mode": "subscribe", "lists": [1], "subscription_status": "x"}',
            400,
            "Invalid subscription status",
        ),
        ('{"mode": "subscribe", "lists": [1]}', 400, "Delimiter should be a single character."),
        ('{"mode": "blocklist", "delim": ";;"}', 400, "Delimiter should be a single character."),
        (
            '{"mode": "subscribe", "lists": [1], "delim": ","}',
            400,
            "Invalid file: http: no such file",
        ),
    ],
)
def test_an_upload_is_checked_in_listmonks_order(http, auth, params, status, message):
    data = {} if params is None else {"params": params}
    answer = http.post(PATH, data=data, files={"other": ("x", b"")}, headers=auth)
    assert (answer.status_code, answer.json()) == (status, {"message": message})


def test_a_json_body_is_no_file(http, auth):
    answer = http.post(PATH, params={"params": json.dumps(PARAMS)}, json={}, headers=auth)
    assert answer.json()["message"] == (
        "Invalid file: request Content-Type isn't multipart/form-data"
    )


def test_the_permissions(fake, http):
    fake.add_user("ro", "t", {"subscribers:get_all"})
    fake.add_user("importer", "t", {"subscribers:import"})
    answer = upload(http, {"Authorization": "token ro:t"})
    assert (answer.status_code, answer.json()["message"]) == (
        403,
        "permission denied: subscribers:import",
    )
    assert http.get(PATH, headers={"Authorization": "token ro:t"}).status_code == 403
    answer = upload(http, {"Authorization": "token importer:t"})
    assert (answer.status_code, answer.json()["message"]) == (403, "Permission denied: lists")


def test_an_import_runs_in_the_background(fake, http, auth, lists):
    fake.hold_imports()
    answer = upload(http, auth, "email,name\nada@example.com,Ada\nnot-an-email,X\n")
    assert answer.json()["data"] == {
        "name": "p.csv",
        "total": 0,
        "imported": 0,
        "status": "importing",
    }
    again = upload(http, auth)
    assert (again.status_code, again.json()["message"]) == (
        400,
        "An import is already running. Wait for it to finish or stop it before trying again.",
    )
    assert http.get(PATH, headers=auth).json()["data"]["status"] == "importing"
    fake.release_imports()
    assert fake.wait_for_import() == {
        "name": "p.csv",
        "total": 2,
        "imported": 1,
        "status": "finished",
    }
    log = http.get(PATH + "/logs", headers=auth).json()["data"]
    assert "processing 'p.csv'" in log
    assert "skipping line 2: Invalid email.: [not-an-email X]" in log
    assert log.rstrip().endswith("imported finished")
    assert upload(http, auth).status_code == 200, "a finished import does not block the next"


def test_existing_subscribers_are_upserted_as_the_flags_say(fake, client, http, auth, lists):
    first, second = lists
    ada = client.create_subscriber("ada@example.com", name="Ada", attribs={"a": 1, "keep": 2})
    client.change_subscriptions([ada.id], "add", [first], status="confirmed")
    client.change_subscriptions([ada.id], "unsubscribe", [first])
    rows = 'email,name,attributes\nADA@example.com,New,"{""a"": 9}"\n'

    run(
        fake,
        http,
        auth,
        rows,
        {"mode": "subscribe", "delim": ",", "lists": lists, "subscription_status": "confirmed"},
    )
    kept = client.get_subscriber(ada.id)
    assert (kept.name, kept.attribs) == ("Ada", {"a": 1, "keep": 2}), "no overwrite_userinfo"
    assert kept.subscription(first).status == "unsubscribed"
    assert kept.subscription(second).status == "confirmed", "a new subscription"

    run(
        fake,
        http,
        auth,
        rows,
        {"mode": "subscribe", "delim": ",", "lists": lists, "overwrite_userinfo": True},
    )
    replaced = client.get_subscriber(ada.id)
    assert (replaced.name, replaced.attribs) == ("New", {"a": 9}), "replaced, not merged"
    assert replaced.subscription(first).status == "unsubscribed"

    run(
        fake,
        http,
        auth,
        rows,
        {
            "mode": "subscribe",
            "delim": ",",
            "lists": lists,
            "overwrite": True,
            "subscription_status": "unconfirmed",
        },
    )
    resubscribed = client.get_subscriber(ada.id)
    assert {s.status for s in resubscribed.subscriptions} == {"unconfirmed"}, "legacy flag"


def test_a_blocklisted_subscriber_stays_out(fake, client, http, auth, lists):
    bob = client.create_subscriber("bob@example.com")
    client.blocklist_subscribers([bob.id])
    run(
        fake,
        http,
        auth,
        "email\nbob@example.com\nnew@example.com\n",
        {"mode": "subscribe", "delim": ",", "lists": lists, "subscription_status": "confirmed"},
    )
    blocked = client.get_subscriber(bob.id)
    assert blocked.is_blocklisted
    assert {s.status for s in blocked.subscriptions} == {"unsubscribed"}
    new = client.find_subscriber_by_email("new@example.com")
    assert (new.status, new.name) == ("enabled", "New")
    assert {s.status for s in new.subscriptions} == {"confirmed"}


def test_blocklist_mode(fake, client, http, auth, lists):
    ada = client.create_subscriber("ada@example.com", lists=lists)
    run(
        fake,
        http,
        auth,
        "email\nada@example.com\neve@example.com\n",
        {"mode": "blocklist", "delim": ","},
    )
    assert client.get_subscriber(ada.id).unsubscribed_list_ids == set(lists)
    assert client.find_subscriber_by_email("eve@example.com").is_blocklisted


def test_a_list_that_does_not_exist_imports_nothing_and_still_finishes(fake, client, http, auth):
    status = run(fake, http, auth, "email\nada@example.com\n", {**PARAMS, "lists": [99]})
    assert (status["status"], status["imported"]) == ("finished", 0)
    assert "violates foreign key constraint" in http.get(PATH + "/logs", headers=auth).text
    assert client.query_subscribers().total == 0


def test_a_file_listmonk_cannot_read_fails(fake, http, auth, lists):
    assert run(fake, http, auth, "name\nAda\n")["status"] == "failed"
    assert "'email' column not found" in http.get(PATH + "/logs", headers=auth).text
    assert run(fake, http, auth, "")["status"] == "failed"


def test_bad_lines_and_attributes_are_skipped_or_dropped(fake, client, http, auth, lists):
    rows = 'email,name,attributes\na@example.com,A,[1]\nb@example.com,B\nc@example.com,,{"x":\n'
    status = run(fake, http, auth, rows.replace('{"x":', '"{""x"": 1}"'))
    assert (status["total"], status["imported"]) == (3, 2)
    log = http.get(PATH + "/logs", headers=auth).json()["data"]
    assert "skipping invalid attributes JSON on line 1 for 'a@example.com'" in log
    assert "skipping line 2. record on line 3: wrong number of fields" in log
    assert client.find_subscriber_by_email("a@example.com").attribs == {}
    c = client.find_subscriber_by_email("c@example.com")
    assert (c.name, c.attribs) == ("C", {"x": 1})


def test_a_zip_with_one_csv(fake, client, http, auth, lists):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
        archive.writestr("people.csv", "email\nzip@example.com\n")
    answer = http.post(
        PATH,
        data={"params": json.dumps(PARAMS)},
        files={"file": ("people.zip", buffer.getvalue(), "application/zip")},
        headers=auth,
    )
    assert answer.status_code == 200
    assert fake.wait_for_import()["imported"] == 1
    assert "skipping non .csv file 'readme.txt'" in http.get(PATH + "/logs", headers=auth).text
    broken = upload(http, auth, "not a zip", filename="x.zip")
    assert (broken.status_code, broken.json()["message"]) == (
        500,
        "Error processing ZIP file: zip: not a valid zip file",
    )
    assert http.get(PATH, headers=auth).json()["data"]["status"] == "failed"


def test_stopping_and_clearing(fake, http, auth, lists):
    fake.hold_imports()
    upload(http, auth, "email\n" + "".join(f"s{i}@example.com\n" for i in range(50)))
    assert http.delete(PATH, headers=auth).json()["data"]["status"] == "stopping"
    fake.release_imports()
    assert fake.wait_for_import()["status"] == "finished"
    assert "stop request received" in http.get(PATH + "/logs", headers=auth).text
    cleared = http.delete(PATH, headers=auth).json()["data"]
    assert cleared == {"name": "", "total": 0, "imported": 0, "status": "none"}
    assert http.get(PATH + "/logs", headers=auth).json()["data"] == ""


def test_five_thousand_rows_are_quick(fake, client, http, auth, lists):
    rows = "email,name,attributes\n" + "".join(
        f'p{i}@example.com,P {i},"{{""crm"": {i}, ""tags"": [""a"", ""b""]}}"\n'
        for i in range(5000)
    )
    started = time.monotonic()
    status = run(fake, http, auth, rows)
    assert (status["imported"], status["status"]) == (5000, "finished")
    assert time.monotonic() - started < 10
    assert client.find_subscribers_by_attribute("crm", 4999)[0].email == "p4999@example.com"
    fake.state.check_indexes()


def test_faults_apply_to_the_import_routes(fake, http, auth, lists):
    fake.outage(path="^/api/import")
    assert upload(http, auth).status_code == 503
    assert http.get(PATH, headers=auth).status_code == 503
    fake.clear_faults()
    fake.inject(path="^/api/import/subscribers$", method="POST", status=502, apply=True)
    assert upload(http, auth).status_code == 502
    assert fake.wait_for_import()["imported"] == 1, "it was started all the same"


# -- the client -------------------------------------------------------------------------


def people(n, start=0):
    return [
        SubscriberData(f"p{i}@example.com", f"P {i}", {"crm": i, "tags": ("a", "b")})
        for i in range(start, start + n)
    ]


def test_import_subscribers_uploads_one_csv_and_waits(fake, client, lists):
    status = client.import_subscribers(
        [*people(3), SubscriberData('o"neil, jr@example.com', "Bad, email")],
        lists,
        subscription_status="confirmed",
        poll_interval=0.01,
    )
    assert isinstance(status, ImportStatus)
    assert (status.status, status.total, status.imported) == ("finished", 4, 3)
    assert "Invalid email" in status.log, "the log says what was skipped"
    [upload_request] = fake.calls("POST", PATH)
    assert upload_request.headers["Content-Type"].startswith("multipart/form-data")
    p1 = client.find_subscriber_by_email("p1@example.com")
    assert (p1.name, p1.attribs) == ("P 1", {"crm": 1, "tags": ["a", "b"]})
    assert {s.status for s in p1.subscriptions} == {"confirmed"}
    assert p1.list_ids == set(lists)


def test_import_status_logs_and_stop(fake, client, lists):
    assert client.import_status() == ImportStatus("", 0, 0, "none")
    client.import_subscribers(people(2), lists[:1])
    assert client.import_status().status == "finished"
    assert "imported finished" in client.import_logs()
    assert client.stop_import().status == "none"


def test_another_import_is_waited_for(fake, client, http, auth, lists):
    fake.hold_imports()
    upload(http, auth)
    threading.Timer(0.3, fake.release_imports).start()
    status = client.import_subscribers(people(2), lists, poll_interval=0.02, wait=5)
    assert (status.status, status.imported) == ("finished", 2)
    assert client.query_subscribers().total == 3
    assert status.name.startswith("marketing_trigger-"), "its own status, not the other's"


def test_a_wait_that_runs_out_is_temporary(fake, client, lists):
    fake.hold_imports()
    with pytest.raises(ListmonkImportBusy) as caught:
        client.import_subscribers(people(2), lists, poll_interval=0.02, wait=0.2)
    assert isinstance(caught.value, ListmonkUnavailable), "sync again later"
    assert "still importing" in caught.value.message
    with pytest.raises(ListmonkImportBusy) as caught:
        client.import_subscribers(people(2), lists, poll_interval=0.02, wait=0.2)
    assert "another import" in caught.value.message
    fake.release_imports()


def test_a_failed_import_raises_with_the_log(fake, client, lists, monkeypatch):
    monkeypatch.setattr(imports_module, "import_csv", lambda records: b"name\nAda\n")
    with pytest.raises(ListmonkImportFailed) as caught:
        client.import_subscribers(people(1), lists, poll_interval=0.01)
    assert "'email' column not found" in caught.value.message
    assert "processing" in caught.value.log


def test_a_lost_answer_to_the_upload_is_recovered(fake, client, lists):
    fake.inject(path=f"^{PATH}$", method="POST", status=502, apply=True, times=1)
    status = client.import_subscribers(people(2), lists, poll_interval=0.01)
    assert (status.status, status.imported) == ("finished", 2)


def test_an_outage_is_unavailable(fake, client, lists):
    fake.outage(path="^/api/import")
    with pytest.raises(ListmonkUnavailable):
        client.import_subscribers(people(2), lists)


def test_an_import_needs_a_list_and_a_permission(fake, client, lists):
    with pytest.raises(ValueError):
        client.import_subscribers(people(1), [])
    assert client.import_subscribers([], lists).imported == 0
    fake.add_user("crm", "t", {"subscribers:get_all", "lists:manage_all"})
    from listmonk import ListmonkClient

    with ListmonkClient(fake.base_url, "crm", "t", retries=0) as crm:
        with pytest.raises(ListmonkAuthError) as caught:
            crm.import_subscribers(people(1), lists)
    assert caught.value.permission == "subscribers:import"


def test_the_connection_check_probes_the_import_permission_without_importing(fake, client):
    fake.add_user("crm", "t", {"subscribers:get_all", "lists:manage_all"})
    from listmonk import ListmonkClient

    with ListmonkClient(fake.base_url, "crm", "t", retries=0) as crm:
        check = crm.check_connection()
    assert "subscribers:import" in check.missing_permissions
    assert client.check_connection().ok
    assert fake.state.import_stats()["status"] == "none", "no import was started"
    assert fake.state.import_thread is None
