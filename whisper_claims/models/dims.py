"""The official dimensions of every Whisper size, so that ``random:<size>`` builds the real shapes."""
from __future__ import annotations

from dataclasses import replace

from whisper.model import ModelDimensions

from .sizes import ALIASES, MICRO


def _dims(n_state: int, n_head: int, n_layer: int, *, n_text_layer: int | None = None,
          n_mels: int = 80, n_vocab: int = 51865) -> ModelDimensions:
    return ModelDimensions(
        n_mels=n_mels,
        n_audio_ctx=1500,
        n_audio_state=n_state,
        n_audio_head=n_head,
        n_audio_layer=n_layer,
        n_vocab=n_vocab,
        n_text_ctx=448,
        n_text_state=n_state,
        n_text_head=n_head,
        n_text_layer=n_layer if n_text_layer is None else n_text_layer,
    )


_TINY = _dims(384, 6, 4)
_BASE = _dims(512, 8, 6)
_SMALL = _dims(768, 12, 12)
_MEDIUM = _dims(1024, 16, 24)
_LARGE = _dims(1280, 20, 32)
_LARGE_V3 = replace(_LARGE, n_mels=128, n_vocab=51866)
_TURBO = replace(_LARGE_V3, n_text_layer=4)


def _english_only(dims: ModelDimensions) -> ModelDimensions:
    # the .en tokenizer has no language tokens: one fewer row in the embedding
    return replace(dims, n_vocab=51864)


# keyed by sizes.OFFICIAL_NAMES, in their order
OFFICIAL_DIMS: dict[str, ModelDimensions] = {
    "tiny.en": _english_only(_TINY),
    "tiny": _TINY,
    "base.en": _english_only(_BASE),
    "base": _BASE,
    "small.en": _english_only(_SMALL),
    "small": _SMALL,
    "medium.en": _english_only(_MEDIUM),
    "medium": _MEDIUM,
    "large-v1": _LARGE,
    "large-v2": _LARGE,
    "large-v3": _LARGE_V3,
    "large": _LARGE_V3,
    "large-v3-turbo": _TURBO,
    "turbo": _TURBO,
}

# micro: trained by this project (whisper_claims.micro.train), a 10 s window and Whisper's multilingual vocabulary
MICRO_DIMS = ModelDimensions(
    n_mels=80, n_audio_ctx=500, n_audio_state=192, n_audio_head=4, n_audio_layer=4,
    n_vocab=51865, n_text_ctx=64, n_text_state=192, n_text_head=4, n_text_layer=2,
)

# every size a model can have: the official ones and micro (random:micro is micro's negative control)
KNOWN_DIMS: dict[str, ModelDimensions] = {**OFFICIAL_DIMS, MICRO: MICRO_DIMS}


def size_of(dims: ModelDimensions) -> str | None:
    """The canonical official size whose dimensions equal ``dims``, or None for a custom model.

    large-v1 and large-v2 share dimensions; they are reported as ``large-v2``.
    """
    matches = [name for name, d in KNOWN_DIMS.items() if d == dims and name not in ALIASES]
    if not matches:
        return None
    return "large-v2" if "large-v2" in matches else matches[0]
