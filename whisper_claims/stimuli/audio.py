"""Audio loading and Whisper's log-Mel input, padded the way Whisper pads it."""

import os
from functools import lru_cache
from math import gcd
from typing import Union

import numpy as np
import soundfile as sf
import torch
from scipy.signal import resample_poly
from whisper.audio import HOP_LENGTH, SAMPLE_RATE, log_mel_spectrogram, pad_or_trim
from whisper.model import ModelDimensions

from ..errors import AudioError

SAMPLES_PER_FRAME = 2 * HOP_LENGTH  # one encoder frame: the convolutions halve the mel rate
FRAME_S = SAMPLES_PER_FRAME / SAMPLE_RATE  # 0.02 s

__all__ = [
    "SAMPLE_RATE",
    "HOP_LENGTH",
    "SAMPLES_PER_FRAME",
    "FRAME_S",
    "load_audio",
    "window_samples",
    "log_mel",
    "load_mel",
    "padding_mel",
]


def load_audio(path: Union[str, os.PathLike], sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """
    Read an audio file as a mono float32 waveform at ``sample_rate``.

    Unlike ``whisper.load_audio`` this needs no ffmpeg binary: the file is read
    with soundfile (WAV, FLAC, OGG), channels are averaged, and the rate is
    changed with ``scipy.signal.resample_poly``, which is deterministic.

    Parameters
    ----------
    path: Union[str, os.PathLike]
        The audio file.

    sample_rate: int
        The rate to return, in Hz; Whisper expects 16000.

    Returns
    -------
    np.ndarray, shape = (n_samples,), dtype = float32
        The contiguous mono waveform.

    Raises
    ------
    AudioError
        The file is missing, unreadable, empty or holds NaN or infinite samples.
    """
    name = os.fspath(path)
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise AudioError(f"{name}: sample_rate must be a positive integer in Hz, got {sample_rate!r}")
    if not os.path.exists(name):
        raise AudioError(f"{name}: audio file not found; expected a WAV or FLAC file at this path")
    if os.path.isdir(name):
        raise AudioError(f"{name}: is a directory; expected a WAV or FLAC file")

    _check_wav_data(name)
    try:
        data, file_rate = sf.read(name, dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError) as e:
        raise AudioError(f"{name}: cannot read audio: {e}; expected a WAV or FLAC file") from e

    if data.shape[0] == 0:
        raise AudioError(f"{name}: contains no audio samples; expected at least one")
    bad = int(np.count_nonzero(~np.isfinite(data).all(axis=1)))
    if bad:
        raise AudioError(
            f"{name}: {bad} of {data.shape[0]} samples are NaN or infinite; expected finite samples"
        )

    audio = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]

    if file_rate != sample_rate:
        g = gcd(int(file_rate), int(sample_rate))
        audio = resample_poly(audio, int(sample_rate) // g, int(file_rate) // g)

    return np.ascontiguousarray(audio, dtype=np.float32)


def _check_wav_data(name: str) -> None:
    """A WAV file whose data chunk holds fewer bytes than its header declares is truncated: libsndfile
    would read the part that is there as if it were the whole recording."""
    with open(name, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        size = os.fstat(f.fileno()).st_size
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return
            kind, declared = chunk[:4], int.from_bytes(chunk[4:], "little")
            if kind == b"data":
                held = size - f.tell()
                # 0 and 0xFFFFFFFF are what streaming writers leave when they cannot seek back
                if declared not in (0, 0xFFFFFFFF) and held < declared:
                    raise AudioError(f"{name}: the WAV header declares {declared} bytes of samples, the file holds "
                                     f"{held}; the file is truncated")
                return
            f.seek(declared + declared % 2, os.SEEK_CUR)


def window_samples(model_or_dims) -> int:
    """
    The length of a model's input window in samples at 16 kHz.

    The encoder's convolutions map two mel frames to one encoder frame, so the
    window is ``n_audio_ctx * SAMPLES_PER_FRAME`` (480000 samples, 30 s, for 1500).

    Parameters
    ----------
    model_or_dims: whisper.model.Whisper or whisper.model.ModelDimensions
        Anything with ``.dims``, or the dimensions themselves.

    Returns
    -------
    int
        The number of samples in the window.
    """
    dims = _dims(model_or_dims)
    return int(dims.n_audio_ctx) * SAMPLES_PER_FRAME


def log_mel(audio, model, *, source: str = "audio array") -> torch.Tensor:
    """
    Whisper's log-Mel input for one clip, padded with zero samples to the model's window.

    Padding happens at the audio level, as ``whisper.transcribe`` does, never on
    the mel: the spectrogram's dynamic range is clamped to its maximum minus 8,
    so padding the mel with another value would change the input.

    Parameters
    ----------
    audio: Union[np.ndarray, torch.Tensor], shape = (n_samples,)
        A 16 kHz float waveform no longer than the model's window.

    model: whisper.model.Whisper
        The model, or anything with a ``.dims`` of ``ModelDimensions``.

    source: str
        What to call the audio in error messages, e.g. its file name.

    Returns
    -------
    torch.Tensor, shape = (1, n_mels, 2 * n_audio_ctx), dtype = float32
        The log-Mel spectrogram, on the audio's device (CPU for a NumPy array).

    Raises
    ------
    AudioError
        The audio is not 1-D float samples, is empty, holds NaN or infinite
        samples, or is longer than the model's window.
    """
    dims = _dims(model)
    length = window_samples(dims)

    if isinstance(audio, np.ndarray):
        if not np.issubdtype(audio.dtype, np.floating):
            raise AudioError(f"{source}: samples have dtype {audio.dtype}; expected float samples in [-1, 1]")
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        # read-only arrays (cached stimuli) are copied: torch cannot share memory it may not write
        audio = torch.from_numpy(audio if audio.flags.writeable else audio.copy())
    elif torch.is_tensor(audio):
        if not audio.is_floating_point():
            raise AudioError(f"{source}: samples have dtype {audio.dtype}; expected float samples in [-1, 1]")
        audio = audio.detach().to(torch.float32)
    else:
        raise AudioError(f"{source}: got {type(audio).__name__}; expected a 1-D numpy array or torch tensor")

    if audio.ndim != 1:
        raise AudioError(f"{source}: has shape {tuple(audio.shape)}; expected 1-D mono samples")
    n = audio.shape[0]
    if n == 0:
        raise AudioError(f"{source}: contains no audio samples; expected at least one")
    bad = int((~torch.isfinite(audio)).sum())
    if bad:
        raise AudioError(f"{source}: {bad} of {n} samples are NaN or infinite; expected finite samples")
    check_fits(n, dims, source)

    mel = log_mel_spectrogram(pad_or_trim(audio, length), n_mels=dims.n_mels)
    if mel.shape[-1] != 2 * dims.n_audio_ctx:
        raise AudioError(
            f"{source}: gave {mel.shape[-1]} mel frames; expected {2 * dims.n_audio_ctx} "
            f"(2 * n_audio_ctx)"
        )
    return mel.unsqueeze(0)


def check_fits(n_samples: int, model, source: str) -> None:
    """Raise ``AudioError`` naming ``source`` when ``n_samples`` at 16 kHz exceed the model's window."""
    length = window_samples(_dims(model))
    if n_samples > length:
        raise AudioError(
            f"{source}: is {n_samples / SAMPLE_RATE:.2f} s long, longer than the model's "
            f"{length / SAMPLE_RATE:.2f} s window; cut it first; it is not cut silently"
        )


def load_mel(path: Union[str, os.PathLike], model) -> torch.Tensor:
    """
    Read an audio file and return Whisper's log-Mel input for it.

    Parameters
    ----------
    path: Union[str, os.PathLike]
        The audio file; see ``load_audio``.

    model: whisper.model.Whisper
        The model, or anything with a ``.dims`` of ``ModelDimensions``.

    Returns
    -------
    torch.Tensor, shape = (1, n_mels, 2 * n_audio_ctx), dtype = float32
    """
    return log_mel(load_audio(path), model, source=os.fspath(path))


def padding_mel(model) -> torch.Tensor:
    """
    The log-Mel spectrogram of a window of silence: what Whisper sees as padding.

    Every value is -1.5 (log10 of the 1e-10 floor, rescaled).

    Parameters
    ----------
    model: whisper.model.Whisper
        The model, or anything with a ``.dims`` of ``ModelDimensions``.

    Returns
    -------
    torch.Tensor, shape = (1, n_mels, 2 * n_audio_ctx), dtype = float32
        A fresh copy; changing it does not change later results.
    """
    dims = _dims(model)
    return _padding_mel(int(dims.n_mels), int(dims.n_audio_ctx)).clone()


@lru_cache(maxsize=None)
def _padding_mel(n_mels: int, n_audio_ctx: int) -> torch.Tensor:
    length = n_audio_ctx * SAMPLES_PER_FRAME
    return log_mel_spectrogram(torch.zeros(length), n_mels=n_mels).unsqueeze(0)


def _dims(model_or_dims) -> ModelDimensions:
    dims = getattr(model_or_dims, "dims", model_or_dims)
    if not (hasattr(dims, "n_audio_ctx") and hasattr(dims, "n_mels")):
        raise TypeError(
            f"got {type(model_or_dims).__name__}; expected a Whisper model (with .dims) "
            f"or a whisper.model.ModelDimensions"
        )
    return dims
