"""The decoder's cross-attention (measure.cross_attention) and the claim dec-cross-attention-window: the hooks'
weights equal a plain q·kᵀ softmax written out from the blocks' own weights, they are removed whatever
happens, and the claim holds for attention concentrated on each word, fails for attention spread evenly over
the speech (its null) and for random weights, and gives the same numbers twice."""
import copy
import dataclasses
import math

import numpy as np
import pytest
import torch
import whisper
from whisper.model import ModelDimensions, MultiHeadAttention

from whisper_claims.claims import cross_attention as claim_module
from whisper_claims.claims.cross_attention import (dec_cross_attention_window, speech_frames, transcript_tokens,
                                                   window_null, word_token_spans)
from whisper_claims.claims.encoder import word_frames
from whisper_claims.claims.runner import measure_claim
from whisper_claims.claims.verdict import judge
from whisper_claims.errors import MethodInvalid
from whisper_claims.measure.cross_attention import (DecoderPass, attention_heads, cross_attention,
                                                    published_heads)
from whisper_claims.measure.inference import tokenizer_for
from whisper_claims.models.load import LoadedModel, random_model
from whisper_claims.models.model_info import ModelInfo
from whisper_claims.stimuli.word_clips import TimedWord, WordClip

CLAIM = "dec-cross-attention-window"
# a Whisper small enough to run in milliseconds: 40 encoder frames, 3 decoder layers of 4 heads
SMALL = ModelDimensions(n_mels=80, n_audio_ctx=40, n_audio_state=32, n_audio_head=4, n_audio_layer=1,
                        n_vocab=51864, n_text_ctx=16, n_text_state=32, n_text_head=4, n_text_layer=3)
# every word one token with a leading space in the English-only tokenizer, so that text token j is word j
SENTENCES = ["red cats sleep on warm mats", "the green boat sails home", "seven old dogs run fast",
             "a small bird sings loudly"]
INFO = ModelInfo(spec="constructed", kind="random", size=None, path=None, sha256="", dims={})
NO_ASSETS = {"recordings": [], "sentences": {"source": "stimuli", "n": 0, "seed": 1}}


def clips() -> list[WordClip]:
    """Four clips of 3 s of noise, each word 0.4 s long from 0.2 s on."""
    made = []
    for c, sentence in enumerate(SENTENCES):
        audio = np.random.default_rng(c).normal(0, 0.1, 48000).astype(np.float32)
        words = tuple(TimedWord(w, 0.2 + 0.4 * i, 0.6 + 0.4 * i) for i, w in enumerate(sentence.split()))
        made.append(WordClip(name=f"constructed/{c}", audio=audio, words=words, origin="constructed"))
    return made


@pytest.fixture(scope="module")
def spec(registry):
    return registry[CLAIM]


def test_the_entry_reads_the_chops_clip_set_with_our_provisional_bars(registry, spec):
    chops = registry["enc-chop-word"]
    for size in (None, "micro"):
        ours, theirs = spec.params_for(size), chops.params_for(size)
        assert {k: ours[k] for k in ("recordings", "sentences")} == {k: theirs[k] for k in ("recordings", "sentences")}
    assert spec.source("params.recordings") == "clip_sets.word-chops.recordings"
    assert (spec.marker, spec.key_metric, spec.applies_to) == ("decoder", "median_window_mass", None)
    assert (spec.params["margin_frames"], spec.params["min_words"]) == (10, 10)
    mass, margin = spec.metrics["median_window_mass"], spec.metrics["margin_over_speech_uniform"]
    assert (mass.comparator, mass.threshold, margin.comparator, margin.threshold) == (">=", 0.5, ">", 0)
    for metric in (mass, margin):
        assert metric.provenance.startswith("ours (#32 item 4), provisional") and metric.fixed.after_real


# -- the capture against a plain implementation ------------------------------------------------------------


def layer_norm(module, x):
    mean = x.mean(-1, keepdim=True)
    variance = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(variance + module.eps) * module.weight + module.bias


def plain_attention(attn, x, source, mask=None):
    """Multi-head attention written out head by head: softmax(q_h k_hᵀ / √d) v_h, and the weights."""
    q = x @ attn.query.weight.T + attn.query.bias
    k = source @ attn.key.weight.T
    v = source @ attn.value.weight.T + attn.value.bias
    d = q.shape[-1] // attn.n_head
    outputs, weights = [], []
    for h in range(attn.n_head):
        part = slice(h * d, (h + 1) * d)
        scores = q[:, part] @ k[:, part].T / math.sqrt(d)
        w = torch.softmax(scores if mask is None else scores + mask, dim=-1)
        weights.append(w)
        outputs.append(w @ v[:, part])
    return torch.cat(outputs, -1) @ attn.out.weight.T + attn.out.bias, torch.stack(weights)


def plain_decoder(model, features, tokens):
    """Whisper's decoder written out: [n_layer, n_head, n_tokens, n_audio_ctx] cross-attention weights, logits."""
    decoder = model.decoder
    n = len(tokens)
    x = decoder.token_embedding.weight[tokens] + decoder.positional_embedding[:n]
    causal = torch.full((n, n), float("-inf")).triu(1)
    crossed = []
    for block in decoder.blocks:
        x = x + plain_attention(block.attn, layer_norm(block.attn_ln, x), layer_norm(block.attn_ln, x), causal)[0]
        out, w = plain_attention(block.cross_attn, layer_norm(block.cross_attn_ln, x), features)
        crossed.append(w)
        x = x + out
        hidden = torch.nn.functional.gelu(layer_norm(block.mlp_ln, x) @ block.mlp[0].weight.T + block.mlp[0].bias)
        x = x + hidden @ block.mlp[2].weight.T + block.mlp[2].bias
    return torch.stack(crossed), layer_norm(decoder.ln, x) @ decoder.token_embedding.weight.T


@pytest.mark.parametrize("seed", [0, 1])
def test_the_captured_weights_are_a_plain_softmax_of_the_blocks_own_q_and_k(seed):
    model = random_model("tiny.en", seed=seed, dims=SMALL)
    features = torch.randn(SMALL.n_audio_ctx, SMALL.n_audio_state, generator=torch.Generator().manual_seed(seed))
    tokens = [50257, 50362, 2266, 11875, 3993, 50256]  # <|startoftranscript|><|notimestamps|> red cats sleep <|endoftext|>
    captured = cross_attention(model, features, tokens)
    with torch.no_grad():
        weights, logits = plain_decoder(model, features, tokens)
    assert captured.weights.shape == (SMALL.n_text_layer, SMALL.n_text_head, len(tokens), SMALL.n_audio_ctx)
    assert torch.allclose(captured.weights, weights, atol=1e-6, rtol=1e-5)
    assert torch.allclose(captured.weights.sum(-1), torch.ones(()), atol=1e-6)
    assert torch.allclose(captured.logits, logits, atol=1e-4, rtol=1e-4)
    # and what the model computes on its fast path is unchanged by reading it
    with torch.no_grad():
        assert torch.allclose(model.decoder(torch.tensor([tokens]), features[None])[0], captured.logits, atol=1e-5)


def hooks_on(model):
    return sum(len(block.cross_attn._forward_hooks) for block in model.decoder.blocks)


def test_the_hooks_go_and_sdpa_comes_back_when_the_pass_raises():
    model = random_model("tiny.en", seed=0, dims=SMALL)
    features = torch.zeros(SMALL.n_audio_ctx, SMALL.n_audio_state)

    def fail(*_):
        raise RuntimeError("a failing layer")

    failing = model.decoder.blocks[-1].mlp.register_forward_hook(fail)
    try:
        with pytest.raises(RuntimeError, match="a failing layer"):
            cross_attention(model, features, [50257, 50362, 2266])
        assert hooks_on(model) == 0 and MultiHeadAttention.use_sdpa is True
    finally:
        failing.remove()
    cross_attention(model, features, [50257, 50362, 2266])
    assert hooks_on(model) == 0 and MultiHeadAttention.use_sdpa is True
    with pytest.raises(ValueError, match=r"encoder features have shape \(1, 40, 8\), expected \(1, 40, 32\)"):
        cross_attention(model, torch.zeros(40, 8), [50257])
    with pytest.raises(ValueError, match="17 tokens: expected 1 to 16"):
        cross_attention(model, features, [50257] * 17)
    assert hooks_on(model) == 0


def test_the_alignment_heads_are_the_published_ones_the_model_carries():
    model = random_model("tiny.en", seed=0)
    heads = attention_heads(model)  # Whisper's default: the last half of the layers, not a published set
    assert heads.kind == "every head" and len(heads.heads) == 4 * 6
    official = copy.deepcopy(model)
    official.set_alignment_heads(whisper._ALIGNMENT_HEADS["tiny.en"])
    heads = attention_heads(official)
    assert heads.kind == "alignment" and heads.source == "whisper._ALIGNMENT_HEADS['tiny.en']"
    assert heads.heads == ((1, 0), (2, 0), (2, 5), (3, 0), (3, 1), (3, 2), (3, 3), (3, 4))
    assert torch.equal(heads.mask(4, 6), published_heads("tiny.en", 4, 6))
    # read, never set: the first model kept its default heads
    assert model.alignment_heads.to_dense()[2:].all() and not model.alignment_heads.to_dense()[:2].any()
    # tiny's set on a tiny.en model is not the model's own: every head
    other = copy.deepcopy(model)
    other.set_alignment_heads(whisper._ALIGNMENT_HEADS["tiny"])
    assert attention_heads(other).kind == "every head"


# -- words, tokens and the null --------------------------------------------------------------------------


def test_each_transcript_word_gets_the_tokens_that_spell_it():
    tokenizer = tokenizer_for(random_model("tiny.en", dims=SMALL))
    text = "I don't know, twenty five cats."
    tokens = transcript_tokens(tokenizer, text)
    assert [tokenizer.decode([t]) for t in tokens] == [" I", " don", "'t", " know", ",", " twenty", " five", " cats", "."]
    # normalized: i do not know 25 cats; "do" and "not" share " don't"; 25 comes from two pieces: none
    assert word_token_spans(tokenizer, tokens, text) == [(0, 1), (1, 3), (1, 3), (3, 4), None, (7, 8)]
    text = "Bobby ripped the ledger."
    assert word_token_spans(tokenizer, transcript_tokens(tokenizer, text), text) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert transcript_tokens(tokenizer, "  ") == []


def test_the_null_is_the_windows_share_of_the_speech_frames():
    assert window_null((10, 20), (0, 100)) == 0.1
    assert window_null((0, 30), (20, 60)) == 0.25  # a window partly before the speech
    assert window_null((70, 90), (20, 60)) == 0.0
    assert window_null((0, 1500), (20, 60)) == 1.0
    clip = clips()[0]
    assert speech_frames(clip) == (10, word_frames(2.2, 2.6)[1]) == (10, 130)


# -- the claim on constructed attention ----------------------------------------------------------------


def planted(monkeypatch, model, where):
    """The claim with each clip's transcript its own words, and the decoder's attention constructed: every row
    that predicts word j of the current clip spread evenly over ``where(clip, j)`` (frames [start, stop))."""
    made = clips()
    monkeypatch.setattr(claim_module, "word_clip_set", lambda *args, **kwargs: made)
    current = []
    n_ctx = model.dims.n_audio_ctx

    def clip_run(_model, clip):
        current[:] = [clip]
        return type("Run", (), {"transcript": clip.text, "features": torch.zeros(n_ctx, model.dims.n_audio_state)})

    def constructed(_model, _features, tokens):
        clip = current[0]
        tokenizer = tokenizer_for(model)
        first = len(tokenizer.sot_sequence)  # the <|notimestamps|> position predicts text token 0
        assert len(tokens) == first + 2 + len(clip.words)  # every word one token
        weights = torch.full((model.dims.n_text_layer, model.dims.n_text_head, len(tokens), n_ctx), 1 / n_ctx)
        for j in range(len(clip.words)):
            start, stop = where(clip, j)
            weights[:, :, first + j] = 0
            weights[:, :, first + j, start:stop] = 1 / (stop - start)
        return DecoderPass(weights=weights, logits=torch.zeros(len(tokens), model.dims.n_vocab))

    monkeypatch.setattr(claim_module, "clip_run", clip_run)
    monkeypatch.setattr(claim_module, "cross_attention", constructed)


def on_word(clip, j):
    w = clip.words[j]
    return word_frames(w.start_s, w.end_s)


def over_speech(clip, _j):
    return speech_frames(clip)


def on_another_word(clip, j):
    w = clip.words[(j + 2) % len(clip.words)]
    return word_frames(w.start_s, w.end_s)


def measure(spec, model, **overrides):
    measured = measure_claim(spec, LoadedModel(model, INFO), **{**NO_ASSETS, **overrides})
    return measured, judge(spec, INFO, measured)


@pytest.mark.control
def test_holds_when_each_words_attention_is_on_its_own_frames(spec, small_random, monkeypatch):
    model = small_random(0)
    planted(monkeypatch, model, on_word)
    measured, verdict = measure(spec, model)
    assert verdict.status == "holds", verdict.describe()
    assert measured.metrics["median_window_mass"] == pytest.approx(1.0, abs=1e-5)
    assert measured.evidence["n_words_scored"] == measured.evidence["n_words_spoken"] == 21
    assert measured.evidence["heads"] == "every head" and measured.evidence["median_peak_distance"] == 0
    interval = verdict.metric("margin_over_speech_uniform").interval
    assert interval.method == "bootstrap" and interval.n_units == 4 and interval.low > 0.5


@pytest.mark.control
def test_attention_spread_evenly_over_the_speech_is_the_null_and_fails(spec, small_random, monkeypatch):
    model = small_random(0)
    planted(monkeypatch, model, over_speech)
    measured, verdict = measure(spec, model)
    assert measured.metrics["margin_over_speech_uniform"] == 0
    assert all(w["margin"] == 0 for w in measured.evidence["words"])
    assert verdict.status == "fails" and "margin_over_speech_uniform" in verdict.reason, verdict.describe()
    # a window of ± 10 frames around a 0.4 s word holds 40 of a clip's 100-120 speech frames: below the bar too
    assert measured.metrics["median_window_mass"] < 0.5


@pytest.mark.control
def test_fails_when_each_words_attention_is_on_another_word(spec, small_random, monkeypatch):
    model = small_random(0)
    planted(monkeypatch, model, on_another_word)
    measured, verdict = measure(spec, model)
    assert measured.metrics["median_window_mass"] == 0
    assert verdict.status == "fails" and "median_window_mass" in verdict.reason, verdict.describe()
    # a wider window reaches the other word: the margin grows with it, as it should
    assert measure(spec, model, margin_frames=60)[0].metrics["median_window_mass"] > 0.9


def test_too_few_scored_words_is_no_verdict(spec, small_random, monkeypatch):
    model = small_random(0)
    planted(monkeypatch, model, on_word)
    with pytest.raises(MethodInvalid, match=r"21 of 21 spoken words were scored .* over 4 clips; .* at least 30"):
        measure(spec, model, min_words=30)
    with pytest.raises(ValueError, match="margin_frames -1"):
        measure(spec, model, margin_frames=-1)


# -- random weights ---------------------------------------------------------------------------------------


def told_the_words(monkeypatch):
    """The constructed clips, each transcribed as its own words: random weights' attention is then read on
    the right tokens (their own transcripts are garbage and score no word)."""
    made = clips()
    monkeypatch.setattr(claim_module, "word_clip_set", lambda *args, **kwargs: made)
    run = claim_module.clip_run
    monkeypatch.setattr(claim_module, "clip_run",
                        lambda model, clip: dataclasses.replace(run(model, clip), transcript=clip.text))


@pytest.mark.control
@pytest.mark.parametrize("seed", [1, 2])
def test_does_not_hold_on_random_weights(spec, small_random, monkeypatch, seed):
    model = small_random(seed)
    told_the_words(monkeypatch)
    measured, verdict = measure(spec, model)
    assert verdict.status == "fails", verdict.describe()
    assert verdict.metric("median_window_mass").interval_passed is False
    assert verdict.metric("margin_over_speech_uniform").interval_passed is False
    assert measured.evidence["heads"] == "every head" and measured.evidence["n_words_scored"] == 21


@pytest.mark.control
def test_random_weights_own_transcripts_leave_too_few_words(spec, small_random, monkeypatch):
    made = clips()
    monkeypatch.setattr(claim_module, "word_clip_set", lambda *args, **kwargs: made)
    with pytest.raises(MethodInvalid, match=r"\d+ of 21 spoken words were scored"):
        measure(spec, small_random(3))


def test_the_same_numbers_twice(spec, small_random, monkeypatch):
    model = small_random(1)
    told_the_words(monkeypatch)
    first, _ = measure(spec, model)
    second, _ = measure(spec, small_random(1))  # a fresh model: nothing is shared through the in-process cache
    assert first.metrics == second.metrics
    assert first.intervals == second.intervals
    assert first.evidence == second.evidence
    features = torch.randn(model.dims.n_audio_ctx, model.dims.n_audio_state, generator=torch.Generator().manual_seed(0))
    tokens = [50257, 50362, 2266, 11875, 50256]
    assert torch.equal(cross_attention(model, features, tokens).weights, cross_attention(model, features, tokens).weights)
