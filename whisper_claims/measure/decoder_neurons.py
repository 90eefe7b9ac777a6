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
    best_types = np.argpartition(-maxima, top - 1, axis=0)[:top]  # [top, n_neurons], unordered
    share = type_in[best_types].mean(axis=0)
    ranks = rankdata(maxima, axis=0)  # average ranks for ties
    n_in, n_out = int(type_in.sum()), int((~type_in).sum())
    auroc = (ranks[type_in].sum(axis=0) - n_in * (n_in + 1) / 2) / (n_in * n_out)
    neurons = np.arange(maxima.shape[1])
    order = np.lexsort((neurons, -auroc, -share))
    return NeuronRanking(order=order, share=share, auroc=auroc, top=top, base_rate=float(type_in.mean()),
                         base_rate_positions=float(in_category.mean()), n_types=n_types)


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
