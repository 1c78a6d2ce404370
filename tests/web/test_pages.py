"""The pages over HTTP (in-process, real SQLite): sign-in, permissions, CSRF, the review flow,
tokens, audit, jobs, error pages. The browser journeys are in test_browser.py."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from medhaven.hub.api import HubConfig, create_app
from medhaven.hub.db import Database
from medhaven.hub.models import AccessRequest, Job, Role
from medhaven.hub.services import catalogue, identity
from medhaven.hub.services.common import SYSTEM_ACTOR
from web.conftest import PASSWORD, PROJECT, Seed, sign_in


def _request_count(db: Database) -> int:
    with db.unit(readonly=True) as s:
        return int(s.execute(select(func.count()).select_from(AccessRequest)).scalar_one())


def _nav(html: str) -> list[str]:
    nav = re.search(r"<nav.*?</nav>", html, re.S)
    return re.findall(r'href="([^"]+)"', nav.group(0)) if nav else []


def test_visitor_sees_the_sign_in_form_and_pages_redirect_to_it(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert 'action="/signin"' in r.text and 'type="password"' in r.text
    r = client.get("/datasets?q=x", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/signin?next=%2Fdatasets%3Fq%3Dx"


def test_sign_in_sets_httponly_cookies_and_follows_next(client: TestClient) -> None:
    r = client.post(
        "/signin",
        data={"email": Seed.email("researcher"), "password": PASSWORD, "next": "/datasets"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/datasets"
    cookies = r.headers.get_list("set-cookie")
    assert any(c.startswith("medhaven_session=") and "HttpOnly" in c for c in cookies)
    assert any(c.startswith("medhaven_csrf=") and "HttpOnly" in c for c in cookies)
    assert "Dr. Park" in client.get("/").text


@pytest.mark.parametrize(
    "target", ["//evil.example", "/\\evil.example", "https://evil.example/", "/a\\b", "/x\ny"]
)
def test_sign_in_refuses_an_open_redirect(client: TestClient, target: str) -> None:
    r = client.post(
        "/signin",
        data={"email": Seed.email("student"), "password": PASSWORD, "next": target},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"


def test_wrong_password_is_a_page_not_a_session(client: TestClient) -> None:
    r = client.post(
        "/signin", data={"email": Seed.email("student"), "password": "wrong password!!"}
    )
    assert r.status_code == 401
    assert "The email or password is wrong." in r.text
    assert "medhaven_session" not in r.cookies
    assert "wrong password!!" not in r.text  # the password is never echoed
    assert client.get("/datasets", follow_redirects=False).status_code == 303


def test_a_form_post_without_the_csrf_token_is_refused(client: TestClient, web_db: Database,
                                                      world: Seed) -> None:  # fmt: skip
    sign_in(client, "researcher")
    before = _request_count(web_db)
    body = {"project_id": str(world.project_id), "dataset_ids": str(world.dataset_id),
            "justification": "feasibility"}  # fmt: skip
    r = client.post("/requests", data={**body, "csrf_token": "forged"})
    assert r.status_code == 403
    assert "CSRF" in r.text and "<html" in r.text
    assert client.post("/requests", data=body).status_code == 403
    assert _request_count(web_db) == before


def test_student_has_no_review_queue_in_nav_or_by_url(client: TestClient) -> None:
    sign_in(client, "student")
    nav = _nav(client.get("/").text)
    assert "/datasets" in nav and "/jobs" in nav
    assert "/reviews" not in nav and "/audit" not in nav and "/requests" not in nav
    r = client.get("/reviews")
    assert r.status_code == 403
    assert "You may not open this page" in r.text and "Traceback" not in r.text
    r = client.get("/reviews?lang=ko")
    assert r.status_code == 403 and "이 페이지를 열 권한이 없습니다" in r.text


def test_reviewer_sees_queue_in_nav(client: TestClient) -> None:
    sign_in(client, "reviewer")
    assert "/reviews" in _nav(client.get("/").text)


def test_request_review_and_grant_flow(client: TestClient, world: Seed) -> None:
    rid = review_flow(client, world)
    assert "Approved" in client.get(f"/requests/{rid}").text


def review_flow(client: TestClient, world: Seed) -> int:
    """A researcher asks, a reviewer approves with conditions and expiry, the grant shows.

    Returns the request's id."""
    csrf = sign_in(client, "researcher")
    r = client.post(
        "/requests",
        data={"csrf_token": csrf, "project_id": str(world.project_id),
              "dataset_ids": str(world.dataset_id), "justification": "feasibility counts"},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303
    rid = int(r.headers["location"].rsplit("/", 1)[1])
    page = client.get(f"/requests/{rid}").text
    assert "Pending" in page and "Your decision" not in page

    client.cookies.clear()
    csrf = sign_in(client, "reviewer")
    queue = client.get("/reviews").text
    assert f'href="/requests/{rid}"' in queue and PROJECT in queue
    page = client.get(f"/requests/{rid}").text
    assert "Your decision" in page and "Predict poor glycaemic control" in page
    r = client.post(
        f"/requests/{rid}/reviews",
        data={"csrf_token": csrf, "decision": "approve", "expires_on": "2027-06-30",
              "conditions": "aggregate results only"},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303
    assert f'href="/requests/{rid}"' not in client.get("/reviews").text

    client.cookies.clear()
    sign_in(client, "researcher")
    project = client.get(f"/projects/{world.project_id}").text
    grants = project.split('id="h-grants"', 1)[1]
    assert "Active" in grants and "2027-06-30" in grants and "aggregate results only" in grants
    assert "Approved" in client.get(f"/requests/{rid}").text
    return rid


def test_rejection_without_reasons_is_a_400_page_naming_the_field(client: TestClient,
                                                                  world: Seed) -> None:  # fmt: skip
    csrf = sign_in(client, "researcher")
    client.post("/requests", data={"csrf_token": csrf, "project_id": str(world.project_id),
                                   "dataset_ids": str(world.dataset_id), "justification": "x"})  # fmt: skip
    client.cookies.clear()
    csrf = sign_in(client, "reviewer")
    r = client.post("/requests/1/reviews", data={"csrf_token": csrf, "decision": "reject"})
    assert r.status_code == 400
    assert "reasons" in r.text and "Check what you entered" in r.text
    assert "Pending" in client.get("/requests/1").text


def test_conflict_of_interest_is_shown_and_no_decision_form(client: TestClient, web_db: Database,
                                                            world: Seed) -> None:  # fmt: skip
    csrf = sign_in(client, "researcher")
    client.post("/requests", data={"csrf_token": csrf, "project_id": str(world.project_id),
                                   "dataset_ids": str(world.dataset_id), "justification": "x"})  # fmt: skip
    with web_db.unit() as s:  # the reviewer also works at the requesting university
        identity.add_role(s, user_id=world.users["reviewer"], org_id=world.orgs["University U"],
                          role=Role.RESEARCHER, actor=SYSTEM_ACTOR)  # fmt: skip
    client.cookies.clear()
    sign_in(client, "reviewer")
    page = client.get("/requests/1").text
    assert "Conflict of interest" in page and "Your decision" not in page
    queue = client.get("/reviews").text
    assert 'id="h-coi"' in queue and 'href="/requests/1"' in queue.split('id="h-coi"', 1)[1]


def test_token_is_shown_once_works_on_the_api_and_can_be_revoked(client: TestClient) -> None:
    csrf = sign_in(client, "researcher")
    r = client.post("/profile/tokens", data={"csrf_token": csrf, "name": "laptop",
                                             "scopes": "read", "ttl_days": "7"})  # fmt: skip
    assert r.status_code == 200
    secret = re.search(r'<code id="new-token">([^<]+)</code>', r.text)
    assert secret
    token = secret.group(1)
    api = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200 and api.json()["email"] == Seed.email("researcher")
    later = client.get("/profile").text
    assert token not in later and "laptop" in later
    token_id = re.search(r'action="/profile/tokens/(\d+)/revoke"', later)
    assert token_id
    client.post(f"/profile/tokens/{token_id.group(1)}/revoke", data={"csrf_token": csrf})
    api = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401


def test_token_form_with_bad_days_is_a_400_page(client: TestClient) -> None:
    csrf = sign_in(client, "researcher")
    r = client.post("/profile/tokens", data={"csrf_token": csrf, "name": "x", "scopes": "read",
                                             "ttl_days": "9999"})  # fmt: skip
    assert r.status_code == 400 and "ttl_days" in r.text


def test_catalogue_search_filters_and_dataset_page(client: TestClient, world: Seed) -> None:
    sign_in(client, "student")
    assert "Hospital A diabetes cohort" in client.get("/datasets?q=diabetes").text
    assert "Hospital A diabetes cohort" not in client.get("/datasets?q=asthma").text
    assert "Hospital A diabetes cohort" not in client.get("/datasets?domain=death").text
    assert "Hospital A diabetes cohort" in client.get("/datasets?domain=drug").text
    assert client.get("/datasets?domain=bogus").status_code == 400
    page = client.get(f"/datasets/{world.dataset_id}").text
    # released values: 6100 and 6240 (rounded to 10), the 3 unknown suppressed
    assert ">6100<" in page and ">6240<" in page and ">3<" not in page
    # bars scaled to the largest released value: 6100 / 6240 → 98 %, the suppressed one empty
    widths = re.findall(r'class="bar" style="width: (\d+)%"', page)
    assert widths == ["98", "100", "0"]
    assert "checks_passed" in page and "No re-identification." in page
    assert "Request access" not in page  # a student may not ask for access


def test_researcher_creates_a_project_and_adds_a_member(client: TestClient) -> None:
    csrf = sign_in(client, "researcher")
    r = client.post(
        "/projects",
        data={"csrf_token": csrf, "title": "Sepsis onset", "purpose": "Early warning",
              "type": "academic", "domains": ["condition", "measurement"],
              "start_date": "2026-01-01", "end_date": "2026-12-31"},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303
    url = r.headers["location"]
    r = client.post(f"{url}/members", data={"csrf_token": csrf, "email": Seed.email("student")})
    assert r.status_code == 200
    assert "Lee Student" in client.get(url).text
    r = client.post(f"{url}/members", data={"csrf_token": csrf, "email": "nobody@example.org"})
    assert r.status_code == 404 and "email" in r.text


def test_project_form_missing_title_names_the_field(client: TestClient) -> None:
    csrf = sign_in(client, "researcher")
    r = client.post("/projects", data={"csrf_token": csrf, "purpose": "p", "type": "academic",
                                       "domains": "condition", "start_date": "2026-01-01",
                                       "end_date": "2026-12-31"})  # fmt: skip
    assert r.status_code == 400 and "title" in r.text


def test_audit_viewer_for_officer_and_admin_only_with_export(client: TestClient) -> None:
    sign_in(client, "researcher")
    assert client.get("/audit").status_code == 403
    assert client.get("/audit/export?format=csv").status_code == 403
    client.cookies.clear()
    sign_in(client, "officer")
    page = client.get("/audit?verify=1").text
    assert "The chain is intact" in page
    rows = list(csv.DictReader(io.StringIO(client.get("/audit/export?format=csv").text)))
    assert [int(r["seq"]) for r in rows] == list(range(1, len(rows) + 1))
    assert {"org.create", "user.create", "auth.login"} <= {r["action"] for r in rows}
    lines = client.get("/audit/export?format=jsonl&action=user.").text.splitlines()
    assert lines and all(json.loads(x)["action"].startswith("user.") for x in lines)
    assert len(lines) == 6  # the six seeded users
    assert client.get("/audit/export?format=xml").status_code == 400


def test_job_page_polls_while_running_and_shows_the_result(client: TestClient, web_db: Database,
                                                          world: Seed) -> None:  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    with web_db.unit() as s:
        job = Job(uid="j-1", project_id=world.project_id, grant_ids=[], kind="cohort_count",
                  parameters={}, dataset_ids=[world.dataset_id], targets=["hospital-a"],
                  min_nodes=1, status="running", node_status={"hospital-a": {"status": "running"}},
                  result=None, signed_job="-", expires_at=now + dt.timedelta(hours=1),
                  submitted_by=world.users["researcher"], created_at=now, updated_at=now)  # fmt: skip
        s.add(job)
    sign_in(client, "student")  # a project member
    page = client.get("/jobs/1").text
    assert 'hx-get="/jobs/1/status"' in page and "hospital-a" in page
    assert "/static/vendor/htmx.min.js" in page
    assert client.get("/static/vendor/htmx.min.js").status_code == 200
    with web_db.unit() as s:
        row = s.get(Job, 1)
        assert row is not None
        row.status = "completed"
        row.node_status = {"hospital-a": {"status": "ok", "reason": None}}
        row.result = {  # the shape federation.combine.combine_counts stores
            "kind": "cohort_count",
            "nodes": [{"node": "hospital-a", "status": "ok", "persons": 420, "records": 1310}],
            "persons": {"value": 420, "display": "420", "lower_bound": False},
            "records": {"value": 1310, "display": "1310", "lower_bound": False},
            "complete": True,
        }
    fragment = client.get("/jobs/1/status", headers={"HX-Request": "true"})
    assert "hx-trigger" not in fragment.text and fragment.headers.get("hx-refresh") == "true"
    page = client.get("/jobs/1").text
    assert "Completed" in page
    persons = re.search(r'<th scope="row">persons</th><td>([^<]*)</td>', page)
    assert persons and persons.group(1) == "420"
    assert "<td>hospital-a</td><td>ok</td><td>420</td><td>1310</td>" in page
    client.cookies.clear()
    sign_in(client, "reviewer")  # not a member: the job does not exist for them
    assert client.get("/jobs/1").status_code == 404


def test_error_pages_are_html_in_the_users_language_and_api_stays_json(
    client: TestClient,
) -> None:
    r = client.get("/no/such/page?lang=ko")
    assert r.status_code == 404 and "페이지를 찾을 수 없습니다" in r.text
    r = client.get("/api/v1/no-such")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    sign_in(client, "student")
    r = client.get("/datasets/999999")
    assert r.status_code == 404 and "<nav" in r.text


def test_an_internal_error_is_a_friendly_500_page(
    web_db: Database, world: Seed, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(HubConfig(database_url=web_db.url, secure_cookies=False), database=web_db)
    with TestClient(app, raise_server_exceptions=False) as c:
        sign_in(c, "student")
        monkeypatch.setattr(catalogue, "view", lambda *a, **k: 1 / 0)
        r = c.get(f"/datasets/{world.dataset_id}")
    assert r.status_code == 500
    assert "Something went wrong on our side" in r.text
    assert "ZeroDivisionError" not in r.text and "Traceback" not in r.text


def test_sign_out_ends_the_session(client: TestClient) -> None:
    csrf = sign_in(client, "student")
    session_cookie = client.cookies.get("medhaven_session")
    r = client.post("/signout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    client.cookies.set("medhaven_session", str(session_cookie))  # replaying the old cookie
    assert client.get("/datasets", follow_redirects=False).status_code == 303


def test_a_poll_after_the_session_ended_sends_the_browser_to_sign_in(client: TestClient) -> None:
    r = client.get(
        "/jobs/1/status",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/jobs/1?x=1"},
        follow_redirects=False,
    )
    assert r.status_code == 204
    assert r.headers["hx-redirect"] == "/signin?next=%2Fjobs%2F1%3Fx%3D1"


def test_language_switcher_keeps_the_search(client: TestClient) -> None:
    sign_in(client, "student")
    page = client.get("/datasets?q=diabetes&domain=drug").text
    assert 'href="/datasets?q=diabetes&amp;domain=drug&amp;lang=ko"' in page
    page = client.get("/datasets?q=diabetes&lang=ko").text
    assert 'href="/datasets?q=diabetes&amp;lang=en"' in page


def _node_characterization(persons: int, diabetes: int) -> dict[str, object]:
    return {"kind": "cohort_characterization", "raw": False, "min_cell_count": 5,
            "rounding_base": None, "cohort": "c1",
            "sections": [
                {"name": "persons", "title": "Persons", "type": "count", "value": persons,
                 "display": str(persons), "suppressed": False},
                {"name": "prior_condition", "title": "Conditions", "type": "concepts",
                 "top": 20, "rows": [{"concept_id": 201826, "concept_name": "Type 2 diabetes",
                                      "persons": diabetes, "records": diabetes * 3}]}]}  # fmt: skip


def test_characterization_result_is_shown_section_by_section(
    client: TestClient, web_db: Database, world: Seed
) -> None:
    from medhaven.federation.combine import combine

    replies = [
        {"node": n, "job_id": "j", "status": "ok", "reason": None,
         "result": _node_characterization(p, d)}
        for n, p, d in (("hospital-a", 120, 40), ("hospital-b", 80, 30))
    ]  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    with web_db.unit() as s:
        s.add(Job(uid="c-1", project_id=world.project_id, grant_ids=[], kind="characterize",
                  parameters={}, dataset_ids=[world.dataset_id],
                  targets=["hospital-a", "hospital-b"], min_nodes=1, status="completed",
                  node_status={"hospital-a": {"status": "ok"}, "hospital-b": {"status": "ok"}},
                  result={"kind": "characterize",
                          "nodes": {r["node"]: r["result"] for r in replies},
                          "combined": combine("characterize", replies)},
                  signed_job="-", expires_at=now + dt.timedelta(hours=1),
                  submitted_by=world.users["researcher"], created_at=now, updated_at=now))  # fmt: skip
    sign_in(client, "researcher")
    page = client.get("/jobs/1").text
    persons = re.search(r'<th scope="row" lang="en">Persons</th>((?:<td>[^<]*</td>)+)', page)
    assert persons and persons.group(1) == "<td>120</td><td>80</td><td>200</td>"  # per node, sum
    conditions = page.split('<caption lang="en">Conditions</caption>', 1)[1].split("</table>")[0]
    assert "Type 2 diabetes" in conditions and "<td>70</td>" in conditions  # 40 + 30 persons


def test_withdrawing_twice_is_a_409_page(client: TestClient, world: Seed) -> None:
    csrf = sign_in(client, "researcher")
    client.post("/requests", data={"csrf_token": csrf, "project_id": str(world.project_id),
                                   "dataset_ids": str(world.dataset_id), "justification": "x"})  # fmt: skip
    first = client.post("/requests/1/withdraw", data={"csrf_token": csrf})
    assert first.status_code == 200 and "Withdrawn" in first.text
    again = client.post("/requests/1/withdraw", data={"csrf_token": csrf})
    assert again.status_code == 409
    assert "This conflicts with the current state" in again.text
    assert "already withdrawn" in again.text


def test_custodian_dashboard_lists_the_hospitals_datasets(client: TestClient, world: Seed) -> None:
    sign_in(client, "custodian")
    page = client.get("/").text
    own = page.split('id="h-own"', 1)[1].split("</section>", 1)[0]
    assert f'href="/datasets/{world.dataset_id}"' in own and "No quality summary" not in own
    client.cookies.clear()
    sign_in(client, "researcher")
    assert 'id="h-own"' not in client.get("/").text


def test_audit_pages_keep_the_filter(client: TestClient) -> None:
    sign_in(client, "admin")
    for _ in range(3):  # 50+ entries of one kind: dataset searches
        for _ in range(20):
            client.get("/datasets")
    page = client.get("/audit?action=dataset.search").text
    link = re.search(r'<a href="(\?[^"]+)">Next page</a>', page)
    assert link and link.group(1) == "?action=dataset.search&amp;offset=50"
    second = client.get("/audit?action=dataset.search&offset=50").text
    assert "dataset.search" in second and "user.create" not in second
    assert 'href="/audit/export?format=csv&amp;action=dataset.search"' in page
