"""whisper-claims: the claims of "Interpreting Whisper" as executable checks, and the toolkit they use."""
from .audio import load_audio, load_mel, log_mel, padding_mel
from .embeddings import nearest_tokens
from .hooks import capture
from .inference import encode, next_token_logits, tokenizer_for, transcribe_features
from .models import load_model, open_model, random_model, write_checkpoint
from .text import wer, word_recall
from .verdict import Measurement, Verdict

__all__ = [
    "Measurement", "Verdict", "capture", "encode", "load_audio", "load_mel", "load_model", "log_mel",
    "nearest_tokens", "next_token_logits", "open_model", "padding_mel", "random_model", "tokenizer_for",
    "transcribe_features", "wer", "word_recall", "write_checkpoint",
]
