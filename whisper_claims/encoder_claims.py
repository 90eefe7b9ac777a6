"""Claims of the post's first section, "The encoder learns local features", on one speech clip.

Each function takes the model and the claim's ``params`` from ``claims/thresholds.toml`` (plus the clip,
which the test resolves through the asset manifest) and returns a ``Measurement``; thresholds are
applied by ``verdict.judge``, never here. The five claims share their expensive parts through
``memo.per_model``: one encode and one transcript of the clip, one padding encode, one relevance map.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
from whisper.model import Whisper

from . import progress
from .attention import attention_window, band_mask, relevance
from .audio import HOP_LENGTH, SAMPLE_RATE, load_audio, log_mel
from .fetch import sha256_file
from .inference import chop, encode, padding_features, transcribe_features
from .memo import per_model
from .text import normalize, wer, word_recall
from .verdict import Measurement

SAMPLES_PER_FRAME = 2 * HOP_LENGTH  # one encoder frame: 320 samples, 20 ms
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


def clip_run(model: Whisper, clip: str | os.PathLike) -> ClipRun:
    """The clip's encode and transcript, computed once per model (and per clip content)."""
    path = os.fspath(clip)
    digest = sha256_file(path)

    def compute() -> ClipRun:
        audio = load_audio(path)
        mel = log_mel(audio, model, source=path)
        features = encode(model, mel)[0]
        return ClipRun(path=path, sha256=digest, n_samples=len(audio), mel=mel, features=features,
                       transcript=transcribe_features(model, features),
                       speech_end=math.ceil(len(audio) / SAMPLES_PER_FRAME),
                       energy_end=_energy_end(audio))

    return per_model(model, ("clip", path, digest), compute)


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

    return per_model(model, ("relevance", run.path, run.sha256, window), compute)


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
                        window: Optional[int] = None) -> Measurement:
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
    window : int, optional
        Measure the model with its encoder attention restricted to ±``window`` frames (the positive
        control: a model forced into a narrow window must pass); None for the model as it is.

    Metrics
    -------
    median_band_mass
        Median over speech frames of ``m_i(band)``.
    """
    run = clip_run(model, clip)
    r = clip_relevance(model, clip, window)
    metrics, evidence = band_scores(r, run.speech_end, band, band_curve)
    curve = evidence["median_band_mass_by_w"]
    return Measurement(
        metrics=metrics,
        evidence={"clip": os.path.basename(run.path), **evidence, "attention_window": window},
        artifacts={
            "relevance_map": {"map": r[:FIGURE_FRAMES, :FIGURE_FRAMES].numpy(), "speech_end": run.speech_end},
            "band_mass_curve": {"w": [int(w) for w in curve], "median": list(curve.values()),
                                "uniform": list(evidence["uniform_band_mass_by_w"].values())},
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
    evidence = {
        "speech_end_frame": speech_end,
        "rows": len(rows),
        "rows_without_relevance": undefined,
        "band": band,
        "median_band_mass_by_w": {str(w): curve[w] for w in curve},
        "uniform_band_mass_by_w": {str(w): min(2 * w + 1, n_ctx) / n_ctx for w in curve},
    }
    return {"median_band_mass": curve[band]}, evidence


def enc_end_sink(model: Whisper, *, clip: str | os.PathLike, margin: int = 25,
                 window: Optional[int] = None) -> Measurement:
    """After speech ends, frames attend back to the end of speech.

    For destination frames ``i >= end + margin``, the share of their ``R - I`` mass in source columns
    ``[end - margin, end + margin]``; ``end`` is the clip's length in frames. The same share with the
    end estimated from the signal energy is recorded as evidence.

    Metrics
    -------
    median_end_share
        Median of that share over the post-speech rows.
    """
    run = clip_run(model, clip)
    r = clip_relevance(model, clip, window)
    measured = {name: end_share(r, end, margin) for name, end in (("clip_length", run.speech_end),
                                                                   ("energy", run.energy_end))}
    return Measurement(
        metrics={"median_end_share": measured["clip_length"]["median_end_share"]},
        evidence={
            "clip": os.path.basename(run.path),
            "margin": margin,
            "end_from_clip_length": measured["clip_length"],
            "end_from_energy": {**measured["energy"], "range_db": ENERGY_RANGE_DB},
            "uniform_share": (2 * margin + 1) / r.shape[0],
            "attention_window": window,
        },
        artifacts={"relevance_map": {"map": r[:FIGURE_FRAMES, :FIGURE_FRAMES].numpy(),
                                     "speech_end": run.speech_end}},
    )


def end_share(r: torch.Tensor, end: int, margin: int) -> dict[str, float]:
    """Median share of ``R - I`` mass of rows ``i >= end + margin`` in columns ``[end - margin, end + margin]``."""
    n_ctx = r.shape[0]
    rows = np.arange(min(end + margin, n_ctx), n_ctx)
    near_end = np.broadcast_to(np.abs(np.arange(n_ctx) - end) <= margin, (len(rows), n_ctx))
    shares, undefined = _shares(r, rows, near_end)
    return {"end_frame": end, "rows": len(rows), "rows_without_relevance": undefined,
            "median_end_share": _median(shares)}


def enc_window(model: Whisper, *, clip: str | os.PathLike, windows: Sequence[int] = (1500, 100, 75, 50, 20, 10),
               recall_window: int = 75) -> Measurement:
    """Restricting encoder attention to ±k frames still transcribes, and degrades as k shrinks.

    Each ``k`` in ``windows`` masks every encoder layer and head to ``|i - j| <= k`` and decodes the
    clip; each transcript is compared with the unmodified model's ("full") transcript.

    Metrics
    -------
    recall_at_window
        Word recall of the full transcript in the ``recall_window`` transcript.
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
        with attention_window(model, k):
            features = encode(model, run.mel)[0]
        windowed[k] = transcribe_features(model, features)
        progress.report("windowed transcripts (k)", len(windowed), len(ks))
    metrics, evidence = window_scores(run.transcript, windowed, recall_window)
    return Measurement(
        metrics=metrics,
        evidence={"clip": os.path.basename(run.path), **evidence},
        artifacts={"recall_curve": {"k": list(windowed), "recall": list(evidence["recall"].values()),
                                    "wer": list(evidence["wer"].values())},
                   "transcripts": evidence["transcripts"]},
    )


def window_scores(full: str, windowed: dict[int, str], recall_window: int) -> tuple[dict[str, float], dict]:
    """``enc_window``'s metrics and evidence from the full transcript and one transcript per window k."""
    ks = sorted(windowed, reverse=True)
    recall = {k: word_recall(full, windowed[k]) for k in ks}
    error = {k: wer(full, windowed[k]) for k in ks}
    words = {k: len(normalize(windowed[k]).split()) for k in ks}
    rises = [recall[small] - recall[large] for large, small in zip(ks, ks[1:])]
    metrics = {
        "recall_at_window": recall[recall_window],
        "max_recall_rise": max([0.0, *rises]) if all(map(math.isfinite, rises)) else math.nan,
        "shortest_window_words": float(words[ks[-1]]),
    }
    evidence = {
        "recall_window": recall_window,
        "transcripts": {"full": full, **{f"k={k}": windowed[k] for k in ks}},
        "recall": {str(k): recall[k] for k in ks},
        "wer": {str(k): error[k] for k in ks},
        "words": {str(k): words[k] for k in ks},
        "widest_window_reproduces_full": windowed[ks[0]] == full,
    }
    return metrics, evidence


def _without_phrase(words: list[str], phrase: list[str]) -> tuple[list[str], int]:
    """``words`` with every occurrence of ``phrase`` removed, and how many there were."""
    kept, found, i = [], 0, 0
    while i < len(words):
        if phrase and words[i:i + len(phrase)] == phrase:
            found, i = found + 1, i + len(phrase)
        else:
            kept.append(words[i])
            i += 1
    return kept, found


def enc_chop(model: Whisper, *, clip: str | os.PathLike, start: int, stop: int, target: str,
             control_start: int) -> Measurement:
    """Replacing encoder output frames ``[start, stop)`` with the padding input's removes exactly the
    words spoken there.

    The chopped features are decoded; ``target`` must be in the full transcript and absent from the
    chopped one, and the rest of the full transcript must survive. A control chop of the same width
    at ``control_start`` (inside the padding) is decoded and recorded.

    Metrics
    -------
    target_removed
        1 when the normalized target phrase is in the full transcript and not in the chopped one.
    rest_wer
        WER of the chopped transcript against the full one with every occurrence of the target removed.
    """
    run = clip_run(model, clip)
    padding = padding_features(model)
    chopped = transcribe_features(model, chop(run.features, padding, start, stop))
    control_stop = control_start + (stop - start)
    control = transcribe_features(model, chop(run.features, padding, control_start, control_stop))

    metrics, evidence = chop_scores(run.transcript, chopped, target)
    seconds = SAMPLES_PER_FRAME / SAMPLE_RATE
    transcripts = {"full": run.transcript, f"chop {start}-{stop}": chopped,
                   f"control chop {control_start}-{control_stop}": control}
    return Measurement(
        metrics=metrics,
        evidence={
            "clip": os.path.basename(run.path),
            "chop_frames": [start, stop],
            "chop_seconds": [start * seconds, stop * seconds],
            **evidence,
            "transcripts": transcripts,
            "control_frames": [control_start, control_stop],
            "control_wer": wer(run.transcript, control),
        },
        artifacts={"transcripts": transcripts},
    )


def chop_scores(full: str, chopped: str, target: str) -> tuple[dict[str, float], dict]:
    """``enc_chop``'s metrics and evidence from the full and the chopped transcript."""
    phrase = normalize(target).split()
    rest, in_full = _without_phrase(normalize(full).split(), phrase)
    _, in_chopped = _without_phrase(normalize(chopped).split(), phrase)
    metrics = {"target_removed": float(in_full > 0 and in_chopped == 0), "rest_wer": wer(" ".join(rest), chopped)}
    evidence = {"target": target, "target_in_full": in_full, "target_in_chopped": in_chopped,
                "rest_of_full": " ".join(rest)}
    return metrics, evidence
