"""The challenge pages (/challenges, /challenges/N) on a hub with real nodes in process: the nav
entry, a submission through the form in both languages, the private column only after the close."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import update

from hub.conftest import PASSWORD, World
from hub.test_challenges import L2, Sites, _challenge, _close, _course, _settled, cc, sites  # noqa: F401
from medhaven.hub.db import Database
from medhaven.hub.models import Challenge


def _sign_in(c: TestClient, who: str) -> str:
    r = c.post("/signin", data={"email": f"{who}@example.org", "password": PASSWORD, "next": "/"},
               follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text
    match = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/profile").text)
    assert match
    return match.group(1)


def test_challenge_pages_submit_and_leaderboard(
    cc: TestClient,  # noqa: F811
    world: World,
    db: Database,
) -> None:
    course = _course(cc, world, ["student"])
    ch = _challenge(cc, world, course, description="Find the persons at risk of CKD.")
    cid = ch["id"]
    csrf = _sign_in(cc, "student")
    listing = cc.get("/challenges")
    assert listing.status_code == 200 and f'href="/challenges/{cid}"' in listing.text
    assert 'href="/challenges"' in listing.text  # the nav entry
    page = cc.get(f"/challenges/{cid}")
    assert "Find the persons at risk of CKD." in page.text and 'id="submit"' in page.text
    r = cc.post(f"/challenges/{cid}/submissions",
                data={"csrf_token": csrf, "model": '{"kind": "logistic_l2"}'},
                follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text
    subs = _settled(cc, world, "student", cid)
    assert subs[0]["status"] == "scored"
    score = str(subs[0]["public_score"])
    page = cc.get(f"/challenges/{cid}")
    board = page.text.split('id="board"')[1]
    assert score in board and ">Private score<" not in page.text
    # the scoring job's own page shows no private score while the challenge is open
    job_page = cc.get(f"/jobs/{subs[0]['job_id']}")
    assert job_page.status_code == 200 and score in job_page.text  # the result is shown
    assert '"private"' not in job_page.text
    assert "&#34;private&#34;" not in job_page.text
    # a bad model spec: one line, nothing stored
    r = cc.post(f"/challenges/{cid}/submissions", data={"csrf_token": csrf, "model": "{kind"})
    assert r.status_code == 400 and "model: not JSON" in r.text
    # Korean
    ko = cc.get(f"/challenges/{cid}?lang=ko")
    assert "리더보드" in ko.text and "공개 점수" in ko.text
    # after the close: the private column, no form
    _close(db, cid)
    page = cc.get(f"/challenges/{cid}?lang=en")
    assert ">Private score<" in page.text and 'id="submit"' not in page.text
    private = _settled(cc, world, "student", cid)[0]["private_score"]
    assert str(private) in page.text.split('id="board"')[1]


def test_a_challenge_page_is_not_found_for_outsiders(
    cc: TestClient,  # noqa: F811
    world: World,
    db: Database,
) -> None:
    course = _course(cc, world, ["student"])
    ch = _challenge(cc, world, course)
    with db.unit() as s:
        s.execute(update(Challenge).where(Challenge.id == ch["id"]).values(title="Hidden"))
    _sign_in(cc, "researcher")
    r = cc.get(f"/challenges/{ch['id']}")
    assert r.status_code == 404 and "Hidden" not in r.text
