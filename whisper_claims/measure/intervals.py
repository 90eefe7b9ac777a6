"""95% intervals on metrics aggregated over units (clips, words, neurons, prompts, seeds): a seeded
bootstrap that resamples the independent unit (clusters of values, e.g. the clips of one speaker), and
exact intervals for shares (Wilson, Clopper–Pearson).

Numpy and scipy only: the record side may import it without torch.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Hashable, Sequence

import numpy as np
from scipy.stats import beta, norm

LEVEL = 0.95
N_RESAMPLES = 2000  # the least the verdicts use: percentile ends move by < 0.01 of a share between seeds


@dataclass(frozen=True)
class Interval:
    """A ``level`` interval [low, high] on a metric, how it was made, and over how many independent units."""

    low: float
    high: float
    method: str  # "bootstrap", "wilson", "clopper-pearson" or "clopper-pearson, clustered"; ", less a fixed null" for margins (`less`)
    n_units: int  # resampled clusters, or trials of a share
    level: float = LEVEL
    n_resamples: int = 0  # bootstrap only
    seed: int | None = None  # bootstrap only

    def __post_init__(self) -> None:
        if not (np.isfinite(self.low) and np.isfinite(self.high) and self.low <= self.high):
            raise ValueError(f"interval [{self.low}, {self.high}]: expected finite ends, low ≤ high")

    def to_json(self) -> dict[str, Any]:
        found = {"low": float(self.low), "high": float(self.high), "level": self.level, "method": self.method,
                 "n_units": self.n_units}
        if self.method == "bootstrap":
            found |= {"n_resamples": self.n_resamples, "seed": self.seed}
        return found


def bootstrap(values: Sequence[float], statistic: Callable[..., Any] = np.median, *,
              clusters: Sequence[Hashable] | None = None, n_resamples: int = N_RESAMPLES, seed: int = 0,
              level: float = LEVEL) -> Interval:
    """
    Percentile bootstrap interval of ``statistic(values)``, resampling clusters of values.

    Parameters
    ----------
    values : sequence of float
        One value per unit of measurement (a clip, a word, a neuron); all finite.
    statistic : callable
        ``statistic(array)`` → float, a location that stays within the values' range (``np.median``,
        ``np.mean``); called with ``axis=1`` on a 2-D array when every cluster holds as many values.
    clusters : sequence, optional
        The independent unit of each value (its speaker, its sentence, its clip): whole clusters are drawn
        with replacement, so values that share a cluster are never counted as independent. By default each
        value is its own cluster.
    n_resamples, seed, level
        The resamples (at least 1000), the generator's seed (the same seed gives the same interval), the level.

    Raises
    ------
    ValueError
        Fewer than 2 clusters (no sampling unit: such a metric has no interval), a non-finite value,
        clusters of another length than the values, or fewer than 1000 resamples.
    """
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1 or not np.isfinite(data).all():
        raise ValueError(f"bootstrap: expected a 1-D sequence of finite values, got {data.tolist()!r:.120}")
    members = _cluster_members("bootstrap", len(data), clusters, n_resamples)
    k = len(members)
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, k, size=(n_resamples, k))
    if len({len(m) for m in members}) == 1:  # clusters of one size: every resample is one row of a matrix
        table = np.stack(members)
        estimates = np.asarray(statistic(data[table[drawn]].reshape(n_resamples, -1), axis=1), dtype=np.float64)
    else:
        estimates = np.array([statistic(np.concatenate([data[members[c]] for c in row])) for row in drawn],
                             dtype=np.float64)
    # the bootstrap's spread is that of k draws with the divisor k; rescaled about the estimate by
    # sqrt(k / (k - 1)), the usual small-sample correction, so that few clusters do not give too short an
    # interval; kept within the values' range, which a median or a mean never leaves
    point = float(statistic(data))
    estimates = np.clip(point + (estimates - point) * np.sqrt(k / (k - 1)), data.min(), data.max())
    alpha = (1 - level) / 2
    low, high = np.quantile(estimates, [alpha, 1 - alpha])
    return Interval(float(low), float(high), "bootstrap", k, level, n_resamples, seed)


def _cluster_members(caller: str, n_values: int, clusters: Sequence[Hashable] | None,
                     n_resamples: int) -> list[np.ndarray]:
    """The value indices of each cluster (each value its own by default), after the checks both bootstraps
    share: one label per value, at least 1000 resamples, at least 2 clusters."""
    labels = list(range(n_values)) if clusters is None else list(clusters)
    if len(labels) != n_values:
        raise ValueError(f"{caller}: {len(labels)} cluster labels for {n_values} values")
    if n_resamples < 1000:
        raise ValueError(f"{caller}: n_resamples = {n_resamples}, expected at least 1000")
    groups: dict[Hashable, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(label, []).append(index)
    if len(groups) < 2:
        raise ValueError(f"{caller}: {len(groups)} independent unit(s); an interval needs at least 2")
    return [np.asarray(g) for g in groups.values()]


def ratio_bootstrap(numerators: Sequence[float], denominators: Sequence[float], *,
                    clusters: Sequence[Hashable] | None = None, n_resamples: int = N_RESAMPLES, seed: int = 0,
                    level: float = LEVEL) -> Interval:
    """
    Percentile bootstrap interval of ``Σ numerators / Σ denominators`` (a rate pooled over units, e.g. word
    errors over reference words, or a share of a pooled gap), resampling clusters of units.

    Unlike `bootstrap` the ratio is not kept within the per-unit values' range (a pooled ratio need not be);
    the same small-sample rescaling about the estimate applies, and the interval always holds the estimate. A
    resample whose denominators sum to 0 or less has no ratio and is left out.

    Raises
    ------
    ValueError
        Units of unequal counts, a non-finite value, fewer than 2 clusters, fewer than 1000 resamples, a
        total denominator that is not positive (no ratio to bound), or more than ``(1 - level) / 2`` of the
        resamples without a ratio (the interval's own tail would be made of them).
    """
    top, bottom = np.asarray(numerators, dtype=np.float64), np.asarray(denominators, dtype=np.float64)
    if top.ndim != 1 or top.shape != bottom.shape or not (np.isfinite(top).all() and np.isfinite(bottom).all()):
        raise ValueError(f"ratio_bootstrap: expected two 1-D sequences of finite values of one length, got "
                         f"{top.tolist()!r:.80} and {bottom.tolist()!r:.80}")
    if bottom.sum() <= 0:
        raise ValueError(f"ratio_bootstrap: the denominators sum to {bottom.sum():.4g}; expected a positive total")
    members = _cluster_members("ratio_bootstrap", len(top), clusters, n_resamples)
    k = len(members)
    # a cluster enters a resample by its sums: one row per cluster, drawn with replacement
    sums = np.array([[top[m].sum(), bottom[m].sum()] for m in members])
    drawn = np.random.default_rng(seed).integers(0, k, size=(n_resamples, k))
    totals = sums[drawn].sum(axis=1)  # [n_resamples, 2]
    defined = totals[:, 1] > 0
    alpha = (1 - level) / 2
    if (~defined).mean() > alpha:
        raise ValueError(f"ratio_bootstrap: {(~defined).mean():.1%} of the resamples have no positive denominator "
                         f"(more than {alpha:.1%}); no interval")
    point = float(top.sum() / bottom.sum())
    estimates = totals[defined, 0] / totals[defined, 1]
    estimates = point + (estimates - point) * np.sqrt(k / (k - 1))
    low, high = np.quantile(estimates, [alpha, 1 - alpha])
    return Interval(float(min(low, point)), float(max(high, point)), "bootstrap", k, level, n_resamples, seed)


def wilson(successes: int, n: int, level: float = LEVEL) -> Interval:
    """Wilson score interval of a share ``successes / n`` (close to nominal coverage, never outside [0, 1])."""
    _check_share(successes, n)
    z = float(norm.ppf(1 - (1 - level) / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Interval(float(max(0.0, centre - half)), float(min(1.0, centre + half)), "wilson", n, level)


def clopper_pearson(successes: int, n: int, level: float = LEVEL) -> Interval:
    """Clopper–Pearson (exact) interval of a share: at least nominal coverage for every true share."""
    _check_share(successes, n)
    alpha = 1 - level
    low = 0.0 if successes == 0 else float(beta.ppf(alpha / 2, successes, n - successes + 1))
    high = 1.0 if successes == n else float(beta.ppf(1 - alpha / 2, successes + 1, n - successes))
    return Interval(low, high, "clopper-pearson", n, level)


def less(interval: Interval, reference: float) -> Interval:
    """``interval`` of a metric turned into one of its margin over a fixed ``reference`` (a null measured once,
    whose own sampling error is not in the interval): both ends moved down by ``reference``."""
    return replace(interval, low=interval.low - reference, high=interval.high - reference,
                   method=f"{interval.method}, less a fixed null")


def clustered_share(outcomes: Sequence[bool], clusters: Sequence[Hashable], level: float = LEVEL) -> Interval:
    """
    Clopper–Pearson interval of a share of units that come in clusters (the words of one clip): computed on
    Kish's effective sample size ``n / deff``, where the design effect ``deff`` (at least 1) is the ratio of
    the share's between-cluster variance to the binomial variance.

    Unlike a bootstrap of the clusters, its upper end stays below 1 once one unit fails: a bar of "every
    unit" (a share ≥ 1) fails on its first counterexample, whatever the resampling would draw. When every
    unit succeeds (or every one fails) no clip differs from another and the interval is that point, as a
    bootstrap of the clusters gives: the share describes the units measured, and none contradicts it.

    Raises
    ------
    ValueError
        No outcome, fewer than 2 clusters, or clusters of another length than the outcomes.
    """
    y = np.asarray(outcomes, dtype=np.float64)
    labels = list(clusters)
    if y.ndim != 1 or len(y) == 0 or len(labels) != len(y) or not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"clustered_share: expected one 0/1 outcome per cluster label, got {len(y)} outcomes and "
                         f"{len(labels)} labels")
    groups: dict[Hashable, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(label, []).append(index)
    m, n, p = len(groups), len(y), float(y.mean())
    if m < 2:
        raise ValueError(f"clustered_share: {m} independent unit(s); an interval needs at least 2")
    if p in (0.0, 1.0):
        return Interval(p, p, "clopper-pearson, clustered", m, level)
    # the ratio estimator's variance over clusters (successes minus p times size, per cluster)
    residuals = np.array([y[g].sum() - p * len(g) for g in groups.values()])
    between = m / (m - 1) * float((residuals ** 2).sum()) / n ** 2
    deff = max(1.0, between / (p * (1 - p) / n))
    n_eff = n / deff
    k_eff = p * n_eff
    alpha = 1 - level
    low = float(beta.ppf(alpha / 2, k_eff, n_eff - k_eff + 1))
    high = float(beta.ppf(1 - alpha / 2, k_eff + 1, n_eff - k_eff))
    return Interval(low, high, "clopper-pearson, clustered", m, level)


def _check_share(successes: int, n: int) -> None:
    if not (isinstance(n, (int, np.integer)) and isinstance(successes, (int, np.integer)) and 0 <= successes <= n
            and n >= 1):
        raise ValueError(f"a share of {successes!r} in {n!r}: expected integers 0 ≤ successes ≤ n, n ≥ 1")
