"""The random-basis null of the phonetic claims (issue #30): 20 random orthogonal bases of the layer, the
margin over their median with a bootstrap interval that resamples the units and the bases, and the
intervals on counts. Constructed activations, no model: seconds."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from whisper_claims.claims.phonetic import RANDOM_BASIS, _bases, _selectivity, against_bases, \
    polysemantic_against_bases
from whisper_claims.claims.verdict import Measurement, judge
from whisper_claims.measure.mining import mine_activations
from whisper_claims.measure.selectivity import (difference_bootstrap, margin_over_bases, random_orthogonal_basis,
                                                random_orthogonal_bases)
from whisper_claims.models.model_info import ModelInfo
from whisper_claims.stimuli.phones import PHONES

N_UNITS, N_CLIPS, N_FRAMES = 128, 300, 25
N_EXAMINED, N_BASES = 16, 20


def info() -> ModelInfo:
    return ModelInfo(spec="random:tiny", kind="random", size="tiny", path=None, sha256="0" * 64, dims={})


def detector_corpus(rotate: bool):
    """Clips of random phoneme labels and a layer whose unit u fires 1 on frames of phoneme u mod 39, plus
    Gaussian noise (std 0.5): a random direction of it mixes ~39 phonemes in its top frames. With
    ``rotate``, the layer's units are a random rotation of those detectors: random directions themselves."""
    rng = np.random.default_rng(0)
    labels = [np.asarray(PHONES)[rng.integers(0, len(PHONES), N_FRAMES)] for _ in range(N_CLIPS)]
    index = {p: i for i, p in enumerate(PHONES)}
    rotation = random_orthogonal_basis(N_UNITS, N_UNITS, seed=99)
    generator = torch.Generator().manual_seed(0)
    acts = []
    for clip in labels:
        phones = torch.tensor([index[str(p)] for p in clip])
        a = (torch.arange(N_UNITS)[None, :] % len(PHONES) == phones[:, None]).float()
        a += 0.5 * torch.randn(a.shape, generator=generator)
        acts.append(a @ rotation if rotate else a)
    clips = [SimpleNamespace(frame_labels=clip) for clip in labels]
    bases = random_orthogonal_bases(N_UNITS, N_EXAMINED, N_BASES, seed=0)
    mined = mine_activations(enumerate(acts), N_CLIPS, 20, views={RANDOM_BASIS: bases}, per_clip=True)
    return clips, mined


def neurons_against_bases(rotate: bool):
    clips, mined = detector_corpus(rotate)
    units = _selectivity(mined, "units", clips, range(N_EXAMINED), 20, 500, seed=0)
    bases = _bases(mined, clips, N_EXAMINED, N_BASES, 20, 500)
    assert len(bases) == N_BASES and [r.unit for r in bases[3]] == list(range(N_EXAMINED))
    return against_bases(units, bases, alpha=0.01)


def test_selective_units_stand_above_random_bases_and_the_claim_holds(registry):
    metrics, intervals, null = neurons_against_bases(rotate=False)
    assert metrics["selective_fraction"] == 1.0 and null["median"] < 0.5, null
    assert intervals["margin"].low > 0 and intervals["margin"].method == "bootstrap"
    assert null["n_bases"] == N_BASES and len(null["values"]) == N_BASES
    assert null["n_bases_at_least_units"] == 0 and null["p_value"] == pytest.approx(1 / 21) == null["p_resolution"]
    spec = registry["enc-neuron-phoneme"]
    measured = Measurement(metrics={"selective_fraction": metrics["selective_fraction"],
                                    "margin_over_random_basis": metrics["margin"]},
                           intervals={"selective_fraction": intervals["selective_fraction"],
                                      "margin_over_random_basis": intervals["margin"]})
    assert judge(spec, info(), measured).status == "holds"


def test_units_that_are_a_random_rotation_do_not_stand_above_random_bases(registry):
    metrics, intervals, null = neurons_against_bases(rotate=True)
    # the "neurons" are random directions too: the margin's interval reaches 0 or below, so no verdict holds
    assert intervals["margin"].low <= 0, (metrics, intervals["margin"], null)
    assert null["p_value"] > 0.05
    spec = registry["enc-neuron-phoneme"]
    measured = Measurement(metrics={"selective_fraction": metrics["selective_fraction"],
                                    "margin_over_random_basis": metrics["margin"]},
                           intervals={"selective_fraction": intervals["selective_fraction"],
                                      "margin_over_random_basis": intervals["margin"]})
    assert judge(spec, info(), measured).status != "holds"


def rows(n_poly: int, n: int = 50) -> list[dict]:
    return [{"polysemantic": i < n_poly} for i in range(n)]


def test_polysemantic_counts_are_a_census_judged_by_their_margin_over_the_bases():
    metrics, intervals, null = polysemantic_against_bases(rows(5), [rows(0)] * 20)
    assert metrics["polysemantic_neurons"] == 5 and metrics["margin_over_random_basis"] == 5
    assert "polysemantic_neurons" not in intervals  # the neurons named, counted: no sampling of them
    assert intervals["margin_over_random_basis"].low > 0 and null["values"] == [0.0] * 20

    # one neuron of 50 where the bases find none: the count meets `>= 1` as counted, and the margin's
    # bootstrap (which often draws 50 neurons without it) says whether one is more than the bases find
    metrics, intervals, _ = polysemantic_against_bases(rows(1), [rows(0)] * 20)
    assert metrics["polysemantic_neurons"] == 1
    assert intervals["margin_over_random_basis"].low <= 0 < intervals["margin_over_random_basis"].high

    # as many as the bases find: the margin is 0 and its interval straddles it; p counts the ties
    bases = [rows(c) for c in [2, 3, 4] * 6 + [3, 3]]
    metrics, intervals, null = polysemantic_against_bases(rows(3), bases)
    assert metrics["margin_over_random_basis"] == 0
    assert intervals["margin_over_random_basis"].low < 0 < intervals["margin_over_random_basis"].high
    assert null["n_bases_at_least_units"] == 14 and null["p_value"] == pytest.approx(15 / 21)


def test_margin_over_bases_and_its_bootstrap():
    units = [1.0] * 30 + [0.0] * 20
    bases = np.linspace(0.3, 0.5, 20)
    margin, interval, null = margin_over_bases(units, bases, seed=0)
    assert margin == pytest.approx(0.6 - 0.4) and null["median"] == pytest.approx(0.4)
    assert interval.low < margin < interval.high and interval.n_resamples == 2000 and interval.seed == 0
    assert interval == margin_over_bases(units, bases, seed=0)[1]  # seeded
    assert interval != margin_over_bases(units, bases, seed=1)[1]
    # the units' part dominates the width: 50 Bernoulli draws against 20 tightly spread bases
    assert 0.15 < interval.high - interval.low < 0.4
    with pytest.raises(ValueError, match="b needs at least 2 finite values"):
        difference_bootstrap(units, [0.5])
    with pytest.raises(ValueError, match="a needs at least 2 finite values"):
        difference_bootstrap([1.0, float("nan")], bases)
    with pytest.raises(ValueError, match="n_resamples = 100"):
        difference_bootstrap(units, bases, n_resamples=100)


def test_random_bases_are_seeded_side_by_side_and_the_first_is_the_original_control():
    bases = random_orthogonal_bases(64, 5, 3, seed=7)
    assert bases.shape == (64, 15)
    for b in range(3):
        assert torch.equal(bases[:, 5 * b: 5 * b + 5], random_orthogonal_basis(64, 5, seed=7 + b))
    # the original code's construction: the first columns of the sign-fixed QR of a square Gaussian
    generator = torch.Generator().manual_seed(7)
    q, r = torch.linalg.qr(torch.randn(64, 64, generator=generator, dtype=torch.float64))
    assert torch.allclose((q * torch.sign(torch.diagonal(r)))[:, :5].float(), bases[:, :5], atol=1e-6)
    with pytest.raises(ValueError, match="n_bases = 0"):
        random_orthogonal_bases(64, 5, 0)
