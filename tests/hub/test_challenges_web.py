"""The challenge pages (/challenges, /challenges/N) on a hub with real nodes in process: the nav
entry, a submission through the form in both languages, the private column only after the close."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from hub.conftest import PASSWORD, World
from hub.test_challenges import L2, Sites, _challenge, _close, _course, _settled, cc, sites  # noqa: F401
from medhaven.hub.db import Database
from medhaven.hub.models import AuditEntry, Challenge
from medhaven.hub.permissions import V1


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


def _form(course: dict[str, Any], csrf: str, **over: Any) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    return {"csrf_token": csrf, "title": "Predict CKD (web)", "description": "From the form.",
            "mode": "predictions", "target_cohort": "essential_hypertension",
            "outcome_cohort": "chronic_kidney_disease", "risk_window_start": "1",
            "risk_window_end": "365", "task_name": "ckd-web",
            "opens_at": (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "closes_at": (now + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
            "max_daily": "4", "test_fraction": "0.5", "public_fraction": "0.4",
            "score_digits": "2", "dataset_ids": list(course["datasets"].values()),
            **over}  # fmt: skip


def _count(db: Database) -> int:
    with db.unit(readonly=True) as s:
        return int(s.execute(select(func.count(Challenge.id))).scalar_one())


def test_the_instructor_creates_a_challenge_with_the_form(
    cc: TestClient,  # noqa: F811
    world: World,
    db: Database,
) -> None:
    course = _course(cc, world, ["student"])
    csrf = _sign_in(cc, "instructor")
    page = cc.get(f"/courses/{course['id']}")
    assert f'href="/courses/{course["id"]}/challenges/new"' in page.text
    form = cc.get(f"/courses/{course['id']}/challenges/new")
    assert form.status_code == 200 and 'id="challenge-form"' in form.text
    for name, ds in course["datasets"].items():  # the course's granted datasets to choose from
        assert f'value="{ds}"> {name}' in form.text
    ko = cc.get(f"/courses/{course['id']}/challenges/new?lang=ko")
    assert "새 챌린지" in ko.text and "챌린지 만들기" in ko.text
    url = f"/courses/{course['id']}/challenges"
    bad = {"closes_at": _form(course, csrf)["opens_at"]}  # closes when it opens
    for over, message in ((bad, "closes_at: must be after opens_at"),
                          ({"public_fraction": "1.5"}, "public_fraction: must be between 0 and 1"),
                          ({"score_digits": "x"}, "score_digits: a number"),
                          ({"mode": "essay"}, "mode: must be one of model, predictions"),
                          ({"target_cohort": "nope"}, "target_cohort: pick a cohort"),
                          ({"opens_at": "soon"}, "opens_at: a date and time"),
                          ({"dataset_ids": []}, "dataset_ids: choose at least one"),
                          ({"dataset_ids": ["999"]}, "dataset_ids: dataset 999 has no active grant"),
                          ):  # fmt: skip
        r = cc.post(url, data=_form(course, csrf, **over))
        assert r.status_code == 400, (over, r.text[:300])
        assert 'id="challenge-error"' in r.text and message in r.text, over
        assert 'value="Predict CKD (web)"' in r.text  # the form keeps what was typed
    assert _count(db) == 0
    r = cc.post(url, data={k: v for k, v in _form(course, csrf).items() if k != "csrf_token"},
                follow_redirects=False)  # fmt: skip
    assert r.status_code == 403 and _count(db) == 0  # no CSRF token
    r = cc.post(url, data=_form(course, csrf), follow_redirects=False)
    assert r.status_code == 303, r.text
    cid = int(r.headers["location"].rsplit("/", 1)[1])
    api = cc.get(f"{V1}/challenges/{cid}", headers=world.auth("student")).json()
    assert api["title"] == "Predict CKD (web)" and api["mode"] == "predictions"
    assert (api["max_daily"], api["public_fraction"], api["test_fraction"],
            api["score_digits"]) == (4, 0.4, 0.5, 2)  # fmt: skip
    assert api["task"] == {"name": "ckd-web", "target_cohort": "essential_hypertension",
                           "outcome_cohort": "chronic_kidney_disease",
                           "risk_window_start": 1, "risk_window_end": 365}  # fmt: skip
    assert sorted(api["dataset_ids"]) == sorted(course["datasets"].values())
    with db.unit(readonly=True) as s:
        actions = s.execute(select(AuditEntry.action).where(AuditEntry.object_id == str(cid),
                            AuditEntry.object_type == "challenge")).scalars().all()  # fmt: skip
    assert "challenge.create" in actions
    # a student may neither see the form nor post it
    scsrf = _sign_in(cc, "student")
    assert cc.get(f"/courses/{course['id']}/challenges/new").status_code == 403
    r = cc.post(url, data=_form(course, scsrf), follow_redirects=False)
    assert r.status_code == 403 and _count(db) == 1
