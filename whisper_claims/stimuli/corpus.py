"""Stimulus corpora with frame-level phoneme labels: espeak-ng sentences, and real aligned recordings.

Every clip carries 16 kHz float32 audio, its phone segments and one label per 20 ms encoder frame,
all in ARPAbet-39 plus ``"sil"`` (`whisper_claims.stimuli.phones.LABELS`).

Generated clips (`build_corpus`): sentence ``i`` of a corpus is drawn from `TEMPLATES` and the word
list ``data/stimulus_words.tsv`` with draws that depend only on (seed, i), so a small corpus is
the start of a larger one with the same seed. It is spoken by espeak-ng (`whisper_claims.stimuli.espeak`,
bit-identical in any process) with a voice and rate drawn the same way, cut at the last word
boundary before ``clip_s`` (a 5 ms fade-out before the cut), resampled from 22050 Hz with
``scipy.signal.resample_poly`` and padded with zeros to exactly ``clip_s``. Each phoneme lasts
from its espeak-ng phoneme event to the next. Clips are cached, one ``.npz`` per clip written
atomically, under ``<cache>/stimuli`` (`stimulus_cache_dir`), named by the sha256 of the generator
version, text, voice, rate, sample rate, clip length and espeak-ng version.

Real clips (`load_reference_speech`, `load_aligned_folder`): recordings with phone alignments,
read with `whisper_claims.stimuli.alignment_files`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import Iterator

import numpy as np
from scipy.signal import resample_poly

from .. import progress
from ..errors import StimulusError
from ..files import PACKAGE_DATA, atomic_path
from . import espeak
from .alignment_files import read_aligned_folder, read_alignment
from .assets import AssetLocations, default_locations, resolve_asset
from .audio import FRAME_S, SAMPLE_RATE, load_audio
from .phones import SIL, PhoneSegment, espeak_source, frame_labels, map_segments, n_frames_for

# bump when the same (text, voice, rate) would give other samples or labels: it is part of the cache
# key (2: espeak-ng's random generator is reseeded per synthesis, so breath-noise voices such as f2,
# f3, f5 are reproducible)
GENERATOR_VERSION = 2
SENTENCES_VERSION = 1  # bump when the same (seed, index) would give another sentence, voice or rate
WORDS_FILE = PACKAGE_DATA / "stimulus_words.tsv"
WORD_CLASSES = ("det", "pron", "conj", "prep", "adv", "adj", "noun", "verb")
TEMPLATES = (
    "det adj noun verb det adj noun prep det noun",
    "det noun verb det noun adv prep det adj noun",
    "prep det adj noun pron verb det adj noun conj det noun",
    "det adj adj noun verb adv prep det noun",
    "pron adv verb det adj noun prep det adj noun",
    "det noun prep det noun verb det adj noun adv",
)
# espeak-ng voices and variants: American (rhotic) and British, Scottish, Caribbean; male,
# female and Klatt-synthesised variants
DEFAULT_VOICES = (
    "en-us", "en-us+f3", "en-us+m3", "en-us+f4", "en-us+klatt3",
    "en", "en+f2", "en-gb-x-rp+m7", "en-gb-scotland+f5", "en-029+m2",
)
DEFAULT_RATES = (140, 155, 170, 185, 200)  # words per minute
FADE_S = 0.005
STIMULI_FOLDER = "stimuli"

# the real aligned recordings of ../shared/assets/speech: (audio, alignment, transcript)
REFERENCE_SPEECH = (
    ("speech/cmu_arctic/slt_arctic_a0001.wav", "speech/cmu_arctic/slt_arctic_a0001.TextGrid",
     "Author of the danger trail, Philip Steels, etc."),
    ("speech/cmu_arctic/bdl_arctic_a0001.wav", "speech/cmu_arctic/bdl_arctic_a0001.TextGrid",
     "Author of the danger trail, Philip Steels, etc."),
    ("speech/cmu_arctic/awb_arctic_a0001.wav", "speech/cmu_arctic/awb_arctic_a0001.TextGrid",
     "Author of the danger trail, Philip Steels, etc."),
    ("speech/cmu_arctic/ksp_arctic_a0001.wav", "speech/cmu_arctic/ksp_arctic_a0001.TextGrid",
     "Author of the danger trail, Philip Steels, etc."),
    ("speech/cmu_arctic/slt_arctic_a0009.wav", "speech/cmu_arctic/slt_arctic_a0009.hts_phone.lab",
     "He turned sharply, and faced Gregson across the table."),
    ("speech/librispeech/2277-149896-0005.wav", "speech/librispeech/2277-149896-0005.TextGrid",
     "many little wrinkles gathered between his eyes as he contemplated this and his brow moistened"),
    ("speech/praatio/bobby.wav", "speech/praatio/bobby_phones.TextGrid", "Bobby ripped the ledger"),
    ("speech/praatio/mary.wav", "speech/praatio/mary.TextGrid", "mary rolled the barrel"),
)


@dataclass(frozen=True)
class CorpusOptions:
    """
    What `build_corpus` generates.

    Attributes
    ----------
    n_clips : int
        Number of clips; the post used 10,000.
    clip_s : float
        Length of every clip in seconds (speech cut at a word boundary, then zero padding).
    seed : int
        Seed of the sentence, voice and rate draws.
    voices : tuple of str
        espeak-ng voices drawn from, e.g. ``"en-us+f3"``.
    rates : tuple of int
        Speaking rates drawn from, in words per minute (80 to 450).
    sample_rate : int
        Output rate in Hz; Whisper expects 16000.
    frame_s : float
        Frame length of the labels; Whisper's encoder frame is 0.02 s.
    """

    n_clips: int = 2000
    clip_s: float = 2.0
    seed: int = 0
    voices: tuple[str, ...] = DEFAULT_VOICES
    rates: tuple[int, ...] = DEFAULT_RATES
    sample_rate: int = SAMPLE_RATE
    frame_s: float = FRAME_S

    def __post_init__(self):
        if isinstance(self.n_clips, bool) or not isinstance(self.n_clips, int) or self.n_clips < 0:
            raise ValueError(f"n_clips {self.n_clips!r}: expected a whole number >= 0")
        _check_clip_s(self.clip_s)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed {self.seed!r}: expected an integer")
        if not self.voices or not all(isinstance(v, str) and v for v in self.voices):
            raise ValueError(f"voices {self.voices!r}: expected a non-empty tuple of espeak-ng voice names")
        if not self.rates or not all(
            isinstance(r, int) and not isinstance(r, bool) and espeak.RATE_MIN <= r <= espeak.RATE_MAX
            for r in self.rates
        ):
            raise ValueError(
                f"rates {self.rates!r}: expected a non-empty tuple of integers from {espeak.RATE_MIN} "
                f"to {espeak.RATE_MAX} words per minute"
            )
        _check_sample_rate(self.sample_rate)
        if not (isinstance(self.frame_s, (int, float)) and math.isfinite(self.frame_s) and self.frame_s > 0):
            raise ValueError(f"frame_s {self.frame_s!r}: expected a positive number of seconds")
        object.__setattr__(self, "voices", tuple(self.voices))
        object.__setattr__(self, "rates", tuple(self.rates))


@dataclass(frozen=True, eq=False)
class StimulusClip:
    """
    One clip: audio, phone segments and frame labels, all in `whisper_claims.stimuli.phones.LABELS`.

    Attributes
    ----------
    name : str
        Unique within a corpus: ``"espeak/<seed>/<index>"``, or the audio file or asset name.
    audio : np.ndarray, shape = (n_samples,), dtype = float32
        Mono samples at ``sample_rate`` (read-only).
    sample_rate : int
    text : str or None
        What is said (for generated clips: the words kept after the cut).
    segments : tuple of PhoneSegment
        Labelled intervals in seconds.
    frame_labels : np.ndarray, shape = (n_frames,), dtype = '<U3'
        Label of each ``frame_s`` frame (read-only); frames past the speech are ``"sil"``.
    voice : str or None
        espeak-ng voice of a generated clip.
    rate : int or None
        espeak-ng rate of a generated clip, in words per minute.
    origin : str
        Where the clip comes from: ``"espeak-ng 1.52.0"``, or the alignment file.
    """

    name: str
    audio: np.ndarray
    sample_rate: int
    text: str | None
    segments: tuple[PhoneSegment, ...]
    frame_labels: np.ndarray
    voice: str | None = None
    rate: int | None = None
    origin: str = ""

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate


def _check_clip_s(clip_s) -> None:
    if clip_s is not None and not (
        isinstance(clip_s, (int, float)) and not isinstance(clip_s, bool) and math.isfinite(clip_s)
        and 0 < clip_s <= 30
    ):
        raise ValueError(f"clip_s {clip_s!r}: expected seconds, more than 0 and at most 30 (Whisper's window)")


def _check_sample_rate(sample_rate) -> None:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate {sample_rate!r}: expected a positive integer in Hz")


def _readonly(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


# ----------------------------------------------------------------------------------------------
# sentences


def load_words(path: str | os.PathLike = WORDS_FILE) -> dict[str, tuple[str, ...]]:
    """
    The word list: words by class (`WORD_CLASSES`), in file order.

    Parameters
    ----------
    path : str or PathLike
        A tab-separated file with the header ``class word``; lines starting with ``#`` are comments.

    Returns
    -------
    dict[str, tuple of str]

    Raises
    ------
    StimulusError
        If the file is unreadable or malformed, a class is unknown or empty, or a word repeats in
        its class; the message names the file and line.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise StimulusError(f"{path}: cannot read the word list: {e}") from e
    words: dict[str, list[str]] = {c: [] for c in WORD_CLASSES}
    header_seen = False
    for lineno, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if not header_seen:
            if fields != ["class", "word"]:
                raise StimulusError(f"{path}:{lineno}: header is {fields}, expected ['class', 'word']")
            header_seen = True
            continue
        if len(fields) != 2 or fields[0] not in words or not fields[1].isalpha() or not fields[1].islower():
            raise StimulusError(
                f"{path}:{lineno}: {line!r}: expected '<class>\\t<word>' with a class of "
                f"{', '.join(WORD_CLASSES)} and a lowercase word of letters"
            )
        if fields[1] in words[fields[0]]:
            raise StimulusError(f"{path}:{lineno}: {fields[1]!r} is listed twice as {fields[0]}")
        words[fields[0]].append(fields[1])
    empty = [c for c, ws in words.items() if not ws]
    if not header_seen or empty:
        raise StimulusError(f"{path}: no words of class {', '.join(empty or WORD_CLASSES)}; every class needs some")
    return {c: tuple(ws) for c, ws in words.items()}


def _draw(seed: int, index: int, slot: str, n: int) -> int:
    # a draw that depends only on (seed, index, slot): the same in every Python and on every platform
    digest = hashlib.sha256(f"{SENTENCES_VERSION}|{seed}|{index}|{slot}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % n


def make_sentence(seed: int, index: int, words: dict[str, tuple[str, ...]] | None = None) -> str:
    """
    Sentence ``index`` of the generator with ``seed``: a template filled with drawn words.

    The first letter is capitalised, "a" becomes "an" before a vowel letter, and a full stop ends it.

    Parameters
    ----------
    seed, index : int
    words : dict, optional
        Default: `load_words()`.

    Returns
    -------
    str
    """
    words = load_words() if words is None else words
    template = TEMPLATES[_draw(seed, index, "template", len(TEMPLATES))].split()
    chosen = [words[c][_draw(seed, index, f"word{k}", len(words[c]))] for k, c in enumerate(template)]
    for k in range(len(chosen) - 1):
        if chosen[k] == "a" and chosen[k + 1][0] in "aeiou":
            chosen[k] = "an"
    sentence = " ".join(chosen)
    return sentence[0].upper() + sentence[1:] + "."


def clip_plan(
    options: CorpusOptions, index: int, words: dict[str, tuple[str, ...]] | None = None
) -> tuple[str, str, int]:
    """The (sentence, voice, rate) of clip ``index`` of a corpus."""
    voice = options.voices[_draw(options.seed, index, "voice", len(options.voices))]
    rate = options.rates[_draw(options.seed, index, "rate", len(options.rates))]
    return make_sentence(options.seed, index, words), voice, rate


# ----------------------------------------------------------------------------------------------
# synthesis and cache


def stimulus_cache_dir(cache: str | os.PathLike | None = None) -> Path:
    """``<cache>/stimuli``; the cache root defaults to ``$WHISPER_CLAIMS_CACHE``, else
    ``$XDG_CACHE_HOME/whisper-claims``, else ``~/.cache/whisper-claims``."""
    return default_locations(cache=cache, allow_download=False).cache / STIMULI_FOLDER


def cache_key(text: str, voice: str, rate: int, sample_rate: int, clip_s: float | None) -> str:
    """sha256 naming the cache file of a clip; covers everything its content depends on."""
    fields = {
        "generator": GENERATOR_VERSION, "text": text, "voice": voice, "rate": int(rate),
        "sample_rate": int(sample_rate), "clip_s": None if clip_s is None else float(clip_s),
        "espeak": espeak.version(),
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _cache_path(folder: Path, key: str) -> Path:
    return folder / key[:2] / f"{key}.npz"


def synthesize_clip(
    text: str,
    voice: str = espeak.DEFAULT_VOICE,
    rate: int = espeak.DEFAULT_RATE,
    *,
    clip_s: float | None = None,
    sample_rate: int = SAMPLE_RATE,
    frame_s: float = FRAME_S,
    cache: str | os.PathLike | bool = False,
    name: str | None = None,
) -> StimulusClip:
    """
    Speak ``text`` with espeak-ng and label it: deterministic, in any process.

    Parameters
    ----------
    text : str
    voice : str
        espeak-ng voice, e.g. ``"en-us"``, ``"en-us+f3"``, ``"en-gb-scotland"``.
    rate : int
        Words per minute, 80 to 450.
    clip_s : float, optional
        Cut the speech at the last word boundary before ``clip_s`` seconds (the kept words become
        the clip's text) and pad with zeros to exactly ``clip_s``. Default: the whole utterance.
    sample_rate : int
        Output rate in Hz.
    frame_s : float
        Frame length of ``frame_labels``.
    cache : str, PathLike or bool
        True: read and write the clip under `stimulus_cache_dir()`; a folder: there; False: no cache.
    name : str, optional
        The clip's name; default ``"espeak:<voice>:<rate>:<text>"``.

    Returns
    -------
    StimulusClip

    Raises
    ------
    ValueError
        For a bad text, voice, rate, clip length or sample rate.
    SynthesisError
        If espeak-ng is missing or fails.
    StimulusError
        If a cache file cannot be read or does not hold this clip.
    """
    _check_clip_s(clip_s)
    _check_sample_rate(sample_rate)
    folder = None if cache is False else stimulus_cache_dir() if cache is True else Path(cache)
    name = name if name is not None else f"espeak:{voice}:{rate}:{text}"
    path = _cache_path(folder, cache_key(text, voice, rate, sample_rate, clip_s)) if folder else None
    if path is not None and path.is_file():
        stored = _read_cached(path, text, voice, rate, sample_rate, clip_s)
    else:
        stored = _render(text, voice, rate, sample_rate, clip_s)
        if path is not None:
            _write_cached(path, stored)
    return _clip_from_stored(stored, name, frame_s)


def _render(text: str, voice: str, rate: int, sample_rate: int, clip_s: float | None) -> dict:
    synthesis = espeak.synthesize(text, voice, rate)
    native = synthesis.sample_rate
    samples = synthesis.samples.astype(np.float64) / 32768.0
    end, kept = len(samples), text
    if clip_s is not None and len(samples) > clip_s * native:
        limit = clip_s * native
        boundaries = [w for w in synthesis.words[1:] if w.sample <= limit]
        if boundaries:
            last = max(w.sample for w in boundaries)
            word = next(w for w in boundaries if w.sample == last)
            end, kept = last, text[: word.text_position - 1].rstrip()
        else:  # no word boundary early enough: cut inside the first word
            end = int(math.floor(limit))
            later = synthesis.words[1:]
            kept = text[: later[0].text_position - 1].rstrip() if later else text
        fade = min(end, int(round(FADE_S * native)))
        samples = samples[:end].copy()
        if fade:
            samples[end - fade:] *= np.linspace(1.0, 0.0, fade)
    g = gcd(sample_rate, native)
    audio = resample_poly(samples, sample_rate // g, native // g) if sample_rate != native else samples
    if clip_s is not None:
        n_out = int(round(clip_s * sample_rate))
        audio = np.concatenate([audio[:n_out], np.zeros(max(0, n_out - len(audio)))])
    events = [(p.sample, p.name) for p in synthesis.phonemes if p.sample < end]
    return {
        "audio": np.ascontiguousarray(audio, dtype=np.float32),
        "event_samples": np.array([s for s, _ in events], dtype=np.int64),
        "event_names": np.array([n for _, n in events], dtype="<U8"),
        "meta": {
            "generator": GENERATOR_VERSION, "sentence": text, "text": kept, "voice": voice,
            "rate": int(rate), "sample_rate": int(sample_rate),
            "clip_s": None if clip_s is None else float(clip_s), "espeak": espeak.version(),
            "native_rate": native, "end_sample": int(end),
        },
    }


def _write_cached(path: Path, stored: dict) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a path
            np.savez_compressed(
                f, audio=stored["audio"], event_samples=stored["event_samples"],
                event_names=stored["event_names"], meta=np.array(json.dumps(stored["meta"], sort_keys=True)),
            )


def _read_cached(path: Path, text, voice, rate, sample_rate, clip_s) -> dict:
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = {
                "audio": data["audio"], "event_samples": data["event_samples"],
                "event_names": data["event_names"], "meta": json.loads(str(data["meta"])),
            }
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise StimulusError(
            f"{path}: cannot read this cached stimulus clip ({type(e).__name__}: {e}); it was not "
            "written by this program or was damaged afterwards: delete it and it is made again"
        ) from e
    meta = stored["meta"]
    expected = {"generator": GENERATOR_VERSION, "sentence": text, "voice": voice, "rate": int(rate),
                "sample_rate": int(sample_rate), "clip_s": None if clip_s is None else float(clip_s)}
    differs = {k: (meta.get(k), v) for k, v in expected.items() if meta.get(k) != v}
    if differs or stored["audio"].dtype != np.float32 or stored["audio"].ndim != 1:
        raise StimulusError(
            f"{path}: this cached stimulus clip holds another clip (stored, requested: {differs}); "
            "delete it and it is made again"
        )
    return stored


def _clip_from_stored(stored: dict, name: str, frame_s: float) -> StimulusClip:
    meta = stored["meta"]
    native, end = meta["native_rate"], meta["end_sample"]
    starts = [int(s) for s in stored["event_samples"]]
    names = [str(n) for n in stored["event_names"]]
    raw = []
    if starts and starts[0] > 0:
        raw.append(PhoneSegment(0.0, starts[0] / native, SIL))
    for k, (start, label) in enumerate(zip(starts, names)):
        stop = starts[k + 1] if k + 1 < len(starts) else end
        if stop > start:  # espeak-ng emits zero-length pauses; they cover no time
            raw.append(PhoneSegment(start / native, stop / native, label))
    segments = map_segments(raw, espeak_source(meta["voice"]), where=f"espeak-ng phonemes of {meta['sentence']!r}")
    audio = _readonly(stored["audio"])
    if meta["clip_s"] is not None:
        n_frames = int(math.ceil(meta["clip_s"] / frame_s - 1e-9))
    else:
        n_frames = n_frames_for(len(audio), meta["sample_rate"], frame_s)
    return StimulusClip(
        name=name,
        audio=audio,
        sample_rate=meta["sample_rate"],
        text=meta["text"],
        segments=segments,
        frame_labels=_readonly(frame_labels(segments, n_frames, frame_s)),
        voice=meta["voice"],
        rate=meta["rate"],
        origin=f"espeak-ng {meta['espeak']}",
    )


def iter_corpus(
    options: CorpusOptions = CorpusOptions(), *, cache: str | os.PathLike | bool = True
) -> Iterator[StimulusClip]:
    """
    The clips of a generated corpus, one at a time (see `build_corpus`).

    Yields
    ------
    StimulusClip
        Named ``"espeak/<seed>/<index>"``, each exactly ``options.clip_s`` long.
    """
    words = load_words()
    for index in range(options.n_clips):
        text, voice, rate = clip_plan(options, index, words)
        yield synthesize_clip(
            text, voice, rate, clip_s=options.clip_s, sample_rate=options.sample_rate,
            frame_s=options.frame_s, cache=cache, name=f"espeak/{options.seed}/{index:05d}",
        )
        progress.report("espeak-ng corpus (synthesized or cached)", index + 1, options.n_clips)


def build_corpus(
    options: CorpusOptions = CorpusOptions(), *, cache: str | os.PathLike | bool = True
) -> list[StimulusClip]:
    """
    A generated corpus of espeak-ng clips with frame-level phoneme labels.

    Clip ``i`` depends only on (options, i): a corpus of 20 clips is the first 20 clips of one of
    2000 with the same options. 2000 clips of 2 s take about 256 MB of memory and 210 MB of cache.

    Parameters
    ----------
    options : CorpusOptions
    cache : str, PathLike or bool
        True: the cache folder `stimulus_cache_dir()`; a folder: there; False: no cache.

    Returns
    -------
    list of StimulusClip

    Raises
    ------
    SynthesisError
        If espeak-ng is missing or fails.
    StimulusError
        If the word list or a cache file is bad.
    """
    return list(iter_corpus(options, cache=cache))


# ----------------------------------------------------------------------------------------------
# real recordings


def _clip_from_recording(name: str, audio_path: Path, segments, text, origin: str, frame_s: float) -> StimulusClip:
    audio = load_audio(audio_path)
    n_frames = n_frames_for(len(audio), SAMPLE_RATE, frame_s)
    return StimulusClip(
        name=name,
        audio=_readonly(audio),
        sample_rate=SAMPLE_RATE,
        text=text,
        segments=tuple(segments),
        frame_labels=_readonly(frame_labels(segments, n_frames, frame_s)),
        origin=origin,
    )


def load_reference_speech(
    locations: AssetLocations | None = None,
    manifest: dict | None = None,
    *,
    frame_s: float = FRAME_S,
) -> list[StimulusClip]:
    """
    The real aligned recordings of the asset manifest (`REFERENCE_SPEECH`: CMU ARCTIC, LibriSpeech,
    praatIO), found with `whisper_claims.stimuli.assets.resolve_asset`.

    Parameters
    ----------
    locations : AssetLocations, optional
        Default: `whisper_claims.stimuli.assets.default_locations()` (``$WHISPER_CLAIMS_ASSETS``, the cache).
    manifest : dict, optional
        Default: the project's asset manifest.
    frame_s : float

    Returns
    -------
    list of StimulusClip
        Named by their audio asset, 16 kHz, labels mapped to ARPAbet-39.

    Raises
    ------
    AssetUnavailable
        If a recording or alignment is absent (the message says where it was looked for).
    ChecksumMismatch
        If a copy differs from the manifest.
    """
    locations = default_locations() if locations is None else locations
    clips = []
    for audio_name, alignment_name, text in REFERENCE_SPEECH:
        audio_path = resolve_asset(audio_name, locations, manifest)
        alignment_path = resolve_asset(alignment_name, locations, manifest)
        segments = read_alignment(alignment_path)
        clips.append(_clip_from_recording(audio_name, audio_path, segments, text, alignment_name, frame_s))
    return clips


def load_aligned_folder(
    folder: str | os.PathLike, *, recursive: bool = True, tier: str | None = None, frame_s: float = FRAME_S
) -> list[StimulusClip]:
    """
    Clips from a folder of recordings with alignments beside them (see
    `whisper_claims.stimuli.alignment_files.read_aligned_folder` for the file names looked for).

    Returns
    -------
    list of StimulusClip
        Named by audio path, resampled to 16 kHz, labels mapped to ARPAbet-39.

    Raises
    ------
    AlignmentError
        If the folder holds no aligned audio, or an alignment is malformed.
    AudioError
        If an audio file cannot be read.
    """
    clips = []
    for aligned in read_aligned_folder(folder, recursive=recursive, tier=tier):
        clips.append(_clip_from_recording(
            str(aligned.audio_path), aligned.audio_path, aligned.segments, aligned.text,
            str(aligned.alignment_path), frame_s,
        ))
    return clips


__all__ = [
    "CorpusOptions", "StimulusClip", "build_corpus", "iter_corpus",
    "synthesize_clip", "make_sentence", "clip_plan", "load_words", "stimulus_cache_dir", "cache_key",
    "load_reference_speech", "load_aligned_folder", "DEFAULT_VOICES", "DEFAULT_RATES", "TEMPLATES",
    "GENERATOR_VERSION", "SENTENCES_VERSION", "REFERENCE_SPEECH",
]
