"""Claims of the post's first section, "The encoder learns local features", on one speech clip.

Each function takes the model and the claim's ``params`` from ``claims/thresholds.toml`` (plus the clip,
which the test resolves through the asset manifest) and returns a ``Measurement``; thresholds are
applied by ``verdict.judge``, never here. The claims share their expensive parts through
``memo.per_model``: one encode and one transcript of the clip, one padding encode, one relevance map,
one decode per window and per chop (several atomic claims read one experiment, a metric each), kept on
disk between runs (``persist``).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Optional, Sequence

import numpy as np
import torch
from whisper.model import Whisper

from .. import progress
from ..errors import MethodInvalid
from ..files import sha256_file
from ..measure.attention import attention_window, band_mask, explicit_attention, relevance
from ..measure.inference import chop, encode, padding_features, transcribe_batch, transcribe_features
from ..measure.intervals import bootstrap, clustered_share
from ..measure.memo import per_model
from ..measure.text import normalize, wer, word_edits, word_matches, word_recall
from ..stimuli.alignment_files import find_alignment, read_alignment
from ..stimuli.audio import FRAME_S, SAMPLES_PER_FRAME, load_audio, log_mel
from ..stimuli.phones import SIL
from ..stimuli.word_clips import located, sentences as sentence_plan, short_name, spoken_sentence, word_clip_set
from .verdict import Measurement

FIGURE_FRAMES = 700  # the post's relevance heatmap shows frames 0-700


@dataclass(frozen=True)
class ClipRun:
    """One clip through the unmodified model: its input, encoder output and greedy transcript."""

    path: str
    sha256: str
    n_samples: int
    mel: torch.Tensor  # [1, n_mels, 2 * n_audio_ctx], padded with zero samples to the window
    features: torch.Tensor  # [n_audio_ctx, n_audio_state]
    transcript: str
    speech_end: int  # first encoder frame after the clip's last sample
    energy_end: int  # first frame after the last one within ENERGY_RANGE_DB of the loudest frame


ENERGY_RANGE_DB = 35.0
PEAK_FIRST_ROWS = 175  # post-speech rows the post's figure shows (its speech ends at 502 of 700 frames)


def clip_run(model: Whisper, clip) -> ClipRun:
    """The clip's encode and transcript, computed once per model (and per clip content).

    ``clip`` is an audio file, or a clip held in memory with a ``name``, 16 kHz ``audio`` and its
    ``sha256`` (`whisper_claims.stimuli.word_clips.WordClip`); ``ClipRun.path`` is then its name.
    """
    if isinstance(clip, (str, os.PathLike)):
        path = os.fspath(clip)
        digest = sha256_file(path)
    else:
        path, digest = clip.name, clip.sha256

    def compute() -> ClipRun:
        audio = load_audio(path) if isinstance(clip, (str, os.PathLike)) else clip.audio
        mel = log_mel(audio, model, source=path)
        features = encode(model, mel)[0]
        return ClipRun(path=path, sha256=digest, n_samples=len(audio), mel=mel, features=features,
                       transcript=transcribe_features(model, features),
                       speech_end=math.ceil(len(audio) / SAMPLES_PER_FRAME),
                       energy_end=_energy_end(audio))

    return per_model(model, ("clip", path, digest), compute, persist="encoder-clip")


def _energy_end(audio: np.ndarray) -> int:
    n_frames = math.ceil(len(audio) / SAMPLES_PER_FRAME)
    frames = np.zeros(n_frames * SAMPLES_PER_FRAME, dtype=np.float64)
    frames[: len(audio)] = audio
    power = (frames.reshape(n_frames, SAMPLES_PER_FRAME) ** 2).mean(axis=1)
    level = 10 * np.log10(np.maximum(power, 1e-20))
    loud = np.flatnonzero(level >= level.max() - ENERGY_RANGE_DB)
    return int(loud[-1]) + 1


def clip_relevance(model: Whisper, clip: str | os.PathLike, window: Optional[int] = None) -> torch.Tensor:
    """``R - I`` for the clip (``attention.relevance``), optionally in a ±``window`` band; computed once."""
    run = clip_run(model, clip)

    def compute() -> torch.Tensor:
        mask = None if window is None else band_mask(int(model.dims.n_audio_ctx), window)
        r = relevance(model, run.mel, mask=mask)
        return r - torch.eye(r.shape[0])

    return per_model(model, ("relevance", run.path, run.sha256, window), compute, persist="encoder-relevance")


def attention_distance(model: Whisper, clip: str | os.PathLike, windows: Sequence[int] = (10, 75),
                       window: Optional[int] = None) -> dict:
    """How far each encoder layer and head attends, on the clip's speech frames; computed once.

    Per layer and head, over destination frames ``i < speech_end``: the attention-weighted mean
    distance ``Σ_j A[i, j] |i - j|`` and the share of attention within ``|i - j| <= k`` for each ``k`` in
    ``windows``, each averaged over those frames. Raw attention probabilities, not relevance: this is
    what a window mask of ±k removes from each head. ``window`` holds the model to ±``window`` frames.
    """
    run = clip_run(model, clip)
    windows = tuple(sorted(set(int(k) for k in windows)))
    if not windows:
        raise ValueError("attention_distance needs at least one window k (head_windows is empty)")

    def compute() -> dict:
        n_ctx = int(model.dims.n_audio_ctx)
        rows = min(run.speech_end, n_ctx)
        distance = (torch.arange(rows)[:, None] - torch.arange(n_ctx)[None, :]).abs().double()

        def per_head(w: torch.Tensor) -> dict:
            w = w[0, :, :rows].double()  # [head, speech rows, src]
            return {"mean_distance": (w * distance).sum(-1).mean(-1).tolist(),
                    **{k: (w * (distance <= k)).sum(-1).mean(-1).tolist() for k in windows}}

        mask = None if window is None else band_mask(n_ctx, window)
        with torch.no_grad(), explicit_attention(model, mask=mask, record=True, reduce=per_head) as layers:
            model.encoder(run.mel.to(model.device))
        smallest = windows[0]
        return {
            "rows": rows,
            "mean_distance": [layer["mean_distance"] for layer in layers],
            "share_within": {str(k): [layer[k] for layer in layers] for k in windows},
            # per layer, the heads that keep at least half of their attention within the smallest ±k
            f"heads_mostly_within_{smallest}": [sum(share >= 0.5 for share in layer[smallest]) for layer in layers],
        }

    return per_model(model, ("attention distance", run.path, run.sha256, windows, window), compute,
                     persist="encoder-attention")


def _shares(r: torch.Tensor, rows: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, int]:
    """Per row, the share of its relevance mass in ``columns`` (a boolean [rows, n_ctx] mask); rows
    with no mass at all are left out and counted."""
    mass = r[rows].double().numpy()
    total = mass.sum(axis=1)
    inside = np.where(columns, mass, 0.0).sum(axis=1)
    defined = total > 0
    return inside[defined] / total[defined], int((~defined).sum())


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if len(values) else math.nan


def enc_relevance_local(model: Whisper, *, clip: str | os.PathLike, band: int = 50,
                        band_curve: Sequence[int] = (5, 10, 25, 50, 100, 200),
                        head_windows: Sequence[int] = (10, 75), window: Optional[int] = None) -> Measurement:
    """Encoder attention is highly localized: relevance of speech frames stays within ±``band`` frames.

    For each destination frame ``i`` inside speech (``i < speech_end``), the band mass
    ``m_i(w) = Σ_{|j-i|<=w} (R-I)[i, j] / Σ_j (R-I)[i, j]``.

    Parameters
    ----------
    clip : path
        A speech clip no longer than the model's window, padded with zero samples to it.
    band : int
        ``w`` of the metric.
    band_curve : sequence of int
        The ``w`` for which the median band mass is recorded as evidence (the m(w) curve).
    head_windows : sequence of int
        The ``k`` for which each layer's and head's share of attention within ±k is recorded as
        evidence (``attention_distance``), beside its mean attention distance.
    window : int, optional
        Measure the model with its encoder attention restricted to ±``window`` frames (the positive
        control: a model forced into a narrow window must pass); None for the model as it is.

    Metrics
    -------
    median_band_mass
        Median over speech frames of ``m_i(band)``.
    margin_over_speech_uniform
        ``median_band_mass`` less the same median for relevance spread evenly over the clip's speech frames,
        the null a short clip can otherwise pass with no locality at all (#30).
    """
    run = clip_run(model, clip)
    r = clip_relevance(model, clip, window)
    metrics, evidence = band_scores(r, run.speech_end, band, band_curve)
    curve = evidence["median_band_mass_by_w"]
    heads = attention_distance(model, clip, head_windows, window)
    return Measurement(
        metrics=metrics,
        evidence={"clip": os.path.basename(run.path), **evidence, "attention_window": window,
                  "attention_distance": heads},
        artifacts={
            "relevance_map": {"map": r[:FIGURE_FRAMES, :FIGURE_FRAMES].numpy(), "speech_end": run.speech_end},
            "band_mass_curve": {"w": [int(w) for w in curve], "median": list(curve.values()),
                                "uniform": list(evidence["uniform_band_mass_by_w"].values())},
            "head_distance": heads,
        },
    )


def band_scores(r: torch.Tensor, speech_end: int, band: int,
                band_curve: Sequence[int]) -> tuple[dict[str, float], dict]:
    """``enc_relevance_local``'s metric and evidence from ``R - I`` and the end of speech (in frames)."""
    n_ctx = r.shape[0]
    rows = np.arange(min(speech_end, n_ctx))
    distance = np.abs(rows[:, None] - np.arange(n_ctx)[None, :])
    curve, undefined = {}, 0
    for w in sorted({*band_curve, band}):
        shares, undefined = _shares(r, rows, distance <= w)
        curve[w] = _median(shares)
    # the null a short clip needs: relevance spread evenly over the clip's speech frames, whose band mass
    # alone nears 1 as the clip shortens (a ±50-frame band covers most of a 3-s clip)
    speech = distance[:, : len(rows)] <= band
    speech_uniform = _median(speech.sum(axis=1) / max(len(rows), 1)) if len(rows) else math.nan
    # and the row's own mass on the speech frames, spread evenly over them (its distances permuted)
    mass = r[rows].double().numpy()
    total = mass.sum(axis=1)
    on_speech = np.divide(mass[:, : len(rows)].sum(axis=1), total, out=np.zeros_like(total), where=total > 0)
    permuted = _median((on_speech * speech.sum(axis=1) / max(len(rows), 1))[total > 0])
    evidence = {
        "speech_end_frame": speech_end,
        "rows": len(rows),
        "rows_without_relevance": undefined,
        "band": band,
        "median_band_mass_by_w": {str(w): curve[w] for w in curve},
        "uniform_band_mass_by_w": {str(w): min(2 * w + 1, n_ctx) / n_ctx for w in curve},
        "speech_uniform_band_mass": speech_uniform,
        "speech_permuted_band_mass": permuted,
    }
    return {"median_band_mass": curve[band], "margin_over_speech_uniform": curve[band] - speech_uniform}, evidence


def end_of_speech(clip, run: ClipRun) -> tuple[int, str]:
    """The first encoder frame after the clip's last spoken sound, and how it was found.

    From the clip's own timing where it has one: a synthesized sentence's word events, or the alignment
    beside an audio file (`alignment_files.find_alignment`; its last segment that is not silence). Otherwise
    from the signal: the first frame after the last one within ``ENERGY_RANGE_DB`` of the loudest. Never the
    end of the audio, which may hold room silence (the post's sink is at the end of the speech).
    """
    if isinstance(clip, (str, os.PathLike)):
        alignment = find_alignment(clip)
        if alignment is not None:
            spoken = [s for s in read_alignment(alignment) if s.label != SIL]
            if spoken:
                return _frame_after(spoken[-1].end_s), f"alignment {alignment.name}"
    elif getattr(clip, "words", ()):
        return _frame_after(max(w.end_s for w in clip.words)), clip.origin
    return run.energy_end, f"signal energy (last frame within {ENERGY_RANGE_DB:g} dB of the loudest)"


def _frame_after(end_s: float) -> int:
    return max(1, math.ceil(end_s / FRAME_S - 1e-6))


def enc_end_sink(model: Whisper, *, clip: str | os.PathLike, margin: int = 25,
                 window: Optional[int] = None) -> Measurement:
    """After speech ends, frames attend back to the end of speech.

    Rows ``i >= end + margin`` of ``R - I`` (``end`` is the end of speech, `end_of_speech`: the clip's
    alignment, else its signal energy) are read two ways, a metric each (two claims): how much of their mass
    lies in source columns ``[end - margin, end + margin]``, and whether their largest relevance lies there,
    as the post's sentence has it ("all future positions attend back"). The same read at the end of the
    audio (which may hold silence) and at the end of the signal's energy is recorded as evidence.

    Metrics
    -------
    median_end_share
        Median over the post-speech rows of the share of their mass near the end.
    end_peak_share
        Share of the post-speech rows whose largest relevance lies within ``margin`` of the end.
    """
    run = clip_run(model, clip)
    r = clip_relevance(model, clip, window)
    end, method = end_of_speech(clip, run)
    measured = {name: {**end_share(r, at, margin), **end_peaks(r, at, margin)}
                for name, at in (("speech", end), ("clip_length", run.speech_end), ("energy", run.energy_end))}
    return Measurement(
        metrics={"median_end_share": measured["speech"]["median_end_share"],
                 "end_peak_share": measured["speech"]["end_peak_share"]},
        evidence={
            "clip": os.path.basename(run.path),
            "margin": margin,
            "end_of_speech": {**measured["speech"], "method": method},
            "end_from_clip_length": measured["clip_length"],
            "end_from_energy": {**measured["energy"], "range_db": ENERGY_RANGE_DB},
            "uniform_share": (2 * margin + 1) / r.shape[0],
            "attention_window": window,
        },
        artifacts={"relevance_map": {"map": r[:FIGURE_FRAMES, :FIGURE_FRAMES].numpy(), "speech_end": end}},
    )


def end_share(r: torch.Tensor, end: int, margin: int) -> dict[str, float]:
    """Median share of ``R - I`` mass of rows ``i >= end + margin`` in columns ``[end - margin, end + margin]``."""
    n_ctx = r.shape[0]
    rows = np.arange(min(end + margin, n_ctx), n_ctx)
    near_end = np.broadcast_to(np.abs(np.arange(n_ctx) - end) <= margin, (len(rows), n_ctx))
    shares, undefined = _shares(r, rows, near_end)
    return {"end_frame": end, "rows": len(rows), "rows_without_relevance": undefined,
            "median_end_share": _median(shares)}


def end_peaks(r: torch.Tensor, end: int, margin: int, first_rows: int = PEAK_FIRST_ROWS) -> dict:
    """Where rows ``i >= end + margin`` of ``R - I`` peak: the share whose peak is within ``margin`` of
    ``end``, over all of them and over the first ``first_rows`` (the post's figure shows ~175 rows after
    its end of speech), and the peak columns' quartiles. A row's peak is the middle of its largest
    cells, so that a row of tied maxima (a saturated figure's) has one peak."""
    values = r.double().numpy()
    rows = np.arange(min(end + margin, len(values)), len(values))
    peaks = np.array([np.median(np.flatnonzero(values[i] == values[i].max())) for i in rows])
    near = np.abs(peaks - end) <= margin
    return {
        "end_peak_share": float(near.mean()) if len(rows) else math.nan,
        f"end_peak_share_first_{first_rows}_rows": float(near[:first_rows].mean()) if len(rows) else math.nan,
        "peak_column_quartiles": [float(q) for q in np.percentile(peaks, [25, 50, 75])] if len(rows) else [],
    }


def enc_window(model: Whisper, *, clip: str | os.PathLike, reference: str,
               windows: Sequence[int] = (1500, 100, 75, 50, 20, 10), recall_window: int = 75,
               min_full_recall: Optional[float] = None) -> Measurement:
    """Restricting encoder attention to ±k frames still transcribes, and degrades as k shrinks.

    Each ``k`` in ``windows`` masks every encoder layer and head to ``|i - j| <= k`` and decodes the
    clip (once per model: two claims read these transcripts); each transcript is compared with the
    words spoken, ``reference``. Recall of the unmodified model's own ("full") transcript is evidence:
    alone it cannot tell a local encoder from a model that ignores its input.

    ``min_full_recall`` (the degradation claim's precondition): when the unmodified model's transcript
    recalls fewer of the words spoken, there is nothing for a narrower window to degrade (an empty
    transcript passes both degradation metrics at every k), so the claim gets no verdict (``MethodInvalid``).

    Metrics
    -------
    recall_at_window
        Word recall of ``reference`` in the ``recall_window`` transcript.
    max_recall_rise
        Largest increase of recall from one ``k`` to the next smaller one (0 when recall never rises).
    shortest_window_words
        Number of words (normalized) in the transcript of the smallest ``k``.
    """
    if recall_window not in windows:
        raise ValueError(f"recall_window={recall_window} is not one of windows={list(windows)}")
    run = clip_run(model, clip)
    windowed = {}
    ks = sorted(set(windows), reverse=True)
    for k in ks:
        windowed[k] = windowed_transcript(model, clip, k)
        progress.report("windowed transcripts (k)", len(windowed), len(ks))
    metrics, evidence = window_scores(reference, run.transcript, windowed, recall_window)
    if not transcribes(evidence["full_recall"], min_full_recall):
        raise MethodInvalid(
            f"the unmodified model's transcript of {os.path.basename(run.path)} ({_shortened(run.transcript)!r}) recalls "
            f"{evidence['full_recall']:.3f} of the words spoken, under min_full_recall = {min_full_recall}: "
            "with no transcript to degrade, narrowing the window cannot be judged")
    return Measurement(
        metrics=metrics,
        evidence={"clip": os.path.basename(run.path), **evidence, "min_full_recall": min_full_recall},
        artifacts={"recall_curve": {"k": list(windowed), "recall": list(evidence["recall"].values()),
                                    "wer": list(evidence["wer"].values())},
                   "transcripts": evidence["transcripts"]},
    )


def _shortened(text: str, n_chars: int = 80) -> str:
    return text if len(text) <= n_chars else text[:n_chars] + "…"


def transcribes(full_recall: float, min_full_recall: Optional[float]) -> bool:
    """Whether a clip's unmodified transcript recalls enough of the words spoken for the window's effect
    on it to be judged (always, without a ``min_full_recall``)."""
    return min_full_recall is None or (math.isfinite(full_recall) and full_recall >= min_full_recall)


def windowed_transcript(model: Whisper, clip: str | os.PathLike, k: int) -> str:
    """The clip's transcript with every encoder layer and head held to ±``k`` frames; decoded once per
    model, clip and k."""
    run = clip_run(model, clip)

    def compute() -> str:
        with attention_window(model, k):
            features = encode(model, run.mel)[0]
        return transcribe_features(model, features)

    return per_model(model, ("window", run.path, run.sha256, k), compute, persist="encoder-decode")


def window_scores(reference: str, full: str, windowed: dict[int, str],
                  recall_window: int) -> tuple[dict[str, float], dict]:
    """``enc_window``'s metrics and evidence from the words spoken, the full transcript and one
    transcript per window k."""
    ks = sorted(windowed, reverse=True)
    recall = {k: word_recall(reference, windowed[k]) for k in ks}
    error = {k: wer(reference, windowed[k]) for k in ks}
    words = {k: len(normalize(windowed[k]).split()) for k in ks}
    rises = [recall[small] - recall[large] for large, small in zip(ks, ks[1:])]
    metrics = {
        "recall_at_window": recall[recall_window],
        "max_recall_rise": max([0.0, *rises]) if all(map(math.isfinite, rises)) else math.nan,
        "shortest_window_words": float(words[ks[-1]]),
    }
    evidence = {
        "recall_window": recall_window,
        "reference": reference,
        "transcripts": {"full": full, **{f"k={k}": windowed[k] for k in ks}},
        "recall": {str(k): recall[k] for k in ks},
        "wer": {str(k): error[k] for k in ks},
        "recall_of_full": {str(k): word_recall(full, windowed[k]) for k in ks},
        "full_recall": word_recall(reference, full),
        "words": {str(k): words[k] for k in ks},
        "widest_window_reproduces_full": windowed[ks[0]] == full,
    }
    return metrics, evidence


def _phrase_starts(words: list[str], phrase: list[str]) -> list[int]:
    """Where ``phrase`` starts in ``words``: its occurrences found left to right, never overlapping."""
    starts, i = [], 0
    while phrase and i <= len(words) - len(phrase):
        if words[i:i + len(phrase)] == phrase:
            starts.append(i)
            i += len(phrase)
        else:
            i += 1
    return starts


def neighbour_frames(start: int, stop: int, n_frames: int) -> list[tuple[int, int]]:
    """As many frames as ``[start, stop)`` just before it and just after it, within ``[0, n_frames)``: the
    chops of a specificity control (a side with no room is cut short, or left out at the window's edge)."""
    width = stop - start
    before = [(max(0, start - width), start)] if start > 0 else []
    after = [(stop, min(n_frames, stop + width))] if stop < n_frames else []
    return before + after


def enc_chop(model: Whisper, *, clip: str | os.PathLike, start: int, stop: int, target: str,
             control_start: int) -> Measurement:
    """Replacing encoder output frames ``[start, stop)`` with the padding input's removes exactly the
    words spoken there.

    The chopped features are decoded and aligned with the full transcript, word by word (a minimal-edit
    alignment: "hot ones" in place of "hot questions" keeps "hot"). Three claims read the one decode, each a
    metric: the target is gone, the other words stay, nothing is put in. Two controls: a chop of the same
    width at ``control_start`` (inside the padding) is recorded; chops of the same width just before and
    just after ``[start, stop)`` (`neighbour_frames`) must leave the target in place, or the removal was not
    specific to the target's own frames.

    Metrics
    -------
    target_removed
        1 when the normalized target is in the full transcript and the alignment loses every one of its words.
    neighbours_keep_target
        Share of the neighbour chops whose transcript keeps every word of the target (NaN without the target).
    lost_words
        Words of the full transcript, outside the target, that the chopped transcript lost.
    inserted_words
        Words of the chopped transcript that match no word of the full one (insertions, substitutes).
    All but ``target_removed`` are NaN when the full transcript lacks the target.
    """
    run = clip_run(model, clip)
    control_stop = control_start + (stop - start)
    chopped = chopped_transcript(model, clip, start, stop)
    control = chopped_transcript(model, clip, control_start, control_stop)
    neighbours = {frames: chopped_transcript(model, clip, *frames)
                  for frames in neighbour_frames(start, stop, int(model.dims.n_audio_ctx))}

    metrics, evidence = chop_scores(run.transcript, chopped, target, list(neighbours.values()))
    transcripts = {"full": run.transcript, f"chop {start}-{stop}": chopped,
                   f"control chop {control_start}-{control_stop}": control,
                   **{f"neighbour chop {a}-{b}": text for (a, b), text in neighbours.items()}}
    return Measurement(
        metrics=metrics,
        evidence={
            "clip": os.path.basename(run.path),
            "chop_frames": [start, stop],
            "chop_seconds": [start * FRAME_S, stop * FRAME_S],
            **evidence,
            "transcripts": transcripts,
            "control_frames": [control_start, control_stop],
            "control_wer": wer(run.transcript, control),
            "neighbour_frames": [list(frames) for frames in neighbours],
        },
        artifacts={"transcripts": transcripts},
    )


def chopped_transcript(model: Whisper, clip: str | os.PathLike, start: int, stop: int) -> str:
    """The clip's transcript with encoder output rows ``[start, stop)`` replaced by the padding
    input's; decoded once per model, clip and range."""
    run = clip_run(model, clip)

    def compute() -> str:
        return transcribe_features(model, chop(run.features, padding_features(model), start, stop))

    return per_model(model, ("chop", run.path, run.sha256, start, stop), compute, persist="encoder-decode")


def chop_scores(full: str, chopped: str, target: str,
                neighbours: Sequence[str] = ()) -> tuple[dict[str, float], dict]:
    """``enc_chop``'s metrics and evidence from the full and the chopped transcript (and those of the
    neighbour chops).

    The chopped transcript is aligned with the full one (minimal edits), word by word: the target is
    removed when the alignment loses every word of its occurrences in the full transcript; a word of the
    full transcript outside the target that the alignment does not find is lost; a chopped word that
    matches no word of the full transcript (an insertion or a substitute) was put in. All but
    ``target_removed`` are undefined (NaN, never a pass) when the full transcript lacks the target: with
    nothing to remove, a chop that changes nothing would otherwise look precise (random:micro's garbage
    transcript did).
    """
    full_words, chopped_words = normalize(full).split(), normalize(chopped).split()
    phrase = normalize(target).split()
    starts = _phrase_starts(full_words, phrase)
    in_target = [any(0 <= i - start < len(phrase) for start in starts) for i in range(len(full_words))]
    in_full = len(starts)
    edits = word_edits(full_words, chopped_words)
    target_kept = [w for w, kept, t in zip(full_words, edits.kept, in_target) if kept and t]
    lost = [w for w, kept, t in zip(full_words, edits.kept, in_target) if not kept and not t]
    rest = [w for w, t in zip(full_words, in_target) if not t]
    neighbour_kept = [all(kept for kept, t in zip(word_edits(full_words, normalize(n).split()).kept, in_target) if t)
                      for n in neighbours]
    metrics = {
        "target_removed": float(in_full > 0 and not target_kept),
        "neighbours_keep_target": float(np.mean(neighbour_kept)) if in_full and neighbours else math.nan,
        "lost_words": float(len(lost)) if in_full else math.nan,
        "inserted_words": float(len(edits.inserted)) if in_full else math.nan,
    }
    evidence = {"target": target, "target_in_full": in_full,
                "target_in_chopped": len(_phrase_starts(chopped_words, phrase)),
                "target_words_kept": target_kept,
                "target_words_removed_share": 1 - len(target_kept) / sum(in_target) if in_full else math.nan,
                "neighbour_chops_keeping_target": [bool(k) for k in neighbour_kept],
                "rest_of_full": " ".join(rest), "lost": lost, "inserted": list(edits.inserted),
                "rest_wer": wer(" ".join(rest), chopped)}
    return metrics, evidence


def enc_chop_words(model: Whisper, *, recordings: Sequence[Sequence[str]], sentences: dict,
                   control_start: int, max_lost: int = 1, batch_size: int = 16) -> Measurement:
    """Replacing exactly one word's encoder frames with the padding input's removes that word, and only
    it: the post's "we can precisely remove words … by removing their corresponding embeddings",
    tested on every word of a clip set instead of two chosen phrases.

    The clips (`whisper_claims.stimuli.word_clips`): the recordings with a word tier (``recordings``, pairs
    of audio and TextGrid, asset names or paths) and ``sentences`` = ``{source, n, seed}`` held-out
    espeak-ng sentences. For each word, frames ``[floor(start / 20 ms), ceil(end / 20 ms))`` are
    chopped and the result decoded; a control chop of the same width at ``control_start`` (inside the
    padding) is decoded too. A word is scored when it is one word after normalization and the clip's
    full transcript has it (the minimal-edit alignment of the words spoken with the transcript pairs it
    unchanged); then, from the alignment of the chopped transcript with the full one: it is removed
    when the alignment loses it, the others are kept when at most ``max_lost`` of them are lost, and
    nothing is put in when no chopped word is new. The specificity control: the same number of frames
    chopped just before and just after the word (`neighbour_frames`) must leave it in place; a word removed
    by its own chop and by neither neighbour's was removed specifically.

    Each share comes with a 95% interval on the clips as independent units (a clip's words share its
    speaker and its transcript): Clopper–Pearson on the effective sample size (`intervals.clustered_share`),
    the margin a bootstrap of the mean that resamples clips.

    Metrics
    -------
    removed_share, kept_share, clean_share
        Shares of scored words whose chop removed them / kept the other words / inserted nothing.
        NaN when no word is scored.
    margin_over_neighbour_chops
        ``removed_share`` less the share of scored words that a neighbour chop removes: the null the
        removal must beat, were chopping any stretch of speech near a word enough to lose it.
    """
    clips = word_clip_set([tuple(pair) for pair in recordings], sentences["source"], int(sentences["n"]),
                          int(sentences["seed"]))
    rows = []
    for i, clip in enumerate(clips):
        chops = word_chops(model, clip, control_start, batch_size)
        scores = word_chop_scores([w.word for w in clip.words], chops["full"], chops["chopped"],
                                  chops["control"], max_lost, chops["neighbours"])
        rows += [{"clip": clip.name, "frames": list(frames), **row} for row, frames in zip(scores, chops["frames"])]
        progress.report("clips (each word chopped)", i + 1, len(clips))
    scored = [row for row in rows if row["scored"]]

    def share(key: str, of=scored) -> float:
        return float(np.mean([row[key] for row in of])) if of else math.nan

    recorded = {c.name for c in clips[:len(recordings)]}
    by_source = {name: [row for row in scored if (row["clip"] in recorded) == is_recording]
                 for name, is_recording in (("recordings", True), ("sentences", False))}
    for row in scored:
        row["removed_over_neighbours"] = float(row["removed"]) - float(row["neighbour_removed"])
    metrics = {"removed_share": share("removed"), "kept_share": share("kept"), "clean_share": share("clean"),
               "margin_over_neighbour_chops": share("removed_over_neighbours")}
    # words of one clip share its speaker and transcript: the clip is the independent unit. The shares' bar is
    # every word, which one word refutes: a Clopper–Pearson interval on the clips' effective sample size ends
    # below 1 once a word fails, where a bootstrap of the clips may draw only clips without one
    clips_of = [row["clip"] for row in scored]
    several = len(set(clips_of)) >= 2
    intervals = {m: clustered_share([bool(row[key]) for row in scored], clips_of)
                 for m, key in (("removed_share", "removed"), ("kept_share", "kept"), ("clean_share", "clean"))
                 if several}
    if several:
        intervals["margin_over_neighbour_chops"] = bootstrap([row["removed_over_neighbours"] for row in scored],
                                                             np.mean, clusters=clips_of, seed=0)
    specific = clustered_share([bool(row["specific"]) for row in scored], clips_of) if several else None
    failures = {key: [_word_example(row) for row in scored if not row[key]][:8] for key in ("removed", "kept", "clean")}
    return Measurement(
        metrics=metrics,
        evidence={
            "n_clips": len(clips),
            "n_words_spoken": len(rows),
            "n_words_scored": len(scored),
            "n_not_in_full_transcript": sum(row["why_unscored"] == "not in the full transcript" for row in rows),
            "precise_share": share("precise"),
            "n_clips_with_scored_words": len({row["clip"] for row in scored}),
            "neighbour_removed_share": share("neighbour_removed"),
            "specific_share": share("specific"),
            "specific_share_interval": specific.to_json() if specific else None,
            "by_source": {name: {"words": len(of), "removed": share("removed", of), "kept": share("kept", of),
                                 "clean": share("clean", of)} for name, of in by_source.items()},
            "mean_lost_words": share("lost"),
            "mean_inserted_words": share("inserted"),
            "median_chop_frames": float(np.median([row["frames"][1] - row["frames"][0] for row in scored]))
            if scored else math.nan,
            "control_removed_share": share("control_removed"),
            "control_changed_share": share("control_changed"),
            "max_lost": max_lost,
            "control_start": control_start,
            "sentences": dict(sentences),
            "recordings": [[short_name(name) for name in pair] for pair in recordings],
            "examples_not_removed": failures["removed"],
            "examples_lost_others": failures["kept"],
            "examples_inserted": failures["clean"],
            "examples_removed_by_a_neighbour_chop": [_word_example(row) for row in scored if row["neighbour_removed"]][:8],
        },
        artifacts={"word_removal": {"full": {c.name: word_chops(model, c, control_start, batch_size)["full"]
                                             for c in clips}, "rows": rows}},
        intervals=intervals,
    )


def _word_example(row: dict) -> str:
    return f"{row['clip']}: '{row['word']}' frames {row['frames'][0]}-{row['frames'][1]} → {row['chopped']!r}"


def word_frames(start_s: float, end_s: float) -> tuple[int, int]:
    """The encoder frames ``[start, stop)`` that a word spoken from ``start_s`` to ``end_s`` overlaps."""
    return math.floor(start_s / FRAME_S + 1e-6), max(math.floor(start_s / FRAME_S + 1e-6) + 1,
                                                       math.ceil(end_s / FRAME_S - 1e-6))


def word_chops(model: Whisper, clip, control_start: int, batch_size: int = 16) -> dict:
    """One clip of `whisper_claims.stimuli.word_clips`: its full transcript, and the transcript with each word's
    frames chopped, with its neighbours' frames chopped (`neighbour_frames`, one transcript per side; for
    the words that will be scored, `words_in_transcript`, none for the others), and with a chop of each
    width at ``control_start``; decoded once per model."""

    def compute() -> dict:
        n_ctx = int(model.dims.n_audio_ctx)
        frames = [word_frames(w.start_s, w.end_s) for w in clip.words]
        end = math.ceil(len(clip.audio) / SAMPLES_PER_FRAME)
        widths = sorted({stop - start for start, stop in frames})
        if end > control_start or control_start + widths[-1] > n_ctx or end > n_ctx:
            raise ValueError(f"clip {clip.name} ends at frame {end}: the control chops [{control_start}, "
                             f"{control_start} + {widths[-1]}) must lie in its padding, within {n_ctx} frames")
        run = clip_run(model, clip)  # shared with the claims that read the same clip
        features = run.features
        padding = padding_features(model)
        # neighbour chops only where they are read: around the words the scores will judge
        scored = [q is not None for q in words_in_transcript([w.word for w in clip.words], run.transcript)]
        sides = [neighbour_frames(start, stop, n_ctx) if judged else () for (start, stop), judged in zip(frames, scored)]
        ranges = list(dict.fromkeys([*frames, *(side for word in sides for side in word),
                                     *((control_start, control_start + w) for w in widths)]))
        texts = dict(zip(ranges, transcribe_batch(model, torch.stack([chop(features, padding, *r) for r in ranges]),
                                                  batch_size)))
        return {"full": run.transcript, "frames": frames, "chopped": [texts[f] for f in frames],
                "control": [texts[(control_start, control_start + stop - start)] for start, stop in frames],
                "neighbour_frames": sides, "neighbours": [[texts[side] for side in word] for word in sides]}

    # batch_size is in the key: a batch's composition may change the last bits of its sums
    return per_model(model, ("word chops", clip.name, clip.sha256, control_start, batch_size), compute,
                     persist="encoder-decode")


def words_in_transcript(spoken: Sequence[str], full: str) -> list[int | None]:
    """Per spoken word, its position among the normalized words of the ``full`` transcript, or None when it is
    not one word after normalization or the minimal-edit alignment of the spoken words with the transcript
    does not pair it unchanged: the words `word_chop_scores` scores."""
    reference = [t[0] if len(t) == 1 else None for t in (normalize(word).split() for word in spoken)]
    matches = iter(word_matches([w for w in reference if w is not None], normalize(full).split()))
    return [next(matches) if w is not None else None for w in reference]


def word_chop_scores(spoken: Sequence[str], full: str, chopped: Sequence[str], control: Sequence[str],
                     max_lost: int = 1, neighbours: Sequence[Sequence[str]] | None = None) -> list[dict]:
    """Per spoken word, from the full transcript and the transcripts with that word (``chopped``), a
    same-width stretch of padding (``control``) or the same width just before and after it (``neighbours``,
    a list per word) chopped: whether it is scored, removed, and what else changed (see `enc_chop_words`)."""
    neighbours = [()] * len(spoken) if neighbours is None else neighbours
    full_words = normalize(full).split()
    tokens = [normalize(word).split() for word in spoken]
    in_full = words_in_transcript(spoken, full)
    rows = []
    for word, token, q, cut, ctrl, sides in zip(spoken, tokens, in_full, chopped, control, neighbours):
        row = {"word": word, "chopped": cut, "scored": q is not None,
               "why_unscored": "" if q is not None else
               "not one word after normalization" if len(token) != 1 else "not in the full transcript"}
        if q is not None:
            edits = word_edits(full_words, normalize(cut).split())
            lost = sum(not kept for j, kept in enumerate(edits.kept) if j != q)
            control_edits = word_edits(full_words, normalize(ctrl).split())
            removed, kept, clean = not edits.kept[q], lost <= max_lost, not edits.inserted
            neighbour_removed = any(not word_edits(full_words, normalize(side).split()).kept[q] for side in sides)
            row.update(removed=removed, lost=lost, inserted=len(edits.inserted), kept=kept, clean=clean,
                       precise=removed and kept and clean, control_removed=not control_edits.kept[q],
                       control_changed=normalize(ctrl) != normalize(full), neighbour_removed=neighbour_removed,
                       specific=removed and not neighbour_removed, neighbours=list(sides))
        rows.append(row)
    return rows


# -- the same experiments over a clip set ---------------------------------------------------------


def general_clips(recordings: Sequence[Sequence[str]], sentences: dict) -> list[tuple[object, str]]:
    """(clip, words spoken) for each recording (audio, an asset name or a path, its transcript and, optionally,
    its speaker) and each held-out sentence (``{source, n, seed}``, `whisper_claims.stimuli.word_clips.sentences`),
    spoken whole."""
    clips = [(located(audio), text) for audio, text, *_ in recordings]
    planned = sentence_plan(sentences["source"], int(sentences["n"]), int(sentences["seed"]))
    clips += [(spoken_sentence(text, voice, rate, name=f"{sentences['source']}/{sentences['seed']}/{i}"), text)
              for i, (text, voice, rate) in enumerate(planned)]
    return clips


def clip_clusters(recordings: Sequence[Sequence[str]], sentences: dict) -> list[int]:
    """The independent unit of each clip of `general_clips`: clips that share a speaker (a recording's third
    entry, else its own; a synthesized sentence's espeak-ng voice) or a sentence are one cluster, so that
    four speakers reading one sentence, or one voice reading several, never count as independent clips."""
    speakers = [str(entry[2]) if len(entry) > 2 else str(entry[0]) for entry in recordings]
    texts = [entry[1] for entry in recordings]
    for text, voice, _rate in sentence_plan(sentences["source"], int(sentences["n"]), int(sentences["seed"])):
        speakers.append(f"espeak-ng {voice}")
        texts.append(text)
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for keys in (speakers, [" ".join(normalize(t).split()) for t in texts]):
        first: dict[str, int] = {}
        for i, key in enumerate(keys):
            parent[root(i)] = root(first.setdefault(key, i))
    roots = [root(i) for i in range(len(texts))]
    numbered = {r: n for n, r in enumerate(dict.fromkeys(roots))}
    return [numbered[r] for r in roots]


def over_clips(clips: Sequence[tuple[object, str]], measure, what: str,
               clusters: Sequence[int] | None = None) -> Measurement:
    """One experiment per clip, summarised: each metric is its median over the clips (NaN values, where
    a clip leaves a metric undefined, are left out and counted), with a 95% interval from a bootstrap of the
    median that resamples ``clusters`` (`clip_clusters`; by default each clip its own). Every clip's value is
    kept under ``per_clip_metrics``, from which ``verdict.judge`` adds the share of clips that meet the
    threshold."""
    clusters = list(range(len(clips))) if clusters is None else list(clusters)
    if len(clusters) != len(clips):
        raise ValueError(f"{len(clusters)} cluster labels for {len(clips)} clips")
    per_clip, names = [], []
    for i, (clip, reference) in enumerate(clips):
        metrics, evidence = measure(clip, reference)
        name = os.path.basename(clip) if isinstance(clip, (str, os.PathLike)) else clip.name
        per_clip.append({"clip": name, **metrics, **evidence})
        names = list(metrics)
        progress.report(what, i + 1, len(clips))
    values = {m: [row[m] for row in per_clip] for m in names}
    finite = {m: [v for v in vs if math.isfinite(v)] for m, vs in values.items()}
    intervals = {}
    for m, vs in values.items():
        kept = [(v, c) for v, c in zip(vs, clusters) if math.isfinite(v)]
        if len({c for _, c in kept}) >= 2:
            intervals[m] = bootstrap([v for v, _ in kept], np.median, clusters=[c for _, c in kept], seed=0)
    return Measurement(
        metrics={m: float(np.median(vs)) if vs else math.nan for m, vs in finite.items()},
        evidence={
            "n_clips": len(clips),
            "clusters": clusters,
            "n_clusters": len(set(clusters)),
            "per_clip_metrics": values,
            "undefined_clips": {m: len(values[m]) - len(finite[m]) for m in names},
            "quartiles": {m: [float(q) for q in np.percentile(vs, [25, 50, 75])] if vs else [] for m, vs in finite.items()},
            "per_clip": per_clip,
        },
        artifacts={"clip_values": {"clips": [row["clip"] for row in per_clip], "metrics": values}},
        intervals=intervals,
    )


def enc_relevance_local_general(model: Whisper, *, recordings: Sequence[Sequence[str]], sentences: dict,
                                band: int = 50) -> Measurement:
    """`enc_relevance_local` on every clip of a clip set (`general_clips`): medians over clips of each
    clip's median band mass ``m(band)`` and of its margin over relevance spread evenly over its speech."""
    def measure(clip, _reference):
        run = clip_run(model, clip)
        metrics, evidence = band_scores(clip_relevance(model, clip), run.speech_end, band, [band])
        return metrics, {"speech_end_frame": run.speech_end,
                         "speech_uniform_band_mass": evidence["speech_uniform_band_mass"]}

    return over_clips(general_clips(recordings, sentences), measure, "clips (relevance)",
                      clusters=clip_clusters(recordings, sentences))


def enc_end_sink_general(model: Whisper, *, recordings: Sequence[Sequence[str]], sentences: dict,
                         margin: int = 25) -> Measurement:
    """`enc_end_sink` on every clip of a clip set: medians over clips of each clip's end share and end-peak
    share at its end of speech (`end_of_speech`: the recordings' alignments, the sentences' word events; the
    signal's energy where a clip has neither); the same at the end of the audio is in each clip's evidence."""
    def measure(clip, _reference):
        run = clip_run(model, clip)
        r = clip_relevance(model, clip)
        end, method = end_of_speech(clip, run)
        share, peaks = end_share(r, end, margin), end_peaks(r, end, margin)
        # recordings end in some room silence: the end of the audio is read too, as evidence
        audio_share, audio_peaks = end_share(r, run.speech_end, margin), end_peaks(r, run.speech_end, margin)
        return ({"median_end_share": share["median_end_share"], "end_peak_share": peaks["end_peak_share"]},
                {"speech_end_frame": end, "speech_end_method": method, "post_speech_rows": share["rows"],
                 "audio_end_frame": run.speech_end,
                 "median_end_share_at_audio_end": audio_share["median_end_share"],
                 "end_peak_share_at_audio_end": audio_peaks["end_peak_share"]})

    return over_clips(general_clips(recordings, sentences), measure, "clips (relevance)",
                      clusters=clip_clusters(recordings, sentences))


def enc_window_general(model: Whisper, *, recordings: Sequence[Sequence[str]], sentences: dict,
                       windows: Sequence[int] = (1500, 100, 75, 50, 20, 10),
                       recall_window: int = 75, min_full_recall: Optional[float] = None) -> Measurement:
    """`enc_window` on every clip of a clip set, against each clip's words spoken: medians over clips.

    With ``min_full_recall``, a clip whose unmodified transcript recalls fewer of its words leaves the
    degradation metrics undefined (NaN: left out of the medians and counted); when no clip is left, the
    claim gets no verdict (``MethodInvalid``).
    """
    if recall_window not in windows:
        raise ValueError(f"recall_window={recall_window} is not one of windows={list(windows)}")
    degradation = ("max_recall_rise", "shortest_window_words")

    def measure(clip, reference):
        run = clip_run(model, clip)
        windowed = {k: windowed_transcript(model, clip, k) for k in sorted(set(windows), reverse=True)}
        metrics, evidence = window_scores(reference, run.transcript, windowed, recall_window)
        if not transcribes(evidence["full_recall"], min_full_recall):
            metrics = {m: math.nan if m in degradation else v for m, v in metrics.items()}
        return metrics, {"full_recall": evidence["full_recall"], "recall": evidence["recall"],
                         "transcripts": evidence["transcripts"]}

    measured = over_clips(general_clips(recordings, sentences), measure, "clips (windowed transcripts)",
                          clusters=clip_clusters(recordings, sentences))
    if min_full_recall is not None:
        full = [row["full_recall"] for row in measured.evidence["per_clip"]]
        if not any(transcribes(r, min_full_recall) for r in full):
            raise MethodInvalid(f"no clip's unmodified transcript recalls min_full_recall = {min_full_recall} of "
                                f"its words (recalls: {', '.join(f'{r:.2f}' for r in full)}): with no transcript to "
                                "degrade, narrowing the window cannot be judged")
        measured = replace(measured, evidence={**measured.evidence, "min_full_recall": min_full_recall})
    return measured
