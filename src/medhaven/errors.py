"""Typed MedHaven errors and the one catalogue that maps codes to messages and exit codes.

Every error carries a stable ``code``. The public message is safe to show to
anyone: it may name a file, a row number, a table or a field, but never a
patient value, a secret or a key. Detail meant only for operators goes in
``detail`` and is logged, never returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class ErrorSpec:
    """How one error code is presented: a title, an HTTP status and a CLI exit code."""

    title: str
    http_status: int
    exit_code: int


CATALOGUE: dict[str, ErrorSpec] = {
    "invalid_input": ErrorSpec("Invalid input", 400, 2),
    "load_error": ErrorSpec("The source could not be loaded", 422, 3),
    "schema_error": ErrorSpec("Not part of the OMOP CDM v5.4 schema", 422, 3),
    "store_error": ErrorSpec("The data store failed", 503, 4),
    "not_found": ErrorSpec("Not found", 404, 5),
    "config_error": ErrorSpec("Invalid configuration", 400, 6),
    "check_failed": ErrorSpec("Quality checks failed", 422, 7),
    "budget_exhausted": ErrorSpec("Privacy budget exhausted", 403, 8),
    "unauthorized": ErrorSpec("Not signed in", 401, 9),
    "forbidden": ErrorSpec("Not allowed", 403, 10),
    "conflict": ErrorSpec("Conflicts with the current state", 409, 11),
    "conflict_of_interest": ErrorSpec("Conflict of interest", 403, 12),
    "rate_limited": ErrorSpec("Too many attempts", 429, 13),
    "hub_unreachable": ErrorSpec("The hub could not be reached", 503, 14),
    "internal_error": ErrorSpec("Internal error", 500, 15),
    "audit_broken": ErrorSpec("The audit chain is broken", 422, 16),
    "transport_error": ErrorSpec("The federated network failed", 502, 17),
}


class MedHavenError(Exception):
    """Base class: a stable code, a public one-line message and optional private detail."""

    code: ClassVar[str] = "invalid_input"

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    @property
    def spec(self) -> ErrorSpec:
        """The catalogue entry for this error's code."""
        return CATALOGUE[self.code]

    @property
    def exit_code(self) -> int:
        """The exit code the CLI uses for this error."""
        return self.spec.exit_code


class InvalidInput(MedHavenError):
    """A user-supplied argument or file is not acceptable."""

    code = "invalid_input"


class LoadError(MedHavenError):
    """A CDM source could not be loaded; nothing was written."""

    code = "load_error"


class SchemaError(MedHavenError):
    """A table or field that the OMOP CDM v5.4 does not define."""

    code = "schema_error"


class StoreError(MedHavenError):
    """The CDM store could not be opened or a statement failed."""

    code = "store_error"


class NotFound(MedHavenError):
    """A named object does not exist."""

    code = "not_found"


class ConfigError(MedHavenError):
    """A configuration value is invalid."""

    code = "config_error"


class CheckFailed(MedHavenError):
    """Quality checks found failures or errors."""

    code = "check_failed"


class Unauthorized(MedHavenError):
    """No valid credentials: sign in or pass an API token."""

    code = "unauthorized"


class Forbidden(MedHavenError):
    """Signed in, but none of the caller's roles may do this."""

    code = "forbidden"


class Conflict(MedHavenError):
    """The request conflicts with the current state (already decided, duplicate, ...)."""

    code = "conflict"


class ConflictOfInterest(MedHavenError):
    """A reviewer from the requesting organisation may not review the request."""

    code = "conflict_of_interest"


class RateLimited(MedHavenError):
    """Too many attempts (login rate limit or account lockout)."""

    code = "rate_limited"


class AuditBroken(MedHavenError):
    """The hub's audit chain failed verification."""

    code = "audit_broken"


class HubUnreachable(MedHavenError):
    """The hub did not answer (client side)."""

    code = "hub_unreachable"


class TransportError(MedHavenError):
    """A Flower process (SuperLink, SuperNode, run) did not start, answer or finish."""

    code = "transport_error"


__all__ = [
    "CATALOGUE",
    "AuditBroken",
    "CheckFailed",
    "ConfigError",
    "Conflict",
    "ConflictOfInterest",
    "ErrorSpec",
    "Forbidden",
    "HubUnreachable",
    "InvalidInput",
    "LoadError",
    "MedHavenError",
    "NotFound",
    "RateLimited",
    "SchemaError",
    "StoreError",
    "TransportError",
    "Unauthorized",
]
