"""Who may call what: one table mapping every API route to the roles allowed on it.

Deny by default: a route missing from :data:`PERMISSIONS` is refused for
everybody (and a test fails). A user's roles are the union of the roles they
hold in any organisation; object-level rules (a researcher sees their own
projects, a custodian publishes for their own hospital) live in the services.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from medhaven.errors import Forbidden
from medhaven.hub.models import Role

PUBLIC: frozenset[Role] = frozenset()  # marker: no sign-in needed (login routes only)
EVERYONE = frozenset(Role)
C, RV, R, IN, P, A = (
    Role.CUSTODIAN,
    Role.REVIEWER,
    Role.RESEARCHER,
    Role.INSTRUCTOR,
    Role.PROGRAM_OFFICER,
    Role.ADMIN,
)
PROJECT_LEADS = frozenset({R, IN})
OVERSIGHT = frozenset({RV, C, P, A})
COURSE_PEOPLE = frozenset({IN, R, Role.STUDENT})  # a teaching assistant holds one of these

V1 = "/api/v1"
PERMISSIONS: dict[str, frozenset[Role]] = {
    f"POST {V1}/auth/login": PUBLIC,
    f"POST {V1}/auth/token": PUBLIC,
    f"POST {V1}/auth/logout": EVERYONE,
    f"GET {V1}/auth/tokens": EVERYONE,
    f"DELETE {V1}/auth/tokens/{{token_id}}": EVERYONE,
    f"GET {V1}/me": EVERYONE,
    f"GET {V1}/orgs": EVERYONE,
    f"POST {V1}/orgs": frozenset({A}),
    f"POST {V1}/orgs/{{org_id}}/review-board": frozenset({A}),
    f"GET {V1}/users": frozenset({P, A}),  # program officers: read only
    f"POST {V1}/users": frozenset({A}),
    f"POST {V1}/users/{{user_id}}/roles": frozenset({A}),
    f"POST {V1}/users/{{user_id}}/roles/revoke": frozenset({A}),
    f"POST {V1}/users/{{user_id}}/active": frozenset({A}),
    f"GET {V1}/datasets": EVERYONE,
    f"POST {V1}/datasets": frozenset({C}),
    f"GET {V1}/datasets/{{dataset_id}}": EVERYONE,
    f"PATCH {V1}/datasets/{{dataset_id}}": frozenset({C}),
    f"POST {V1}/datasets/{{dataset_id}}/retire": frozenset({C}),
    f"GET {V1}/projects": EVERYONE,
    f"POST {V1}/projects": PROJECT_LEADS,
    f"GET {V1}/projects/{{project_id}}": EVERYONE,
    f"PATCH {V1}/projects/{{project_id}}": PROJECT_LEADS,
    f"POST {V1}/projects/{{project_id}}/members": PROJECT_LEADS,
    f"GET {V1}/requests": PROJECT_LEADS | OVERSIGHT,
    f"POST {V1}/requests": PROJECT_LEADS,
    f"GET {V1}/requests/{{request_id}}": PROJECT_LEADS | OVERSIGHT,
    f"POST {V1}/requests/{{request_id}}/withdraw": PROJECT_LEADS,
    f"POST {V1}/requests/{{request_id}}/reviews": frozenset({RV}),
    f"GET {V1}/grants": PROJECT_LEADS | OVERSIGHT,
    f"GET {V1}/grants/{{grant_id}}": PROJECT_LEADS | OVERSIGHT,
    f"POST {V1}/grants/{{grant_id}}/revoke": frozenset({C, RV, A}),
    f"POST {V1}/jobs": PROJECT_LEADS | {Role.STUDENT},
    f"GET {V1}/jobs": EVERYONE,
    f"GET {V1}/jobs/{{job_id}}": EVERYONE,
    f"GET {V1}/jobs/{{job_id}}/result": EVERYONE,
    f"POST {V1}/jobs/{{job_id}}/cancel": PROJECT_LEADS | {Role.STUDENT},  # members only
    f"POST {V1}/jobs/{{job_id}}/collect": PROJECT_LEADS | {Role.STUDENT},  # members only
    # courses (issue 9): object-level rules (course staff, own attempts) are in the service
    f"GET {V1}/courses": EVERYONE,
    f"POST {V1}/courses": frozenset({IN}),
    f"GET {V1}/courses/{{course_id}}": EVERYONE,
    f"POST {V1}/courses/{{course_id}}/close": frozenset({IN}),
    f"GET {V1}/courses/{{course_id}}/members": EVERYONE,
    f"POST {V1}/courses/{{course_id}}/members": COURSE_PEOPLE,  # instructor or TA of it
    f"GET {V1}/courses/{{course_id}}/datasets": EVERYONE,
    f"POST {V1}/courses/{{course_id}}/datasets": frozenset({IN}),
    f"GET {V1}/courses/{{course_id}}/labs": EVERYONE,
    f"POST {V1}/courses/{{course_id}}/labs": COURSE_PEOPLE,  # instructor or TA of it
    f"GET {V1}/courses/{{course_id}}/labs/{{lab_id}}/attempts": EVERYONE,
    f"POST {V1}/courses/{{course_id}}/labs/{{lab_id}}/attempts": frozenset({Role.STUDENT}),
    f"GET {V1}/courses/{{course_id}}/progress": EVERYONE,
    f"GET {V1}/courses/{{course_id}}/progress.csv": EVERYONE,
    f"POST {V1}/courses/{{course_id}}/recheck": EVERYONE,
    f"GET {V1}/courses/{{course_id}}/certificate": frozenset({Role.STUDENT}),
    # challenges (issue 9): course staff create, course members submit (checked in the service)
    f"GET {V1}/challenges": EVERYONE,
    f"POST {V1}/challenges": COURSE_PEOPLE,
    f"GET {V1}/challenges/{{challenge_id}}": EVERYONE,
    f"POST {V1}/challenges/{{challenge_id}}/submissions": COURSE_PEOPLE,
    f"GET {V1}/challenges/{{challenge_id}}/submissions": EVERYONE,
    f"GET {V1}/challenges/{{challenge_id}}/leaderboard": EVERYONE,
    f"GET {V1}/certificates/verify": EVERYONE,
    # program dashboard (issue 9): program officers and admins
    f"GET {V1}/program/dashboard": frozenset({P, A}),
    f"GET {V1}/program/tables/{{table}}.csv": frozenset({P, A}),
    f"POST {V1}/program/targets": frozenset({P, A}),
    f"GET {V1}/audit": frozenset({P, A}),  # program officers oversee the programme's log
    f"GET {V1}/audit/verify": frozenset({P, A}),
}


def route_key(method: str, path: str) -> str:
    """The table key of a route: ``"METHOD /path/{param}"``."""
    return f"{method.upper()} {path}"


def allowed_roles(method: str, path: str) -> frozenset[Role] | None:
    """The roles allowed on a route; ``None`` when the route has no entry (deny)."""
    return PERMISSIONS.get(route_key(method, path))


@dataclass(frozen=True)
class RoleSet:
    """A user's roles: per organisation, and their union."""

    by_org: dict[int, frozenset[Role]] = field(default_factory=dict)

    @classmethod
    def of(cls, pairs: Iterable[tuple[int, str]]) -> RoleSet:
        """From (org id, role name) pairs."""
        by_org: dict[int, set[Role]] = {}
        for org_id, role in pairs:
            by_org.setdefault(org_id, set()).add(Role(role))
        return cls({k: frozenset(v) for k, v in by_org.items()})

    @property
    def all(self) -> frozenset[Role]:
        """Every role held in any organisation."""
        out: set[Role] = set()
        for roles in self.by_org.values():
            out |= roles
        return frozenset(out)

    def has(self, role: Role, org_id: int | None = None) -> bool:
        """Whether the role is held (in ``org_id`` when given)."""
        if org_id is None:
            return role in self.all
        return role in self.by_org.get(org_id, frozenset())

    def orgs_with(self, role: Role) -> list[int]:
        """Organisations in which the role is held."""
        return sorted(org for org, roles in self.by_org.items() if role in roles)


def require(roles: RoleSet, allowed: frozenset[Role], *, what: str = "this") -> None:
    """Raise :class:`Forbidden` unless one of the caller's roles is in ``allowed``."""
    if not roles.all & allowed:
        raise Forbidden(f"none of your roles may do {what}")


__all__ = [
    "EVERYONE",
    "PERMISSIONS",
    "PUBLIC",
    "RoleSet",
    "allowed_roles",
    "require",
    "route_key",
]
