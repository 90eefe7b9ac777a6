"""The decoder's token embedding space: nearest neighbours by cosine, and cosines of word pairs.

Whisper's token embeddings share a large common component (on tiny.en the mean text-token row has norm
0.41 against a mean row norm of 0.44), so raw cosines are all about 0.9 and a token's nearest neighbours
are whichever rows have the least of their own. ``centred=True`` subtracts the mean of the text-token rows
first: the cosines then have the post's scale (0.27-0.67) and the neighbours are about the token.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import rankdata
from whisper.model import Whisper
from whisper.tokenizer import Tokenizer

from .inference import tokenizer_for
from .intervals import LEVEL, N_RESAMPLES, Interval


@dataclass(frozen=True)
class Neighbour:
    token: int  # token id
    text: str  # decoded token, leading space kept
    cosine: float


def unit_embeddings(model: Whisper, centred: bool = False, n_text: int | None = None) -> torch.Tensor:
    """Rows of ``decoder.token_embedding.weight`` scaled to unit length ``[n_vocab, n_text_state]``.

    With ``centred``, the mean of the first ``n_text`` rows (the text tokens, below ``<|endoftext|>``;
    default every row) is subtracted from every row first. Rows that are exactly zero (tokens a model
    never trained, as micro's) stay zero and are left out of the mean.
    """
    weight = model.decoder.token_embedding.weight.detach().float()
    if centred:
        trained = trained_rows(model)
        text = trained.clone()
        text[n_text:] = False
        weight = torch.where(trained[:, None], weight - weight[text].mean(dim=0), weight)
    return weight / weight.norm(dim=1, keepdim=True).clamp_min(1e-12)


def trained_rows(model: Whisper) -> torch.Tensor:
    """``[n_vocab]`` bool: the embedding rows that are not exactly zero."""
    return (model.decoder.token_embedding.weight.detach() != 0).any(dim=1)


def single_token(tokenizer: Tokenizer, text: str) -> int | None:
    """The id of ``text`` when it is exactly one token, else None."""
    ids = tokenizer.encode(text)
    return ids[0] if len(ids) == 1 else None


def nearest_tokens(model: Whisper, text: str, n_neighbours: int = 24,
                   tokenizer: Tokenizer | None = None, centred: bool = False) -> list[Neighbour]:
    """The ``n_neighbours`` text tokens closest to the token ``text`` by cosine, the token itself excluded.

    Special tokens (``<|endoftext|>`` and above) are never neighbours. ``centred``: cosines of the rows
    minus the mean text-token row (``unit_embeddings``).
    """
    tokenizer = tokenizer or tokenizer_for(model)
    token = single_token(tokenizer, text)
    if token is None:
        raise ValueError(f"{text!r} is not a single token in this model's tokenizer: {tokenizer.encode(text)}")
    unit = unit_embeddings(model, centred, tokenizer.eot)
    cosines = unit[: tokenizer.eot] @ unit[token]  # [n_text_tokens]
    cosines[token] = -float("inf")
    cosines[~trained_rows(model)[: tokenizer.eot]] = -float("inf")  # a zero row is no token the model knows
    values, ids = cosines.topk(n_neighbours)
    return [Neighbour(int(i), tokenizer.decode([int(i)]), float(v)) for v, i in zip(values, ids)]


def pair_cosines(model: Whisper, pairs: list[tuple[int, int]], centred: bool = False,
                 n_text: int | None = None) -> torch.Tensor:
    """Cosine between the embeddings of each ``(token_a, token_b)`` pair ``[n_pairs]`` (``centred``: see
    ``unit_embeddings``)."""
    unit = unit_embeddings(model, centred, n_text)
    a = torch.tensor([p[0] for p in pairs])
    b = torch.tensor([p[1] for p in pairs])
    return (unit[a] * unit[b]).sum(dim=1)


def cross_cosines(model: Whisper, pairs: list[tuple[int, int]], centred: bool = False,
                  n_text: int | None = None) -> np.ndarray:
    """``[n_pairs, n_pairs]`` cosines of every first word with every second word: entry ``[i, j]`` is
    ``cos(pairs[i][0], pairs[j][1])``, so the diagonal holds the pairs themselves (``centred``: see
    ``unit_embeddings``)."""
    unit = unit_embeddings(model, centred, n_text)
    a = unit[torch.tensor([p[0] for p in pairs])]
    b = unit[torch.tensor([p[1] for p in pairs])]
    return (a @ b.T).double().numpy()


@dataclass(frozen=True)
class PairingTest:
    """Whether the pairs of a word list are closer than the same words paired otherwise."""

    auc: float  # P(a pair's cosine > a crossed pair's cosine), ties half: the Mann–Whitney U / (n × n(n − 1))
    p_value: float  # (1 + #{permuted AUC ≥ auc}) / (1 + n_permutations)
    n_exceeding: int  # permutations whose AUC reached the observed one
    n_permutations: int
    seed: int
    null_quantiles: dict[str, float]  # the permuted AUCs' 50th, 95th and 99th percentiles


def pairing_auc(cosines: np.ndarray, order: np.ndarray | None = None) -> np.ndarray | float:
    """AUC of the paired cosines ``cosines[i, order[i]]`` against every other entry (the crossed pairs).

    Parameters
    ----------
    cosines : np.ndarray
        ``[n, n]``, as ``cross_cosines`` gives.
    order : np.ndarray, optional
        ``[n]`` or ``[n_orders, n]``: the second word of each first word (default: the diagonal).
    """
    n = len(cosines)
    ranks = rankdata(cosines.ravel()).reshape(n, n)  # joint ranks, ties averaged; one ranking serves every order
    order = np.arange(n) if order is None else np.asarray(order)
    paired = ranks[np.arange(n), order].sum(axis=-1)
    auc = (paired - n * (n + 1) / 2) / (n * n * (n - 1))
    return float(auc) if np.ndim(auc) == 0 else auc


def pairing_test(cosines: np.ndarray, n_permutations: int = 2000, seed: int = 0) -> PairingTest:
    """Permutation test that the pairs' cosines exceed the crossed pairs': the second words are dealt
    to the first words at random and the AUC recomputed.

    Every word keeps its one use as a pair member and its n − 1 uses in crossed pairs, so crossed pairs
    that share a word are never taken as independent, as a Mann–Whitney test of the pairs against the
    crossed pairs takes them: its p then has no exact meaning (where each word's own pull dominates the
    cosines it is too large, since in every pairing each word is on the diagonal once and those pulls
    cancel). The p-value's resolution is ``1 / (1 + n_permutations)``.
    """
    n = len(cosines)
    if cosines.shape != (n, n) or n < 3:
        raise ValueError(f"pairing_test: a square matrix of at least 3 pairs, got shape {cosines.shape}")
    if n_permutations < 1:
        raise ValueError(f"n_permutations = {n_permutations}: expected at least 1")
    observed = pairing_auc(cosines)
    rng = np.random.default_rng(seed)
    orders = np.argsort(rng.random((n_permutations, n)), axis=1)
    null = pairing_auc(cosines, orders)
    exceeding = int(np.sum(null >= observed - 1e-12))
    return PairingTest(observed, (1 + exceeding) / (1 + n_permutations), exceeding, n_permutations, seed,
                       {f"q{q}": round(float(np.quantile(null, q / 100)), 4) for q in (50, 95, 99)})


def pairing_auc_interval(cosines: np.ndarray, n_resamples: int = N_RESAMPLES, seed: int = 0) -> Interval:
    """Bootstrap interval of ``pairing_auc`` that resamples whole pairs (each word is in one pair, so
    this clusters by word): a pair drawn twice counts twice as a pair and never as its own crossed pair.

    Percentile interval with ``intervals.bootstrap``'s small-sample rescaling, kept within [0, 1].
    """
    estimates = pairing_auc_draws(cosines, n_resamples, seed)
    low, high = np.quantile(estimates, [(1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2])
    return Interval(float(low), float(high), "bootstrap", len(cosines), LEVEL, n_resamples, seed)


def pairing_auc_difference(first: np.ndarray, second: np.ndarray, n_resamples: int = N_RESAMPLES,
                           seed: int = 0) -> tuple[float, Interval]:
    """``pairing_auc(first) - pairing_auc(second)`` for two sets of pairs with no word in common, and its
    bootstrap interval: each set's pairs resampled on its own (seeds ``seed`` and ``seed + 1``)."""
    draws = pairing_auc_draws(first, n_resamples, seed) - pairing_auc_draws(second, n_resamples, seed + 1)
    low, high = np.quantile(draws, [(1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2])
    return (pairing_auc(first) - pairing_auc(second),
            Interval(float(low), float(high), "bootstrap", len(first) + len(second), LEVEL, n_resamples, seed))


def pairing_auc_draws(cosines: np.ndarray, n_resamples: int = N_RESAMPLES, seed: int = 0) -> np.ndarray:
    """``n_resamples`` bootstrap draws of ``pairing_auc`` (see `pairing_auc_interval`), rescaled about the
    estimate by ``sqrt(n / (n - 1))`` and kept within [0, 1]."""
    n = len(cosines)
    diagonal = np.diag(cosines)
    # wins[i, k, l]: pair i beats crossed pair (k, l), ties half; k == l is no crossed pair
    wins = (diagonal[:, None, None] > cosines[None]) + 0.5 * (diagonal[:, None, None] == cosines[None])
    wins[:, np.arange(n), np.arange(n)] = 0
    drawn = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    counts = np.stack([np.bincount(row, minlength=n) for row in drawn]).astype(np.float64)  # [r, n]
    by_pair = np.tensordot(counts, wins, axes=([1], [2]))  # [r, i, k]: Σ_l counts[l] wins[i, k, l]
    numerator = np.einsum("ri,rik,rk->r", counts, by_pair, counts)
    total = counts.sum(axis=1)
    denominator = total * (total ** 2 - (counts ** 2).sum(axis=1))
    estimates = numerator / denominator
    point = pairing_auc(cosines)
    return np.clip(point + (estimates - point) * np.sqrt(n / (n - 1)), 0.0, 1.0)
