"""The decoder's token embedding space: nearest neighbours by cosine, and cosines of word pairs.

Whisper's token embeddings share a large common component (on tiny.en the mean text-token row has norm
0.41 against a mean row norm of 0.44), so raw cosines are all about 0.9 and a token's nearest neighbours
are whichever rows have the least of their own. ``centred=True`` subtracts the mean of the text-token rows
first: the cosines then have the post's scale (0.27-0.67) and the neighbours are about the token.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from whisper.model import Whisper
from whisper.tokenizer import Tokenizer

from .inference import tokenizer_for


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
