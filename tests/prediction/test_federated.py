"""Federated training math: Newton reaches the pooled fit, FedAvg/FedProx learn, DP noise and ε."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from medhaven.errors import Forbidden, InvalidInput
from medhaven.prediction.data import PredictionData
from medhaven.prediction.federated import (
    DPConfig,
    LocalConfig,
    NewtonStats,
    bag_lightgbm,
    dp_epsilon,
    fedavg_aggregate,
    fedavg_site,
    fit_bagged,
    fit_fedavg,
    fit_newton,
    init_params,
    newton_site,
    privatize,
    scale_aggregate,
    scale_site,
)
from medhaven.prediction.models import ModelSpec, TrainedModel, fit

from .synthetic_sites import make_site


@pytest.fixture(scope="module")
def sites() -> list[PredictionData]:
    # non-IID: different sizes and feature prevalences
    return [make_site(400, seed=11, shift=-0.05, site="a"),
            make_site(900, seed=12, shift=0.0, site="b"),
            make_site(600, seed=13, shift=0.15, site="c")]  # fmt: skip


@pytest.fixture(scope="module")
def held_out() -> PredictionData:
    return make_site(3000, seed=99, shift=0.05, site="test")


def _pooled(sites: list[PredictionData]) -> tuple[np.ndarray, np.ndarray]:
    X = sparse.vstack([s.X for s in sites]).toarray()
    y = np.concatenate([s.y for s in sites]).astype(np.float64)
    return X, y


def test_newton_reaches_the_pooled_maximum_likelihood_fit(sites) -> None:
    model = fit_newton(sites)
    X, y = _pooled(sites)
    oracle = sm.Logit(y, sm.add_constant(X)).fit(disp=0, tol=1e-12, maxiter=100)
    ours = np.concatenate([model.weights[1], model.weights[0].ravel()])
    np.testing.assert_allclose(ours, oracle.params, atol=1e-6, rtol=0)
    assert model.training["converged"] and model.training["rounds"] <= 10
    # a second, independent oracle: scikit-learn without a penalty
    sk = LogisticRegression(C=np.inf, solver="newton-cg", tol=1e-12, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(model.weights[0].ravel(), sk.coef_.ravel(), atol=1e-4)
    assert model.training["loglik"][-1] == pytest.approx(oracle.llf, abs=1e-6)
    assert model.n_train == 1900 and model.training["site_rows"] == [400, 900, 600]


def test_site_statistics_sum_to_the_pooled_statistics(sites) -> None:
    beta = np.linspace(-0.5, 0.5, sites[0].X.shape[1] + 1)
    parts = [NewtonStats.from_arrays(newton_site(s, beta).to_arrays()) for s in sites]
    pooled = PredictionData(X=sparse.vstack([s.X for s in sites]).tocsr(),
                            y=np.concatenate([s.y for s in sites]),
                            feature_ids=sites[0].feature_ids, feature_names=sites[0].feature_names)  # fmt: skip
    whole = newton_site(pooled, beta)
    np.testing.assert_allclose(sum(p.gradient for p in parts), whole.gradient, rtol=1e-12)
    np.testing.assert_allclose(sum(p.hessian for p in parts), whole.hessian, rtol=1e-12)
    assert sum(p.n for p in parts) == 1900


def test_newton_l2_fixes_a_feature_absent_everywhere(sites) -> None:
    empty = [PredictionData(X=sparse.hstack([s.X, sparse.csr_matrix((s.rows, 1))]).tocsr(),
                            y=s.y, feature_ids=np.append(s.feature_ids, 10**9),
                            feature_names=[*s.feature_names, "never"], site=s.site)
             for s in sites]  # fmt: skip
    with pytest.raises(InvalidInput, match=r"singular.*set l2 > 0"):
        fit_newton(empty)
    model = fit_newton(empty, l2=1.0)
    assert model.training["converged"] and model.weights[0][-1, 0] == 0.0


def test_site_below_its_minimum_sends_nothing(sites) -> None:
    with pytest.raises(Forbidden, match="a has fewer rows than its minimum of 500"):
        newton_site(sites[0], np.zeros(9), min_patients=500)
    with pytest.raises(Forbidden, match="minimum of 500"):
        fedavg_site(init_params(8), sites[0], LocalConfig(), min_patients=500)


def test_sites_with_different_feature_spaces_are_refused(sites) -> None:
    other = sites[1].align(sites[1].feature_ids[:-1])
    with pytest.raises(InvalidInput, match="site b does not share the feature space"):
        fit_newton([sites[0], other])


def test_fedavg_linear_model_comes_close_to_the_pooled_fit(sites, held_out) -> None:
    pooled = fit_newton(sites)
    fed = fit_fedavg(sites, rounds=15, local=LocalConfig(epochs=1, learning_rate=0.05), seed=1)
    auc_pooled = roc_auc_score(held_out.y, pooled.predict(held_out))
    auc_fed = roc_auc_score(held_out.y, fed.predict(held_out))
    assert auc_fed >= 0.99 * auc_pooled
    assert fed.training["mode"] == "fedavg" and fed.kind == "logistic_l2"


def test_fedprox_term_keeps_local_weights_near_the_global_ones(sites) -> None:
    start = init_params(8, (4,), seed=2)
    free = fedavg_site(start, sites[1], LocalConfig(epochs=3, learning_rate=0.05), seed=3)
    prox = fedavg_site(start, sites[1], LocalConfig(epochs=3, learning_rate=0.05, mu=50.0), seed=3)

    def dist(ps: list[np.ndarray]) -> float:
        return math.sqrt(sum(float(np.sum((p - g) ** 2)) for p, g in zip(ps, start, strict=True)))

    assert dist(prox.params) < 0.5 * dist(free.params)


def test_fedavg_weights_sites_by_rows() -> None:
    g = [np.zeros((2, 1)), np.zeros(1)]
    from medhaven.prediction.federated import SiteUpdate

    a = SiteUpdate(params=[np.ones((2, 1)), np.ones(1)], n=1)
    b = SiteUpdate(params=[np.full((2, 1), 4.0), np.full(1, 4.0)], n=3)
    out = fedavg_aggregate(g, [a, b])
    assert out[0].ravel().tolist() == [3.25, 3.25] and out[1].tolist() == [3.25]


def test_fedavg_mlp_learns_and_its_bundle_round_trips(sites, held_out) -> None:
    model = fit_fedavg(sites, hidden=(8,), rounds=8,
                       local=LocalConfig(epochs=1, learning_rate=0.01, mu=0.01), seed=4)  # fmt: skip
    p = model.predict(held_out)
    assert roc_auc_score(held_out.y, p) > 0.68
    assert model.kind == "mlp" and model.training["mode"] == "fedprox"
    again = TrainedModel.from_bundle(model.to_bundle())
    np.testing.assert_array_equal(again.predict(held_out), p)


def test_dp_noise_has_sd_sigma_times_clip_and_clipping_bounds_the_norm() -> None:
    rng = np.random.default_rng(0)
    zero = [np.zeros((20_000, 1)), np.zeros(1)]
    noised, clipped = privatize(zero, DPConfig(clip=0.5, noise_multiplier=2.0), rng)
    assert not clipped
    assert np.std(noised[0]) == pytest.approx(1.0, rel=0.03)  # 2.0 * 0.5
    big = [np.full((4, 1), 5.0), np.full(1, 5.0)]  # norm 5 * sqrt(5)
    out, clipped = privatize(big, DPConfig(clip=1.0, noise_multiplier=0.0), rng)
    assert clipped
    assert math.sqrt(sum(float(np.sum(u * u)) for u in out)) == pytest.approx(1.0, abs=1e-12)


def test_dp_epsilon_follows_the_zcdp_formula_and_falls_with_sigma() -> None:
    # sigma 1, one round: rho = 2, eps = 2 + 2*sqrt(2*ln(1e5)) = 11.5971...
    assert dp_epsilon(noise_multiplier=1.0, rounds=1, delta=1e-5) == pytest.approx(
        11.5971, abs=1e-3
    )
    eps = [dp_epsilon(noise_multiplier=s, rounds=10, delta=1e-5) for s in (0.5, 1.0, 2.0, 8.0)]
    assert eps == sorted(eps, reverse=True) and eps[-1] < 5
    assert dp_epsilon(noise_multiplier=2.0, rounds=20, delta=1e-5) > eps[2]
    assert dp_epsilon(noise_multiplier=0.0, rounds=1, delta=1e-5) == math.inf


def test_fedavg_with_dp_reports_epsilon_in_the_bundle(sites, held_out) -> None:
    dp = DPConfig(clip=1.0, noise_multiplier=1.5)
    model = fit_fedavg(sites, rounds=5, local=LocalConfig(learning_rate=0.05), dp=dp, seed=5)
    doc = model.to_bundle()
    expected = dp_epsilon(noise_multiplier=1.5, rounds=5, delta=1e-5)
    assert doc["training"]["dp"]["epsilon"] == pytest.approx(expected)
    assert np.all(np.isfinite(model.predict(held_out)))


def test_lightgbm_bagging_averages_the_site_boosters(sites, held_out) -> None:
    spec = ModelSpec(kind="lightgbm", hyperparameters={"n_estimators": 30, "num_leaves": 7})
    per_site = [fit(spec, s, min_cell_count=10) for s in sites]
    bagged = bag_lightgbm(per_site)
    expected = np.mean([m.predict(held_out) for m in per_site], axis=0)
    np.testing.assert_allclose(bagged.predict(held_out), expected, rtol=1e-12)
    assert bagged.n_train == 1900 and len(bagged.boosters) == 3
    assert TrainedModel.from_bundle(bagged.to_bundle()).boosters == bagged.boosters
    with pytest.raises(InvalidInput, match="needs one or more lightgbm"):
        bag_lightgbm([fit_newton(sites)])


def test_a_site_with_one_class_still_takes_part(sites, held_out) -> None:
    no_outcomes = sites[2].subset(sites[2].y == 0)
    mixed = [sites[0], sites[1], no_outcomes]
    fed = fit_fedavg(mixed, rounds=5, local=LocalConfig(learning_rate=0.05), seed=6)
    assert fed.training["site_rows"] == [400, 900, no_outcomes.rows]
    assert roc_auc_score(held_out.y, fed.predict(held_out)) > 0.68
    spec = ModelSpec(kind="lightgbm", hyperparameters={"n_estimators": 20, "num_leaves": 7})
    bagged = fit_bagged(spec, mixed, min_cell_count=10)
    assert len(bagged.boosters) == 2 and bagged.training["skipped_sites"] == ["c"]
    with pytest.raises(InvalidInput, match="the sites together hold only one class"):
        fit_newton([no_outcomes])


def test_newton_and_fedavg_share_one_power_of_two_scale(sites) -> None:
    parts = [scale_site(s) for s in sites]
    scale = scale_aggregate(parts)
    X, _ = _pooled(sites)
    rms = np.sqrt((X**2).mean(axis=0))
    assert scale.tolist() == [2.0 ** math.ceil(math.log2(max(r, 1.0))) for r in rms]
    beta = np.linspace(-0.2, 0.2, 9)
    direct = newton_site(sites[0], beta, scale=scale)
    by_hand = PredictionData(X=sparse.csr_matrix(sites[0].X.toarray() / scale), y=sites[0].y,
                             feature_ids=sites[0].feature_ids, feature_names=sites[0].feature_names)  # fmt: skip
    np.testing.assert_allclose(direct.hessian, newton_site(by_hand, beta).hessian, rtol=1e-12)


def test_newton_with_l2_equals_scikit_learn_penalised_fit_on_the_scaled_columns(sites) -> None:
    X, y = _pooled(sites)
    scale = scale_aggregate([scale_site(s) for s in sites])
    for l2 in (1.0, 100.0):
        model = fit_newton(sites, l2=l2)
        sk = LogisticRegression(C=1 / l2, l1_ratio=0.0, solver="lbfgs", tol=1e-12,
                                max_iter=10_000).fit(X / scale, y)  # fmt: skip
        np.testing.assert_allclose(model.weights[0].ravel(), sk.coef_.ravel() / scale, atol=1e-6)
        assert model.weights[1][0] == pytest.approx(sk.intercept_[0], abs=1e-6)


def test_local_l2_logistic_and_federated_newton_share_one_objective(sites) -> None:
    pooled = PredictionData(X=sparse.vstack([s.X for s in sites]).tocsr(),
                            y=np.concatenate([s.y for s in sites]),
                            feature_ids=sites[0].feature_ids, feature_names=sites[0].feature_names)  # fmt: skip
    local = fit(ModelSpec(kind="logistic_l2", hyperparameters={"C": 0.05}), pooled)
    federated = fit_newton(sites, l2=20.0)
    np.testing.assert_allclose(local.weights[0], federated.weights[0], atol=1e-5)
    np.testing.assert_allclose(local.weights[1], federated.weights[1], atol=1e-5)


def test_mlp_backpropagation_matches_finite_differences(sites) -> None:
    from medhaven.prediction.federated import _gradients
    from medhaven.prediction.models import forward

    data = sites[0].subset(np.arange(50))
    y = data.y.astype(np.float64)
    params = init_params(8, (5, 3), seed=3)
    l2 = 0.01

    def loss(ps: list[np.ndarray]) -> float:
        p = forward(ps, data.X)
        ll = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
        return float(ll + 0.5 * l2 * sum(np.sum(w**2) for w in ps[0::2]))

    grads = _gradients(params, data.X, y, l2)
    eps = 1e-6
    for k, (w, g) in enumerate(zip(params, grads, strict=True)):
        for idx in [(0,) * w.ndim, tuple(s - 1 for s in w.shape)]:
            bumped = [q.copy() for q in params]
            bumped[k][idx] += eps
            lowered = [q.copy() for q in params]
            lowered[k][idx] -= eps
            numeric = (loss(bumped) - loss(lowered)) / (2 * eps)
            assert g[idx] == pytest.approx(numeric, abs=1e-7), (k, idx)


def test_bad_local_settings_are_refused() -> None:
    with pytest.raises(InvalidInput, match="learning rate > 0"):
        LocalConfig(learning_rate=0.0)
    with pytest.raises(InvalidInput, match="l2 and mu"):
        LocalConfig(mu=-1.0)
