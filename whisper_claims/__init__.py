"""whisper-claims: the claims of "Interpreting Whisper" as executable checks, and the toolkit they use.

The toolkit's names are imported on first use (PEP 562), so that the record side (``claims.json``, reports,
``whisper-claims report``) never loads torch or Whisper.
"""
from importlib import import_module

_MODULES = {
    "load_audio": "audio", "load_mel": "audio", "log_mel": "audio", "padding_mel": "audio",
    "nearest_tokens": "embeddings", "capture": "hooks",
    "encode": "inference", "next_token_logits": "inference", "tokenizer_for": "inference",
    "transcribe_features": "inference",
    "load_model": "models", "open_model": "models", "random_model": "models", "write_checkpoint": "models",
    "wer": "text", "word_recall": "text", "Measurement": "verdict", "Verdict": "verdict",
    "run_claim": "runner",
}
__all__ = sorted(_MODULES)


def __getattr__(name: str):
    if name not in _MODULES:
        raise AttributeError(f"module 'whisper_claims' has no attribute {name!r}")
    return getattr(import_module(f".{_MODULES[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
