"""Decoder MLP neurons under teacher forcing, and how strongly each neuron prefers a category of tokens.

``token_activations`` runs the decoder's first ``layer + 1`` blocks only (a block's neurons do not depend
on later blocks), with the cross-attention keys and values of a shared audio input computed once.
``rank_neurons`` is plain numpy on an activation table, so it can be checked on constructed tables.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from scipy.stats import rankdata
from whisper.model import Whisper

from .hooks import capture, layer_name


def neuron_module(layer: int) -> str:
    """openai-whisper's name of the post-GELU neurons of decoder block ``layer``."""
    return layer_name("decoder", layer, neurons=True)


@torch.inference_mode()
def token_activations(model: Whisper, sequences: Sequence[Sequence[int]], features: torch.Tensor,
                      layer: int = 0, skip: int = 0, batch_size: int = 64) -> np.ndarray:
    """Post-GELU activations of ``decoder.blocks.{layer}.mlp.1`` at every position of every sequence.

    Parameters
    ----------
    sequences : sequence of token id sequences
        Each is one teacher-forced decoder input (special prefix and text tokens).
    features : torch.Tensor
        Encoder output: ``[n_audio_ctx, n_audio_state]`` shared by every sequence (e.g. padding
        features), or ``[len(sequences), n_audio_ctx, n_audio_state]``, one per sequence.
    skip : int
        Leading positions of each sequence left out of the result (the special prefix).

    Returns
    -------
    np.ndarray
        ``[sum(len(s) - skip), n_neurons]`` float32, sequences concatenated in order.
    """
    decoder = model.decoder
    shared = features.ndim == 2
    if not shared and features.shape[0] != len(sequences):
        raise ValueError(f"{features.shape[0]} encoder outputs for {len(sequences)} sequences")
    longest = max(len(s) for s in sequences)
    if longest > model.dims.n_text_ctx:
        raise ValueError(f"a sequence has {longest} tokens; the decoder's context is {model.dims.n_text_ctx}")
    blocks = list(decoder.blocks)[: layer + 1]
    if shared:
        xa = features.to(model.device, torch.float32).unsqueeze(0)
        keys_values = _cross_keys_values(blocks, xa)

    rows = []
    for start in range(0, len(sequences), batch_size):
        batch = [list(s) for s in sequences[start: start + batch_size]]
        width = max(len(s) for s in batch)
        # padded after the end: under the causal mask later positions never change earlier ones
        tokens = torch.tensor([s + [s[-1]] * (width - len(s)) for s in batch], device=model.device)
        if shared:
            cache = {module: value.expand(len(batch), -1, -1) for module, value in keys_values.items()}
            xa_batch = xa.expand(len(batch), -1, -1)
        else:
            cache = None
            xa_batch = features[start: start + len(batch)].to(model.device, torch.float32)
        # TextDecoder.forward up to block `layer`; the cache holds only cross-attention keys/values,
        # so self-attention is computed as usual
        x = decoder.token_embedding(tokens) + decoder.positional_embedding[:width]
        x = x.to(xa_batch.dtype)
        with capture(model, neuron_module(layer)) as records:
            for block in blocks:
                x = block(x, xa_batch, mask=decoder.mask, kv_cache=cache)
        neurons = records[neuron_module(layer)][0].float().cpu().numpy()
        rows += [neurons[i, skip: len(s)] for i, s in enumerate(batch)]
    return np.concatenate(rows, axis=0)


def _cross_keys_values(blocks, xa: torch.Tensor) -> dict:
    cache = {}
    for block in blocks:
        cache[block.cross_attn.key] = block.cross_attn.key(xa)
        cache[block.cross_attn.value] = block.cross_attn.value(xa)
    return cache


@dataclass(frozen=True)
class NeuronRanking:
    """Neurons ranked by how many of their top tokens are in one category.

    A *type* is a (token id, in-category) pair; a neuron's activation on a type is its largest
    activation over the type's positions, so a neuron that fires on one frequent word cannot fill its
    top list with repeats of it.
    """

    order: np.ndarray  # [n_neurons] neuron indices, best first
    share: np.ndarray  # [n_neurons] share of in-category types among each neuron's top `top` types
    auroc: np.ndarray  # [n_neurons] P(an in-category type activates more than an other type)
    top: int
    base_rate: float  # share of in-category types among all types
    base_rate_positions: float  # share of in-category token positions
    n_types: int

    def rank(self, neuron: int) -> int:
        """1 for the best neuron."""
        return int(np.flatnonzero(self.order == neuron)[0]) + 1

    @property
    def best(self) -> int:
        return int(self.order[0])


def token_types(tokens: np.ndarray, in_category: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Type index of each position and whether each type is in the category.

    Returns
    -------
    (np.ndarray, np.ndarray)
        ``[n]`` type of each position; ``[n_types]`` bool.
    """
    keys = tokens.astype(np.int64) * 2 + in_category.astype(np.int64)
    unique, inverse = np.unique(keys, return_inverse=True)
    return inverse.reshape(-1), (unique % 2).astype(bool)


def type_maxima(activations: np.ndarray, types: np.ndarray, n_types: int) -> np.ndarray:
    """Largest activation of each neuron over each type's positions ``[n_types, n_neurons]``."""
    order = np.argsort(types, kind="stable")
    starts = np.searchsorted(types[order], np.arange(n_types))
    return np.maximum.reduceat(activations[order], starts, axis=0)


def rank_neurons(activations: np.ndarray, tokens: np.ndarray, in_category: np.ndarray,
                 top: int = 20) -> NeuronRanking:
    """Rank neurons by the share of their ``top`` highest-activating token types that are in the category.

    Parameters
    ----------
    activations : np.ndarray
        ``[n_positions, n_neurons]``.
    tokens : np.ndarray
        ``[n_positions]`` token id at each position.
    in_category : np.ndarray
        ``[n_positions]`` bool: the position's word is in the category.

    Ties in share are broken by AUROC (in-category types against the others, from the same type maxima),
    then by the lower neuron index.
    """
    activations = np.asarray(activations, dtype=np.float32)
    in_category = np.asarray(in_category, dtype=bool)
    if activations.shape[0] != len(tokens) or len(tokens) != len(in_category):
        raise ValueError(f"{activations.shape[0]} activation rows, {len(tokens)} tokens and "
                         f"{len(in_category)} labels: expected one of each per position")
    types, type_in = token_types(np.asarray(tokens), in_category)
    n_types = len(type_in)
    if not 0 < type_in.sum() < n_types:
        raise ValueError(f"{int(type_in.sum())} of {n_types} token types are in the category; need some of both")
    if n_types < top:
        raise ValueError(f"only {n_types} token types; need at least top={top}")
    maxima = type_maxima(activations, types, n_types)  # [n_types, n_neurons]
    share = type_in[top_types(maxima, top)].mean(axis=0)
    ranks = rankdata(maxima, axis=0)  # average ranks for ties
    n_in, n_out = int(type_in.sum()), int((~type_in).sum())
    auroc = (ranks[type_in].sum(axis=0) - n_in * (n_in + 1) / 2) / (n_in * n_out)
    neurons = np.arange(maxima.shape[1])
    order = np.lexsort((neurons, -auroc, -share))
    return NeuronRanking(order=order, share=share, auroc=auroc, top=top, base_rate=float(type_in.mean()),
                         base_rate_positions=float(in_category.mean()), n_types=n_types)


def top_types(maxima: np.ndarray, top: int) -> np.ndarray:
    """``[top, n_neurons]`` indices of each neuron's ``top`` highest types (unordered) from ``type_maxima``."""
    return np.argpartition(-maxima, top - 1, axis=0)[:top]


def category_shares(activations: np.ndarray, tokens: np.ndarray, in_category: np.ndarray,
                    top: int = 20) -> np.ndarray:
    """``[n_neurons]``: ``rank_neurons``'s share alone (no AUROC, no ranking), for nulls scored many times."""
    types, type_in = token_types(np.asarray(tokens), np.asarray(in_category, dtype=bool))
    if len(type_in) < top:
        raise ValueError(f"only {len(type_in)} token types; need at least top={top}")
    maxima = type_maxima(np.asarray(activations, dtype=np.float32), types, len(type_in))
    return type_in[top_types(maxima, top)].mean(axis=0)


def top_positions(activations: np.ndarray, tokens: np.ndarray, in_category: np.ndarray, neuron: int,
                  top: int = 20) -> list[int]:
    """Positions of one neuron's ``top`` highest-activating types, highest first: for each type the
    position where the neuron is largest (the earliest among equals)."""
    column = np.asarray(activations)[:, neuron]
    types, _ = token_types(np.asarray(tokens), np.asarray(in_category, dtype=bool))
    by_activation = np.lexsort((np.arange(len(column)), -column))
    chosen, seen = [], set()
    for position in by_activation:
        if types[position] not in seen:
            seen.add(types[position])
            chosen.append(int(position))
            if len(chosen) == top:
                break
    return chosen


def shuffled_labels(tokens: np.ndarray, in_category: np.ndarray, seed: int) -> np.ndarray:
    """Category labels moved to other token ids at random: the same number of in-category token ids,
    every position of a token id labelled alike (a chance baseline for ``rank_neurons``).

    A token id counts as in the category when any of its positions is.
    """
    tokens = np.asarray(tokens)
    ids, inverse = np.unique(tokens, return_inverse=True)
    labelled = np.zeros(len(ids), dtype=bool)
    labelled[inverse[np.asarray(in_category, dtype=bool)]] = True
    return np.random.default_rng(seed).permutation(labelled)[inverse.reshape(-1)]


def shuffled_best_shares(activations: np.ndarray, tokens: np.ndarray, in_category: np.ndarray, top: int,
                         seeds: Sequence[int]) -> np.ndarray:
    """The best neuron's share under each seed's ``shuffled_labels``: the label-shuffle null of ``rank_neurons``.

    Equal to ``rank_neurons(activations, tokens, shuffled_labels(tokens, in_category, seed), top).share.max()``
    for every seed, but each neuron's ``top`` types are found once: with labels moved whole token ids at a
    time every type is a token id, so only the labels change between shuffles.

    Returns
    -------
    np.ndarray
        ``[len(seeds)]`` best shares.
    """
    tokens = np.asarray(tokens)
    ids, inverse = np.unique(tokens, return_inverse=True)
    inverse = inverse.reshape(-1)
    if len(ids) < top:
        raise ValueError(f"only {len(ids)} token ids; need at least top={top}")
    labelled = np.zeros(len(ids), dtype=bool)
    labelled[inverse[np.asarray(in_category, dtype=bool)]] = True
    best_types = top_types(type_maxima(np.asarray(activations, dtype=np.float32), inverse, len(ids)), top)
    return np.array([np.random.default_rng(seed).permutation(labelled)[best_types].mean(axis=0).max()
                     for seed in seeds])


def random_directions(n_neurons: int, n_directions: int, seed: int = 0) -> np.ndarray:
    """``n_directions`` random unit vectors of the ``n_neurons``-dimensional neuron space ``[n_neurons,
    n_directions]`` float32, Gaussian and normalised (no QR: in over a thousand dimensions random directions
    are all but orthogonal, and QR of a 1536-square matrix costs seconds on two cores)."""
    if n_directions < 1:
        raise ValueError(f"random_directions = {n_directions}: expected at least 1")
    directions = np.random.default_rng(seed).standard_normal((n_neurons, n_directions))
    return (directions / np.linalg.norm(directions, axis=0, keepdims=True)).astype(np.float32)


def project(activations: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Activations ``[n_positions, n_neurons]`` standardised per neuron (mean 0, sd 1; a constant neuron stays
    0), then projected onto ``directions`` ``[n_neurons, n_directions]``.

    Without the standardising a neuron with a far larger range than the others would leak into every random
    direction and carry its category into the direction null; a neuron's own share does not change under
    it (its top types are the same)."""
    activations = np.asarray(activations, dtype=np.float32)
    sd = activations.std(axis=0)
    scaled = (activations - activations.mean(axis=0)) / np.where(sd > 0, sd, 1)
    return scaled @ directions


def placements(scores: np.ndarray, in_category: np.ndarray) -> np.ndarray:
    """For each in-category item, the share of the other items it outscores (a tie counts half): their mean is
    the AUROC of ``scores`` for the category, and resampling them gives its interval when the category's items
    are few and the others many.

    Parameters
    ----------
    scores : np.ndarray
        ``[n]`` one unit's score of each item (a token type's largest activation).
    in_category : np.ndarray
        ``[n]`` bool, with items of both kinds.

    Returns
    -------
    np.ndarray
        ``[in_category.sum()]`` in the items' order.
    """
    scores = np.asarray(scores, dtype=np.float64)
    in_category = np.asarray(in_category, dtype=bool)
    if scores.shape != in_category.shape or not 0 < in_category.sum() < len(scores):
        raise ValueError(f"placements: {scores.shape} scores and {int(in_category.sum())} of {len(in_category)} "
                         "items in the category; expected one label per score and items of both kinds")
    others = np.sort(scores[~in_category])
    below = np.searchsorted(others, scores[in_category], side="left")
    tied = np.searchsorted(others, scores[in_category], side="right") - below
    return (below + 0.5 * tied) / len(others)


def permutation_p(null: Sequence[float], observed: float) -> float:
    """``(1 + #{null ≥ observed}) / (1 + n)``: a permutation p-value that is never 0; its resolution is
    ``1 / (1 + n)``."""
    null = np.asarray(null, dtype=np.float64)
    return float((1 + np.sum(null >= observed - 1e-12)) / (1 + len(null)))


@dataclass(frozen=True)
class CategoryNulls:
    """The best neuron's share for a category against two nulls of the same layer."""

    share: float  # the best neuron's share
    shuffled: np.ndarray  # [n_shuffles] best share over all neurons under each label shuffle
    direction_share: float  # best share over the random directions, each scored as a neuron is

    @property
    def shuffled_95(self) -> float:
        return float(np.quantile(self.shuffled, 0.95))

    @property
    def margin_over_shuffled_labels(self) -> float:
        """Share minus the shuffles' 95th percentile: > 0 is a one-sided test at about 0.05."""
        return self.share - self.shuffled_95

    @property
    def margin_over_random_directions(self) -> float:
        return self.share - self.direction_share

    @property
    def p_value(self) -> float:
        """Permutation p of the share against the shuffles (resolution ``1 / (1 + n_shuffles)``)."""
        return permutation_p(self.shuffled, self.share)


def category_nulls(activations: np.ndarray, projected: np.ndarray, tokens: np.ndarray, in_category: np.ndarray,
                   top: int = 20, shuffles: int = 100) -> CategoryNulls:
    """The best neuron's share (``rank_neurons``) against label shuffles (``shuffled_best_shares``, seeds 0 …
    shuffles − 1) and against random directions: ``projected`` is ``project(activations, random_directions(...))``,
    whose columns are scored as neurons are and the best taken, as the neurons' best is."""
    if shuffles < 1:
        raise ValueError(f"shuffles = {shuffles}: the label-shuffle null needs at least 1")
    share = float(category_shares(activations, tokens, in_category, top).max())
    return CategoryNulls(share, shuffled_best_shares(activations, tokens, in_category, top, range(shuffles)),
                         float(category_shares(projected, tokens, in_category, top).max()))
