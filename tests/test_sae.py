"""Sparse autoencoders: recovery of planted sparse directions (and none from Gaussian data with the same
mean and covariance), determinism, the post's constraints (tied, unit-norm columns), TopK's L0, files,
and SAE features as mining units."""
import numpy as np
import pytest
import torch
from whisper.model import ModelDimensions

from whisper_claims.errors import SAEFileError
from whisper_claims.measure.mining import TopK, clip_activations
from whisper_claims.measure.sae import (SAEConfig, SparseAutoencoder, evaluate, layer_activations, mine_sae_features,
                                        sae_activations, train_sae)
from whisper_claims.models.load import random_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small matrices: one thread is faster

D, N_PLANTED, N_FRAMES = 64, 32, 20000
# 1e4·MSE over 64 dimensions against L1: l1 = 30 shrinks each coefficient by 30·64/2e4 ≈ 0.1
PLANTED = SAEConfig(n_features=64, l1=30.0, steps=1500, batch_size=256, lr=3e-3)
TOPK = SAEConfig(n_features=64, kind="topk", k=4, tied=False, steps=800, batch_size=256, lr=3e-3)


def planted_data(gaussian: bool = False, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames that are sparse non-negative combinations of 32 random unit directions in 64-d (about 3
    active per frame, coefficients 0.5-1.5); or, with ``gaussian``, Gaussian coefficients with the same
    mean and variance, hence frames with the same mean and covariance but nothing sparse to find."""
    g = torch.Generator().manual_seed(seed)
    directions = torch.nn.functional.normalize(torch.randn(N_PLANTED, D, generator=g), dim=1)
    active = torch.rand(N_FRAMES, N_PLANTED, generator=g) < 3 / N_PLANTED
    coefficients = active * (0.5 + torch.rand(N_FRAMES, N_PLANTED, generator=g))
    if gaussian:
        coefficients = coefficients.mean(0) + coefficients.std(0) * torch.randn(N_FRAMES, N_PLANTED, generator=g)
    return coefficients @ directions, directions


def best_cosines(sae: SparseAutoencoder, directions: torch.Tensor) -> torch.Tensor:
    """For each planted direction, its largest cosine with a dictionary column (columns are unit norm)."""
    return (directions @ sae.weight.detach()).max(dim=1).values


@pytest.fixture(scope="module")
def planted():
    data, directions = planted_data()
    sae, report = train_sae(data, PLANTED)
    return data, directions, sae, report


def test_recovers_planted_sparse_directions(planted):
    data, directions, sae, report = planted
    assert bool((best_cosines(sae, directions) > 0.9).all())  # every one of the 32
    assert report.explained_variance > 0.9 and report.mean_l0 < 10
    assert report.n_train == 18000 and report.n_held_out == 2000 and report.steps == 1500
    assert report.loss_curve[-1] < 0.5 * report.loss_curve[0] and len(report.loss_curve) == 10
    assert report.seconds > 0
    assert set(report.live_features(64)) | set(report.dead_features) == set(range(64))


def test_gaussian_data_with_the_same_covariance_gives_no_such_features(planted):
    _, directions, _, sparse_report = planted
    gaussian, same = planted_data(gaussian=True)
    assert torch.equal(directions, same)
    sae, report = train_sae(gaussian, PLANTED)
    assert int((best_cosines(sae, directions) > 0.9).sum()) <= 2
    # far less sparse for no better reconstruction
    assert report.mean_l0 > 2 * sparse_report.mean_l0
    assert report.explained_variance < sparse_report.explained_variance


def test_training_is_deterministic_and_leaves_the_global_random_state(planted):
    data, _, sae, report = planted
    state = torch.random.get_rng_state()
    again, again_report = train_sae(data, PLANTED)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert again.parameters_sha256() == sae.parameters_sha256()
    assert again_report.explained_variance == report.explained_variance
    assert again_report.loss_curve == report.loss_curve and again_report.dead_features == report.dead_features
    other, _ = train_sae(data, SAEConfig(**{**PLANTED.__dict__, "seed": 1, "steps": 10}))
    assert other.parameters_sha256() != sae.parameters_sha256()


def test_threads_are_set_for_training_only():
    before = torch.get_num_threads()
    _, report = train_sae(torch.rand(100, 4), SAEConfig(n_features=4, steps=3), threads=2)
    assert torch.get_num_threads() == before and report.n_train == 90
    with pytest.raises(ValueError, match="threads = 0"):
        train_sae(torch.rand(100, 4), SAEConfig(n_features=4, steps=3), threads=0)


def test_the_posts_constraints_hold_after_training(planted):
    data, _, sae, _ = planted
    assert torch.allclose(sae.weight.norm(dim=0), torch.ones(64), atol=1e-5)
    assert sae.encoder_weight is None  # tied: the encoder is the dictionary
    assert [name for name, _ in sae.named_parameters()] == ["weight", "bias"]  # encoder bias only
    x = data[:50]
    assert torch.allclose(sae.encode(x), torch.relu(x @ sae.weight + sae.bias))
    assert torch.allclose(sae(x)[0], sae.encode(x) @ sae.weight.T)
    assert bool((sae.encode(x) >= 0).all())


def test_centering_subtracts_and_restores_the_data_mean(planted):
    data, _, _, _ = planted
    sae, _ = train_sae(data, SAEConfig(**{**PLANTED.__dict__, "center": True, "steps": 5}))
    assert torch.allclose(sae.pre_bias, data[:18000].mean(0))
    assert torch.allclose(sae.decode(torch.zeros(1, 64)), sae.pre_bias)


def test_topk_keeps_at_most_k_features_and_exactly_k_when_positive():
    data, directions = planted_data()
    sae, report = train_sae(data, TOPK)
    assert sae.encoder_weight is not None and report.mean_l0 <= 4
    assert bool((best_cosines(sae, directions) > 0.9).all())
    x = data[-2000:]
    l0 = (sae.encode(x) > 0).sum(dim=-1)
    kth = sae.pre_activations(x).topk(4, dim=-1).values[:, -1]
    assert int(l0.max()) == 4 and bool((l0[kth > 0] == 4).all()) and bool((kth > 0).float().mean() > 0.5)
    # every pre-activation positive: exactly k everywhere
    with torch.no_grad():
        sae.bias.fill_(100.0)
    assert bool(((sae.encode(x) > 0).sum(dim=-1) == 4).all())


def test_config_is_checked():
    assert SAEConfig().l1 == 1.0 and SAEConfig(kind="topk", k=8).l1 == 0.0
    assert (SAEConfig().n_features, SAEConfig().mse_scale, SAEConfig().lr) == (400, 1e4, 4e-4)
    for bad, match in [({"kind": "gated"}, "expected one of relu, topk"), ({"kind": "topk"}, "k \\(topk\\)"),
                       ({"k": 3}, "only kind 'topk'"), ({"kind": "topk", "k": 500}, "at most n_features"),
                       ({"l1": -1.0}, "l1"), ({"held_out": 1.0}, "held_out"), ({"steps": 0}, "steps")]:
        with pytest.raises(ValueError, match=match):
            SAEConfig(**bad)
    with pytest.raises(ValueError, match="NaN or infinite"):
        train_sae(torch.full((10, 4), float("nan")), SAEConfig(n_features=4, steps=1))
    with pytest.raises(ValueError, match="expected a float tensor"):
        train_sae(torch.zeros(10, dtype=torch.int64), SAEConfig(n_features=4, steps=1))


def test_evaluate_measures_explained_variance():
    sae = SparseAutoencoder(4, SAEConfig(n_features=4, steps=1))
    with torch.no_grad():
        sae.weight.copy_(torch.eye(4))
    x = torch.rand(100, 4, generator=torch.Generator().manual_seed(0))
    explained, l0, dead, mse = evaluate(sae, x)
    assert explained == pytest.approx(1.0) and mse == pytest.approx(0.0, abs=1e-12) and dead == ()
    with torch.no_grad():
        sae.weight[:, 3] = -sae.weight[:, 3]  # feature 3 can never fire on non-negative data
    explained, l0, dead, _ = evaluate(sae, x)
    assert dead == (3,) and l0 == pytest.approx(3.0) and explained < 1


# -- files ---------------------------------------------------------------------------------------

def test_save_and_load_round_trip(planted, tmp_path):
    _, _, sae, report = planted
    path = sae.save(tmp_path / "sae.pt", layer="encoder.blocks.3", report=report, metadata={"model": "tiny"})
    loaded = SparseAutoencoder.load(path)
    assert loaded.parameters_sha256() == sae.parameters_sha256() == loaded.meta["parameters_sha256"]
    assert loaded.config == sae.config and loaded.d_in == 64 and not loaded.training
    assert loaded.meta["layer"] == "encoder.blocks.3" and loaded.meta["metadata"] == {"model": "tiny"}
    assert loaded.meta["report"]["explained_variance"] == report.explained_variance
    assert [p.name for p in tmp_path.iterdir()] == ["sae.pt"]  # no temporary file left
    topk = SparseAutoencoder(8, SAEConfig(n_features=16, kind="topk", k=2, tied=False, center=True))
    assert SparseAutoencoder.load(topk.save(tmp_path / "topk.pt")).parameters_sha256() == topk.parameters_sha256()


def test_corrupt_and_wrong_files_are_named(planted, tmp_path):
    _, _, sae, _ = planted
    with pytest.raises(SAEFileError, match="missing.pt: no such SAE file"):
        SparseAutoencoder.load(tmp_path / "missing.pt")
    good = sae.save(tmp_path / "good.pt").read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(SAEFileError, match="truncated.pt: not a readable SAE file"):
        SparseAutoencoder.load(truncated)
    content = torch.load(tmp_path / "good.pt", weights_only=True)

    def variant(name, change):
        copy = {"meta": dict(content["meta"]), "state_dict": dict(content["state_dict"])}
        change(copy)
        torch.save(copy, tmp_path / name)
        return tmp_path / name

    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(SAEFileError, match="other.pt: not an SAE file"):
        SparseAutoencoder.load(tmp_path / "other.pt")
    cases = [
        ("format.pt", lambda c: c["meta"].update(format="something"), "format 'something'"),
        ("version.pt", lambda c: c["meta"].update(version=99), "version 99"),
        ("shape.pt", lambda c: c["state_dict"].update(weight=torch.zeros(64, 65)),
         r"weight is \(64, 65\) torch.float32, expected \(64, 64\)"),
        ("dtype.pt", lambda c: c["state_dict"].update(bias=torch.zeros(64, dtype=torch.float64)), "bias is"),
        ("names.pt", lambda c: c["state_dict"].pop("bias"), "tensors"),
        ("config.pt", lambda c: c["meta"].update(config={**c["meta"]["config"], "kind": "gated"}),
         "invalid SAE config"),
        ("edited.pt", lambda c: c["state_dict"].update(bias=c["state_dict"]["bias"] + 1),
         "sha256 .* corrupt or was edited"),
    ]
    for name, change, match in cases:
        with pytest.raises(SAEFileError, match=f"{name}: .*{match}"):
            SparseAutoencoder.load(variant(name, change))


def test_save_refuses_metadata_that_is_not_json(planted, tmp_path):
    _, _, sae, _ = planted
    with pytest.raises(ValueError, match="JSON data"):
        sae.save(tmp_path / "sae.pt", metadata={"when": object()})
    assert list(tmp_path.iterdir()) == []


# -- mining with SAE features --------------------------------------------------------------------

SMALL = ModelDimensions(n_mels=80, n_audio_ctx=150, n_audio_state=32, n_audio_head=2, n_audio_layer=3,
                        n_vocab=51865, n_text_ctx=16, n_text_state=32, n_text_head=2, n_text_layer=1)


def test_sae_features_as_mining_units():
    model = random_model("tiny", 0, dims=SMALL)
    rng = np.random.default_rng(0)
    clips = [(0.1 * rng.standard_normal(int(s * 16000))).astype(np.float32) for s in (0.5, 1.0, 0.7)]
    acts = layer_activations(model, clips, "encoder.blocks.1", trim=True)
    assert acts.shape == (25 + 50 + 35, 32)
    sae, _ = train_sae(acts, SAEConfig(n_features=48, steps=20, batch_size=32))
    features = dict(sae_activations(model, clips, "encoder.blocks.1", sae, trim=True))
    raw = dict(clip_activations(model, clips, "encoder.blocks.1", trim=True))
    assert all(torch.equal(features[i], sae.encode(raw[i])) for i in range(3))
    top = mine_sae_features(model, clips, "encoder.blocks.1", sae, 5, trim=True)
    expected = TopK(48, 5)
    for i in range(3):
        expected.update(features[i], torch.full((len(features[i]),), i), torch.arange(len(features[i])))
    assert torch.equal(top.values, expected.result().values) and torch.equal(top.clip, expected.result().clip)
    with pytest.raises(ValueError, match="has 128 units but the SAE takes d_in = 32"):
        next(sae_activations(model, clips, "encoder.blocks.1.mlp.1", sae))
    sae.meta = {"layer": "encoder.blocks.2"}
    with pytest.raises(ValueError, match="trained on encoder.blocks.2, not encoder.blocks.1"):
        mine_sae_features(model, clips, "encoder.blocks.1", sae, 5)
