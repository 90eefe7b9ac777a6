"""The official dimensions of every Whisper size, so that ``random:<size>`` builds the real shapes, and the
checks that the dimensions and tensor shapes a checkpoint gives are ones a Whisper can have."""
from __future__ import annotations

from dataclasses import asdict, replace

from whisper.model import ModelDimensions

from ..errors import CheckpointError
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


# --- checking the dimensions a checkpoint gives ---------------------------------------------------

def state_axes(n_audio_layer: int, n_text_layer: int) -> dict[str, tuple[str, ...]]:
    """Every tensor of the state dict of a Whisper with these layer counts, each axis of its shape named by
    the dimension that gives its length: a field of ``ModelDimensions``, ``"4*<field>"`` (the MLP's hidden
    width) or a number (``"3"``, the convolutions' kernel). `axis_length` turns a name into a length."""
    axes: dict[str, tuple[str, ...]] = {
        "encoder.positional_embedding": ("n_audio_ctx", "n_audio_state"),
        "encoder.conv1.weight": ("n_audio_state", "n_mels", "3"),
        "encoder.conv1.bias": ("n_audio_state",),
        "encoder.conv2.weight": ("n_audio_state", "n_audio_state", "3"),
        "encoder.conv2.bias": ("n_audio_state",),
    }

    def block(prefix: str, width: str, cross: bool) -> None:
        attentions = ("attn", "cross_attn") if cross else ("attn",)
        for attention in attentions:
            for projection in ("query", "key", "value", "out"):
                axes[f"{prefix}.{attention}.{projection}.weight"] = (width, width)
                if projection != "key":  # Whisper's key projections have no bias
                    axes[f"{prefix}.{attention}.{projection}.bias"] = (width,)
            for part in ("weight", "bias"):
                axes[f"{prefix}.{attention}_ln.{part}"] = (width,)
        axes[f"{prefix}.mlp.0.weight"] = (f"4*{width}", width)
        axes[f"{prefix}.mlp.0.bias"] = (f"4*{width}",)
        axes[f"{prefix}.mlp.2.weight"] = (width, f"4*{width}")
        axes[f"{prefix}.mlp.2.bias"] = (width,)
        axes[f"{prefix}.mlp_ln.weight"] = axes[f"{prefix}.mlp_ln.bias"] = (width,)

    for i in range(n_audio_layer):
        block(f"encoder.blocks.{i}", "n_audio_state", cross=False)
    axes["encoder.ln_post.weight"] = axes["encoder.ln_post.bias"] = ("n_audio_state",)
    axes["decoder.positional_embedding"] = ("n_text_ctx", "n_text_state")
    axes["decoder.token_embedding.weight"] = ("n_vocab", "n_text_state")
    for i in range(n_text_layer):
        block(f"decoder.blocks.{i}", "n_text_state", cross=True)
    axes["decoder.ln.weight"] = axes["decoder.ln.bias"] = ("n_text_state",)
    return axes


def axis_length(axis: str, dims: ModelDimensions) -> int:
    """The length of an axis named as `state_axes` names it."""
    if axis.isdigit():
        return int(axis)
    factor, _, field = axis.rpartition("*")
    return int(factor or 1) * getattr(dims, field)


def axis_fields(axis: str) -> tuple[str, ...]:
    """The ``ModelDimensions`` fields an axis of `state_axes` depends on (none for a constant)."""
    return () if axis.isdigit() else (axis.rpartition("*")[2],)


def check_dims(dims: ModelDimensions, where: str, names: dict[str, str] | None = None) -> None:
    """Raise ``CheckpointError`` when no Whisper has ``dims``, before any tensor is read or allocated.

    Parameters
    ----------
    dims : ModelDimensions
        As a checkpoint gives them.
    where : str
        The file that holds them, which the message names first.
    names : dict, optional
        What that file calls each field (e.g. ``n_audio_head``: ``encoder_attention_heads``); default the
        field's own name.

    Whisper needs every dimension ≥ 1, 80 or 128 mel bins (its log-mel front end has no other filter
    bank), a width its heads divide (``MultiHeadAttention`` splits it evenly), an even width (its
    sinusoidal positions) and one width on both sides (the decoder's cross-attention reads the encoder's output).
    """
    names = names or {}

    def said(field: str) -> str:
        return f"{names.get(field, field)} = {getattr(dims, field)}"

    problems = []
    for field, value in asdict(dims).items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(f"{names.get(field, field)} is {value!r}, expected a positive integer")
    if problems:
        raise CheckpointError(f"{where}: {'; '.join(problems)}")
    if dims.n_mels not in (80, 128):
        problems.append(f"{said('n_mels')}, expected 80 or 128 (Whisper's log-mel filter banks)")
    for state, head in (("n_audio_state", "n_audio_head"), ("n_text_state", "n_text_head")):
        if getattr(dims, state) % getattr(dims, head):
            problems.append(f"{said(head)} does not divide {said(state)}; each head takes an equal share of the width")
    if dims.n_audio_state % 2:
        problems.append(f"{said('n_audio_state')} is odd; Whisper's sinusoidal positions need an even width")
    if dims.n_audio_state != dims.n_text_state:
        problems.append(f"{said('n_audio_state')} differs from {said('n_text_state')}; the decoder's "
                        f"cross-attention reads the encoder's output")
    if problems:
        raise CheckpointError(f"{where}: {'; '.join(problems)}")
