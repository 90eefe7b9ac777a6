"""Exceptions raised by whisper-claims; every message names the file, option or value at fault."""


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
    that is not sparse): the claim gets no verdict, and the message gives the numbers."""
