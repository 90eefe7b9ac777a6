import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
import whisper
from hypothesis import given, settings
from hypothesis import strategies as st
from whisper.model import ModelDimensions
from whisper.tokenizer import get_tokenizer

from whisper_claims.measure import inference
from whisper_claims.measure.hooks import capture, named_module
from whisper_claims.measure.text import normalize, wer, word_edits, word_recall
from whisper_claims.models.load import random_model

SMALL = ModelDimensions(
    n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
    n_vocab=51865, n_text_ctx=64, n_text_state=64, n_text_head=2, n_text_layer=2,
)
SMALL_EN = replace(SMALL, n_vocab=51864)


def talkative(dims: ModelDimensions, seed: int = 0):
    """A small random model whose greedy transcript depends on the features.

    With PyTorch's N(0, 1) token embeddings a random decoder just repeats its last token
    (<|notimestamps|>); shrinking the embeddings lets the cross-attention decide.
    """
    model = random_model("tiny", seed, dims=dims)
    with torch.no_grad():
        model.decoder.token_embedding.weight.mul_(0.05)
    return model


def features(seed: int, dims: ModelDimensions = SMALL) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 5 * torch.randn(dims.n_audio_ctx, dims.n_audio_state, generator=g)


def mel(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, SMALL.n_mels, 2 * SMALL.n_audio_ctx, generator=g)


def no_hooks(model) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


@pytest.fixture(scope="module")
def model():
    return random_model("tiny", 0, dims=SMALL)


# -- hooks ----------------------------------------------------------------------------------------


def _attention(attn, x: torch.Tensor) -> torch.Tensor:
    """Plain multi-head self-attention with the module's weights, no mask."""
    n, t, d = x.shape
    h = attn.n_head
    q, k, v = (w(x).view(n, t, h, d // h).transpose(1, 2) for w in (attn.query, attn.key, attn.value))
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // h), dim=-1)
    return attn.out((weights @ v).transpose(1, 2).reshape(n, t, d))


def _layer_norm(ln, x):
    return F.layer_norm(x, (x.shape[-1],), ln.weight, ln.bias, eps=1e-5)


def manual_block0_neurons(model, mel: torch.Tensor) -> torch.Tensor:
    """Post-GELU MLP activations of encoder block 0, computed by hand from the mel."""
    enc = model.encoder
    x = F.gelu(F.conv1d(mel, enc.conv1.weight, enc.conv1.bias, padding=1))
    x = F.gelu(F.conv1d(x, enc.conv2.weight, enc.conv2.bias, stride=2, padding=1))
    x = x.permute(0, 2, 1) + enc.positional_embedding
    block = enc.blocks[0]
    x = x + _attention(block.attn, _layer_norm(block.attn_ln, x))
    h = _layer_norm(block.mlp_ln, x)
    return F.gelu(h @ block.mlp[0].weight.T + block.mlp[0].bias)


def test_capture_records_post_gelu_neurons(model):
    m = mel(1)
    with torch.no_grad(), capture(model, ["encoder.blocks.0.mlp.1", "encoder.blocks.1.mlp.1"]) as records:
        model.encoder(m)
        model.encoder(mel(2))
    assert set(records) == {"encoder.blocks.0.mlp.1", "encoder.blocks.1.mlp.1"}
    first = records["encoder.blocks.0.mlp.1"]
    assert len(first) == 2 and len(records["encoder.blocks.1.mlp.1"]) == 2
    assert first[0].shape == (1, SMALL.n_audio_ctx, 4 * SMALL.n_audio_state)
    assert not first[0].requires_grad
    with torch.no_grad():
        expected = manual_block0_neurons(model, m)
    torch.testing.assert_close(first[0], expected, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(first[1], expected)  # the second call is the second mel
    assert no_hooks(model)


def test_capture_single_name_and_module_input(model):
    """A name given as a string; cross-checked against the MLP input taken by an own pre-hook."""
    inputs = []
    handle = model.encoder.blocks[1].mlp.register_forward_pre_hook(lambda mod, args: inputs.append(args[0]))
    try:
        with torch.no_grad(), capture(model, "encoder.blocks.1.mlp.1") as records:
            model.encoder(mel(3))
    finally:
        handle.remove()
    mlp = model.encoder.blocks[1].mlp
    with torch.no_grad():
        expected = F.gelu(inputs[0] @ mlp[0].weight.T + mlp[0].bias)
    torch.testing.assert_close(records["encoder.blocks.1.mlp.1"][0], expected, rtol=1e-5, atol=1e-6)
    assert no_hooks(model)


def test_capture_records_detached_tensors(model):
    """Outputs are recorded detached even when autograd is on, so records hold no graph."""
    with capture(model, "encoder.blocks.0.mlp.1") as records:
        out = model.encoder(mel(1))
    assert out.requires_grad  # autograd was on
    recorded = records["encoder.blocks.0.mlp.1"][0]
    assert not recorded.requires_grad and recorded.grad_fn is None


def test_capture_removes_hooks_when_the_body_raises(model):
    with pytest.raises(ZeroDivisionError):
        with capture(model, ["encoder.blocks.0.mlp.1", "decoder.blocks.1.mlp.1"]):
            assert not no_hooks(model)  # hooks are in place inside the block
            1 / 0
    assert no_hooks(model)


def test_capture_unknown_name(model):
    with pytest.raises(KeyError) as info:
        with capture(model, ["encoder.blocks.0.mlp.1", "encoder.block.0.mlp.1"]):
            pytest.fail("the block must not run")
    message = str(info.value)
    assert "'encoder.block.0.mlp.1'" in message and "did you mean encoder.blocks.0.mlp.1" in message
    assert no_hooks(model)
    with pytest.raises(KeyError, match="no module 'nonsense' in Whisper"):
        named_module(model, "nonsense")
    assert named_module(model, "encoder.blocks.1.mlp.1") is model.encoder.blocks[1].mlp[1]


# -- encoder and decoder --------------------------------------------------------------------------


def test_encode(model):
    m = mel(4)
    with torch.no_grad():
        expected = model.encoder(m)
    out = inference.encode(model, m)
    assert out.shape == (1, SMALL.n_audio_ctx, SMALL.n_audio_state)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    torch.testing.assert_close(inference.encode(model, m[0]), expected, rtol=0, atol=0)
    torch.testing.assert_close(inference.encode(model, m.double()), expected, rtol=0, atol=0)


def suppressed(tokenizer) -> list[int]:
    """The tokens whisper.decode never samples with suppress_tokens="-1"."""
    tokens = list(tokenizer.non_speech_tokens)
    tokens += [tokenizer.transcribe, tokenizer.translate, tokenizer.sot, tokenizer.sot_prev, tokenizer.sot_lm]
    if tokenizer.no_speech is not None:
        tokens.append(tokenizer.no_speech)
    return tokens


def greedy_reference(model, feats: torch.Tensor, multilingual: bool) -> str:
    """Greedy decoding by hand: the full decoder each step, no kv-cache, whisper's suppressions."""
    tokenizer = get_tokenizer(multilingual, num_languages=model.dims.n_vocab - 51765 - int(multilingual),
                              language="en", task="transcribe")
    tokens = list(tokenizer.sot_sequence_including_notimestamps)
    start = len(tokens)
    with torch.no_grad():
        for step in range(model.dims.n_text_ctx // 2):
            logits = model.decoder(torch.tensor([tokens]), feats[None])[0, -1].clone()
            logits[suppressed(tokenizer)] = -math.inf
            if step == 0:
                logits[tokenizer.encode(" ") + [tokenizer.eot]] = -math.inf
            token = int(logits.argmax())
            if token == tokenizer.eot:
                break
            tokens.append(token)
    return tokenizer.decode(tokens[start:]).strip()


def test_transcribe_features_is_greedy_english_transcription():
    talker = talkative(SMALL)
    text = inference.transcribe_features(talker, features(0))
    assert len(set(text.split())) >= 3  # the model says something, not one token over and over
    assert text == greedy_reference(talker, features(0), multilingual=True)
    assert text == whisper.decode(talker, features(0), inference.DECODING).text.strip()
    assert inference.transcribe_features(talker, features(0)) == text
    assert inference.transcribe_features(talker, features(0)[None]) == text
    assert inference.transcribe_features(talker, features(1)) != text


def test_transcribe_features_english_only_model():
    talker = talkative(SMALL_EN, seed=1)
    assert not talker.is_multilingual
    tokenizer = inference.tokenizer_for(talker)
    assert tokenizer.encoding.n_vocab == 51864 and tokenizer.sot_sequence == (tokenizer.sot,)
    text = inference.transcribe_features(talker, features(2))
    assert len(set(text.split())) >= 3
    assert text == greedy_reference(talker, features(2), multilingual=False)
    assert text == inference.transcribe_features(talker, features(2))


def test_transcribe_features_shape_check(model):
    with pytest.raises(ValueError) as info:
        inference.transcribe_features(model, torch.zeros(1500, 32))
    assert "(1500, 32)" in str(info.value) and "(1500, 64)" in str(info.value)
    with pytest.raises(ValueError, match=r"\(2, 1500, 64\).*expected \(1500, 64\)"):
        inference.transcribe_features(model, torch.zeros(2, 1500, 64))


def test_tokenizer_for_multilingual(model):
    tokenizer = inference.tokenizer_for(model)
    assert tokenizer.encoding.n_vocab == SMALL.n_vocab
    assert tokenizer.sot_sequence == (tokenizer.sot, tokenizer.to_language_token("en"), tokenizer.transcribe)


def test_next_token_logits(model):
    tokenizer = inference.tokenizer_for(model)
    prompt = list(tokenizer.sot_sequence + (tokenizer.encode(" very")[0],))
    feats = features(5)
    with torch.no_grad():
        expected = model.decoder(torch.tensor([prompt]), feats[None])[0, -1]
    logits = inference.next_token_logits(model, feats, prompt)
    assert logits.shape == (SMALL.n_vocab,)
    torch.testing.assert_close(logits, expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(inference.next_token_logits(model, feats[None], prompt), expected,
                               rtol=1e-6, atol=1e-6)
    assert not torch.allclose(inference.next_token_logits(model, feats, prompt[:-1]), expected)


# -- comparing transcripts ------------------------------------------------------------------------------


@pytest.mark.parametrize("reference, hypothesis, expected_wer, expected_recall", [
    ("the cat sat down", "the cat sat down", 0.0, 1.0),
    ("the cat sat down", "the dog sat down", 0.25, 0.75),
    ("the cat sat down", "the cat sat", 0.25, 0.75),
    ("the cat sat", "the big cat sat", 1 / 3, 1.0),  # an insertion costs WER, not recall
    ("the cat sat", "the cat sat on the mat", 1.0, 1.0),
    ("Hot ones.", "hot ones", 0.0, 1.0),  # case and punctuation are normalised away
    ("hot ones", "", 1.0, 0.0),
    ("", "", 0.0, 1.0),
])
def test_wer_and_recall_known_cases(reference, hypothesis, expected_wer, expected_recall):
    assert wer(reference, hypothesis) == pytest.approx(expected_wer)
    assert word_recall(reference, hypothesis) == pytest.approx(expected_recall)


def test_empty_reference_with_words_is_undefined():
    assert math.isnan(wer("", "hot ones"))
    assert math.isnan(word_recall("", "hot ones"))
    assert math.isnan(wer(" . ", "hot ones"))  # nothing left after normalisation


def test_word_edits_tell_lost_words_from_new_ones():
    edits = word_edits("answer hot questions while".split(), "answer hot or hot wings while".split())
    assert edits.kept == (True, True, False, True)
    assert sorted(edits.inserted) == ["hot", "or", "wings"]  # a substitute and two insertions
    assert word_edits([], ["a"]) == type(edits)(kept=(), inserted=("a",))
    assert word_edits(["a", "b"], []) == type(edits)(kept=(False, False), inserted=())


def edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def longest_common_subsequence(a: list[str], b: list[str]) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        prev = 0
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], prev + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


WORDS = st.lists(st.sampled_from(["the", "cat", "sat", "hot", "ones", "Mr.", "two", "uh", "colour", "a"]),
                 max_size=7).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(reference=WORDS, hypothesis=WORDS)
def test_wer_and_recall_properties(reference, hypothesis):
    ref, hyp = normalize(reference).split(), normalize(hypothesis).split()
    error, recall = wer(reference, hypothesis), word_recall(reference, hypothesis)
    if not ref:
        if hyp:
            assert math.isnan(error) and math.isnan(recall)
        else:
            assert (error, recall) == (0.0, 1.0)
        return
    assert error == pytest.approx(edit_distance(ref, hyp) / len(ref))
    assert 0.0 <= recall <= 1.0 and error >= 0.0
    # hits are a common subsequence, and every word not hit is an edit
    assert max(0.0, 1.0 - error) - 1e-12 <= recall <= longest_common_subsequence(ref, hyp) / len(ref) + 1e-12
    assert wer(reference, reference) == 0.0 and word_recall(reference, reference) == 1.0
