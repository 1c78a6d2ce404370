"""Differential privacy: noise distributions, σ formulas, and the persisted budget ledger."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from medhaven.analytics import (
    BudgetExhausted,
    Cost,
    DisclosurePolicy,
    PrivacyLedger,
    PrivateRelease,
    noise,
)
from medhaven.errors import CATALOGUE, ConfigError, InvalidInput, MedHavenError, NotFound


def test_discrete_laplace_matches_its_pmf_moments() -> None:
    rng = np.random.default_rng(7)
    eps = 0.5
    draws = np.array([noise.discrete_laplace(eps, rng) for _ in range(20_000)])
    q = math.exp(-eps)
    # Variance of the two-sided geometric distribution: 2q / (1 - q)^2.
    assert draws.mean() == pytest.approx(0.0, abs=0.1)
    assert draws.var() == pytest.approx(2 * q / (1 - q) ** 2, rel=0.05)
    # P(0) = (1 - q) / (1 + q).
    assert (draws == 0).mean() == pytest.approx((1 - q) / (1 + q), abs=0.01)


def test_laplace_sum_follows_laplace_with_scale_sensitivity_over_epsilon() -> None:
    rng = np.random.default_rng(11)
    draws = [noise.laplace_sum(0.0, epsilon=0.5, sensitivity=2.0, rng=rng) for _ in range(4000)]
    assert stats.kstest(draws, stats.laplace(scale=4.0).cdf).pvalue > 0.01


def test_gaussian_sigmas_by_hand() -> None:
    # Classic: Δ·sqrt(2 ln(1.25/δ))/ε with Δ=1, ε=0.5, δ=1e-5.
    expected = math.sqrt(2 * math.log(1.25e5)) / 0.5
    assert noise.gaussian_sigma_basic(epsilon=0.5, delta=1e-5, sensitivity=1.0) == pytest.approx(
        expected
    )
    assert noise.gaussian_sigma_zcdp(rho=0.125, sensitivity=1.0) == pytest.approx(2.0)
    with pytest.raises(ConfigError):
        noise.gaussian_sigma_basic(epsilon=1.5, delta=1e-5, sensitivity=1.0)


def test_rho_conversion_round_trips() -> None:
    rho = noise.rho_from_epsilon_delta(epsilon=1.0, delta=1e-6)
    assert rho + 2 * math.sqrt(rho * math.log(1e6)) == pytest.approx(1.0)
    assert noise.epsilon_from_rho(rho=rho, delta=1e-6) == pytest.approx(1.0)


def test_basic_budget_is_refused_when_spent_and_failed_release_costs_nothing() -> None:
    ledger = PrivacyLedger()
    ledger.set_budget("p1", epsilon=1.0)
    dp = PrivateRelease(ledger, "p1", DisclosurePolicy(), rng=np.random.default_rng(1))
    dp.laplace_count(120, epsilon=0.4, label="cohort")
    dp.laplace_count(120, epsilon=0.4, label="cohort again")
    with pytest.raises(BudgetExhausted) as err:
        dp.laplace_count(120, epsilon=0.4, label="third")
    assert err.value.code == "budget_exhausted"
    assert "120" not in err.value.message
    # A release that fails inside the transaction (bad sensitivity) spends nothing.
    with pytest.raises(ConfigError):
        dp.laplace_sum(10.0, epsilon=0.2, sensitivity=-1.0, label="bad")
    with pytest.raises(InvalidInput):
        dp.laplace_count(-1, epsilon=0.2, label="negative")
    state = ledger.state("p1")
    assert state.releases == 2
    assert state.remaining_epsilon == pytest.approx(0.2)
    dp.laplace_count(120, epsilon=0.2, label="last")
    assert ledger.state("p1").remaining_epsilon == pytest.approx(0.0)


def test_charge_rolls_back_when_the_release_raises() -> None:
    ledger = PrivacyLedger()
    ledger.set_budget("p", epsilon=1.0)
    with (
        pytest.raises(RuntimeError),
        ledger.charge("p", Cost("laplace", 0.5, 0.0, 0.125), label="x"),
    ):
        raise RuntimeError("release failed")
    assert ledger.state("p").spent_epsilon == 0.0


def test_ledger_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    first = PrivacyLedger(path)
    first.set_budget("p", epsilon=0.5)
    PrivateRelease(first, "p", DisclosurePolicy()).laplace_count(50, epsilon=0.5, label="a")
    first.close()
    second = PrivacyLedger(path)
    with pytest.raises(BudgetExhausted):
        PrivateRelease(second, "p", DisclosurePolicy()).laplace_count(50, epsilon=0.1, label="b")
    with pytest.raises(ConfigError, match="already has a budget"):
        second.set_budget("p", epsilon=10.0)  # no reset by re-creating


def test_zcdp_composition_by_hand() -> None:
    ledger = PrivacyLedger()
    ledger.set_budget("z", epsilon=1.0, delta=1e-6, composition="zcdp")
    budget_rho = (math.sqrt(math.log(1e6) + 1.0) - math.sqrt(math.log(1e6))) ** 2
    dp = PrivateRelease(ledger, "z", DisclosurePolicy(), rng=np.random.default_rng(3))
    # Each Laplace release of ε = 0.01 costs ρ = 0.01² / 2 = 0.00005.
    n_ok = math.floor(budget_rho / 0.00005 + 1e-9)
    for i in range(n_ok):
        dp.laplace_count(1000, epsilon=0.01, label=f"q{i}")
    with pytest.raises(BudgetExhausted):
        dp.laplace_count(1000, epsilon=0.01, label="one too many")
    # Basic composition stops at 1.0 / 0.01 = 100 releases; for many small ones zCDP allows more.
    assert ledger.state("z").releases == n_ok > 100


def test_gaussian_release_in_zcdp_spends_its_rho() -> None:
    ledger = PrivacyLedger()
    ledger.set_budget("g", epsilon=2.0, delta=1e-6, composition="zcdp")
    dp = PrivateRelease(ledger, "g", DisclosurePolicy(), rng=np.random.default_rng(5))
    dp.gaussian_count(500, epsilon=0.5, delta=1e-6, label="g1")
    dp.gaussian_sum(1000.0, epsilon=0.5, delta=1e-6, sensitivity=10.0, label="g2")
    expected = 2 * (math.sqrt(math.log(1e6) + 0.5) - math.sqrt(math.log(1e6))) ** 2
    assert ledger.state("g").spent_rho == pytest.approx(expected)


def test_noisy_small_counts_are_still_suppressed() -> None:
    ledger = PrivacyLedger()
    ledger.set_budget("s", epsilon=100.0)
    dp = PrivateRelease(ledger, "s", DisclosurePolicy(), rng=np.random.default_rng(9))
    outs = [dp.laplace_count(2, epsilon=1.0, label="tiny") for _ in range(50)]
    assert all(o.value is None or o.value == 0 or o.value >= 5 for o in outs)
    assert all(o.noisy for o in outs)


def test_unknown_project_and_bad_budget() -> None:
    ledger = PrivacyLedger()
    with pytest.raises(NotFound):
        ledger.state("nobody")
    with pytest.raises(ConfigError):
        ledger.set_budget("x", epsilon=1.0, composition="zcdp")  # zCDP needs δ > 0


def test_budget_exhausted_has_its_own_code_and_exit() -> None:
    err = BudgetExhausted("privacy budget of project p is exhausted for this release")
    assert isinstance(err, MedHavenError)
    assert err.code not in {"invalid_input", "check_failed"}
    spec = CATALOGUE.get(err.code, err.spec)
    assert spec.http_status == 403 and err.exit_code == spec.exit_code >= 2
