import json
import math
from datetime import date

import numpy as np
import pytest
import torch

from whisper_claims.claims.registry import ClaimSpec, MetricSpec
from whisper_claims.claims.verdict import Measurement, Verdict, jsonable, judge
from whisper_claims.measure.intervals import Interval
from whisper_claims.models.model_info import ModelInfo


def info(size="tiny", spec=None) -> ModelInfo:
    return ModelInfo(spec=spec or f"random:{size}", kind="random", size=size, path=None,
                     sha256="0" * 64, dims={})


def claim(**metrics: MetricSpec) -> ClaimSpec:
    return ClaimSpec(id="toy-claim", statement="toys are fine", section="1) toys", marker="encoder",
                     function="toyclaims:width", key_metric=next(iter(metrics)), metrics=metrics)


def metric(name, comparator, threshold, provenance=None, **kwargs) -> MetricSpec:
    return MetricSpec(name, f"the {name}", comparator, threshold, provenance or f"figure of {name}", **kwargs)


SPEC = claim(
    accuracy=metric("accuracy", ">=", 0.9, "post §1, 90% of frames"),
    p_value=metric("p_value", "<", 0.01, "CLAIMS.md, rank test"),
)


# -- judge --------------------------------------------------------------------------------


def test_all_metrics_pass_holds():
    verdict = judge(SPEC, info(), Measurement({"accuracy": 0.95, "p_value": 0.001}, {"n": 3}))
    assert verdict.status == "holds" and verdict.holds
    assert (verdict.claim, verdict.model) == ("toy-claim", "random:tiny")
    assert verdict.reason == ""
    assert [m.passed for m in verdict.metrics] == [True, True]
    assert verdict.metric("accuracy").value == 0.95
    assert verdict.evidence == {"n": 3}


def test_one_failing_metric_fails_and_is_named():
    verdict = judge(SPEC, info(), Measurement({"accuracy": 0.95, "p_value": 0.2}))
    assert verdict.status == "fails" and not verdict.holds
    assert verdict.metric("accuracy").passed is True
    assert verdict.metric("p_value").passed is False
    assert "p_value" in verdict.reason and "accuracy" not in verdict.reason


def test_every_failing_metric_is_named():
    verdict = judge(SPEC, info(), Measurement({"accuracy": 0.5, "p_value": 0.2}))
    assert verdict.reason == "not met: accuracy, p_value"


def test_equality_edge_follows_the_comparator():
    verdict = judge(SPEC, info(), Measurement({"accuracy": 0.9, "p_value": 0.01}))
    assert verdict.metric("accuracy").passed is True  # >= 0.9
    assert verdict.metric("p_value").passed is False  # < 0.01
    assert verdict.status == "fails"


def test_metric_for_other_sizes_is_not_judged():
    spec = claim(
        p_value=metric("p_value", "<", 0.01),
        tiny_only=metric("tiny_only", ">=", 2, applies_to=("tiny",)),
    )
    measured = Measurement({"p_value": 0.001, "tiny_only": 0})
    on_base = judge(spec, info("base"), measured)
    assert on_base.metric("tiny_only").passed is None
    assert on_base.metric("tiny_only").value == 0.0  # still reported
    assert on_base.status == "holds"
    on_tiny = judge(spec, info("tiny"), measured)
    assert on_tiny.metric("tiny_only").passed is False
    assert on_tiny.status == "fails" and "tiny_only" in on_tiny.reason
    # a custom model (no official size) is judged only on metrics for every size
    assert judge(spec, info(None, spec="ckpt.pt"), measured).status == "holds"


def test_per_size_override_is_the_threshold_reported():
    spec = claim(acc=metric("acc", ">=", 0.5, overrides={"base": 0.8}))
    measured = Measurement({"acc": 0.6})
    assert judge(spec, info("tiny"), measured).metric("acc").threshold == 0.5
    on_base = judge(spec, info("base"), measured)
    assert on_base.metric("acc").threshold == 0.8
    assert on_base.status == "fails"


def test_missing_metric_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match=r"toy-claim.*no value for p_value"):
        judge(SPEC, info(), Measurement({"accuracy": 0.95}))


def test_extra_metrics_are_ignored():
    verdict = judge(SPEC, info(), Measurement({"accuracy": 1, "p_value": 0, "extra": 5}))
    assert [m.name for m in verdict.metrics] == ["accuracy", "p_value"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), np.float32("nan")])
def test_non_finite_value_is_none_and_fails(value):
    # -inf would pass "<" if it were kept: non-finite is never a pass
    verdict = judge(SPEC, info(), Measurement({"accuracy": 0.95, "p_value": value}))
    result = verdict.metric("p_value")
    assert result.value is None
    assert result.passed is False
    assert verdict.status == "fails" and "p_value" in verdict.reason


def test_numpy_and_torch_values_are_plain_floats():
    verdict = judge(SPEC, info(), Measurement({"accuracy": np.float32(0.95), "p_value": torch.tensor(0.001)}))
    assert verdict.holds
    for m in verdict.metrics:
        assert type(m.value) is float


# -- describe -----------------------------------------------------------------------------


def test_describe_shows_every_number():
    spec = claim(
        accuracy=metric("accuracy", ">=", 0.9, "post §1, 90% of frames"),
        p_value=metric("p_value", "<", 0.01, "CLAIMS.md, rank test"),
        big_only=metric("big_only", ">", 3, "large figure", applies_to=("large-v3",)),
    )
    verdict = judge(spec, info("tiny", "random:tiny:7"), Measurement({"accuracy": 0.5, "p_value": 0.001,
                                                                    "big_only": 1.0}))
    text = verdict.describe()
    lines = text.splitlines()
    assert "toy-claim" in lines[0] and "fails" in lines[0] and "random:tiny:7" in lines[0]
    assert "accuracy" in lines[0]  # the reason
    assert "FAIL" in lines[1] and "accuracy = 0.5" in lines[1] and ">= 0.9" in lines[1]
    assert "post §1, 90% of frames" in lines[1]
    assert "ok" in lines[2] and "p_value = 0.001" in lines[2] and "< 0.01" in lines[2]
    assert "CLAIMS.md, rank test" in lines[2]
    assert "n/a" in lines[3] and "big_only = 1" in lines[3] and "> 3" in lines[3]
    assert "large figure" in lines[3]


def test_describe_shows_unmeasurable_value_as_na():
    verdict = judge(SPEC, info(), Measurement({"accuracy": float("nan"), "p_value": 0.001}))
    assert "accuracy = n/a (needs >= 0.9" in verdict.describe()


def test_describe_skipped_verdict_gives_the_reason():
    text = Verdict("toy-claim", "tiny", "skipped", reason="model 'tiny' is absent").describe()
    assert text == "claim toy-claim skipped on model tiny: model 'tiny' is absent"


def test_to_json_row():
    verdict = judge(SPEC, info(), Measurement({"accuracy": 0.95, "p_value": float("nan")},
                                             {"cos": np.array([0.5, np.nan])}))
    row = verdict.to_json()
    assert row["claim"] == "toy-claim" and row["model"] == "random:tiny" and row["status"] == "fails"
    assert row["metrics"]["accuracy"] == {"value": 0.95, "comparator": ">=", "threshold": 0.9,
                                          "passed": True, "provenance": "post §1, 90% of frames"}
    assert row["metrics"]["p_value"]["value"] is None and row["metrics"]["p_value"]["passed"] is False
    assert row["evidence"] == {"cos": [0.5, None]}
    json.dumps(row, allow_nan=False)


# -- jsonable -----------------------------------------------------------------------------


def test_jsonable_numpy_and_torch():
    out = jsonable({
        "f32": np.float32(0.5),
        "i64": np.int64(7),
        "bool": np.bool_(True),
        "arr": np.arange(4).reshape(2, 2),
        "farr": np.array([1.5, np.nan, np.inf]),
        "t": torch.tensor([[1.0, 2.0]]),
        "t0": torch.tensor(3),
        "tnan": torch.tensor(float("nan")),
        "grad": torch.ones(2, requires_grad=True) * 2,
    })
    assert out == {"f32": 0.5, "i64": 7, "bool": True, "arr": [[0, 1], [2, 3]], "farr": [1.5, None, None],
                   "t": [[1.0, 2.0]], "t0": 3, "tnan": None, "grad": [2.0, 2.0]}
    assert type(out["i64"]) is int and type(out["f32"]) is float and type(out["bool"]) is bool
    json.dumps(out, allow_nan=False)


def test_jsonable_nested_and_plain_values():
    value = {1: ("a", [np.float64(math.nan), {"x": (1, 2)}]), "n": None, "s": "t", "b": False,
             "inf": -math.inf}
    out = jsonable(value)
    assert out == {"1": ["a", [None, {"x": [1, 2]}]], "n": None, "s": "t", "b": False, "inf": None}
    assert json.loads(json.dumps(out, allow_nan=False)) == out


@pytest.mark.parametrize("value, type_name", [({1, 2}, "set"), (date(2024, 1, 1), "date"),
                                               (object(), "object"), (b"x", "bytes")])
def test_jsonable_unsupported_type_names_it(value, type_name):
    with pytest.raises(TypeError, match=rf"of type {type_name} is not JSON-serialisable"):
        jsonable({"evidence": [value]})


# -- intervals: holds and fails need the whole interval on one side ---------------------------------


def interval(low, high, n_units=19):
    return Interval(low, high, "bootstrap", n_units, n_resamples=2000, seed=0)


@pytest.mark.parametrize("low, high, status", [
    (0.92, 0.97, "holds"),  # all of it passes
    (0.80, 0.89, "fails"),  # none of it passes
    (0.85, 0.95, "inconclusive"),  # it straddles 0.9
])
def test_an_interval_decides_the_metric(low, high, status):
    verdict = judge(SPEC, info(), Measurement({"accuracy": 0.91, "p_value": 0.001},
                                              intervals={"accuracy": interval(low, high)}))
    assert verdict.status == status
    assert verdict.metric("accuracy").passed is True  # the point estimate, recorded as before
    if status == "inconclusive":
        assert verdict.reason == "interval straddles the threshold: accuracy"
        assert "??   accuracy = 0.91 [0.85, 0.95] (needs >= 0.9" in verdict.describe()


def test_a_failing_metric_outweighs_an_undecided_one():
    verdict = judge(SPEC, info(), Measurement({"accuracy": 0.91, "p_value": 0.2},
                                              intervals={"accuracy": interval(0.85, 0.95)}))
    assert verdict.status == "fails" and verdict.reason == "not met: p_value"


def test_a_metric_with_no_sampling_unit_keeps_holds_and_fails():
    verdict = judge(SPEC, info(), Measurement({"accuracy": 0.91, "p_value": 0.001}))
    assert verdict.status == "holds" and verdict.metric("accuracy").interval is None
    assert "interval" not in verdict.to_json()["metrics"]["accuracy"]  # records without intervals are unchanged


def test_the_interval_is_recorded_with_how_it_was_made_and_its_say():
    verdict = judge(SPEC, info(), Measurement({"accuracy": 0.91, "p_value": 0.001},
                                              intervals={"accuracy": interval(0.85, 0.95)}))
    assert verdict.to_json()["metrics"]["accuracy"]["interval"] == {
        "low": 0.85, "high": 0.95, "level": 0.95, "method": "bootstrap", "n_units": 19, "n_resamples": 2000,
        "seed": 0, "passed": None}


def test_intervals_of_metrics_the_claim_does_not_judge_are_ignored_like_the_metrics():
    # sibling claims judge different metrics of one measurement (enc-window-k75-general, -narrow-general)
    verdict = judge(SPEC, info(), Measurement({"accuracy": 0.91, "p_value": 0.001, "recall": 0.3},
                                              intervals={"recall": interval(0.1, 0.5)}))
    assert verdict.status == "holds" and [m.name for m in verdict.metrics] == ["accuracy", "p_value"]
