"""English speech from espeak-ng's C library, with the start sample of every phoneme.

The library and its data come from the ``espeakng-loader`` wheel and are driven through ctypes
in a helper process (`whisper_claims.stimuli._espeak_worker`): synchronous synthesis with a callback
that collects the samples and the ``espeakEVENT_PHONEME`` / ``espeakEVENT_WORD`` events.

Determinism: libespeak-ng keeps state between syntheses that no API call resets (the
pitch-flutter index, the gain control, a cycle counter), so in one process the same text gives
slightly different samples every time (measured: 57650, 57642, 57659, 57662 samples for four
syntheses of one sentence), and ``espeak_Terminate`` + ``espeak_Initialize`` does not reset it;
a warm-up utterance does not either, since every synthesis moves the state on. The helper
therefore loads the library once, never synthesises itself, and forks a fresh child for every
request: each synthesis starts from the same state. espeak-ng also seeds its random generator
(the breath noise of variants such as f2, f5) with the time at initialisation, so each child
reseeds it with a constant (``espeak_ng_SetRandSeed``). The same (text, voice, rate) then gives
bit-identical samples and events in any process. This needs ``os.fork`` (Linux, macOS).
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SynthesisError

RATE_MIN, RATE_MAX = 80, 450  # words per minute, espeakRATE_MINIMUM and espeakRATE_MAXIMUM
DEFAULT_VOICE = "en-us"
DEFAULT_RATE = 175  # espeakRATE_NORMAL
MAX_TEXT_CHARS = 10_000

_WORKER = Path(__file__).resolve().parent / "_espeak_worker.py"


@dataclass(frozen=True)
class PhonemeEvent:
    """A phoneme starting at ``sample`` (at the synthesis rate); ``name`` is espeak's mnemonic with
    any stress mark, e.g. ``"'oU"``, ``"t#"``, ``"_:"`` (a pause)."""

    sample: int
    name: str


@dataclass(frozen=True)
class WordEvent:
    """A word starting at ``sample``; ``text_position`` (1-based) and ``length`` are in characters."""

    sample: int
    text_position: int
    length: int


@dataclass(frozen=True, eq=False)
class Synthesis:
    """What espeak-ng produced for one text: int16 samples at its native rate, and its events.

    A phoneme lasts from its event's sample to the next phoneme event's sample (the last one to
    the end of ``samples``); samples before the first event are leading silence.
    """

    text: str
    voice: str
    rate: int
    sample_rate: int
    samples: np.ndarray
    phonemes: tuple[PhonemeEvent, ...]
    words: tuple[WordEvent, ...]

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def library_paths() -> tuple[Path, Path]:
    """
    The espeak-ng shared library and data folder bundled by ``espeakng-loader``.

    Returns
    -------
    (Path, Path)
        The library file and the ``espeak-ng-data`` folder.

    Raises
    ------
    SynthesisError
        If ``espeakng-loader`` is not installed or its files are missing.
    """
    try:
        import espeakng_loader
    except ImportError as e:
        raise SynthesisError(
            "espeak-ng is not available: the Python package espeakng-loader is not installed; "
            "install it (pip install espeakng-loader==0.2.4), which bundles libespeak-ng and its data"
        ) from e
    library = Path(espeakng_loader.get_library_path())
    data = Path(espeakng_loader.__file__).resolve().parent / "espeak-ng-data"
    for path, what in ((library, "shared library"), (data, "data folder")):
        if not path.exists():
            raise SynthesisError(
                f"{path}: espeak-ng {what} missing from the espeakng-loader installation; "
                "reinstall espeakng-loader"
            )
    return library, data


class _Helper:
    """The fork-server process; one per parent process, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._stderr = None
        self._pid = -1
        self.sample_rate = 0
        self.version = ""

    def request(self, message: dict) -> tuple[dict, bytes]:
        with self._lock:
            if self._process is None or self._pid != os.getpid() or self._process.poll() is not None:
                self._start()
            try:
                self._process.stdin.write(json.dumps(message).encode() + b"\n")
                self._process.stdin.flush()
                header = self._read_header()
                payload = self._read_exactly(int(header.get("n_bytes", 0)))
            except (OSError, ValueError) as e:
                detail = self._stop()
                raise SynthesisError(f"the espeak-ng helper process failed: {e}{detail}") from e
            return header, payload

    def _start(self) -> None:
        if not hasattr(os, "fork"):
            raise SynthesisError(
                "espeak-ng synthesis needs os.fork (Linux or macOS) to give reproducible samples; "
                f"this platform ({sys.platform}) has none"
            )
        library, data = library_paths()
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(_WORKER), str(library), str(data)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
        )
        self._pid = os.getpid()
        try:
            header = self._read_header()
        except (OSError, ValueError) as e:
            header = {"ok": False, "error": str(e)}
        if not header.get("ok") or not header.get("ready"):
            detail = self._stop()
            raise SynthesisError(
                f"could not start espeak-ng from {library}: {header.get('error', 'no reply')}{detail}"
            )
        self.sample_rate = int(header["sample_rate"])
        self.version = str(header["version"])

    def _read_header(self) -> dict:
        line = self._process.stdout.readline()
        if not line.endswith(b"\n"):
            raise ValueError("the helper process closed its output")
        return json.loads(line)

    def _read_exactly(self, n: int) -> bytes:
        data = self._process.stdout.read(n) if n else b""
        if len(data) != n:
            raise ValueError(f"the helper sent {len(data)} of {n} bytes")
        return data

    def _stop(self) -> str:
        """Stop the helper; return the tail of its stderr, for error messages."""
        detail = ""
        if self._process is not None:
            try:
                self._process.stdin.close()
            except OSError:
                pass
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process.stdout.close()
            self._process = None
        if self._stderr is not None:
            self._stderr.seek(0)
            tail = self._stderr.read()[-2000:].decode("utf-8", "replace").strip()
            self._stderr.close()
            self._stderr = None
            if tail:
                detail = f"; its stderr ends with: {tail}"
        return detail

    def close(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                self._stop()


_helper = _Helper()
atexit.register(_helper.close)


def _check_request(text: str, voice: str, rate: int | None) -> None:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text {text!r}: expected a non-empty string")
    if "\0" in text or len(text) > MAX_TEXT_CHARS:
        raise ValueError(
            f"text of {len(text)} characters: expected at most {MAX_TEXT_CHARS} and no NUL character"
        )
    if not isinstance(voice, str) or not voice or any(c.isspace() for c in voice):
        raise ValueError(f"voice {voice!r}: expected an espeak-ng voice name such as 'en-us' or 'en-us+f3'")
    _, _, variant = voice.partition("+")
    if variant and not (library_paths()[1] / "voices" / "!v" / variant).is_file():
        # espeak-ng would silently speak without the variant
        raise SynthesisError(
            f"voice {voice!r}: espeak-ng has no variant {variant!r} (expected a file "
            f"espeak-ng-data/voices/!v/{variant}, e.g. f3, m3, klatt3)"
        )
    if rate is not None and (
        isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or not RATE_MIN <= rate <= RATE_MAX
    ):
        raise ValueError(f"rate {rate!r}: expected an integer from {RATE_MIN} to {RATE_MAX} words per minute")


def _failed(header: dict, what: str) -> SynthesisError:
    return SynthesisError(f"espeak-ng could not {what}: {header.get('error', 'no reason given')}")


def synthesize(text: str, voice: str = DEFAULT_VOICE, rate: int = DEFAULT_RATE) -> Synthesis:
    """
    Speak ``text`` with espeak-ng; the same arguments give the same samples and events in any process.

    Parameters
    ----------
    text : str
        Plain UTF-8 text (no SSML), at most 10,000 characters.
    voice : str
        An espeak-ng voice, optionally with a variant: ``"en-us"``, ``"en-gb-scotland"``,
        ``"en-us+f3"``.
    rate : int
        Speaking rate in words per minute, 80 to 450 (espeak-ng's default is 175).

    Returns
    -------
    Synthesis
        int16 samples at espeak-ng's rate (22050 Hz), phoneme and word events.

    Raises
    ------
    ValueError
        For an empty or over-long text, or a rate out of range.
    SynthesisError
        If espeak-ng is not installed, does not know the voice, or fails.
    """
    _check_request(text, voice, rate)
    header, payload = _helper.request({"op": "synthesize", "text": text, "voice": voice, "rate": int(rate)})
    if not header.get("ok"):
        raise _failed(header, f"speak {text[:60]!r} with voice {voice!r} at rate {rate}")
    samples = np.frombuffer(payload, dtype="<i2").astype(np.int16)
    samples.flags.writeable = False
    return Synthesis(
        text=text,
        voice=voice,
        rate=int(rate),
        sample_rate=_helper.sample_rate,
        samples=samples,
        phonemes=tuple(PhonemeEvent(int(s), str(n)) for s, n in header["phonemes"]),
        words=tuple(WordEvent(int(s), int(p), int(n)) for s, p, n in header["words"]),
    )


def phonemize(text: str, voice: str = DEFAULT_VOICE) -> tuple[str, ...]:
    """
    espeak-ng's own phoneme string for ``text`` (``espeak_TextToPhonemes``), as mnemonics.

    Parameters
    ----------
    text : str
    voice : str

    Returns
    -------
    tuple of str
        The phoneme mnemonics, with stress marks, in order; pauses are not included, so this is
        the sequence of non-pause `PhonemeEvent` names of `synthesize` for the same text.

    Raises
    ------
    SynthesisError
        If espeak-ng is not installed or does not know the voice.
    """
    _check_request(text, voice, None)
    header, _ = _helper.request({"op": "phonemize", "text": text, "voice": voice})
    if not header.get("ok"):
        raise _failed(header, f"phonemize {text[:60]!r} with voice {voice!r}")
    return tuple(name for clause in header["clauses"] for name in clause.split())


def version() -> str:
    """The espeak-ng version string of the bundled library, e.g. ``"1.52.0"``."""
    if not _helper.version:
        phonemize("a")  # starts the helper, which reports the version
    return _helper.version


def native_sample_rate() -> int:
    """espeak-ng's output rate in Hz (22050)."""
    if not _helper.sample_rate:
        phonemize("a")
    return _helper.sample_rate
