"""Listening to a unit: WAV snippets of its top frames with the active region emphasised, and a table.

The post: "by amplifying the audio around the sequence position where the neuron is maximally active,
you can clearly hear these phonemes". The clips published with it (reference-data.md §6; measured from
the 49 ``*sample*.wav`` files) are 1.0 or 1.5 s long, stored as float, with an 80 ms region, four
encoder frames, about 10 times (20 dB) louder than the rest; that region sits anywhere from 0.13 to
0.97 s into the file, so they look like fixed cuts of the clip rather than windows centred on the peak.

Here a snippet is ``seconds`` (1.5) long, centred on the peak frame and cut at the clip's edges. The
80 ms around the peak (``emphasis_frames`` = 2 frames either side) keep the source level and the rest
is attenuated by ``background_gain`` (default 0.1: the same 20 dB contrast), joined by short
raised-cosine ramps so the edges do not click; attenuating rather than amplifying never pushes
samples past full scale.

Time: encoder frame ``f`` is at ``0.02 f`` s. That is where its receptive field is centred (the STFT
frames are centred, the two convolutions keep the centre and halve the rate) and where the interval
``[20 f, 20 f + 20)`` ms that ``phones.frame_labels`` labels begins.

Files are written into a hidden staging folder inside the output folder and renamed into place only
once every snippet and the table have been written, so a failed export leaves nothing behind.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import soundfile
from whisper.model import Whisper

from ..files import files_below
from ..stimuli.alignment_files import find_alignment, read_alignment
from ..stimuli.audio import FRAME_S, SAMPLE_RATE, SAMPLES_PER_FRAME
from ..stimuli.phones import frame_labels
from .hooks import parse_layer
from .mining import TopFrames, clip_frames, mine_top_frames
from .sae import SparseAutoencoder, mine_sae_features

SUBTYPES = ("PCM_16", "PCM_24")  # libsndfile's float WAVs carry a timestamp, so not byte-reproducible
COLUMNS = ("unit", "rank", "clip", "clip_id", "frame", "time_s", "label", "activation", "start_s", "end_s", "file")
TABLE_NAME = "examples.tsv"
_PREFIX = re.compile(r"^[A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class ListenOptions:
    """How snippets are cut and emphasised.

    Attributes
    ----------
    seconds : float
        Snippet length, centred on the peak frame and cut at the clip's edges (the post's clips: 1 or 1.5 s).
    emphasis_frames : int
        The emphasised region spans this many encoder frames either side of the peak (2: 80 ms).
    background_gain : float
        Gain outside the region, in (0, 1]; the region keeps gain 1.
    ramp_ms : float
        Raised-cosine transition, outside the region, from 1 down to ``background_gain``.
    subtype : str
        WAV sample format, ``PCM_16`` or ``PCM_24``; samples are clipped to [-1, 1].
    """

    seconds: float = 1.5
    emphasis_frames: int = 2
    background_gain: float = 0.1
    ramp_ms: float = 5.0
    subtype: str = "PCM_16"

    def __post_init__(self):
        if not (isinstance(self.seconds, (int, float)) and math.isfinite(self.seconds) and self.seconds > 0):
            raise ValueError(f"snippet seconds = {self.seconds!r}: expected a positive number")
        frames = self.emphasis_frames
        if not isinstance(frames, int) or isinstance(frames, bool) or frames < 0:
            raise ValueError(f"emphasis_frames = {self.emphasis_frames!r}: expected an integer >= 0")
        if not (isinstance(self.background_gain, (int, float)) and 0 < self.background_gain <= 1):
            raise ValueError(f"background_gain = {self.background_gain!r}: expected a gain in (0, 1]")
        if not (isinstance(self.ramp_ms, (int, float)) and math.isfinite(self.ramp_ms) and self.ramp_ms >= 0):
            raise ValueError(f"ramp_ms = {self.ramp_ms!r}: expected a number of milliseconds >= 0")
        if self.subtype not in SUBTYPES:
            raise ValueError(f"WAV subtype {self.subtype!r}: expected one of {', '.join(SUBTYPES)}")


@dataclass(frozen=True)
class Snippet:
    """A cut of one clip around a frame; sample positions are in the clip."""

    audio: np.ndarray  # float32, emphasised
    start: int  # first sample of the snippet
    stop: int  # one past its last sample
    peak: int  # the frame's sample, 320 * frame
    emphasis: tuple[int, int]  # [first, last + 1) sample at full level, cut to the snippet


def emphasis_gain(n: int, low: int, high: int, background_gain: float, ramp: int) -> np.ndarray:
    """Per-sample gains ``[n]``: 1 on ``[low, high)``, ``background_gain`` further than ``ramp`` samples
    from it, a raised cosine in between."""
    index = np.arange(n)
    distance = np.maximum(np.maximum(low - index, index - (high - 1)), 0).astype(np.float64)
    if ramp > 0:
        t = np.clip(distance / ramp, 0.0, 1.0)
        blend = 0.5 * (1 + np.cos(np.pi * t))  # 1 at the region, 0 from `ramp` samples away
    else:
        blend = (distance == 0).astype(np.float64)
    return (background_gain + (1 - background_gain) * blend).astype(np.float32)


def snippet(audio: np.ndarray, frame: int, options: ListenOptions = ListenOptions()) -> Snippet:
    """The emphasised snippet of a 16 kHz clip around encoder frame ``frame``.

    Raises
    ------
    ValueError
        For a frame outside the clip.
    """
    audio = np.asarray(audio, dtype=np.float32)
    n_frames = clip_frames(len(audio))
    if not 0 <= frame < n_frames:
        raise ValueError(f"frame {frame} is outside the clip of {len(audio)} samples ({n_frames} frames)")
    peak = frame * SAMPLES_PER_FRAME
    half = int(round(options.seconds * SAMPLE_RATE / 2))
    start, stop = max(0, peak - half), min(len(audio), peak + half)
    width = options.emphasis_frames * SAMPLES_PER_FRAME
    low, high = max(start, peak - width), min(stop, peak + max(width, 1))  # at least the peak sample
    ramp = int(round(options.ramp_ms * SAMPLE_RATE / 1000))
    gain = emphasis_gain(stop - start, low - start, high - start, options.background_gain, ramp)
    return Snippet(audio[start:stop] * gain, start, stop, peak, (low, high))


def file_name(prefix: str, unit: int, rank: int) -> str:
    """``{prefix}{unit}_sample{rank:02d}.wav``, the post's naming (``b3_res_131pkl_sample2.wav``) minus ``pkl``."""
    return f"{prefix}{unit}_sample{rank:02d}.wav"


def export_units(top: TopFrames, clips: Sequence[np.ndarray], out_dir: str | os.PathLike, *,
                 units: Optional[Sequence[int]] = None, n_examples: Optional[int] = None,
                 labels: Optional[Sequence[Sequence[str]]] = None, clip_ids: Optional[Sequence[str]] = None,
                 prefix: str = "unit", options: ListenOptions = ListenOptions(),
                 table_name: str = TABLE_NAME) -> list[dict]:
    """Write the top examples of some units as WAV snippets and one table, all or nothing.

    Parameters
    ----------
    top : TopFrames
        From ``mining.mine_top_frames`` (or ``sae.mine_sae_features``): per unit, values, clip and
        frame indices, highest first.
    clips : sequence of np.ndarray
        The mined corpus, 16 kHz mono waveforms, in the order the clip indices refer to.
    out_dir : str or PathLike
        Folder for the snippets and the table; created if missing. Files of the same names are replaced.
    units : sequence of int, optional
        Rows of ``top`` to export (default all).
    n_examples : int, optional
        Examples per unit, the best first (default all ``k``).
    labels : sequence of sequences of str, optional
        Per clip, the label of every frame (e.g. ``phones.frame_labels``).
    clip_ids : sequence of str, optional
        Per clip, a name for the table (e.g. the file's stem); default the clip index.
    prefix : str
        Start of every file name (letters, digits, ``._-``), e.g. ``b2_mlp1_``.
    options : ListenOptions
    table_name : str
        Name of the TSV table in ``out_dir``.

    Returns
    -------
    list of dict
        One row per snippet with the keys of ``COLUMNS``, in unit then rank order: ``time_s`` is the
        peak frame's time in the clip, ``start_s``/``end_s`` the snippet's span in the clip, ``label``
        None without labels, ``file`` the snippet's name in ``out_dir``.

    Raises
    ------
    ValueError
        For a unit, clip, frame or ``n_examples`` out of range, mismatched labels or clip ids, a bad
        prefix or table name, or an output path that is a file; nothing is written.
    OSError
        When writing fails; nothing is left in ``out_dir``.
    """
    n_units, k = top.values.shape
    units = list(range(n_units)) if units is None else [_unit(u, n_units) for u in units]
    if not units:
        raise ValueError("no units to export")
    if len(set(units)) != len(units):
        raise ValueError(f"units {units}: each unit at most once")
    n_examples = k if n_examples is None else n_examples
    if not isinstance(n_examples, int) or isinstance(n_examples, bool) or not 1 <= n_examples <= k:
        raise ValueError(f"n_examples = {n_examples!r}: expected 1 to {k} (the top frames hold {k} per unit)")
    if not _PREFIX.match(prefix):
        raise ValueError(f"file prefix {prefix!r}: expected only letters, digits, '.', '_' and '-'")
    if not table_name or "/" in table_name or os.sep in table_name or table_name.startswith("."):
        raise ValueError(f"table name {table_name!r}: expected a plain file name such as {TABLE_NAME!r}")
    _check_corpus(clips, labels, clip_ids)

    rows, snippets = [], []
    for unit in units:
        for rank in range(n_examples):
            clip, frame = int(top.clip[unit, rank]), int(top.frame[unit, rank])
            if not 0 <= clip < len(clips):
                raise ValueError(f"unit {unit} rank {rank}: clip {clip} is not in the corpus of {len(clips)} clips")
            try:
                cut = snippet(clips[clip], frame, options)
            except ValueError as error:
                raise ValueError(f"unit {unit} rank {rank}, clip {clip}: {error}") from error
            label = None
            if labels is not None:
                if frame >= len(labels[clip]):
                    raise ValueError(f"unit {unit} rank {rank}: clip {clip} has labels for {len(labels[clip])} "
                                     f"frames, not frame {frame}")
                label = str(labels[clip][frame])
            name = file_name(prefix, unit, rank)
            rows.append({"unit": unit, "rank": rank, "clip": clip,
                         "clip_id": str(clip_ids[clip]) if clip_ids is not None else str(clip),
                         "frame": frame, "time_s": round(frame * FRAME_S, 6), "label": label,
                         "activation": float(top.values[unit, rank]),
                         "start_s": round(cut.start / SAMPLE_RATE, 6), "end_s": round(cut.stop / SAMPLE_RATE, 6),
                         "file": name})
            snippets.append(cut)
    if table_name in {row["file"] for row in rows}:
        raise ValueError(f"table name {table_name!r} is also a snippet's name")
    _write_all(Path(out_dir), rows, snippets, options, table_name)
    return rows


def _unit(unit, n_units: int) -> int:
    if isinstance(unit, bool) or not isinstance(unit, (int, np.integer)) or not 0 <= unit < n_units:
        raise ValueError(f"unit {unit!r} is out of range: the top frames hold units 0 to {n_units - 1}")
    return int(unit)


def _check_corpus(clips, labels, clip_ids) -> None:
    for i, audio in enumerate(clips):
        audio = np.asarray(audio)
        if audio.ndim != 1 or len(audio) == 0 or not np.issubdtype(audio.dtype, np.floating):
            raise ValueError(f"clip {i}: expected a non-empty 1-D float waveform, got {audio.dtype} {audio.shape}")
        if not np.isfinite(audio).all():
            raise ValueError(f"clip {i}: NaN or infinite samples; expected a finite waveform")
    for what, values in (("labels", labels), ("clip_ids", clip_ids)):
        if values is not None and len(values) != len(clips):
            raise ValueError(f"{len(values)} {what} for {len(clips)} clips: expected one per clip")
    if clip_ids is not None:
        for clip_id in clip_ids:
            if re.search(r"[\t\r\n]", str(clip_id)):
                raise ValueError(f"clip id {clip_id!r}: tabs and line breaks cannot go into the TSV table")


def table_lines(rows: Sequence[dict]) -> list[str]:
    """The TSV table of ``export_units``' rows: a header of ``COLUMNS`` and one line per snippet."""
    lines = ["\t".join(COLUMNS)]
    for row in rows:
        cells = []
        for column in COLUMNS:
            value = row[column]
            cells.append("" if value is None else f"{value:.6g}" if column == "activation" else str(value))
        lines.append("\t".join(cells))
    return lines


def _write_all(out_dir: Path, rows: list[dict], snippets: list[Snippet], options: ListenOptions,
               table_name: str) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir}: is a file; expected a folder for the listening examples")
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=".listen-", suffix=".part"))
    except OSError as error:
        raise OSError(f"{out_dir}: cannot create the folder for the listening examples: {error}") from error
    published = False
    try:
        for row, cut in zip(rows, snippets):
            soundfile.write(staging / row["file"], np.clip(cut.audio, -1.0, 1.0), SAMPLE_RATE,
                            subtype=options.subtype, format="WAV")
        (staging / table_name).write_text("\n".join(table_lines(rows)) + "\n", encoding="utf-8")
        for name in [row["file"] for row in rows] + [table_name]:
            os.replace(staging / name, out_dir / name)
        published = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not published and created:
            try:
                out_dir.rmdir()  # made for this export, empty again
            except OSError:
                pass


# command line ------------------------------------------------------------------------------------

def parse_units(text: str) -> list[int]:
    """``"0,1,3"``, ``"0-49"`` or a mix (``"0-9,40"``) as a list of unit indices, in order, without repeats."""
    units: list[int] = []
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if match is None or (match.group(2) is not None and int(match.group(2)) < int(match.group(1))):
            raise ValueError(f"units {text!r}: expected indices and ranges such as 0,1,3 or 0-49, got {part!r}")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        units += [u for u in range(low, high + 1) if u not in units]
    return units


def default_prefix(layer: str, sae: bool = False) -> str:
    """File prefix after the post's names: ``b2_mlp1_`` (neurons), ``b3_res_`` (residual dimensions),
    ``b3_sae_`` (SAE features; the post's own SAE clips are named ``b3_res_``)."""
    parsed = parse_layer(layer)
    if parsed is None or parsed[0] != "encoder":
        return "unit"
    _, block, neurons = parsed
    return f"b{block}_" + ("mlp1_" if neurons else "sae_" if sae else "res_")


def audio_files(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """The given audio files, with each folder replaced by its .wav and .flac files (recursive, sorted)."""
    return files_below(paths, lambda p: p.suffix.lower() in (".wav", ".flac"), ".wav or .flac files")


def export_top_frames(model: Whisper, layer: str, clips: Sequence[np.ndarray], out_dir: str | os.PathLike, *,
                      units: Sequence[int], k: int = 10, sae: Optional[SparseAutoencoder] = None,
                      trim: bool = False, labels: Optional[Sequence[Sequence[str]]] = None,
                      clip_ids: Optional[Sequence[str]] = None, prefix: Optional[str] = None,
                      options: ListenOptions = ListenOptions()) -> list[dict]:
    """Mine a corpus for the top-``k`` frames of ``units`` and export them: what ``whisper-claims listen`` runs.

    Parameters
    ----------
    model : Whisper
    layer : str
        ``encoder.blocks.N.mlp.1`` (neurons) or ``encoder.blocks.N`` (residual dimensions, or with ``sae``
        the features of that SAE).
    clips : sequence of np.ndarray
        16 kHz mono waveforms, each fitting the model's window (``audio.check_fits``).
    out_dir : str or PathLike
        Folder for the snippets and the table, as in ``export_units``.
    units : sequence of int
        Units to export, in order.
    k : int
        Examples per unit.
    sae : SparseAutoencoder, optional
        Mine and export its features on ``layer`` instead of the layer's own units.
    trim : bool
        Run the encoder on each clip's frames only instead of padding to the window.
    labels, clip_ids : optional
        Per clip, as in ``export_units`` (e.g. ``alignment_labels``; the files' paths).
    prefix : str, optional
        Start of every file name; default ``default_prefix(layer, sae is not None)``.
    options : ListenOptions

    Returns
    -------
    list of dict
        The rows of ``export_units``.
    """
    if sae is not None:
        top = mine_sae_features(model, clips, layer, sae, k, trim=trim)
    else:
        top = mine_top_frames(model, clips, layer, k, trim=trim)
    return export_units(top, clips, out_dir, units=units, labels=labels, clip_ids=clip_ids,
                        prefix=default_prefix(layer, sae is not None) if prefix is None else prefix,
                        options=options)


def alignment_labels(files: Sequence[Path], clips: Sequence[np.ndarray]) -> list[list[str]]:
    """Per clip, the label of every encoder frame, from the alignment beside its audio file
    (``alignment_files.find_alignment``).

    Raises
    ------
    ValueError
        For a file without an alignment beside it.
    """
    labels = []
    for path, audio in zip(files, clips):
        alignment = find_alignment(path)
        if alignment is None:
            raise ValueError(f"{path}: no alignment beside it (e.g. {path.stem}.TextGrid or {path.stem}.phones.tsv); "
                             f"leave out --labels or add one")
        labels.append(list(frame_labels(read_alignment(alignment), clip_frames(len(audio)))))
    return labels
