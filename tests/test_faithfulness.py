"""Faithfulness on transcripts: the spliced encoder equals running its blocks by hand with the replaced
tensor; an exact reconstruction recovers 1, the floor itself 0; the hooks always go; the WER-recovered
ratio's undefined cases are NaN with a reason."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from whisper.model import ModelDimensions

from whisper_claims.measure.faithfulness import (VarianceTally, capped_errors, encode_replaced, mean_replacement,
                                                 pooled_wer, recovered_over_clips, replaced_residual, sae_replacement,
                                                 transcript_faithfulness, wer_recovered, within)
from whisper_claims.measure.text import word_errors
from whisper_claims.measure.sae import SAEConfig, SparseAutoencoder, layer_activations
from whisper_claims.measure.mining import clip_frames
from whisper_claims.models.load import random_model
from whisper_claims.stimuli.audio import log_mel

# a 3 s window and 8-token transcripts: every decode takes milliseconds
DIMS = ModelDimensions(n_mels=80, n_audio_ctx=150, n_audio_state=32, n_audio_head=2, n_audio_layer=3,
                       n_vocab=51865, n_text_ctx=16, n_text_state=32, n_text_head=2, n_text_layer=1)
LAYER = "encoder.blocks.1"


@pytest.fixture(scope="module")
def setup():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = random_model("tiny", 0, dims=DIMS)
    rng = np.random.default_rng(0)
    clips = [(0.1 * rng.standard_normal(int(s * 16000))).astype(np.float32) for s in (0.5, 1.0, 0.7)]
    mean = layer_activations(model, clips, LAYER).mean(0)
    yield model, clips, mean
    torch.set_num_threads(threads)


def no_hooks(model) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def identity_sae(d: int) -> SparseAutoencoder:
    """A tied ReLU SAE that reconstructs exactly: features x⁺ and x⁻ on columns +e_i and -e_i, and
    x⁺ - x⁻ = x with no rounding (every other term of the sums is an exact zero)."""
    sae = SparseAutoencoder(d, SAEConfig(n_features=2 * d))
    with torch.no_grad():
        sae.weight.copy_(torch.cat([torch.eye(d), -torch.eye(d)], dim=1))
    return sae.eval()


def encoder_by_hand(model, mel, block_index, replace):
    """Whisper's AudioEncoder.forward written out, the replaced tensor passed on from block ``block_index``."""
    encoder = model.encoder
    x = F.gelu(encoder.conv1(mel))
    x = F.gelu(encoder.conv2(x)).permute(0, 2, 1)
    x = (x + encoder.positional_embedding).to(x.dtype)
    for i, block in enumerate(encoder.blocks):
        x = block(x)
        if i == block_index:
            x = replace(x)
    return encoder.ln_post(x)


def test_the_spliced_encoder_is_the_blocks_run_by_hand(setup):
    model, clips, mean = setup
    mel = torch.cat([log_mel(clip, model) for clip in clips[:2]])
    config = SAEConfig(n_features=48, kind="topk", k=6, tied=False, center=True)
    sae = SparseAutoencoder(32, config, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        sae.pre_bias.copy_(mean)
        sae.bias.normal_(0, 0.1, generator=torch.Generator().manual_seed(4))
    sae.eval()
    with torch.inference_mode():
        for block, replace in [(1, sae_replacement(sae)), (1, mean_replacement(mean)), (2, lambda x: 0.5 * x + 1)]:
            hooked = encode_replaced(model, mel, f"encoder.blocks.{block}", replace)
            by_hand = encoder_by_hand(model, mel, block, replace)
            assert torch.equal(hooked, by_hand)
            assert not torch.equal(hooked, encode_replaced(model, mel, LAYER, None))
            assert no_hooks(model)
    x = torch.randn(2, 150, 32)
    assert all(torch.equal(frame, mean) for frame in mean_replacement(mean)(x).flatten(0, 1))


def test_an_exact_reconstruction_recovers_one_and_the_floor_zero(setup):
    model, clips, mean = setup
    sae = identity_sae(32)
    mel = log_mel(clips[0], model)
    clean = encode_replaced(model, mel, LAYER, None)
    assert torch.equal(encode_replaced(model, mel, LAYER, sae_replacement(sae)), clean)
    exact = transcript_faithfulness(model, clips, LAYER, sae, mean, frames="all")
    assert no_hooks(model)
    assert all(c.sae == c.clean and c.wer_sae == 0 for c in exact.clips)
    assert any(c.floor != c.clean for c in exact.clips)  # the floor costs words: there is a gap to recover
    assert exact.against_clean.wer_clean == 0 and exact.against_clean.wer_floor > 0
    assert exact.wer_recovered == 1.0 and exact.against_clean.undefined is None and exact.against_spoken is None
    floor = transcript_faithfulness(model, clips, LAYER, mean_replacement(mean), mean, frames="all")
    assert floor.wer_recovered == 0.0 and floor.frames == "all"
    assert [c.sae for c in floor.clips] == [c.floor for c in floor.clips] == [c.floor for c in exact.clips]
    # against words spoken: here the clean transcripts themselves, so the same numbers
    spoken = transcript_faithfulness(model, clips, LAYER, sae, mean, spoken=[c.clean for c in exact.clips],
                                     frames="all")
    assert spoken.against_spoken.reference == "words spoken"
    assert spoken.against_spoken.recovered == 1.0 and spoken.against_spoken.wer_floor == exact.against_clean.wer_floor
    assert all(c.wer_clean_spoken == 0 and c.wer_floor_spoken == c.wer_floor for c in spoken.clips)


def test_at_the_clips_frames_only_those_are_replaced_and_the_padding_keeps_its_values(setup):
    model, clips, mean = setup
    mel = torch.cat([log_mel(clip, model) for clip in clips[:2]])
    n_frames = [clip_frames(len(clip)) for clip in clips[:2]]  # 25 and 50 of the window's 150
    with torch.inference_mode():
        clean = layer_output(model, mel, LAYER, None)
        spliced = layer_output(model, mel, LAYER, within(mean_replacement(mean), n_frames))
    for i, n in enumerate(n_frames):
        assert all(torch.equal(frame, mean) for frame in spliced[i, :n])
        assert torch.equal(spliced[i, n:], clean[i, n:])
    seen = []

    def records(x):
        seen.append(x.shape[1])
        return x

    found = transcript_faithfulness(model, clips, LAYER, records, mean, batch_size=2)
    assert found.frames == "clip" and seen == [clip_frames(len(clip)) for clip in clips]
    assert found.explained_variance == 1.0  # the identity, on the frames it replaced
    assert found.wer_recovered == 1.0 or math.isnan(found.wer_recovered)
    again = transcript_faithfulness(model, clips, LAYER, records, mean, batch_size=2,
                                    clean=[c.clean for c in found.clips])
    assert again.clips == found.clips
    given = transcript_faithfulness(model, clips, LAYER, records, mean, clean=["red", "green", "blue"])
    assert [c.clean for c in given.clips] == ["red", "green", "blue"]  # taken as given, not decoded again
    with pytest.raises(ValueError, match="2 clean transcripts for 3 clips"):
        transcript_faithfulness(model, clips, LAYER, records, mean, clean=["a", "b"])
    with pytest.raises(ValueError, match="2 frame counts for a batch of 1"):
        within(records, [3, 4])(torch.zeros(1, 150, 32))
    with pytest.raises(ValueError, match=r"frames = 'padding': expected one of 'clip', 'all'"):
        transcript_faithfulness(model, clips, LAYER, records, mean, frames="padding")
    assert no_hooks(model)


def test_the_explained_variance_of_a_replacement_is_tallied_over_the_frames_it_replaced():
    x = torch.randn(2, 7, 5, generator=torch.Generator().manual_seed(0))
    mean = x.reshape(-1, 5).mean(dim=0)
    tally = VarianceTally(lambda t: 0.5 * t)
    for part in (x[:1], x[1:, :4], x[1:, 4:]):  # three calls, one pool of frames
        assert torch.equal(tally(part), 0.5 * part)
    frames = x.reshape(-1, 5).double()
    expected = 1 - (0.25 * frames.pow(2).sum()) / (frames - frames.mean(0)).pow(2).sum()
    assert tally.explained == pytest.approx(float(expected), rel=1e-12) and tally.n_frames == 14
    floor = VarianceTally(lambda t: mean.expand_as(t))
    floor(x)
    assert floor.explained == pytest.approx(0.0, abs=1e-12)  # the mean explains none of the variance
    assert math.isnan(VarianceTally(lambda t: t).explained)  # no frame yet


def layer_output(model, mel, layer, replace):
    """The residual after ``layer`` (as its hook sees it once replaced)."""
    out = []
    with replaced_residual(model, layer, lambda x: out.append(x if replace is None else replace(x)) or out[-1]):
        encode_replaced(model, mel, layer, None)
    return out[0]


def test_hooks_are_removed_when_the_replacement_fails(setup):
    model, clips, mean = setup
    mel = log_mel(clips[0], model)

    def fails(x):
        raise RuntimeError("replacement failed")

    with pytest.raises(RuntimeError, match="replacement failed"):
        encode_replaced(model, mel, LAYER, fails)
    assert no_hooks(model)
    with pytest.raises(ValueError, match=r"gave \(1, 150, 31\), expected \(1, 150, 32\)"):
        encode_replaced(model, mel, LAYER, lambda x: x[..., :31])
    assert no_hooks(model)
    with pytest.raises(KeyError, match="inside"):
        with replaced_residual(model, LAYER, lambda x: x):
            assert not no_hooks(model)
            raise KeyError("inside")
    assert no_hooks(model)


def test_bad_inputs_are_named(setup):
    model, clips, mean = setup
    with pytest.raises(ValueError, match="has 32 units but the SAE takes d_in = 16"):
        transcript_faithfulness(model, clips, LAYER, identity_sae(16), mean)
    with pytest.raises(ValueError, match="expected 'encoder.blocks.N'"):
        transcript_faithfulness(model, clips, "encoder.blocks.1.mlp.1", identity_sae(32), mean)
    with pytest.raises(ValueError, match=r"mean_frame of shape \(31,\)"):
        transcript_faithfulness(model, clips, LAYER, identity_sae(32), mean[:31])
    with pytest.raises(ValueError, match="training mode"):
        transcript_faithfulness(model, clips, LAYER, identity_sae(32).train(), mean)
    trained_elsewhere = identity_sae(32)
    trained_elsewhere.meta = {"layer": "encoder.blocks.2"}
    with pytest.raises(ValueError, match="trained on encoder.blocks.2, not encoder.blocks.1"):
        transcript_faithfulness(model, clips, LAYER, trained_elsewhere, mean)
    with pytest.raises(ValueError, match="2 spoken texts for 3 clips"):
        transcript_faithfulness(model, clips, LAYER, identity_sae(32), mean, spoken=["a", "b"])
    assert no_hooks(model)


def test_word_errors_pool_and_the_ratio_is_nan_with_a_reason_when_undefined():
    assert word_errors("the cat sat", "the hat sat down") == (2, 3)
    assert word_errors("", "two words") == (2, 0) and word_errors("", "") == (0, 0)
    assert pooled_wer(["a b", ""], ["a c", "x"]) == 1.0  # (1 + 1) / (2 + 0)
    assert math.isnan(pooled_wer(["", ""], ["x", ""]))
    assert wer_recovered(0.0, 0.1, 0.5).recovered == pytest.approx(0.8)
    assert wer_recovered(0.2, 0.6, 0.4, "words spoken").recovered == pytest.approx(-1.0)  # worse than the floor
    for values, match in [((0.3, 0.3, 0.3), "not above clean's"), ((0.3, 0.1, 0.2), "not above clean's"),
                          ((math.nan, 0.0, 0.0), "hold no words")]:
        result = wer_recovered(*values)
        assert math.isnan(result.recovered) and match in result.undefined


def test_wer_recovered_over_clips_pools_their_errors_and_bounds_it_by_resampling_them():
    references = ["red green blue black", "cat dog cow pig", "sun moon", "oak elm ash fir yew pine"]
    clean = list(references)
    floor = ["", "", "", ""]  # every word deleted: 16 errors
    with_sae = ["red green blue black", "cat dog", "sun moon", "oak elm ash fir yew pine sea sky rain hail"]  # 2 + 4
    found = recovered_over_clips(references, clean, with_sae, floor)
    assert found.recovered == pytest.approx((16 - 6) / 16) and found.undefined is None
    assert found.wer_floor == 1.0 and found.wer_sae == pytest.approx(6 / 16)
    assert found.interval is not None and found.interval.n_units == 4
    assert found.interval.low < found.recovered < found.interval.high
    one_clip = recovered_over_clips(references[:1], clean[:1], with_sae[:1], floor[:1])
    assert one_clip.recovered == 1.0 and one_clip.interval is None  # one clip: no sampling unit
    no_gap = recovered_over_clips(references, clean, with_sae, clean)
    assert math.isnan(no_gap.recovered) and no_gap.interval is None


def test_a_transcript_that_loops_counts_as_wholly_wrong_not_as_many_times_wrong():
    # the SAE's transcripts loop for 9 words, the floor's for 20: uncapped, the SAE would "recover"
    # (20 - 9) / 20 of the gap while no word of either survives
    references = ["red green blue", "cat dog cow"]
    looping_sae, looping_floor = ["you " * 9, "you " * 9], ["so " * 20, "so " * 20]
    assert word_errors(references[0], looping_floor[0]) == (20, 3)
    assert capped_errors(references[0], looping_floor[0]) == (3, 3) == capped_errors(references[0], looping_sae[0])
    assert capped_errors("", "two words") == (1, 0) and capped_errors("", "") == (0, 0)
    found = recovered_over_clips(references, references, looping_sae, looping_floor)
    assert found.recovered == 0.0 and found.wer_sae == found.wer_floor == 1.0
    half = recovered_over_clips(references, references, ["red green blue", "you " * 9], looping_floor)
    assert half.recovered == 0.5
    assert pooled_wer(references, looping_floor) == 1.0
