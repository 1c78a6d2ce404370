"""A small httpx client for the hub API, used by the CLI and usable from notebooks.

>>> hub = HubClient("http://127.0.0.1:8700")
>>> hub.login("me@example.org", "...")           # stores the API token on the client
>>> hub.datasets(q="diabetes")["items"]

Errors come back as the same typed :mod:`medhaven.errors` the hub raised
(same code, same one-line message).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from medhaven.errors import (
    CATALOGUE,
    AuditBroken,
    Conflict,
    ConflictOfInterest,
    Forbidden,
    HubUnreachable,
    InvalidInput,
    MedHavenError,
    NotFound,
    RateLimited,
    Unauthorized,
)

_ERRORS: dict[str, type[MedHavenError]] = {
    cls.code: cls
    for cls in (
        AuditBroken,
        Conflict,
        ConflictOfInterest,
        Forbidden,
        InvalidInput,
        NotFound,
        RateLimited,
        Unauthorized,
    )
}
JSON = dict[str, Any]


class _RemoteError(MedHavenError):
    """An error code this client has no class for; keeps the hub's code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self._code = code

    @property
    def exit_code(self) -> int:
        """The catalogue's exit code for the hub's code."""
        spec = CATALOGUE.get(self._code)
        return spec.exit_code if spec else 1


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        err = response.json()["error"]
        code, message = str(err["code"]), str(err["message"])
    except (ValueError, KeyError, TypeError):
        raise MedHavenError(f"the hub answered HTTP {response.status_code}") from None
    cls = _ERRORS.get(code)
    raise cls(message) if cls else _RemoteError(code, message)


class HubClient:
    """A client for one hub; ``token`` is an API token (``mht_...``)."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._http = httpx.Client(base_url=self.base_url + "/api/v1", timeout=timeout)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, json=json, params=clean, headers=headers)
        except httpx.HTTPError as exc:
            raise HubUnreachable(f"the hub at {self.base_url} did not answer") from exc
        _raise_for(response)
        return response.json() if response.content else None

    # identity
    def login(
        self,
        email: str,
        password: str,
        *,
        name: str = "cli",
        scopes: tuple[str, ...] = ("read", "write"),
        ttl_days: int = 30,
    ) -> JSON:
        """Exchange email and password for an API token, keep it on this client, return it."""
        out: JSON = self._call(
            "POST",
            "/auth/token",
            json={
                "email": email,
                "password": password,
                "name": name,
                "scopes": list(scopes),
                "ttl_days": ttl_days,
            },
        )
        self.token = str(out["token"])
        return out

    def logout(self) -> None:
        """Revoke the token this client uses."""
        self._call("POST", "/auth/logout")
        self.token = None

    def me(self) -> JSON:
        """Who the token belongs to."""
        out: JSON = self._call("GET", "/me")
        return out

    def tokens(self, *, limit: int = 50, offset: int = 0) -> JSON:
        """Your API tokens (without secrets)."""
        out: JSON = self._call("GET", "/auth/tokens", params={"limit": limit, "offset": offset})
        return out

    def orgs(self, *, kind: str | None = None, limit: int = 50, offset: int = 0) -> JSON:
        """Organisations."""
        out: JSON = self._call(
            "GET", "/orgs", params={"kind": kind, "limit": limit, "offset": offset}
        )
        return out

    def create_org(self, *, name: str, kind: str, review_board: bool = False) -> JSON:
        """A new organisation (admins); ``review_board``: a central review board."""
        out: JSON = self._call(
            "POST", "/orgs", json={"name": name, "kind": kind, "review_board": review_board}
        )
        return out

    def set_review_board(self, org_id: int, *, review_board: bool) -> JSON:
        """Make an organisation a central review board, or stop it being one (admins)."""
        out: JSON = self._call(
            "POST", f"/orgs/{org_id}/review-board", json={"review_board": review_board}
        )
        return out

    def users(self, *, limit: int = 50, offset: int = 0) -> JSON:
        """All users (admins)."""
        out: JSON = self._call("GET", "/users", params={"limit": limit, "offset": offset})
        return out

    def create_user(
        self, *, email: str, password: str, org_id: int, role: str, name: str = ""
    ) -> JSON:
        """A new user with a first role (admins)."""
        body = {"email": email, "password": password, "org_id": org_id, "role": role, "name": name}
        out: JSON = self._call("POST", "/users", json=body)
        return out

    def add_role(self, user_id: int, *, org_id: int, role: str) -> JSON:
        """Give a user a role in an organisation (admins)."""
        out: JSON = self._call(
            "POST", f"/users/{user_id}/roles", json={"org_id": org_id, "role": role}
        )
        return out

    def remove_role(self, user_id: int, *, org_id: int, role: str) -> JSON:
        """Take a role in an organisation away from a user (admins)."""
        out: JSON = self._call(
            "POST", f"/users/{user_id}/roles/revoke", json={"org_id": org_id, "role": role}
        )
        return out

    def set_active(self, user_id: int, *, active: bool) -> JSON:
        """Deactivate or reactivate a user (admins)."""
        out: JSON = self._call("POST", f"/users/{user_id}/active", json={"active": active})
        return out

    def revoke_token(self, token_id: int) -> JSON:
        """Revoke an API token (your own; an admin: anyone's)."""
        out: JSON = self._call("DELETE", f"/auth/tokens/{token_id}")
        return out

    # catalogue
    def datasets(
        self,
        *,
        q: str | None = None,
        org_id: int | None = None,
        domain: str | None = None,
        teaching: bool | None = None,
        include_retired: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> JSON:
        """Search the catalogue (retired datasets only with ``include_retired``)."""
        params = {
            "q": q,
            "org_id": org_id,
            "domain": domain,
            "teaching": teaching,
            "include_retired": include_retired or None,
            "limit": limit,
            "offset": offset,
        }
        out: JSON = self._call("GET", "/datasets", params=params)
        return out

    def dataset(self, dataset_id: int) -> JSON:
        """One catalogue entry."""
        out: JSON = self._call("GET", f"/datasets/{dataset_id}")
        return out

    def publish_dataset(self, body: JSON) -> JSON:
        """Publish a dataset (custodians)."""
        out: JSON = self._call("POST", "/datasets", json=body)
        return out

    def update_dataset(self, dataset_id: int, changes: JSON) -> JSON:
        """Change a dataset's description, terms of use or teaching flag (its custodians)."""
        out: JSON = self._call("PATCH", f"/datasets/{dataset_id}", json=changes)
        return out

    def retire_dataset(self, dataset_id: int, *, reason: str) -> JSON:
        """Retire a dataset: no new requests; existing grants keep their expiry (custodians)."""
        out: JSON = self._call("POST", f"/datasets/{dataset_id}/retire", json={"reason": reason})
        return out

    # projects
    def projects(self, *, limit: int = 50, offset: int = 0) -> JSON:
        """Projects you may see."""
        out: JSON = self._call("GET", "/projects", params={"limit": limit, "offset": offset})
        return out

    def project(self, project_id: int) -> JSON:
        """One project."""
        out: JSON = self._call("GET", f"/projects/{project_id}")
        return out

    def create_project(self, body: JSON) -> JSON:
        """A new project that you lead."""
        out: JSON = self._call("POST", "/projects", json=body)
        return out

    def update_project(self, project_id: int, changes: JSON) -> JSON:
        """Change your project (lead only) while no dataset has been approved for it."""
        out: JSON = self._call("PATCH", f"/projects/{project_id}", json=changes)
        return out

    def add_member(self, project_id: int, user_id: int) -> JSON:
        """Add a member to your project."""
        out: JSON = self._call("POST", f"/projects/{project_id}/members", json={"user_id": user_id})
        return out

    # requests and reviews
    def requests(
        self,
        *,
        status: str | None = None,
        project_id: int | None = None,
        to_review: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> JSON:
        """Access requests you may see (``to_review``: only your review queue)."""
        params = {
            "status": status,
            "project_id": project_id,
            "to_review": to_review or None,
            "limit": limit,
            "offset": offset,
        }
        out: JSON = self._call("GET", "/requests", params=params)
        return out

    def request(self, request_id: int) -> JSON:
        """One access request with its reviews."""
        out: JSON = self._call("GET", f"/requests/{request_id}")
        return out

    def create_request(
        self, *, project_id: int, dataset_ids: list[int], justification: str
    ) -> JSON:
        """Request access to datasets for a project."""
        body = {
            "project_id": project_id,
            "dataset_ids": dataset_ids,
            "justification": justification,
        }
        out: JSON = self._call("POST", "/requests", json=body)
        return out

    def withdraw(self, request_id: int) -> JSON:
        """Withdraw a pending request."""
        out: JSON = self._call("POST", f"/requests/{request_id}/withdraw")
        return out

    def approve(
        self,
        request_id: int,
        *,
        expires_at: dt.datetime,
        conditions: str = "",
        dataset_ids: list[int] | None = None,
    ) -> JSON:
        """Approve datasets of a request (default: all you review) with conditions and expiry."""
        body: JSON = {
            "decision": "approve",
            "conditions": conditions,
            "expires_at": expires_at.isoformat(),
        }
        if dataset_ids is not None:
            body["dataset_ids"] = dataset_ids
        out: JSON = self._call("POST", f"/requests/{request_id}/reviews", json=body)
        return out

    def reject(
        self, request_id: int, *, reasons: str, dataset_ids: list[int] | None = None
    ) -> JSON:
        """Reject datasets of a request (default: all you review) with reasons."""
        body: JSON = {"decision": "reject", "reasons": reasons}
        if dataset_ids is not None:
            body["dataset_ids"] = dataset_ids
        out: JSON = self._call("POST", f"/requests/{request_id}/reviews", json=body)
        return out

    # grants
    def grants(
        self,
        *,
        project_id: int | None = None,
        dataset_id: int | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> JSON:
        """Grants you may see."""
        params = {
            "project_id": project_id,
            "dataset_id": dataset_id,
            "status": status,
            "limit": limit,
            "offset": offset,
        }
        out: JSON = self._call("GET", "/grants", params=params)
        return out

    def grant(self, grant_id: int) -> JSON:
        """One grant and its status now."""
        out: JSON = self._call("GET", f"/grants/{grant_id}")
        return out

    def revoke_grant(self, grant_id: int, *, reason: str) -> JSON:
        """Revoke a grant now."""
        out: JSON = self._call("POST", f"/grants/{grant_id}/revoke", json={"reason": reason})
        return out

    # jobs
    def submit_job(
        self,
        *,
        project_id: int,
        kind: str,
        dataset_ids: list[int],
        parameters: JSON | None = None,
        min_nodes: int = 1,
        ttl_minutes: int = 60,
    ) -> JSON:
        """Submit a federated job; it comes back queued (dispatch runs at the hub)."""
        body = {
            "project_id": project_id,
            "kind": kind,
            "dataset_ids": dataset_ids,
            "parameters": parameters or {},
            "min_nodes": min_nodes,
            "ttl_minutes": ttl_minutes,
        }
        out: JSON = self._call("POST", "/jobs", json=body)
        return out

    def jobs(
        self,
        *,
        project_id: int | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> JSON:
        """Jobs of your projects, newest first."""
        params = {"project_id": project_id, "status": status, "limit": limit, "offset": offset}
        out: JSON = self._call("GET", "/jobs", params=params)
        return out

    def job(self, job_id: int) -> JSON:
        """One job with each node's status."""
        out: JSON = self._call("GET", f"/jobs/{job_id}")
        return out

    def cancel_job(self, job_id: int) -> JSON:
        """Cancel a queued or running job."""
        out: JSON = self._call("POST", f"/jobs/{job_id}/cancel")
        return out

    def collect_job(self, job_id: int) -> JSON:
        """Ask the nodes that held a job's result again (the same signed job)."""
        out: JSON = self._call("POST", f"/jobs/{job_id}/collect")
        return out

    def job_result(self, job_id: int) -> JSON:
        """The combined, released result of a completed or partial job."""
        out: JSON = self._call("GET", f"/jobs/{job_id}/result")
        return out

    # courses (issue 9)
    def courses(self, *, limit: int = 50, offset: int = 0) -> JSON:
        """Courses you are in (program officers and admins: all)."""
        out: JSON = self._call("GET", "/courses", params={"limit": limit, "offset": offset})
        return out

    def course(self, course_id: int) -> JSON:
        """One course and your part in it."""
        out: JSON = self._call("GET", f"/courses/{course_id}")
        return out

    def create_course(self, body: JSON) -> JSON:
        """A new course (and its education project) that you teach."""
        out: JSON = self._call("POST", "/courses", json=body)
        return out

    def close_course(self, course_id: int) -> JSON:
        """Close a course you teach."""
        out: JSON = self._call("POST", f"/courses/{course_id}/close")
        return out

    def course_members(self, course_id: int, *, limit: int = 200, offset: int = 0) -> JSON:
        """A course's people."""
        out: JSON = self._call("GET", f"/courses/{course_id}/members",
                               params={"limit": limit, "offset": offset})  # fmt: skip
        return out

    def enrol(self, course_id: int, email: str, *, role: str = "student") -> JSON:
        """Enrol a person by email as student or teaching_assistant."""
        out: JSON = self._call("POST", f"/courses/{course_id}/members",
                               json={"email": email, "role": role})  # fmt: skip
        return out

    def course_datasets(self, course_id: int) -> JSON:
        """A course's teaching datasets (active grants of its project)."""
        out: JSON = self._call("GET", f"/courses/{course_id}/datasets")
        return out

    def request_course_datasets(
        self, course_id: int, dataset_ids: list[int], justification: str
    ) -> JSON:
        """The instructor's access request for teaching datasets."""
        out: JSON = self._call("POST", f"/courses/{course_id}/datasets",
                               json={"dataset_ids": dataset_ids,
                                     "justification": justification})  # fmt: skip
        return out

    def labs(self, course_id: int) -> JSON:
        """A course's labs."""
        out: JSON = self._call("GET", f"/courses/{course_id}/labs", params={"limit": 200})
        return out

    def add_lab(self, course_id: int, body: JSON) -> JSON:
        """Add a lab (title, kind, check, instructions, position)."""
        out: JSON = self._call("POST", f"/courses/{course_id}/labs", json=body)
        return out

    def attempt(
        self,
        course_id: int,
        lab_id: int,
        *,
        job_id: int | None = None,
        answers: dict[str, str] | None = None,
    ) -> JSON:
        """Submit an attempt: your job, or a quiz's answers."""
        body: JSON = {"job_id": job_id} if answers is None else {"answers": answers}
        out: JSON = self._call("POST", f"/courses/{course_id}/labs/{lab_id}/attempts", json=body)
        return out

    def attempts(self, course_id: int, lab_id: int) -> JSON:
        """Attempts at a lab (yours; staff see everyone's)."""
        out: JSON = self._call("GET", f"/courses/{course_id}/labs/{lab_id}/attempts",
                               params={"limit": 200})  # fmt: skip
        return out

    def course_progress(self, course_id: int) -> JSON:
        """The course's progress table."""
        out: JSON = self._call("GET", f"/courses/{course_id}/progress")
        return out

    def recheck_course(self, course_id: int) -> JSON:
        """Check pending attempts again; answers the progress table."""
        out: JSON = self._call("POST", f"/courses/{course_id}/recheck")
        return out

    def _bytes(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = self._http.get(path, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise HubUnreachable(f"the hub at {self.base_url} did not answer") from exc
        _raise_for(response)
        return response

    def course_progress_csv(self, course_id: int) -> str:
        """The progress table as CSV text."""
        return self._bytes(f"/courses/{course_id}/progress.csv").text

    def certificate(self, course_id: int) -> tuple[bytes, str]:
        """Your certificate PDF and its verification code (completed courses only)."""
        response = self._bytes(f"/courses/{course_id}/certificate")
        return response.content, response.headers.get("x-certificate-code", "")

    def verify_certificate(self, code: str) -> JSON:
        """Whether a certificate verification code is valid."""
        out: JSON = self._call("GET", "/certificates/verify", params={"code": code})
        return out

    # challenges (issue 9)
    def challenges(self, *, course_id: int | None = None, limit: int = 50) -> JSON:
        """Challenges of your courses."""
        out: JSON = self._call("GET", "/challenges",
                               params={"course_id": course_id, "limit": limit})  # fmt: skip
        return out

    def challenge(self, challenge_id: int) -> JSON:
        """One challenge."""
        out: JSON = self._call("GET", f"/challenges/{challenge_id}")
        return out

    def create_challenge(self, body: JSON) -> JSON:
        """Create a challenge of a course you teach."""
        out: JSON = self._call("POST", "/challenges", json=body)
        return out

    def submit_challenge(
        self, challenge_id: int, *, model: JSON | None = None,
        predictions: dict[str, float] | None = None,
    ) -> JSON:  # fmt: skip
        """Submit a model specification or predictions (person id -> probability)."""
        body: JSON = {"model": model} if predictions is None else {"predictions": predictions}
        out: JSON = self._call("POST", f"/challenges/{challenge_id}/submissions", json=body)
        return out

    def challenge_submissions(self, challenge_id: int, *, everyone: bool = False) -> JSON:
        """Your submissions (the course's staff with ``everyone``: all)."""
        out: JSON = self._call("GET", f"/challenges/{challenge_id}/submissions",
                               params={"everyone": everyone or None, "limit": 200})  # fmt: skip
        return out

    def leaderboard(self, challenge_id: int) -> JSON:
        """The leaderboard (the private column only after the close)."""
        out: JSON = self._call("GET", f"/challenges/{challenge_id}/leaderboard")
        return out

    # program dashboard (issue 9)
    def program_dashboard(self, *, year: int | None = None) -> JSON:
        """Every table of the program dashboard (program officers and admins)."""
        params = {} if year is None else {"year": year}
        out: JSON = self._call("GET", "/program/dashboard", params=params)
        return out

    def program_target(self, *, year: int, trainees: int, org_id: int | None = None) -> JSON:
        """Set the program's target of trainees for a year (overall, or one university)."""
        body = {"year": year, "trainees": trainees, "org_id": org_id}
        out: JSON = self._call("POST", "/program/targets", json=body)
        return out

    # audit
    def audit_verify(self) -> JSON:
        """Verify the audit chain (admins)."""
        out: JSON = self._call("GET", "/audit/verify")
        return out


__all__ = ["HubClient"]
