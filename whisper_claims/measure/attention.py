"""Explicit encoder self-attention: masks, recorded attention probabilities, propagated relevance.

Whisper computes attention with ``scaled_dot_product_attention``, which ignores additive masks in
the encoder and never returns the probabilities. The context managers here swap in an explicit
computation for the encoder's self-attention only, and only while they are open; everything else,
the decoder included, keeps Whisper's fast path.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from whisper.model import MultiHeadAttention, Whisper

_MISSING = object()


def _explicit_qkv_attention(attn: MultiHeadAttention, extra_mask: Optional[Tensor],
                            records: Optional[list], reduce: Optional[Callable[[Tensor], Any]] = None):
    """An instance-level replacement for ``attn.qkv_attention`` (Whisper's non-SDPA path, plus a mask)."""

    def qkv_attention(q: Tensor, k: Tensor, v: Tensor, mask: Optional[Tensor] = None):
        n_batch, n_ctx, n_state = q.shape
        scale = (n_state // attn.n_head) ** -0.25
        q = q.view(*q.shape[:2], attn.n_head, -1).permute(0, 2, 1, 3)  # [batch, head, dst, d_head]
        k = k.view(*k.shape[:2], attn.n_head, -1).permute(0, 2, 1, 3)  # [batch, head, src, d_head]
        v = v.view(*v.shape[:2], attn.n_head, -1).permute(0, 2, 1, 3)  # [batch, head, src, d_head]

        qk = (q * scale) @ (k * scale).transpose(-1, -2)  # [batch, head, dst, src]
        # masks are added in place: the same bits as a new sum, a fifth faster (qk is large, the
        # matmul's backward needs only q and k)
        if mask is not None:  # Whisper's own (causal) mask; the encoder passes none
            qk += mask[:n_ctx, :n_ctx]
        if extra_mask is not None:
            if extra_mask.shape[0] < n_ctx or extra_mask.shape[1] < qk.shape[-1]:
                raise ValueError(
                    f"attention mask of shape {tuple(extra_mask.shape)} is smaller than the "
                    f"{n_ctx} x {qk.shape[-1]} attention it should mask"
                )
            qk += extra_mask[:n_ctx, :qk.shape[-1]].to(qk.device, qk.dtype)
        qk = qk.float()

        w = F.softmax(qk, dim=-1).to(q.dtype)  # [batch, head, dst, src]
        if records is not None:  # not detached: relevance needs its gradient
            records.append(w if reduce is None else reduce(w))
        out = (w @ v).permute(0, 2, 1, 3).flatten(start_dim=2)  # [batch, dst, n_state]
        return out, qk.detach()

    return qkv_attention


@contextmanager
def explicit_attention(model: Whisper, *, mask: Optional[Tensor] = None, record: bool = False,
                       reduce: Optional[Callable[[Tensor], Any]] = None) -> Iterator[list]:
    """Compute the encoder's self-attention explicitly inside the block, optionally masked and recorded.

    Each ``model.encoder.blocks[i].attn`` gets an instance-level ``qkv_attention`` that computes
    ``softmax((q * scale) @ (k * scale).T + mask) @ v`` as Whisper's non-SDPA path does, softmax in
    float32. The decoder is untouched. On exit, also when the block raises, each module's previous
    ``qkv_attention`` is restored: the instance attribute is removed (or, when nested, put back).

    Parameters
    ----------
    model : whisper.model.Whisper
        The model; only its encoder changes, and only inside the block.
    mask : torch.Tensor, optional
        Additive mask ``[n_ctx, n_ctx]`` (``dst``, ``src``), 0 where attention is allowed and
        ``-inf`` where it is not; applied to every layer and head. Every row needs one finite entry.
    record : bool
        Whether to record each encoder layer's attention probabilities.
    reduce : callable, optional
        With ``record``, applied to each layer's probabilities as they are computed; its result is
        recorded instead, so that a summary of every layer never holds every layer's probabilities.

    Yields
    ------
    list
        When ``record``, one ``[batch, head, dst, src]`` tensor (or its ``reduce``) per encoder layer
        call, in call order, kept in the autograd graph (not detached) so that gradients can flow to
        it; otherwise empty.
    """
    if mask is not None and (mask.ndim != 2 or mask.shape[0] != mask.shape[1]):
        raise ValueError(f"attention mask must have shape [n_ctx, n_ctx], got {tuple(mask.shape)}")
    attns = [block.attn for block in model.encoder.blocks]
    records: list[Tensor] = []
    previous = [attn.__dict__.get("qkv_attention", _MISSING) for attn in attns]
    try:
        for attn in attns:
            # a plain function, not a Module or Parameter: nn.Module stores it in the instance __dict__
            attn.qkv_attention = _explicit_qkv_attention(attn, mask, records if record else None, reduce)
        yield records
    finally:
        for attn, before in zip(attns, previous):
            attn.__dict__.pop("qkv_attention", None)
            if before is not _MISSING:
                attn.__dict__["qkv_attention"] = before


def _check_window(k) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"attention window k must be an integer >= 0, got k={k!r}")
    return k


def band_mask(n_ctx: int, k: int) -> Tensor:
    """Additive mask letting position ``i`` attend to ``j`` only when ``|i - j| <= k``.

    Returns
    -------
    torch.Tensor, shape = (n_ctx, n_ctx), dtype = float32
        0 on the band (``2k + 1`` positions per row away from the edges, self included), ``-inf`` off it.
    """
    k = _check_window(k)
    if isinstance(n_ctx, bool) or not isinstance(n_ctx, int) or n_ctx < 1:
        raise ValueError(f"n_ctx must be a positive integer, got n_ctx={n_ctx!r}")
    i = torch.arange(n_ctx)
    distance = (i[:, None] - i[None, :]).abs()  # [dst, src]
    mask = torch.zeros(n_ctx, n_ctx)
    mask[distance > k] = -math.inf
    return mask


@contextmanager
def attention_window(model: Whisper, k: int, *, record: bool = False) -> Iterator[list[Tensor]]:
    """Restrict every encoder self-attention layer and head to a window ``|i - j| <= k`` inside the block.

    With ``k >= n_audio_ctx - 1`` nothing is masked and the encoder output is the unmodified one
    (up to float rounding). See ``explicit_attention`` for ``record`` and what is yielded.

    Raises
    ------
    ValueError
        ``k`` is not an integer >= 0.
    """
    mask = band_mask(int(model.dims.n_audio_ctx), k).to(model.device)
    with explicit_attention(model, mask=mask, record=record) as records:
        yield records


def relevance(model: Whisper, mel: Tensor, *, mask: Optional[Tensor] = None) -> Tensor:
    """Propagated relevance of encoder positions to each other (Chefer et al., 2021), as in the post.

    The objective is ``L``, the sum of every element of the encoder output (after ``ln_post``).
    For each encoder layer ``l`` in forward order, ``A_l`` are its attention probabilities and
    ``Ā_l = mean_heads(clamp(∂L/∂A_l ⊙ A_l, min=0))``; then ``R = I`` and ``R ← R + Ā_l R``,
    i.e. ``R = (I + Ā_{L-1}) ··· (I + Ā_0)``.

    Parameters
    ----------
    model : whisper.model.Whisper
        Its parameters get no ``.grad`` and their ``requires_grad`` flags are left as they are.
    mel : torch.Tensor
        Log-mel ``[n_mels, 2 * n_audio_ctx]`` or a batch of one ``[1, n_mels, 2 * n_audio_ctx]``.
    mask : torch.Tensor, optional
        Additive attention mask for every encoder layer (see ``explicit_attention``), e.g.
        ``band_mask(n_ctx, 5)`` to measure a model forced into a window.

    Returns
    -------
    torch.Tensor, shape = (n_audio_ctx, n_audio_ctx), dtype = float32
        ``R[i, j]``: relevance of input position ``j`` to output position ``i``; ``R - I >= 0``.

    Notes
    -----
    Computed layer by layer, so memory stays at one layer's graph whatever the depth (large-v3 has
    32 layers of 20 × 1500 × 1500 probabilities): a forward pass without a graph keeps each block's
    input; then, from the last block down, each block is run again with a graph, the gradient
    arriving from above is pulled through it, and ``(I + Ā_l)`` is multiplied in on the right.
    Costs one extra forward pass over holding the whole graph; the result is the same.
    """
    mel = mel.unsqueeze(0) if mel.ndim == 2 else mel
    if mel.ndim != 3 or mel.shape[0] != 1:
        raise ValueError(f"relevance takes one log-mel [n_mels, frames] (batch of 1), got {tuple(mel.shape)}")
    encoder = model.encoder
    x = mel.detach().to(model.device, encoder.conv1.weight.dtype)

    # inference_mode(False): tensors made under an outer inference_mode cannot enter a graph later
    with torch.inference_mode(False):
        inputs: list[Tensor] = []  # the input of each block, then of ln_post
        hooks = [m.register_forward_pre_hook(lambda _m, args: inputs.append(args[0].detach()))
                 for m in [*encoder.blocks, encoder.ln_post]]
        try:
            with torch.no_grad(), explicit_attention(model, mask=mask):
                encoder(x)
        finally:
            for hook in hooks:
                hook.remove()

        with torch.enable_grad():
            top = inputs[-1].clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(encoder.ln_post(top).sum(), top)  # ∂L/∂(last block's output)
            product: Optional[Tensor] = None  # (I + Ā_{L-1}) ··· (I + Ā_l)
            for block, block_input in zip(reversed(encoder.blocks), reversed(inputs[:-1])):
                h = block_input.clone().requires_grad_(True)
                with explicit_attention(model, mask=mask, record=True) as probabilities:
                    out = block(h)
                # gradients w.r.t. the probabilities and the input only: parameters get no .grad
                grad_a, grad = torch.autograd.grad(out, [probabilities[0], h], grad_outputs=grad)
                a_bar = (grad_a.float() * probabilities[0].detach().float()).clamp(min=0).mean(dim=1)[0]
                with torch.no_grad():
                    product = torch.eye(a_bar.shape[0], device=a_bar.device) + a_bar if product is None \
                        else product + product @ a_bar
                del probabilities, out, grad_a
    return product.detach()
