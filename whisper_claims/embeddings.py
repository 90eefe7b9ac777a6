"""The decoder's token embedding space: nearest neighbours by cosine, and cosines of word pairs."""
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


def unit_embeddings(model: Whisper) -> torch.Tensor:
    """Rows of ``decoder.token_embedding.weight`` scaled to unit length ``[n_vocab, n_text_state]``."""
    weight = model.decoder.token_embedding.weight.detach().float()
    return weight / weight.norm(dim=1, keepdim=True).clamp_min(1e-12)


def single_token(tokenizer: Tokenizer, text: str) -> int | None:
    """The id of ``text`` when it is exactly one token, else None."""
    ids = tokenizer.encode(text)
    return ids[0] if len(ids) == 1 else None


def nearest_tokens(model: Whisper, text: str, n_neighbours: int = 24,
                   tokenizer: Tokenizer | None = None) -> list[Neighbour]:
    """The ``n_neighbours`` text tokens closest to the token ``text`` by cosine, the token itself excluded.

    Special tokens (``<|endoftext|>`` and above) are never neighbours.
    """
    tokenizer = tokenizer or tokenizer_for(model)
    token = single_token(tokenizer, text)
    if token is None:
        raise ValueError(f"{text!r} is not a single token in this model's tokenizer: {tokenizer.encode(text)}")
    unit = unit_embeddings(model)
    cosines = unit[: tokenizer.eot] @ unit[token]  # [n_text_tokens]
    cosines[token] = -float("inf")
    values, ids = cosines.topk(n_neighbours)
    return [Neighbour(int(i), tokenizer.decode([int(i)]), float(v)) for v, i in zip(values, ids)]


def pair_cosines(model: Whisper, pairs: list[tuple[int, int]]) -> torch.Tensor:
    """Cosine between the embeddings of each ``(token_a, token_b)`` pair ``[n_pairs]``."""
    unit = unit_embeddings(model)
    a = torch.tensor([p[0] for p in pairs])
    b = torch.tensor([p[1] for p in pairs])
    return (unit[a] * unit[b]).sum(dim=1)
