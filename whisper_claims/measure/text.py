"""Comparing transcripts: word error rate and word recall after Whisper's English normalisation."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import jiwer
from whisper.normalizers import EnglishTextNormalizer


@lru_cache(maxsize=1)
def _normalizer() -> EnglishTextNormalizer:
    return EnglishTextNormalizer()


def normalize(text: str) -> str:
    """Whisper's ``EnglishTextNormalizer``; apply it once per text, it is not idempotent."""
    return " ".join(_normalizer()(text).split())


def _alignment(reference: str, hypothesis: str) -> tuple[int, jiwer.WordOutput | None]:
    ref, hyp = normalize(reference), normalize(hypothesis)
    n_ref = len(ref.split())
    if n_ref == 0:
        return 0, None
    return n_ref, jiwer.process_words(ref, hyp)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference``, both normalised once.

    An empty reference gives 0.0 when the hypothesis is empty too and NaN (undefined) otherwise;
    it never divides by zero.
    """
    n_ref, out = _alignment(reference, hypothesis)
    if out is None:
        return 0.0 if not normalize(hypothesis) else math.nan
    return (out.substitutions + out.deletions + out.insertions) / n_ref


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """``(substitutions + deletions + insertions, reference words)``, both texts normalised once; an empty
    reference counts every hypothesis word as an insertion (for WERs pooled over clips)."""
    n_ref, out = _alignment(reference, hypothesis)
    if out is None:
        return len(normalize(hypothesis).split()), 0
    return out.substitutions + out.deletions + out.insertions, n_ref


def word_recall(reference: str, hypothesis: str) -> float:
    """Share of the reference's words that the alignment finds in ``hypothesis`` (hits / len(reference)).

    An empty reference gives 1.0 when the hypothesis is empty too and NaN (undefined) otherwise.
    """
    n_ref, out = _alignment(reference, hypothesis)
    if out is None:
        return 1.0 if not normalize(hypothesis) else math.nan
    return out.hits / n_ref


@dataclass(frozen=True)
class WordEdits:
    """How a hypothesis differs from a reference, word by word (both already normalised and split)."""

    kept: tuple[bool, ...]  # per reference word: whether the alignment finds it, unchanged, in the hypothesis
    inserted: tuple[str, ...]  # hypothesis words that match no reference word (insertions and substitutes)


def word_edits(reference: list[str], hypothesis: list[str]) -> WordEdits:
    """The minimal-edit alignment of two word lists (jiwer's), as which reference words survive and
    which hypothesis words are new. Either list may be empty."""
    kept = [False] * len(reference)
    inserted: list[str] = []
    if not reference or not hypothesis:
        return WordEdits(kept=tuple(kept), inserted=tuple(hypothesis))
    for chunk in jiwer.process_words(" ".join(reference), " ".join(hypothesis)).alignments[0]:
        if chunk.type == "equal":
            kept[chunk.ref_start_idx:chunk.ref_end_idx] = [True] * (chunk.ref_end_idx - chunk.ref_start_idx)
        elif chunk.type in ("insert", "substitute"):
            inserted.extend(hypothesis[chunk.hyp_start_idx:chunk.hyp_end_idx])
    return WordEdits(kept=tuple(kept), inserted=tuple(inserted))


def word_matches(reference: list[str], hypothesis: list[str]) -> tuple[int | None, ...]:
    """Per reference word, the index of the hypothesis word the minimal-edit alignment (jiwer's) pairs
    it with unchanged, or None when the alignment deletes or substitutes it."""
    matches: list[int | None] = [None] * len(reference)
    if not reference or not hypothesis:
        return tuple(matches)
    for chunk in jiwer.process_words(" ".join(reference), " ".join(hypothesis)).alignments[0]:
        if chunk.type == "equal":
            for k in range(chunk.ref_end_idx - chunk.ref_start_idx):
                matches[chunk.ref_start_idx + k] = chunk.hyp_start_idx + k
    return tuple(matches)
