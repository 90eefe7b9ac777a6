"""Phone alignment files: TextGrid, CMU ARCTIC .lab, HTS, TIMIT .phn/.wrd and phones.tsv readers, and folders
of aligned audio.

Every reader returns `whisper_claims.stimuli.phones.PhoneSegment` intervals with the labels as written;
`read_alignment` and `read_aligned_folder` map them to `whisper_claims.stimuli.phones.LABELS` with
`whisper_claims.stimuli.phones.map_segments`, the source chosen by the file's format.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import AlignmentError
from .phones import SILENCE_LABELS, PhoneSegment, map_segments


@dataclass(frozen=True)
class AlignedClip:
    """An audio file and its phone alignment; ``segments`` are mapped to `whisper_claims.stimuli.phones.LABELS`."""

    audio_path: Path
    segments: tuple[PhoneSegment, ...]
    text: str | None
    alignment_path: Path | None = None


def _read_text(path: Path, what: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise AlignmentError(f"{path}: cannot read the {what}: {e.strerror or e}") from e
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"  # Praat writes UTF-16 when a label is not ASCII
    else:
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        raise AlignmentError(
            f"{path}: the {what} is not {encoding.upper()} text (byte {e.start}); expected UTF-8 or UTF-16"
        ) from e


def _check_order(segments: list[PhoneSegment], lines: list[int], path: Path) -> tuple[PhoneSegment, ...]:
    for i in range(1, len(segments)):
        if segments[i].start_s < segments[i - 1].end_s - 1e-6:
            raise AlignmentError(
                f"{path}:{lines[i]}: interval {segments[i].label!r} starts at {segments[i].start_s} s, "
                f"before the previous one ends ({segments[i - 1].end_s} s): expected intervals in time "
                "order, not overlapping"
            )
    return tuple(segments)


def _segment(start: float, end: float, label: str, path: Path, line: int) -> PhoneSegment:
    if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end < start:
        raise AlignmentError(
            f"{path}:{line}: interval {label!r} from {start} to {end} s: expected finite times with "
            "0 <= start <= end"
        )
    return PhoneSegment(float(start), float(end), label)


# TextGrid ---------------------------------------------------------------------------------------

_TG_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"]|"")*")
    | (?P<flag><exists>|<absent>)
    | (?P<bracket>\[[^\]\n]*\])
    | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![\w.])
    | (?P<word>[A-Za-z_][\w?]*)
    | (?P<punct>[=:])
    | (?P<comment>![^\n]*)
    | (?P<space>\s+)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    value: object
    line: int


def _textgrid_tokens(text: str, path: Path) -> list[_Token]:
    tokens, line = [], 1
    for match in _TG_TOKEN.finditer(text):
        kind, raw = match.lastgroup, match.group()
        if kind == "string":
            tokens.append(_Token("string", raw[1:-1].replace('""', '"'), line))
        elif kind == "number":
            tokens.append(_Token("number", float(raw), line))
        elif kind == "flag":
            tokens.append(_Token("flag", raw, line))
        elif kind == "other":
            raise AlignmentError(
                f"{path}:{line}: unexpected character {raw!r} in a TextGrid; expected Praat's text "
                "format (long or short)"
            )
        line += raw.count("\n")
    return tokens


class _TokenReader:
    def __init__(self, tokens: list[_Token], path: Path):
        self.tokens, self.path, self.i = tokens, path, 0

    def take(self, kind: str, what: str):
        if self.i >= len(self.tokens):
            last = self.tokens[-1].line if self.tokens else 1
            raise AlignmentError(f"{self.path}:{last}: the TextGrid ends early: expected {what}")
        token = self.tokens[self.i]
        if token.kind != kind:
            shown = f'"{token.value}"' if token.kind == "string" else token.value
            raise AlignmentError(f"{self.path}:{token.line}: found {shown}, expected {what} ({kind})")
        self.i += 1
        return token.value, token.line

    def count(self, what: str) -> int:
        value, line = self.take("number", what)
        if value != int(value) or value < 0:
            raise AlignmentError(f"{self.path}:{line}: {what} is {value}, expected a whole number >= 0")
        return int(value)


def read_textgrid_tiers(path: str | os.PathLike) -> list[tuple[str, tuple[PhoneSegment, ...]]]:
    """
    Every interval tier of a Praat TextGrid (long or short text format, UTF-8 or UTF-16).

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    list of (str, tuple of PhoneSegment)
        Tier name and intervals, in file order, labels as written. Point tiers are skipped.

    Raises
    ------
    AlignmentError
        If the file is unreadable, binary, or malformed; the message names the file and line.
    """
    path = Path(path)
    text = _read_text(path, "TextGrid")
    if text.lstrip().startswith("ooBinaryFile"):
        raise AlignmentError(f"{path}: a binary TextGrid; expected Praat's text format (save it as text)")
    reader = _TokenReader(_textgrid_tokens(text, path), path)
    file_type, line = reader.take("string", 'the file type "ooTextFile"')
    if not file_type.startswith("ooTextFile"):
        raise AlignmentError(f'{path}:{line}: file type "{file_type}", expected "ooTextFile"')
    object_class, line = reader.take("string", 'the object class "TextGrid"')
    if not object_class.startswith("TextGrid"):
        raise AlignmentError(f'{path}:{line}: object class "{object_class}", expected "TextGrid"')
    reader.take("number", "the TextGrid's xmin")
    reader.take("number", "the TextGrid's xmax")
    exists, _ = reader.take("flag", "<exists> or <absent> (whether there are tiers)")
    if exists == "<absent>":
        return []
    tiers = []
    for t in range(1, reader.count("the number of tiers") + 1):
        tier_class, line = reader.take("string", f"the class of tier {t}")
        name, _ = reader.take("string", f"the name of tier {t}")
        reader.take("number", f"xmin of tier {name!r}")
        reader.take("number", f"xmax of tier {name!r}")
        if tier_class == "IntervalTier":
            n = reader.count(f"the number of intervals of tier {name!r}")
            segments, lines = [], []
            for k in range(1, n + 1):
                where = f"interval {k} of {n} of tier {name!r}"
                start, line = reader.take("number", f"xmin of {where}")
                end, _ = reader.take("number", f"xmax of {where}")
                label, _ = reader.take("string", f"the text of {where}")
                segments.append(_segment(start, end, label, path, line))
                lines.append(line)
            tiers.append((name, _check_order(segments, lines, path)))
        elif tier_class == "TextTier":
            n = reader.count(f"the number of points of tier {name!r}")
            for k in range(1, n + 1):
                reader.take("number", f"the time of point {k} of tier {name!r}")
                reader.take("string", f"the mark of point {k} of tier {name!r}")
        else:
            raise AlignmentError(
                f'{path}:{line}: tier class "{tier_class}", expected "IntervalTier" or "TextTier"'
            )
    return tiers


PHONE_TIER_NAMES = ("phones", "phone", "phonemes", "phoneme", "phns", "phn", "segments")
WORD_TIER_NAMES = ("words", "word")


def _tier_kind(name: str) -> str:
    # MFA names tiers "<speaker> - phones"
    return name.rsplit(" - ", 1)[-1].strip().lower()


def pick_tier(tiers, path, tier: str | None = None, names=PHONE_TIER_NAMES, what: str = "phone"):
    """The tier named ``tier``, else the one whose name is in ``names``, else the only interval tier."""
    found = [t for t in tiers if t[0] == tier] if tier is not None else [t for t in tiers if _tier_kind(t[0]) in names]
    if len(found) == 1:
        return found[0][1]
    listed = ", ".join(repr(t[0]) for t in tiers) or "none"
    if tier is not None:
        raise AlignmentError(f"{path}: has {len(found)} interval tiers named {tier!r}; its interval tiers: {listed}")
    if not found and len(tiers) == 1 and what == "phone":
        return tiers[0][1]
    raise AlignmentError(
        f"{path}: {'several' if found else 'no'} interval tier(s) named {'/'.join(names)} "
        f"(its interval tiers: {listed}); pass tier= to choose the {what} tier"
    )


def read_textgrid(path: str | os.PathLike, tier: str | None = None) -> tuple[PhoneSegment, ...]:
    """
    The phone tier of a TextGrid, labels as written.

    The tier is ``tier`` if given; else the interval tier named phones, phone, phonemes, phoneme,
    phns, phn or segments (case-insensitive; MFA's ``"<speaker> - phones"`` too); else the only
    interval tier.

    Raises
    ------
    AlignmentError
        If the file is malformed, or no single tier matches (the message lists the tiers).
    """
    return pick_tier(read_textgrid_tiers(path), Path(path), tier)


# CMU ARCTIC / festival .lab ---------------------------------------------------------------------

def read_cmu_lab(path: str | os.PathLike) -> tuple[PhoneSegment, ...]:
    """
    A CMU ARCTIC (festival/ESPS) ``.lab`` file: header lines up to ``#``, then ``end_time color label``.

    Each interval starts where the previous one ends; the first starts at 0. Labels as written
    (lowercase ARPAbet, ``pau`` for silence).

    Raises
    ------
    AlignmentError
        Naming the file and line of a malformed or out-of-order line.
    """
    path = Path(path)
    lines = _read_text(path, "CMU lab file").splitlines()
    body = next((i + 1 for i, line in enumerate(lines) if line.strip() == "#"), 0)
    segments, numbers, previous = [], [], 0.0
    for lineno, line in enumerate(lines[body:], start=body + 1):
        fields = line.split(None, 2)
        if not fields:
            continue
        if len(fields) < 3:
            raise AlignmentError(
                f"{path}:{lineno}: {line.strip()!r} has {len(fields)} field(s), expected "
                "'end_time color label' (e.g. '0.18075 125 pau')"
            )
        try:
            end = float(fields[0])
        except ValueError:
            raise AlignmentError(f"{path}:{lineno}: end time {fields[0]!r} is not a number") from None
        label = fields[2].split(";")[0].strip()
        if end < previous:
            raise AlignmentError(
                f"{path}:{lineno}: end time {end} is before the previous end time {previous}: "
                "expected increasing end times"
            )
        segments.append(_segment(previous, end, label, path, lineno))
        numbers.append(lineno)
        previous = end
    if not segments:
        raise AlignmentError(f"{path}: no 'end_time color label' lines after the '#' header line")
    return _check_order(segments, numbers, path)


# HTS labels -------------------------------------------------------------------------------------

HTS_UNITS_PER_S = 10_000_000  # HTS times are in 100 ns units
_HTS_CURRENT = re.compile(r"^[^\^]*\^[^-]*-([^+]+)\+")
_HTS_STATE = re.compile(r"\[\d+\]$")


def hts_phone(label: str) -> str:
    """The current phone of an HTS label: ``p3`` of a full-context ``p1^p2-p3+p4=p5@...``, or a mono label."""
    match = _HTS_CURRENT.match(label)
    return match.group(1) if match else label


def read_hts(path: str | os.PathLike) -> tuple[PhoneSegment, ...]:
    """
    An HTS label file with times: ``start end label`` per line, times in 100 ns units.

    Full-context labels give their current phone (between ``-`` and ``+``); mono labels are used
    as they are. State-level labels (``...[2]``) are merged into one interval per phone.

    Raises
    ------
    AlignmentError
        Naming the file and line of a malformed or out-of-order line.
    """
    path = Path(path)
    segments, numbers, contexts = [], [], []
    for lineno, line in enumerate(_read_text(path, "HTS label file").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3 or not (fields[0].isdigit() and fields[1].isdigit()):
            raise AlignmentError(
                f"{path}:{lineno}: {line.strip()[:60]!r}: expected 'start end label' with integer "
                "times in 100 ns units (an HTS label without times cannot be used as an alignment)"
            )
        start, end = int(fields[0]) / HTS_UNITS_PER_S, int(fields[1]) / HTS_UNITS_PER_S
        context = _HTS_STATE.sub("", fields[2])
        if contexts and context == contexts[-1] and fields[2] != context and abs(start - segments[-1].end_s) < 1e-9:
            segments[-1] = _segment(segments[-1].start_s, end, segments[-1].label, path, lineno)
            continue
        segments.append(_segment(start, end, hts_phone(context), path, lineno))
        numbers.append(lineno)
        contexts.append(context)
    if not segments:
        raise AlignmentError(f"{path}: no 'start end label' lines")
    return _check_order(segments, numbers, path)


# TIMIT .phn / .wrd -------------------------------------------------------------------------------

TIMIT_SAMPLE_RATE = 16_000  # TIMIT's times are sample positions in its 16 kHz audio


def _read_timit(path: Path, what: str, sample_rate: int, overlap_ok: bool) -> tuple[PhoneSegment, ...]:
    segments, numbers, previous_start = [], [], 0
    for lineno, line in enumerate(_read_text(path, what).splitlines(), start=1):
        fields = line.split(None, 2)
        if not fields:
            continue
        if len(fields) != 3 or not (fields[0].isdigit() and fields[1].isdigit()):
            raise AlignmentError(
                f"{path}:{lineno}: {line.strip()[:60]!r}: expected 'start_sample end_sample label' with "
                f"whole-number sample positions at {sample_rate} Hz (e.g. '0 7812 h#')"
            )
        start, end = int(fields[0]), int(fields[1])
        if end < start:
            raise AlignmentError(
                f"{path}:{lineno}: {fields[2].strip()!r} ends at sample {end}, before its start {start}: "
                "expected start <= end"
            )
        if overlap_ok and start < previous_start:
            raise AlignmentError(
                f"{path}:{lineno}: {fields[2].strip()!r} starts at sample {start}, before the previous line's "
                f"start {previous_start}: expected lines in time order"
            )
        previous_start = start
        segments.append(_segment(start / sample_rate, end / sample_rate, fields[2].strip(), path, lineno))
        numbers.append(lineno)
    if not segments:
        raise AlignmentError(f"{path}: no 'start_sample end_sample label' lines")
    return tuple(segments) if overlap_ok else _check_order(segments, numbers, path)


def read_timit_phones(path: str | os.PathLike, sample_rate: int = TIMIT_SAMPLE_RATE) -> tuple[PhoneSegment, ...]:
    """
    A TIMIT phone file (``.phn``): ``start_sample end_sample phone`` per line, in samples at 16 kHz.

    Parameters
    ----------
    path : str or PathLike
    sample_rate : int
        Rate the sample positions count in; TIMIT's is 16000.

    Returns
    -------
    tuple of PhoneSegment
        Times in seconds (sample / rate), labels as written (TIMIT's 61 phones: map them with
        `whisper_claims.stimuli.phones.map_segments` and source ``"timit"``).

    Raises
    ------
    AlignmentError
        Naming the file and line of a malformed, backwards or overlapping interval.
    """
    return _read_timit(Path(path), "TIMIT phone file", sample_rate, overlap_ok=False)


def read_timit_words(path: str | os.PathLike, sample_rate: int = TIMIT_SAMPLE_RATE) -> tuple[PhoneSegment, ...]:
    """
    A TIMIT word file (``.wrd``): ``start_sample end_sample word`` per line, in samples at 16 kHz.

    Pauses are not listed, so there are gaps; neighbouring words may overlap where they share a
    phone ("your" after "had" in sa1: 21 such overlaps in the NLTK sample), which is allowed here.

    Returns
    -------
    tuple of PhoneSegment
        Words with their times in seconds, in file order.

    Raises
    ------
    AlignmentError
        Naming the file and line of a malformed line, or one starting before the previous line.
    """
    return _read_timit(Path(path), "TIMIT word file", sample_rate, overlap_ok=True)


_TIMIT_TEXT = re.compile(r"\s*(\d+)\s+(\d+)\s+(.*\S)\s*", re.DOTALL)


def read_timit_text(path: str | os.PathLike) -> str:
    """
    The sentence of a TIMIT transcript (``.txt``: ``start_sample end_sample sentence``), its sample span dropped.

    Raises
    ------
    AlignmentError
        If the file is not one line of that form.
    """
    path = Path(path)
    text = _read_text(path, "TIMIT transcript")
    match = _TIMIT_TEXT.fullmatch(text)
    if match is None:
        raise AlignmentError(
            f"{path}:1: {text.strip()[:60]!r}: expected 'start_sample end_sample sentence' (e.g. '0 54682 She had ...')"
        )
    return " ".join(match.group(3).split())


# phones.tsv -------------------------------------------------------------------------------------

PHONES_TSV_HEADER = ("start_s", "end_s", "label")


def read_phones_tsv(path: str | os.PathLike) -> tuple[PhoneSegment, ...]:
    """
    A tab-separated file with the header ``start_s end_s label`` and one interval per line.

    The label may be empty (silence).

    Raises
    ------
    AlignmentError
        Naming the file and line of a malformed or out-of-order line.
    """
    path = Path(path)
    lines = _read_text(path, "phones.tsv file").split("\n")
    header = lines[0].rstrip("\r").split("\t") if lines else []
    if tuple(header) != PHONES_TSV_HEADER:
        raise AlignmentError(
            f"{path}:1: header is {header}, expected the tab-separated columns {list(PHONES_TSV_HEADER)}"
        )
    segments, numbers = [], []
    for lineno, line in enumerate(lines[1:], start=2):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise AlignmentError(
                f"{path}:{lineno}: {len(fields)} tab-separated fields, expected 3 (start_s, end_s, label)"
            )
        try:
            start, end = float(fields[0]), float(fields[1])
        except ValueError:
            raise AlignmentError(
                f"{path}:{lineno}: start_s {fields[0]!r} or end_s {fields[1]!r} is not a number"
            ) from None
        segments.append(_segment(start, end, fields[2].strip(), path, lineno))
        numbers.append(lineno)
    return _check_order(segments, numbers, path)


# any format -------------------------------------------------------------------------------------

FORMATS = ("textgrid", "cmu_lab", "hts", "timit", "phones_tsv")
LABEL_SOURCE = {"textgrid": "auto", "cmu_lab": "cmu", "hts": "hts", "timit": "timit", "phones_tsv": "auto"}


def detect_format(path: str | os.PathLike) -> str:
    """
    The alignment format of a file, from its name and first lines: one of `FORMATS`.

    ``.TextGrid`` -> textgrid; ``.tsv`` -> phones_tsv; ``.phn`` -> timit; ``.lab`` (or
    ``.hts``/``.mono``/``.full``) -> cmu_lab if a line is ``#``, hts if the first line is
    ``start end label`` with integer times.

    Raises
    ------
    AlignmentError
        For another suffix (a TIMIT ``.wrd`` holds words, not phones), or a ``.lab`` that is
        neither (e.g. a transcript).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".textgrid":
        return "textgrid"
    if suffix == ".tsv":
        return "phones_tsv"
    if suffix == ".phn":
        return "timit"
    if suffix == ".wrd":
        raise AlignmentError(
            f"{path}: a TIMIT word alignment, not a phone alignment: the phones are in {path.stem}.phn "
            "(read the words with read_timit_words)"
        )
    if suffix in (".lab", ".hts", ".mono", ".full"):
        lines = [line.strip() for line in _read_text(path, "label file").splitlines()]
        if "#" in lines:
            return "cmu_lab"
        first = next((line for line in lines if line), "")
        if re.match(r"^\d+\s+\d+\s+\S", first):
            return "hts"
        raise AlignmentError(
            f"{path}: neither a CMU lab file (no '#' header line) nor an HTS label file (first line "
            f"{first[:60]!r} is not 'start end label'); a .lab holding a transcript is not an alignment"
        )
    raise AlignmentError(
        f"{path}: unknown alignment format {path.suffix!r}; expected .TextGrid, .phones.tsv, "
        ".lab (CMU ARCTIC), an HTS .lab or a TIMIT .phn"
    )


def read_alignment(
    path: str | os.PathLike, *, tier: str | None = None, map_labels: bool = True
) -> tuple[PhoneSegment, ...]:
    """
    Read an alignment in any supported format (`detect_format`).

    Parameters
    ----------
    path : str or PathLike
    tier : str, optional
        TextGrid tier to use (see `read_textgrid`).
    map_labels : bool
        Map labels to `phones.LABELS` (`phones.map_segments`, source by format: textgrid and
        phones_tsv auto, cmu_lab cmu, hts hts, timit timit); False keeps them as written.

    Returns
    -------
    tuple of PhoneSegment

    Raises
    ------
    AlignmentError
        For a malformed file or an unknown label, naming the file.
    """
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "textgrid":
        segments = read_textgrid(path, tier)
    elif fmt == "cmu_lab":
        segments = read_cmu_lab(path)
    elif fmt == "hts":
        segments = read_hts(path)
    elif fmt == "timit":
        segments = read_timit_phones(path)
    else:
        segments = read_phones_tsv(path)
    return map_segments(segments, LABEL_SOURCE[fmt], where=str(path)) if map_labels else segments


# folders ----------------------------------------------------------------------------------------

AUDIO_SUFFIXES = (".wav", ".flac")
# where an alignment of <stem>.wav is looked for, in order of preference
ALIGNMENT_NAMES = (
    "{stem}.TextGrid", "{stem}.textgrid", "{stem}_phones.TextGrid", "{stem}.phones.TextGrid",
    "{stem}.phones.tsv", "{stem}.lab", "{stem}.hts_phone.lab", "{stem}_phone.lab", "{stem}.hts.lab",
    "{stem}.phn", "{stem}.PHN",  # TIMIT: lower case in NLTK's sample, upper case on the LDC discs
)
TEXT_NAMES = ("{stem}.txt", "{stem}.TXT")
WORDS_TEXTGRID_NAMES = ("{stem}.TextGrid", "{stem}_words.TextGrid", "{stem}.words.TextGrid")


def find_alignment(audio_path: str | os.PathLike) -> Path | None:
    """The first existing file of `ALIGNMENT_NAMES` beside an audio file (a transcript .lab is skipped)."""
    audio_path = Path(audio_path)
    for pattern in ALIGNMENT_NAMES:
        candidate = audio_path.with_name(pattern.format(stem=audio_path.stem))
        if candidate.is_file():
            if candidate.suffix == ".lab" and _is_transcript(candidate):
                continue
            return candidate
    return None


def _is_transcript(path: Path) -> bool:
    try:
        detect_format(path)
    except AlignmentError:
        return True
    return False


def clip_text(audio_path: str | os.PathLike, alignment: str | os.PathLike | None = None) -> str | None:
    """The words spoken in an audio file, from the files beside it: ``<stem>.txt`` (for TIMIT, whose
    alignment is a .phn, without its sample span), else the words tier of a TextGrid, else a transcript
    ``<stem>.lab``; None when there is none."""
    audio_path = Path(audio_path)
    alignment = None if alignment is None else Path(alignment)
    stem = audio_path.stem
    for pattern in TEXT_NAMES:
        candidate = audio_path.with_name(pattern.format(stem=stem))
        if candidate.is_file():
            if alignment is not None and alignment.suffix.lower() == ".phn":
                return read_timit_text(candidate)  # TIMIT's transcript starts with its sample span
            return " ".join(_read_text(candidate, "transcript").split()) or None
    for pattern in WORDS_TEXTGRID_NAMES:
        candidate = audio_path.with_name(pattern.format(stem=stem))
        if candidate.is_file():
            tiers = read_textgrid_tiers(candidate)
            found = [t for t in tiers if _tier_kind(t[0]) in WORD_TIER_NAMES]
            if len(found) == 1:
                words = [s.label.strip() for s in found[0][1] if s.label.strip().lower() not in SILENCE_LABELS]
                return " ".join(words) or None
    lab = audio_path.with_name(f"{stem}.lab")
    if lab.is_file() and _is_transcript(lab):
        return " ".join(_read_text(lab, "transcript").split()) or None
    return None


def read_aligned_folder(
    folder: str | os.PathLike, *, recursive: bool = True, tier: str | None = None
) -> list[AlignedClip]:
    """
    Every audio file (.wav, .flac) in a folder that has an alignment beside it.

    The alignment of ``<stem>.wav`` is the first of `ALIGNMENT_NAMES` that exists (``<stem>.TextGrid``,
    ``<stem>_phones.TextGrid``, ``<stem>.phones.tsv``, ``<stem>.lab``, ``<stem>.hts_phone.lab``, ...,
    TIMIT's ``<stem>.phn``); its labels are mapped to `phones.LABELS`. The text is ``<stem>.txt`` (for
    TIMIT without its sample span), else the words tier of a TextGrid beside it, else a transcript
    ``<stem>.lab``, else None. Audio without an alignment is left out.

    Parameters
    ----------
    folder : str or PathLike
    recursive : bool
        Look in subfolders too.
    tier : str, optional
        TextGrid phone tier name, when the default choice does not fit.

    Returns
    -------
    list of AlignedClip
        Sorted by audio path.

    Raises
    ------
    AlignmentError
        If the folder does not exist or holds no aligned audio, or an alignment is malformed or
        has an unknown label (the message names the file).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise AlignmentError(f"{folder}: not a folder; expected a folder of audio files with alignments")
    pattern = "**/*" if recursive else "*"
    audio = sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    clips = []
    for audio_path in audio:
        alignment = find_alignment(audio_path)
        if alignment is None:
            continue
        segments = read_alignment(alignment, tier=tier)
        clips.append(AlignedClip(audio_path, segments, clip_text(audio_path, alignment), alignment))
    if not clips:
        names = ", ".join(n.format(stem="<stem>") for n in ALIGNMENT_NAMES)
        raise AlignmentError(
            f"{folder}: found {len(audio)} audio file(s) (.wav, .flac) but none with an alignment "
            f"beside it; expected one of {names}"
        )
    return clips
