"""One site's prediction data: sparse features, labels and subgroup labels, row by row.

Rows are the persons of a study population (one row per target cohort entry
that survived the population rules); columns are features with stable ids
(:mod:`medhaven.prediction.features`), sorted ascending, so that two sites
that agree on a list of feature ids share one feature space
(:meth:`PredictionData.align`). This object holds patient-level data: it is
built and used at a node and never leaves it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from medhaven.errors import InvalidInput


@dataclass(frozen=True)
class PredictionData:
    """Features ``X`` (n x p, CSR, float64), labels ``y`` (n, 0/1) and per-row subgroup labels.

    ``feature_ids`` (p, int64, strictly ascending) name the columns;
    ``feature_names`` are their human-readable names (same order).
    ``subgroups`` maps a grouping (``"sex"``, ``"age_group"``) to one label
    per row (all recorded values, e.g. ``"female"``, ``"male"``,
    ``"unknown"``). ``site`` names the node; ``attrition`` lists the
    population steps as ``{"step", "persons"}`` (node-internal counts, to be
    disclosure-controlled before release).
    """

    X: sparse.csr_matrix
    y: npt.NDArray[np.int8]
    feature_ids: npt.NDArray[np.int64]
    feature_names: list[str]
    subgroups: dict[str, npt.NDArray[np.str_]] = field(default_factory=dict)
    site: str = ""
    attrition: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        n, p = self.X.shape
        if self.y.shape != (n,):
            raise InvalidInput(f"prediction data: {n} rows of features but {len(self.y)} labels")
        if self.feature_ids.shape != (p,) or len(self.feature_names) != p:
            raise InvalidInput(f"prediction data: {p} feature columns but ids/names do not match")
        if p > 1 and not bool(np.all(np.diff(self.feature_ids) > 0)):
            raise InvalidInput("prediction data: feature ids must be strictly ascending")
        for name, labels in self.subgroups.items():
            if labels.shape != (n,):
                raise InvalidInput(f"prediction data: subgroup {name} has not one label per row")

    @property
    def rows(self) -> int:
        """Number of persons (rows)."""
        return int(self.X.shape[0])

    @property
    def outcomes(self) -> int:
        """Number of rows with the outcome."""
        return int(self.y.sum())

    def align(
        self, feature_ids: npt.NDArray[np.int64], feature_names: list[str] | None = None
    ) -> PredictionData:
        """The same rows in the column space ``feature_ids`` (ascending): missing features are
        all-zero columns, features not in the list are dropped."""
        ids = np.asarray(feature_ids, dtype=np.int64)
        if ids.size > 1 and not bool(np.all(np.diff(ids) > 0)):
            raise InvalidInput("align: feature ids must be strictly ascending")
        pos = np.searchsorted(ids, self.feature_ids)
        found = (pos < ids.size) & (ids[np.minimum(pos, max(ids.size - 1, 0))] == self.feature_ids)
        coo = self.X.tocoo()
        keep = found[coo.col]
        X = sparse.csr_matrix(
            (coo.data[keep], (coo.row[keep], pos[coo.col[keep]])),
            shape=(self.rows, int(ids.size)),
        )
        names = feature_names
        if names is None:
            mine = dict(zip(self.feature_ids.tolist(), self.feature_names, strict=True))
            names = [mine.get(int(i), f"feature {int(i)}") for i in ids]
        return PredictionData(X=X, y=self.y, feature_ids=ids, feature_names=list(names),
                              subgroups=self.subgroups, site=self.site,
                              attrition=self.attrition)  # fmt: skip

    def subset(self, rows: npt.NDArray[np.bool_] | npt.NDArray[np.int64]) -> PredictionData:
        """The rows selected by a boolean mask or an index array (e.g. a train/test split)."""
        return PredictionData(X=self.X[rows], y=self.y[rows], feature_ids=self.feature_ids,
                              feature_names=self.feature_names,
                              subgroups={k: v[rows] for k, v in self.subgroups.items()},
                              site=self.site, attrition=self.attrition)  # fmt: skip


__all__ = ["PredictionData"]
