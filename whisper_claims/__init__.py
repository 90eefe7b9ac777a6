"""whisper-claims: the claims of "Interpreting Whisper" as executable checks, and the toolkit they use.

The toolkit's names are imported on first use (PEP 562), so that the record side (``claims.json``, reports,
``whisper-claims report``) never loads torch or Whisper.
"""
from importlib import import_module

_MODULES = {
    "load_audio": "stimuli.audio", "load_mel": "stimuli.audio", "log_mel": "stimuli.audio",
    "padding_mel": "stimuli.audio", "nearest_tokens": "measure.embeddings", "capture": "measure.hooks",
    "encode": "measure.inference", "next_token_logits": "measure.inference", "tokenizer_for": "measure.inference",
    "transcribe_features": "measure.inference", "wer": "measure.text", "word_recall": "measure.text",
    "load_model": "models.load", "open_model": "models.load", "random_model": "models.load",
    "write_checkpoint": "models.load", "Measurement": "claims.verdict", "Verdict": "claims.verdict",
    "run_claim": "claims.runner",
}
__all__ = sorted(_MODULES)


def __getattr__(name: str):
    if name not in _MODULES:
        raise AttributeError(f"module 'whisper_claims' has no attribute {name!r}")
    return getattr(import_module(f".{_MODULES[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
