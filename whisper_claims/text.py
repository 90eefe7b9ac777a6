"""Comparing transcripts: word error rate and word recall after Whisper's English normalisation."""
from __future__ import annotations

import math
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


def word_recall(reference: str, hypothesis: str) -> float:
    """Share of the reference's words that the alignment finds in ``hypothesis`` (hits / len(reference)).

    An empty reference gives 1.0 when the hypothesis is empty too and NaN (undefined) otherwise.
    """
    n_ref, out = _alignment(reference, hypothesis)
    if out is None:
        return 1.0 if not normalize(hypothesis) else math.nan
    return out.hits / n_ref
