"""The study builder's differential-privacy fields: an MLP study gets a ``dp`` block the hub's
own parameter check accepts; a bad value or another model is one line naming the field."""

from __future__ import annotations

import pytest

from medhaven.errors import InvalidInput
from medhaven.prediction.node_training import check_parameters
from medhaven.web.study import study_parameters

FORM = {"kind": ["prediction"], "cohort_name": ["essential_hypertension"],
        "outcome_name": ["heart_failure_admission"], "tar_start": ["1"], "tar_end": ["365"],
        "model_kind": ["mlp"], "study_name": ["dp study"]}  # fmt: skip


def test_an_mlp_study_with_epsilon_gets_a_dp_block_the_hub_accepts() -> None:
    kind, params = study_parameters({**FORM, "dp_epsilon": ["4"], "dp_clip": ["0.5"]})
    assert kind == "train" and params["dp"] == {"epsilon": 4.0, "clip": 0.5}
    check_parameters("train", params)  # raises on a block the hub would refuse
    _kind, plain = study_parameters({**FORM, "dp_epsilon": [""]})
    assert "dp" not in plain


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"dp_epsilon": ["4"], "model_kind": ["logistic_l2"]}, "dp_epsilon: differential privacy"),
        ({"dp_epsilon": ["four"]}, "dp_epsilon: a number"),
        ({"dp_epsilon": ["4"], "dp_clip": ["0"]}, "dp_clip: a number above 0"),
    ],
)
def test_a_bad_dp_field_is_one_line_naming_it(extra: dict[str, list[str]], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        study_parameters({**FORM, **extra})
