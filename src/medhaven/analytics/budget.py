"""The per-project privacy budget ledger: persisted in SQLite, spent transactionally.

Each project has a budget ``(ε, δ)`` and a composition rule:

* ``basic``: the ε and δ of all releases add up; a release is refused if
  either sum would pass the budget.
* ``zcdp``: the budget becomes ``ρ`` (the largest ρ whose zCDP implies the
  budget's (ε, δ)); a Laplace release of ε costs ``ε²/2``, a Gaussian release
  costs its own ρ; a release is refused if the ρ would pass the budget.

A release is charged inside :meth:`PrivacyLedger.charge`: the check and the
ledger row are in one ``BEGIN IMMEDIATE`` transaction that commits only after
the release succeeded. A failed release spends nothing; two processes cannot
both spend the last of a budget. A node restart keeps the ledger (it is a
file); ``":memory:"`` gives a throwaway ledger for tests.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, Literal

from medhaven.analytics.noise import epsilon_from_rho, rho_from_epsilon_delta
from medhaven.errors import ConfigError, MedHavenError, NotFound, StoreError

Composition = Literal["basic", "zcdp"]

_TOL = 1e-12
# Until the shared catalogue has an entry for this code, present it like this.

_SCHEMA = """
CREATE TABLE IF NOT EXISTS budget (
    project TEXT PRIMARY KEY,
    epsilon REAL NOT NULL,
    delta REAL NOT NULL,
    composition TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS spend (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project TEXT NOT NULL REFERENCES budget(project),
    mechanism TEXT NOT NULL,
    epsilon REAL NOT NULL,
    delta REAL NOT NULL,
    rho REAL NOT NULL,
    label TEXT NOT NULL,
    spent_at TEXT NOT NULL
);
"""


class BudgetExhausted(MedHavenError):
    """A release would spend more privacy budget than the project has left."""

    code: ClassVar[str] = "budget_exhausted"


@dataclass(frozen=True)
class Cost:
    """What one release spends: (ε, δ) for basic composition and ρ for zCDP."""

    mechanism: str
    epsilon: float
    delta: float
    rho: float


@dataclass(frozen=True)
class BudgetState:
    """A project's budget and what is spent and left, in its composition's terms."""

    project: str
    composition: Composition
    epsilon: float
    delta: float
    spent_epsilon: float
    spent_delta: float
    spent_rho: float
    releases: int

    @property
    def rho(self) -> float:
        """The zCDP budget that the (ε, δ) budget converts to."""
        return rho_from_epsilon_delta(epsilon=self.epsilon, delta=self.delta)

    @property
    def remaining_epsilon(self) -> float:
        """ε still available (zCDP: the ε the remaining ρ implies at the budget's δ)."""
        if self.composition == "basic":
            return max(0.0, self.epsilon - self.spent_epsilon)
        return epsilon_from_rho(rho=max(0.0, self.rho - self.spent_rho), delta=self.delta)

    def allows(self, cost: Cost) -> bool:
        """Whether ``cost`` fits in what is left."""
        if self.composition == "basic":
            return (
                self.spent_epsilon + cost.epsilon <= self.epsilon + _TOL
                and self.spent_delta + cost.delta <= self.delta + _TOL
            )
        return self.spent_rho + cost.rho <= self.rho + _TOL


class PrivacyLedger:
    """Per-project privacy budgets and every spend, in one SQLite file."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        try:
            # Autocommit mode: transactions are opened explicitly below.
            self._conn = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError("privacy ledger could not be opened", detail=str(exc)) from exc

    def close(self) -> None:
        """Close the ledger file."""
        self._conn.close()

    def set_budget(
        self,
        project: str,
        *,
        epsilon: float,
        delta: float = 0.0,
        composition: Composition = "basic",
    ) -> None:
        """Create a project's budget; an existing budget is never changed (or reset)."""
        if not math.isfinite(epsilon) or epsilon <= 0:
            raise ConfigError("privacy budget: epsilon must be a positive number")
        if not 0.0 <= delta < 1.0:
            raise ConfigError("privacy budget: delta must lie in [0, 1)")
        if composition not in ("basic", "zcdp"):
            raise ConfigError("privacy budget: composition must be 'basic' or 'zcdp'")
        if composition == "zcdp" and delta == 0.0:
            raise ConfigError("privacy budget: zcdp composition needs a delta > 0")
        with self._transaction():
            row = self._conn.execute(
                "SELECT 1 FROM budget WHERE project = ?", (project,)
            ).fetchone()
            if row is not None:
                raise ConfigError(f"privacy budget: project {project} already has a budget")
            self._conn.execute(
                "INSERT INTO budget VALUES (?, ?, ?, ?, ?)",
                (project, epsilon, delta, composition, _now()),
            )

    def state(self, project: str) -> BudgetState:
        """The project's budget and spend so far."""
        return self._state(project)

    def _state(self, project: str) -> BudgetState:
        row = self._conn.execute(
            "SELECT epsilon, delta, composition FROM budget WHERE project = ?", (project,)
        ).fetchone()
        if row is None:
            raise NotFound(f"privacy budget: project {project} has no budget")
        spent = self._conn.execute(
            "SELECT COALESCE(SUM(epsilon), 0), COALESCE(SUM(delta), 0), COALESCE(SUM(rho), 0),"
            " COUNT(*) FROM spend WHERE project = ?",
            (project,),
        ).fetchone()
        return BudgetState(project, row[2], row[0], row[1], spent[0], spent[1], spent[2], spent[3])

    @contextmanager
    def charge(
        self, project: str, cost: Cost, *, label: str, once: bool = False
    ) -> Iterator[BudgetState]:
        """Reserve ``cost`` for the release run inside the block; committed only if it succeeds.

        Raises :class:`BudgetExhausted` before the block runs if the cost does
        not fit. An exception inside the block rolls the charge back. With
        ``once``, a ``label`` already charged for the project charges nothing
        again (a resent request).
        """
        with self._transaction():
            state = self._state(project)
            if (
                once
                and self._conn.execute(
                    "SELECT 1 FROM spend WHERE project = ? AND label = ?", (project, label)
                ).fetchone()
            ):
                yield state
                return
            if not state.allows(cost):
                raise BudgetExhausted(
                    f"privacy budget of project {project} is exhausted for this release"
                )
            self._conn.execute(
                "INSERT INTO spend (project, mechanism, epsilon, delta, rho, label, spent_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (project, cost.mechanism, cost.epsilon, cost.delta, cost.rho, label, _now()),
            )
            yield state

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError("privacy ledger is unavailable", detail=str(exc)) from exc
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")


def _now() -> str:
    return datetime.now(UTC).isoformat()


__all__ = ["BudgetExhausted", "BudgetState", "Composition", "Cost", "PrivacyLedger"]
