"""PredictionData: shape checks and alignment into a shared feature space."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from medhaven.errors import InvalidInput
from medhaven.prediction.data import PredictionData


def _data() -> PredictionData:
    X = sparse.csr_matrix(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]))
    return PredictionData(
        X=X,
        y=np.array([1, 0], dtype=np.int8),
        feature_ids=np.array([10, 20, 30], dtype=np.int64),
        feature_names=["a", "b", "c"],
        subgroups={"sex": np.array(["female", "unknown"])},
        site="seoul",
    )


def test_align_reorders_adds_zero_columns_and_drops_unknown_features() -> None:
    aligned = _data().align(np.array([5, 10, 30, 40], dtype=np.int64))
    assert aligned.X.toarray().tolist() == [[0.0, 1.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    assert aligned.feature_names == ["feature 5", "a", "c", "feature 40"]
    assert aligned.y.tolist() == [1, 0]


def test_subset_keeps_rows_labels_and_subgroups_together() -> None:
    part = _data().subset(np.array([False, True]))
    assert part.X.toarray().tolist() == [[0.0, 3.0, 0.0]]
    assert part.y.tolist() == [0]
    assert part.subgroups["sex"].tolist() == ["unknown"]


def test_mismatched_shapes_and_unsorted_ids_are_refused() -> None:
    d = _data()
    with pytest.raises(InvalidInput, match="labels"):
        PredictionData(X=d.X, y=np.array([1], dtype=np.int8), feature_ids=d.feature_ids,
                       feature_names=d.feature_names)  # fmt: skip
    with pytest.raises(InvalidInput, match="ascending"):
        PredictionData(X=d.X, y=d.y, feature_ids=np.array([3, 2, 1], dtype=np.int64),
                       feature_names=d.feature_names)  # fmt: skip
