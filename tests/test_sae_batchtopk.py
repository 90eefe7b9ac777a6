"""BatchTopK SAEs: in training the k × batch largest activations of the whole batch, at inference one
threshold per frame, estimated in training; mean L0 at inference near k; deterministic training; the
planted directions found."""
import pytest
import torch

from whisper_claims.measure.sae import BATCHTOPK_THRESHOLD_RATE, SAEConfig, SparseAutoencoder, evaluate, train_sae

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small matrices: one thread is faster

D, N_PLANTED, N_FRAMES = 64, 32, 20000
BATCHTOPK = SAEConfig(n_features=64, kind="batchtopk", k=3, tied=False, steps=800, batch_size=256, lr=3e-3)


def planted_data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames that are sparse non-negative combinations of 32 random unit directions in 64-d: each
    direction active with probability 3/32 (3 per frame on average, a varying number per frame), with
    coefficients 0.5-1.5 (as tests/test_sae.py's)."""
    g = torch.Generator().manual_seed(seed)
    directions = torch.nn.functional.normalize(torch.randn(N_PLANTED, D, generator=g), dim=1)
    active = torch.rand(N_FRAMES, N_PLANTED, generator=g) < 3 / N_PLANTED
    return (active * (0.5 + torch.rand(N_FRAMES, N_PLANTED, generator=g))) @ directions, directions


@pytest.fixture(scope="module")
def trained():
    data, directions = planted_data()
    return data, directions, *train_sae(data, BATCHTOPK)


def test_inference_keeps_about_k_features_per_frame_by_one_threshold(trained):
    data, directions, sae, report = trained
    assert not sae.training and float(sae.threshold) > 0
    assert abs(report.mean_l0 - 3) < 0.3  # 3 on average, as in training
    assert report.explained_variance > 0.95
    assert bool(((directions @ sae.weight.detach()).max(dim=1).values > 0.9).sum() >= 30)
    x = data[-2000:]
    z = sae.pre_activations(x)
    assert torch.equal(sae.encode(x), torch.relu(z) * (z > sae.threshold))
    l0 = (sae.encode(x) > 0).sum(dim=-1)
    assert int(l0.max()) > int(l0.min())  # frames differ in how many features they use, unlike topk
    # a frame's features do not depend on the other frames at inference (up to the rounding of a
    # 1-row matmul against a 2000-row one)
    alone, together = sae.encode(x[:5]), sae.encode(x)[:5]
    assert torch.equal(alone > 0, together > 0) and torch.allclose(alone, together)


def test_training_mode_keeps_k_times_batch_over_the_whole_batch(trained):
    data, _, sae, _ = trained
    x = data[:100]
    sae.train()
    try:
        with torch.no_grad():
            c = sae.encode(x)
    finally:
        sae.eval()
    relu = torch.relu(sae.pre_activations(x)).detach()
    assert int((c > 0).sum()) == 3 * 100 and int((relu > 0).sum()) > 3 * 100
    kept = c[c > 0]
    assert float(kept.min()) >= float(relu[c == 0].max())  # the largest over the batch, wherever they are
    assert torch.equal(kept, relu[c > 0])  # kept as they are
    assert (c > 0).sum(dim=-1).max() != (c > 0).sum(dim=-1).min()  # not k per frame


def test_training_is_deterministic_and_the_threshold_is_the_moving_average(trained):
    data, _, sae, report = trained
    again, again_report = train_sae(data, BATCHTOPK)
    assert again.parameters_sha256() == sae.parameters_sha256() and float(again.threshold) == float(sae.threshold)
    assert again_report.mean_l0 == report.mean_l0
    # the threshold, recomputed by hand over a short run: the smallest kept activation of each batch,
    # averaged at rate 0.01 from the first batch's value
    config = SAEConfig(**{**BATCHTOPK.__dict__, "steps": 5, "lr": 1e-12, "cosine": False, "grad_clip": 0.0})
    short, _ = train_sae(data, config)
    g = torch.Generator().manual_seed(config.seed)
    start = SparseAutoencoder(D, config, generator=g).train()
    order = torch.randperm(18000, generator=g)
    expected = None
    for step in range(5):
        c = start.encode(data[:18000][order[step * 256:(step + 1) * 256]]).detach()
        smallest = float(c[c > 0].min())
        expected = smallest if expected is None else (1 - BATCHTOPK_THRESHOLD_RATE) * expected + \
            BATCHTOPK_THRESHOLD_RATE * smallest
    # lr 1e-12 leaves the weights as they started, so each batch's activations are the start's
    assert float(short.threshold) == pytest.approx(expected, rel=1e-5)


def test_config_and_state():
    assert SAEConfig(kind="batchtopk", k=8).l1 == 0.0
    with pytest.raises(ValueError, match=r"k \(batchtopk\)"):
        SAEConfig(kind="batchtopk")
    with pytest.raises(ValueError, match="at most n_features"):
        SAEConfig(kind="batchtopk", k=500)
    assert "threshold" in SparseAutoencoder(4, SAEConfig(n_features=4, kind="batchtopk", k=1)).state_dict()
    for kind, k in (("relu", None), ("topk", 1)):  # the other kinds' state is as it was
        assert "threshold" not in SparseAutoencoder(4, SAEConfig(n_features=4, kind=kind, k=k)).state_dict()
    # an untrained batchtopk SAE has θ = 0: plain ReLU at inference
    sae = SparseAutoencoder(4, SAEConfig(n_features=8, kind="batchtopk", k=1)).eval()
    x = torch.randn(10, 4)
    assert torch.equal(sae.encode(x), torch.relu(sae.pre_activations(x)))
    assert evaluate(sae, x)[1] > 1


def test_a_batchtopk_sae_file_round_trips(trained, tmp_path):
    _, _, sae, _ = trained
    loaded = SparseAutoencoder.load(sae.save(tmp_path / "b.pt"))
    assert loaded.parameters_sha256() == sae.parameters_sha256() and float(loaded.threshold) == float(sae.threshold)
