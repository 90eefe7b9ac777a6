"""Explicit encoder attention, windows and relevance, checked against plain reimplementations."""
import math

import pytest
import torch
import torch.nn.functional as F
from whisper.model import ModelDimensions, MultiHeadAttention

from whisper_claims.measure.attention import attention_window, band_mask, explicit_attention, relevance
from whisper_claims.models.load import random_model

SMALL = ModelDimensions(
    n_mels=80, n_audio_ctx=100, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
    n_vocab=51865, n_text_ctx=16, n_text_state=64, n_text_head=2, n_text_layer=2,
)
TOL = 1e-5


def random_mel(dims: ModelDimensions, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, dims.n_mels, 2 * dims.n_audio_ctx, generator=g)


def reference_encoder(encoder, mel: torch.Tensor, k: int | None = None, record: list | None = None):
    """Whisper's encoder in plain torch from its weights; attention limited to |i - j| <= k if k is given.

    Scores are q @ k.T / sqrt(d_head) (Whisper scales q and k by d_head ** -0.25 each).
    ``record`` receives each layer's probabilities [batch, head, dst, src], not detached.
    """
    x = F.gelu(F.conv1d(mel, encoder.conv1.weight, encoder.conv1.bias, padding=1))
    x = F.gelu(F.conv1d(x, encoder.conv2.weight, encoder.conv2.bias, stride=2, padding=1))
    x = x.permute(0, 2, 1) + encoder.positional_embedding  # [batch, ctx, state]
    n_batch, n_ctx, n_state = x.shape
    pos = torch.arange(n_ctx)
    outside = (pos[:, None] - pos[None, :]).abs() > k if k is not None else None
    for block in encoder.blocks:
        attn = block.attn
        n_head = attn.n_head
        d_head = n_state // n_head
        h = F.layer_norm(x, (n_state,), block.attn_ln.weight, block.attn_ln.bias)
        q = F.linear(h, attn.query.weight, attn.query.bias)
        key = F.linear(h, attn.key.weight)
        v = F.linear(h, attn.value.weight, attn.value.bias)

        def heads(t):
            return t.reshape(n_batch, n_ctx, n_head, d_head).transpose(1, 2)

        scores = heads(q) @ heads(key).transpose(-1, -2) / math.sqrt(d_head)
        if outside is not None:
            scores = scores.masked_fill(outside, -math.inf)
        p = torch.softmax(scores, dim=-1)
        if record is not None:
            record.append(p)
        merged = (p @ heads(v)).transpose(1, 2).reshape(n_batch, n_ctx, n_state)
        x = x + F.linear(merged, attn.out.weight, attn.out.bias)
        h = F.layer_norm(x, (n_state,), block.mlp_ln.weight, block.mlp_ln.bias)
        x = x + block.mlp(h)
    return F.layer_norm(x, (n_state,), encoder.ln_post.weight, encoder.ln_post.bias)


def reference_relevance(model, mel: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """The post's relevance from one autograd graph over the whole plain encoder."""
    probabilities = []
    with torch.enable_grad():
        output = reference_encoder(model.encoder, mel, k=k, record=probabilities)
        grads = torch.autograd.grad(output.sum(), probabilities)
    r = torch.eye(output.shape[1])
    for a, g in zip(probabilities, grads):
        r = r + (g * a).clamp(min=0).mean(dim=1)[0].detach() @ r
    return r


def max_diff(a, b) -> float:
    return (a - b).abs().max().item()


def overrides(model) -> list[bool]:
    return ["qkv_attention" in m.__dict__ for m in model.modules() if isinstance(m, MultiHeadAttention)]


@pytest.fixture(scope="module")
def small():
    return random_model("tiny", 0, dims=SMALL)


@pytest.fixture(scope="module")
def tiny():
    return random_model("tiny", 0)


@pytest.fixture(scope="module")
def small_mel():
    return random_mel(SMALL, 1)


@pytest.fixture(scope="module")
def tiny_mel(tiny):
    return random_mel(tiny.dims, 1)


@pytest.fixture(scope="module")
def tiny_fast(tiny, tiny_mel):
    with torch.no_grad():
        return tiny.encoder(tiny_mel)


# -- band_mask ------------------------------------------------------------------------------------


def test_band_mask_matches_the_posts_figure():
    mask = band_mask(10, 2)
    assert mask.shape == (10, 10) and mask.dtype == torch.float32
    allowed = mask == 0
    assert torch.all(allowed | torch.isneginf(mask))
    assert allowed.sum(dim=1).tolist() == [3, 4, 5, 5, 5, 5, 5, 5, 4, 3]
    for i in range(10):
        for j in range(10):
            assert bool(allowed[i, j]) == (abs(i - j) <= 2)


def test_band_mask_zero_is_the_diagonal():
    assert torch.equal(band_mask(5, 0) == 0, torch.eye(5, dtype=torch.bool))
    assert torch.all(band_mask(5, 7) == 0)


@pytest.mark.parametrize("k", [-1, 1.5, "2", True, None])
def test_invalid_window_names_k(small, k):
    with pytest.raises(ValueError, match=r"\bk\b"):
        band_mask(10, k)
    with pytest.raises(ValueError, match=r"\bk\b"):
        with attention_window(small, k):
            pass
    assert not any(overrides(small))


# -- explicit attention -----------------------------------------------------------------------


def test_explicit_path_equals_sdpa_and_is_restored(small, small_mel):
    with torch.no_grad():
        fast = small.encoder(small_mel)
        before = [dict(m.__dict__) for m in small.modules() if isinstance(m, MultiHeadAttention)]
        with explicit_attention(small) as records:
            assert overrides(small) == [True] * SMALL.n_audio_layer + [False] * 2 * SMALL.n_text_layer
            explicit = small.encoder(small_mel)
        after = [dict(m.__dict__) for m in small.modules() if isinstance(m, MultiHeadAttention)]
        again = small.encoder(small_mel)
    assert records == []
    assert max_diff(explicit, fast) <= TOL
    assert before == after and not any(overrides(small))
    assert torch.equal(again, fast)


def test_records_probabilities_in_the_graph(small, small_mel):
    with torch.enable_grad(), explicit_attention(small, record=True) as records:
        small.encoder(small_mel)
    assert len(records) == SMALL.n_audio_layer
    for w in records:
        assert w.shape == (1, SMALL.n_audio_head, SMALL.n_audio_ctx, SMALL.n_audio_ctx)
        assert w.requires_grad and w.grad_fn is not None
        assert torch.allclose(w.sum(-1), torch.ones(()), atol=1e-5)
    reference = []
    with torch.no_grad():
        reference_encoder(small.encoder, small_mel, record=reference)
    assert max(max_diff(w.detach(), p) for w, p in zip(records, reference)) <= TOL


def test_restored_when_the_block_raises(small):
    with pytest.raises(RuntimeError, match="boom"):
        with attention_window(small, 3):
            assert all(overrides(small)[:SMALL.n_audio_layer])
            raise RuntimeError("boom")
    assert not any(overrides(small))


def test_nested_contexts_restore_the_outer_one(small, small_mel):
    with torch.no_grad():
        with attention_window(small, 1):
            outer = [b.attn.__dict__["qkv_attention"] for b in small.encoder.blocks]
            with attention_window(small, 0):
                inner = small.encoder(small_mel)
            assert [b.attn.__dict__["qkv_attention"] for b in small.encoder.blocks] == outer
            windowed = small.encoder(small_mel)
    assert not any(overrides(small))
    assert max_diff(inner, reference_encoder(small.encoder, small_mel, 0)) <= TOL
    assert max_diff(windowed, reference_encoder(small.encoder, small_mel, 1)) <= TOL


def test_decoder_keeps_the_fast_path(small, small_mel):
    tokens = torch.tensor([[50258, 50259, 50359, 50363]])
    with torch.no_grad():
        features = small.encoder(small_mel)
        fast = small.decoder(tokens, features)
        with attention_window(small, 2):
            assert not any(overrides(small.decoder))
            inside = small.decoder(tokens, features)
    assert torch.equal(inside, fast)


def test_mask_shape_is_checked(small):
    with pytest.raises(ValueError, match="n_ctx"):
        with explicit_attention(small, mask=torch.zeros(3, 4)):
            pass
    assert not any(overrides(small))


# -- attention windows against the reference --------------------------------------------------


@pytest.mark.parametrize("name, k", [("small", k) for k in (0, 1, 2, 3, 50)]
                         + [("tiny", k) for k in (0, 1, 2, 10, 75)])
def test_window_matches_reference(request, name, k):
    model, mel = request.getfixturevalue(name), request.getfixturevalue(f"{name}_mel")
    with torch.no_grad(), attention_window(model, k):
        windowed = model.encoder(mel)
    with torch.no_grad():
        reference = reference_encoder(model.encoder, mel, k)
    assert max_diff(windowed, reference) <= TOL


@pytest.mark.parametrize("k", [SMALL.n_audio_ctx - 1, SMALL.n_audio_ctx, 10 * SMALL.n_audio_ctx])
def test_wide_window_is_the_unmodified_model_small(small, small_mel, k):
    with torch.no_grad():
        fast = small.encoder(small_mel)
        with attention_window(small, k):
            windowed = small.encoder(small_mel)
    assert max_diff(windowed, fast) <= TOL


def test_window_changes_the_output(small, small_mel):
    with torch.no_grad():
        fast = small.encoder(small_mel)
        with attention_window(small, 2):
            windowed = small.encoder(small_mel)
    assert max_diff(windowed, fast) > 1e-2


def test_wide_window_and_explicit_path_are_the_unmodified_model_tiny(tiny, tiny_mel, tiny_fast):
    with torch.no_grad():
        with attention_window(tiny, tiny.dims.n_audio_ctx):
            windowed = tiny.encoder(tiny_mel)
        reference = reference_encoder(tiny.encoder, tiny_mel)
    assert max_diff(windowed, tiny_fast) <= TOL
    assert max_diff(reference, tiny_fast) <= TOL
    assert not any(overrides(tiny))


# -- relevance ----------------------------------------------------------------------------------


def test_relevance_matches_reference(small, small_mel):
    grad_mode = torch.is_grad_enabled()
    flags = [p.requires_grad for p in small.parameters()]
    r = relevance(small, small_mel)
    assert torch.is_grad_enabled() == grad_mode
    assert [p.requires_grad for p in small.parameters()] == flags
    assert all(p.grad is None for p in small.parameters())
    assert not any(overrides(small))

    expected = reference_relevance(small, small_mel)
    assert r.shape == (SMALL.n_audio_ctx, SMALL.n_audio_ctx)
    assert torch.allclose(r, expected, rtol=TOL, atol=TOL)
    assert torch.all(r - torch.eye(SMALL.n_audio_ctx) >= 0)
    off = r - torch.eye(SMALL.n_audio_ctx)
    assert off.max() > 1e-2  # not rounding noise: the objective depends on the attention
    assert all(p.grad is None for p in small.parameters())


def test_relevance_under_no_grad_and_frozen_parameters(small, small_mel):
    expected = relevance(small, small_mel[0])
    small.requires_grad_(False)
    try:
        with torch.no_grad():
            r = relevance(small, small_mel)
        with torch.inference_mode():
            r_inference = relevance(small, small_mel)
        assert all(not p.requires_grad for p in small.parameters())
    finally:
        small.requires_grad_(True)
    assert torch.allclose(r, expected, rtol=TOL, atol=TOL)
    assert torch.allclose(r_inference, expected, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("k", [0, 3, 20])
def test_relevance_in_a_window_matches_reference(small, small_mel, k):
    r = relevance(small, small_mel, mask=band_mask(SMALL.n_audio_ctx, k))
    expected = reference_relevance(small, small_mel, k=k)
    assert max_diff(r, expected) <= TOL
    # two layers of a ±k window: nothing reaches further than 2k
    i = torch.arange(SMALL.n_audio_ctx)
    assert torch.all(r[(i[:, None] - i[None, :]).abs() > 2 * k] == 0)


def test_relevance_takes_one_mel(small):
    with pytest.raises(ValueError, match="batch of 1"):
        relevance(small, random_mel(SMALL).repeat(2, 1, 1))
