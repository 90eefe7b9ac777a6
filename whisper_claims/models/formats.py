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
import os
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, Iterable

import numpy as np
import torch
from whisper.model import ModelDimensions, Whisper

from ..errors import CheckpointError
from ..files import atomic_path

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


def _ct2_block(variables: dict[str, np.ndarray], ct2: str, whisper_prefix: str, cross: bool) -> dict:
    """One transformer block of a CTranslate2 Whisper, in Whisper's names."""
    out = {}

    def norm(src: str, dst: str) -> None:
        for a, b in _CT2_NORM.items():
            out[f"{whisper_prefix}.{dst}.{b}"] = variables.pop(f"{ct2}/{src}/layer_norm/{a}")

    def linear(src: str, dst: str) -> None:
        for a, b in _CT2_LINEAR.items():
            out[f"{whisper_prefix}.{dst}.{b}"] = variables.pop(f"{ct2}/{src}/{a}")

    def fused(src: str, dsts: tuple[str, ...]) -> None:
        weight = variables.pop(f"{ct2}/{src}/weight")
        bias = variables.pop(f"{ct2}/{src}/bias")
        for dst, w, b in zip(dsts, np.split(weight, len(dsts)), np.split(bias, len(dsts))):
            out[f"{whisper_prefix}.{dst}.weight"] = w
            if not dst.endswith("key"):
                # Whisper's key projection has no bias (the converter writes zeros; a key bias would
                # add the same number to every score of a query, which softmax ignores)
                out[f"{whisper_prefix}.{dst}.bias"] = b

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
    """Read a CTranslate2 ``model.bin`` (binary version 6), given whole or as parts to concatenate."""
    parts = [Path(p) for p in parts]
    data = b"".join(p.read_bytes() for p in parts)
    where = parts[0] if len(parts) == 1 else f"{parts[0]} (+{len(parts) - 1} part(s))"
    offset = 0

    def take(fmt: str):
        nonlocal offset
        try:
            value = struct.unpack_from("<" + fmt, data, offset)[0]
        except struct.error:
            raise CheckpointError(f"{where}: CTranslate2 model.bin ends early at byte {offset} "
                                  f"of {len(data)}; the file is truncated") from None
        offset += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal offset
        n = take("H")
        text = data[offset:offset + n - 1]
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

    Raises
    ------
    CheckpointError
        Not a CTranslate2 Whisper model, truncated, or quantized (int8/int16 weights are not the
        original parameters: convert the float16 model instead).
    """
    folder = Path(folder)
    parts = list(parts) if parts is not None else [folder / "model.bin"]
    for part in parts:
        if not Path(part).is_file():
            raise CheckpointError(f"{part}: no such file; a CTranslate2 model folder has model.bin and config.json")
    content = read_ct2_model_bin(parts)
    spec, revision, variables, dtypes = content.spec, content.revision, dict(content.variables), content.dtypes
    aliases = content.aliases
    if spec != CT2_SPEC:
        raise CheckpointError(f"{parts[0]}: a CTranslate2 {spec} model, expected {CT2_SPEC}")
    quantized = sorted(n for n in variables if n.endswith("_scale"))
    if quantized:
        kind = dtypes.get(quantized[0].removesuffix("_scale"), "int8")
        raise CheckpointError(
            f"{parts[0]}: a quantized CTranslate2 model ({kind} weights, e.g. {quantized[0]}); its weights "
            f"are not the original parameters. Convert the float16 or float32 model instead "
            f"(ct2-transformers-converter --quantization float16)")
    floats = {dtypes[n] for n, v in variables.items() if v.ndim > 0}
    if len(floats) != 1 or not floats <= set(FLOAT_DTYPES):
        raise CheckpointError(f"{parts[0]}: tensors of dtypes {sorted(floats)}; expected one of "
                              f"{', '.join(FLOAT_DTYPES)}")
    dtype = floats.pop()
    for alias, target in aliases.items():
        if alias != "decoder/projection/weight" or target != "decoder/embeddings/weight":
            variables.setdefault(alias, variables[target])
    n_audio_head = int(variables.pop("encoder/num_heads"))
    n_text_head = int(variables.pop("decoder/num_heads"))
    for flag, value in _CT2_DECODER_FLAGS.items():
        found = variables.pop(f"decoder/{flag}", None)
        if found is not None and value is not None and int(found) != value:
            raise CheckpointError(f"{parts[0]}: decoder/{flag} is {int(found)}, Whisper's is {value}; "
                                  f"not a Whisper computation")
    state: dict[str, np.ndarray] = {}
    for name in ("conv1", "conv2"):
        state[f"encoder.{name}.weight"] = variables.pop(f"encoder/{name}/weight")
        state[f"encoder.{name}.bias"] = variables.pop(f"encoder/{name}/bias")
    state["encoder.positional_embedding"] = variables.pop("encoder/position_encodings/encodings")
    n_audio_layer = _count_layers(variables, "encoder/layer_")
    n_text_layer = _count_layers(variables, "decoder/layer_")
    for i in range(n_audio_layer):
        state.update(_ct2_block(variables, f"encoder/layer_{i}", f"encoder.blocks.{i}", cross=False))
    for i in range(n_text_layer):
        state.update(_ct2_block(variables, f"decoder/layer_{i}", f"decoder.blocks.{i}", cross=True))
    state["encoder.ln_post.weight"] = variables.pop("encoder/layer_norm/gamma")
    state["encoder.ln_post.bias"] = variables.pop("encoder/layer_norm/beta")
    state["decoder.token_embedding.weight"] = variables.pop("decoder/embeddings/weight")
    state["decoder.positional_embedding"] = variables.pop("decoder/position_encodings/encodings")
    state["decoder.ln.weight"] = variables.pop("decoder/layer_norm/gamma")
    state["decoder.ln.bias"] = variables.pop("decoder/layer_norm/beta")
    if variables:
        raise CheckpointError(f"{parts[0]}: variables this reader does not know: {', '.join(sorted(variables)[:5])}"
                              f" (spec {spec} revision {revision})")
    tensors = {name: _tensor(array, dtype) for name, array in state.items()}
    dims = _dims(tensors, n_audio_head, n_text_head, n_audio_layer, n_text_layer)
    return Converted(dims, tensors, _config_alignment_heads(folder / "config.json"), "ctranslate2", dtype)


def _tensor(array: np.ndarray, dtype: str) -> torch.Tensor:
    if dtype == "bfloat16":
        return torch.from_numpy(array.copy()).view(torch.bfloat16)
    return torch.from_numpy(array.copy())


def _count_layers(variables: dict, prefix: str) -> int:
    return len({name[len(prefix):].split("/")[0] for name in variables
                if name.startswith(prefix) and name[len(prefix):].split("/")[0].isdigit()})


def _dims(state: dict[str, torch.Tensor], n_audio_head: int, n_text_head: int, n_audio_layer: int,
          n_text_layer: int) -> ModelDimensions:
    n_audio_state, n_mels, _ = state["encoder.conv1.weight"].shape
    n_vocab, n_text_state = state["decoder.token_embedding.weight"].shape
    return ModelDimensions(
        n_mels=n_mels, n_audio_ctx=state["encoder.positional_embedding"].shape[0], n_audio_state=n_audio_state,
        n_audio_head=n_audio_head, n_audio_layer=n_audio_layer, n_vocab=n_vocab,
        n_text_ctx=state["decoder.positional_embedding"].shape[0], n_text_state=n_text_state,
        n_text_head=n_text_head, n_text_layer=n_text_layer,
    )


def _config_alignment_heads(path: Path) -> tuple[tuple[int, int], ...] | None:
    if not path.is_file():
        return None
    try:
        heads = json.loads(path.read_text(encoding="utf-8")).get("alignment_heads")
    except (OSError, ValueError, AttributeError) as error:
        raise CheckpointError(f"{path}: not a readable JSON object ({error})") from None
    return None if not heads else tuple((int(layer), int(head)) for layer, head in heads)


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


def _hf_dims(config: dict, where: Path) -> ModelDimensions:
    keys = {"n_mels": "num_mel_bins", "n_audio_ctx": "max_source_positions", "n_audio_state": "d_model",
            "n_audio_head": "encoder_attention_heads", "n_audio_layer": "encoder_layers",
            "n_vocab": "vocab_size", "n_text_ctx": "max_target_positions", "n_text_state": "d_model",
            "n_text_head": "decoder_attention_heads", "n_text_layer": "decoder_layers"}
    missing = [hf for hf in keys.values() if hf not in config]
    if config.get("model_type") != "whisper" or missing:
        raise CheckpointError(f"{where}: not a transformers Whisper config (model_type "
                              f"{config.get('model_type')!r}, missing {', '.join(missing) or 'nothing'})")
    return ModelDimensions(**{ours: int(config[hf]) for ours, hf in keys.items()})


def read_transformers(folder: str | os.PathLike) -> Converted:
    """A Hugging Face transformers Whisper folder in Whisper's names.

    Reads ``config.json`` and ``model.safetensors`` (or its sharded index, or ``pytorch_model.bin``,
    loaded with ``weights_only=True``); ``WhisperModel`` and ``WhisperForConditionalGeneration``
    folders alike (with or without the ``model.`` prefix). ``proj_out`` is tied to the token embedding.
    """
    folder = Path(folder)
    config_path = folder / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{config_path}: not a readable transformers config ({error})") from None
    dims = _hf_dims(config, config_path)
    tensors = _read_hf_tensors(folder)
    if not any(name.startswith("model.") for name in tensors):
        tensors = {f"model.{name}": tensor for name, tensor in tensors.items()}
    state = {}
    for hf, wh in _hf_names(dims):
        for suffix in ("", ".weight", ".bias"):
            if hf + suffix in tensors and (suffix or hf.endswith(".weight")):
                state[wh + suffix] = tensors.pop(hf + suffix)
    projection = tensors.pop("proj_out.weight", None)
    if projection is not None and not torch.equal(projection, state.get("decoder.token_embedding.weight")):
        raise CheckpointError(f"{folder}: proj_out.weight differs from the token embedding; Whisper ties them")
    if tensors:
        raise CheckpointError(f"{folder}: tensors this reader does not know: {', '.join(sorted(tensors)[:5])}")
    missing = sorted(_whisper_names(dims) - set(state))
    if missing:
        raise CheckpointError(f"{folder}: tensors missing for Whisper: {', '.join(missing[:5])}")
    dtypes = {str(t.dtype).removeprefix("torch.") for t in state.values()}
    if len(dtypes) != 1 or not dtypes <= set(FLOAT_DTYPES):
        raise CheckpointError(f"{folder}: tensors of dtypes {sorted(dtypes)}; expected one of {', '.join(FLOAT_DTYPES)}")
    heads = _config_alignment_heads(folder / "generation_config.json")
    return Converted(dims, state, heads, "transformers", dtypes.pop())


def _whisper_names(dims: ModelDimensions) -> set[str]:
    # the names depend on the layer counts only: a model of the same depth and tiny widths has them
    small = ModelDimensions(n_mels=1, n_audio_ctx=1, n_audio_state=4, n_audio_head=1,
                            n_audio_layer=dims.n_audio_layer, n_vocab=1, n_text_ctx=1, n_text_state=4,
                            n_text_head=1, n_text_layer=dims.n_text_layer)
    return set(Whisper(small).state_dict())


def _read_hf_tensors(folder: Path) -> dict[str, torch.Tensor]:
    single = folder / "model.safetensors"
    index = folder / "model.safetensors.index.json"
    pickled = folder / "pytorch_model.bin"
    if single.is_file():
        return read_safetensors(single)
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError, AttributeError) as error:
            raise CheckpointError(f"{index}: not a readable safetensors index ({error})") from None
        tensors = {}
        for shard in shards:
            tensors.update(read_safetensors(folder / shard))
        return tensors
    if pickled.is_file():
        try:
            return dict(torch.load(pickled, map_location="cpu", weights_only=True))
        except Exception as error:  # torch raises many types for a bad file
            raise CheckpointError(f"{pickled}: not a readable torch state dict ({type(error).__name__}: "
                                  f"{error})") from None
    raise CheckpointError(f"{folder}: no model.safetensors, model.safetensors.index.json or pytorch_model.bin")


def read_safetensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file (F32, F16, BF16): an 8-byte header length, a JSON header, the data."""
    path = Path(path)
    data = path.read_bytes()
    try:
        (n,) = struct.unpack_from("<Q", data, 0)
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (struct.error, ValueError) as error:
        raise CheckpointError(f"{path}: not a safetensors file ({error})") from None
    body = memoryview(data)[8 + n:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = SAFETENSORS_DTYPES.get(entry.get("dtype"))
        if dtype is None:
            raise CheckpointError(f"{path}: tensor {name} has dtype {entry.get('dtype')!r}; expected F32, F16 or BF16")
        start, stop = entry["data_offsets"]
        if stop > len(body):
            raise CheckpointError(f"{path}: tensor {name} ends at byte {stop} of {len(body)}; the file is truncated")
        raw = bytearray(body[start:stop])
        tensors[name] = torch.frombuffer(raw, dtype=dtype).reshape(entry["shape"]) if raw else \
            torch.empty(entry["shape"], dtype=dtype)
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


def detect_format(folder: str | os.PathLike) -> str | None:
    """``"ctranslate2"`` or ``"transformers"`` for a model folder, by its files; None otherwise."""
    folder = Path(folder)
    if (folder / "model.bin").is_file():
        return "ctranslate2"
    if (folder / "config.json").is_file() and any(
            (folder / name).is_file() for name in ("model.safetensors", "model.safetensors.index.json",
                                                   "pytorch_model.bin")):
        return "transformers"
    return None


def save_torch(obj, dest: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``dest`` atomically, the same objects giving the same bytes.

    torch.save names its zip archive after the file it is given, here a random temporary name; through
    a file object the archive is always called "archive", so the file's sha256 depends on its content only.
    """
    with atomic_path(dest) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
    return Path(dest)


READERS = {"ctranslate2": read_ctranslate2, "transformers": read_transformers}
