"""Differentially private releases charged to a project's privacy budget.

Each method checks its input, charges the ledger, draws the noise and
post-processes the result inside one ledger transaction: if anything fails,
nothing is spent. Noisy counts still pass the minimum-cell-count rule (free
post-processing), so even a noisy count of 1 is never shown.
"""

from __future__ import annotations

import math

from medhaven.analytics import noise
from medhaven.analytics.budget import Cost, PrivacyLedger
from medhaven.analytics.disclosure import release_count
from medhaven.analytics.policy import DisclosurePolicy
from medhaven.analytics.released import ReleasedCount
from medhaven.errors import InvalidInput


def _count(count: int, label: str) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InvalidInput(f"{label}: a count must be a non-negative whole number")
    return count


def _total(total: float, label: str) -> float:
    if isinstance(total, bool) or not isinstance(total, int | float) or not math.isfinite(total):
        raise InvalidInput(f"{label}: a sum must be a finite number")
    return float(total)


class PrivateRelease:
    """Noisy counts and sums for one project, each charged to its budget in ``ledger``."""

    def __init__(
        self,
        ledger: PrivacyLedger,
        project: str,
        policy: DisclosurePolicy,
        *,
        rng: noise.Rng | None = None,
    ) -> None:
        self.ledger = ledger
        self.project = project
        self.policy = policy
        self._rng = rng if rng is not None else noise.system_rng()

    def _gaussian(self, *, epsilon: float, delta: float, sensitivity: float) -> tuple[Cost, float]:
        composition = self.ledger.state(self.project).composition
        if composition == "zcdp":
            rho = noise.rho_from_epsilon_delta(epsilon=epsilon, delta=delta)
            sigma = noise.gaussian_sigma_zcdp(rho=rho, sensitivity=sensitivity)
        else:
            sigma = noise.gaussian_sigma_basic(
                epsilon=epsilon, delta=delta, sensitivity=sensitivity
            )
            rho = sensitivity**2 / (2.0 * sigma**2)
        return Cost("gaussian", epsilon, delta, rho), sigma

    @staticmethod
    def _laplace_cost(epsilon: float) -> Cost:
        if not math.isfinite(epsilon) or epsilon <= 0:
            raise InvalidInput("differential privacy: epsilon must be a positive number")
        # Pure ε-DP implies (ε²/2)-zCDP.
        return Cost("laplace", epsilon, 0.0, epsilon**2 / 2.0)

    def laplace_count(self, count: int, *, epsilon: float, label: str) -> ReleasedCount:
        """An ε-DP count (discrete Laplace), then the minimum-cell-count rule."""
        true = _count(count, label)
        cost = self._laplace_cost(epsilon)
        with self.ledger.charge(self.project, cost, label=label):
            noisy = noise.laplace_count(true, epsilon=epsilon, rng=self._rng)
            out = release_count(noisy, self.policy, name=label)
        return ReleasedCount(value=out.value, marker=out.marker, noisy=True)

    def gaussian_count(
        self, count: int, *, epsilon: float, delta: float, label: str
    ) -> ReleasedCount:
        """An (ε, δ)-DP count (Gaussian, rounded, clamped at 0), then the minimum-cell-count rule."""
        true = _count(count, label)
        cost, sigma = self._gaussian(epsilon=epsilon, delta=delta, sensitivity=1.0)
        with self.ledger.charge(self.project, cost, label=label):
            noisy = max(0, round(true + noise.gaussian_noise(sigma, self._rng)))
            out = release_count(noisy, self.policy, name=label)
        return ReleasedCount(value=out.value, marker=out.marker, noisy=True)

    def laplace_sum(self, total: float, *, epsilon: float, sensitivity: float, label: str) -> float:
        """An ε-DP sum of per-contributor values clipped to ``[0, sensitivity]``."""
        value = _total(total, label)
        cost = self._laplace_cost(epsilon)
        with self.ledger.charge(self.project, cost, label=label):
            return noise.laplace_sum(value, epsilon=epsilon, sensitivity=sensitivity, rng=self._rng)

    def gaussian_sum(
        self, total: float, *, epsilon: float, delta: float, sensitivity: float, label: str
    ) -> float:
        """An (ε, δ)-DP sum of per-contributor values clipped to ``[0, sensitivity]``."""
        value = _total(total, label)
        cost, sigma = self._gaussian(epsilon=epsilon, delta=delta, sensitivity=sensitivity)
        with self.ledger.charge(self.project, cost, label=label):
            return value + noise.gaussian_noise(sigma, self._rng)


__all__ = ["PrivateRelease"]
