"""Running the model the same way for every claim: encoder features, chopping, greedy transcripts, logits."""
from __future__ import annotations

import torch
import whisper
from whisper.model import Whisper
from whisper.tokenizer import Tokenizer, get_tokenizer

from ..stimuli.audio import padding_mel
from .memo import per_model

# Every transcript in the suite, reference and intervention alike, is decoded with these options.
DECODING = whisper.DecodingOptions(
    task="transcribe",
    language="en",
    temperature=0.0,
    without_timestamps=True,
    fp16=False,
)


def tokenizer_for(model: Whisper) -> Tokenizer:
    """The tokenizer that matches the model's vocabulary (multilingual or English-only)."""
    return get_tokenizer(model.is_multilingual, num_languages=model.num_languages,
                         language="en", task="transcribe")


@torch.inference_mode()
def encode(model: Whisper, mel: torch.Tensor) -> torch.Tensor:
    """Encoder output for a log-mel batch ``[batch, n_mels, 2 * n_audio_ctx]``.

    Returns
    -------
    torch.Tensor
        ``[batch, n_audio_ctx, n_audio_state]``.
    """
    mel = mel.unsqueeze(0) if mel.ndim == 2 else mel
    return model.encoder(mel.to(model.device, torch.float32))


@torch.inference_mode()
def transcribe_features(model: Whisper, features: torch.Tensor) -> str:
    """Greedy transcript decoded from encoder output ``[n_audio_ctx, n_audio_state]`` (or with a batch of 1).

    Options are ``DECODING``: language en, transcribe, temperature 0, no timestamps, fp32.
    Deterministic on the CPU for a fixed number of threads.
    """
    features = features.squeeze(0) if features.ndim == 3 else features
    expected = (model.dims.n_audio_ctx, model.dims.n_audio_state)
    if tuple(features.shape) != expected:
        raise ValueError(f"encoder features have shape {tuple(features.shape)}, expected {expected}")
    result = whisper.decode(model, features.to(model.device, torch.float32), DECODING)
    return result.text.strip()


@torch.inference_mode()
def transcribe_batch(model: Whisper, features: torch.Tensor, batch_size: int = 16) -> list[str]:
    """``transcribe_features`` of each of ``[n, n_audio_ctx, n_audio_state]``, decoded ``batch_size`` at a time.

    Greedy decoding of a batch is that of each item (every sequence sees only its own features and
    tokens); a test checks the transcripts against one-at-a-time decoding.
    """
    expected = (model.dims.n_audio_ctx, model.dims.n_audio_state)
    if features.ndim != 3 or tuple(features.shape[1:]) != expected:
        raise ValueError(f"encoder features have shape {tuple(features.shape)}, expected [n, *{expected}]")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size {batch_size!r}: expected a whole number >= 1")
    texts = []
    for first in range(0, len(features), batch_size):
        batch = features[first:first + batch_size].to(model.device, torch.float32)
        texts += [result.text.strip() for result in whisper.decode(model, batch, DECODING)]
    return texts


@torch.inference_mode()
def next_token_logits(model: Whisper, features: torch.Tensor, prompt_tokens: list[int]) -> torch.Tensor:
    """Logits ``[n_vocab]`` for the token that follows ``prompt_tokens`` given encoder ``features``."""
    features = features.unsqueeze(0) if features.ndim == 2 else features
    tokens = torch.tensor([prompt_tokens], device=model.device)
    return model.logits(tokens, features.to(model.device, torch.float32))[0, -1]


def padding_features(model: Whisper) -> torch.Tensor:
    """Encoder output ``[n_audio_ctx, n_audio_state]`` for a window of silence (Whisper's padding).

    Computed once per model and weights (see ``memo.per_model``); each call returns a fresh copy.
    """
    cached = per_model(model, "padding_features", lambda: encode(model, padding_mel(model))[0])
    return cached.clone()


def chop(features: torch.Tensor, padding: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """The post's chopping: encoder output rows ``[start, stop)`` replaced by the padding input's rows.

    Parameters
    ----------
    features : torch.Tensor
        Encoder output of a clip, ``[n_audio_ctx, n_audio_state]`` (or with a batch of 1).
    padding : torch.Tensor
        Encoder output of a padding input of the same shape (``padding_features``).
    start, stop : int
        Encoder frames (20 ms each); ``start == stop`` chops nothing.

    Returns
    -------
    torch.Tensor
        A new tensor of ``features``' shape; the inputs are left unchanged.
    """
    if features.shape != padding.shape:
        raise ValueError(f"features {tuple(features.shape)} and padding {tuple(padding.shape)} differ in shape")
    n_ctx = features.shape[-2]
    for name, value in (("start", start), ("stop", stop)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"chop {name} must be an integer encoder frame, got {name}={value!r}")
    if not 0 <= start <= stop <= n_ctx:
        raise ValueError(f"chop range [{start}, {stop}) must satisfy 0 <= start <= stop <= {n_ctx} (n_audio_ctx)")
    chopped = features.clone()
    chopped[..., start:stop, :] = padding[..., start:stop, :].to(chopped.device, chopped.dtype)
    return chopped
