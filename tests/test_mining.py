"""Mining encoder units: activations against Whisper's own forward, the trimmed context, streaming
top-K against a one-shot sort, and the selectivity statistics on planted and shuffled labels."""
import math

import numpy as np
import pytest
import torch
from whisper.model import ModelDimensions

from whisper_claims.measure.hooks import capture
from whisper_claims.measure.mining import (Layer, TopK, clip_activations, clip_frames, clip_mel, corpus_activations,
                                           layers_activations, mine_activations, mine_top_frames, project,
                                           top_k_agreement, unit_activations)
from whisper_claims.measure.selectivity import (band_dominants, null_max_shares, phoneme_class, polysemantic,
                                                random_orthogonal_basis, top_labels, unit_selectivity)
from whisper_claims.models.load import random_model
from whisper_claims.stimuli.audio import log_mel

SMALL = ModelDimensions(n_mels=80, n_audio_ctx=150, n_audio_state=32, n_audio_head=2, n_audio_layer=3,
                        n_vocab=51865, n_text_ctx=16, n_text_state=32, n_text_head=2, n_text_layer=1)


@pytest.fixture(scope="module")
def small():
    return random_model("tiny", 0, dims=SMALL)


def waveform(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * rng.uniform(100, 900) * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.mark.parametrize("layer, module", [("encoder.blocks.1.mlp.1", "encoder.blocks.1.mlp.1"),
                                           ("encoder.blocks.2", "encoder.blocks.2"),
                                           ("encoder.blocks.0", "encoder.blocks.0")])
def test_padded_activations_equal_whispers_own_forward(small, layer, module):
    mel = torch.cat([log_mel(waveform(1.3, s), small) for s in range(3)])
    with torch.no_grad(), capture(small, module) as records:
        small.encoder(mel)
    assert torch.equal(unit_activations(small, mel, layer), records[module][0])


@pytest.mark.parametrize("n_keep", [1, 37, 150])
def test_the_deepest_block_on_the_clips_rows_equals_whispers_own_forward(small, n_keep):
    """Several layers in one pass, the deepest block computing only the first rows: the same numbers as
    Whisper's own encoder forward (the reference), sliced, up to float rounding."""
    mel = torch.cat([log_mel(waveform(1.3, s), small) for s in range(3)])
    layers = ["encoder.blocks.0.mlp.1", "encoder.blocks.1", "encoder.blocks.2.mlp.1", "encoder.blocks.2"]
    with torch.no_grad(), capture(small, layers) as records:
        small.encoder(mel)
    got = layers_activations(small, mel, layers, n_keep=n_keep)
    assert list(got) == layers
    for layer in layers:
        assert got[layer].shape == (3, n_keep, records[layer][0].shape[-1])
        torch.testing.assert_close(got[layer], records[layer][0][:, :n_keep], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="n_keep = 151: expected 1 … 150"):
        layers_activations(small, mel, layers, n_keep=151)


def test_one_pass_over_a_corpus_gives_each_layers_own_activations(small):
    clips = [waveform(s, i) for i, s in enumerate([0.5, 1.0, 0.74])]
    layers = ["encoder.blocks.1.mlp.1", "encoder.blocks.2"]
    together = dict(corpus_activations(small, clips, layers, batch_size=2))
    for layer in layers:
        alone = dict(clip_activations(small, clips, layer, batch_size=2))
        for i in range(len(clips)):
            assert together[i][layer].shape == (clip_frames(len(clips[i])), Layer.parse(layer, small).n_units(small))
            torch.testing.assert_close(together[i][layer], alone[i], atol=1e-5, rtol=1e-5)
    mined = mine_activations(((i, a["encoder.blocks.2"]) for i, a in together.items()), len(clips), 4)
    assert mined.clip_max.shape == (3, SMALL.n_audio_state)
    with pytest.raises(ValueError, match="activations of 2 clips: expected one for each of clips 0 … 2"):
        mine_activations(((i, together[i]["encoder.blocks.2"]) for i in range(2)), 3, 4)


def test_trimmed_mel_is_the_padded_mel_sliced(small):
    audio = waveform(1.234)
    trimmed = clip_mel(audio, small, trim=True)
    padded = clip_mel(audio, small)
    assert trimmed.shape[-1] == 2 * clip_frames(len(audio)) == 2 * 62
    assert torch.equal(trimmed, padded[..., : trimmed.shape[-1]])


def test_trimmed_context_runs_on_the_clips_frames_only(small):
    audio = waveform(1.0)
    acts = unit_activations(small, clip_mel(audio, small, trim=True), "encoder.blocks.1.mlp.1")
    assert acts.shape == (1, 50, 4 * SMALL.n_audio_state)


def test_layer_names_are_checked(small):
    assert Layer.parse("encoder.blocks.2.mlp.1", small) == Layer("encoder.blocks.2.mlp.1", 2, True)
    for bad in ("encoder.blocks.3", "encoder.blocks.1.mlp", "decoder.blocks.0.mlp.1", "blocks.1"):
        with pytest.raises(ValueError, match="expected 'encoder.blocks.N.mlp.1' or 'encoder.blocks.N'"):
            Layer.parse(bad, small)


@pytest.mark.parametrize("chunks", [[60], [1, 59], [13, 13, 13, 21], [30, 30]])
def test_streaming_top_k_equals_one_sort(chunks):
    generator = torch.Generator().manual_seed(0)
    acts = torch.randn(60, 7, generator=generator).round(decimals=1)  # rounding makes ties
    clip, frame = torch.arange(60) // 10, torch.arange(60) % 10
    top = TopK(7, 5)
    start = 0
    for n in chunks:
        top.update(acts[start:start + n], clip[start:start + n], frame[start:start + n])
        start += n
    result = top.result()
    for unit in range(7):
        # descending value, then earlier frame first among ties
        expected = sorted(range(60), key=lambda i: (-acts[i, unit].item(), i))[:5]
        assert result.values[unit].tolist() == [acts[i, unit].item() for i in expected]
        assert (result.clip[unit] * 10 + result.frame[unit]).tolist() == expected


def test_mining_never_picks_padding_frames_and_agrees_with_itself(small):
    clips = [waveform(s, i) for i, s in enumerate([0.5, 1.0, 0.74, 1.5])]
    top = mine_top_frames(small, clips, "encoder.blocks.1.mlp.1", 8, batch_size=3)
    lengths = torch.tensor([clip_frames(len(c)) for c in clips])
    assert torch.all(top.frame < lengths[top.clip])
    again = mine_top_frames(small, clips, "encoder.blocks.1.mlp.1", 8, batch_size=3)
    assert torch.equal(top.values, again.values) and torch.equal(top.clip, again.clip)  # deterministic
    assert torch.all(top_k_agreement(top, again) == 1)
    # another batch size changes float rounding in the matrix products, not the result
    single = mine_top_frames(small, clips, "encoder.blocks.1.mlp.1", 8, batch_size=1)
    assert torch.allclose(top.values, single.values, atol=1e-5)
    assert top_k_agreement(top, single).mean() > 0.95
    trimmed = mine_top_frames(small, clips, "encoder.blocks.1.mlp.1", 8, trim=True)
    assert torch.all(trimmed.frame < lengths[trimmed.clip])
    agreement = top_k_agreement(top, trimmed)
    assert agreement.shape == (4 * SMALL.n_audio_state,) and 0 <= agreement.min() <= agreement.max() <= 1


def test_projected_units(small):
    clips = [waveform(1.0, 3)]
    basis = random_orthogonal_basis(4 * SMALL.n_audio_state, 5, seed=1)
    top = mine_top_frames(small, clips, "encoder.blocks.1.mlp.1", 4, units=basis)
    acts = unit_activations(small, clip_mel(clips[0], small), "encoder.blocks.1.mlp.1")[0, :50] @ basis
    assert torch.allclose(top.values, acts.T.sort(dim=1, descending=True).values[:, :4])


# -- selectivity ---------------------------------------------------------------------------------

def corpus(n: int = 4000, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    phones = ["M", "S", "AA", "K", "G", "SH", "sil", "IY", "T", "N"]
    return list(rng.choice(phones, size=n, p=[.08, .1, .12, .08, .05, .07, .2, .1, .1, .1]))


def test_a_planted_unit_is_selective_for_its_phoneme():
    labels = corpus()
    planted = ["M"] * 17 + ["S", "AA", "N"]
    random_unit = list(np.random.default_rng(1).choice(labels, 20, replace=False))
    silent = ["sil"] * 20
    m, r, s = unit_selectivity([planted, random_unit, silent], labels, n_permutations=500)
    assert m.dominant == "M" and m.share == 0.85 and m.dominant_class == "nasal" and m.selective(0.01)
    assert m.p_value == pytest.approx(1 / 501)
    assert not r.selective(0.01) and r.p_value > 0.05
    assert s.p_value < 0.01 and not s.selective(0.01)  # silence is not a phoneme


def test_shuffled_labels_give_no_selectivity():
    labels = corpus()
    rng = np.random.default_rng(2)
    units = [list(rng.choice(labels, 20, replace=False)) for _ in range(200)]
    results = unit_selectivity(units, labels, n_permutations=500, seed=3)
    assert sum(u.selective(0.01) for u in results) <= 6  # ~1% expected by chance


def test_null_shares_and_their_errors():
    shares = null_max_shares(["A"] * 10 + ["B"] * 10, 4, 100, 0)
    assert shares.min() >= 0.5 and shares.max() <= 1.0
    with pytest.raises(ValueError, match="fewer than k"):
        null_max_shares(["A"] * 3, 4, 10, 0)
    with pytest.raises(ValueError, match="same number of top frames"):
        unit_selectivity([["A"], ["A", "B"]], ["A", "B"] * 10)


def test_top_labels_join_frames_to_their_labels():
    labels = [["sil", "M", "AA"], ["S", "S"]]
    assert top_labels(torch.tensor([[0, 1], [1, 0]]), torch.tensor([[1, 0], [1, 2]]), labels) == \
        [("M", "S"), ("S", "AA")]


def test_random_orthogonal_basis_is_orthonormal_and_seeded():
    q = random_orthogonal_basis(64, 10, seed=5)
    assert torch.allclose(q.T @ q, torch.eye(10), atol=1e-5)
    assert torch.equal(q, random_orthogonal_basis(64, 10, seed=5))
    assert not torch.equal(q, random_orthogonal_basis(64, 10, seed=6))


def test_bands_find_the_posts_neuron_3():
    """reference-data.md §3: neuron 3 is 'c' (K) at the top and 'g' (G) only below ≈2.8."""
    bins = [((0.97, 1.90), {"sil": 5, "K": 87, "G": 28, "SH": 3}), ((1.90, 2.36), {"sil": 1, "K": 28, "G": 7}),
            ((2.36, 2.82), {"K": 13, "G": 4}), ((2.82, 3.28), {"K": 5}), ((3.29, 3.74), {"K": 5}),
            ((3.75, 4.21), {"K": 1})]
    values, labels = [], []
    for (lo, hi), counts in bins:
        for label, n in counts.items():
            values += list(np.linspace(lo, hi, n + 2)[1:-1])
            labels += [label] * n
    bands = band_dominants(torch.tensor(values), labels, 4)
    assert bands[0]["dominant"] == "K" and bands[0]["range"][1] == pytest.approx(max(values))
    assert sum(b["n"] for b in bands) == len(values)
    assert not polysemantic(bands)  # K dominates every band: one dominant phoneme
    mixed = band_dominants(torch.tensor([4.0, 3.9, 3.8, 1.0, 1.1, 1.2, 1.05]), ["K", "K", "K", "G", "G", "G", "K"], 2)
    assert [b["dominant"] for b in mixed] == ["K", "G"] and polysemantic(mixed, min_frames=3)
    assert not polysemantic(mixed, min_frames=4)  # the top band has 3 frames: too few to count
    # random weights: every band a mixture, the dominant drifting from band to band
    drifting = band_dominants(torch.tensor([4.0] * 5 + [2.5] * 5 + [1.0] * 5),
                              ["S", "S", "IY", "HH", "UW", "SH", "SH", "IY", "Y", "HH", "HH", "HH", "SH", "IY", "N"], 3)
    assert [b["dominant"] for b in drifting] == ["S", "SH", "HH"]
    assert polysemantic(drifting, min_frames=5) and not polysemantic(drifting, min_frames=5, min_top_share=0.6)


def test_phoneme_classes_cover_arpabet():
    assert phoneme_class("JH") == "affricate" and phoneme_class("ZH") == "fricative"
    assert phoneme_class("sil") == "sil" and phoneme_class("??") == "sil"
    assert not math.isnan(len(phoneme_class("AA")))


def test_per_clip_mining_takes_each_clips_best_frame(small):
    clips = [waveform(s, i) for i, s in enumerate([0.5, 1.0, 0.74, 1.5, 0.9])]
    top = mine_top_frames(small, clips, "encoder.blocks.1.mlp.1", 3, per_clip=True, batch_size=2)
    acts = [unit_activations(small, clip_mel(c, small), "encoder.blocks.1.mlp.1")[0, :clip_frames(len(c))]
            for c in clips]
    for unit in (0, 5, 77):
        best = sorted(((a[:, unit].max().item(), i, a[:, unit].argmax().item()) for i, a in enumerate(acts)),
                      key=lambda t: (-t[0], t[1]))[:3]
        assert top.clip[unit].tolist() == [i for _, i, _ in best]  # three different clips
        assert top.frame[unit].tolist() == [f for _, _, f in best]
        assert torch.allclose(top.values[unit], torch.tensor([v for v, _, _ in best]), atol=1e-5)


def test_a_function_can_project_the_units(small):
    clips = [waveform(1.0, 4), waveform(0.6, 5)]
    relu_half = mine_top_frames(small, clips, "encoder.blocks.1.mlp.1", 4, units=lambda a: torch.relu(a[:, :7] - 0.1))
    plain = mine_top_frames(small, clips, "encoder.blocks.1.mlp.1", 4)
    assert relu_half.values.shape == (7, 4)
    assert torch.allclose(relu_half.values, torch.relu(plain.values[:7] - 0.1))


def test_projecting_through_a_trained_sae_keeps_no_graph():
    """An SAE's encoder has parameters that require grad; mined activations must not carry a graph
    (exporting them warned 'Converting a tensor with requires_grad=True to a scalar')."""
    from whisper_claims.measure.sae import SAEConfig, SparseAutoencoder

    autoencoder = SparseAutoencoder(8, SAEConfig(n_features=16))
    acts = torch.randn(5, 8)
    assert autoencoder.encode(acts).requires_grad
    projected = project(acts, autoencoder.encode)
    assert not projected.requires_grad
    with torch.no_grad():
        assert torch.equal(projected, autoencoder.encode(acts))
