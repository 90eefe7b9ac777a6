"""Claims of the post's third section, "The decoder alone acts as a weak LM".

Each function takes the model and the claim's ``params`` from ``claims/thresholds.toml`` and returns a
``Measurement``; thresholds are applied by ``verdict.judge``, never here.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import mannwhitneyu
from whisper.model import Whisper

from .embeddings import nearest_tokens, pair_cosines, single_token
from .inference import tokenizer_for
from .verdict import Measurement


def dec_embed_sound(model: Whisper, *, neighbour_checks: list[dict], rhyme_pairs: list[list[str]],
                    figure_queries: list[str], n_neighbours: int = 24, min_pairs: int = 20) -> Measurement:
    """Token embeddings cluster by sound: ' rug' sits near lug, mug, tug; rhyming words are close.

    Parameters
    ----------
    neighbour_checks : list of dict
        ``{metric, query, expected, top}``: the metric counts how many of ``expected`` (compared after
        stripping, case kept) are among the ``top`` nearest tokens of ``query``.
    rhyme_pairs : list of [str, str]
        Words that rhyme; each is looked up with a leading space and must be one token. Pairs whose
        words are not single tokens are dropped (and listed in the evidence).
    figure_queries : list of str
        Tokens whose top ``n_neighbours`` are recorded as evidence, as in the post's figures.

    Metrics
    -------
    One per neighbour check, and ``rhyme_p_value``: one-sided Mann–Whitney U test that cosines of
    rhyming pairs exceed cosines of the same words paired across rhymes (word a of pair i with word
    b of pair j, i ≠ j), so that word frequency or part of speech cannot explain the difference.
    """
    tokenizer = tokenizer_for(model)
    metrics: dict[str, float] = {}
    evidence: dict = {"neighbours": {}}

    for check in neighbour_checks:
        top = nearest_tokens(model, check["query"], max(check["top"], n_neighbours), tokenizer)
        found = [n.text.strip() for n in top[: check["top"]]]
        metrics[check["metric"]] = float(sum(word in found for word in check["expected"]))
        evidence[check["metric"]] = {"query": check["query"], "expected": check["expected"],
                                     "top": check["top"], "found": found}

    for query in figure_queries:
        evidence["neighbours"][query] = [
            {"token": n.text, "cosine": round(n.cosine, 4)} for n in nearest_tokens(model, query, n_neighbours, tokenizer)
        ]

    ids, dropped = [], []
    for a, b in rhyme_pairs:
        pair = (single_token(tokenizer, " " + a), single_token(tokenizer, " " + b))
        (dropped if None in pair else ids).append(pair if None not in pair else f"{a}/{b}")
    if len(ids) < min_pairs:
        raise ValueError(f"only {len(ids)} rhyme pairs are single tokens in this tokenizer; need {min_pairs}")
    rhyme = pair_cosines(model, ids).numpy()
    crossed = pair_cosines(model, [(a, b) for i, (a, _) in enumerate(ids)
                                   for j, (_, b) in enumerate(ids) if i != j]).numpy()
    test = mannwhitneyu(rhyme, crossed, alternative="greater")
    metrics["rhyme_p_value"] = float(test.pvalue)
    evidence["rhyme"] = {
        "n_pairs": len(ids),
        "n_crossed_pairs": len(crossed),
        "dropped_pairs": dropped,
        "median_cosine_rhyming": float(np.median(rhyme)),
        "median_cosine_crossed": float(np.median(crossed)),
        "auc": float(test.statistic / (len(rhyme) * len(crossed))),
    }
    return Measurement(metrics, evidence)
