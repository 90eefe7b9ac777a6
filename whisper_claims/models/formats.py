"""Checkpoint formats of the Whisper ecosystem, read into openai-whisper's own.

Two formats are read: CTranslate2 model folders (faster-whisper; ``model.bin`` + ``config.json``) and
Hugging Face transformers folders (``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``).
Each becomes a ``Converted`` (Whisper's dimensions and ``state_dict`` names, the source's dtype kept),
which ``models`` writes in Whisper's file format (`save_torch`) and loads through ``whisper.load_model``.
``write_transformers_folder`` goes the other way, so that transformers itself can check the mapping.

One table per format names the parameters of a block; it is read in both directions.
"""
from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterable

import numpy as np
import torch
from whisper.model import ModelDimensions, Whisper

from ..errors import CheckpointError
from ..files import atomic_path
from .dims import axis_fields, axis_length, check_dims, state_axes

CT2_BINARY_VERSION = 6  # the only version CTranslate2 has written since 3.0
CT2_SPEC = "WhisperSpec"
# CTranslate2's DataType enum order (include/ctranslate2/types.h)
CT2_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
FLOAT_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
SAFETENSORS_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


@dataclass(frozen=True)
class Converted:
    """A checkpoint of another format, in Whisper's names and shapes."""

    dims: ModelDimensions
    state_dict: dict[str, torch.Tensor]
    alignment_heads: tuple[tuple[int, int], ...] | None  # (decoder layer, head), when the source names them
    source_format: str  # "ctranslate2" or "transformers"
    dtype: str  # of the source's floating tensors: float16, float32 or bfloat16

    def checkpoint(self) -> dict:
        """The dict ``whisper.load_model`` reads (``dims``, ``model_state_dict``), plus the alignment heads."""
        heads = None if self.alignment_heads is None else [list(h) for h in self.alignment_heads]
        return {"dims": asdict(self.dims), "model_state_dict": self.state_dict, "alignment_heads": heads}


# --- CTranslate2 -----------------------------------------------------------------------------------

# (CTranslate2 name, Whisper name) inside one block; fused projections are split by _ct2_block
_CT2_LINEAR = {"weight": "weight", "bias": "bias"}
_CT2_NORM = {"gamma": "weight", "beta": "bias"}
# scalar flags of the decoder and Whisper's value (None: informative only, e.g. the alignment heads,
# which config.json lists); 3 is CTranslate2's ActivationType::GELU
_CT2_DECODER_FLAGS = {"activation": 3, "alibi": 0, "alibi_use_positive_positions": 0, "scale_alibi": 0,
                      "pre_norm": 1, "scale_embeddings": 0, "start_from_zero_embedding": 0,
                      "alignment_heads": None, "alignment_layer": None}
CT2_ITEM_SIZES = {"float32": 4, "int8": 1, "int16": 2, "int32": 4, "float16": 2, "bfloat16": 2}
# where a CTranslate2 model.bin holds each of Whisper's dimensions, for the messages of dims.check_dims
_CT2_DIM_NAMES = {
    "n_mels": "encoder/conv1/weight's input channels", "n_audio_ctx": "encoder/position_encodings/encodings' rows",
    "n_audio_state": "encoder/conv1/weight's rows", "n_audio_head": "encoder/num_heads",
    "n_audio_layer": "the count of encoder/layer_*", "n_vocab": "decoder/embeddings/weight's rows",
    "n_text_ctx": "decoder/position_encodings/encodings' rows", "n_text_state": "decoder/embeddings/weight's columns",
    "n_text_head": "decoder/num_heads", "n_text_layer": "the count of decoder/layer_*",
}


def _ct2_block(take: Callable[[str], np.ndarray], where: Path, ct2: str, whisper_prefix: str,
               cross: bool) -> dict[str, tuple[str, np.ndarray]]:
    """One transformer block of a CTranslate2 Whisper: Whisper's name → (CTranslate2's name, array);
    ``take(name)`` removes a variable from those still unread."""
    out = {}

    def norm(src: str, dst: str) -> None:
        for a, b in _CT2_NORM.items():
            name = f"{ct2}/{src}/layer_norm/{a}"
            out[f"{whisper_prefix}.{dst}.{b}"] = (name, take(name))

    def linear(src: str, dst: str) -> None:
        for a, b in _CT2_LINEAR.items():
            name = f"{ct2}/{src}/{a}"
            out[f"{whisper_prefix}.{dst}.{b}"] = (name, take(name))

    def fused(src: str, dsts: tuple[str, ...]) -> None:
        weight_name, bias_name = f"{ct2}/{src}/weight", f"{ct2}/{src}/bias"
        weight, bias = take(weight_name), take(bias_name)
        if weight.ndim != 2 or weight.shape[0] % len(dsts) or bias.shape != weight.shape[:1]:
            raise CheckpointError(
                f"{where}: {weight_name} has shape {list(weight.shape)} and {bias_name} {list(bias.shape)}; "
                f"expected [{len(dsts)} × width, width] and [{len(dsts)} × width] ({', '.join(dsts)} stacked)")
        for dst, w, b in zip(dsts, np.split(weight, len(dsts)), np.split(bias, len(dsts))):
            out[f"{whisper_prefix}.{dst}.weight"] = (weight_name, w)
            if not dst.endswith("key"):
                # Whisper's key projection has no bias (the converter writes zeros; a key bias would
                # add the same number to every score of a query, which softmax ignores)
                out[f"{whisper_prefix}.{dst}.bias"] = (bias_name, b)

    norm("self_attention", "attn_ln")
    fused("self_attention/linear_0", ("attn.query", "attn.key", "attn.value"))
    linear("self_attention/linear_1", "attn.out")
    if cross:
        norm("attention", "cross_attn_ln")
        linear("attention/linear_0", "cross_attn.query")
        fused("attention/linear_1", ("cross_attn.key", "cross_attn.value"))
        linear("attention/linear_2", "cross_attn.out")
    norm("ffn", "mlp_ln")
    linear("ffn/linear_0", "mlp.0")
    linear("ffn/linear_1", "mlp.2")
    return out


@dataclass(frozen=True)
class Ct2File:
    """The content of a CTranslate2 ``model.bin``."""

    spec: str  # e.g. WhisperSpec
    revision: int
    variables: dict[str, np.ndarray]  # bfloat16 as its uint16 bits
    dtypes: dict[str, str]  # CTranslate2's dtype name per variable
    aliases: dict[str, str]  # alias -> variable name


def read_ct2_model_bin(parts: Iterable[str | os.PathLike]) -> Ct2File:
    """Read a CTranslate2 ``model.bin`` (binary version 6), given whole or as parts to concatenate.

    Each variable's byte size is checked against its shape and dtype, and against what is left of the
    file, before its bytes are used; no array is copied (they view the file's bytes).
    """
    parts = [Path(p) for p in parts]
    data = b"".join(p.read_bytes() for p in parts)
    where = parts[0] if len(parts) == 1 else f"{parts[0]} (+{len(parts) - 1} part(s))"
    offset = 0

    def truncated() -> CheckpointError:
        return CheckpointError(f"{where}: CTranslate2 model.bin ends early at byte {offset} "
                               f"of {len(data)}; the file is truncated")

    def take(fmt: str):
        nonlocal offset
        try:
            value = struct.unpack_from("<" + fmt, data, offset)[0]
        except struct.error:
            raise truncated() from None
        offset += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal offset
        n = take("H")
        if offset + n > len(data):
            raise truncated()
        text = data[offset:offset + max(n - 1, 0)]  # n counts the terminating NUL
        offset += n
        return text.decode("utf-8", errors="replace")

    version = take("I")
    if version != CT2_BINARY_VERSION:
        raise CheckpointError(f"{where}: CTranslate2 binary version {version}, expected {CT2_BINARY_VERSION} "
                              f"(the first 4 bytes; is this a CTranslate2 model.bin?)")
    spec, revision, count = string(), take("I"), take("I")
    variables: dict[str, np.ndarray] = {}
    dtypes: dict[str, str] = {}
    for _ in range(count):
        name = string()
        shape = tuple(take("I") for _ in range(take("B")))
        type_id, n_bytes = take("B"), take("I")
        if type_id >= len(CT2_DTYPES):
            raise CheckpointError(f"{where}: variable {name} has unknown CTranslate2 dtype id {type_id}")
        dtype = CT2_DTYPES[type_id]
        expected = math.prod(shape) * CT2_ITEM_SIZES[dtype]
        if n_bytes != expected:
            raise CheckpointError(f"{where}: variable {name} is {dtype} of shape {list(shape)}, {expected} bytes, "
                                  f"but the file gives it {n_bytes} bytes")
        if name in variables:
            raise CheckpointError(f"{where}: variable {name} appears twice; which one is meant is not known")
        raw = data[offset:offset + n_bytes]
        if len(raw) != n_bytes:
            raise CheckpointError(f"{where}: variable {name} needs {n_bytes} bytes, the file has {len(raw)}; "
                                  f"the file is truncated")
        offset += n_bytes
        # bfloat16 has no numpy dtype: keep its bits as uint16 until it becomes a tensor
        np_dtype = np.uint16 if dtype == "bfloat16" else np.dtype(dtype)
        variables[name] = np.frombuffer(raw, dtype=np_dtype).reshape(shape)
        dtypes[name] = dtype
    aliases = {}
    for _ in range(take("I")):
        alias = string()
        if alias in aliases:
            raise CheckpointError(f"{where}: alias {alias} appears twice; which variable it names is not known")
        aliases[alias] = string()
    if offset != len(data):
        raise CheckpointError(f"{where}: {len(data) - offset} bytes after the last alias; "
                              f"not one CTranslate2 model.bin (parts in the wrong order?)")
    return Ct2File(spec, revision, variables, dtypes, aliases)


def read_ctranslate2(folder: str | os.PathLike, parts: Iterable[str | os.PathLike] | None = None) -> Converted:
    """A CTranslate2 Whisper model folder (``model.bin``, ``config.json``) in Whisper's names.

    Parameters
    ----------
    folder : path
        The model folder; ``config.json`` there gives the alignment heads when it has them.
    parts : paths, optional
        Files whose concatenation is ``model.bin`` (redistributions split it); default ``folder/model.bin``.

    Every variable and alias is checked before any tensor is made: each one Whisper needs is there, no
    other is, the head counts divide the width, and every shape is the one the dimensions give it.

    Raises
    ------
    CheckpointError
        Not a CTranslate2 Whisper model, truncated, quantized (int8/int16 weights are not the original
        parameters: convert the float16 model instead), or not a possible Whisper (a variable missing or
        of another shape, an alias to nothing, alignment heads out of range); the message names the file
        and the variable.
    """
    folder = Path(folder)
    parts = list(parts) if parts is not None else [folder / "model.bin"]
    for part in parts:
        if not Path(part).is_file():
            raise CheckpointError(f"{part}: no such file; a CTranslate2 model folder has model.bin and config.json")
    content = read_ct2_model_bin(parts)
    spec, revision, variables, dtypes = content.spec, content.revision, dict(content.variables), dict(content.dtypes)
    aliases = content.aliases
    where = Path(parts[0])
    if spec != CT2_SPEC:
        raise CheckpointError(f"{where}: a CTranslate2 {spec} model, expected {CT2_SPEC}")
    quantized = sorted(n for n in variables if n.endswith("_scale"))
    if quantized:
        kind = dtypes.get(quantized[0].removesuffix("_scale"), "int8")
        raise CheckpointError(
            f"{where}: a quantized CTranslate2 model ({kind} weights, e.g. {quantized[0]}); its weights "
            f"are not the original parameters. Convert the float16 or float32 model instead "
            f"(ct2-transformers-converter --quantization float16)")
    by_dtype = {}  # dtype -> the variables (not scalars) of that dtype
    for name, value in variables.items():
        if value.ndim > 0:
            by_dtype.setdefault(dtypes[name], []).append(name)
    floats = set(by_dtype)
    if len(floats) != 1 or not floats <= set(FLOAT_DTYPES):
        # name a variable of the odd dtype: one that is not a float, else one of the rarer float dtype
        odd = min(by_dtype, key=lambda d: (d in FLOAT_DTYPES, len(by_dtype[d])), default=None)
        example = f" ({by_dtype[odd][0]} is {odd})" if odd else ""
        raise CheckpointError(f"{where}: tensors of dtypes {sorted(floats)}{example}; expected one of "
                              f"{', '.join(FLOAT_DTYPES)}")
    dtype = floats.pop()
    for alias, target in aliases.items():
        if alias == "decoder/projection/weight" and target == "decoder/embeddings/weight":
            continue  # Whisper ties its output projection to the token embedding
        if target not in content.variables:
            raise CheckpointError(f"{where}: alias {alias} names variable {target}, which the file does not have")
        if alias in variables:
            raise CheckpointError(f"{where}: alias {alias} (of {target}) is also a variable of its own")
        variables[alias], dtypes[alias] = variables[target], dtypes[target]

    def take(name: str) -> np.ndarray:
        if name not in variables:
            raise CheckpointError(f"{where}: variable {name} is missing; a CTranslate2 {CT2_SPEC} (revision "
                                  f"{revision}) has it")
        return variables.pop(name)

    def scalar(name: str) -> int:
        value = take(name)
        if value.shape != () or dtypes[name] not in ("int8", "int16", "int32"):
            raise CheckpointError(f"{where}: variable {name} is {dtypes[name]} of shape {list(value.shape)}; "
                                  f"expected an integer scalar")
        return int(value)

    n_audio_head = scalar("encoder/num_heads")
    n_text_head = scalar("decoder/num_heads")
    for flag, value in _CT2_DECODER_FLAGS.items():
        if f"decoder/{flag}" not in variables:
            continue
        found = scalar(f"decoder/{flag}")
        if value is not None and found != value:
            raise CheckpointError(f"{where}: decoder/{flag} is {found}, Whisper's is {value}; "
                                  f"not a Whisper computation")
    state: dict[str, tuple[str, np.ndarray]] = {}

    def put(whisper_name: str, ct2_name: str) -> None:
        state[whisper_name] = (ct2_name, take(ct2_name))

    for name in ("conv1", "conv2"):
        put(f"encoder.{name}.weight", f"encoder/{name}/weight")
        put(f"encoder.{name}.bias", f"encoder/{name}/bias")
    put("encoder.positional_embedding", "encoder/position_encodings/encodings")
    n_audio_layer = _count_layers(variables, "encoder/layer_")
    n_text_layer = _count_layers(variables, "decoder/layer_")
    for i in range(n_audio_layer):
        state.update(_ct2_block(take, where, f"encoder/layer_{i}", f"encoder.blocks.{i}", cross=False))
    for i in range(n_text_layer):
        state.update(_ct2_block(take, where, f"decoder/layer_{i}", f"decoder.blocks.{i}", cross=True))
    put("encoder.ln_post.weight", "encoder/layer_norm/gamma")
    put("encoder.ln_post.bias", "encoder/layer_norm/beta")
    put("decoder.token_embedding.weight", "decoder/embeddings/weight")
    put("decoder.positional_embedding", "decoder/position_encodings/encodings")
    put("decoder.ln.weight", "decoder/layer_norm/gamma")
    put("decoder.ln.bias", "decoder/layer_norm/beta")
    if variables:
        raise CheckpointError(f"{where}: variables this reader does not know: {', '.join(sorted(variables)[:5])}"
                              f" (spec {spec} revision {revision})")
    for name, ndim in (("encoder.conv1.weight", 3), ("encoder.positional_embedding", 2),
                       ("decoder.token_embedding.weight", 2), ("decoder.positional_embedding", 2)):
        source, array = state[name]
        if array.ndim != ndim:
            raise CheckpointError(f"{where}: variable {source} has shape {list(array.shape)}; expected {ndim} axes")
    shapes = {name: array.shape for name, (_, array) in state.items()}
    dims = _dims(shapes, n_audio_head, n_text_head, n_audio_layer, n_text_layer)
    check_dims(dims, str(where), _CT2_DIM_NAMES)
    _check_shapes(shapes, dims, {name: (where, f"variable {source}") for name, (source, _) in state.items()},
                  where, _CT2_DIM_NAMES)
    heads = _config_alignment_heads(folder / "config.json", dims)
    tensors = {name: _tensor(array, dtype) for name, (_, array) in state.items()}
    return Converted(dims, tensors, heads, "ctranslate2", dtype)


def _tensor(array: np.ndarray, dtype: str) -> torch.Tensor:
    if dtype == "bfloat16":
        return torch.from_numpy(array.copy()).view(torch.bfloat16)
    return torch.from_numpy(array.copy())


def _count_layers(variables: dict, prefix: str) -> int:
    return len({name[len(prefix):].split("/")[0] for name in variables
                if name.startswith(prefix) and name[len(prefix):].split("/")[0].isdigit()})


def _dims(shapes: dict[str, tuple[int, ...]], n_audio_head: int, n_text_head: int, n_audio_layer: int,
          n_text_layer: int) -> ModelDimensions:
    n_audio_state, n_mels, _ = shapes["encoder.conv1.weight"]
    n_vocab, n_text_state = shapes["decoder.token_embedding.weight"]
    return ModelDimensions(
        n_mels=n_mels, n_audio_ctx=shapes["encoder.positional_embedding"][0], n_audio_state=n_audio_state,
        n_audio_head=n_audio_head, n_audio_layer=n_audio_layer, n_vocab=n_vocab,
        n_text_ctx=shapes["decoder.positional_embedding"][0], n_text_state=n_text_state,
        n_text_head=n_text_head, n_text_layer=n_text_layer,
    )


def _check_shapes(shapes: dict[str, tuple[int, ...]], dims: ModelDimensions, sources: dict[str, tuple[Path, str]],
                  dims_file: Path, names: dict[str, str]) -> None:
    """Raise ``CheckpointError`` for the first tensor whose shape is not the one ``dims`` give it.

    ``sources`` gives each of Whisper's names the file and the name it has there; ``names`` what
    ``dims_file`` calls each dimension. Where the axes that differ are dimensions, the message names
    ``dims_file`` and those dimensions first (either may be wrong: both are named); otherwise the tensor's file.
    """
    for name, axes in state_axes(dims.n_audio_layer, dims.n_text_layer).items():
        expected = tuple(axis_length(axis, dims) for axis in axes)
        found = tuple(shapes[name])
        if found == expected:
            continue
        file, label = sources[name]
        fields = []
        if len(found) == len(expected):
            fields = [f for axis, n, e in zip(axes, found, expected) if n != e for f in axis_fields(axis)]
        given = ", ".join(f"{names.get(f, f)} = {getattr(dims, f)}" for f in dict.fromkeys(fields))
        if given:
            raise CheckpointError(f"{dims_file}: {given}, but {label} in {file} has shape {list(found)}; "
                                  f"those dimensions give it {list(expected)}")
        raise CheckpointError(f"{file}: {label} has shape {list(found)}, expected {list(expected)} "
                              f"(Whisper's {name})")


def _config_alignment_heads(path: Path, dims: ModelDimensions) -> tuple[tuple[int, int], ...] | None:
    """The ``alignment_heads`` that a JSON file lists, each checked to be a (layer, head) of ``dims``' decoder."""
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{path}: not a readable JSON object ({error})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: a JSON {_json_kind(config)}, expected an object")
    heads = config.get("alignment_heads")
    if not heads:
        return None
    if not isinstance(heads, list):
        raise CheckpointError(f"{path}: alignment_heads is a JSON {_json_kind(heads)}, expected a list of "
                              f"[layer, head] pairs")
    for i, pair in enumerate(heads):
        ints = isinstance(pair, list) and len(pair) == 2 and all(_is_int(x) for x in pair)
        if not ints or not (0 <= pair[0] < dims.n_text_layer and 0 <= pair[1] < dims.n_text_head):
            raise CheckpointError(
                f"{path}: alignment_heads[{i}] is {pair!r}; expected [layer, head] with 0 ≤ layer < "
                f"{dims.n_text_layer} and 0 ≤ head < {dims.n_text_head} (the model's decoder)")
    return tuple((layer, head) for layer, head in heads)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_kind(value) -> str:
    """What JSON calls the type of a parsed value, for messages."""
    kinds = ((bool, "boolean"), (dict, "object"), (list, "array"), (str, "string"), ((int, float), "number"))
    return next((kind for cls, kind in kinds if isinstance(value, cls)), "null")


# --- Hugging Face transformers ---------------------------------------------------------------------

# (transformers name, Whisper name) inside one block
_HF_ATTENTION = (("q_proj", "query"), ("k_proj", "key"), ("v_proj", "value"), ("out_proj", "out"))
_HF_BLOCK = (("self_attn_layer_norm", "attn_ln"), ("fc1", "mlp.0"), ("fc2", "mlp.2"), ("final_layer_norm", "mlp_ln"))
_HF_DECODER_BLOCK = (("encoder_attn_layer_norm", "cross_attn_ln"),)
_HF_TOP = (
    ("model.encoder.conv1", "encoder.conv1"),
    ("model.encoder.conv2", "encoder.conv2"),
    ("model.encoder.layer_norm", "encoder.ln_post"),
    ("model.decoder.layer_norm", "decoder.ln"),
)
_HF_EMBEDDINGS = (
    ("model.encoder.embed_positions.weight", "encoder.positional_embedding"),
    ("model.decoder.embed_positions.weight", "decoder.positional_embedding"),
    ("model.decoder.embed_tokens.weight", "decoder.token_embedding.weight"),
)
# the config.json key of each of Whisper's dimensions
_HF_DIM_KEYS = {"n_mels": "num_mel_bins", "n_audio_ctx": "max_source_positions", "n_audio_state": "d_model",
                "n_audio_head": "encoder_attention_heads", "n_audio_layer": "encoder_layers",
                "n_vocab": "vocab_size", "n_text_ctx": "max_target_positions", "n_text_state": "d_model",
                "n_text_head": "decoder_attention_heads", "n_text_layer": "decoder_layers"}
SAFETENSORS_ITEM_SIZES = {"F32": 4, "F16": 2, "BF16": 2}


def _hf_names(dims: ModelDimensions) -> list[tuple[str, str]]:
    """Every (transformers prefix or name, Whisper prefix or name) pair of a model of these dimensions."""
    pairs = list(_HF_TOP) + list(_HF_EMBEDDINGS)
    for side, n_layer in (("encoder", dims.n_audio_layer), ("decoder", dims.n_text_layer)):
        for i in range(n_layer):
            hf, wh = f"model.{side}.layers.{i}", f"{side}.blocks.{i}"
            attentions = [("self_attn", "attn")] + ([("encoder_attn", "cross_attn")] if side == "decoder" else [])
            for hf_attn, wh_attn in attentions:
                pairs += [(f"{hf}.{hf_attn}.{a}", f"{wh}.{wh_attn}.{b}") for a, b in _HF_ATTENTION]
            blocks = _HF_BLOCK + (_HF_DECODER_BLOCK if side == "decoder" else ())
            pairs += [(f"{hf}.{a}", f"{wh}.{b}") for a, b in blocks]
    return pairs


def _hf_dims(config, where: Path) -> ModelDimensions:
    """Whisper's dimensions as a transformers ``config.json`` gives them, checked (`dims.check_dims`)."""
    if not isinstance(config, dict):
        raise CheckpointError(f"{where}: a JSON {_json_kind(config)}, expected an object (a transformers config)")
    missing = [hf for hf in dict.fromkeys(_HF_DIM_KEYS.values()) if hf not in config]
    if config.get("model_type") != "whisper" or missing:
        raise CheckpointError(f"{where}: not a transformers Whisper config (model_type "
                              f"{config.get('model_type')!r}, missing {', '.join(missing) or 'nothing'})")
    for key in dict.fromkeys(_HF_DIM_KEYS.values()):
        if not _is_int(config[key]) or config[key] < 1:
            raise CheckpointError(f"{where}: {key} is {config[key]!r}, expected a positive integer")
    dims = ModelDimensions(**{ours: config[hf] for ours, hf in _HF_DIM_KEYS.items()})
    check_dims(dims, str(where), _HF_DIM_KEYS)
    return dims


@dataclass(frozen=True)
class _Stored:
    """A tensor as its file describes it, before its bytes are read."""

    file: Path
    dtype: str  # torch's name: float32, float16, bfloat16…
    shape: tuple[int, ...]


def read_transformers(folder: str | os.PathLike) -> Converted:
    """A Hugging Face transformers Whisper folder in Whisper's names.

    Reads ``config.json`` and ``model.safetensors`` (or its sharded index, or ``pytorch_model.bin``,
    loaded with ``weights_only=True``); ``WhisperModel`` and ``WhisperForConditionalGeneration``
    folders alike (with or without the ``model.`` prefix). ``proj_out`` is tied to the token embedding.

    The config's dimensions are checked first (`dims.check_dims`), then every tensor's name, dtype and
    shape as the files describe them (for safetensors: their headers, before any data is read).

    Raises
    ------
    CheckpointError
        A config or tensor file that is unreadable or not a possible Whisper; the message names the file
        and the key or tensor at fault, and says what was expected and what was found.
    """
    folder = Path(folder)
    config_path = folder / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{config_path}: not a readable transformers config ({error})") from None
    dims = _hf_dims(config, config_path)
    where, stored, load = _hf_tensors(folder)
    prefix = "" if any(name.startswith("model.") for name in stored) else "model."
    unread = {prefix + name: name for name in stored}  # transformers' full name -> the name in the file
    mapping = {}  # Whisper's name -> the name in the file
    for hf, wh in _hf_names(dims):
        for suffix in ("", ".weight", ".bias"):
            if hf + suffix in unread and (suffix or hf.endswith(".weight")):
                mapping[wh + suffix] = unread.pop(hf + suffix)
    projection = unread.pop("proj_out.weight", None)
    if unread:
        names = sorted(unread.values())
        raise CheckpointError(f"{stored[names[0]].file}: tensors this reader does not know: {', '.join(names[:5])}")
    missing = sorted(set(state_axes(dims.n_audio_layer, dims.n_text_layer)) - set(mapping))
    if missing:
        raise CheckpointError(f"{where}: tensors missing for Whisper: {', '.join(missing[:5])}")
    used = list(mapping.values()) + ([projection] if projection else [])
    dtypes = {stored[name].dtype for name in used}
    if len(dtypes) != 1 or not dtypes <= set(FLOAT_DTYPES):
        raise CheckpointError(f"{where}: tensors of dtypes {sorted(dtypes)}; expected one of {', '.join(FLOAT_DTYPES)}")
    sources = {wh: (stored[name].file, f"tensor {name}") for wh, name in mapping.items()}
    _check_shapes({wh: stored[name].shape for wh, name in mapping.items()}, dims, sources, config_path, _HF_DIM_KEYS)
    heads = _config_alignment_heads(folder / "generation_config.json", dims)
    tensors = load()
    state = {wh: tensors[name] for wh, name in mapping.items()}
    if projection is not None and not torch.equal(tensors[projection], state["decoder.token_embedding.weight"]):
        raise CheckpointError(f"{stored[projection].file}: {projection} differs from the token embedding "
                              f"({mapping['decoder.token_embedding.weight']}); Whisper ties them")
    return Converted(dims, state, heads, "transformers", dtypes.pop())


def _hf_tensors(folder: Path) -> tuple[Path, dict[str, _Stored], Callable[[], dict[str, torch.Tensor]]]:
    """The file to blame for the set of tensors, what each tensor is (name -> `_Stored`), and a function
    that reads them all: from ``model.safetensors``, its sharded index, or ``pytorch_model.bin``."""
    single = folder / "model.safetensors"
    index = folder / "model.safetensors.index.json"
    pickled = folder / "pytorch_model.bin"
    if single.is_file():
        entries, _ = read_safetensors_header(single)
        stored = {name: _Stored(single, _SAFETENSORS_NAMES[e.dtype], e.shape) for name, e in entries.items()}
        return single, stored, lambda: read_safetensors(single)
    if index.is_file():
        shards = safetensors_shards(index)
        stored = {}
        for shard in sorted(set(shards.values())):
            entries, _ = read_safetensors_header(shard)
            listed = {name for name, path in shards.items() if path == shard}
            if set(entries) != listed:
                extra, absent = sorted(set(entries) - listed), sorted(listed - set(entries))
                raise CheckpointError(
                    f"{index}: shard {shard.name} " + "; ".join(
                        ([f"holds {', '.join(extra[:3])}, which weight_map does not place there"] if extra else [])
                        + ([f"lacks {', '.join(absent[:3])}, which weight_map places there"] if absent else [])))
            stored.update({name: _Stored(shard, _SAFETENSORS_NAMES[e.dtype], e.shape) for name, e in entries.items()})

        def load() -> dict[str, torch.Tensor]:
            tensors = {}
            for path in sorted(set(shards.values())):
                tensors.update(read_safetensors(path))
            return tensors

        return index, stored, load
    if pickled.is_file():
        try:
            content = torch.load(pickled, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many types for a bad file
            raise CheckpointError(f"{pickled}: not a readable torch state dict ({type(error).__name__}: "
                                  f"{error})") from None
        if not isinstance(content, dict) or not all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in content.items()):
            raise CheckpointError(f"{pickled}: holds a {type(content).__name__} that is not a state dict; "
                                  f"expected a dict of tensor names to tensors")
        stored = {name: _Stored(pickled, str(t.dtype).removeprefix("torch."), tuple(t.shape))
                  for name, t in content.items()}
        return pickled, stored, lambda: dict(content)
    raise CheckpointError(f"{folder}: no model.safetensors, model.safetensors.index.json or pytorch_model.bin")


def safetensors_shards(index: str | os.PathLike) -> dict[str, Path]:
    """The shard file of each tensor that a sharded safetensors index (``model.safetensors.index.json``)
    names in its ``weight_map``; every shard must be a file inside the index's folder.

    A shard is confined by its name (``..`` and absolute paths cannot leave the folder), not by where a
    link leads: a Hugging Face cache snapshot links each of its files to ``../../blobs/``.
    """
    index = Path(index)
    try:
        content = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{index}: not a readable safetensors index ({error})") from None
    weight_map = content.get("weight_map") if isinstance(content, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise CheckpointError(f"{index}: weight_map is {weight_map!r}; expected an object naming the shard file "
                              f"of each tensor")
    folder = Path(os.path.abspath(index.parent))
    shards = {}
    for name, shard in weight_map.items():
        path = Path(os.path.normpath(folder / shard)) if isinstance(shard, str) and shard else None
        if path is None or path == folder or not path.is_relative_to(folder):
            raise CheckpointError(f"{index}: weight_map gives tensor {name} the shard {shard!r}, which is not a "
                                  f"file name inside {folder}; a shard must lie in the index's folder")
        if not path.is_file():
            raise CheckpointError(f"{index}: shard {shard!r} (of tensor {name}) is not a file in {folder}")
        shards[name] = path
    return shards


@dataclass(frozen=True)
class SafetensorsEntry:
    """One tensor of a safetensors header, checked against the file."""

    dtype: str  # F32, F16 or BF16
    shape: tuple[int, ...]
    start: int  # byte offsets in the data section
    stop: int


_SAFETENSORS_NAMES = {code: str(dtype).removeprefix("torch.") for code, dtype in SAFETENSORS_DTYPES.items()}


def read_safetensors_header(path: str | os.PathLike) -> tuple[dict[str, SafetensorsEntry], int]:
    """The tensors a ``.safetensors`` file's header describes, and where its data section begins.

    Every entry is checked before any data is read: a known dtype, a shape of non-negative integers,
    ``data_offsets`` [start, stop] inside the data section and ``stop - start`` = the shape's size × the
    dtype's; and the tensors tile the data section, in the order of their offsets, without a gap or an overlap
    (as the safetensors library requires). A failure raises ``CheckpointError`` naming the file and the tensor.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            n = struct.unpack("<Q", head)[0] if len(head) == 8 else None
            text = f.read(n) if n is not None and n <= size - 8 else None
    except OSError as error:
        raise CheckpointError(f"{path}: not readable ({error})") from None
    if n is None:
        raise CheckpointError(f"{path}: {size} bytes, fewer than the 8 of a safetensors header's length")
    if text is None:
        raise CheckpointError(f"{path}: its first 8 bytes give a header of {n} bytes, the file has {size - 8} "
                              f"after them; not a safetensors file, or truncated")
    try:
        header = json.loads(text.decode("utf-8"))
    except ValueError as error:
        raise CheckpointError(f"{path}: not a safetensors file (its header is not JSON: {error})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: its header is a JSON {_json_kind(header)}, expected an object "
                              f"(tensor name -> dtype, shape, data_offsets)")
    data_size = size - 8 - n
    entries = {name: _safetensors_entry(path, name, entry, data_size)
               for name, entry in header.items() if name != "__metadata__"}
    end, before = 0, None
    for name, entry in sorted(entries.items(), key=lambda item: (item[1].start, item[1].stop)):
        if entry.start < end:
            raise CheckpointError(f"{path}: tensor {name}'s data_offsets [{entry.start}, {entry.stop}] overlap "
                                  f"tensor {before}'s, which end at byte {end}")
        if entry.start > end:
            after = f"after tensor {before}" if before else "at the start of the data section"
            raise CheckpointError(f"{path}: bytes {end} to {entry.start} {after} belong to no tensor "
                                  f"(tensor {name}'s data_offsets begin at {entry.start})")
        end, before = entry.stop, name
    if end != data_size:
        raise CheckpointError(f"{path}: the tensors' data ends at byte {end} of the {data_size}-byte data "
                              f"section; {data_size - end} bytes belong to no tensor")
    return entries, 8 + n


def _safetensors_entry(path: Path, name: str, entry, data_size: int) -> SafetensorsEntry:
    if not isinstance(entry, dict):
        raise CheckpointError(f"{path}: tensor {name}'s header entry is a JSON {_json_kind(entry)}, expected an "
                              f"object with dtype, shape and data_offsets")
    dtype = entry.get("dtype")
    if dtype not in SAFETENSORS_DTYPES:
        raise CheckpointError(f"{path}: tensor {name} has dtype {dtype!r}; expected F32, F16 or BF16")
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(_is_int(n) and n >= 0 for n in shape):
        raise CheckpointError(f"{path}: tensor {name} has shape {shape!r}; expected a list of non-negative integers")
    offsets = entry.get("data_offsets")
    if "data_offsets" not in entry:
        raise CheckpointError(f"{path}: tensor {name} has no data_offsets; expected [start, stop]")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(n) and n >= 0 for n in offsets)
            and offsets[0] <= offsets[1]):
        raise CheckpointError(f"{path}: tensor {name} has data_offsets {offsets!r}; expected [start, stop] "
                              f"with 0 ≤ start ≤ stop")
    start, stop = offsets
    if stop > data_size:
        raise CheckpointError(f"{path}: tensor {name} ends at byte {stop} of {data_size}; the file is truncated")
    expected = math.prod(shape) * SAFETENSORS_ITEM_SIZES[dtype]
    if stop - start != expected:
        raise CheckpointError(f"{path}: tensor {name} is {dtype} of shape {shape}, {expected} bytes, but its "
                              f"data_offsets [{start}, {stop}] hold {stop - start}")
    return SafetensorsEntry(dtype, tuple(shape), start, stop)


def read_safetensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file (F32, F16, BF16): an 8-byte header length, a JSON header, the data.

    The header is checked first (`read_safetensors_header`); no tensor is made from bytes it does not describe.
    """
    entries, begin = read_safetensors_header(path)
    with open(path, "rb") as f:
        f.seek(begin)
        body = memoryview(f.read())
    if len(body) != max((e.stop for e in entries.values()), default=0):
        raise CheckpointError(f"{path}: changed while it was read ({len(body)} bytes of data after the header)")
    tensors = {}
    for name, entry in entries.items():
        raw = bytearray(body[entry.start:entry.stop])
        dtype = SAFETENSORS_DTYPES[entry.dtype]
        # a tensor of no elements has no bytes, and frombuffer refuses an empty buffer
        tensors[name] = torch.frombuffer(raw, dtype=dtype).reshape(entry.shape) if raw else \
            torch.empty(entry.shape, dtype=dtype)
    return tensors


def write_safetensors(tensors: dict[str, torch.Tensor], file: BinaryIO) -> None:
    """Write ``tensors`` as a ``.safetensors`` file, names sorted, to an open binary file."""
    codes = {dtype: code for code, dtype in SAFETENSORS_DTYPES.items()}
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        blob = tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b""
        header[name] = {"dtype": codes[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    file.write(struct.pack("<Q", len(text)) + text)
    for blob in blobs:
        file.write(blob)


def write_transformers_folder(model: Whisper, folder: str | os.PathLike) -> Path:
    """Write ``model`` as a transformers ``WhisperForConditionalGeneration`` folder (config.json,
    model.safetensors), the inverse of ``read_transformers``."""
    folder = Path(folder)
    dims = model.dims
    state = {k: v for k, v in model.state_dict().items() if k != "alignment_heads"}
    tensors = {}
    for hf, wh in _hf_names(dims):
        for suffix in ("", ".weight", ".bias"):
            if wh + suffix in state and (suffix or wh.endswith((".weight", "embedding"))):
                tensors[hf + suffix] = state[wh + suffix]
    tensors["proj_out.weight"] = state["decoder.token_embedding.weight"]
    config = {
        "model_type": "whisper", "architectures": ["WhisperForConditionalGeneration"],
        "num_mel_bins": dims.n_mels, "max_source_positions": dims.n_audio_ctx, "d_model": dims.n_audio_state,
        "encoder_attention_heads": dims.n_audio_head, "encoder_layers": dims.n_audio_layer,
        "encoder_ffn_dim": 4 * dims.n_audio_state, "vocab_size": dims.n_vocab,
        "max_target_positions": dims.n_text_ctx, "decoder_attention_heads": dims.n_text_head,
        "decoder_layers": dims.n_text_layer, "decoder_ffn_dim": 4 * dims.n_text_state,
        "activation_function": "gelu", "scale_embedding": False, "tie_word_embeddings": True,
        "torch_dtype": str(next(iter(tensors.values())).dtype).removeprefix("torch."),
    }
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "model.safetensors") as tmp, open(tmp, "wb") as f:
        write_safetensors(tensors, f)
    with atomic_path(folder / "config.json") as tmp:
        tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return folder


# the files that make a folder one format or the other (config.json, in both, is needed by transformers)
FORMAT_FILES = {"ctranslate2": ("model.bin",),
                "transformers": ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")}


def format_files(folder: str | os.PathLike) -> dict[str, list[str]]:
    """The formats whose files ``folder`` holds, each with those files (what `detect_format` decides by)."""
    folder = Path(folder)
    found = {kind: [name for name in names if (folder / name).is_file()] for kind, names in FORMAT_FILES.items()}
    if not (folder / "config.json").is_file():
        found["transformers"] = []
    return {kind: names for kind, names in found.items() if names}


def detect_format(folder: str | os.PathLike) -> str | None:
    """``"ctranslate2"`` or ``"transformers"`` for a model folder, by its files; None otherwise.

    A CTranslate2 folder has ``model.bin``; a transformers folder has ``config.json`` and
    ``model.safetensors``, ``model.safetensors.index.json`` or ``pytorch_model.bin``.

    Raises
    ------
    CheckpointError
        The folder holds both: which one is meant is not guessed (the two may hold different weights).
        The message names the folder and both sets of files; pass a folder that holds one format.
    """
    found = format_files(folder)
    if len(found) > 1:
        raise CheckpointError(
            f"{folder}: holds both a CTranslate2 model ({', '.join(found['ctranslate2'])}) and a transformers "
            f"model (config.json, {', '.join(found['transformers'])}); which one is meant is not guessed: "
            f"pass a folder that holds one format")
    return next(iter(found), None)


def save_torch(obj, dest: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``dest`` atomically, the same objects giving the same bytes.

    torch.save names its zip archive after the file it is given, here a random temporary name; through
    a file object the archive is always called "archive", so the file's sha256 depends on its content only.
    """
    with atomic_path(dest) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
    return Path(dest)


READERS = {"ctranslate2": read_ctranslate2, "transformers": read_transformers}
