"""Differential-privacy mechanisms: Laplace and Gaussian noise for counts and sums.

* Counts under Laplace use the *discrete* Laplace (two-sided geometric)
  distribution with scale ``1/ε``: integer noise, so the floating-point
  attacks on textbook Laplace sampling do not apply.
* Sums under Laplace use continuous Laplace with scale ``Δ/ε``, where ``Δ`` is
  the clipping bound each contributor's value was clipped to.
* Gaussian noise has ``σ = Δ·sqrt(2 ln(1.25/δ))/ε`` under basic composition
  (the classic bound, valid for ``ε < 1``) or ``σ = Δ/sqrt(2ρ)`` under zCDP,
  where ``ρ`` is the (ε, δ) request converted to zCDP. Gaussian counts are
  rounded to integers (post-processing, free of privacy cost).

The mechanisms take a ``numpy.random.Generator``; at the node it is seeded
from the operating system. Tests pass a seeded one.
"""

from __future__ import annotations

import math

import numpy as np

from medhaven.errors import ConfigError

Rng = np.random.Generator


def _positive(value: float, what: str) -> float:
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"differential privacy: {what} must be a positive number")
    return float(value)


def system_rng() -> Rng:
    """A generator seeded from the operating system's entropy source."""
    return np.random.default_rng()


def discrete_laplace(epsilon: float, rng: Rng) -> int:
    """Integer noise with ``P(k) ∝ exp(-ε|k|)``: the difference of two geometric variables."""
    eps = _positive(epsilon, "epsilon")
    p = -math.expm1(-eps)  # 1 - exp(-ε), accurate for small ε
    return int(rng.geometric(p)) - int(rng.geometric(p))


def laplace_count(count: int, *, epsilon: float, rng: Rng) -> int:
    """An ε-DP count (sensitivity 1) with discrete Laplace noise, clamped at zero."""
    return max(0, count + discrete_laplace(epsilon, rng))


def laplace_sum(total: float, *, epsilon: float, sensitivity: float, rng: Rng) -> float:
    """An ε-DP sum of values clipped to ``[0, sensitivity]`` with continuous Laplace noise."""
    scale = _positive(sensitivity, "sensitivity") / _positive(epsilon, "epsilon")
    return float(total + rng.laplace(0.0, scale))


def gaussian_sigma_basic(*, epsilon: float, delta: float, sensitivity: float) -> float:
    """The classic (ε, δ) Gaussian-mechanism σ; refuses ``ε >= 1`` where the bound fails."""
    eps = _positive(epsilon, "epsilon")
    if eps >= 1.0:
        raise ConfigError("differential privacy: the classic Gaussian bound needs epsilon < 1")
    if not 0.0 < delta < 1.0:
        raise ConfigError("differential privacy: delta must lie in (0, 1)")
    return _positive(sensitivity, "sensitivity") * math.sqrt(2.0 * math.log(1.25 / delta)) / eps


def rho_from_epsilon_delta(*, epsilon: float, delta: float) -> float:
    """The largest zCDP ρ that still implies (ε, δ)-DP: ``ε = ρ + 2·sqrt(ρ·ln(1/δ))``."""
    eps = _positive(epsilon, "epsilon")
    if not 0.0 < delta < 1.0:
        raise ConfigError("differential privacy: delta must lie in (0, 1)")
    log_inv = math.log(1.0 / delta)
    return (math.sqrt(log_inv + eps) - math.sqrt(log_inv)) ** 2


def epsilon_from_rho(*, rho: float, delta: float) -> float:
    """The ε that ρ-zCDP implies at ``δ``: ``ρ + 2·sqrt(ρ·ln(1/δ))``."""
    return rho + 2.0 * math.sqrt(max(rho, 0.0) * math.log(1.0 / delta))


def gaussian_sigma_zcdp(*, rho: float, sensitivity: float) -> float:
    """The σ that makes the Gaussian mechanism ρ-zCDP: ``Δ/sqrt(2ρ)``."""
    return _positive(sensitivity, "sensitivity") / math.sqrt(2.0 * _positive(rho, "rho"))


def gaussian_noise(sigma: float, rng: Rng) -> float:
    """One draw of ``N(0, σ²)``."""
    return float(rng.normal(0.0, _positive(sigma, "sigma")))


__all__ = [
    "Rng",
    "discrete_laplace",
    "epsilon_from_rho",
    "gaussian_noise",
    "gaussian_sigma_basic",
    "gaussian_sigma_zcdp",
    "laplace_count",
    "laplace_sum",
    "rho_from_epsilon_delta",
    "system_rng",
]
