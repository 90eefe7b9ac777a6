"""measure.sae_frontier: which recorded SAE recipes meet issue #31's bars, the closest one when none does,
and the record shipped with the package (every row readable, each naming weights this project loads)."""
import json
import math

import pytest

from whisper_claims.claims.registry import load_registry
from whisper_claims.errors import SAEFileError
from whisper_claims.measure import sae_frontier

BARS = {"max_l0": 64, "min_explained_variance": 0.8, "min_wer_recovered": 0.9, "provenance": "test"}
ROW = {"model": "tiny.en", "parameters_sha256": "ab" * 32, "layer": "encoder.blocks.3", "recipe": "topk",
       "width": 4, "k": 64, "n_features": 1536, "mean_l0": 64.0, "explained_variance": [0.86, 0.88],
       "wer_recovered": {"clean": 0.95, "clean_interval": [0.9, 1.0]}, "selective": {"fraction": 0.7}}


def test_a_row_qualifies_only_when_it_meets_every_bar():
    assert sae_frontier.qualifies(ROW, BARS)
    for change in ({"mean_l0": 64.1}, {"explained_variance": [0.79, 0.80]}, {"wer_recovered": {"clean": 0.89}},
                   {"wer_recovered": {"clean": math.nan}}, {"wer_recovered": None}, {"wer_recovered": {}}):
        assert not sae_frontier.qualifies({**ROW, **change}, BARS), change


def test_the_closest_row_is_the_most_faithful_sparse_one():
    low = {**ROW, "wer_recovered": {"clean": 0.5}}
    dense = {**ROW, "mean_l0": 65.1, "wer_recovered": {"clean": 0.7}}  # more WER recovered, but not sparse
    unfaithful = {**ROW, "k": 32, "mean_l0": 32.0, "explained_variance": [0.78], "wer_recovered": {"clean": 0.8}}
    assert sae_frontier.closest([low, dense, unfaithful], BARS) is low
    assert sae_frontier.closest([dense, unfaithful], BARS) is unfaithful  # no row meets EV: the most EV
    assert sae_frontier.closest([dense], BARS) is None
    assert sae_frontier.describe(low) == "topk 4× k64 on encoder.blocks.3 (L0 64.0, EV 0.870, WER recovered 0.500)"
    assert sae_frontier.describe(ROW).endswith("WER recovered 0.950 [0.90, 1.00])")
    assert sae_frontier.label({**ROW, "train_on": "speech"}) == "topk 4× k64, real speech"
    assert sae_frontier.label({**ROW, "recipe": "post", "width": None}) == "post"


def test_the_summary_and_the_figures_data_hold_every_row():
    rows = [ROW, {**ROW, "wer_recovered": {"clean": 0.5}}, {**ROW, "layer": "encoder.blocks.2"}]
    found = sae_frontier.summary(rows, BARS)
    assert found["n_recipes"] == 3 and found["qualifying"] == ["topk 4× k64"] * 2
    assert [r["qualifies"] for r in found["rows"]] == [True, False, True] and json.loads(json.dumps(found)) == found
    figures = sae_frontier.frontiers(rows, BARS)
    assert list(figures) == [("tiny.en", "encoder.blocks.3"), ("tiny.en", "encoder.blocks.2")]
    assert [p["wer_recovered"] for p in figures[("tiny.en", "encoder.blocks.3")]["points"]] == [0.95, 0.5]


def test_a_bad_record_or_bar_is_named(tmp_path):
    record = tmp_path / "rows.jsonl"
    record.write_text(json.dumps(ROW) + "\n\n{not json\n")
    with pytest.raises(SAEFileError, match=r"rows.jsonl:3: not a JSON row of benchmarks/sae_sweep.py"):
        sae_frontier.read_frontier(record)
    record.write_text(json.dumps({"model": "tiny.en"}) + "\n")
    with pytest.raises(SAEFileError, match=r"rows.jsonl:1: a sweep row without \['parameters_sha256'"):
        sae_frontier.read_frontier(record)
    with pytest.raises(ValueError, match=r"frontier_bar: missing \['provenance'\]"):
        sae_frontier.check_bars({k: v for k, v in BARS.items() if k != "provenance"}, "frontier_bar")
    with pytest.raises(ValueError, match=r"frontier_bar.max_l0 = '64': expected a number"):
        sae_frontier.check_bars({**BARS, "max_l0": "64"}, "frontier_bar")


def test_the_shipped_record_reads_and_its_bars_are_the_registrys():
    """Every row of the package's record is readable, judged by the registry's bars, and names the weights
    of a model this project loads (the tiny.en and base that requirements-weights.txt installs)."""
    from whisper_claims.models.redistributions import REDISTRIBUTIONS

    bars = load_registry()["enc-sae-phoneme"].params["frontier_bar"]
    sae_frontier.check_bars(bars, "enc-sae-phoneme.params.frontier_bar")
    rows = sae_frontier.read_frontier()
    assert rows and all(row["model"] in ("tiny.en", "base") for row in rows)
    known = {r.parameters_sha256 for r in REDISTRIBUTIONS}
    assert {row["parameters_sha256"] for row in rows} <= known
    assert all(isinstance(sae_frontier.qualifies(row, bars), bool) for row in rows)


def test_the_summary_names_the_record_it_was_read_from(tmp_path):
    default = sae_frontier.summary([ROW], BARS)["record"]
    assert default.startswith("whisper_claims/records/sae_frontier.jsonl (benchmarks/sae_sweep.py --record)")
    assert sae_frontier.summary([ROW], BARS, tmp_path / "mine.jsonl")["record"].startswith(str(tmp_path / "mine.jsonl"))
