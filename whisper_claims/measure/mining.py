"""Mining encoder units over a corpus: activations per frame, stopping after the block needed, and the
top-K frames of every unit kept in a streaming pass.

A unit is a neuron of ``encoder.blocks.N.mlp.1`` (post-GELU) or a dimension of the residual stream
``encoder.blocks.N`` (the block's output). Clips are padded to 30 s as the post did, or, with
``trim=True``, the encoder runs on the clip's frames only, its positional embedding sliced to them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from whisper.audio import log_mel_spectrogram
from whisper.model import Whisper

from .. import progress
from ..stimuli.audio import SAMPLE_RATE, SAMPLES_PER_FRAME, log_mel
from .hooks import capture, parse_layer


@dataclass(frozen=True)
class Layer:
    """Where units are read: ``encoder.blocks.N.mlp.1`` (neurons) or ``encoder.blocks.N`` (residual)."""

    name: str
    block: int
    neurons: bool

    @classmethod
    def parse(cls, name: str, model: Whisper) -> "Layer":
        parsed = parse_layer(name)
        n_layer = model.dims.n_audio_layer
        if parsed is None or parsed[0] != "encoder" or parsed[1] >= n_layer:
            raise ValueError(f"layer {name!r}: expected 'encoder.blocks.N.mlp.1' or 'encoder.blocks.N' "
                             f"with N < {n_layer} (n_audio_layer)")
        return cls(name, parsed[1], parsed[2])

    def n_units(self, model: Whisper) -> int:
        return 4 * model.dims.n_audio_state if self.neurons else model.dims.n_audio_state


def clip_frames(n_samples: int) -> int:
    """Encoder frames that hold any of a clip's samples."""
    return math.ceil(n_samples / SAMPLES_PER_FRAME)


def clip_mel(audio: np.ndarray, model: Whisper, *, trim: bool = False) -> Tensor:
    """Log-mel ``[1, n_mels, frames]`` of one clip: the 30 s padded input, or with ``trim`` only its
    first ``2 * clip_frames`` mel frames — computed from the clip plus one second of zeros, which gives
    the same values as slicing the 30 s input (the normalisation's maximum and every frame's window
    are the same), without transforming 30 s."""
    if not trim:
        return log_mel(audio, model)
    n_frames = clip_frames(len(audio))
    if n_frames > model.dims.n_audio_ctx:
        raise ValueError(f"clip of {len(audio) / SAMPLE_RATE:.2f} s is longer than the model's window")
    padded = np.zeros(n_frames * SAMPLES_PER_FRAME + SAMPLE_RATE, dtype=np.float32)
    padded[: len(audio)] = audio
    mel = log_mel_spectrogram(torch.from_numpy(padded), n_mels=model.dims.n_mels)
    return mel[None, :, : 2 * n_frames]


@torch.no_grad()
def unit_activations(model: Whisper, mel: Tensor, layer: str | Layer) -> Tensor:
    """Activations of ``layer`` for a batch of log-mels, running the encoder only up to that block.

    Parameters
    ----------
    mel : torch.Tensor
        ``[batch, n_mels, 2 * n_frames]`` with ``n_frames <= n_audio_ctx``; fewer frames than the
        window is the trimmed context (the positional embedding is sliced to them).

    Returns
    -------
    torch.Tensor
        ``[batch, n_frames, n_units]``, float32 on the CPU.
    """
    layer = layer if isinstance(layer, Layer) else Layer.parse(layer, model)
    return layers_activations(model, mel, [layer])[layer.name]


@torch.no_grad()
def layers_activations(model: Whisper, mel: Tensor, layers: Sequence[str | Layer],
                       n_keep: Optional[int] = None) -> dict[str, Tensor]:
    """Activations of several layers in one encoder pass that stops after the deepest block.

    With ``n_keep``, only the first ``n_keep`` frames of each layer are returned, and the deepest
    block computes only those rows: their queries attend to the keys and values of every frame, as in
    the whole block, but no other row's attention output or MLP is computed (the same numbers up to
    float rounding, at a fraction of the block's cost on a 30 s input holding a 2 s clip).

    Returns
    -------
    dict
        Layer name → ``[batch, n_keep or n_frames, n_units]``, float32 on the CPU.
    """
    parsed = [layer if isinstance(layer, Layer) else Layer.parse(layer, model) for layer in layers]
    if not parsed:
        raise ValueError("no layers to read")
    encoder = model.encoder
    mel = mel.to(model.device, encoder.conv1.weight.dtype)
    if mel.ndim != 3 or mel.shape[-1] % 2 or mel.shape[-1] // 2 > model.dims.n_audio_ctx:
        raise ValueError(f"log-mel batch of shape {tuple(mel.shape)}: expected [batch, n_mels, 2 * n_frames] "
                         f"with n_frames <= {model.dims.n_audio_ctx}")
    x = F.gelu(encoder.conv1(mel))
    x = F.gelu(encoder.conv2(x)).permute(0, 2, 1)
    x = (x + encoder.positional_embedding[: x.shape[1]]).to(x.dtype)
    n_keep = x.shape[1] if n_keep is None else n_keep
    if not 1 <= n_keep <= x.shape[1]:
        raise ValueError(f"n_keep = {n_keep}: expected 1 … {x.shape[1]} (the frames of the input)")
    deepest = max(layer.block for layer in parsed)
    residual = {layer.block: layer.name for layer in parsed if not layer.neurons}
    out: dict[str, Tensor] = {}
    with capture(model, [layer.name for layer in parsed if layer.neurons]) as records:
        for index, block in enumerate(encoder.blocks[: deepest + 1]):
            if index < deepest or n_keep == x.shape[1]:
                # one clip per call: the same numbers as the whole batch, faster (its tensors stay in cache)
                x = torch.cat([block(clip) for clip in x.split(1)])
            else:
                x = _block_rows(block, x, n_keep)
            if index in residual:
                out[residual[index]] = x[:, :n_keep]
    for layer in parsed:
        if layer.neurons:
            out[layer.name] = torch.cat(records[layer.name])[:, :n_keep]
    return {layer.name: out[layer.name].float().cpu() for layer in parsed}


def _block_rows(block, x: Tensor, n_keep: int) -> Tensor:
    """``block(x)[:, :n_keep]`` computed for those rows only (Whisper's ResidualAttentionBlock
    without cross-attention: the first rows' queries against the keys and values of all rows)."""
    normed = block.attn_ln(x)
    rows = x[:, :n_keep] + block.attn(normed[:, :n_keep], normed)[0]
    return rows + block.mlp(block.mlp_ln(rows))


@dataclass(frozen=True)
class TopFrames:
    """The ``k`` largest activations of each unit over a corpus and where they occurred."""

    values: Tensor  # [n_units, k], descending
    clip: Tensor  # [n_units, k] int64, index of the clip in the corpus
    frame: Tensor  # [n_units, k] int64, encoder frame within the clip


class TopK:
    """Streaming top-K per unit: feed activations batch by batch, read ``result()`` at the end.

    Ties are broken by the earlier (clip, frame), so the result does not depend on the batching.
    """

    def __init__(self, n_units: int, k: int):
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k = k
        self.values = torch.full((n_units, 0), -math.inf)
        self.order = torch.zeros((n_units, 0), dtype=torch.int64)  # global frame order: clip * 2**20 + frame

    def update(self, activations: Tensor, clip: Tensor, frame: Tensor) -> None:
        """``activations [n, n_units]`` of ``n`` frames, with each frame's clip index ``[n]`` and frame
        index (``[n]``, or ``[n, n_units]`` when each unit's row comes from another frame)."""
        order = clip.to(torch.int64)[:, None] * 2**20 + frame.to(torch.int64).reshape(len(clip), -1)
        values = torch.cat([self.values, activations.T.float()], dim=1)  # [n_units, old + n]
        orders = torch.cat([self.order, order.T.expand(activations.shape[1], -1)], dim=1)
        # sort by value descending, then order ascending: a stable sort on order first, then on value
        by_order = torch.argsort(orders, dim=1, stable=True)
        values, orders = values.gather(1, by_order), orders.gather(1, by_order)
        by_value = torch.argsort(values, dim=1, descending=True, stable=True)[:, : self.k]
        self.values, self.order = values.gather(1, by_value), orders.gather(1, by_value)

    def result(self) -> TopFrames:
        return TopFrames(self.values.clone(), self.order // 2**20, self.order % 2**20)


@dataclass(frozen=True)
class Mined:
    """One pass over a corpus: top frames of the layer's units and of each projection of them, and
    every unit's maximum over each clip (the post's clip score)."""

    top: dict[str, TopFrames]  # "units", then one entry per view
    clip_max: Tensor  # [n_clips, n_units], float32


Projection = Union[Tensor, Callable[[Tensor], Tensor]]


def mine(model: Whisper, clips: Sequence[np.ndarray], layer: str, k: int, *,
         views: Optional[dict[str, Projection]] = None, trim: bool = False, per_clip: bool = False,
         batch_size: int = 8) -> Mined:
    """Top-``k`` frames of every unit of ``layer`` over ``clips`` (16 kHz waveforms), in one pass
    (``mine_activations`` of ``clip_activations``)."""
    return mine_activations(clip_activations(model, clips, layer, trim=trim, batch_size=batch_size), len(clips), k,
                            views=views, per_clip=per_clip)


def mine_activations(activations: Iterable[tuple[int, Tensor]], n_clips: int, k: int, *,
                     views: Optional[dict[str, Projection]] = None, per_clip: bool = False) -> Mined:
    """Top-``k`` frames of every unit over ``(clip index, activations [clip_frames, n_units])`` of
    clips ``0 … n_clips-1`` (in any order), in one pass.

    Only frames inside each clip count (never the padding). ``views`` maps a name to a projection of
    the activations whose directions are mined in the same pass: a matrix ``[n_units, n_directions]``
    (e.g. a random orthogonal basis) or a function of ``[frames, n_units]`` (e.g. an SAE's ``encode``).
    With ``per_clip``, each clip offers each unit only its best frame, as the post scored clips by
    their maximum: the top-``k`` are then ``k`` different clips, not neighbouring frames of one sound.
    """
    views = dict(views or {})
    if "units" in views:
        raise ValueError("'units' names the layer's own units; give the view another name")
    tops: dict[str, TopK] = {}
    maxima: dict[int, Tensor] = {}
    pending: list[tuple[int, Tensor]] = []

    def flush() -> None:
        # one top-K update per few thousand frames: sorting is the cost, not the frames
        for name, projection in [("units", None), *views.items()]:
            projected = [(i, project(a, projection)) for i, a in pending]
            if per_clip:
                best = [a.max(dim=0) for _, a in projected]
                acts = torch.stack([b.values for b in best])
                frame = torch.stack([b.indices for b in best])  # [clips, n_units]
                clip = torch.tensor([i for i, _ in projected])
            else:
                acts = torch.cat([a for _, a in projected])
                clip = torch.cat([torch.full((a.shape[0],), i) for i, a in projected])
                frame = torch.cat([torch.arange(a.shape[0]) for _, a in projected])
            if name not in tops:
                tops[name] = TopK(acts.shape[1], k)
            tops[name].update(acts, clip, frame)
        pending.clear()

    for index, acts in activations:
        maxima[index] = acts.max(dim=0).values
        pending.append((index, acts))
        if sum(a.shape[0] for _, a in pending) >= 4096:
            flush()
    if pending:
        flush()
    if not maxima:
        raise ValueError("no clips to mine")
    if sorted(maxima) != list(range(n_clips)):
        raise ValueError(f"activations of {len(maxima)} clips: expected one for each of clips 0 … {n_clips - 1}")
    return Mined({name: top.result() for name, top in tops.items()},
                 torch.stack([maxima[i] for i in range(n_clips)]))


def mine_top_frames(model: Whisper, clips: Sequence[np.ndarray], layer: str, k: int, *,
                    trim: bool = False, per_clip: bool = False, batch_size: int = 8,
                    units: Optional[Projection] = None) -> TopFrames:
    """Top-``k`` frames of the units of ``layer`` (or of what ``units`` projects them onto)."""
    options = dict(trim=trim, per_clip=per_clip, batch_size=batch_size)
    if units is None:
        return mine(model, clips, layer, k, **options).top["units"]
    return mine(model, clips, layer, k, views={"view": units}, **options).top["view"]


@torch.no_grad()  # a trained SAE's encoder has parameters that require grad; mining never needs one
def project(acts: Tensor, projection: Optional[Projection]) -> Tensor:
    """``acts`` ``[frames, n_units]`` seen through ``projection`` (a matrix or a function; None: as they are)."""
    if projection is None:
        return acts
    return projection(acts) if callable(projection) else acts @ projection


def clip_activations(model: Whisper, clips: Sequence[np.ndarray], layer: str, *, trim: bool = False,
                     batch_size: int = 8) -> Iterator[tuple[int, Tensor]]:
    """``(clip index, activations [clip_frames, n_units])`` for every clip, frames inside the clip only.

    Padded clips are batched in corpus order; trimmed clips are batched with clips of the same number
    of frames, so that no clip ever sees another's padding, and come out grouped by length.
    """
    for index, acts in corpus_activations(model, clips, [layer], trim=trim, batch_size=batch_size):
        yield index, acts[layer]


def corpus_activations(model: Whisper, clips: Sequence[np.ndarray], layers: Sequence[str], *, trim: bool = False,
                       batch_size: int = 8) -> Iterator[tuple[int, dict[str, Tensor]]]:
    """``(clip index, {layer: activations [clip_frames, n_units]})`` for every clip: one pass of the
    encoder per batch up to the deepest of ``layers``, whose last block computes only the clip's
    frames (``layers_activations``). Batched as ``clip_activations``."""
    parsed = [Layer.parse(layer, model) for layer in layers]
    lengths = [clip_frames(len(a)) for a in clips]
    groups: dict[int, list[int]] = {}
    done = 0
    for i, n in enumerate(lengths):
        groups.setdefault(n if trim else 0, []).append(i)
    for key in sorted(groups):
        members = groups[key]
        for start in range(0, len(members), batch_size):
            batch = members[start: start + batch_size]
            mels = torch.cat([clip_mel(clips[i], model, trim=trim) for i in batch])
            acts = layers_activations(model, mels, parsed, n_keep=max(lengths[i] for i in batch))
            for row, i in enumerate(batch):
                yield i, {name: a[row, : lengths[i]] for name, a in acts.items()}
            done += len(batch)
            progress.report(f"{', '.join(layers)} activations of clips", done, len(clips))


def top_k_agreement(a: TopFrames, b: TopFrames) -> Tensor:
    """Per unit, the share of ``a``'s top frames (clip, frame) that are also among ``b``'s."""
    if a.values.shape != b.values.shape:
        raise ValueError(f"top frames of shape {tuple(a.values.shape)} and {tuple(b.values.shape)} differ")
    shares = []
    for ca, fa, cb, fb in zip(a.clip.tolist(), a.frame.tolist(), b.clip.tolist(), b.frame.tolist()):
        shares.append(len(set(zip(ca, fa)) & set(zip(cb, fb))) / len(ca))
    return torch.tensor(shares)
