"""Real aligned speech cut into short clips: the post's mining input ("10,000 real 2-s clips"), from the
aligned recordings of the asset manifest (``../shared/assets/speech``).

Each recording is cut into consecutive clips of at most ``clip_s`` seconds, every cut on a phone boundary
of its alignment (the last one at or before ``clip_s`` past the previous cut), so that no phone is split
and each clip's frame labels are its own alignment's; audio past the alignment's last phone is left out.
A clip with less than ``min_speech_s`` of labelled speech (not silence) is dropped. Clips are padded to
30 s by the mining pass, as the espeak-ng clips are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Optional, Sequence

import numpy as np

from .. import progress
from ..errors import StimulusError
from .alignment_files import (ALIGNMENT_NAMES, AUDIO_SUFFIXES, TEXT_NAMES, WORDS_TEXTGRID_NAMES, clip_text,
                              read_alignment)
from .assets import Asset, AssetLocations, default_locations, load_manifest, resolve_asset
from .audio import FRAME_S, SAMPLE_RATE, load_audio
from .corpus import StimulusClip
from .phones import SIL, PhoneSegment, frame_labels, n_frames_for

# the aligned recordings of ../shared/assets/speech (its README): TIMIT's hand-verified sample, LJSpeech and
# MFA's corpus with forced alignments, Berkeley PhonLab, and the earlier CMU ARCTIC, LibriSpeech and praatIO
SPEECH_FOLDERS = (
    "speech/timit_nltk_sample", "speech/ljspeech_mfa", "speech/mfa_test_corpus", "speech/berkeley_phonlab",
    "speech/cmu_arctic", "speech/librispeech", "speech/praatio",
)


@dataclass(frozen=True)
class SpeechCorpusOptions:
    """
    What `build_speech_corpus` cuts.

    Attributes
    ----------
    folders : tuple of str
        Manifest folders whose aligned recordings are cut (every audio file with an alignment beside it,
        chosen as `whisper_claims.stimuli.alignment_files.ALIGNMENT_NAMES` orders them).
    clip_s : float
        Longest clip, in seconds; the post mined 2 s clips.
    min_speech_s : float
        A clip with less labelled speech than this is dropped.
    frame_s : float
        Frame length of the labels; Whisper's encoder frame is 0.02 s.
    """

    folders: tuple[str, ...] = SPEECH_FOLDERS
    clip_s: float = 2.0
    min_speech_s: float = 0.5
    frame_s: float = FRAME_S

    def __post_init__(self):
        object.__setattr__(self, "folders", tuple(self.folders))
        if not self.folders or not all(isinstance(f, str) and f for f in self.folders):
            raise ValueError(f"folders {self.folders!r}: expected a non-empty list of manifest folders")
        for name, value, top in (("clip_s", self.clip_s, 30.0), ("min_speech_s", self.min_speech_s, self.clip_s),
                                 ("frame_s", self.frame_s, 1.0)):
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                    and 0 < value <= top):
                raise ValueError(f"{name} {value!r}: expected seconds, more than 0 and at most {top}")


def aligned_recordings(manifest: dict[str, Asset], folders: Sequence[str]) -> list[tuple[str, str]]:
    """``(audio name, alignment name)`` of every audio file of the manifest under ``folders`` with an
    alignment beside it, in name order; the alignment is the first of ``ALIGNMENT_NAMES`` in the manifest."""
    found = []
    for folder in folders:
        names = sorted(n for n in manifest if n.startswith(folder.rstrip("/") + "/"))
        if not names:
            raise StimulusError(f"speech corpus folder {folder!r}: no file of the asset manifest is in it; "
                                "expected a folder of fixtures/assets.tsv such as 'speech/timit_nltk_sample'")
        for name in names:
            path = PurePosixPath(name)
            if path.suffix.lower() not in AUDIO_SUFFIXES:
                continue
            candidates = [str(path.with_name(p.format(stem=path.stem))) for p in ALIGNMENT_NAMES]
            alignment = next((c for c in candidates if c in manifest), None)
            if alignment is not None:
                found.append((name, alignment))
    return found


def cut_recording(name: str, audio: np.ndarray, segments: Sequence[PhoneSegment], origin: str,
                  options: SpeechCorpusOptions) -> list[StimulusClip]:
    """Consecutive clips of one recording, each cut on a phone boundary (see the module's docstring)."""
    ends = sorted({round(s.end_s * SAMPLE_RATE) for s in segments})
    last = min(ends[-1], len(audio)) if ends else 0
    clips, start = [], 0
    longest = round(options.clip_s * SAMPLE_RATE)
    while start < last:
        fitting = [e for e in ends if start < e <= min(start + longest, last)]
        end = fitting[-1] if fitting else min(start + longest, last)  # one phone longer than a clip: cut it
        shifted = [PhoneSegment(max(s.start_s - start / SAMPLE_RATE, 0.0), s.end_s - start / SAMPLE_RATE, s.label)
                   for s in segments if s.end_s * SAMPLE_RATE > start and s.start_s * SAMPLE_RATE < end]
        shifted = [PhoneSegment(s.start_s, min(s.end_s, (end - start) / SAMPLE_RATE), s.label) for s in shifted]
        piece = np.array(audio[start:end], dtype=np.float32)
        labels = frame_labels(shifted, n_frames_for(len(piece), SAMPLE_RATE, options.frame_s), options.frame_s)
        if np.sum(labels != SIL) * options.frame_s >= options.min_speech_s - 1e-9:
            piece.flags.writeable = False
            labels.flags.writeable = False
            clips.append(StimulusClip(name=f"{name}@{start / SAMPLE_RATE:.2f}", audio=piece, sample_rate=SAMPLE_RATE,
                                      text=None, segments=tuple(shifted), frame_labels=labels, origin=origin))
        start = end
    return clips


def build_speech_corpus(options: SpeechCorpusOptions = SpeechCorpusOptions(),
                        locations: Optional[AssetLocations] = None,
                        manifest: Optional[dict[str, Asset]] = None) -> list[StimulusClip]:
    """
    The aligned recordings of ``options.folders`` cut into clips with frame-level phoneme labels.

    Returns
    -------
    list of StimulusClip
        Named ``"<audio asset>@<start s>"``, in recording then time order; labels in ARPAbet-39 (TIMIT's 61
        phones folded as `whisper_claims.stimuli.phones` does), ``origin`` the alignment asset.

    Raises
    ------
    AssetUnavailable
        If a recording or alignment is absent (the message says where it was looked for).
    ChecksumMismatch
        If a copy differs from the manifest.
    """
    manifest = load_manifest() if manifest is None else manifest
    locations = default_locations() if locations is None else locations
    recordings = aligned_recordings(manifest, options.folders)
    clips = []
    for index, (audio_name, alignment_name) in enumerate(recordings):
        audio = load_audio(resolve_asset(audio_name, locations, manifest))
        segments = read_alignment(resolve_asset(alignment_name, locations, manifest))
        clips.extend(cut_recording(audio_name, audio, segments, alignment_name, options))
        progress.report("real speech cut into clips", index + 1, len(recordings))
    return clips


@dataclass(frozen=True)
class TranscribedRecording:
    """A whole aligned recording and the words spoken in it."""

    name: str  # the audio asset
    audio: np.ndarray  # 16 kHz mono float32
    text: str  # as its transcript file or word tier gives it
    origin: str  # the asset the text was read from


def transcribed_recordings(folders: Sequence[str] = SPEECH_FOLDERS, locations: Optional[AssetLocations] = None,
                           manifest: Optional[dict[str, Asset]] = None) -> tuple[list[TranscribedRecording], list[str]]:
    """
    Every aligned recording of ``folders`` whose words are written beside it (``alignment_files.clip_text``:
    TIMIT's .txt, a TextGrid's words tier, a transcript), whole.

    Every file read is an asset of the manifest, checked against its sha256.

    Returns
    -------
    (list of TranscribedRecording, list of str)
        The recordings in `aligned_recordings`' order, and the audio assets left out for having no words.
    """
    manifest = load_manifest() if manifest is None else manifest
    locations = default_locations() if locations is None else locations
    found, without = [], []
    recordings = aligned_recordings(manifest, folders)
    for index, (audio_name, alignment_name) in enumerate(recordings):
        path = PurePosixPath(audio_name)
        texts = [str(path.with_name(p.format(stem=path.stem))) for p in TEXT_NAMES + WORDS_TEXTGRID_NAMES]
        texts = [name for name in texts if name in manifest]
        # resolved first, so that clip_text reads verified copies
        resolved = [resolve_asset(name, locations, manifest) for name in texts]
        alignment = resolve_asset(alignment_name, locations, manifest)
        audio_path = resolve_asset(audio_name, locations, manifest)
        text = clip_text(audio_path, alignment) if resolved else None
        if text:
            found.append(TranscribedRecording(audio_name, load_audio(audio_path), text, texts[0]))
        else:
            without.append(audio_name)
        progress.report("transcribed recordings read", index + 1, len(recordings))
    return found, without


__all__ = ["SpeechCorpusOptions", "SPEECH_FOLDERS", "TranscribedRecording", "aligned_recordings",
           "build_speech_corpus", "cut_recording", "transcribed_recordings"]
