"""Controls of the claim dec-embed-sound: it fails on random weights, holds on planted ones, and tracks the pairing."""
import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import mannwhitneyu

from whisper_claims.errors import MethodInvalid
from whisper_claims.claims.registry import load_registry
from whisper_claims.claims.runner import measure_claim
from whisper_claims.claims.verdict import judge
from whisper_claims.measure.embeddings import pairing_auc, pairing_auc_interval, pairing_test, single_token
from whisper_claims.measure.inference import tokenizer_for
from whisper_claims.models.load import LoadedModel, open_model

pytestmark = pytest.mark.control

PROJECT = Path(__file__).parents[1]
NEIGHBOUR_METRICS = ("rug_neighbours_top10", "tea_coffee_top5", "duck_neighbours_top3")
# the post's neighbours, planted next to their query
PLANTED = {" rug": [" lug", " mug", " tug", " rut"], " tea": [" coffee"], " duck": [" Duck", " ducks"]}


@pytest.fixture(scope="module")
def spec():
    return load_registry()["dec-embed-sound"]


@pytest.fixture(scope="module")
def tiny():
    loaded = open_model("random:tiny")
    assert loaded.info.size == "tiny"
    return loaded


@pytest.fixture(scope="module")
def planted(spec):
    """random:tiny with rhyming words and the post's neighbours moved next to each other."""
    loaded = open_model("random:tiny")
    model = loaded.model
    tokenizer = tokenizer_for(model)
    weight = model.decoder.token_embedding.weight
    generator = torch.Generator().manual_seed(1234)

    def token(text):
        ids = tokenizer.encode(text)
        assert len(ids) == 1, f"{text!r} is not one token: {ids}"
        return ids[0]

    def place_near(source: str, target: str):
        row = weight[token(source)]
        noise = torch.randn(row.shape, generator=generator) * 0.1 * row.norm() / math.sqrt(row.numel())
        weight[token(target)] = row + noise

    with torch.no_grad():
        for a, b in spec.params["rhyme_pairs"]:
            place_near(" " + a, " " + b)
        for query, neighbours in PLANTED.items():
            for neighbour in neighbours:
                place_near(query, neighbour)
    return loaded


def measure(loaded, spec, **overrides):
    measured = measure_claim(spec, loaded, **overrides)
    return measured, judge(spec, loaded.info, measured)


# -- negative control: random weights ---------------------------------------------------


def test_does_not_hold_on_random_weights(tiny, spec):
    _, verdict = measure(tiny, spec)
    assert verdict.status == "fails"
    rhyme = verdict.metric("rhyme_p_value")
    assert rhyme.passed is False and rhyme.value >= 0.01
    for name in NEIGHBOUR_METRICS:
        assert verdict.metric(name).passed is False, name
    assert "rhyme_p_value" in verdict.reason


@pytest.mark.parametrize("seed", [1, 2])
def test_rhyme_metric_fails_on_other_random_seeds(spec, seed):
    loaded = open_model(f"random:tiny:{seed}")
    measured, verdict = measure(loaded, spec)
    assert verdict.metric("rhyme_p_value").passed is False
    assert measured.metrics["rhyme_p_value"] >= 0.01
    assert verdict.status == "fails"


# -- positive control: planted neighbours and rhymes ------------------------------------


def test_holds_when_neighbours_and_rhymes_are_planted(planted, spec):
    measured, verdict = measure(planted, spec)
    assert verdict.status == "holds", verdict.describe()
    assert all(m.passed is True for m in verdict.metrics), verdict.describe()
    assert measured.metrics["rug_neighbours_top10"] == 4
    assert measured.metrics["tea_coffee_top5"] == 1
    assert measured.metrics["duck_neighbours_top3"] == 2
    # no pairing of 2,000 reaches the planted one: the least p they can give, and its Monte Carlo interval
    assert measured.metrics["rhyme_p_value"] == 1 / 2001
    assert measured.intervals["rhyme_p_value"].high < 0.01
    rhyme = measured.evidence["rhyme"]["centred"]
    assert rhyme["median_cosine_rhyming"] > 0.9 > 0.2 > abs(rhyme["median_cosine_crossed"])
    assert rhyme["auc"] == 1.0 and rhyme["n_exceeding"] == 0 and rhyme["mann_whitney_p"] < 1e-10
    assert rhyme["auc_interval"]["low"] > 0.95
    # the eye-rhymes were not planted: rhymes are closer than every one of them
    eye = measured.evidence["eye_rhyme"]
    assert eye["n_pairs"] == len(spec.params["eye_rhyme_pairs"]) >= 10
    assert eye["centred"]["auc_rhymes_over_eye_rhymes"] == 1.0 and eye["centred"]["p_value"] > 0.01
    margin = measured.intervals["margin_over_eye_rhymes"]
    assert measured.metrics["margin_over_eye_rhymes"] > 0.3 and margin.low > 0 and margin.n_units == 40 + eye["n_pairs"]
    assert set(measured.evidence["rug_neighbours_top10"]["found"][:4]) == {"lug", "mug", "tug", "rut"}


def test_shuffled_rhyme_pairs_do_not_hold(planted, spec):
    pairs = spec.params["rhyme_pairs"]
    firsts = [a for a, _ in pairs]
    seconds = [b for _, b in pairs]
    shuffled = [[a, seconds[(i + 7) % len(pairs)]] for i, a in enumerate(firsts)]  # a derangement
    assert all(new != old for new, old in zip(shuffled, pairs))
    assert sorted(b for _, b in shuffled) == sorted(seconds)  # the same words, paired differently
    measured, verdict = measure(planted, spec, rhyme_pairs=shuffled)
    assert verdict.metric("rhyme_p_value").passed is False
    assert measured.metrics["rhyme_p_value"] > 0.1
    assert abs(measured.evidence["rhyme"]["centred"]["median_cosine_rhyming"]) < 0.2  # the new pairs are not close
    # the neighbour metrics still pass: only the pairing changed
    assert [verdict.metric(n).passed for n in NEIGHBOUR_METRICS] == [True, True, True]


def with_second_rows(planted, pairs, row):
    """A copy of ``planted`` whose second word of each pair has the embedding row ``row(first, second)``."""
    model = copy.deepcopy(planted.model)
    tokenizer = tokenizer_for(model)
    weight = model.decoder.token_embedding.weight
    with torch.no_grad():
        for a, b in pairs:
            first, second = single_token(tokenizer, " " + a), single_token(tokenizer, " " + b)
            weight[second] = row(weight[first].clone(), weight[second].clone())
    return LoadedModel(model, planted.info)


def test_planted_eye_rhymes_show_that_spelling_could_explain_closeness(planted, spec):
    # eye-rhymes moved next to each other too: as close as the rhymes, the control says spelling could do it
    moved = with_second_rows(planted, spec.params["eye_rhyme_pairs"], lambda first, second: first * 1.01)
    measured, _ = measure(moved, spec)
    eye = measured.evidence["eye_rhyme"]["centred"]
    assert eye["p_value"] == 1 / 2001 and eye["auc"] == 1.0
    assert eye["auc_rhymes_over_eye_rhymes"] < 0.2  # rhymes no closer than eye-rhymes
    # the spelling null of #30: eye-rhymes stand out as much as the rhymes, so the claim fails on it
    verdict = judge(spec, planted.info, measured)
    assert measured.metrics["margin_over_eye_rhymes"] == 0 and verdict.metric("margin_over_eye_rhymes").passed is False
    assert verdict.status == "fails" and "margin_over_eye_rhymes" in verdict.reason


def test_too_few_eye_rhymes_give_no_verdict(tiny, spec):
    # without the spelling control sound cannot be told from spelling: no verdict, the rhyme test's numbers said
    with pytest.raises(MethodInvalid, match=r"has 1 of 2 \(not single tokens: 1, zero rows: 0\).*rhyme_p_value"):
        measure(tiny, spec, eye_rhyme_pairs=[["good", "food"], ["xylophonically", "zzyzx"]])


def test_opposite_rhyme_embeddings_do_not_hold(planted, spec):
    # the test is one-sided: rhyming words pointing away from each other are not "close"
    loaded = with_second_rows(planted, spec.params["rhyme_pairs"], lambda first, second: -second)
    measured, verdict = measure(loaded, spec)
    assert measured.evidence["rhyme"]["centred"]["median_cosine_rhyming"] < -0.9
    assert verdict.metric("rhyme_p_value").passed is False
    assert measured.metrics["rhyme_p_value"] == 1.0  # every pairing reaches an AUC of 0


# -- evidence -----------------------------------------------------------------------------


def test_figure_neighbours_evidence(tiny, spec):
    measured, _ = measure(tiny, spec)
    assert list(measured.evidence["neighbours"]) == ["centred", "raw"]
    neighbours = measured.evidence["neighbours"]["centred"]
    assert list(neighbours) == spec.params["figure_queries"] == [" rug", " UK", " duck", " tea"]
    for query, found in neighbours.items():
        assert len(found) == 24, query
        cosines = [n["cosine"] for n in found]
        assert cosines == sorted(cosines, reverse=True), query
        assert all(-1 <= c <= 1 for c in cosines), query
        tokens = [n["token"] for n in found]
        assert query not in tokens
        assert len(set(tokens)) == 24, query
    json.dumps(measured.evidence, allow_nan=False)


def test_planted_neighbours_lead_the_figure_evidence(planted, spec):
    measured, _ = measure(planted, spec)
    top = measured.evidence["neighbours"]["centred"][" rug"]
    assert {n["token"] for n in top[:4]} == {" lug", " mug", " tug", " rut"}
    assert all(n["cosine"] > 0.95 for n in top[:4]) and top[4]["cosine"] < 0.5
    assert " rug" not in [n["token"] for n in top]


def test_rhyme_evidence_on_the_multilingual_tokenizer(tiny, spec):
    measured, _ = measure(tiny, spec)
    rhyme = measured.evidence["rhyme"]
    assert rhyme["n_pairs"] == 40 and rhyme["dropped_pairs"] == [] and rhyme["untrained_pairs"] == []
    assert rhyme["n_crossed_pairs"] == 40 * 39
    assert 0 <= rhyme["centred"]["auc"] <= 1 and 0 <= rhyme["raw"]["auc"] <= 1


def test_english_only_tokenizer(spec):
    loaded = open_model("random:tiny.en")
    assert loaded.model.dims.n_vocab == 51864 and not loaded.model.is_multilingual
    measured, verdict = measure(loaded, spec)
    rhyme = measured.evidence["rhyme"]
    tokenizer = tokenizer_for(loaded.model)
    usable = [p for p in spec.params["rhyme_pairs"]
              if None not in (single_token(tokenizer, " " + p[0]), single_token(tokenizer, " " + p[1]))]
    assert rhyme["n_pairs"] == len(usable) >= 20
    assert len(rhyme["dropped_pairs"]) == 40 - len(usable)
    # the tiny-only neighbour thresholds do not apply to tiny.en
    assert [verdict.metric(n).passed for n in NEIGHBOUR_METRICS] == [None, None, None]
    assert verdict.metric("rhyme_p_value").passed is False


def test_pairs_that_are_not_single_tokens_are_dropped_and_listed(tiny, spec):
    pairs = spec.params["rhyme_pairs"] + [["xylophonically", "zzyzx"]]
    measured, _ = measure(tiny, spec, rhyme_pairs=pairs)
    assert measured.evidence["rhyme"]["n_pairs"] == 40
    assert measured.evidence["rhyme"]["dropped_pairs"] == ["xylophonically/zzyzx"]


def test_too_few_usable_pairs_is_an_error(tiny, spec):
    with pytest.raises(ValueError, match=r"only 3 rhyme pairs .* need 20"):
        measure(tiny, spec, rhyme_pairs=spec.params["rhyme_pairs"][:3])
    with pytest.raises(ValueError, match=r"only 40 rhyme pairs .* need 41"):
        measure(tiny, spec, min_pairs=41)
    measured, _ = measure(tiny, spec, min_pairs=40)  # exactly enough
    assert measured.evidence["rhyme"]["n_pairs"] == 40


# -- the claim test itself ----------------------------------------------------------------


def test_claim_test_fails_on_random_tiny(tmp_path):
    # "--claims-report=DIR", not "--claims-report DIR": before conftest.py loads the plugin, pytest takes
    # an existing folder given as a separate argument for a test path and picks its rootdir from it
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHISPER_CLAIMS_")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "decoder", "--whisper-models", "random:tiny", "-p", "no:cacheprovider",
         f"--claims-report={tmp_path}"],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "rhyme_p_value" in out and "claim × model" in out
    assert "claim dec-embed-sound fails on model random:tiny" in out
    document = json.loads((tmp_path / "claims.json").read_text(encoding="utf-8"))
    row, = [r for r in document["rows"] if r["claim"] == "dec-embed-sound"]
    assert row["model"] == "random:tiny" and row["status"] == "fails"
    assert row["metrics"]["rhyme_p_value"]["passed"] is False
    assert row["evidence"]["rhyme"]["n_pairs"] == 40


# -- centring: the common component the real embeddings share -------------------------------


def test_a_planted_common_component_does_not_move_the_centred_neighbours(tiny, spec):
    # every text row gets the same large vector, as Whisper's rows share one (tiny.en: norm 0.41 of 0.44)
    model = copy.deepcopy(tiny.model)
    tokenizer = tokenizer_for(model)
    weight = model.decoder.token_embedding.weight
    before, _ = measure(tiny, spec)
    with torch.no_grad():
        common = torch.randn(weight.shape[1], generator=torch.Generator().manual_seed(1))
        weight[: tokenizer.eot] += 3 * common / common.norm() * weight[: tokenizer.eot].norm(dim=1).mean()
    after, _ = measure(LoadedModel(model, tiny.info), spec)
    for query in spec.params["figure_queries"]:
        tokens = [n["token"] for n in before.evidence["neighbours"]["centred"][query]]
        assert [n["token"] for n in after.evidence["neighbours"]["centred"][query]] == tokens, query
        # raw cosines are all pulled up to the common component's
        assert min(n["cosine"] for n in after.evidence["neighbours"]["raw"][query]) > 0.8
    assert after.metrics["rhyme_p_value"] == pytest.approx(before.metrics["rhyme_p_value"], rel=1e-3)


def test_zero_rows_are_no_neighbours_and_no_rhyme_pairs(tiny, spec):
    # a model that never learnt some words (micro's untrained rows are exactly zero)
    model = copy.deepcopy(tiny.model)
    tokenizer = tokenizer_for(model)
    with torch.no_grad():
        for a, b in spec.params["rhyme_pairs"][:5]:
            model.decoder.token_embedding.weight[single_token(tokenizer, " " + a)] = 0
    measured, _ = measure(LoadedModel(model, tiny.info), spec)
    rhyme = measured.evidence["rhyme"]
    assert rhyme["n_pairs"] == 35 and rhyme["untrained_pairs"] == [f"{a}/{b}" for a, b in spec.params["rhyme_pairs"][:5]]
    zeroed = {" " + a for a, _ in spec.params["rhyme_pairs"][:5]}
    for method in ("centred", "raw"):
        for found in measured.evidence["neighbours"][method].values():
            assert not zeroed & {n["token"] for n in found}


# -- the pairing test on constructed cosines -------------------------------------------------------------


def word_effects(seed, n=40, boost=0.0):
    """Cosines of n first with n second words: each word's own pull (frequency, hubness) dominates, plus
    ``boost`` on the pairs themselves."""
    rng = np.random.default_rng(seed)
    cosines = rng.normal(size=n)[:, None] + rng.normal(size=n)[None, :] + 0.3 * rng.normal(size=(n, n))
    return cosines + boost * np.eye(n)


def test_pairing_auc_is_the_mann_whitney_auc():
    cosines = word_effects(0, boost=0.3)
    crossed = cosines[~np.eye(40, dtype=bool)]
    u = mannwhitneyu(np.diag(cosines), crossed).statistic
    assert pairing_auc(cosines) == pytest.approx(u / (40 * len(crossed)))


def test_close_pairs_give_a_small_permutation_p():
    test = pairing_test(word_effects(1, boost=0.5), n_permutations=2000, seed=0)
    assert test.p_value == 1 / 2001 and test.n_exceeding == 0
    assert test.auc > test.null_quantiles["q99"]
    assert pairing_auc_interval(word_effects(1, boost=0.5)).low > 0.5


def test_random_pairs_give_no_small_permutation_p():
    # over many pairings of words whose cosines do not depend on the pairing, p < 0.05 about 5% of the time
    ps = np.array([pairing_test(word_effects(seed), n_permutations=400, seed=0).p_value for seed in range(60)])
    assert 0 < np.mean(ps < 0.05) <= 0.12 and np.median(ps) > 0.3
    one = pairing_test(word_effects(1), n_permutations=2000, seed=0)
    assert one.p_value > 0.05 and one.null_quantiles["q50"] == pytest.approx(0.5, abs=0.01)
    interval = pairing_auc_interval(word_effects(1))
    assert interval.low < 0.5 < interval.high and interval.n_units == 40 and interval.n_resamples == 2000


def test_the_pairing_test_keeps_each_words_use_count():
    # each word is on the diagonal once, whichever the pairing: word effects cancel out of the permuted AUCs,
    # so their spread is that of the pairing alone, far below the Mann–Whitney test's for 40 against 1,560
    cosines = word_effects(2)
    test = pairing_test(cosines, n_permutations=2000, seed=0)
    mann_whitney_sd = math.sqrt((40 + 1560 + 1) / (12 * 40 * 1560))
    assert test.null_quantiles["q95"] - test.null_quantiles["q50"] < 1.645 * mann_whitney_sd
    assert pairing_test(cosines, n_permutations=2000, seed=0) == test  # seeded
    with pytest.raises(ValueError, match="at least 3 pairs"):
        pairing_test(cosines[:2, :2])
