"""Exceptions raised by whisper-claims (every message names the file, option or value at fault), and the
"did you mean" hint they share."""
import difflib


class WhisperClaimsError(Exception):
    """Base class of every error this package raises on purpose."""


class UnknownModelError(WhisperClaimsError, ValueError):
    """A model spec that is neither an official name, a checkpoint path nor ``random:<size>``."""


class ModelUnavailable(WhisperClaimsError):
    """An official checkpoint is absent and may not (or cannot) be downloaded."""


class CheckpointError(WhisperClaimsError):
    """A checkpoint file exists but is not a readable Whisper checkpoint."""


class ChecksumMismatch(WhisperClaimsError):
    """A file's sha256 differs from the one its manifest or URL promises."""


class AssetUnavailable(WhisperClaimsError):
    """A reference file named in the asset manifest cannot be found or fetched."""


class DownloadError(WhisperClaimsError):
    """A download failed (network, HTTP status, size); nothing was left behind."""


class AudioError(WhisperClaimsError, ValueError):
    """Audio that cannot be used: unreadable, empty, non-finite, or too long."""


class ThresholdsError(WhisperClaimsError):
    """The thresholds file is malformed: the message names the entry and the key."""


class ManifestError(WhisperClaimsError, ValueError):
    """The asset manifest is malformed: the message names the file and the line."""


class MethodInvalid(WhisperClaimsError):
    """A claim's method misses the bar that makes its measurement mean what the post says (e.g. an SAE
    that is not sparse): the claim gets no verdict, and the message gives the numbers.

    ``evidence`` (JSON values) goes into the error's row as a verdict's does, and ``artifacts`` are drawn
    into the report like a measurement's (``claims.figures``), so that a missed bar shows what was tried.
    """

    def __init__(self, message: str, *, evidence: dict | None = None, artifacts: dict | None = None):
        super().__init__(message)
        self.evidence = dict(evidence or {})
        self.artifacts = dict(artifacts or {})


class AlignmentError(WhisperClaimsError, ValueError):
    """A malformed alignment file or segment list: the message names the file, line or value."""


class UnknownLabelError(AlignmentError):
    """A phone label that maps to no ARPAbet-39 label under the given source."""


class StimulusError(WhisperClaimsError):
    """A stimulus corpus cannot be built or read: bad word list, bad cache file, bad options."""


class SynthesisError(WhisperClaimsError):
    """espeak-ng is missing, refused a request, or its helper process failed."""


class FigureError(WhisperClaimsError):
    """A figure that cannot be read as a heatmap."""


class SAEFileError(WhisperClaimsError, ValueError):
    """An SAE file that is missing, unreadable, or not what ``SparseAutoencoder.save`` writes."""


class WordClipError(WhisperClaimsError, ValueError):
    """A word-timed clip cannot be built: no word tier, words out of order, a bad sentence spec."""


def did_you_mean(word: str, choices, *, n: int = 1, quote: bool = True, form: str = "; {}") -> str:
    """``form`` around "did you mean X?" naming the choices closest to ``word``; "" when none is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=n)
    if not close:
        return ""
    return form.format(f"did you mean {' or '.join(repr(c) if quote else c for c in close)}?")


class CacheWarning(UserWarning):
    """A cache entry or converted checkpoint that failed its checksum or could not be read or written: it
    is recomputed, never used."""
