"""Phone labels: one label set, the mapping of every source's labels to it, and frame labels.

One label set everywhere: ARPAbet-39 without stress (`PHONES`) plus ``"sil"`` (`SIL`) for silence
and anything that is not speech. `to_arpabet` maps the labels of each source to it:

``arpabet`` (also ``cmu``, ``hts``, ``mfa``)
    ARPAbet in any case, stress digits dropped (``AH0`` -> ``AH``). TIMIT's extra symbols are
    folded as in the usual 61 -> 39 folding: ``ax``/``axh`` -> ``AH``, ``axr`` -> ``ER``, ``ix``
    -> ``IH``, ``ux`` -> ``UW``, ``el`` -> ``L``, ``em`` -> ``M``, ``en``/``nx`` -> ``N``, ``eng``
    -> ``NG``, ``hv`` -> ``HH``; the flap ``dx`` -> ``D`` (the set has no flap); the glottal
    stop ``q`` -> ``T`` (in English it mostly realises /t/). A label that is not a symbol but
    is two or three consonant symbols run together (praatIO's ``PT``) is split into them, and
    `map_segments` shares the interval's duration equally between them. This is lenient, for
    labels that borrow a TIMIT symbol; TIMIT's own files use ``timit``.
``timit``
    TIMIT's 61 phones folded to 39 exactly as Lee & Hon (1989), table `TIMIT_61_TO_39` (the third
    column of Kaldi's ``egs/timit/s5/conf/phones.60-48-39.map``): ``ao`` -> ``AA``, ``ax``/``ax-h``
    -> ``AH``, ``axr`` -> ``ER``, ``hv`` -> ``HH``, ``ix`` -> ``IH``, ``el`` -> ``L``, ``em`` ->
    ``M``, ``en``/``nx`` -> ``N``, ``eng`` -> ``NG``, ``zh`` -> ``SH``, ``ux`` -> ``UW``, the closures
    ``bcl dcl gcl pcl tcl kcl`` and ``h# pau epi`` -> ``sil``. So TIMIT clips never carry ``AO`` or
    ``ZH``. The one Lee & Hon class outside `LABELS`, the flap ``dx``, -> ``D`` as above. The
    glottal stop ``q``, which Lee & Hon delete, has no label of its own: `map_segments` gives its
    interval to the next segment (in the NLTK TIMIT sample 122 of its 141 ``q`` begin a vowel), or,
    when the next is silence or there is none, to the previous one (with no neighbour, ``sil``).
``ipa``
    IPA, one phone or a run of phones (``tʃ`` -> ``CH``, ``aɪ`` -> ``AY``, ``ɑɹ`` -> ``AA R``);
    length and stress marks, tie bars and other combining diacritics are ignored. Non-English
    vowels go to the nearest English one (``œ``/``ø`` -> ``ER``, ``y`` -> ``UW``), ``ɾ`` -> ``D``,
    ``ʔ`` -> ``T``, ``x`` -> ``K``, ``ç`` -> ``HH``. See `IPA`.
``espeak``, ``espeak-nonrhotic``
    espeak-ng's English phoneme mnemonics (tables en, en-us, en-sc, en-rp, en-n, en-wm, en-wi),
    stress marks (``'`` ``,`` ``%`` ``=``) ignored; pauses (``_``, ``_:``, ``_!``, ...) -> ``sil``;
    the syllabic ``@L`` (ə|l) -> ``AH L``; ``?`` (a glottalised /t/) -> ``T``. See `ESPEAK`.
    espeak-ng writes an r-coloured vowel as one phoneme, which it speaks with the r in the
    rhotic en-us voices only (its IPA: ``A@`` = ɑːɹ in en-us, ɑː in en). ``espeak`` is for
    the en-us voices: ``A@`` -> ``AA R``, ``aI@`` -> ``AY ER``, ``3`` (ɚ) -> ``ER``;
    ``espeak-nonrhotic`` for every other English voice: ``A@`` -> ``AA``, ``3`` (ə) -> ``AH``
    (`ESPEAK_NONRHOTIC`; the Scottish voice writes its r as a phoneme of its own).
``auto``
    ARPAbet if the label is one, else IPA. `map_segments` decides once per file (`detect_source`):
    ARPAbet if every label is ARPAbet, else IPA if every label is IPA, else the notation more
    labels fit (the others are then errors), so IPA ``i`` is never read as an ARPAbet typo.

In every source the empty label and the markers in `SILENCE_LABELS` (``sil``, ``sp``, ``spn``,
``pau``, ``h#``, TIMIT closures, ``<eps>``, ...) map to ``sil``. Any other label that does not
map is an error (`UnknownLabelError`), never silently ``sil``.

Encoder frame ``f`` (20 ms) covers ``[20 f, 20 f + 20)`` ms; `frame_labels` gives it the label
that covers most of it.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from ..errors import AlignmentError, UnknownLabelError
from .audio import FRAME_S, SAMPLE_RATE

PHONES = (
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH",
    "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH",
    "UW", "V", "W", "Y", "Z", "ZH",
)
SIL = "sil"
LABELS = PHONES + (SIL,)
LABEL_INDEX = {label: i for i, label in enumerate(LABELS)}
VOWELS = frozenset({"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"})
SOURCES = ("arpabet", "cmu", "hts", "mfa", "timit", "ipa", "espeak", "espeak-nonrhotic", "auto")

# silence, pauses, noise and non-speech markers of the sources (compared in lower case)
SILENCE_LABELS = frozenset({
    "", "sil", "sp", "spn", "pau", "h#", "#h", "#", "epi", "ns", "nsn", "noise", "<sil>", "<sp>",
    "<eps>", "<unk>", "<noise>", "sil0", "silence", "pcl", "tcl", "kcl", "bcl", "dcl", "gcl",
})

# ARPAbet beyond the 39: TIMIT symbols, folded
_ARPABET_EXTRA = {
    "AX": "AH", "AXH": "AH", "AXR": "ER", "IX": "IH", "UX": "UW", "EL": "L", "EM": "M", "EN": "N",
    "NX": "N", "ENG": "NG", "HV": "HH", "DX": "D", "Q": "T",
}
_ARPABET = {**{p: p for p in PHONES}, **_ARPABET_EXTRA}

# TIMIT's 61 phones -> Lee & Hon's 39 (K.-F. Lee and H.-W. Hon, "Speaker-independent phone recognition
# using hidden Markov models", IEEE Trans. ASSP 37(11), 1989), as in Kaldi's timit recipe
# (egs/timit/s5/conf/phones.60-48-39.map, third column); q, deleted there, is None
TIMIT_61_TO_39 = {
    "aa": "aa", "ae": "ae", "ah": "ah", "ao": "aa", "aw": "aw", "ax": "ah", "ax-h": "ah", "axr": "er",
    "ay": "ay", "b": "b", "bcl": "sil", "ch": "ch", "d": "d", "dcl": "sil", "dh": "dh", "dx": "dx",
    "eh": "eh", "el": "l", "em": "m", "en": "n", "eng": "ng", "epi": "sil", "er": "er", "ey": "ey",
    "f": "f", "g": "g", "gcl": "sil", "h#": "sil", "hh": "hh", "hv": "hh", "ih": "ih", "ix": "ih",
    "iy": "iy", "jh": "jh", "k": "k", "kcl": "sil", "l": "l", "m": "m", "n": "n", "ng": "ng", "nx": "n",
    "ow": "ow", "oy": "oy", "p": "p", "pau": "sil", "pcl": "sil", "q": None, "r": "r", "s": "s",
    "sh": "sh", "t": "t", "tcl": "sil", "th": "th", "uh": "uh", "uw": "uw", "ux": "uw", "v": "v",
    "w": "w", "y": "y", "z": "z", "zh": "sh",
}
# Lee & Hon's classes as project labels: upper case; their flap dx, which LABELS lacks, as D
TIMIT = {
    phone: () if folded is None else (SIL,) if folded == "sil" else ("D",) if folded == "dx" else (folded.upper(),)
    for phone, folded in TIMIT_61_TO_39.items()
}
_ARPABET_LABEL = re.compile(r"([A-Za-z]+)([012])?")
_CONSONANTS = tuple(sorted((p for p in PHONES if p not in VOWELS), key=len, reverse=True))

# IPA phones (after removing length/stress marks and combining diacritics) -> ARPAbet
IPA = {
    # vowels
    "i": "IY", "ɪ": "IH", "e": "EY", "ɛ": "EH", "æ": "AE", "a": "AE", "ɑ": "AA", "ɒ": "AA",
    "ɔ": "AO", "o": "OW", "ʊ": "UH", "u": "UW", "ʉ": "UW", "ʌ": "AH", "ə": "AH", "ɐ": "AH",
    "ɘ": "AH", "ɵ": "AH", "ɤ": "AH", "ɜ": "ER", "ɝ": "ER", "ɚ": "ER", "ə˞": "ER", "ɜ˞": "ER",
    "ɨ": "IH", "y": "UW", "ʏ": "UH", "ɯ": "UW", "ø": "ER", "œ": "ER", "ɶ": "AA",
    # diphthongs (incl. MFA's aj, ej, ɔj, aw, ow)
    "aɪ": "AY", "ai": "AY", "aj": "AY", "ɑɪ": "AY", "ʌɪ": "AY", "äɪ": "AY",
    "eɪ": "EY", "ei": "EY", "ej": "EY",
    "ɔɪ": "OY", "ɔi": "OY", "oɪ": "OY", "oi": "OY", "ɔj": "OY",
    "aʊ": "AW", "au": "AW", "aw": "AW", "æʊ": "AW", "äʊ": "AW",
    "oʊ": "OW", "ou": "OW", "ow": "OW", "əʊ": "OW", "əu": "OW",
    "ɪə": "IH", "iə": "IH", "eə": "EH", "ɛə": "EH", "ʊə": "UH", "uə": "UH",
    # consonants
    "p": "P", "b": "B", "t": "T", "d": "D", "k": "K", "g": "G", "ɡ": "G", "c": "K", "ɟ": "G",
    "ʈ": "T", "ɖ": "D", "q": "K", "ʔ": "T", "ɾ": "D",
    "f": "F", "v": "V", "θ": "TH", "ð": "DH", "s": "S", "z": "Z", "ʃ": "SH", "ʒ": "ZH",
    "ɕ": "SH", "ʑ": "ZH", "ʂ": "SH", "ʐ": "ZH", "h": "HH", "ɦ": "HH", "ç": "HH", "x": "K",
    "χ": "K", "ɣ": "G", "β": "V", "ɸ": "F",
    "tʃ": "CH", "ʧ": "CH", "tɕ": "CH", "dʒ": "JH", "ʤ": "JH", "dʑ": "JH",
    "m": "M", "ɱ": "M", "n": "N", "ɲ": "N", "ɳ": "N", "ŋ": "NG",
    "l": "L", "ɫ": "L", "ɬ": "L", "ʎ": "L", "ɭ": "L",
    "ɹ": "R", "r": "R", "ɻ": "R", "ʁ": "R", "ʀ": "R",
    "w": "W", "ʍ": "W", "j": "Y",
}
_IPA_KEYS = tuple(sorted(IPA, key=len, reverse=True))
# marks that do not change the ARPAbet phone; combining diacritics (Mn) are dropped as well
_IPA_IGNORED = frozenset("ˈˌ'ːˑ:.|‿-ʰʲʷˠˤⁿˡ")

# espeak-ng English phoneme mnemonics -> ARPAbet (a tuple for a phoneme spanning two), as spoken
# by the rhotic en-us voices
ESPEAK = {
    # vowels
    "@": "AH", "@2": "AH", "@5": "AH", "@#": "AH", "@-": "AH", "a#": "AH", "V": "AH", "02": "AH",
    "3": "ER", "3:": "ER", "IR": "ER", "VR": "ER",
    "a": "AE", "a2": "AE", "aa": "AE", "a/": "AE", "A#": "AE",
    "A:": "AA", "0": "AA", "0#": "AA", "A~": "AA",
    "E": "EH", "E#": "EH", "E2": "EH", "e#": "EH", "e": "EH",
    "e:": "EY", "eI": "EY",
    "I": "IH", "I2": "IH", "I#": "IH", "I2#": "IH",
    "i": "IY", "i:": "IY",
    "O": "AO", "O:": "AO", "O2": "AO", "O~": "AO",
    "U": "UH",
    "u": "UW", "u:": "UW",
    "o": "OW", "o:": "OW", "oU": "OW", "oU#": "OW",
    "aI": "AY", "aI2": "AY",
    "aU": "AW",
    "OI": "OY",
    "@L": ("AH", "L"),
    # r-coloured vowels (en-us IPA ɑːɹ, ɔːɹ, ɛɹ, ɪɹ, ʊɹ, aɪɚ)
    "A@": ("AA", "R"), "O@": ("AO", "R"), "o@": ("AO", "R"), "e@": ("EH", "R"),
    "i@": ("IH", "R"), "i@3": ("IH", "R"), "U@": ("UH", "R"),
    "aI@": ("AY", "ER"), "aI3": ("AY", "ER"), "aU@": ("AW", "ER"),
    # consonants
    "p": "P", "b": "B", "t": "T", "t#": "T", "t2": "T", "t[": "T", "?": "T", "d": "D", "d#": "D",
    "d[": "D", "k": "K", "g": "G", "c": "K", "J": "G", "q": "K",
    "tS": "CH", "tS;": "CH", "dZ": "JH", "dZ;": "JH",
    "f": "F", "v": "V", "v#": "V", "B": "V", "T": "TH", "D": "DH",
    "s": "S", "s.": "S", "s;": "S", "z": "Z", "z#": "Z", "z/2": "Z", "z.": "Z", "z;": "Z",
    "S": "SH", "S;": "SH", "Z": "ZH", "Z;": "ZH",
    "h": "HH", "C": "HH", "x": "K", "X": "K", "Q": "G", "Q^": "G", 'Q"': "G",
    "m": "M", "m-": "M", "n": "N", "n-": "N", "n.": "N", "n^": "N", "N": "NG", "N-": "NG",
    "l": "L", "l/": "L", "l/2": "L", "l/3": "L", "l.": "L", "l^": "L", "l-": "L", "L": "L",
    "L/": "L", "l#": "L",
    "r": "R", "r-": "R", "r/": "R", "r.": "R", "R": "R", "R2": "R", "R3": "R", 'r"': "R", "**": "R",
    "w": "W", "w#": "W", "j": "Y", ";": "Y", "J^": "Y",
}
# the same phonemes as spoken by every English voice but en-us (no r in the vowel, 3 = ə)
ESPEAK_NONRHOTIC = {
    **ESPEAK,
    "3": "AH", "A@": "AA", "O@": "AO", "o@": "AO", "e@": "EH", "i@": "IH", "i@3": "IH", "U@": "UH",
    "aI@": "AY", "aI3": "AY", "aU@": "AW",
}
RHOTIC_ESPEAK_VOICES = frozenset({"en-us"})


def espeak_source(voice: str) -> str:
    """The label source of an espeak-ng voice: ``"espeak"`` for en-us (any variant), else ``"espeak-nonrhotic"``."""
    return "espeak" if voice.split("+", 1)[0].lower() in RHOTIC_ESPEAK_VOICES else "espeak-nonrhotic"


_ESPEAK_STRESS = re.compile(r"^['%,=]+!?")

@dataclass(frozen=True)
class PhoneSegment:
    """One labelled interval ``[start_s, end_s)`` in seconds."""

    start_s: float
    end_s: float
    label: str

    def __post_init__(self):
        if not (math.isfinite(self.start_s) and math.isfinite(self.end_s)) or not 0 <= self.start_s <= self.end_s:
            raise AlignmentError(
                f"segment {self.label!r} [{self.start_s}, {self.end_s}): expected finite times with "
                "0 <= start_s <= end_s"
            )



# ----------------------------------------------------------------------------------------------
# label mapping


def to_arpabet_sequence(label: str, source: str = "auto") -> tuple[str, ...]:
    """
    Map one source label to one or more labels of `LABELS`.

    Parameters
    ----------
    label : str
        The label as written in the source, e.g. ``"AH0"``, ``"pau"``, ``"ə"``, ``"'oU"``.
    source : str
        One of `SOURCES`; see the module documentation for each source's rules.

    Returns
    -------
    tuple of str
        Usually one label; more for a label spanning several phones (``"PT"``, ``"ɑɹ"``, ``"@L"``);
        none for TIMIT's glottal stop ``q`` under ``"timit"`` (`map_segments` gives its time to a
        neighbour).

    Raises
    ------
    UnknownLabelError
        If the label maps to nothing under ``source``.
    ValueError
        If ``source`` is not one of `SOURCES`.
    """
    if source not in SOURCES:
        raise ValueError(f"label source {source!r}: expected one of {', '.join(SOURCES)}")
    if not isinstance(label, str):
        raise UnknownLabelError(f"label {label!r}: expected a string")
    text = label.strip()
    if text.lower() in SILENCE_LABELS:
        return (SIL,)
    if source == "timit":
        mapped = TIMIT.get(text.lower())
    elif source in ("espeak", "espeak-nonrhotic"):
        mapped = _from_espeak(text, ESPEAK if source == "espeak" else ESPEAK_NONRHOTIC)
    elif source == "ipa":
        mapped = _from_ipa(text)
    elif source == "auto":
        mapped = _from_arpabet(text) or _from_ipa(text)
    else:
        mapped = _from_arpabet(text)
    if mapped is None:
        raise UnknownLabelError(_unknown(label, source))
    return mapped


def to_arpabet(label: str, source: str = "auto") -> str:
    """
    Map one source label to one label of `LABELS` (ARPAbet-39 without stress, or ``"sil"``).

    Parameters
    ----------
    label : str
    source : str
        One of `SOURCES`.

    Returns
    -------
    str

    Raises
    ------
    UnknownLabelError
        If the label maps to nothing, or to several phones (use `to_arpabet_sequence` or
        `map_segments` for those).
    """
    mapped = to_arpabet_sequence(label, source)
    if not mapped:
        raise UnknownLabelError(
            f"label {label!r} ({source}) has no label of its own (Lee & Hon delete TIMIT's q); "
            "map_segments gives its interval to a neighbouring segment"
        )
    if len(mapped) != 1:
        raise UnknownLabelError(
            f"label {label!r} ({source}) is the phones {' '.join(mapped)}, not one phone; "
            "use to_arpabet_sequence or map_segments, which split its interval"
        )
    return mapped[0]


def _from_arpabet(text: str) -> tuple[str, ...] | None:
    match = _ARPABET_LABEL.fullmatch(text)
    if match is None:
        return None
    symbol = match.group(1).upper()
    if symbol in _ARPABET:
        return (_ARPABET[symbol],)
    if match.group(2) is None:
        return _split_consonants(symbol)
    return None


def _split_consonants(symbol: str) -> tuple[str, ...] | None:
    """The unique way ``symbol`` is 2 or 3 consonant symbols run together, else None."""
    def parses(rest: str) -> list[tuple[str, ...]]:
        if not rest:
            return [()]
        return [(c,) + tail for c in _CONSONANTS if rest.startswith(c) for tail in parses(rest[len(c):])]

    found = [p for p in parses(symbol) if 2 <= len(p) <= 3]
    return found[0] if len(found) == 1 else None


def _from_ipa(text: str) -> tuple[str, ...] | None:
    text = unicodedata.normalize("NFC", text)
    text = "".join(c for c in text if c not in _IPA_IGNORED and unicodedata.category(c) != "Mn")
    if not text:
        return None
    phones = []
    while text:
        key = next((k for k in _IPA_KEYS if text.startswith(k)), None)
        if key is None:
            return None
        phones.append(IPA[key])
        text = text[len(key):]
    return tuple(phones)


def _from_espeak(text: str, table: dict) -> tuple[str, ...] | None:
    if text.startswith("_") or text == "||":
        return (SIL,)  # every espeak pause: _ _: _:: _! _| _^_ _;_ ...
    name = _ESPEAK_STRESS.sub("", text)
    mapped = table.get(name)
    if mapped is None:
        return None
    return mapped if isinstance(mapped, tuple) else (mapped,)


def _unknown(label: str, source: str) -> str:
    hint = {
        "espeak": "an espeak-ng English phoneme mnemonic (whisper_claims.stimuli.phones.ESPEAK)",
        "espeak-nonrhotic": "an espeak-ng English phoneme mnemonic (whisper_claims.stimuli.phones.ESPEAK)",
        "ipa": "IPA phones (whisper_claims.stimuli.phones.IPA)",
        "auto": "ARPAbet or IPA",
        "timit": "one of TIMIT's 61 phones (whisper_claims.stimuli.phones.TIMIT_61_TO_39)",
    }.get(source, "an ARPAbet symbol with an optional stress digit 0-2")
    return (
        f"label {label!r} does not map to ARPAbet-39 under source {source!r}: expected {hint}, "
        f"or a silence marker ({', '.join(sorted(s for s in SILENCE_LABELS if s))}, or empty)"
    )


def detect_source(labels) -> str:
    """
    ``"arpabet"`` or ``"ipa"``: the notation of a file's labels, decided once for all of them.

    ARPAbet if every label maps as ARPAbet (or is silence), else IPA if every label maps as IPA,
    else whichever maps more labels (ARPAbet on a tie), so that an error names the odd label out.
    """
    labels = [label.strip() for label in labels if label.strip().lower() not in SILENCE_LABELS]
    arpabet = sum(_from_arpabet(label) is not None for label in labels)
    if arpabet == len(labels):
        return "arpabet"
    ipa = sum(_from_ipa(label) is not None for label in labels)
    return "ipa" if ipa == len(labels) or ipa > arpabet else "arpabet"


def map_segments(segments, source: str = "auto", *, where: str = "segments") -> tuple[PhoneSegment, ...]:
    """
    Map the labels of raw segments to `LABELS`.

    Parameters
    ----------
    segments : iterable of PhoneSegment
        As read from a file, labels as written there.
    source : str
        One of `SOURCES`; ``"auto"`` and ``"mfa"`` decide once for all labels (`detect_source`).
    where : str
        What to call the segments in error messages, e.g. the file name.

    Returns
    -------
    tuple of PhoneSegment
        A segment whose label spans n phones becomes n segments sharing its duration equally. A
        segment whose label maps to none (TIMIT's ``q``) is merged into the next segment when that
        one starts where it ends and is not silence, else into the previous one when that one ends
        where it starts; else it becomes ``"sil"``.

    Raises
    ------
    UnknownLabelError
        Naming ``where``, the label and its time.
    """
    segments = tuple(segments)
    if source in ("auto", "mfa"):
        source = detect_source(s.label for s in segments)
    pairs = []
    for segment in segments:
        try:
            pairs.append((segment, to_arpabet_sequence(segment.label, source)))
        except UnknownLabelError as e:
            raise UnknownLabelError(
                f"{where}: segment [{segment.start_s:.4f}, {segment.end_s:.4f}) s: {e}"
            ) from None
    mapped = []
    for segment, labels in _merge_unlabelled(pairs):
        step = (segment.end_s - segment.start_s) / len(labels)
        for i, label in enumerate(labels):
            start = segment.start_s + i * step
            end = segment.end_s if i == len(labels) - 1 else start + step
            mapped.append(PhoneSegment(start, end, label))
    return tuple(mapped)


def _merge_unlabelled(pairs: list) -> list:
    """Give the time of each (segment, labels) whose labels are empty to a neighbour (see `map_segments`)."""
    # a q before a vowel is that vowel's glottal onset, so the next segment comes first; backwards,
    # so that a run of q goes to the phone after it
    kept: list = []
    for segment, labels in reversed(pairs):
        if not labels and kept and kept[-1][1] not in ((), (SIL,)) and _touches(segment.end_s, kept[-1][0].start_s):
            following, following_labels = kept[-1]
            kept[-1] = (PhoneSegment(segment.start_s, following.end_s, following.label), following_labels)
            continue
        kept.append((segment, labels))
    merged: list = []
    for segment, labels in reversed(kept):
        if not labels:
            if merged and _touches(merged[-1][0].end_s, segment.start_s):
                previous, previous_labels = merged[-1]
                merged[-1] = (PhoneSegment(previous.start_s, segment.end_s, previous.label), previous_labels)
                continue
            labels = (SIL,)
        merged.append((segment, labels))
    return merged


def _touches(end_s: float, start_s: float) -> bool:
    return abs(end_s - start_s) < 1e-6


# ----------------------------------------------------------------------------------------------
# frame labels


def n_frames_for(n_samples: int, sample_rate: int = SAMPLE_RATE, frame_s: float = FRAME_S) -> int:
    """How many frames of ``frame_s`` seconds cover ``n_samples`` samples (the last one may be partial)."""
    frame_samples = sample_rate * frame_s
    return int(math.ceil(n_samples / frame_samples - 1e-9))


def frame_labels(segments, n_frames: int, frame_s: float = FRAME_S) -> np.ndarray:
    """
    The label of each frame: the one covering most of ``[f * frame_s, (f + 1) * frame_s)``.

    Time no segment covers counts as ``"sil"``, so frames past the last segment are ``"sil"``.
    Ties go to the label whose coverage starts first in the frame. Times are compared in whole
    nanoseconds, so boundaries on the frame grid give exact ties, not rounding noise.

    Parameters
    ----------
    segments : iterable of PhoneSegment
        Labels from `LABELS` (map source labels with `map_segments` first), sorted by time and not
        overlapping (a 1 microsecond overlap is tolerated).
    n_frames : int
        How many frames to label, e.g. 100 for a 2 s clip, 1500 for Whisper's 30 s window.
    frame_s : float
        Frame length in seconds; Whisper's encoder frame is 0.02.

    Returns
    -------
    np.ndarray, shape = (n_frames,), dtype = '<U3'

    Raises
    ------
    AlignmentError
        If a label is not in `LABELS`, or segments are unsorted or overlap.
    ValueError
        If ``n_frames`` is negative or ``frame_s`` not positive.
    """
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 0:
        raise ValueError(f"n_frames {n_frames!r}: expected a non-negative integer")
    if not (isinstance(frame_s, (int, float)) and math.isfinite(frame_s) and frame_s > 0):
        raise ValueError(f"frame_s {frame_s!r}: expected a positive number of seconds")
    frame_ns = int(round(frame_s * 1e9))
    n_frames = int(n_frames)
    pieces: list[list[tuple[int, int, str]]] = [[] for _ in range(n_frames)]
    previous_end = 0
    for segment in segments:
        if segment.label not in LABEL_INDEX:
            raise AlignmentError(
                f"segment [{segment.start_s}, {segment.end_s}) has label {segment.label!r}, "
                "not one of phones.LABELS; map source labels with map_segments first"
            )
        start, end = int(round(segment.start_s * 1e9)), int(round(segment.end_s * 1e9))
        if start < previous_end - 1000:
            raise AlignmentError(
                f"segment {segment.label!r} [{segment.start_s}, {segment.end_s}) starts before the "
                "previous segment ends: expected segments sorted by time, not overlapping"
            )
        start = max(start, previous_end)
        previous_end = max(previous_end, end)
        for f in range(start // frame_ns, min(n_frames, -(-end // frame_ns))):
            lo, hi = max(start, f * frame_ns), min(end, (f + 1) * frame_ns)
            if hi > lo:
                pieces[f].append((lo, hi, segment.label))
    labels = np.full(n_frames, SIL, dtype="<U3")
    for f, frame_pieces in enumerate(pieces):
        if frame_pieces:
            labels[f] = _majority(frame_pieces, f * frame_ns, (f + 1) * frame_ns)
    return labels


def _majority(pieces: list[tuple[int, int, str]], frame_start: int, frame_end: int) -> str:
    """The label covering most of the frame; uncovered time is sil; ties go to the earliest start."""
    total: dict[str, int] = {}
    first: dict[str, int] = {}

    def add(label: str, start: int, duration: int) -> None:
        total[label] = total.get(label, 0) + duration
        first[label] = min(first.get(label, start), start)

    position = frame_start
    for lo, hi, label in pieces:
        if lo > position:
            add(SIL, position, lo - position)
        add(label, lo, hi - lo)
        position = max(position, hi)
    if position < frame_end:
        add(SIL, position, frame_end - position)
    return max(total, key=lambda label: (total[label], -first[label]))


def label_ids(labels) -> np.ndarray:
    """Indices into `LABELS` of an array of labels (int8), for counting and comparisons."""
    labels = np.asarray(labels)
    ids = np.empty(labels.shape, dtype=np.int8)
    for label, index in LABEL_INDEX.items():
        ids[labels == label] = index
    unknown = ~np.isin(labels, LABELS)
    if unknown.any():
        raise AlignmentError(f"labels {sorted(set(labels[unknown].tolist()))[:5]} are not in phones.LABELS")
    return ids
