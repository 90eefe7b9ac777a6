"""SAEs written in SAELens' folder layout: read back by an independent reader (the safetensors library and
a plain numpy implementation of SAELens' forward) they give our features and reconstructions; damaged,
truncated, reshaped or incomplete folders are refused with the file named."""
import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from whisper_claims.errors import SAEFileError
from whisper_claims.files import sha256_file
from whisper_claims.measure.sae import SAEConfig, SparseAutoencoder
from whisper_claims.measure.sae_export import CONFIG_FILE, WEIGHTS_FILE, export_sae, load_exported_sae
from whisper_claims.models.formats import write_safetensors

D, N = 16, 40
MODEL_SHA = "ab" * 32


def saelens_forward(folder, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SAELens' inference forward, written from its description, on the files alone:
    ``f = act((x - b_dec · apply_b_dec_to_input) @ W_enc + b_enc)``, ``x̂ = f @ W_dec + b_dec``."""
    cfg = json.loads((folder / "cfg.json").read_text())
    w = {name: t.astype(np.float64) for name, t in load_file(str(folder / "sae_weights.safetensors")).items()}
    assert cfg["normalize_activations"] == "none"
    pre = (x - w["b_dec"] * float(cfg["apply_b_dec_to_input"])) @ w["W_enc"] + w["b_enc"]
    if cfg["architecture"] == "standard":
        assert cfg["activation_fn_str"] == "relu"
        f = np.maximum(pre, 0)
    elif cfg["architecture"] == "jumprelu":  # SAELens' JumpReLU: ReLU, then zero below the threshold
        assert cfg["activation_fn_str"] == "relu"
        f = np.maximum(pre, 0) * (pre > w["threshold"])
    elif cfg["architecture"] == "topk":
        k = cfg["k"]
        assert cfg["activation_fn_kwargs"] == {"k": k}
        top = np.argsort(-pre, axis=-1, kind="stable")[..., :k]
        f = np.zeros_like(pre)
        np.put_along_axis(f, top, np.maximum(np.take_along_axis(pre, top, axis=-1), 0), axis=-1)
    else:
        raise AssertionError(cfg["architecture"])
    return f, f @ w["W_dec"] + w["b_dec"]


def random_sae(kind: str, tied: bool, center: bool, seed: int = 0) -> SparseAutoencoder:
    """An SAE with every parameter random (biases and pre-bias included), so that each one's place in
    the files matters."""
    config = SAEConfig(n_features=N, kind=kind, k=None if kind == "relu" else 5, tied=tied, center=center, seed=seed)
    sae = SparseAutoencoder(D, config)
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        sae.bias.copy_(0.3 * torch.randn(N, generator=g))
        if center:
            sae.pre_bias.copy_(torch.randn(D, generator=g))
        if not tied:
            sae.encoder_weight.copy_(torch.randn(D, N, generator=g) / D ** 0.5)
        if kind == "batchtopk":
            sae.threshold.fill_(0.4)
    return sae.eval()


@pytest.mark.parametrize("kind", ["relu", "topk", "batchtopk"])
@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("center", [True, False])
def test_an_independent_reader_gets_our_features_and_reconstructions(tmp_path, kind, tied, center):
    sae = random_sae(kind, tied, center)
    folder = export_sae(sae, tmp_path / "sae", model_name="tiny.en", model_sha256=MODEL_SHA,
                        hook_name="encoder.blocks.3")
    assert sorted(p.name for p in folder.iterdir()) == ["cfg.json", "sae_weights.safetensors"]
    x = torch.randn(200, D, generator=torch.Generator().manual_seed(1)) + 0.5
    with torch.no_grad():
        c = sae.encode(x)
        # both sides in float64 from the same float32 numbers: what differs is the mapping, not rounding
        sae64 = SparseAutoencoder.from_plain(sae.to_plain()).double().eval()
        x_hat, c64 = sae64(x.double())
    f, reconstruction = saelens_forward(folder, x.numpy().astype(np.float64))
    assert torch.equal(c64 > 0, c > 0)
    assert (f > 0).sum() > 0 and (f == 0).sum() > 0
    np.testing.assert_allclose(f, c64.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(f, c.numpy(), rtol=1e-5, atol=1e-5)  # and our float32 features
    np.testing.assert_allclose(reconstruction, x_hat.numpy(), rtol=1e-6, atol=1e-6)
    if kind == "topk":
        assert int((f > 0).sum(axis=1).max()) <= 5
    if kind == "batchtopk":  # the threshold matters here: some positive pre-activations are below it
        assert bool(((c64 == 0) & (torch.relu(sae64.pre_activations(x.double())) > 0)).any())
    cfg = json.loads((folder / CONFIG_FILE).read_text())
    assert cfg["d_in"] == D and cfg["d_sae"] == N and cfg["dtype"] == "float32"
    assert cfg["hook_name"] == "encoder.blocks.3" and cfg["hook_layer"] == 3 and cfg["model_name"] == "tiny.en"
    assert cfg["architecture"] == {"relu": "standard", "topk": "topk", "batchtopk": "jumprelu"}[kind]
    ours = cfg["whisper_claims"]
    assert ours["model_parameters_sha256"] == MODEL_SHA and ours["weights_sha256"] == sha256_file(
        folder / WEIGHTS_FILE)
    assert ours["config"]["tied"] is tied and ours["config"]["center"] is center

    loaded = load_exported_sae(folder)
    assert loaded.parameters_sha256() == sae.parameters_sha256() and loaded.config == sae.config
    assert loaded.meta["layer"] == "encoder.blocks.3" and not loaded.training
    assert torch.equal(loaded.encode(x), c)


def test_export_refuses_what_it_cannot_describe(tmp_path):
    sae = random_sae("relu", True, False)
    for kwargs, match in [({"hook_name": "decoder.x"}, "hook_name"), ({"model_sha256": "xyz"}, "model_sha256"),
                          ({"model_name": ""}, "model_name")]:
        args = {"model_name": "tiny.en", "model_sha256": MODEL_SHA, "hook_name": "encoder.blocks.3", **kwargs}
        with pytest.raises(ValueError, match=match):
            export_sae(sae, tmp_path / "x", **args)
    sae.meta = {"layer": "encoder.blocks.2"}
    with pytest.raises(ValueError, match="trained on encoder.blocks.2, not encoder.blocks.3"):
        export_sae(sae, tmp_path / "x", model_name="tiny.en", model_sha256=MODEL_SHA, hook_name="encoder.blocks.3")
    with pytest.raises(ValueError, match="JSON data"):
        export_sae(random_sae("relu", True, False), tmp_path / "x", model_name="tiny.en", model_sha256=MODEL_SHA,
                   hook_name="encoder.blocks.3", metadata={"when": object()})
    assert not (tmp_path / "x").exists() or list((tmp_path / "x").iterdir()) == []


def test_damaged_truncated_reshaped_and_incomplete_folders_are_named(tmp_path):
    good = export_sae(random_sae("topk", False, True), tmp_path / "good", model_name="tiny.en",
                      model_sha256=MODEL_SHA, hook_name="encoder.blocks.2")
    weights, cfg = (good / WEIGHTS_FILE).read_bytes(), json.loads((good / CONFIG_FILE).read_text())

    def variant(name, *, data=weights, change=None, tensors=None):
        folder = tmp_path / name
        folder.mkdir()
        if tensors is not None:  # new tensors, with their sha256 recorded: only the shape check can catch them
            with open(folder / WEIGHTS_FILE, "wb") as f:
                write_safetensors(tensors, f)
        else:
            (folder / WEIGHTS_FILE).write_bytes(data)
        copy = json.loads(json.dumps(cfg))
        if tensors is not None:
            copy["whisper_claims"]["weights_sha256"] = sha256_file(folder / WEIGHTS_FILE)
        if change is not None:
            change(copy)
        (folder / CONFIG_FILE).write_text(json.dumps(copy))
        return folder

    with pytest.raises(SAEFileError, match=r"missing[/\\]cfg.json: no such file"):
        load_exported_sae(tmp_path / "missing")
    damaged = bytearray(weights)
    damaged[-5] ^= 0xFF
    flat = {k: torch.from_numpy(v.copy()) for k, v in load_file(str(good / WEIGHTS_FILE)).items()}
    cases = [
        (variant("damaged", data=bytes(damaged)), rf"damaged[/\\]{WEIGHTS_FILE}: sha256 is .* records"),
        (variant("truncated", data=weights[: len(weights) // 2]), rf"truncated[/\\]{WEIGHTS_FILE}: sha256 is"),
        (variant("shape", tensors={**flat, "W_enc": torch.zeros(D, N + 1)}),
         rf"shape[/\\]{WEIGHTS_FILE}: W_enc is \(16, 41\) torch.float32, expected \(16, 40\)"),
        (variant("dtype", tensors={**flat, "b_dec": flat["b_dec"].half()}), r"b_dec is \(16,\) torch.float16"),
        (variant("names", tensors={k: v for k, v in flat.items() if k != "b_enc"}), "tensors .* expected"),
        (variant("key", change=lambda c: c.pop("hook_name")), rf"key[/\\]{CONFIG_FILE}: missing keys hook_name"),
        (variant("ourkey", change=lambda c: c["whisper_claims"].pop("weights_sha256")),
         "missing keys whisper_claims.weights_sha256"),
        (variant("arch", change=lambda c: c.update(architecture="standard")),
         "architecture = 'standard', expected 'topk'"),
        (variant("k", change=lambda c: c.update(k=6)), "k = 6, expected 5"),
        (variant("width", change=lambda c: c.update(d_sae=41)), "d_sae = 41 but .*n_features = 40"),
        (variant("version", change=lambda c: c["whisper_claims"].update(version=9)), "version 9"),
        (variant("json", change=lambda c: c.clear()), "missing keys architecture"),
    ]
    for folder, match in cases:
        with pytest.raises(SAEFileError, match=match):
            load_exported_sae(folder)
    (tmp_path / "notjson").mkdir()
    (tmp_path / "notjson" / CONFIG_FILE).write_text("{")
    with pytest.raises(SAEFileError, match=rf"notjson[/\\]{CONFIG_FILE}: not readable JSON"):
        load_exported_sae(tmp_path / "notjson")
    # a tied SAE whose encoder is not its decoder transposed
    tied = export_sae(random_sae("relu", True, False), tmp_path / "tied", model_name="tiny.en",
                      model_sha256=MODEL_SHA, hook_name="encoder.blocks.2")
    tied_cfg = json.loads((tied / CONFIG_FILE).read_text())
    tensors = {k: torch.from_numpy(v.copy()) for k, v in load_file(str(tied / WEIGHTS_FILE)).items()}
    tensors["W_enc"] = tensors["W_enc"] * 2
    with open(tied / WEIGHTS_FILE, "wb") as f:
        write_safetensors(tensors, f)
    tied_cfg["whisper_claims"]["weights_sha256"] = sha256_file(tied / WEIGHTS_FILE)
    (tied / CONFIG_FILE).write_text(json.dumps(tied_cfg))
    with pytest.raises(SAEFileError, match="tied .* W_enc is not W_dec transposed"):
        load_exported_sae(tied)
    # a batchtopk SAE (SAELens' JumpReLU layout) has one threshold
    jump = export_sae(random_sae("batchtopk", False, False), tmp_path / "jump", model_name="tiny.en",
                      model_sha256=MODEL_SHA, hook_name="encoder.blocks.2")
    jump_cfg = json.loads((jump / CONFIG_FILE).read_text())
    assert jump_cfg["architecture"] == "jumprelu" and "k" not in jump_cfg
    assert jump_cfg["whisper_claims"]["config"]["k"] == 5
    tensors = {k: torch.from_numpy(v.copy()) for k, v in load_file(str(jump / WEIGHTS_FILE)).items()}
    tensors["threshold"][3] = 0.5
    with open(jump / WEIGHTS_FILE, "wb") as f:
        write_safetensors(tensors, f)
    jump_cfg["whisper_claims"]["weights_sha256"] = sha256_file(jump / WEIGHTS_FILE)
    (jump / CONFIG_FILE).write_text(json.dumps(jump_cfg))
    with pytest.raises(SAEFileError, match=rf"jump[/\\]{WEIGHTS_FILE}: threshold differs between features"):
        load_exported_sae(jump)
