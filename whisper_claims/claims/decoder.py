"""Claims of the post's third section, "The decoder alone acts as a weak LM".

Each function takes the model and the claim's ``params`` from ``claims/thresholds.toml`` and returns a
``Measurement``; thresholds are applied by ``verdict.judge``, never here.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence, TypedDict

import numpy as np
import torch
from scipy.stats import mannwhitneyu
from whisper.model import Whisper
from whisper.tokenizer import Tokenizer

from .. import progress
from ..errors import MethodInvalid
from ..measure import decoder_neurons
from ..measure.decoder_neurons import neuron_module, rank_neurons, token_activations, top_positions
from ..measure.embeddings import (cross_cosines, nearest_tokens, pairing_auc_difference, pairing_auc_interval, pairing_test, single_token,
                                  trained_rows)
from ..measure.inference import encode, next_token_logits, padding_features, tokenizer_for, transcribe_batch
from ..measure.intervals import Interval, bootstrap, clopper_pearson, less, wilson
from ..measure.memo import per_model
from ..stimuli.audio import SAMPLE_RATE, log_mel, window_samples
from ..stimuli.decoder_corpus import DEFAULT_CORPUS, context, load_corpus, normalize_word, tokenize
from ..stimuli.speech_corpus import SPEECH_FOLDERS, transcribed_recordings
from .verdict import Measurement


class NeighbourCheck(TypedDict):
    """One of dec-embed-sound's ``neighbour_checks``: how many of ``expected`` are among the ``top`` nearest
    tokens of ``query``, as ``metric``."""

    metric: str
    query: str
    expected: list[str]
    top: int


class Prompt(TypedDict):
    """One of dec-bigram's ``prompts``: how many of ``expected`` follow ``prompt``, as ``metric``."""

    metric: str
    prompt: str
    expected: list[str]


class Continuation(TypedDict):
    """A prompt and its continuations, judged in aggregate (dec-bigram-general) or only recorded."""

    prompt: str
    expected: list[str]

def _word_pairs(tokenizer: Tokenizer, known: torch.Tensor,
                pairs: Sequence[Sequence[str]]) -> tuple[list[tuple[int, int]], list[str], list[str]]:
    """Token ids of the word pairs whose words (with a leading space) are single tokens with trained
    rows; and the pairs dropped as not single tokens, and as zero rows (``a/b``)."""
    ids, dropped, untrained = [], [], []
    for a, b in pairs:
        pair = (single_token(tokenizer, " " + a), single_token(tokenizer, " " + b))
        if None in pair:
            dropped.append(f"{a}/{b}")
        elif not (known[pair[0]] and known[pair[1]]):
            untrained.append(f"{a}/{b}")  # a zero row: a word the model never learnt
        else:
            ids.append(pair)
    return ids, dropped, untrained


def dec_embed_sound(model: Whisper, *, neighbour_checks: list[NeighbourCheck], rhyme_pairs: list[list[str]],
                    figure_queries: list[str], n_neighbours: int = 24, min_pairs: int = 20,
                    centred: bool = True, eye_rhyme_pairs: Sequence[Sequence[str]] = (),
                    n_permutations: int = 2000) -> Measurement:
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
    centred : bool
        Cosines of the rows minus the mean text-token row (``embeddings.unit_embeddings``), the method
        the metrics use; the evidence has every number both ways (``raw`` and ``centred``).
    eye_rhyme_pairs : list of [str, str]
        The spelling control: words spelled alike at the end that do not rhyme (good/food), tested as
        the rhyme pairs are; eye-rhymes as close as rhymes would say spelling, not sound, explains it.
    n_permutations : int
        Permutations of the pairing test (``embeddings.pairing_test``, seed 0).

    Metrics
    -------
    One per neighbour check, and ``rhyme_p_value``: permutation p (``embeddings.pairing_test``) that
    rhyming pairs' cosines exceed those of the same words paired across rhymes (word a of pair i with
    word b of pair j, i ≠ j), so that word frequency or part of speech cannot explain the difference; the
    statistic is the Mann–Whitney AUC of the rhyming against the crossed cosines, the null deals the
    second words to the first words at random, so that each word's reuse across crossed pairs is kept.
    Its interval is the Monte Carlo one of a p from ``n_permutations`` draws (Clopper–Pearson on the
    count reaching the observed AUC, plus one). The Mann–Whitney p, which takes the crossed pairs as
    independent, is kept in the evidence. ``margin_over_eye_rhymes``: the rhymes' AUC over their crossed
    pairs less the eye-rhymes' over theirs (pairs spelled alike, said differently: good/food), with a
    bootstrap interval that resamples the pairs of each set. With fewer than 3 usable eye-rhyme pairs
    the control cannot be built and the claim gets no verdict (``MethodInvalid``, the rhyme p in its
    message).
    """
    tokenizer = tokenizer_for(model)
    methods = {"centred": True, "raw": False}
    chosen = "centred" if centred else "raw"
    metrics: dict[str, float] = {}
    weight = model.decoder.token_embedding.weight.detach().float()[: tokenizer.eot]
    evidence: dict = {
        "method": chosen,
        # why raw cosines are all about 0.9: every row carries the same large component
        "mean_text_row_norm": round(float(weight.mean(dim=0).norm()), 4),
        "mean_row_norm": round(float(weight.norm(dim=1).mean()), 4),
        "neighbours": {name: {} for name in methods},
    }

    for check in neighbour_checks:
        top = nearest_tokens(model, check["query"], max(check["top"], n_neighbours), tokenizer, centred)
        found = [n.text.strip() for n in top[: check["top"]]]
        metrics[check["metric"]] = float(sum(word in found for word in check["expected"]))
        evidence[check["metric"]] = {"query": check["query"], "expected": check["expected"],
                                     "top": check["top"], "found": found}

    for name, centre in methods.items():
        for query in figure_queries:
            evidence["neighbours"][name][query] = [
                {"token": n.text, "cosine": round(n.cosine, 4)}
                for n in nearest_tokens(model, query, n_neighbours, tokenizer, centre)]

    known = trained_rows(model)
    ids, dropped, untrained = _word_pairs(tokenizer, known, rhyme_pairs)
    if len(ids) < min_pairs:
        raise ValueError(f"only {len(ids)} rhyme pairs are single tokens with trained embeddings in this model "
                         f"(not single tokens: {len(dropped)}, zero rows: {len(untrained)}); need {min_pairs}")
    n = len(ids)
    evidence["rhyme"] = {"n_pairs": n, "n_crossed_pairs": n * (n - 1), "dropped_pairs": dropped,
                         "untrained_pairs": untrained, "n_permutations": n_permutations, "seed": 0,
                         "p_resolution": 1 / (1 + n_permutations)}
    rhyme_cosines = {}
    for name, centre in methods.items():
        cosines = cross_cosines(model, ids, centre, tokenizer.eot)
        rhyme_cosines[name] = np.diag(cosines)
        crossed = cosines[~np.eye(n, dtype=bool)]
        test = pairing_test(cosines, n_permutations, seed=0)
        evidence["rhyme"][name] = {
            # the method fix of #30: the permutation p; the rank test's, which takes the 1,560 crossed
            # pairs of 80 words as independent, beside it
            "p_value": test.p_value,
            "n_exceeding": test.n_exceeding,
            "mann_whitney_p": float(mannwhitneyu(rhyme_cosines[name], crossed, alternative="greater").pvalue),
            "median_cosine_rhyming": float(np.median(rhyme_cosines[name])),
            "median_cosine_crossed": float(np.median(crossed)),
            "auc": test.auc,
            "auc_interval": pairing_auc_interval(cosines, seed=0).to_json(),
            "null_auc": test.null_quantiles,
        }
    evidence["eye_rhyme"] = _eye_rhymes(model, tokenizer, known, eye_rhyme_pairs, rhyme_cosines, n_permutations)
    metrics["rhyme_p_value"] = evidence["rhyme"][chosen]["p_value"]
    # the p's own Monte Carlo error: its count of permutations reaching the AUC, plus one, of n + 1
    intervals = {"rhyme_p_value": clopper_pearson(1 + evidence["rhyme"][chosen]["n_exceeding"], 1 + n_permutations)}
    # the spelling null: rhymes must stand out from their crossed pairs more than eye-rhymes do from theirs
    eye_ids, _, _ = _word_pairs(tokenizer, known, eye_rhyme_pairs)
    if len(eye_ids) >= 3:
        margin, interval = pairing_auc_difference(cross_cosines(model, ids, centred, tokenizer.eot),
                                                  cross_cosines(model, eye_ids, centred, tokenizer.eot), seed=0)
        metrics["margin_over_eye_rhymes"], intervals["margin_over_eye_rhymes"] = margin, interval
    else:
        # no spelling control, no verdict: sound and spelling cannot be told apart (micro knows few of the words)
        eye = evidence["eye_rhyme"]
        raise MethodInvalid(
            f"the eye-rhyme control needs 3 eye-rhyme pairs of single tokens with trained embeddings; this model "
            f"has {len(eye_ids)} of {len(eye_rhyme_pairs)} (not single tokens: {len(eye['dropped_pairs'])}, "
            f"zero rows: {len(eye['untrained_pairs'])}), so spelling cannot be ruled out. Measured without it: "
            f"rhyme_p_value {metrics['rhyme_p_value']:.3g} (AUC {evidence['rhyme'][chosen]['auc']:.3f} over "
            f"{n} rhyme pairs, {chosen} cosines)")
    return Measurement(metrics, evidence, artifacts={"embedding_neighbours": evidence["neighbours"][chosen]},
                       intervals=intervals)


def _eye_rhymes(model: Whisper, tokenizer: Tokenizer, known: torch.Tensor, pairs: Sequence[Sequence[str]],
                rhyme_cosines: dict[str, np.ndarray], n_permutations: int) -> dict:
    """dec-embed-sound's spelling control: the eye-rhyme pairs tested as the rhymes are, and how often a
    rhyming pair is closer than an eye-rhyming one."""
    ids, dropped, untrained = _word_pairs(tokenizer, known, pairs)
    found: dict = {"pairs": [f"{a}/{b}" for a, b in pairs], "n_pairs": len(ids), "dropped_pairs": dropped,
                   "untrained_pairs": untrained}
    if len(ids) < 3:  # fewer pairs have too few pairings to permute
        found["note"] = f"{len(ids)} usable eye-rhyme pairs: not tested (need 3)"
        return found
    for name, centre in {"centred": True, "raw": False}.items():
        cosines = cross_cosines(model, ids, centre, tokenizer.eot)
        eye = np.diag(cosines)
        test = pairing_test(cosines, n_permutations, seed=0)
        versus = mannwhitneyu(rhyme_cosines[name], eye)
        found[name] = {
            "p_value": test.p_value, "auc": test.auc,
            "median_cosine_eye_rhyming": float(np.median(eye)),
            "median_cosine_crossed": float(np.median(cosines[~np.eye(len(ids), dtype=bool)])),
            # 0.5: rhymes no closer than eye-rhymes, so spelling could explain the closeness
            "auc_rhymes_over_eye_rhymes": float(versus.statistic / (len(eye) * len(rhyme_cosines[name]))),
        }
    return found


# -- dec-embed-semantic ------------------------------------------------------------------------------


def dec_embed_semantic(model: Whisper, *, semantic_pairs: list[list[str]], min_pairs: int = 20,
                       centred: bool = True, n_permutations: int = 2000) -> Measurement:
    """Token embeddings cluster by meaning too: synonyms and members of one category are close.

    The semantic half of dec-embed-sound's rhyme test, on a list of pairs written for the project (the
    post's own ' UK' and ' duck' neighbour lists stay tiny-only, in dec-embed-sound).

    Parameters
    ----------
    semantic_pairs : list of [str, str]
        Semantically related words (synonyms, category members); each is looked up with a leading space
        and must be one token with a trained row. Pairs that are not are dropped (and listed).
    min_pairs : int
        Fewer usable pairs than this is an error.
    centred : bool
        Cosines of the rows minus the mean text-token row, as dec-embed-sound's metrics; the evidence has
        both (``raw`` and ``centred``).
    n_permutations : int
        Permutations of the pairing test (``embeddings.pairing_test``, seed 0).

    Metrics
    -------
    ``semantic_p_value``: permutation p (``embeddings.pairing_test``) that the related pairs' cosines
    exceed those of the same words paired across pairs (word a of pair i with word b of pair j, i ≠ j):
    the statistic is the Mann–Whitney AUC of the related against the crossed cosines, and the null deals
    the second words to the first words at random, so it is the same words paired at random; word
    frequency or part of speech cannot explain a difference. Its interval is the Monte Carlo one of a p
    from ``n_permutations`` draws (Clopper–Pearson on the count reaching the observed AUC, plus one). The
    evidence has the AUC with a bootstrap interval over pairs, the Mann–Whitney p, and every pair's cosine.
    """
    tokenizer = tokenizer_for(model)
    methods = {"centred": True, "raw": False}
    chosen = "centred" if centred else "raw"
    ids, dropped, untrained = _word_pairs(tokenizer, trained_rows(model), semantic_pairs)
    if len(ids) < min_pairs:
        raise ValueError(f"only {len(ids)} semantic pairs are single tokens with trained embeddings in this model "
                         f"(not single tokens: {len(dropped)}, zero rows: {len(untrained)}); need {min_pairs} "
                         f"(min_pairs)")
    n = len(ids)
    names = [f"{a}/{b}" for a, b in semantic_pairs if f"{a}/{b}" not in dropped + untrained]
    evidence: dict = {"method": chosen, "n_pairs": n, "n_crossed_pairs": n * (n - 1), "dropped_pairs": dropped,
                      "untrained_pairs": untrained, "n_permutations": n_permutations, "seed": 0,
                      "p_resolution": 1 / (1 + n_permutations)}
    for name, centre in methods.items():
        cosines = cross_cosines(model, ids, centre, tokenizer.eot)
        paired = np.diag(cosines)
        crossed = cosines[~np.eye(n, dtype=bool)]
        test = pairing_test(cosines, n_permutations, seed=0)
        evidence[name] = {
            "p_value": test.p_value,
            "n_exceeding": test.n_exceeding,
            # takes the crossed pairs as independent although each word is in n - 1 of them: evidence only
            "mann_whitney_p": float(mannwhitneyu(paired, crossed, alternative="greater").pvalue),
            "median_cosine_related": float(np.median(paired)),
            "median_cosine_crossed": float(np.median(crossed)),
            "auc": test.auc,
            "auc_interval": pairing_auc_interval(cosines, seed=0).to_json(),
            "null_auc": test.null_quantiles,
            "pair_cosines": {pair: round(float(c), 4) for pair, c in zip(names, paired)},
        }
    metrics = {"semantic_p_value": evidence[chosen]["p_value"]}
    # the p's own Monte Carlo error: its count of permutations reaching the AUC, plus one, of n + 1
    intervals = {"semantic_p_value": clopper_pearson(1 + evidence[chosen]["n_exceeding"], 1 + n_permutations)}
    return Measurement(metrics, evidence, intervals=intervals)


# -- dec-bigram -----------------------------------------------------------------------------------------


def bigram_prompt(tokenizer: Tokenizer, text: str) -> list[int]:
    """The post's prompt: the tokenizer's start sequence, then the single token ``text``.

    The start sequence is ``<|startoftranscript|><|en|><|transcribe|>`` for multilingual models and
    ``<|startoftranscript|>`` alone for English-only ones, which have no language or task tokens.
    """
    token = single_token(tokenizer, text)
    if token is None:
        raise ValueError(f"prompt {text!r} is not a single token in this tokenizer: {tokenizer.encode(text)}")
    return [*tokenizer.sot_sequence, token]


def top_text_tokens(logits: torch.Tensor, tokenizer: Tokenizer, n: int) -> list[tuple[int, str, float]]:
    """``(token id, decoded text, logit)`` of the ``n`` text tokens (ids below ``<|endoftext|>``) with the
    highest logits, highest first."""
    values, ids = logits[: tokenizer.eot].float().topk(n)
    return [(int(i), tokenizer.decode([int(i)]), float(v)) for v, i in zip(values, ids)]


def jaccard(a: Sequence[int], b: Sequence[int]) -> float:
    """|A ∩ B| / |A ∪ B| of two token lists taken as sets."""
    a, b = set(a), set(b)
    return len(a & b) / len(a | b) if a | b else 1.0


def _first_token_distribution(model: Whisper, features: torch.Tensor, tokenizer: Tokenizer,
                              prompt: list[int], n: int) -> dict:
    logits = next_token_logits(model, features, prompt).float()
    probabilities = logits.softmax(-1)
    top = top_text_tokens(logits, tokenizer, n)
    return {
        "prompt_tokens": prompt,
        "top": [{"token": text, "logit": round(logit, 4), "probability": round(float(probabilities[i]), 6)}
                for i, text, logit in top],
        # how much of the next-token probability goes to text at all (the rest: timestamps, specials)
        "text_probability": round(float(probabilities[: tokenizer.eot].sum()), 6),
        "top_ids": [i for i, _, _ in top],
    }


def dec_bigram(model: Whisper, *, prompts: list[Prompt], evidence_prompts: Sequence[Continuation] = (),
               top: int = 20) -> Measurement:
    """With padding-only audio the decoder falls back on bigrams: ' very' → much, well, good.

    The encoder sees 30 s of zero samples (``padding_features``); the decoder gets the post's prompt
    (``bigram_prompt``) and the logits at its last position, text tokens only, give the top ``top``
    tokens, compared after stripping (case kept).

    Parameters
    ----------
    prompts : list of dict
        ``{metric, prompt, expected}``: the metric counts how many of ``expected`` are among the stripped
        top tokens after the single token ``prompt``.
    evidence_prompts : list of dict
        ``{prompt, expected}``: recorded (and drawn) the same way, never judged (the post's 'Sun').

    Metrics
    -------
    One per prompt, and ``max_unprompted_jaccard``: the largest Jaccard overlap, over the judged
    prompts, between a prompt's top token ids and those after the start sequence alone. A decoder that
    ignored the prompt and only answered from a fixed prior would give 1.
    """
    tokenizer = tokenizer_for(model)
    features = padding_features(model)
    unprompted = _first_token_distribution(model, features, tokenizer, list(tokenizer.sot_sequence), top)
    metrics: dict[str, float] = {}
    evidence: dict = {
        "audio": "padding: 30 s of zero samples",
        "unprompted": unprompted,
        # what transcription itself starts from (DECODING: no timestamps): Whisper's " you" on silence
        "unprompted_no_timestamps": _first_token_distribution(
            model, features, tokenizer, list(tokenizer.sot_sequence_including_notimestamps), top),
        "prompts": {},
    }
    tops: dict[str, list[int]] = {}
    for entry in [*prompts, *evidence_prompts]:
        prompt = bigram_prompt(tokenizer, entry["prompt"])
        found_top = top_text_tokens(next_token_logits(model, features, prompt), tokenizer, top)
        stripped = [text.strip() for _, text, _ in found_top]
        found = [word for word in entry["expected"] if word in stripped]
        ids = [i for i, _, _ in found_top]
        tops[entry["prompt"]] = ids
        evidence["prompts"][entry["prompt"]] = {
            "judged": "metric" in entry,
            "prompt_tokens": prompt,
            "expected": list(entry["expected"]),
            "found": found,
            "top": [{"token": text, "logit": round(logit, 4)} for _, text, logit in found_top],
            "jaccard_with_unprompted": round(jaccard(ids, unprompted["top_ids"]), 4),
        }
        if "metric" in entry:
            metrics[entry["metric"]] = float(len(found))
    judged = [entry["prompt"] for entry in prompts]
    metrics["max_unprompted_jaccard"] = max(jaccard(tops[p], unprompted["top_ids"]) for p in judged)
    evidence["pairwise_jaccard"] = {f"{a!r} / {b!r}": round(jaccard(tops[a], tops[b]), 4)
                                    for i, a in enumerate(judged) for b in judged[i + 1:]}
    artifacts = {"top_logits": {p: e["top"] for p, e in evidence["prompts"].items()}}
    return Measurement(metrics, evidence, artifacts)


def dec_bigram_general(model: Whisper, *, pairs: list[Continuation], top: int = 20,
                       min_pairs: int = 40) -> Measurement:
    """With padding-only audio the decoder continues fixed expressions: ' United' → States, ' thank' → you.

    The general form of the post's bigram claim, for every size: for each pair's single-token ``prompt``
    (``bigram_prompt``, on ``padding_features``), whether the first token of one of its ``expected``
    continuations (each with a leading space) is among the ``top`` text tokens; and, as the baseline,
    how often those same continuations are among the top tokens after the *other* prompts.

    Parameters
    ----------
    pairs : list of dict
        ``{prompt, expected}``; prompts that are not one token in this tokenizer are dropped (and listed).
    min_pairs : int
        Fewer usable pairs is an error: the share would rest on too few prompts.

    Metrics
    -------
    ``continuation_share``: the share of prompts followed by one of their continuations (Wilson interval
    over the prompts).
    ``lift_over_other_prompts``: that share minus the baseline share, so that a decoder which ranks the
    same common words high after any prompt (a prior, not a bigram) does not pass; the mean over prompts
    of (followed − rate after the other prompts), with a bootstrap interval over the prompts.
    """
    tokenizer = tokenizer_for(model)
    features = padding_features(model)
    usable, dropped = [], []
    for entry in pairs:
        token = single_token(tokenizer, entry["prompt"])
        if token is None:
            dropped.append(entry["prompt"])
            continue
        continuations = sorted({tokenizer.encode(" " + word)[0] for word in entry["expected"]})
        usable.append((entry, [*tokenizer.sot_sequence, token], continuations))
    if len(usable) < min_pairs:
        raise ValueError(f"only {len(usable)} of {len(pairs)} prompts are single tokens in this tokenizer "
                         f"(dropped: {dropped}); need {min_pairs}")
    ranked = []  # each prompt's top text token ids, highest logit first
    for done, (_, prompt, _) in enumerate(usable, start=1):
        ranked.append([i for i, _, _ in top_text_tokens(next_token_logits(model, features, prompt), tokenizer, top)])
        progress.report("bigram prompts", done, len(usable))
    tops = [set(ids) for ids in ranked]
    hits = [bool(tops[i] & set(c)) for i, (_, _, c) in enumerate(usable)]
    elsewhere = [np.mean([bool(tops[j] & set(c)) for j in range(len(usable)) if j != i])
                 for i, (_, _, c) in enumerate(usable)]
    share, baseline = float(np.mean(hits)), float(np.mean(elsewhere))
    evidence = {
        "audio": "padding: 30 s of zero samples",
        "n_pairs": len(usable),
        "dropped_prompts": dropped,
        "baseline_share": round(baseline, 4),
        "pairs": [{"prompt": entry["prompt"], "expected": list(entry["expected"]), "followed": hit,
                   "rate_after_other_prompts": round(float(rate), 4),
                   "top": [tokenizer.decode([i]) for i in ids]}
                  for (entry, _, _), hit, rate, ids in zip(usable, hits, elsewhere, ranked)],
        "missed": [entry["prompt"] for (entry, _, _), hit in zip(usable, hits) if not hit],
    }
    # the prompt is the sampling unit: each one's hit, and its own lift over the other prompts
    intervals = {"continuation_share": wilson(int(sum(hits)), len(hits)),
                 "lift_over_other_prompts": bootstrap([float(h) - r for h, r in zip(hits, elsewhere)], np.mean,
                                                      seed=0)}
    return Measurement({"continuation_share": share, "lift_over_other_prompts": share - baseline}, evidence,
                       intervals=intervals)


# -- dec-neuron-semantic ----------------------------------------------------------------------------------

# ``speech(text)``: a 16 kHz mono float32 waveform of ``text`` said aloud, at most 30 s long
Speech = Callable[[str], np.ndarray]


def _padding_activations(model: Whisper, sequences: list[tuple[int, ...]], skip: int, layer: int,
                         key: tuple) -> np.ndarray:
    """Every sequence decoded against padding features; computed once per model, layer and corpus ``key``."""
    return per_model(model, ("decoder_neurons", "padding", layer, key),
                     lambda: token_activations(model, sequences, padding_features(model), layer=layer, skip=skip,
                                               batch_size=128))


def _speech_activations(model: Whisper, sentences: Sequence[str], sequences: list[tuple[int, ...]], skip: int,
                        layer: int, speech: Speech, chunk: int = 16) -> np.ndarray:
    """Each sentence decoded against the encoder output of its own audio, ``chunk`` sentences at a time."""
    rows = []
    for start in range(0, len(sentences), chunk):
        texts = sentences[start: start + chunk]
        mels = torch.cat([log_mel(speech(text), model, source=f"speech for {text!r}") for text in texts])
        features = encode(model, mels)
        rows.append(token_activations(model, sequences[start: start + chunk], features, layer=layer, skip=skip))
    return np.concatenate(rows, axis=0)


def _examples(acts: np.ndarray, table, sentences: Sequence[str], tokenizer: Tokenizer, in_category: np.ndarray,
              neuron: int, top: int) -> list[dict]:
    out = []
    for position in top_positions(acts, table.tokens, in_category, neuron, top):
        s, w = int(table.sentence[position]), int(table.word[position])
        out.append({"token": tokenizer.decode([int(table.tokens[position])]),
                    "word": sentences[s].split()[w],
                    "context": context(sentences, s, w),
                    "activation": round(float(acts[position, neuron]), 4),
                    "in_category": bool(in_category[position])})
    return out


def dec_neuron_semantic(model: Whisper, *, corpus: str = DEFAULT_CORPUS, layer: int = 0, top: int = 20,
                        expected_neurons: dict[str, int] | None = None, speech: Speech | None = None,
                        shuffles: int = 100, random_directions: int | None = None) -> Measurement:
    """First-layer decoder neurons are semantic: for food, numbers and motion verbs, some neuron's
    highest-activating tokens are mostly words of that category.

    Every sentence of the corpus (``decoder_corpus.load_corpus``) is teacher-forced after the start
    sequence and ``<|notimestamps|>``; ``decoder.blocks.{layer}.mlp.1`` (post-GELU neurons) is read at
    every text token. Neurons are ranked per category by ``decoder_neurons.rank_neurons``: the share of
    in-category token types among a neuron's ``top`` highest-activating types.

    Parameters
    ----------
    corpus : str or path
        A corpus data file (a name under ``whisper_claims/data/`` or a path).
    expected_neurons : dict, optional
        ``{category: neuron}``: the post's neuron for each category (tiny's 10, 12, 14).
    speech : callable, optional
        ``speech(text) -> np.ndarray``, a 16 kHz mono float32 waveform of the sentence (≤ 30 s). Every
        sentence is then also decoded against its own audio, and each metric takes the worse of the two
        conditions. Without it only padding audio (30 s of zero samples) is used. Costs one encoder
        pass per sentence.
    shuffles : int
        Label-shuffle null: the best share over all neurons after moving the category labels to other
        token ids at random (``decoder_neurons.shuffled_labels``), seeds 0 … shuffles − 1; at least 1.
    random_directions : int, optional
        Direction null: that many random unit directions of the layer's neuron space
        (``decoder_neurons.random_directions``, seed 0), each scored like a neuron on the activations
        projected onto it (standardised per neuron first: ``decoder_neurons.project``), the best share
        taken as for the neurons. Default: as many as the layer has
        neurons, since the real score is the best of all of them.

    Metrics
    -------
    ``<category>_best_share``: the best neuron's share (the lowest over audio conditions), with a
    Clopper–Pearson interval on its k of ``top`` token types;
    ``<category>_margin_over_shuffled_labels``: that share minus the 95th percentile of the shuffles'
    best shares (the permutation p, resolution 1 / (1 + shuffles), is in the evidence);
    ``<category>_margin_over_random_directions``: that share minus the best random direction's share
    (both margins the lowest over audio conditions, each with the share's Clopper–Pearson interval less
    its null, the null taken as measured: ``intervals.less``);
    ``neuron<n>_<category>_rank``: rank of neuron n for its category, 1 = best (the highest over
    audio conditions).
    """
    expected_neurons = dict(expected_neurons or {})
    data = load_corpus(corpus)
    unknown = sorted(set(expected_neurons) - set(data.categories))
    if unknown:
        raise ValueError(f"expected_neurons names unknown categories {unknown}; "
                         f"categories are {sorted(data.categories)}")
    n_neurons = model.decoder.blocks[layer].mlp[0].out_features
    outside = {c: n for c, n in expected_neurons.items() if not 0 <= n < n_neurons}
    if outside:
        raise ValueError(f"expected_neurons {outside}: {neuron_module(layer)} has neurons 0 to {n_neurons - 1}")
    tokenizer = tokenizer_for(model)
    table = tokenize(tokenizer, data.sentences, data.categories)
    sequences = [table.prefix + tokens for tokens in table.sentence_tokens]
    skip = len(table.prefix)

    conditions = {"padding": _padding_activations(model, sequences, skip, layer, (data.sha256, tuple(table.prefix)))}
    if speech is not None:
        conditions["speech"] = _speech_activations(model, data.sentences, sequences, skip, layer, speech)

    metrics: dict[str, float] = {}
    evidence: dict = {
        "module": neuron_module(layer),
        "corpus": {"name": data.name, "sha256": data.sha256, "sentences": len(data.sentences),
                   "words": len(data.words), "token_positions": len(table), "sources": data.sources,
                   "category_words": {c: len(w) for c, w in data.categories.items()},
                   "examples": list(data.sentences[:: max(1, len(data.sentences) // 8)])},
        "conditions": list(conditions),
        "speech": "matching speech from the given synthesizer" if speech else "not given: padding audio only",
        "top": top,
    }
    n_directions = n_neurons if random_directions is None else random_directions
    directions = decoder_neurons.random_directions(n_neurons, n_directions, seed=0)
    projected = {condition: decoder_neurons.project(acts, directions) for condition, acts in conditions.items()}
    evidence["random_directions"] = {"n_directions": n_directions, "seed": 0,
                                     "method": "Gaussian, normalised to unit length, of the activations "
                                               "standardised per neuron"}
    intervals: dict[str, Interval] = {}
    for category in data.categories:
        labels = table.labels[category]
        shares, ranks, per_condition = [], [], {}
        over_shuffles, over_directions = [], []  # (margin, its interval) per condition
        for condition, acts in conditions.items():
            ranking = rank_neurons(acts, table.tokens, labels, top)
            best = ranking.best
            share = float(ranking.share[best])
            nulls = decoder_neurons.category_nulls(acts, projected[condition], table.tokens, labels, top, shuffles)
            record = {
                "best_neuron": best,
                "share": share,
                "share_k": int(round(share * top)),
                "auroc": round(float(ranking.auroc[best]), 4),
                "base_rate_types": round(ranking.base_rate, 4),
                "base_rate_positions": round(ranking.base_rate_positions, 4),
                "enrichment": round(share / ranking.base_rate, 3),
                "n_types": ranking.n_types,
                "shuffled_labels": {
                    "n_shuffles": shuffles, "seeds": f"0-{shuffles - 1}",
                    "best_shares": [round(float(c), 4) for c in nulls.shuffled],
                    "quantile_95": round(nulls.shuffled_95, 4),
                    # the best neuron's share is itself a maximum over neurons: so is each shuffle's
                    "p_value": nulls.p_value,
                    "p_resolution": 1 / (1 + shuffles),
                },
                "random_directions_best_share": nulls.direction_share,
                "best_neurons": [{"neuron": int(n), "share": float(ranking.share[n]),
                                  "auroc": round(float(ranking.auroc[n]), 4)} for n in ranking.order[:5]],
                "top_tokens": _examples(acts, table, data.sentences, tokenizer, labels, best, top),
            }
            shares.append(share)
            # the share's uncertainty is its k of `top` types; the nulls, measured once, are references
            share_interval = clopper_pearson(int(round(share * top)), top)
            over_shuffles.append((nulls.margin_over_shuffled_labels, less(share_interval, nulls.shuffled_95)))
            over_directions.append((nulls.margin_over_random_directions, less(share_interval, nulls.direction_share)))
            if category in expected_neurons:
                neuron = expected_neurons[category]
                ranks.append(ranking.rank(neuron))
                record["expected_neuron"] = {
                    "neuron": neuron, "rank": ranking.rank(neuron), "share": float(ranking.share[neuron]),
                    "top_tokens": _examples(acts, table, data.sentences, tokenizer, labels, neuron, top)}
            per_condition[condition] = record
        worst = int(np.argmin(shares))
        metrics[f"{category}_best_share"] = shares[worst]
        # the top types are the trials of the share: k of `top` (one neuron's list; no other sampling unit)
        intervals[f"{category}_best_share"] = clopper_pearson(int(round(shares[worst] * top)), top)
        for null, margins in (("shuffled_labels", over_shuffles), ("random_directions", over_directions)):
            name = f"{category}_margin_over_{null}"
            metrics[name], intervals[name] = min(margins, key=lambda margin: margin[0])
        if category in expected_neurons:
            metrics[f"neuron{expected_neurons[category]}_{category}_rank"] = float(max(ranks))
        evidence[category] = per_condition
    return Measurement(metrics, evidence, intervals=intervals)


# a category with too few words in the judged transcripts: the range its metrics can take, and why
UNBOUNDED = {"auroc_real": (0.0, 1.0), "margin_over_random_direction_real": (-1.0, 1.0)}
NO_BOUND = "none: fewer distinct category words than min_category_words, the metric's whole range"


def written_form(text: str) -> str:
    """A transcript as Whisper writes one: a word tier's ``"BOBBY RIPPED THE LEDGER"`` or ``"printing in the
    only sense"`` as a sentence (all-capitals lowered, the first letter capitalised, a final period when it
    ends without punctuation); TIMIT's written sentences unchanged."""
    text = " ".join(text.split())
    if text.isupper():
        text = text.lower()
    if text and text[0].islower():
        text = text[0].upper() + text[1:]
    if text and text[-1] not in ".?!":
        text += "."
    return text


def dec_neuron_semantic_real(model: Whisper, *, corpus: str = DEFAULT_CORPUS, layer: int = 0, top: int = 20,
                             folders: Sequence[str] = SPEECH_FOLDERS, min_category_words: int = 3,
                             random_directions: int | None = None, chunk: int = 16) -> Measurement:
    """The semantic first-layer neurons on real transcribed speech: the neuron that dec-neuron-semantic finds
    best for a category on its written corpus (padding audio) still prefers that category's words when real
    recordings are teacher-forced with their own audio.

    The neuron is chosen on the written corpus and tested on real speech, which it never saw: the real
    transcripts hold too few category words (a handful of types each) to choose a neuron on them, and a
    held-out test needs none. On real speech each token type's largest activation (``decoder_neurons.
    type_maxima``) ranks the category's types against all others: the AUROC, and its interval from
    resampling the category's words (``decoder_neurons.placements``, clustered by word: the few category
    words are the sampling unit, the thousands of other types are not). The null is the random direction
    of the layer's neuron space chosen the same way (the best of as many random directions as the layer has
    neurons on the written corpus, as in dec-neuron-semantic), tested on the same real types.

    Two texts are teacher-forced with each recording: the model's own greedy transcript, which the metrics
    judge, as the post's examples are the model's transcripts ("Amen Perth"); and the reference transcript
    (``written_form``), in the evidence. They differ where it matters: references spell numbers out
    ("fourteen sixty two"), Whisper writes digits ("1462").

    Parameters
    ----------
    corpus : str or path
        dec-neuron-semantic's written corpus and its categories.
    folders : sequence of str
        Asset folders whose aligned recordings with written words (``speech_corpus.transcribed_recordings``)
        are used, whole; those longer than the model's window (micro's 10 s) are left out and listed.
    min_category_words : int
        Fewer distinct words of a category in the model's transcripts: the data cannot decide; its metrics are
        NaN with an interval as wide as their range (`UNBOUNDED`), so the claim is at best inconclusive.
    random_directions : int, optional
        As in dec-neuron-semantic; default as many as the layer has neurons.
    chunk : int
        Recordings encoded at a time.

    Metrics
    -------
    ``<category>_auroc_real``: on the model's transcripts, the written corpus' best neuron's AUROC, with its
    interval; ``<category>_margin_over_random_direction_real``: that AUROC less the written corpus' best
    random direction's on the same types, with a paired interval.
    """
    if isinstance(min_category_words, bool) or not isinstance(min_category_words, int) or min_category_words < 2:
        raise ValueError(f"min_category_words = {min_category_words!r}: expected a whole number >= 2 "
                         "(an interval needs two words)")
    data = load_corpus(corpus)
    tokenizer = tokenizer_for(model)
    n_neurons = model.decoder.blocks[layer].mlp[0].out_features
    written = tokenize(tokenizer, data.sentences, data.categories)
    skip = len(written.prefix)
    written_acts = _padding_activations(model, [written.prefix + t for t in written.sentence_tokens], skip, layer,
                                        (data.sha256, tuple(written.prefix)))
    n_directions = n_neurons if random_directions is None else random_directions
    directions = decoder_neurons.random_directions(n_neurons, n_directions, seed=0)
    written_projected = decoder_neurons.project(written_acts, directions)

    recordings, without = transcribed_recordings(tuple(folders))
    window = window_samples(model)
    too_long = [r.name for r in recordings if len(r.audio) > window]  # never cut: its words would not match
    recordings = [r for r in recordings if len(r.audio) <= window]
    if not recordings:
        raise MethodInvalid(f"no recording of {list(folders)} has its words written beside it and fits the "
                            f"model's {window / SAMPLE_RATE:.0f} s window")
    features, transcripts = [], []
    for start in range(0, len(recordings), chunk):
        batch = recordings[start: start + chunk]
        features.append(encode(model, torch.cat([log_mel(r.audio, model, source=r.name) for r in batch])))
        transcripts += transcribe_batch(model, features[-1], chunk)
        progress.report("real recordings encoded and transcribed", start + len(batch), len(recordings))
    conditions = {"model transcripts": transcripts, "reference transcripts": [written_form(r.text) for r in recordings]}

    metrics: dict[str, float] = {}
    intervals: dict[str, Interval] = {}
    evidence: dict = {
        "module": neuron_module(layer),
        "written_corpus": {"name": data.name, "sha256": data.sha256, "audio": "padding (30 s of zero samples)"},
        "real_speech": {"recordings": len(recordings), "without_words": without, "longer_than_window": too_long,
                        "folders": list(folders),
                        "seconds": round(sum(len(r.audio) for r in recordings) / SAMPLE_RATE, 1),
                        "judged": "model transcripts",
                        "examples": [{"recording": recordings[i].name, **{c: t[i] for c, t in conditions.items()}}
                                     for i in range(0, len(recordings), max(1, len(recordings) // 6))]},
        "random_directions": {"n_directions": n_directions, "seed": 0},
        "conditions": {},
    }
    chosen = {}
    for category in data.categories:
        ranking = rank_neurons(written_acts, written.tokens, written.labels[category], top)
        shares = decoder_neurons.category_shares(written_projected, written.tokens, written.labels[category], top)
        chosen[category] = (ranking.best, float(ranking.share[ranking.best]), int(np.argmax(shares)),
                            float(shares.max()))
    for condition, texts in conditions.items():
        table = tokenize(tokenizer, texts, data.categories)
        sequences = [table.prefix + t for t in table.sentence_tokens]
        acts = np.concatenate([token_activations(model, sequences[start: start + chunk], features[i], layer=layer,
                                                 skip=skip)
                               for i, start in enumerate(range(0, len(sequences), chunk))], axis=0)
        record = {"words": int(sum(len(t.split()) for t in texts)), "token_positions": len(table)}
        projected = decoder_neurons.project(acts, directions)  # once per condition, for every category
        for category, (neuron, neuron_share, direction, direction_share) in chosen.items():
            scored = _held_out_category(acts, projected, table, texts, tokenizer,
                                        table.labels[category], neuron, direction, top)
            too_few = len(scored["words"]) < min_category_words
            if condition == "model transcripts":
                for name, key in (("auroc_real", "auroc"), ("margin_over_random_direction_real", "margin")):
                    value, interval = scored.pop(key, (math.nan, None))
                    if too_few:  # the data cannot decide: no value, an interval as wide as the metric's range
                        value, interval = math.nan, Interval(*UNBOUNDED[name], method=NO_BOUND,
                                                             n_units=len(scored["words"]))
                    metrics[f"{category}_{name}"], intervals[f"{category}_{name}"] = value, interval
            elif "auroc" in scored:
                scored["auroc"], scored["margin"] = [(round(v, 4), [round(i.low, 4), round(i.high, 4)])
                                                     for v, i in (scored["auroc"], scored["margin"])]
            if too_few:
                scored["no_verdict"] = (f"{len(scored['words'])} distinct word(s); min_category_words = "
                                        f"{min_category_words}")
            record[category] = {"neuron": neuron, "neuron_written_share": neuron_share, "direction": direction,
                                "direction_written_share": direction_share, **scored}
        evidence["conditions"][condition] = record
    return Measurement(metrics, evidence, intervals=intervals)


def _held_out_category(acts: np.ndarray, projected: np.ndarray, table, texts: Sequence[str], tokenizer: Tokenizer,
                       labels: np.ndarray, neuron: int, direction: int, top: int) -> dict:
    """One category on one condition's real transcripts: the chosen neuron's AUROC and its margin over the
    chosen direction (each ``(value, Interval)``, resampling the category's words), and what shows them."""
    types, type_in = decoder_neurons.token_types(table.tokens, labels)
    first = np.full(len(type_in), -1)
    first[types[::-1]] = np.arange(len(types))[::-1]  # each type's first position
    words_of = [t.split() for t in texts]
    type_words = [normalize_word(words_of[table.sentence[p]][table.word[p]]) for p in first[type_in]]
    distinct = sorted(set(type_words))
    result: dict = {"words": {w: type_words.count(w) for w in distinct}}
    if len(distinct) < 2:
        return result
    scores = decoder_neurons.type_maxima(np.stack([acts[:, neuron], projected[:, direction]], axis=1), types,
                                         len(type_in))
    neuron_placed = decoder_neurons.placements(scores[:, 0], type_in)
    direction_placed = decoder_neurons.placements(scores[:, 1], type_in)
    margin = neuron_placed - direction_placed
    mined = rank_neurons(acts, table.tokens, labels, top)
    result.update({
        "auroc": (float(neuron_placed.mean()), bootstrap(neuron_placed, np.mean, clusters=type_words)),
        "margin": (float(margin.mean()), bootstrap(margin, np.mean, clusters=type_words)),
        "direction_auroc": float(direction_placed.mean()),
        "category_types": int(type_in.sum()), "other_types": int((~type_in).sum()),
        "per_word_placement": {w: round(float(np.mean([v for v, x in zip(neuron_placed, type_words) if x == w])), 4)
                               for w in distinct},
        "top_tokens": _examples(acts, table, texts, tokenizer, labels, neuron, 10),
        # mined on real speech as the post did: the best neuron's share is capped by the category's few types
        "mined_on_real": {"best_neuron": mined.best, "share": float(mined.share[mined.best]),
                          "largest_possible_share": min(int(type_in.sum()), top) / top,
                          "base_rate_types": round(mined.base_rate, 4),
                          "top_tokens": _examples(acts, table, texts, tokenizer, labels, mined.best, 10)},
    })
    return result
