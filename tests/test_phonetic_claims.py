"""Controls of the phonetic claims: they fail on random weights, and hold when the layer's activations
are constructed to be phoneme detectors (the claims' whole path, corpus to verdict, with planted units)."""
import numpy as np
import pytest
import torch

from whisper_claims import mining
from whisper_claims.alignments import PHONES
from whisper_claims.models import open_model
from whisper_claims.phonetic_claims import (corpus_options, enc_neuron_phoneme, enc_neuron_table,
                                            enc_polysemantic, enc_sae_phoneme, stimulus_corpus)
from whisper_claims.verdict import judge

pytestmark = pytest.mark.control

SMALL_CORPUS = {"n_clips": 60, "seed": 0, "clip_s": 2.0}
FUNCTIONS = {"enc-neuron-phoneme": enc_neuron_phoneme, "enc-neuron-table": enc_neuron_table,
             "enc-polysemantic": enc_polysemantic, "enc-sae-phoneme": enc_sae_phoneme}
SMALL_SAE = {"n_features": 64, "steps": 150, "batch_size": 256, "seed": 0}  # seconds, not minutes


def params(registry, claim, **overrides):
    small = {"corpus": SMALL_CORPUS, **({"sae": SMALL_SAE} if claim == "enc-sae-phoneme" else {}),
             **({"agreement_clips": 8} if claim == "enc-neuron-phoneme" else {})}
    return {**registry[claim].params, **small, **overrides}


@pytest.mark.parametrize("claim", list(FUNCTIONS))
def test_phonetic_claims_do_not_hold_on_random_weights(registry, tiny, asset, claim):
    extra = {"resolve": asset} if claim == "enc-neuron-table" else {}
    measured = FUNCTIONS[claim](tiny.model, **params(registry, claim), **extra)
    verdict = judge(registry[claim], tiny.info, measured)
    assert verdict.status == "fails", verdict.describe()


def planted_detectors(monkeypatch, unit_phones: dict[int, dict[str, float]], n_units: int = 1536,
                      noise: float = 0.01):
    """Replace the layer's activations by constructed ones: unit u fires ``unit_phones[u][label]`` on
    frames of that label, plus seeded Gaussian noise of std ``noise`` on every frame."""
    clips = stimulus_corpus(corpus_options(SMALL_CORPUS))
    labels_of = {id(c.audio): c.frame_labels for c in clips}
    generator = torch.Generator().manual_seed(0)

    def fake_clip_activations(model, audios, layer, *, trim=False, batch_size=8):
        for index, audio in enumerate(audios):
            labels = labels_of[id(audio)]
            acts = noise * torch.randn(len(labels), n_units, generator=generator)
            for unit, weights in unit_phones.items():
                acts[:, unit] += torch.tensor([weights.get(str(label), 0.0) for label in labels])
            yield index, acts

    monkeypatch.setattr(mining, "clip_activations", fake_clip_activations)


def test_neuron_phoneme_holds_for_planted_phoneme_detectors(registry, monkeypatch):
    model = open_model("random:tiny:1")  # its own cache entry: the mining pass is planted
    # every unit detects one phoneme through graded noise, as real neurons would: a random direction
    # then mixes ~39 phonemes and its top frames are no longer one sound
    planted_detectors(monkeypatch, {u: {PHONES[u % len(PHONES)]: 1.0} for u in range(1536)}, noise=0.4)
    measured = enc_neuron_phoneme(model.model, **params(registry, "enc-neuron-phoneme"))
    verdict = judge(registry["enc-neuron-phoneme"], model.info, measured)
    assert verdict.holds, verdict.describe()
    assert measured.metrics["selective_fraction"] >= 0.9  # rare phonemes (ZH) have under 20 frames here
    assert [n["dominant"] for n in measured.evidence["neurons"][:3]] == list(PHONES[:3])


def test_neuron_table_finds_the_posts_labels_when_planted(registry, monkeypatch, asset):
    model = open_model("random:tiny:2")
    planted_detectors(monkeypatch, {0: {"M": 1.0}, 1: {"SH": 1.0}, 3: {"K": 1.0}, 8: {"L": 1.0},
                                    14: {"R": 1.0}, 19: {"P": 1.0}, 32: {"D": 1.0}, 34: {"N": 1.0},
                                    40: {"S": 1.0}})
    measured = enc_neuron_table(model.model, **params(registry, "enc-neuron-table"), resolve=asset)
    assert measured.metrics["named_match_fraction"] == 1.0
    rows = {row["neuron"]: row for row in measured.evidence["neurons"]}
    assert rows[3]["measured"] == "K" and rows[3]["match"] is True


def test_polysemantic_holds_for_a_planted_k_then_g_neuron(registry, monkeypatch):
    model = open_model("random:tiny:3")
    planted_detectors(monkeypatch, {3: {"K": 2.0, "G": 1.0}, 1: {"JH": 1.0}})
    measured = enc_polysemantic(model.model, **params(registry, "enc-polysemantic", mine_k=200))
    verdict = judge(registry["enc-polysemantic"], model.info, measured)
    assert verdict.holds, verdict.describe()
    assert measured.evidence["polysemantic"] == [3]  # neuron 1 fires on one phoneme only
    bands = measured.evidence["neurons"][3]["bands"]
    assert bands[0]["dominant"] == "K" and any(b["dominant"] == "G" for b in bands[1:])


def test_the_corpus_has_every_label():
    clips = stimulus_corpus(corpus_options(SMALL_CORPUS))
    labels = set(np.concatenate([c.frame_labels for c in clips]).tolist())
    assert len(clips) == 60 and {"sil", "S", "M", "K"} <= labels
