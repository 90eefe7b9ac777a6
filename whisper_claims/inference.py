"""Running the model the same way for every claim: encoder features, greedy transcripts, next-token logits."""
from __future__ import annotations

import torch
import whisper
from whisper.model import Whisper
from whisper.tokenizer import Tokenizer, get_tokenizer

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
def next_token_logits(model: Whisper, features: torch.Tensor, prompt_tokens: list[int]) -> torch.Tensor:
    """Logits ``[n_vocab]`` for the token that follows ``prompt_tokens`` given encoder ``features``."""
    features = features.unsqueeze(0) if features.ndim == 2 else features
    tokens = torch.tensor([prompt_tokens], device=model.device)
    return model.logits(tokens, features.to(model.device, torch.float32))[0, -1]
