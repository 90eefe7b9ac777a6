"""The intervals the verdicts use: coverage by simulation, clusters, exact shares, determinism, bad input."""
import numpy as np
import pytest
from scipy.stats import binom

from whisper_claims.measure.intervals import (Interval, bootstrap, clopper_pearson, clustered_share, less,
                                             ratio_bootstrap, wilson)

N_DRAWS = 1000  # simulated data sets per coverage check


def coverage(make_interval, draw, truth: float, seed: int) -> float:
    """Share of ``N_DRAWS`` simulated data sets whose interval covers ``truth``."""
    rng = np.random.default_rng(seed)
    hits = 0
    for i in range(N_DRAWS):
        found = make_interval(*draw(rng), seed=i)
        hits += found.low <= truth <= found.high
    return hits / N_DRAWS


@pytest.mark.parametrize("statistic, n", [(np.mean, 50), (np.median, 51)])
def test_the_bootstrap_covers_the_true_value_about_95_percent_of_the_time(statistic, n):
    found = coverage(lambda x, seed: bootstrap(x, statistic, seed=seed), lambda rng: (rng.normal(size=n),), 0.0,
                     seed=1)
    assert 0.93 <= found <= 0.97, found


def test_resampling_clusters_keeps_coverage_where_resampling_values_loses_it():
    labels = np.repeat(np.arange(40), 3)  # 40 speakers, 3 clips each: a speaker's clips are alike

    def draw(rng):
        return (np.repeat(rng.normal(size=40), 3) + 0.3 * rng.normal(size=120),)

    clustered = coverage(lambda x, seed: bootstrap(x, np.mean, clusters=labels, seed=seed), draw, 0.0, seed=2)
    naive = coverage(lambda x, seed: bootstrap(x, np.mean, seed=seed), draw, 0.0, seed=2)
    assert 0.93 <= clustered <= 0.97, clustered
    assert naive < 0.85, naive  # clips of one speaker counted as independent: intervals far too short


def test_clusters_of_different_sizes_give_the_same_interval_as_a_plain_loop():
    values = [0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.55]
    clusters = ["a", "a", "b", "c", "c", "c", "d"]
    found = bootstrap(values, np.median, clusters=clusters, seed=3, n_resamples=1000)
    rng = np.random.default_rng(3)
    groups = [[0, 1], [2], [3, 4, 5], [6]]
    drawn = rng.integers(0, 4, size=(1000, 4))
    data = np.asarray(values)
    estimates = np.array([np.median(np.concatenate([data[groups[c]] for c in row])) for row in drawn])
    point = np.median(data)
    estimates = np.clip(point + (estimates - point) * np.sqrt(4 / 3), min(values), max(values))
    assert (found.low, found.high) == tuple(np.quantile(estimates, [0.025, 0.975]))
    assert found.n_units == 4 and found.method == "bootstrap"


def test_an_interval_of_a_share_never_leaves_the_values_range():
    values = [1.0, 1.0, 1.0, 0.98, 1.0, 0.0, 0.97, 1.0, 0.0, 1.0]  # base's end-peak shares: mostly 1, two 0
    found = bootstrap(values, np.median, seed=0)
    assert 0.0 <= found.low <= found.high <= 1.0


def test_the_same_seed_gives_the_same_interval_and_another_seed_nearly_the_same():
    values = np.random.default_rng(4).normal(size=30)
    assert bootstrap(values, seed=7) == bootstrap(values, seed=7)
    a, b = bootstrap(values, seed=7), bootstrap(values, seed=8)
    assert a != b and abs(a.low - b.low) < 0.1 and abs(a.high - b.high) < 0.1


@pytest.mark.parametrize("method", [wilson, clopper_pearson])
@pytest.mark.parametrize("share", [0.1, 0.3, 0.5, 0.8])
def test_exact_coverage_of_the_share_intervals(method, share):
    n = 100
    covered = sum(binom.pmf(k, n, share) for k in range(n + 1) if method(k, n).low <= share <= method(k, n).high)
    assert covered >= (0.95 if method is clopper_pearson else 0.93), covered  # Clopper–Pearson: never below
    assert covered <= 0.98, covered


def test_share_intervals_at_the_edges_and_known_values():
    assert clopper_pearson(0, 20).low == 0.0 and clopper_pearson(20, 20).high == 1.0
    assert wilson(0, 20).low == 0.0 and 0 < wilson(0, 20).high < 0.2
    found = clopper_pearson(12, 20)  # a textbook value: 0.361 to 0.809
    assert round(found.low, 3) == 0.361 and round(found.high, 3) == 0.809
    found = wilson(12, 20)  # 0.387 to 0.781
    assert round(found.low, 3) == 0.387 and round(found.high, 3) == 0.781


def test_the_json_form_says_how_the_interval_was_made():
    assert bootstrap([1.0, 2.0, 3.0], np.mean, seed=0).to_json().keys() == {
        "low", "high", "level", "method", "n_units", "n_resamples", "seed"}
    assert wilson(3, 10).to_json() == {"low": wilson(3, 10).low, "high": wilson(3, 10).high, "level": 0.95,
                                       "method": "wilson", "n_units": 10}


@pytest.mark.parametrize("call, message", [
    (lambda: bootstrap([0.5]), "1 independent unit"),
    (lambda: bootstrap([0.5, 0.6], clusters=["a", "a"]), "1 independent unit"),
    (lambda: bootstrap([0.5, float("nan")]), "finite values"),
    (lambda: bootstrap([0.5, 0.6], clusters=["a"]), "1 cluster labels for 2 values"),
    (lambda: bootstrap([0.5, 0.6], n_resamples=100), "at least 1000"),
    (lambda: wilson(5, 3), "0 ≤ successes ≤ n"),
    (lambda: clopper_pearson(1, 0), "n ≥ 1"),
    (lambda: Interval(0.6, 0.4, "wilson", 3), "low ≤ high"),
    (lambda: ratio_bootstrap([1.0, 2.0], [0.0, 0.0]), "expected a positive total"),
    (lambda: ratio_bootstrap([1.0, 2.0], [1.0]), "of one length"),
    (lambda: ratio_bootstrap([1.0], [2.0]), "1 independent unit"),
    (lambda: ratio_bootstrap([1.0, 1.0, 0.0], [1.0, -3.0, 5.0]), "no positive denominator"),
])
def test_bad_input_is_refused_saying_what_was_expected(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("share, rho, n_clusters, size", [(0.9, 0.3, 20, 7), (0.6, 0.2, 10, 10), (0.95, 0.1, 21, 7)])
def test_a_clustered_share_covers_the_true_share_about_95_percent_of_the_time(share, rho, n_clusters, size):
    """Words of a clip succeed together (a beta-binomial share per clip, intra-cluster correlation rho)."""
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(1000):
        per_cluster = rng.beta(share * (1 - rho) / rho, (1 - share) * (1 - rho) / rho, size=n_clusters)
        outcomes = np.concatenate([rng.random(size) < p for p in per_cluster])
        found = clustered_share(outcomes, np.repeat(np.arange(n_clusters), size))
        covered += found.low <= share <= found.high
    assert 0.92 <= covered / 1000 <= 0.98


def test_one_failing_unit_keeps_a_clustered_share_below_every_unit():
    """A bar of every unit (≥ 1) fails on its first counterexample, however few clips carry the failures."""
    outcomes = [True] * 130 + [False] * 7
    found = clustered_share(outcomes, [0] * 7 + [1] * 7 + [2] * 7 + [3 + i % 18 for i in range(116)])
    assert found.high < 1 and found.method == "clopper-pearson, clustered" and found.n_units == 21
    # no counterexample among the units: the share is what was measured, as a bootstrap of the clips gives
    assert (clustered_share([True] * 10, [0, 1] * 5).low, clustered_share([False] * 4, [0, 1] * 2).high) == (1.0, 0.0)
    with pytest.raises(ValueError, match="needs at least 2"):
        clustered_share([True, False], [0, 0])


def test_a_margin_over_a_fixed_null_moves_the_interval_by_the_null():
    share = clopper_pearson(12, 20)
    margin = less(share, 0.35)
    assert (margin.low, margin.high) == pytest.approx((share.low - 0.35, share.high - 0.35))
    assert margin.method == "clopper-pearson, less a fixed null" and margin.n_units == 20
    assert margin.to_json()["method"] == "clopper-pearson, less a fixed null"


def test_a_pooled_ratio_covers_the_true_ratio_about_95_percent_of_the_time():
    # word errors over reference words per clip: clips of 5-30 words, each word wrong with probability 0.2
    def draw(rng):
        words = rng.integers(5, 31, size=40)
        return rng.binomial(words, 0.2).astype(float), words.astype(float)
    found = coverage(lambda top, bottom, seed: ratio_bootstrap(top, bottom, seed=seed), draw, 0.2, seed=2)
    assert 0.92 <= found <= 0.97, found  # a percentile interval of a ratio runs a point or two under (0.926 here)


def test_a_pooled_ratio_is_the_ratio_of_sums_and_its_interval_holds_it():
    found = ratio_bootstrap([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])  # every unit 0.5: nothing to vary
    assert found.low == found.high == 0.5 and found.n_units == 3 and found.method == "bootstrap"
    top, bottom = [0.0, 0.0, 9.0, 1.0], [1.0, 1.0, 1.0, 10.0]  # one unit far off: the ratio leaves every unit's range
    found = ratio_bootstrap(top, bottom, seed=3)
    assert found.low <= 10 / 13 <= found.high and found == ratio_bootstrap(top, bottom, seed=3)
    assert found.high > 1  # not clipped to the units' own ratios' range, as a location would be
    clustered = ratio_bootstrap(top, bottom, clusters=["a", "a", "b", "b"], seed=3)
    assert clustered.n_units == 2
