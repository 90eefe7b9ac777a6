"""dec-cross-attention-window: the post's reading of its chops (section 1), "for each word in the transcript,
the decoder is cross-attending to a small window of audio embeddings and using a limited amount of context
from the rest", measured on the decoder's cross-attention itself.

A module of its own rather than a part of ``decoder.py`` (the post's section 3, the decoder without audio):
this claim reads the decoder's attention over the audio, on the word-timed clips of section 1's chops.
The function takes the model and its ``params`` from ``claims/thresholds.toml`` and returns a
``Measurement``; thresholds are applied by ``verdict.judge``, never here.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from whisper.model import Whisper
from whisper.tokenizer import Tokenizer

from .. import progress
from ..errors import MethodInvalid
from ..measure.cross_attention import Heads, attention_heads, cross_attention
from ..measure.inference import tokenizer_for
from ..measure.intervals import bootstrap
from ..measure.text import normalize, word_matches
from ..stimuli.word_clips import WordClip, short_name, word_clip_set
from .encoder import clip_run, word_frames, words_in_transcript
from .verdict import Measurement


def transcript_tokens(tokenizer: Tokenizer, transcript: str) -> list[int]:
    """The text tokens teacher-forced for a transcript: the tokenizer's encoding of it with the leading space
    Whisper's decoded text has (``DecodingResult.text`` is stripped). Greedy decoding emits this encoding
    but in rare cases; `dec_cross_attention_window` records how often the decoder's own argmax agrees."""
    return tokenizer.encode(" " + transcript.strip()) if transcript.strip() else []


def word_token_spans(tokenizer: Tokenizer, text_tokens: Sequence[int], transcript: str) -> list[tuple[int, int] | None]:
    """Per word of ``normalize(transcript).split()`` (the words `encoder.words_in_transcript` indexes), the
    text tokens ``[first, stop)`` that spell it, or None when they cannot be told.

    The tokens are cut into words as Whisper's word timestamps cut them (``Tokenizer.split_to_word_tokens``:
    a word starts at a token with a leading space or at punctuation); each piece is normalized on its own
    (it may give no word, ``","``, or several, ``"don't"`` → do not: they share its tokens); the
    minimal-edit alignment of those words with the normalized transcript pairs each transcript word with
    one piece, unchanged. A word the normalizer only makes from several pieces together (``"twenty five"``
    → 25) pairs with none: None.
    """
    pieces, piece_tokens = tokenizer.split_to_word_tokens(list(text_tokens))
    bounds, first = [], 0
    for tokens in piece_tokens:
        bounds.append((first, first + len(tokens)))
        first += len(tokens)
    words = [(word, i) for i, piece in enumerate(pieces) for word in normalize(piece).split()]
    matches = word_matches(normalize(transcript).split(), [word for word, _ in words])
    return [None if m is None else bounds[words[m][1]] for m in matches]


def speech_frames(clip: WordClip) -> tuple[int, int]:
    """Encoder frames ``[start, stop)`` from the clip's first word's start to its last word's end."""
    return word_frames(clip.words[0].start_s, clip.words[0].end_s)[0], \
        word_frames(clip.words[-1].start_s, clip.words[-1].end_s)[1]


def window_null(window: tuple[int, int], speech: tuple[int, int]) -> float:
    """The share of attention spread evenly over the speech frames that falls in ``window``."""
    inside = min(window[1], speech[1]) - max(window[0], speech[0])
    return max(0, inside) / (speech[1] - speech[0])


def clip_words(model: Whisper, clip: WordClip, margin_frames: int, heads: Heads,
               tokenizer: Tokenizer) -> tuple[list[dict], dict]:
    """One clip: per spoken word that the transcript has with a token span, its window, the attention mass in
    it (the heads' mean, and every head's) and the null; and the clip's counts."""
    n_ctx, n_layer, n_head = model.dims.n_audio_ctx, model.dims.n_text_layer, model.dims.n_text_head
    run = clip_run(model, clip)  # encode and greedy transcript, shared with the word chops
    spoken = [w.word for w in clip.words]
    frames = [word_frames(w.start_s, w.end_s) for w in clip.words]
    speech = speech_frames(clip)
    if speech[1] > n_ctx:
        raise ValueError(f"clip {clip.name} ends at frame {speech[1]}, beyond the model's {n_ctx} frames")
    positions = words_in_transcript(spoken, run.transcript)
    text = transcript_tokens(tokenizer, run.transcript)
    counts = {"clip": clip.name, "transcript": run.transcript, "n_words_spoken": len(spoken),
              "n_in_transcript": sum(q is not None for q in positions), "n_tokens": len(text)}
    if not text:
        return [], {**counts, "n_matched": 0, "n_greedy_agrees": 0}
    prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    decoded = cross_attention(model, run.features, [*prompt, *text, tokenizer.eot])
    # the row at position t predicts token t + 1: text token j's row is the one at len(prompt) - 1 + j
    first = len(prompt) - 1
    rows = decoded.weights[:, :, first:first + len(text)]  # [n_layer, n_head, n_text, n_audio_ctx]
    predicted = decoded.logits[first:first + len(text)].argmax(-1)
    spans = word_token_spans(tokenizer, text, run.transcript)
    chosen = heads.mask(n_layer, n_head)
    found = []
    for word, (start, stop), q in zip(spoken, frames, positions):
        if q is None or spans[q] is None:
            continue
        a, b = spans[q]
        window = (max(0, start - margin_frames), min(n_ctx, stop + margin_frames))
        word_rows = rows[:, :, a:b]  # [n_layer, n_head, n_word_tokens, n_audio_ctx]
        per_head = word_rows[..., window[0]:window[1]].sum(-1).mean(-1)  # [n_layer, n_head]
        profile = word_rows[chosen].mean(dim=(0, 1))  # [n_audio_ctx]: the chosen heads' mean row
        null = window_null(window, speech)
        mass = float(per_head[chosen].mean())
        found.append({"clip": clip.name, "word": word, "frames": [start, stop], "window": list(window),
                      "tokens": [tokenizer.decode([t]) for t in text[a:b]], "mass": mass,
                      # float32 rows carry ~1e-7 of rounding: attention spread exactly as the null is a margin of 0
                      "mass_every_head": float(per_head.mean()), "null": null, "margin": round(mass - null, 6),
                      "peak_frame": int(profile.argmax()), "per_head": per_head.tolist()})
    return found, {**counts, "n_matched": len(found),
                   "n_greedy_agrees": int((predicted == torch.tensor(text)).sum())}


def dec_cross_attention_window(model: Whisper, *, recordings: Sequence[Sequence[str]], sentences: dict,
                               margin_frames: int = 10, min_words: int = 10) -> Measurement:
    """For each word of the transcript the decoder's cross-attention falls mostly within a small window
    of audio frames around where the word was said: the post's reading of its chops, measured on the
    attention itself.

    The clips are the word-timed clip set of the chops (``recordings``: audio and TextGrid pairs,
    ``sentences``: ``{source, n, seed}`` held-out espeak-ng sentences; `stimuli.word_clips`). Per clip: its
    greedy transcript (`encoder.clip_run`) is teacher-forced (`transcript_tokens`, after
    ``<|startoftranscript|>…<|notimestamps|>``) and the cross-attention weights of every decoder layer
    and head read (`measure.cross_attention`). A spoken word is scored when the transcript has it
    (`encoder.words_in_transcript`) and its tokens can be told (`word_token_spans`); its rows are those
    that predict its tokens. Its window is its aligned frames (`encoder.word_frames`) ± ``margin_frames``;
    its mass is the attention in the window, a sum over the frames, averaged over its rows and over the
    heads: Whisper's published alignment heads where the model carries them, else every head
    (`measure.cross_attention.attention_heads`; every head's mean is in the evidence either way).

    The null is attention spread evenly over the clip's speech, from its first word's start to its last
    word's end: the share of those frames inside the window. A window never holds less than the null's
    share of such attention, so a wide window or a short clip raises the null, not the margin.

    Metrics
    -------
    median_window_mass
        Median over the scored words of the mass.
    margin_over_speech_uniform
        Median over the scored words of mass − null.

    Each with a 95% bootstrap interval of the median (2,000 resamples, seed 0) that resamples clips: a
    clip's words share its speaker and transcript.

    Raises
    ------
    MethodInvalid
        Fewer than ``min_words`` words scored over the clip set: too few for a median to mean anything.
    """
    if isinstance(margin_frames, bool) or not isinstance(margin_frames, int) or margin_frames < 0:
        raise ValueError(f"margin_frames {margin_frames!r}: expected a whole number of frames >= 0")
    clips = word_clip_set([tuple(pair) for pair in recordings], sentences["source"], int(sentences["n"]),
                          int(sentences["seed"]))
    heads = attention_heads(model)
    tokenizer = tokenizer_for(model)
    rows, per_clip = [], []
    for i, clip in enumerate(clips):
        found, counts = clip_words(model, clip, margin_frames, heads, tokenizer)
        rows += found
        per_clip.append(counts)
        progress.report("clips (cross-attention per word)", i + 1, len(clips))
    n_spoken = sum(c["n_words_spoken"] for c in per_clip)
    if len(rows) < min_words:
        raise MethodInvalid(f"{len(rows)} of {n_spoken} spoken words were scored (in the transcript, their tokens "
                            f"told) over {len(clips)} clips; a median over words needs at least {min_words} "
                            f"(min_words)")
    masses = np.array([row["mass"] for row in rows])
    margins = np.array([row["margin"] for row in rows])
    every = np.array([row["mass_every_head"] for row in rows])
    clusters = [row["clip"] for row in rows]
    several = len(set(clusters)) >= 2
    metrics = {"median_window_mass": float(np.median(masses)),
               "margin_over_speech_uniform": float(np.median(margins))}
    intervals = {name: bootstrap(values, np.median, clusters=clusters, seed=0)
                 for name, values in (("median_window_mass", masses), ("margin_over_speech_uniform", margins))
                 if several}
    n_layer, n_head = model.dims.n_text_layer, model.dims.n_text_head
    per_head = np.array([row.pop("per_head") for row in rows])  # [n_words, n_layer, n_head]
    head_medians = np.median(per_head, axis=0)
    n_text = sum(c["n_tokens"] for c in per_clip)
    evidence = {
        "heads": heads.kind,
        "heads_source": heads.source,
        "heads_used": [f"{layer}.{head}" for layer, head in heads.heads],
        "margin_frames": margin_frames,
        "null": "attention spread evenly over the speech frames, from the first word's start to the last word's end",
        "token_spans": "the transcript's tokens cut into words as Whisper's word timestamps cut them, each piece "
                       "normalized and aligned with the normalized transcript",
        "n_clips": len(clips),
        "n_clips_with_scored_words": len(set(clusters)),
        "n_words_spoken": n_spoken,
        "n_words_in_transcript": sum(c["n_in_transcript"] for c in per_clip),
        "n_words_scored": len(rows),
        "median_null": float(np.median([row["null"] for row in rows])),
        "median_window_frames": float(np.median([row["window"][1] - row["window"][0] for row in rows])),
        "median_window_mass_every_head": float(np.median(every)),
        "median_window_mass_every_head_interval": bootstrap(every, np.median, clusters=clusters, seed=0).to_json()
        if several else None,
        "share_of_words_above_half": float(np.mean(masses >= 0.5)),
        "median_peak_distance": float(np.median([max(0, row["frames"][0] - row["peak_frame"],
                                                     row["peak_frame"] - row["frames"][1] + 1) for row in rows])),
        # the medians over words of each head's mass: [layer][head], every head
        "head_median_mass": [[round(float(head_medians[l, h]), 4) for h in range(n_head)] for l in range(n_layer)],
        "heads_used_median_mass": {f"{layer}.{head}": round(float(head_medians[layer, head]), 4)
                                   for layer, head in heads.heads},
        # text tokens whose row's argmax is the token: the teacher-forced transcript is the decoder's own choice
        "greedy_agreement": n_text and sum(c["n_greedy_agrees"] for c in per_clip) / n_text,
        "per_clip": per_clip,
        "sentences": dict(sentences),
        "recordings": [[short_name(name) for name in pair] for pair in recordings],
        "words": [{**row, "mass": round(row["mass"], 4), "mass_every_head": round(row["mass_every_head"], 4),
                   "null": round(row["null"], 4), "margin": round(row["margin"], 4)} for row in rows],
    }
    return Measurement(metrics, evidence, intervals=intervals)


__all__ = ["dec_cross_attention_window", "transcript_tokens", "word_token_spans", "speech_frames", "window_null",
           "clip_words"]
