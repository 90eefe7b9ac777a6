"""Faithfulness of a sparse autoencoder on transcripts: the residual after ``encoder.blocks.N`` replaced by
the SAE's reconstruction, and the clips transcribed ("WER recovered", the transcript counterpart of the
loss recovered that SAE tools report).

Three transcripts per clip, decoded the suite's one way (``inference.DECODING``, the 30 s padded input):
clean; with the SAE's reconstruction spliced in; and the floor, with the block's output replaced by one
mean frame (of the data the SAE was trained on, given by the caller). Both replace the same frames:
``frames="clip"`` (the default), the frames that hold the clip's samples, the padding after it left as it
is; ``frames="all"``, every frame of the window. The SAEs here learn the clips' frames, never the padding
(on tiny.en a 4× TopK SAE explained 0.83 of the variance of held-out corpus frames and 0.12 of the clip
set's padding frames), and a reconstruction of the padding, 63–96% of the window for those clips, breaks
every transcript: spliced at every frame it recovered 0.02 of the gap, spliced at the clip's frames 0.48.
So "all" measures how an SAE generalises to frames it was not trained on; "clip", what it is meant to
reconstruct, as SAE tools leave out the positions they do not train on. Over the clip set::

    wer_recovered = (wer_floor - wer_sae) / (wer_floor - wer_clean)

with each WER pooled over the clips (Σ word errors / Σ reference words, after Whisper's English
normalisation) and each clip's errors counted up to its reference's words (one for an empty reference): a
transcript that loops ("you, you, you…") can make many times more errors than there are words, and
uncapped, a ratio of such counts measures how long the SAE's loops are against the floor's, not how much of
the transcript survives (measured on tiny.en: a 4× TopK SAE whose every transcript was a loop "recovered"
0.59). So WER recovered is ``Σ (floor's capped errors − SAE's) / Σ (floor's − clean's)`` over the clips,
and its 95% interval resamples the clips (`intervals.ratio_bootstrap`). Against the clean
transcripts ``wer_clean`` is 0 by definition; against the words spoken (when given) it is the model's own WER. 1 means the SAE's transcripts are as good as clean ones, 0 as bad
as the floor's; it is not clipped (below 0: worse than the floor). It is undefined (NaN, with the reason in
``Recovered.undefined``) when the floor is no worse than clean — no gap to recover — or when the
references hold no words.

The hooks that splice are removed on leaving, also when the replacement raises.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor
from whisper.model import Whisper

from ..stimuli.audio import log_mel
from .inference import encode, transcribe_batch
from .intervals import Interval, ratio_bootstrap
from .mining import Layer, clip_frames
from .sae import SparseAutoencoder
from .text import wer, word_errors

Replacement = Callable[[Tensor], Tensor]  # [batch, n_audio_ctx, d] -> the same shape


@contextmanager
def replaced_residual(model: Whisper, layer: str, replace: Replacement) -> Iterator[None]:
    """Inside the block, the output of ``layer`` (``encoder.blocks.N``: the residual after block N) is
    ``replace(output)``, at every frame of every forward pass; the hook is removed on exit, also when
    the block or ``replace`` raises."""
    parsed = Layer.parse(layer, model)
    if parsed.neurons:
        raise ValueError(f"layer {layer!r}: splicing replaces the residual stream, expected 'encoder.blocks.N'")
    block = model.encoder.blocks[parsed.block]

    def hook(_module, _inputs, output: Tensor) -> Tensor:
        new = replace(output)
        if not isinstance(new, Tensor) or new.shape != output.shape:
            shape = tuple(new.shape) if isinstance(new, Tensor) else type(new).__name__
            raise ValueError(f"the replacement of {layer} gave {shape}, expected {tuple(output.shape)}")
        return new.to(output.dtype)

    handle = block.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def sae_replacement(sae: SparseAutoencoder) -> Replacement:
    """The SAE's reconstruction of every frame (its inference forward: eval mode required, since a
    ``batchtopk`` SAE in training mode would pick its features over the whole batch)."""
    if sae.training:
        raise ValueError("the SAE is in training mode; splice its inference forward: call sae.eval() first")
    return lambda x: sae(x)[0]


def mean_replacement(mean_frame: Tensor) -> Replacement:
    """Every frame replaced by ``mean_frame`` ``[d]``: the floor."""
    if not isinstance(mean_frame, Tensor) or mean_frame.ndim != 1 or not torch.isfinite(mean_frame).all():
        raise ValueError(f"mean_frame: expected a finite tensor [d], got "
                         f"{tuple(mean_frame.shape) if isinstance(mean_frame, Tensor) else type(mean_frame).__name__}")
    return lambda x: mean_frame.to(x.device, x.dtype).expand_as(x)


def within(replace: Replacement, n_frames: Sequence[int]) -> Replacement:
    """``replace`` applied to the first ``n_frames[i]`` frames of batch item ``i`` only; the frames after
    them keep their values."""
    counts = list(n_frames)

    def replaced(x: Tensor) -> Tensor:
        if len(counts) != x.shape[0]:
            raise ValueError(f"{len(counts)} frame counts for a batch of {x.shape[0]}: expected one per item")
        out = x.clone()
        for i, n in enumerate(counts):
            part = replace(x[i:i + 1, :n])
            if not isinstance(part, Tensor) or part.shape != (1, n, x.shape[-1]):
                shape = tuple(part.shape) if isinstance(part, Tensor) else type(part).__name__
                raise ValueError(f"the replacement of {n} frames gave {shape}, expected {(1, n, x.shape[-1])}")
            out[i, :n] = part[0]
        return out

    return replaced


class VarianceTally:
    """Wraps a replacement and tallies, over every frame it replaces, ``Σ‖x − r(x)‖²`` and the sums that
    give ``Σ‖x − mean(x)‖²`` (float64): `explained` is the replacement's explained variance on those frames."""

    def __init__(self, replace: Replacement):
        self.replace = replace
        self.residual = self.sum_squares = 0.0
        self.total: Optional[Tensor] = None
        self.n_frames = 0

    def __call__(self, x: Tensor) -> Tensor:
        y = self.replace(x)
        frames = x.reshape(-1, x.shape[-1]).double()
        self.residual += float((y.reshape(frames.shape).double() - frames).pow(2).sum())
        self.sum_squares += float(frames.pow(2).sum())
        self.total = frames.sum(dim=0) if self.total is None else self.total + frames.sum(dim=0)
        self.n_frames += frames.shape[0]
        return y

    @property
    def explained(self) -> float:
        """``1 − Σ‖x − r(x)‖² / Σ‖x − mean(x)‖²``; NaN before any frame or when the frames do not vary."""
        if not self.n_frames:
            return math.nan
        spread = self.sum_squares - float(self.total.pow(2).sum()) / self.n_frames
        return 1.0 - self.residual / spread if spread > 0 else math.nan


def encode_replaced(model: Whisper, mel: Tensor, layer: str, replace: Optional[Replacement]) -> Tensor:
    """Encoder output ``[batch, n_audio_ctx, n_audio_state]`` with ``layer``'s output replaced (none: clean)."""
    if replace is None:
        return encode(model, mel)
    with replaced_residual(model, layer, replace):
        return encode(model, mel)


# word errors ---------------------------------------------------------------------------------------

def pooled_wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Σ word errors / Σ reference words over pairs, each pair's errors capped (`capped_errors`); NaN when
    the references hold no words."""
    return _pooled([capped_errors(r, h) for r, h in zip(references, hypotheses, strict=True)])


def capped_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """``(word errors, reference words)`` with the errors counted up to the reference's words (one for an
    empty reference): a transcript is at worst wholly wrong, however long it loops."""
    errors, n_words = word_errors(reference, hypothesis)
    return min(errors, max(n_words, 1)), n_words


def _pooled(counts: Sequence[tuple[int, int]]) -> float:
    n_words = sum(n for _, n in counts)
    return sum(e for e, _ in counts) / n_words if n_words else math.nan


@dataclass(frozen=True)
class Recovered:
    """The WERs of the three transcripts against one reference, pooled over the clips, and the share of
    the clean-to-floor gap the SAE recovers."""

    reference: str  # "clean transcripts" or "words spoken"
    wer_clean: float
    wer_sae: float
    wer_floor: float
    recovered: float  # (wer_floor - wer_sae) / (wer_floor - wer_clean); NaN when undefined
    undefined: Optional[str]  # why recovered is NaN; None when it is defined
    # over the clips (`recovered_over_clips`); None when undefined, with one clip, or when the gap vanishes in
    # more than 2.5% of the resamples
    interval: Optional[Interval] = None


def wer_recovered(wer_clean: float, wer_sae: float, wer_floor: float,
                  reference: str = "clean transcripts") -> Recovered:
    """``(wer_floor - wer_sae) / (wer_floor - wer_clean)``, NaN with a reason when any WER is undefined or
    when the floor is no worse than clean (the mean frame costs nothing: there is no gap to recover)."""
    values = (wer_clean, wer_sae, wer_floor)
    if any(math.isnan(v) for v in values):
        reason = f"the {reference} hold no words: WER is undefined"
    elif wer_floor <= wer_clean:
        reason = (f"the floor's WER {wer_floor:.4g} is not above clean's {wer_clean:.4g} against the {reference}: "
                  f"no gap to recover")
    else:
        return Recovered(reference, *values, (wer_floor - wer_sae) / (wer_floor - wer_clean), None)
    return Recovered(reference, *values, math.nan, reason)


def recovered_over_clips(references: Sequence[str], clean: Sequence[str], with_sae: Sequence[str],
                         with_floor: Sequence[str], reference: str = "clean transcripts") -> Recovered:
    """`wer_recovered` of the three transcripts of each clip against its reference, pooled over the clips
    (each clip's errors capped: `capped_errors`), with its interval over the clips: per clip, the floor's
    errors less the SAE's over the floor's less clean's (`intervals.ratio_bootstrap`)."""
    counts = [[capped_errors(r, h) for r, h in zip(references, hyps, strict=True)] for hyps in (clean, with_sae, with_floor)]
    errors = [np.array([e for e, _ in c], dtype=np.float64) for c in counts]
    pooled = [_pooled(c) for c in counts]
    found = wer_recovered(*pooled, reference=reference)
    if found.undefined is not None or len(references) < 2:
        return found
    clean_errors, sae_errors, floor_errors = errors
    try:
        interval = ratio_bootstrap(floor_errors - sae_errors, floor_errors - clean_errors)
    except ValueError:  # the gap vanishes in too many resamples: the value stands, unbounded
        return found
    return Recovered(reference, *pooled, found.recovered, None, interval)


# transcripts ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClipTranscripts:
    """One clip's three transcripts and their WERs (per clip, against its own reference)."""

    clean: str
    sae: str
    floor: str
    wer_sae: float  # against the clean transcript (text.wer: 0 or NaN when that is empty)
    wer_floor: float
    spoken: Optional[str] = None  # the words spoken, when given
    wer_clean_spoken: Optional[float] = None
    wer_sae_spoken: Optional[float] = None
    wer_floor_spoken: Optional[float] = None


@dataclass(frozen=True)
class TranscriptFaithfulness:
    """How much of the transcripts survives the SAE's reconstruction at ``layer``."""

    layer: str
    clips: tuple[ClipTranscripts, ...]
    against_clean: Recovered
    against_spoken: Optional[Recovered]  # None when no words spoken were given
    frames: str = "clip"  # which frames were replaced: FRAMES
    # the reconstruction's explained variance on the frames it replaced, over the clips
    explained_variance: float = math.nan

    @property
    def wer_recovered(self) -> float:
        """Against the clean transcripts (NaN when undefined; see ``against_clean.undefined``)."""
        return self.against_clean.recovered


FRAMES = ("clip", "all")  # the frames replaced: those that hold the clip's samples, or the whole window


def transcript_faithfulness(model: Whisper, clips: Sequence[np.ndarray], layer: str,
                            sae: Union[SparseAutoencoder, Replacement], mean_frame: Tensor, *,
                            spoken: Optional[Sequence[str]] = None, frames: str = "clip",
                            clean: Optional[Sequence[str]] = None, batch_size: int = 8) -> TranscriptFaithfulness:
    """Transcribe ``clips`` clean, with ``layer``'s output replaced by the SAE's reconstruction, and with it
    replaced by ``mean_frame`` (the floor), at the same ``frames``; see the module doc.

    Parameters
    ----------
    model : Whisper
    clips : sequence of np.ndarray
        16 kHz float clips, each padded to the model's window as every transcript of the suite is.
    layer : str
        ``encoder.blocks.N``: the SAE's hook point.
    sae : SparseAutoencoder or callable
        The SAE (in eval mode), or any function from ``[batch, n_audio_ctx, d]`` to the same shape.
    mean_frame : torch.Tensor
        ``[d]``, the mean of the frames the SAE was trained on.
    spoken : sequence of str, optional
        The words spoken in each clip: adds WERs against them and ``against_spoken``.
    frames : {"clip", "all"}
        Replace the frames that hold the clip's samples (the padding after them left as it is), or every
        frame of the window.
    clean : sequence of str, optional
        The clips' clean transcripts from an earlier call on the same model and clips (``[c.clean for c in
        result.clips]``): they do not depend on the SAE, so a sweep decodes them once.
    batch_size : int
        Clips encoded and decoded at a time.

    Returns
    -------
    TranscriptFaithfulness
    """
    if not clips:
        raise ValueError("no clips to transcribe")
    if frames not in FRAMES:
        raise ValueError(f"frames = {frames!r}: expected one of {', '.join(map(repr, FRAMES))}")
    if clean is not None and len(clean) != len(clips):
        raise ValueError(f"{len(clean)} clean transcripts for {len(clips)} clips: expected one per clip")
    if spoken is not None and len(spoken) != len(clips):
        raise ValueError(f"{len(spoken)} spoken texts for {len(clips)} clips: expected one per clip")
    parsed = Layer.parse(layer, model)
    if parsed.neurons:
        raise ValueError(f"layer {layer!r}: splicing replaces the residual stream, expected 'encoder.blocks.N'")
    if isinstance(sae, SparseAutoencoder):
        if sae.d_in != parsed.n_units(model):
            raise ValueError(f"layer {layer} has {parsed.n_units(model)} units but the SAE takes d_in = {sae.d_in}")
        trained_on = sae.meta.get("layer")
        if trained_on is not None and trained_on != layer:
            raise ValueError(f"the SAE was trained on {trained_on}, not {layer}")
        reconstruct = sae_replacement(sae)
    else:
        reconstruct = sae
    if mean_frame.shape != (parsed.n_units(model),):
        raise ValueError(f"mean_frame of shape {tuple(mean_frame.shape)}: expected [{parsed.n_units(model)}] "
                         f"(the units of {layer})")
    floor = mean_replacement(mean_frame)
    mels = torch.cat([log_mel(clip, model, source=f"clip {i}") for i, clip in enumerate(clips)])

    n_frames = [min(clip_frames(len(clip)), model.dims.n_audio_ctx) for clip in clips]

    tally = VarianceTally(reconstruct)

    def transcripts(replace: Optional[Replacement]) -> list[str]:
        features = []
        for start in range(0, len(clips), batch_size):
            batch = mels[start:start + batch_size]
            if replace is not None and frames == "clip":
                features.append(encode_replaced(model, batch, layer, within(replace, n_frames[start:start + batch_size])))
            else:
                features.append(encode_replaced(model, batch, layer, replace))
        return transcribe_batch(model, torch.cat(features), batch_size)

    clean = transcripts(None) if clean is None else list(clean)
    with_sae, with_floor = transcripts(tally), transcripts(floor)
    rows = []
    for i in range(len(clips)):
        extra = {}
        if spoken is not None:
            extra = {"spoken": spoken[i], "wer_clean_spoken": wer(spoken[i], clean[i]),
                     "wer_sae_spoken": wer(spoken[i], with_sae[i]), "wer_floor_spoken": wer(spoken[i], with_floor[i])}
        rows.append(ClipTranscripts(clean[i], with_sae[i], with_floor[i], wer(clean[i], with_sae[i]),
                                    wer(clean[i], with_floor[i]), **extra))
    # against the clean transcripts clean's own WER is 0 (NaN when they hold no words)
    against_clean = recovered_over_clips(clean, clean, with_sae, with_floor)
    against_spoken = None
    if spoken is not None:
        against_spoken = recovered_over_clips(spoken, clean, with_sae, with_floor, reference="words spoken")
    return TranscriptFaithfulness(layer, tuple(rows), against_clean, against_spoken, frames, tally.explained)
