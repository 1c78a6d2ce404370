"""Administration and publishing pages over HTTP (in-process, real SQLite): who may open them,
organisations and users created, roles granted and revoked, the self-lockout guard, CSRF, and
publishing with the release gate's verdict (refused by the service, so by the API too)."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from medhaven.deid.risk_gate import evaluate_release
from medhaven.hub.db import Database
from medhaven.hub.models import AuditEntry, Dataset, Org, User
from web.conftest import PASSWORD, Seed, sign_in

ROLE_KEYS = ["custodian", "researcher", "student", "reviewer", "officer", "admin"]


def _nav(page: str) -> list[str]:
    nav = re.search(r"<nav.*?</nav>", page, re.S)
    return re.findall(r'href="([^"]+)"', nav.group(0)) if nav else []


def _count(db: Database, model: type[Any]) -> int:
    with db.unit(readonly=True) as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def _actions(db: Database, prefix: str) -> list[str]:
    with db.unit(readonly=True) as s:
        stmt = select(AuditEntry.action).where(AuditEntry.action.startswith(prefix))
        return list(s.execute(stmt).scalars())


def _verdict(*, passes: bool) -> dict[str, Any]:
    """A real verdict of the release gate: 10 people in 2 age groups, or 10 distinct ages."""
    ages = [40] * 5 + [50] * 5 if passes else list(range(30, 40))
    frame = pd.DataFrame({"age": ages, "sex": ["F"] * 10})
    return evaluate_release(frame, ["age", "sex"], k_min=5, max_avg_risk=0.5).as_dict()


def _publication(world: Seed, verdict: dict[str, Any] | None, **over: Any) -> dict[str, Any]:
    quality: dict[str, Any] = {"checks_passed": 40, "checks_failed": 0}
    if verdict is not None:
        quality["risk_gate"] = verdict
    return {
        "org_id": world.orgs["Hospital A"], "name": "Hospital A stroke registry",
        "description": "Stroke admissions 2018-2024", "domains": ["condition", "procedure"],
        "period_start": "2018-01-01", "period_end": "2024-12-31", "person_count": 12344,
        "characterization": {"sex": {"female": 6100, "male": 6242, "unknown": 3}},
        "quality_summary": quality, "terms_of_use": "No re-identification.", **over,
    }  # fmt: skip


# -- who may open what ---------------------------------------------------------------------


@pytest.mark.parametrize("key", ROLE_KEYS)
def test_each_page_per_role(client: TestClient, key: str) -> None:
    sign_in(client, key)
    may_read_users = key in {"admin", "officer"}
    for path in ("/admin/users", "/admin/orgs"):
        r = client.get(path)
        assert r.status_code == (200 if may_read_users else 403), (key, path)
        if not may_read_users:
            assert "You may not open this page" in r.text and "Traceback" not in r.text
    r = client.get("/datasets/publish")
    assert r.status_code == (200 if key == "custodian" else 403), key
    nav = _nav(client.get("/").text)
    assert ("/admin/users" in nav) is may_read_users
    assert ("/admin/orgs" in nav) is may_read_users
    if may_read_users:  # the forms only for the admin (program officers: read only)
        users_page = client.get("/admin/users").text
        assert ('method="post" action="/admin/users"' in users_page) is (key == "admin")
        assert ('action="/admin/orgs"' in client.get("/admin/orgs").text) is (key == "admin")


def test_program_officer_may_not_post_admin_forms(
    client: TestClient, web_db: Database, world: Seed
) -> None:
    csrf = sign_in(client, "officer")
    users = _count(web_db, User)
    r = client.post("/admin/users", data={
        "csrf_token": csrf, "email": "new@example.org", "name": "New",
        "org_id": str(world.orgs["Hospital A"]), "role": "custodian"})  # fmt: skip
    assert r.status_code == 403
    r = client.post(f"/admin/users/{world.users['student']}/active",
                    data={"csrf_token": csrf, "active": "false"})  # fmt: skip
    assert r.status_code == 403
    assert _count(web_db, User) == users
    assert "Lee Student" in client.get("/admin/users?q=student").text  # reading is allowed
    page = client.get(f"/admin/users/{world.users['student']}").text
    assert (
        "<td>University U</td><td>Student</td>" in page
        and 'method="post"' not in page.split("<main")[1]
    )


# -- organisations and users ---------------------------------------------------------------


def test_admin_creates_an_organisation(client: TestClient, web_db: Database) -> None:
    csrf = sign_in(client, "admin")
    orgs = _count(web_db, Org)
    r = client.post("/admin/orgs", data={"csrf_token": csrf, "name": "Hospital B",
                                         "kind": "hospital"}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/admin/orgs"
    page = client.get("/admin/orgs").text
    assert re.search(r"<td>Hospital B</td><td>Hospital</td><td>No</td><td>0</td>", page)
    assert re.search(r"<td>University U</td><td>University</td><td>No</td><td>2</td>", page)
    r = client.post("/admin/orgs", data={"csrf_token": csrf, "name": "X", "kind": "castle"})
    assert r.status_code == 400 and "kind" in r.text
    r = client.post("/admin/orgs", data={"csrf_token": csrf, "name": "Hospital C",
                                         "kind": "hospital", "review_board": "yes"})  # fmt: skip
    assert r.status_code == 400 and "review_board" in r.text
    assert _count(web_db, Org) == orgs + 1
    assert _actions(web_db, "org.create")[-1:] == ["org.create"]


def test_admin_creates_a_user_who_then_signs_in(
    client: TestClient, web_db: Database, world: Seed
) -> None:
    csrf = sign_in(client, "admin")
    r = client.post("/admin/users", data={
        "csrf_token": csrf, "email": "Nurse.Choi@Example.org", "name": "Choi Nurse",
        "org_id": str(world.orgs["Hospital A"]), "role": "custodian"})  # fmt: skip
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    match = re.search(r'<code id="initial-password">([^<]+)</code>', r.text)
    assert match, "the initial password is not shown"
    password = html.unescape(match.group(1))
    assert len(password) >= 12
    with web_db.unit(readonly=True) as s:
        user = s.execute(select(User).where(User.email == "nurse.choi@example.org")).scalar_one()
        assert password not in user.password_hash
        user_id = user.id
    again = client.get(f"/admin/users/{user_id}").text
    assert password not in again and "Choi Nurse" in again  # shown once only
    assert "Data custodian — Hospital A" in again
    other = TestClient(client.app, base_url="http://testserver")
    r = other.post("/signin", data={"email": "nurse.choi@example.org", "password": password},
                   follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    assert other.get("/datasets/publish").status_code == 200  # a custodian at once
    r = client.post("/admin/users", data={
        "csrf_token": csrf, "email": "nurse.choi@example.org", "name": "Again",
        "org_id": str(world.orgs["Hospital A"]), "role": "custodian"})  # fmt: skip
    assert r.status_code == 409 and password not in r.text


def test_grant_and_revoke_a_role(client: TestClient, web_db: Database, world: Seed) -> None:
    csrf = sign_in(client, "admin")
    uid = world.users["researcher"]
    other = TestClient(client.app, base_url="http://testserver")
    sign_in(other, "researcher")
    assert other.get("/reviews").status_code == 403
    grant = {"csrf_token": csrf, "org_id": str(world.orgs["Review Board"]), "role": "reviewer"}
    r = client.post(f"/admin/users/{uid}/roles", data=grant, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/admin/users/{uid}"
    assert "Reviewer — Review Board" in client.get(f"/admin/users/{uid}").text
    assert other.get("/reviews").status_code == 200  # the role works in the next request
    r = client.post(f"/admin/users/{uid}/roles/revoke", data=grant, follow_redirects=False)
    assert r.status_code == 303
    assert "Reviewer — Review Board" not in client.get(f"/admin/users/{uid}").text
    assert other.get("/reviews").status_code == 403
    assert _actions(web_db, "user.add_role") == ["user.add_role"]
    assert _actions(web_db, "user.remove_role") == ["user.remove_role"]


def test_deactivate_and_reactivate_a_user(
    client: TestClient, web_db: Database, world: Seed
) -> None:
    csrf = sign_in(client, "admin")
    other = TestClient(client.app, base_url="http://testserver")
    sign_in(other, "student")
    uid = world.users["student"]
    r = client.post(f"/admin/users/{uid}/active", data={"csrf_token": csrf, "active": "false"},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    assert other.get("/jobs", follow_redirects=False).status_code == 303  # signed out at once
    r = other.post("/signin", data={"email": Seed.email("student"), "password": PASSWORD})
    assert r.status_code == 401
    assert "Deactivated" in client.get("/admin/users?q=student").text
    client.post(f"/admin/users/{uid}/active", data={"csrf_token": csrf, "active": "true"})
    sign_in(other, "student")
    assert _actions(web_db, "user.deactivate") == ["user.deactivate"]
    assert _actions(web_db, "user.activate") == ["user.activate"]


def test_an_admin_may_not_lock_themselves_out(
    client: TestClient, web_db: Database, world: Seed
) -> None:
    csrf = sign_in(client, "admin")
    me = world.users["admin"]
    page = client.get(f"/admin/users/{me}").text
    assert f'action="/admin/users/{me}/active"' not in page  # no button to deactivate oneself
    r = client.post(f"/admin/users/{me}/active", data={"csrf_token": csrf, "active": "false"})
    assert r.status_code == 409
    assert "This conflicts with the current state" in r.text
    assert "you may not deactivate yourself" in r.text
    r = client.post(f"/admin/users/{me}/roles/revoke", data={
        "csrf_token": csrf, "org_id": str(world.orgs["Ministry M"]), "role": "admin"})  # fmt: skip
    assert r.status_code == 409 and "your own last admin role" in r.text
    assert client.get("/admin/users").status_code == 200  # still an admin
    assert _actions(web_db, "user.deactivate") == [] and _actions(web_db, "user.remove") == []


def test_admin_posts_without_the_csrf_token_write_nothing(
    client: TestClient, web_db: Database, world: Seed
) -> None:
    sign_in(client, "admin")
    users, orgs = _count(web_db, User), _count(web_db, Org)
    body = {"email": "x@example.org", "org_id": str(world.orgs["Hospital A"]), "role": "student"}
    for token in (None, "forged"):
        extra = {} if token is None else {"csrf_token": token}
        assert client.post("/admin/users", data={**body, **extra}).status_code == 403
        r = client.post("/admin/orgs", data={"name": "Z", "kind": "company", **extra})
        assert r.status_code == 403 and "CSRF" in r.text
        r = client.post(f"/admin/users/{world.users['student']}/active",
                        data={"active": "false", **extra})  # fmt: skip
        assert r.status_code == 403
    assert (_count(web_db, User), _count(web_db, Org)) == (users, orgs)
    assert _actions(web_db, "user.deactivate") == []


def test_korean_users_page(client: TestClient) -> None:
    sign_in(client, "admin")
    r = client.get("/admin/users?lang=ko")
    assert r.status_code == 200 and '<html lang="ko">' in r.text
    assert "사용자 만들기" in r.text and "관리자 — Ministry M" in r.text
    assert "Create a user" not in r.text


# -- publishing ----------------------------------------------------------------------------


def _preview(client: TestClient, csrf: str, body: dict[str, Any]) -> Any:
    """Upload the publication as a file (multipart), as the browser's file input sends it."""
    return client.post(
        "/datasets/publish/preview",
        data={"csrf_token": csrf},
        files={"publication_file": ("dataset.json", json.dumps(body), "application/json")},
    )


def _hidden_publication(page: str) -> str:
    match = re.search(r'name="publication" value="([^"]*)"', page)
    assert match, "no publish form"
    return html.unescape(match.group(1))


def test_preview_then_publish_a_passing_verdict(
    client: TestClient, web_db: Database, world: Seed
) -> None:
    csrf = sign_in(client, "custodian")
    before = _count(web_db, Dataset)
    r = _preview(client, csrf, _publication(world, _verdict(passes=True)))
    assert r.status_code == 200, r.text
    assert '<dd id="preview-persons">12340</dd>' in r.text  # rounded to tens, not 12344
    assert re.search(r"<th scope=\"row\">unknown</th>.*?<span class=\"val\">&lt;5</span>",
                     r.text, re.S)  # 3 is suppressed  # fmt: skip
    assert "The release gate passed: k = 5 (at least 5)" in r.text
    assert _count(web_db, Dataset) == before  # a preview stores nothing
    r = client.post("/datasets/publish", data={"csrf_token": csrf,
                    "publication": _hidden_publication(r.text)}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "Hospital A stroke registry" in page
    assert "Release gate: passed (k = 5, at least 5)." in page
    with web_db.unit(readonly=True) as s:
        ds = s.execute(select(Dataset).where(Dataset.name == "Hospital A stroke registry")).one()[0]
        assert ds.person_count == 12340
        assert ds.characterization["sex"]["unknown"]["value"] is None


def test_a_refused_verdict_is_shown_and_refused_by_the_service_and_the_api(
    client: TestClient, web_db: Database, world: Seed
) -> None:
    csrf = sign_in(client, "custodian")
    before = _count(web_db, Dataset)
    body = _publication(world, _verdict(passes=False))
    r = _preview(client, csrf, body)
    assert r.status_code == 200
    assert "The release gate refused this dataset" in r.text
    assert "k = 1 is below the minimum 5" in r.text
    assert "Suggested generalisation" in r.text and "age →" in html.unescape(r.text)
    assert 'action="/datasets/publish"' not in r.text  # no publish button
    r = client.post("/datasets/publish", data={"csrf_token": csrf,
                                               "publication": json.dumps(body)})  # fmt: skip
    assert r.status_code == 422
    assert "quality_summary.risk_gate: the release gate refused this dataset" in r.text
    token = client.post(
        "/api/v1/auth/token",
        json={"email": Seed.email("custodian"), "password": PASSWORD, "scopes": ["read", "write"]},
    )
    api = client.post("/api/v1/datasets", json=body,
                      headers={"Authorization": f"Bearer {token.json()['token']}"})  # fmt: skip
    assert api.status_code == 422
    assert api.json()["error"]["message"].startswith("quality_summary.risk_gate: the release")
    assert _count(web_db, Dataset) == before


def test_no_verdict_is_published_with_a_warning(
    client: TestClient, web_db: Database, world: Seed
) -> None:
    csrf = sign_in(client, "custodian")
    body = _publication(world, None, name="No verdict registry")
    r = client.post(
        "/datasets/publish/preview", data={"csrf_token": csrf, "publication": json.dumps(body)}
    )  # pasted
    assert r.status_code == 200
    assert "No risk gate verdict: this file does not say" in r.text
    r = client.post("/datasets/publish", data={"csrf_token": csrf,
                    "publication": _hidden_publication(r.text)}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "No risk gate verdict was published with this dataset." in page


def test_bad_publications_and_other_hospitals_are_refused(
    client: TestClient, web_db: Database, world: Seed
) -> None:
    csrf = sign_in(client, "custodian")
    before = _count(web_db, Dataset)
    r = client.post("/datasets/publish/preview",
                    data={"csrf_token": csrf, "publication": "{not json"})  # fmt: skip
    assert r.status_code == 400 and "publication: not JSON (line 1)" in r.text
    r = _preview(client, csrf, _publication(world, None, person_count=-1))
    assert r.status_code == 400 and "person_count" in r.text
    r = _preview(client, csrf, _publication(world, None, org_id=world.orgs["University U"]))
    assert r.status_code == 403 and "not a custodian of that organisation" in r.text
    r = client.post("/datasets/publish/preview", data={"csrf_token": "forged",
                    "publication": json.dumps(_publication(world, None))})  # fmt: skip
    assert r.status_code == 403
    r = client.post(
        "/datasets/publish", data={"publication": json.dumps(_publication(world, None))}
    )
    assert r.status_code == 403
    assert _count(web_db, Dataset) == before


def test_custodian_edits_and_retires_on_the_dataset_page(
    client: TestClient, web_db: Database, world: Seed
) -> None:
    other = TestClient(client.app, base_url="http://testserver")
    sign_in(other, "researcher")
    assert "Edit this catalogue entry" not in other.get(f"/datasets/{world.dataset_id}").text
    csrf = sign_in(client, "custodian")
    page = client.get(f"/datasets/{world.dataset_id}").text
    assert "Edit this catalogue entry" in page
    r = client.post(f"/datasets/{world.dataset_id}/edit", data={
        "csrf_token": csrf, "description": "Adults with type 2 diabetes, 2015-2024",
        "terms_of_use": "No linkage.", "teaching": "yes"}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    page = client.get(f"/datasets/{world.dataset_id}").text
    assert "2015-2024" in page and "No linkage." in page
    r = client.post(f"/datasets/{world.dataset_id}/retire",
                    data={"csrf_token": csrf, "reason": ""})  # fmt: skip
    assert r.status_code == 400 and "reason" in r.text
    r = client.post(
        f"/datasets/{world.dataset_id}/retire",
        data={"csrf_token": csrf, "reason": "superseded"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(f"/datasets/{world.dataset_id}").text
    assert "Edit this catalogue entry" not in page and "Retired" in page
    with web_db.unit(readonly=True) as s:
        ds = s.get(Dataset, world.dataset_id)
        assert ds is not None and ds.teaching is True and ds.retired_at is not None


def test_review_board_flag_and_the_admin_dashboard(
    client: TestClient, web_db: Database, world: Seed
) -> None:
    csrf = sign_in(client, "admin")
    home = client.get("/").text
    assert "6 users (0 deactivated) in 4 organisations." in home
    ministry = world.orgs["Ministry M"]
    page = client.get("/admin/orgs").text
    assert f'action="/admin/orgs/{ministry}/review-board"' in page
    assert f'action="/admin/orgs/{world.orgs["Hospital A"]}/review-board"' not in page
    r = client.post(
        f"/admin/orgs/{ministry}/review-board",
        data={"csrf_token": csrf, "review_board": "true"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with web_db.unit(readonly=True) as s:
        org = s.get(Org, ministry)
        assert org is not None and org.review_board is True
    r = client.post(f"/admin/orgs/{world.orgs['Hospital A']}/review-board",
                    data={"csrf_token": csrf, "review_board": "true"})  # fmt: skip
    assert r.status_code == 400 and "review_board" in r.text
    assert _actions(web_db, "org.review_board") == ["org.review_board"]
    sign_in(client, "researcher")
    assert "users (" not in client.get("/").text
