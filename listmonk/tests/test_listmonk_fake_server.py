"""The fake itself follows the contract (LISTMONK.md), seen from raw HTTP: if it drifted
towards what the client expects, the client's tests would prove nothing."""

import base64

import httpx
import pytest


@pytest.fixture
def http(fake):
    with httpx.Client(base_url=fake.base_url) as session:
        yield session


@pytest.fixture
def auth(fake):
    return {"Authorization": f"token {fake.username}:{fake.token}"}


def test_success_is_a_200_envelope_with_go_escapes_and_a_newline(http, auth):
    response = http.post(
        "/api/templates",
        json={"name": "t", "type": "tx", "subject": "s", "body": "<p>a & b</p>"},
        headers=auth,
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.text.endswith("}\n")
    assert "\\u003cp\\u003ea \\u0026 b\\u003c/p\\u003e" in response.text
    assert response.json()["data"]["body"] == "<p>a & b</p>"


@pytest.mark.parametrize(
    "header, message",
    [
        (None, "invalid session"),
        ("token api:wrong", "invalid API credentials"),
        ("Bearer abc", "code=400, message=unknown Authorization scheme"),
        ("Token api:x", "code=400, message=unknown Authorization scheme"),
        ("Basic %%%", "code=400, message=invalid Base64 value in Basic Authorization header"),
        ("token apitoken", "code=400, message=api_key:token missing"),
        ("token :x", "code=400, message=empty `api_key` or `token`"),
    ],
)
def test_every_auth_failure_is_a_403(http, header, message):
    response = http.get("/api/lists", headers={"Authorization": header} if header else {})
    assert (response.status_code, response.json()) == (403, {"message": message})


def test_basic_auth_with_the_api_user_works(fake, http):
    credential = base64.b64encode(f"{fake.username}:{fake.token}".encode()).decode()
    assert http.get("/api/health", headers={"Authorization": f"Basic {credential}"}).json() == {
        "data": True
    }


def test_a_session_cookie_overrides_a_valid_token(http, auth):
    response = http.get("/api/health", headers=auth | {"Cookie": "session=x"})
    assert response.status_code == 403


def test_routing_answers_before_auth(http):
    assert http.get("/api/nope").json() == {"message": "404 unknown endpoint"}
    response = http.post("/api/subscribers/3")
    assert (response.status_code, response.json()) == (405, {"message": "Method Not Allowed"})
    assert "PUT" in response.headers["allow"]
    assert http.get("/health").json() == {"data": True}
    assert http.get("/api/health").status_code == 403, "/api/health needs auth"


@pytest.mark.parametrize(
    "body, message",
    [
        (b'{"email": "a@b.com",', "unexpected EOF"),
        (b'{"email": "a@b.com", "lists": "1"}', "Unmarshal type error: expected=[]int"),
        (b'{"email": }', "Syntax error: offset="),
    ],
)
def test_binding_errors(http, auth, body, message):
    response = http.post(
        "/api/subscribers", content=body, headers=auth | {"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)


def test_ids_are_checked(http, auth):
    assert http.get("/api/subscribers/abc", headers=auth).json() == {"message": "invalid ID"}
    assert http.get("/api/subscribers/999", headers=auth).json() == {
        "message": "Subscriber (999: ) not found"
    }


def test_per_page_rules_and_lowercase_order(http, auth):
    for n in range(25):
        http.post("/api/subscribers", json={"email": f"s{n:02}@x.com"}, headers=auth)

    def page(**params):
        return http.get("/api/subscribers", params=params, headers=auth).json()["data"]

    assert (len(page(per_page="0")["results"]), page(per_page="0")["per_page"]) == (20, 20)
    assert (len(page(per_page="-1")["results"]), page(per_page="-1")["per_page"]) == (25, 0)
    assert page(per_page="all")["per_page"] == 0
    assert page(page="0", per_page="5")["page"] == 1
    ascending = page(order_by="email", order="asc", per_page="2")["results"]
    shouting = page(order_by="email", order="ASC", per_page="2")["results"]
    assert [s["email"] for s in ascending] == ["s00@x.com", "s01@x.com"]
    assert [s["email"] for s in shouting] == ["s24@x.com", "s23@x.com"], "ASC falls back to desc"


def test_sql_query_allowlist_and_errors(http, auth):
    def query(text):
        return http.get("/api/subscribers", params={"query": text}, headers=auth).json()

    assert query("subscribers.id IN (SELECT id FROM users)")["message"].startswith(
        "Error preparing subscriber query:"
    )
    assert query("EXISTS (SELECT 1 FROM settings s WHERE s.key = 'x')") == {
        "message": "Error preparing subscriber query: table 'settings' is not allowed"
    }
    assert query("subscribers.id = 0;")["data"]["query"] == "subscribers.id = 0"


def test_list_tags_and_minimal_listing(http, auth):
    assert http.get("/api/lists", params={"minimal": "true"}, headers=auth).json() == {"data": []}
    created = http.post("/api/lists", json={"name": "L", "tags": [" crm  sync "]}, headers=auth)
    assert created.json()["data"]["tags"] == ["crm-sync"]
    assert created.json()["data"]["subscription_created_at"] is None
    minimal = http.get("/api/lists", params={"minimal": "true"}, headers=auth).json()["data"]
    assert (minimal["page"], minimal["per_page"], minimal["results"][0]["subscriber_statuses"]) == (
        1,
        1,
        None,
    )


def test_the_status_answer_is_the_campaign_before_the_change(http, auth):
    list_id = http.post("/api/lists", json={"name": "L"}, headers=auth).json()["data"]["id"]
    campaign = http.post(
        "/api/campaigns", json={"name": "c", "subject": "s", "lists": [list_id]}, headers=auth
    ).json()["data"]
    answer = http.put(
        f"/api/campaigns/{campaign['id']}/status", json={"status": "running"}, headers=auth
    ).json()["data"]
    assert (answer["status"], answer["started_at"], answer["updated_at"]) == (
        "running",
        None,
        campaign["updated_at"],
    )
    bad = http.put(f"/api/campaigns/{campaign['id']}/status", json={"status": "x"}, headers=auth)
    assert bad.status_code == 500


def test_a_template_without_name_is_a_bare_500(http, auth):
    response = http.post("/api/templates", json={"type": "tx", "subject": "s"}, headers=auth)
    assert (response.status_code, response.json()) == (500, {"message": "Internal Server Error"})


def test_faults_fire_after_and_times(fake, http, auth):
    fake.inject(path="/api/health", status=503, after=1, times=2)
    statuses = [http.get("/api/health", headers=auth).status_code for _ in range(4)]
    assert statuses == [200, 503, 503, 200]
    assert [r.status for r in fake.requests] == statuses


def test_a_dropped_connection_gets_no_answer(fake, http, auth):
    fake.inject(path="/api/health", drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        http.get("/api/health", headers=auth)
    assert fake.requests[-1].status is None
