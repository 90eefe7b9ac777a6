"""Is a unit phoneme-selective? The labels of its top frames, their dominant phoneme, and a
permutation test against shuffled frame labels.

Labels are ARPAbet-39 without stress plus ``sil`` (silence, pauses, noise); a unit whose top frames are
mostly ``sil`` is not phoneme-selective whatever its p-value.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import Tensor

from .intervals import LEVEL, N_RESAMPLES, Interval

SILENCE = "sil"

# Manner classes, as a listener would group the post's labels ('j/ch/sh', 'b/d', 'vowels')
PHONEME_CLASSES: dict[str, tuple[str, ...]] = {
    "stop": ("P", "B", "T", "D", "K", "G"),
    "affricate": ("CH", "JH"),
    "fricative": ("F", "V", "TH", "DH", "S", "Z", "SH", "ZH", "HH"),
    "nasal": ("M", "N", "NG"),
    "liquid": ("L", "R"),
    "glide": ("W", "Y"),
    "vowel": ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"),
}
CLASS_OF = {phone: name for name, phones in PHONEME_CLASSES.items() for phone in phones}


def phoneme_class(label: str) -> str:
    """The manner class of an ARPAbet label (``sil`` for silence and anything unknown)."""
    return CLASS_OF.get(label, SILENCE)


@dataclass(frozen=True)
class UnitSelectivity:
    """How one unit's top frames are labelled."""

    unit: int
    dominant: str  # most frequent label among the top frames
    share: float  # its share of the top frames
    p_value: float  # P(max label share >= share) when frame labels are shuffled over the corpus
    dominant_class: str
    class_share: float
    labels: tuple[str, ...]  # the top frames' labels, highest activation first

    def selective(self, alpha: float) -> bool:
        return self.p_value < alpha and self.dominant != SILENCE


def top_labels(top_clip: Tensor, top_frame: Tensor, frame_labels: Sequence[Sequence[str]]) -> list[tuple[str, ...]]:
    """Per unit, the labels of its top frames (``[n_units, k]`` clip and frame indices)."""
    clips, frames = top_clip.tolist(), top_frame.tolist()
    return [tuple(frame_labels[c][f] for c, f in zip(cs, fs)) for cs, fs in zip(clips, frames)]


def _max_share(labels: Sequence[str]) -> tuple[str, float]:
    # ties go to the label first reached in activation order, so the result does not depend on hashing
    counts = Counter(labels)
    best = max(counts.values())
    dominant = next(label for label in labels if counts[label] == best)
    return dominant, best / len(labels)


def null_max_shares(corpus_labels: Sequence[str], k: int, n_permutations: int, seed: int) -> np.ndarray:
    """Max label share of ``k`` frames drawn without replacement from the corpus, ``n_permutations`` times:
    what a unit's top-``k`` frames look like when the frame labels are shuffled."""
    names, codes = np.unique(np.asarray(corpus_labels), return_inverse=True)
    if len(codes) < k:
        raise ValueError(f"the corpus has {len(codes)} labelled frames, fewer than k = {k}")
    rng = np.random.default_rng(seed)
    shares = np.empty(n_permutations)
    for i in range(n_permutations):
        draw = rng.choice(codes, size=k, replace=False)
        shares[i] = np.bincount(draw, minlength=len(names)).max() / k
    return shares


def unit_selectivity(labels_per_unit: Sequence[Sequence[str]], corpus_labels: Sequence[str], *,
                     n_permutations: int = 2000, seed: int = 0) -> list[UnitSelectivity]:
    """Dominant label, share and permutation p-value of every unit.

    Parameters
    ----------
    labels_per_unit : sequence of sequences of str
        Each unit's top-``k`` frame labels (``top_labels``); every unit has the same ``k``.
    corpus_labels : sequence of str
        The label of every frame the top frames were chosen from (the permutation population).
    """
    ks = {len(labels) for labels in labels_per_unit}
    if len(ks) != 1:
        raise ValueError(f"every unit needs the same number of top frames, got {sorted(ks)}")
    null = np.sort(null_max_shares(corpus_labels, ks.pop(), n_permutations, seed))
    results = []
    for unit, labels in enumerate(labels_per_unit):
        dominant, share = _max_share(labels)
        dominant_class, class_share = _max_share([phoneme_class(label) for label in labels])
        at_least = len(null) - np.searchsorted(null, share - 1e-12, side="left")
        results.append(UnitSelectivity(unit, dominant, share, (1 + at_least) / (1 + len(null)),
                                       dominant_class, class_share, tuple(labels)))
    return results


def random_orthogonal_basis(n_units: int, n_directions: int, seed: int = 0) -> Tensor:
    """``[n_units, n_directions]`` orthonormal columns drawn uniformly (QR of a Gaussian, sign-fixed):
    the control basis of the original research code."""
    generator = torch.Generator().manual_seed(seed)
    gaussian = torch.randn(n_units, n_units, generator=generator, dtype=torch.float64)
    # the first columns of the QR of the square draw are the QR of its first columns (R is triangular):
    # the same directions at a fraction of the cost (20 bases of 1,536 units)
    q, r = torch.linalg.qr(gaussian[:, :n_directions])
    q = q * torch.sign(torch.diagonal(r))  # makes the draw uniform (Haar) and unique
    return q.float()


def random_orthogonal_bases(n_units: int, n_directions: int, n_bases: int, seed: int = 0) -> Tensor:
    """``[n_units, n_bases * n_directions]``: ``n_bases`` random orthogonal bases of ``n_directions``
    directions side by side, basis ``b`` (columns ``b * n_directions`` on) drawn with seed ``seed + b``."""
    if not isinstance(n_bases, int) or n_bases < 1:
        raise ValueError(f"n_bases = {n_bases!r}: expected an integer >= 1")
    return torch.cat([random_orthogonal_basis(n_units, n_directions, seed + b) for b in range(n_bases)], dim=1)


def difference_bootstrap(a: Sequence[float], b: Sequence[float], statistic_a: Callable[..., Any] = np.mean,
                         statistic_b: Callable[..., Any] = np.median, *, n_resamples: int = N_RESAMPLES,
                         seed: int = 0, level: float = LEVEL) -> Interval:
    """Percentile bootstrap interval of ``statistic_a(a) - statistic_b(b)``, ``a`` and ``b`` resampled
    independently (e.g. the examined neurons, and the random bases of the null).

    Each side's estimates are widened about its point by ``sqrt(k / (k - 1))`` and kept within its
    values' range, as ``intervals.bootstrap`` does; ``n_units`` of the interval counts both sides' values.

    Raises
    ------
    ValueError
        A side with fewer than 2 values or a non-finite one, or fewer than 1000 resamples.
    """
    sides = [np.asarray(x, dtype=np.float64) for x in (a, b)]
    for name, x in zip("ab", sides):
        if x.ndim != 1 or len(x) < 2 or not np.isfinite(x).all():
            raise ValueError(f"difference_bootstrap: {name} needs at least 2 finite values, got {x.tolist()!r:.120}")
    if n_resamples < 1000:
        raise ValueError(f"difference_bootstrap: n_resamples = {n_resamples}, expected at least 1000")
    rng = np.random.default_rng(seed)

    def estimates(x: np.ndarray, statistic: Callable[..., Any]) -> np.ndarray:
        k = len(x)
        drawn = np.asarray(statistic(x[rng.integers(0, k, size=(n_resamples, k))], axis=1), dtype=np.float64)
        point = float(statistic(x))
        return np.clip(point + (drawn - point) * np.sqrt(k / (k - 1)), x.min(), x.max())

    differences = estimates(sides[0], statistic_a) - estimates(sides[1], statistic_b)
    alpha = (1 - level) / 2
    low, high = np.quantile(differences, [alpha, 1 - alpha])
    return Interval(float(low), float(high), "bootstrap", len(sides[0]) + len(sides[1]), level, n_resamples, seed)


def margin_over_bases(unit_values: Sequence[float], basis_values: Sequence[float], *, scale: float = 1.0,
                      seed: int = 0) -> tuple[float, Interval, dict]:
    """How far the examined units stand above random bases of their layer.

    Parameters
    ----------
    unit_values : sequence of float
        One value per examined unit (1.0 when it meets the criterion, else 0.0).
    basis_values : sequence of float
        The same metric measured on each random basis (its share, or count, of directions that meet it).
    scale : float
        The metric is ``scale × mean(unit_values)``: 1 for a share, the number of units for a count.

    Returns
    -------
    margin : float
        The units' metric minus the median over the bases.
    interval : Interval
        95% bootstrap interval of the margin, resampling the units and, independently, the bases
        (``difference_bootstrap``, seed ``seed``).
    null : dict
        Every basis value, their median, and the units' rank among them as a permutation-style p-value
        ``(1 + #bases >= units) / (1 + n_bases)``, whose resolution is ``1 / (1 + n_bases)``.
    """
    units = scale * np.asarray(unit_values, dtype=np.float64)
    bases = np.asarray(basis_values, dtype=np.float64)
    real, median = float(units.mean()), float(np.median(bases))
    interval = difference_bootstrap(units, bases, np.mean, np.median, seed=seed)
    at_least = int((bases >= real - 1e-12).sum())
    null = {"n_bases": len(bases), "values": [round(float(v), 4) for v in bases], "median": median,
            "units_value": real, "n_bases_at_least_units": at_least,
            "p_value": (1 + at_least) / (1 + len(bases)), "p_resolution": 1 / (1 + len(bases))}
    return real - median, interval, null


def band_dominants(values: Tensor, labels: Sequence[str], n_bands: int) -> list[dict]:
    """A unit's frames split into ``n_bands`` equal-width activation bands, top band first: per band the
    frame count, the label shares, and the dominant label (the post's polysemanticity histograms)."""
    values = values.double()
    low, high = float(values.min()), float(values.max())
    edges = np.linspace(low, high, n_bands + 1)
    bands = []
    for b in range(n_bands - 1, -1, -1):
        lo, hi = edges[b], edges[b + 1]
        inside = [label for v, label in zip(values.tolist(), labels) if (lo <= v <= hi if b == n_bands - 1 else lo <= v < hi)]
        counts = Counter(inside)
        shares = {label: n / len(inside) for label, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}
        bands.append({"range": [lo, hi], "n": len(inside), "shares": shares,
                      "dominant": next(iter(shares), None)})
    return bands


def polysemantic(bands: list[dict], min_share: float = 0.2, min_frames: int = 10,
                 min_top_share: float = 0.0) -> bool:
    """The post's polysemantic neuron: at the top it sounds like one phoneme (the highest band's
    dominant phoneme has at least ``min_top_share``), lower down another phoneme dominates a band with
    at least ``min_share``. Bands (top first) of fewer than ``min_frames`` frames are ignored (one
    frame is 100% of itself); silence never counts as a phoneme."""
    filled = [band for band in bands if band["n"] >= min_frames]
    if not filled or filled[0]["dominant"] in (None, SILENCE):
        return False
    top = filled[0]
    if top["shares"][top["dominant"]] < max(min_top_share, min_share):
        return False
    return any(band["dominant"] not in (None, SILENCE, top["dominant"]) and
               band["shares"][band["dominant"]] >= min_share for band in filled[1:])


@dataclass(frozen=True)
class PhonemeTuning:
    """Mean activation of some units per phoneme over a corpus (silence left out)."""

    phonemes: tuple[str, ...]
    n_frames: np.ndarray  # [n_phonemes]
    means: np.ndarray  # [n_phonemes, n_units]


def phoneme_tuning(activations: Iterable[np.ndarray], frame_labels: Iterable[Sequence[str]]) -> PhonemeTuning:
    """Per phoneme, the frame count and the mean of each unit's activation, over clips given as
    ``[clip_frames, n_units]`` arrays with one label per frame."""
    sums: dict[str, np.ndarray] = {}
    counts: Counter = Counter()
    for acts, labels in zip(activations, frame_labels):
        labels = np.asarray(labels)
        if len(labels) != len(acts):
            raise ValueError(f"{len(acts)} frames of activations but {len(labels)} frame labels")
        for phoneme in np.unique(labels):
            if phoneme == SILENCE:
                continue
            rows = acts[labels == phoneme].astype(np.float64)
            sums[str(phoneme)] = sums.get(str(phoneme), 0.0) + rows.sum(axis=0)
            counts[str(phoneme)] += len(rows)
    phonemes = tuple(sorted(sums))
    n_frames = np.array([counts[p] for p in phonemes])
    means = np.stack([sums[p] / counts[p] for p in phonemes]) if phonemes else np.zeros((0, 0))
    return PhonemeTuning(phonemes, n_frames, means)


def tuning_agreement(a: PhonemeTuning, b: PhonemeTuning, min_frames: int) -> list[dict]:
    """Per unit, how alike its tuning is in two corpora: the Spearman rank correlation of its mean
    activation per phoneme, over the phonemes with at least ``min_frames`` frames in both."""
    shared = [p for p in a.phonemes if p in b.phonemes
              and a.n_frames[a.phonemes.index(p)] >= min_frames and b.n_frames[b.phonemes.index(p)] >= min_frames]
    rows_a = a.means[[a.phonemes.index(p) for p in shared]]
    rows_b = b.means[[b.phonemes.index(p) for p in shared]]
    results = []
    for unit in range(a.means.shape[1] if len(a.means) else 0):
        x, y = rows_a[:, unit], rows_b[:, unit]
        if len(shared) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
            rho, p_value = float("nan"), float("nan")
        else:
            rho, p_value = (float(v) for v in spearmanr(x, y))
        results.append({"rho": rho, "p_value": p_value, "n_phonemes": len(shared),
                        "top_a": [shared[i] for i in np.argsort(-x, kind="stable")[:3]],
                        "top_b": [shared[i] for i in np.argsort(-y, kind="stable")[:3]]})
    return results
