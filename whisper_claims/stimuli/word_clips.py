"""Clips whose every spoken word has a start and an end: real recordings with a word tier, and
espeak-ng sentences timed by their phoneme events.

The per-word chop experiment (`whisper_claims.claims.encoder.enc_chop_words`) replaces exactly one
word's encoder frames; it needs to know where each word is. Two sources:

- recordings of the asset manifest whose TextGrid has a word tier (LibriSpeech's, praatIO's);
  CMU ARCTIC's TextGrids have phones only, and JFK has no alignment, so they are not in the set;
- held-out espeak-ng sentences: `whisper_claims.stimuli.corpus.make_sentence` with a seed of its own (or
  micro's held-out sentences in micro's training voices), spoken whole. A word starts at its first
  phoneme event (espeak-ng's word event can fall up to ~50 ms before it) and ends where the next
  word's first phoneme starts (the last word: at its final pause).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from math import gcd
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.signal import resample_poly

from ..errors import WordClipError
from . import espeak
from .alignment_files import WORD_TIER_NAMES, pick_tier, read_textgrid_tiers
from .assets import AssetLocations, all_assets, default_locations, resolve_asset
from .audio import SAMPLE_RATE, load_audio
from .corpus import CorpusOptions, clip_plan, load_words
from .micro_corpus import card_options, plan

SENTENCE_SOURCES = ("stimuli", "micro")
_PAUSES = ("_", "_:", "_!", "_;")  # espeak-ng's pause mnemonics


@dataclass(frozen=True)
class TimedWord:
    """A spoken word and where it is, in seconds from the start of its clip."""

    word: str
    start_s: float
    end_s: float


@dataclass(frozen=True, eq=False)
class WordClip:
    """16 kHz mono float32 audio and its words in order; ``origin`` says where the timing comes from."""

    name: str
    audio: np.ndarray
    words: tuple[TimedWord, ...]
    origin: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(np.ascontiguousarray(self.audio, dtype=np.float32).tobytes()).hexdigest()

    @property
    def text(self) -> str:
        return " ".join(w.word for w in self.words)


def located(asset: str | os.PathLike, locations: AssetLocations | None = None) -> Path:
    """A file: an asset name (a ``str``) found through the asset manifest, or a path as given."""
    if isinstance(asset, os.PathLike):
        return Path(asset)
    return resolve_asset(asset, default_locations() if locations is None else locations, all_assets())


def short_name(asset: str | os.PathLike) -> str:
    """How a recording is named in records: its asset name, or a path's folder and file name (so that a
    record does not depend on where the assets were found)."""
    if isinstance(asset, os.PathLike):
        path = Path(asset)
        return f"{path.parent.name}/{path.name}"
    return asset


def recording(audio: str | os.PathLike, textgrid: str | os.PathLike,
              locations: AssetLocations | None = None) -> WordClip:
    """A recording with its TextGrid's word tier (empty intervals are pauses); each an asset name or a path."""
    audio_path, grid_path = located(audio, locations), located(textgrid, locations)
    tier = pick_tier(read_textgrid_tiers(grid_path), grid_path, names=WORD_TIER_NAMES, what="word")
    words = tuple(TimedWord(s.label.strip(), float(s.start_s), float(s.end_s)) for s in tier if s.label.strip())
    if not words:
        raise WordClipError(f"{grid_path}: its word tier has no labelled interval")
    return WordClip(name=short_name(audio), audio=load_audio(audio_path), words=words, origin=short_name(textgrid))


def spoken_sentence(text: str, voice: str, rate: int, name: str | None = None) -> WordClip:
    """``text`` spoken by espeak-ng, resampled to 16 kHz, each word timed by its phoneme events."""
    synthesis = espeak.synthesize(text, voice, rate)
    native = synthesis.sample_rate
    starts = [p.sample for p in synthesis.phonemes]
    spoken = [p for p in synthesis.phonemes if p.name not in _PAUSES]
    bounds = []
    for event in synthesis.words:
        first = next((p.sample for p in spoken if p.sample >= event.sample), None)
        if first is None:
            raise WordClipError(f"espeak-ng gave no phoneme for word at character {event.text_position} of {text!r}")
        bounds.append(first)
    last_pause = next((s for s, p in zip(starts, synthesis.phonemes)
                       if p.name in _PAUSES and s > bounds[-1]), len(synthesis.samples))
    ends = bounds[1:] + [last_pause]
    words = tuple(
        TimedWord(text[e.text_position - 1: e.text_position - 1 + e.length].strip(".,;:!?"),
                  start / native, end / native)
        for e, start, end in zip(synthesis.words, bounds, ends)
    )
    g = gcd(SAMPLE_RATE, native)
    audio = resample_poly(synthesis.samples.astype(np.float64) / 32768.0, SAMPLE_RATE // g, native // g)
    return WordClip(name=name or f"espeak:{voice}:{rate}:{text}", audio=audio.astype(np.float32),
                    words=words, origin=f"espeak-ng {espeak.version()} word and phoneme events")


def sentences(source: str, n: int, seed: int) -> list[tuple[str, str, int]]:
    """``n`` held-out (sentence, voice, rate) triples of a generator: ``"stimuli"`` (the phonetic
    claims' generator, with a seed of its own) or ``"micro"`` (micro's held-out split and voices)."""
    if source not in SENTENCE_SOURCES:
        raise WordClipError(f"sentences source {source!r}: expected one of {', '.join(SENTENCE_SOURCES)}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise WordClipError(f"sentences n {n!r}: expected a whole number >= 0")
    if source == "stimuli":
        options, words = CorpusOptions(n_clips=n, seed=seed), load_words()
        return [clip_plan(options, i, words) for i in range(n)]

    # micro's held-out split never meets its training sentences, whatever the seed
    options = replace(card_options(), seed=seed)
    planned = [plan(options, "heldout", i) for i in range(n)]
    return [(u.text, u.voice, u.rate) for u in planned]


def word_clip_set(recordings: Sequence[Sequence[str | os.PathLike]], sentence_source: str, n_sentences: int,
                  seed: int, locations: AssetLocations | None = None) -> list[WordClip]:
    """The recordings (pairs audio, TextGrid: asset names or paths), then the spoken sentences."""
    clips = [recording(audio, grid, locations) for audio, grid in recordings]
    for i, (text, voice, rate) in enumerate(sentences(sentence_source, n_sentences, seed)):
        clips.append(spoken_sentence(text, voice, rate, name=f"{sentence_source}/{seed}/{i}"))
    return clips


__all__ = ["TimedWord", "WordClip", "located", "short_name", "recording", "spoken_sentence", "sentences",
           "word_clip_set", "SENTENCE_SOURCES"]
