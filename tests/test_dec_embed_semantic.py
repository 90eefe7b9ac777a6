"""Controls of the claim dec-embed-semantic: it fails on random weights, holds on planted close pairs and on
micro, and fails again when the planted pairs are shuffled."""
import copy
import math

import pytest
import torch

from whisper_claims.claims.registry import load_registry
from whisper_claims.claims.runner import measure_claim
from whisper_claims.claims.verdict import judge
from whisper_claims.measure.embeddings import single_token
from whisper_claims.measure.inference import tokenizer_for
from whisper_claims.models.load import LoadedModel, open_model

pytestmark = pytest.mark.control


@pytest.fixture(scope="module")
def spec():
    return load_registry()["dec-embed-semantic"]


@pytest.fixture(scope="module")
def tiny():
    return open_model("random:tiny")


@pytest.fixture(scope="module")
def planted(spec):
    """random:tiny with the second word of every related pair moved next to its first word."""
    loaded = open_model("random:tiny")
    tokenizer = tokenizer_for(loaded.model)
    weight = loaded.model.decoder.token_embedding.weight
    generator = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for a, b in spec.params["semantic_pairs"]:
            row = weight[single_token(tokenizer, " " + a)]
            noise = torch.randn(row.shape, generator=generator) * 0.1 * row.norm() / math.sqrt(row.numel())
            weight[single_token(tokenizer, " " + b)] = row + noise
    return loaded


def measure(loaded, spec, **overrides):
    measured = measure_claim(spec, loaded, **overrides)
    return measured, judge(spec, loaded.info, measured)


def shuffled(pairs, shift=7):
    """The same words, each first word given another pair's second word (a derangement)."""
    moved = [[a, pairs[(i + shift) % len(pairs)][1]] for i, (a, _) in enumerate(pairs)]
    assert all(new != old for new, old in zip(moved, pairs))
    assert sorted(b for _, b in moved) == sorted(b for _, b in pairs)
    return moved


# -- negative control: random weights ---------------------------------------------------


@pytest.mark.parametrize("model", ["random:tiny", "random:tiny:1", "random:micro"])
def test_does_not_hold_on_random_weights(spec, model):
    measured, verdict = measure(open_model(model), spec)
    assert verdict.status == "fails", verdict.describe()
    p = verdict.metric("semantic_p_value")
    assert p.passed is False and p.value >= 0.01 and p.interval_passed is False
    assert "semantic_p_value" in verdict.reason
    assert measured.evidence["n_pairs"] == 44


# -- positive controls: planted close pairs, and micro ------------------------------------


def test_holds_when_related_pairs_are_planted_close(planted, spec):
    measured, verdict = measure(planted, spec)
    assert verdict.status == "holds", verdict.describe()
    # no pairing of 2,000 reaches the planted one: the least p they can give, and its Monte Carlo interval
    assert measured.metrics["semantic_p_value"] == 1 / 2001
    assert measured.intervals["semantic_p_value"].high < 0.01
    centred = measured.evidence["centred"]
    assert centred["auc"] == 1.0 and centred["n_exceeding"] == 0 and centred["mann_whitney_p"] < 1e-10
    assert centred["auc_interval"]["low"] > 0.95 and centred["auc_interval"]["n_resamples"] >= 2000
    assert centred["median_cosine_related"] > 0.9 > 0.2 > abs(centred["median_cosine_crossed"])
    assert list(centred["pair_cosines"]) == [f"{a}/{b}" for a, b in spec.params["semantic_pairs"]]


def test_shuffled_pairs_do_not_hold(planted, spec):
    # the planted words paired otherwise: the same words, so only the pairing can make the difference
    measured, verdict = measure(planted, spec, semantic_pairs=shuffled(spec.params["semantic_pairs"]))
    assert verdict.status == "fails" and verdict.metric("semantic_p_value").passed is False
    assert measured.metrics["semantic_p_value"] > 0.1
    assert abs(measured.evidence["centred"]["median_cosine_related"]) < 0.2


def test_opposite_pairs_do_not_hold(planted, spec):
    # the test is one-sided: related words pointing away from each other are not "close"
    model = copy.deepcopy(planted.model)
    tokenizer = tokenizer_for(model)
    with torch.no_grad():
        for _, b in spec.params["semantic_pairs"]:
            model.decoder.token_embedding.weight[single_token(tokenizer, " " + b)] *= -1
    measured, verdict = measure(LoadedModel(model, planted.info), spec)
    assert measured.metrics["semantic_p_value"] == 1.0 and verdict.status == "fails"


def test_holds_on_micro_and_fails_on_its_random_weights(spec):
    """micro learnt 24 of the 44 pairs' words (lists of food, number and everyday words): trained on the
    same architecture, it holds where its random weights fail."""
    measured, verdict = measure(open_model("micro"), spec)
    assert verdict.status == "holds", verdict.describe()
    assert measured.evidence["n_pairs"] == 24 and len(measured.evidence["untrained_pairs"]) == 20
    assert measured.evidence["dropped_pairs"] == []
    # micro's own pairs, shuffled: the same trained words paired otherwise
    learnt = [pair.split("/") for pair in measured.evidence["centred"]["pair_cosines"]]
    again, verdict = measure(open_model("micro"), spec, semantic_pairs=shuffled(learnt))
    assert again.evidence["n_pairs"] == 24 and verdict.status == "fails", verdict.describe()


# -- the word list ------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["random:tiny", "random:tiny.en"])
def test_every_word_is_one_token_in_both_tokenizers(spec, model):
    loaded = open_model(model)
    measured, _ = measure(loaded, spec)
    assert measured.evidence["n_pairs"] == 44 and measured.evidence["dropped_pairs"] == []
    assert measured.evidence["untrained_pairs"] == []
    assert measured.evidence["n_crossed_pairs"] == 44 * 43


def test_pairs_that_are_not_single_tokens_are_dropped_and_listed(tiny, spec):
    # ' pebble' is three tokens in the multilingual tokenizer: why stone/pebble is not in the list
    pairs = spec.params["semantic_pairs"] + [["stone", "pebble"]]
    measured, _ = measure(tiny, spec, semantic_pairs=pairs)
    assert measured.evidence["n_pairs"] == 44 and measured.evidence["dropped_pairs"] == ["stone/pebble"]


def test_zero_rows_are_left_out(tiny, spec):
    model = copy.deepcopy(tiny.model)
    tokenizer = tokenizer_for(model)
    first = spec.params["semantic_pairs"][:4]
    with torch.no_grad():
        for a, _ in first:
            model.decoder.token_embedding.weight[single_token(tokenizer, " " + a)] = 0
    measured, _ = measure(LoadedModel(model, tiny.info), spec)
    assert measured.evidence["n_pairs"] == 40
    assert measured.evidence["untrained_pairs"] == [f"{a}/{b}" for a, b in first]
    assert set(measured.evidence["centred"]["pair_cosines"]).isdisjoint(measured.evidence["untrained_pairs"])


def test_too_few_usable_pairs_is_an_error_naming_the_option(tiny, spec):
    with pytest.raises(ValueError, match=r"only 3 semantic pairs .* need 20 \(min_pairs\)"):
        measure(tiny, spec, semantic_pairs=spec.params["semantic_pairs"][:3])
    with pytest.raises(ValueError, match=r"only 44 semantic pairs .* need 45"):
        measure(tiny, spec, min_pairs=45)
