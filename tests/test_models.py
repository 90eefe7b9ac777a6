import base64
import copy
import gzip
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch
import whisper
from whisper.model import ModelDimensions
from whisper.tokenizer import get_tokenizer

from whisper_claims.errors import CheckpointError, ChecksumMismatch, ModelUnavailable, UnknownModelError
from whisper_claims.files import sha256_file
from whisper_claims.models import load as models
from whisper_claims.models.dims import (MICRO_DIMS, OFFICIAL_DIMS, axis_length, check_dims, size_of,
                                        state_axes)
from whisper_claims.models.load import (default_root, official_checkpoint, open_model, parameters_sha256, parse_spec,
                                        random_model, write_checkpoint)
from whisper_claims.models.sizes import ALIASES, OFFICIAL_NAMES, canonical_size

SMALL = ModelDimensions(
    n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
    n_vocab=51865, n_text_ctx=64, n_text_state=64, n_text_head=2, n_text_layer=2,
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert torch.equal(a[key], b[key]), key


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a URL fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"unexpected network access: {args}")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A random model with the real tiny dimensions, saved in fp16 like the official file."""
    model = random_model("tiny", seed=3)
    path = write_checkpoint(model, tmp_path_factory.mktemp("tiny") / "tiny.pt", half=True)
    return path, sha(path.read_bytes()), model


def point_tiny_at(monkeypatch, url: str) -> None:
    monkeypatch.setitem(whisper._MODELS, "tiny", url)


# -- the official dimensions table ---------------------------------------------------------------


def test_official_names_are_whispers():
    assert list(OFFICIAL_DIMS) == whisper.available_models()
    assert OFFICIAL_NAMES == tuple(OFFICIAL_DIMS)  # the torch-free names (registry, records) are these
    assert set(ALIASES) <= set(OFFICIAL_DIMS)


@pytest.mark.parametrize("name", whisper.available_models())
def test_text_layers_and_heads_match_whispers_alignment_heads(name):
    """Whisper ships one alignment-head mask per model, shaped n_text_layer × n_text_head."""
    mask = np.frombuffer(gzip.decompress(base64.b85decode(whisper._ALIGNMENT_HEADS[name])), dtype=bool)
    dims = OFFICIAL_DIMS[name]
    assert mask.size == dims.n_text_layer * dims.n_text_head
    assert mask.any()


@pytest.mark.parametrize("name", whisper.available_models())
def test_vocabulary_size_matches_whispers_tokenizer(name):
    dims = OFFICIAL_DIMS[name]
    multilingual = not name.endswith(".en")
    num_languages = dims.n_vocab - 51765 - int(multilingual)
    tokenizer = get_tokenizer(multilingual, num_languages=num_languages)
    assert tokenizer.encoding.n_vocab == dims.n_vocab
    if multilingual:
        assert num_languages in (99, 100)


def test_official_dims_spot_values():
    def shape(name):
        d = OFFICIAL_DIMS[name]
        return d.n_audio_state, d.n_audio_head, d.n_audio_layer, d.n_text_state, d.n_text_head, d.n_text_layer

    assert shape("tiny") == (384, 6, 4, 384, 6, 4)
    assert shape("base") == (512, 8, 6, 512, 8, 6)
    assert shape("small") == (768, 12, 12, 768, 12, 12)
    assert shape("medium") == (1024, 16, 24, 1024, 16, 24)
    assert shape("large-v2") == (1280, 20, 32, 1280, 20, 32)
    assert shape("large-v3-turbo") == (1280, 20, 32, 1280, 20, 4)
    for name in ("tiny", "base", "small", "medium", "large-v1", "large-v2"):
        assert OFFICIAL_DIMS[name].n_mels == 80 and OFFICIAL_DIMS[name].n_vocab == 51865, name
    for name in ("tiny.en", "base.en", "small.en", "medium.en"):
        assert OFFICIAL_DIMS[name].n_vocab == 51864, name
        assert replace(OFFICIAL_DIMS[name], n_vocab=51865) == OFFICIAL_DIMS[name.removesuffix(".en")]
    for name in ("large-v3", "large-v3-turbo"):
        assert OFFICIAL_DIMS[name].n_mels == 128 and OFFICIAL_DIMS[name].n_vocab == 51866, name
    assert all(d.n_text_ctx == 448 and d.n_audio_ctx == 1500 for d in OFFICIAL_DIMS.values())


def test_size_of_round_trips():
    for name, dims in OFFICIAL_DIMS.items():
        expected = {"large-v1": "large-v2"}.get(canonical_size(name), canonical_size(name))
        assert size_of(dims) == expected, name
    assert size_of(SMALL) is None
    assert size_of(replace(OFFICIAL_DIMS["tiny"], n_text_layer=3)) is None


def test_aliases():
    assert canonical_size("large") == "large-v3"
    assert canonical_size("turbo") == "large-v3-turbo"
    assert canonical_size("tiny") == "tiny"
    assert OFFICIAL_DIMS["large"] == OFFICIAL_DIMS["large-v3"]
    assert OFFICIAL_DIMS["turbo"] == OFFICIAL_DIMS["large-v3-turbo"]
    # whisper loads the same file for an alias and its target
    assert whisper._MODELS["large"] == whisper._MODELS["large-v3"]
    assert whisper._MODELS["turbo"] == whisper._MODELS["large-v3-turbo"]


@pytest.mark.parametrize("dims", [SMALL, MICRO_DIMS, replace(SMALL, n_text_layer=3, n_mels=128)])
def test_state_axes_are_whispers_shapes(dims):
    """The table the checkpoint readers check shapes against is what Whisper itself builds."""
    expected = {name: tuple(t.shape) for name, t in whisper.model.Whisper(dims).state_dict().items()}
    axes = state_axes(dims.n_audio_layer, dims.n_text_layer)
    assert {name: tuple(axis_length(a, dims) for a in shape) for name, shape in axes.items()} == expected


def test_every_official_size_has_possible_dims():
    for name, dims in OFFICIAL_DIMS.items():
        check_dims(dims, name)
    check_dims(MICRO_DIMS, "micro")


@pytest.mark.parametrize("change, expected", [
    ({"n_audio_head": 5}, "f.json: heads = 5 does not divide width = 64; each head takes an equal share"),
    ({"n_mels": 64}, "f.json: n_mels = 64, expected 80 or 128"),
    ({"n_text_layer": 0}, "f.json: n_text_layer is 0, expected a positive integer"),
    ({"n_audio_state": 66, "n_text_state": 66, "n_audio_head": 1, "n_text_head": 1}, None),
    ({"n_audio_state": 63, "n_text_state": 63, "n_audio_head": 1, "n_text_head": 1},
     "width = 63 is odd; Whisper's sinusoidal positions need an even width"),
    ({"n_text_state": 128}, "width = 64 differs from n_text_state = 128; the decoder's cross-attention"),
])
def test_impossible_dims_are_named_as_their_file_names_them(change, expected):
    dims = replace(SMALL, **change)
    names = {"n_audio_head": "heads", "n_audio_state": "width"}
    if expected is None:
        check_dims(dims, "f.json", names)
        return
    with pytest.raises(CheckpointError) as info:
        check_dims(dims, "f.json", names)
    assert str(info.value).startswith("f.json: ") and expected in str(info.value)


# -- model specs --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", whisper.available_models())
def test_parse_official_names(name):
    spec = parse_spec(name)
    assert (spec.kind, spec.name, spec.text) == ("official", name, name)


def test_parse_random_specs():
    assert parse_spec("random:tiny") == models.ModelSpec("random:tiny", "random", "tiny", 0)
    assert parse_spec("random:base:7") == models.ModelSpec("random:base:7", "random", "base", 7)
    assert parse_spec(" random:turbo:12 ").seed == 12
    assert parse_spec(" tiny\n").kind == "official"


def test_parse_paths(tmp_path, monkeypatch):
    assert parse_spec("model.pt").kind == "path"
    assert parse_spec(f"{tmp_path}/weights").kind == "path"
    assert parse_spec("ckpt/tiny").kind == "path"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my-weights").write_bytes(b"")
    spec = parse_spec("my-weights")
    assert (spec.kind, spec.name) == ("path", "my-weights")


@pytest.mark.parametrize(
    "text, needles",
    [
        ("tinny", ["'tinny'", "did you mean tiny", "random:<size>"]),
        ("baes.en", ["'baes.en'", "did you mean base.en"]),
        ("random:tinyy", ["'tinyy'", "did you mean tiny"]),
        ("random:", ["unknown size ''", "tiny.en"]),
        ("random:tiny:x", ["seed 'x'", "non-negative integer"]),
        ("random:tiny:-1", ["seed '-1'"]),
        ("random:tiny:\u00b2", ["seed '\u00b2'"]),  # isdigit() is true for '²', int() refuses it
    ],
)
def test_parse_typos(text, needles):
    with pytest.raises(UnknownModelError) as info:
        parse_spec(text)
    for needle in needles:
        assert needle in str(info.value)


# -- random models ---------------------------------------------------------------------------------


def test_random_model_is_seeded():
    a = random_model("tiny", 1, dims=SMALL)
    b = random_model("tiny", 1, dims=SMALL)
    c = random_model("tiny", 2, dims=SMALL)
    assert parameters_sha256(a) == parameters_sha256(b)
    assert_same_state(a.state_dict(), b.state_dict())
    assert parameters_sha256(a) != parameters_sha256(c)
    assert not torch.equal(a.encoder.conv1.weight, c.encoder.conv1.weight)
    assert a.dims == SMALL and not a.training
    assert all(p.dtype == torch.float32 for p in a.parameters())


def test_random_model_leaves_global_rng_alone():
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    random_model("tiny", 5, dims=SMALL)
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    random_model("tiny", 6, dims=SMALL)
    assert torch.equal(torch.rand(3), expected)


def test_random_model_initialises_decoder_positions():
    """Whisper leaves decoder.positional_embedding as torch.empty; random_model fills it N(0, 0.01²)."""
    model = random_model("tiny", 0, dims=SMALL)
    pos = model.decoder.positional_embedding.detach()
    assert torch.isfinite(pos).all()
    assert 0.008 < pos.std().item() < 0.012
    assert abs(pos.mean().item()) < 0.002
    assert torch.equal(pos, random_model("tiny", 0, dims=SMALL).decoder.positional_embedding)


def test_random_model_real_tiny_dims():
    model = random_model("tiny")
    assert model.dims == OFFICIAL_DIMS["tiny"]
    assert model.decoder.token_embedding.weight.shape == (51865, 384)
    assert len(model.encoder.blocks) == 4 and len(model.decoder.blocks) == 4


def test_parameters_sha256_sees_one_weight():
    model = random_model("tiny", 0, dims=SMALL)
    digest = parameters_sha256(model)
    other = copy.deepcopy(model)
    assert parameters_sha256(other) == digest
    with torch.no_grad():
        w = other.decoder.blocks[1].mlp[2].weight
        w[3, 7] = torch.nextafter(w[3, 7], torch.tensor(1.0))
    assert parameters_sha256(other) != digest
    with torch.no_grad():
        other.decoder.blocks[1].mlp[2].weight.copy_(model.decoder.blocks[1].mlp[2].weight)
    assert parameters_sha256(other) == digest


def test_parameters_sha256_is_plain_sha_over_names_shapes_bytes():
    model = random_model("tiny", 0, dims=SMALL)
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode() + str(tuple(tensor.shape)).encode() + tensor.numpy().tobytes())
    assert parameters_sha256(model) == digest.hexdigest()


def test_open_random_spec():
    loaded = open_model("random:tiny:5")
    assert loaded.info.kind == "random" and loaded.info.size == "tiny"
    assert loaded.info.path is None
    assert loaded.info.sha256 == parameters_sha256(random_model("tiny", 5))
    assert loaded.info.dims == asdict(OFFICIAL_DIMS["tiny"])


# -- writing checkpoints and reading them back ---------------------------------------------------------


def test_checkpoint_round_trip(tmp_path):
    model = random_model("tiny", 4, dims=SMALL)
    path = write_checkpoint(model, tmp_path / "sub" / "small.pt")
    assert path == tmp_path / "sub" / "small.pt"
    assert files_in(path.parent) == ["small.pt"]  # no .part left behind

    by_whisper = whisper.load_model(str(path), device="cpu")
    loaded = open_model(str(path))
    assert_same_state(by_whisper.state_dict(), loaded.model.state_dict())
    assert_same_state(model.state_dict(), loaded.model.state_dict())
    assert not loaded.model.training

    info = loaded.info
    assert info.kind == "path" and info.path == str(path) and info.spec == str(path)
    assert info.sha256 == sha(path.read_bytes())
    assert info.size is None  # custom dimensions
    assert info.dims == asdict(SMALL)

    raw = torch.load(path, weights_only=True)
    assert raw["dims"] == asdict(SMALL) and set(raw) == {"dims", "model_state_dict"}


def test_checkpoint_in_half_precision(tmp_path):
    model = random_model("tiny", 4, dims=SMALL)
    path = write_checkpoint(model, tmp_path / "half.pt", half=True)
    raw = torch.load(path, weights_only=True)["model_state_dict"]
    assert all(t.dtype == torch.float16 for t in raw.values() if t.is_floating_point())
    assert path.stat().st_size < 0.6 * write_checkpoint(model, tmp_path / "full.pt").stat().st_size

    loaded = open_model(str(path)).model
    changed = 0
    for name, original in model.state_dict().items():
        got = loaded.state_dict()[name]
        assert got.dtype == torch.float32, name
        assert torch.equal(got, original.half().float()), name
        torch.testing.assert_close(got, original, rtol=2 ** -10, atol=1e-7)
        changed += not torch.equal(got, original)
    assert changed > 0


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def broken_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")  # save_torch hands torch.save an open file
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    model = random_model("tiny", 0, dims=SMALL)
    with pytest.raises(OSError, match="No space left"):
        write_checkpoint(model, tmp_path / "model.pt")
    assert files_in(tmp_path) == []

    (tmp_path / "model.pt").write_bytes(b"previous")
    with pytest.raises(OSError):
        write_checkpoint(model, tmp_path / "model.pt")
    assert files_in(tmp_path) == ["model.pt"]
    assert (tmp_path / "model.pt").read_bytes() == b"previous"


# -- official names through whisper.load_model's cache ----------------------------------------------


def test_default_root(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_root() == os.path.join(str(tmp_path), "whisper")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_root() == os.path.join(os.path.expanduser("~"), ".cache", "whisper")


def test_official_checkpoint_location(tmp_path):
    path, digest, url = official_checkpoint("turbo", str(tmp_path))
    assert path == tmp_path / "large-v3-turbo.pt"
    assert url == whisper._MODELS["large-v3-turbo"]
    assert len(digest) == 64 and digest in url


def test_official_name_loads_from_root(tmp_path, monkeypatch, tiny_checkpoint, no_network):
    source, digest, model = tiny_checkpoint
    point_tiny_at(monkeypatch, f"https://example.invalid/{digest}/tiny.pt")
    root = tmp_path / "root"
    root.mkdir()
    shutil.copyfile(source, root / "tiny.pt")

    loaded = open_model("tiny", root=str(root))
    assert loaded.info.kind == "official" and loaded.info.size == "tiny"
    assert loaded.info.sha256 == digest == sha((root / "tiny.pt").read_bytes())
    assert loaded.info.path == str(root / "tiny.pt")
    expected = {k: v.half().float() for k, v in model.state_dict().items()}
    assert_same_state(expected, loaded.model.state_dict())
    # loaded through whisper.load_model("tiny"): tiny's official alignment heads were set
    heads = np.frombuffer(gzip.decompress(base64.b85decode(whisper._ALIGNMENT_HEADS["tiny"])), dtype=bool)
    assert torch.equal(loaded.model.alignment_heads.to_dense(), torch.from_numpy(heads.reshape(4, 6).copy()))
    assert files_in(root) == ["tiny.pt"]


def test_absent_official_checkpoint_is_unavailable(tmp_path, no_network):
    root = tmp_path / "empty"
    with pytest.raises(ModelUnavailable) as info:
        open_model("tiny", root=str(root))
    message = str(info.value)
    for needle in ("'tiny'", "tiny.pt", str(root), "--whisper-root", "--whisper-download",
                   official_checkpoint("tiny")[1]):
        assert needle in message
    assert files_in(root) == []

    with pytest.raises(ModelUnavailable, match="large-v3.pt"):
        open_model("large", root=str(root))


def test_corrupt_official_checkpoint_is_left_alone(tmp_path, monkeypatch, no_network):
    """A present file with the wrong sha256 is reported, never re-downloaded or replaced."""
    expected = sha(b"the real checkpoint")
    point_tiny_at(monkeypatch, f"https://example.invalid/{expected}/tiny.pt")
    path = tmp_path / "tiny.pt"
    path.write_bytes(b"a corrupt checkpoint")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = path.stat().st_mtime_ns

    for download in (False, True):
        with pytest.raises(ChecksumMismatch) as info:
            open_model("tiny", root=str(tmp_path), download=download)
        message = str(info.value)
        assert str(path) in message
        assert expected in message and sha(b"a corrupt checkpoint") in message
        assert path.read_bytes() == b"a corrupt checkpoint"
        assert path.stat().st_mtime_ns == before
        assert files_in(tmp_path) == ["tiny.pt"]


def test_official_file_with_right_sha_but_not_a_checkpoint(tmp_path, monkeypatch, no_network):
    data = b"not a torch file"
    point_tiny_at(monkeypatch, f"https://example.invalid/{sha(data)}/tiny.pt")
    (tmp_path / "tiny.pt").write_bytes(data)
    with pytest.raises(CheckpointError, match=str(tmp_path / "tiny.pt")):
        open_model("tiny", root=str(tmp_path))


def test_download_official_checkpoint(tmp_path, monkeypatch, server, tiny_checkpoint):
    folder, base = server
    source, digest, model = tiny_checkpoint
    (folder / digest).mkdir()
    shutil.copyfile(source, folder / digest / "tiny.pt")
    point_tiny_at(monkeypatch, f"{base}/{digest}/tiny.pt")
    root = tmp_path / "root"

    loaded = open_model("tiny", root=str(root), download=True)
    assert files_in(root) == ["tiny.pt"]
    assert sha((root / "tiny.pt").read_bytes()) == digest == loaded.info.sha256
    assert loaded.info.size == "tiny"
    assert torch.equal(loaded.model.encoder.conv1.weight, model.encoder.conv1.weight.half().float())


def test_download_with_wrong_sha_leaves_nothing(tmp_path, monkeypatch, server):
    folder, base = server
    promised = sha(b"what the URL promises")
    (folder / promised).mkdir()
    (folder / promised / "tiny.pt").write_bytes(b"something else entirely")
    point_tiny_at(monkeypatch, f"{base}/{promised}/tiny.pt")
    root = tmp_path / "root"

    with pytest.raises((ModelUnavailable, ChecksumMismatch)) as info:
        open_model("tiny", root=str(root), download=True)
    message = str(info.value)
    assert "tiny" in message
    assert promised in message and sha(b"something else entirely") in message
    assert files_in(root) == []  # neither tiny.pt nor a .part file


def test_download_missing_on_server(tmp_path, monkeypatch, server):
    _, base = server
    point_tiny_at(monkeypatch, f"{base}/{sha(b'x')}/tiny.pt")
    with pytest.raises(ModelUnavailable, match="404"):
        open_model("tiny", root=str(tmp_path / "root"), download=True)
    assert files_in(tmp_path / "root") == []


def test_download_from_closed_port(tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    point_tiny_at(monkeypatch, f"http://127.0.0.1:{port}/{sha(b'x')}/tiny.pt")
    with pytest.raises(ModelUnavailable) as info:
        open_model("tiny", root=str(tmp_path / "root"), download=True)
    assert "'tiny'" in str(info.value) and str(tmp_path / "root") in str(info.value)
    assert files_in(tmp_path / "root") == []


# -- unreadable checkpoints -----------------------------------------------------------------------------


def test_missing_checkpoint_path(tmp_path):
    path = tmp_path / "nowhere" / "model.pt"
    with pytest.raises(CheckpointError) as info:
        open_model(str(path))
    assert str(path) in str(info.value) and "no such file" in str(info.value)
    with pytest.raises(UnknownModelError, match="a folder, but neither a CTranslate2 model folder"):
        open_model(str(tmp_path))  # a folder of no known format is not a checkpoint


@pytest.mark.parametrize("content", [
    np.random.default_rng(0).bytes(4096),
    b"",
    b"hello world\n",
    b"PK\x03\x04" + bytes(100),
])
def test_garbage_checkpoint(tmp_path, content):
    path = tmp_path / "garbage.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        open_model(str(path))
    assert str(path) in str(info.value)
    assert "'dims'" in str(info.value) and "'model_state_dict'" in str(info.value)


def test_truncated_checkpoint(tmp_path):
    path = write_checkpoint(random_model("tiny", 0, dims=SMALL), tmp_path / "m.pt")
    path.write_bytes(path.read_bytes()[:100_000])
    with pytest.raises(CheckpointError, match="not a readable Whisper checkpoint"):
        open_model(str(path))


def _bad(**dims_changes):
    state = random_model("tiny", 0, dims=SMALL).state_dict()
    return {"dims": dict(asdict(SMALL), **dims_changes), "model_state_dict": state}


@pytest.mark.filterwarnings("ignore:Using a non-tuple sequence:UserWarning")
@pytest.mark.parametrize("label, content", [
    ("no dims", {"model_state_dict": {}}),
    ("no state dict", {"dims": asdict(SMALL)}),
    ("a tensor", torch.zeros(3)),
    ("a list", [1, 2]),
    ("dims not a dict", {"dims": 5, "model_state_dict": {}}),
    ("unknown dims key", _bad(n_layers=2)),
    ("more text layers than stored", _bad(n_text_layer=3)),
    ("other mel count", _bad(n_mels=128)),
    ("float dims", _bad(n_mels=80.5)),
    ("state dict keys not str", {"dims": asdict(SMALL), "model_state_dict": {1: torch.zeros(1)}}),
])
def test_malformed_checkpoint(tmp_path, label, content):
    path = tmp_path / "bad.pt"
    torch.save(content, path)
    with pytest.raises(CheckpointError) as info:
        open_model(str(path))
    assert str(path) in str(info.value), label
    assert "'dims'" in str(info.value) and "'model_state_dict'" in str(info.value), label


class _Payload:
    """Unpickling this calls os.mkdir(marker): harmless, and visible."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_checkpoints_are_loaded_with_weights_only(tmp_path):
    marker = tmp_path / "payload-ran"
    checkpoint = _bad()
    checkpoint["extra"] = _Payload(marker)
    path = tmp_path / "evil.pt"
    torch.save(checkpoint, path)

    with pytest.raises(CheckpointError, match="evil.pt"):
        open_model(str(path))
    assert not marker.exists()

    # control: the payload is live, a full unpickle would have run it
    torch.load(path, weights_only=False)
    assert marker.is_dir()


def test_written_checkpoints_depend_on_their_weights_only(tmp_path):
    """torch.save names its archive after the file: through save_torch a temporary name leaves no trace."""
    model = random_model("tiny")
    first = write_checkpoint(model, tmp_path / "a.pt")
    second = write_checkpoint(model, tmp_path / "b" / "other-name.pt")
    assert sha256_file(first) == sha256_file(second)


def test_the_loader_imports_no_training_code(tmp_path):
    """Loading a model (micro's committed checkpoint included) never imports micro's training, espeak-ng
    or the stimuli; the record side (the run record included) never imports the loader, torch or whisper."""
    code = ("import sys, whisper_claims.report.claims_json, whisper_claims.report.record; from whisper_claims.models.load import "
            f"open_model; open_model('micro', root={str(tmp_path)!r}); "
            "print(sorted(m for m in sys.modules if m.split('.')[-1] in ('micro', 'stimuli', 'espeak')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    code = ("import sys, whisper_claims.report.publish, whisper_claims.report.baseline, whisper_claims.report.record; "
            "print(sorted(m for m in ('torch', 'whisper', 'whisper_claims.models.load') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
