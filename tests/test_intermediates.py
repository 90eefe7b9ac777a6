"""The disk cache of expensive intermediates: values read back equal, checked on every read, written
atomically, filled once by concurrent processes, keyed by weights and code, and its modes."""
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from whisper_claims.measure import intermediates, memo
from whisper_claims.measure.sae import SAEConfig, SparseAutoencoder, TrainingReport
from whisper_claims.models.load import random_model


@pytest.fixture
def cache(tmp_path):
    """A fresh read-write cache under tmp_path; the process's settings restored afterwards."""
    previous = intermediates._settings
    yield intermediates.configure("read-write", tmp_path / "cache")
    intermediates._settings = previous


def counting(value):
    calls = []

    def compute():
        calls.append(1)
        return value

    return compute, calls


def entry_files(settings, name="value.pt"):
    return sorted(settings.root.rglob(name))


def test_a_value_is_computed_once_and_read_back_equal(cache):
    value = {"acts": (torch.arange(6.0).reshape(2, 3), torch.ones(2)), "rows": [1, 2.5, None, "x", True],
             (3, "k"): np.array([[1.5, 2.0]], dtype=np.float64), "labels": np.array(["AA", "sil"]),
             "scalar": np.float32(0.25), "nan": float("nan")}
    compute, calls = counting(value)
    first = intermediates.cached("test", "a" * 64, compute)
    second = intermediates.cached("test", "a" * 64, compute)
    assert len(calls) == 1 and first is value
    assert set(second) == set(value)
    assert isinstance(second["acts"], tuple) and all(torch.equal(a, b) for a, b in zip(second["acts"], value["acts"]))
    assert second["rows"] == value["rows"]
    assert second[(3, "k")].dtype == np.float64 and np.array_equal(second[(3, "k")], value[(3, "k")])
    assert second["labels"].tolist() == ["AA", "sil"]
    assert second["scalar"] == np.float32(0.25) and type(second["scalar"]) is np.float32
    assert np.isnan(second["nan"])


def test_a_view_is_stored_without_its_base(cache):
    base = torch.zeros(1000, 100)
    intermediates.cached("test", "b" * 64, lambda: base[:2, :3])
    (path,) = entry_files(cache)
    assert path.stat().st_size < 100_000  # not the 400 kB of the whole base


def test_dataclasses_and_saes_of_the_package_are_rebuilt(cache):
    sae = SparseAutoencoder(8, SAEConfig(n_features=16, seed=3)).eval()
    report = TrainingReport(10, 5, 7, 0.9, 2.0, (1, 4), 0.5, (0.5, 0.25), 1.5)
    intermediates.cached("test", "c" * 64, lambda: (sae, report))
    back, back_report = intermediates.cached("test", "c" * 64, lambda: pytest.fail("computed again"))
    assert back.parameters_sha256() == sae.parameters_sha256() and not back.training
    assert back.config == sae.config and back_report == report
    x = torch.randn(5, 8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(back.encode(x), sae.encode(x))


def test_a_value_of_another_type_is_used_but_not_stored(cache):
    @dataclass
    class Foreign:
        x: int

    with pytest.warns(intermediates.CacheWarning, match="not stored"):
        value = intermediates.cached("test", "d" * 64, lambda: Foreign(1))
    assert value == Foreign(1) and not entry_files(cache)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_entry_is_recomputed_with_a_warning_never_used(cache, damage):
    intermediates.cached("test", "e" * 64, lambda: torch.arange(1000.0))
    (path,) = entry_files(cache)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[: len(data) // 3]
    path.write_bytes(bytes(data))
    with pytest.warns(intermediates.CacheWarning, match=r"cache entry .*e{64}.* is unusable.*recomputing"):
        value = intermediates.cached("test", "e" * 64, lambda: torch.arange(1000.0) + 1)
    assert torch.equal(value, torch.arange(1000.0) + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(intermediates.cached("test", "e" * 64, lambda: None), torch.arange(1000.0) + 1)


def test_modes_off_and_refresh(tmp_path):
    previous = intermediates._settings
    try:
        intermediates.configure("off", tmp_path / "cache")
        compute, calls = counting(torch.ones(3))
        intermediates.cached("test", "f" * 64, compute)
        intermediates.cached("test", "f" * 64, compute)
        assert len(calls) == 2 and not (tmp_path / "cache").exists()
        intermediates.configure("read-write", tmp_path / "cache")
        intermediates.cached("test", "f" * 64, lambda: torch.ones(3))
        intermediates.configure("refresh", tmp_path / "cache")
        assert torch.equal(intermediates.cached("test", "f" * 64, lambda: torch.zeros(3)), torch.zeros(3))
        intermediates.configure("read-write", tmp_path / "cache")
        assert torch.equal(intermediates.cached("test", "f" * 64, lambda: torch.ones(3)), torch.zeros(3))
    finally:
        intermediates._settings = previous


def test_the_mode_comes_from_the_environment_and_a_bad_one_is_named(tmp_path, monkeypatch):
    previous = intermediates._settings
    try:
        monkeypatch.setenv(intermediates.ENV_MODE, "off")
        assert intermediates.configure(root=tmp_path).mode == "off"
        monkeypatch.setenv(intermediates.ENV_MODE, "sometimes")
        with pytest.raises(ValueError, match="WHISPER_CLAIMS_CACHE_MODE='sometimes': expected one of off, "
                                             "read-write, refresh"):
            intermediates.configure(root=tmp_path)
    finally:
        intermediates._settings = previous


FILL = """
import sys, time, torch
from whisper_claims.measure import intermediates
intermediates.configure("read-write", sys.argv[1])
while time.time() < float(sys.argv[2]):  # start together
    time.sleep(0.01)
value = intermediates.cached("test", "9" * 64, lambda: torch.full((2_000_000,), float(sys.argv[3])))
print(float(value.sum()))
"""


def test_processes_filling_one_entry_at_once_leave_one_good_entry(cache):
    start = time.time() + 3
    workers = [subprocess.Popen([sys.executable, "-c", FILL, str(cache.root.parent), str(start), str(v)],
                                stdout=subprocess.PIPE, text=True) for v in (1, 2)]
    sums = [float(worker.communicate(timeout=120)[0]) for worker in workers]
    assert sums[0] == sums[1]  # the second waited for the first and read its entry
    assert len(entry_files(cache)) == 1 and not list(cache.root.rglob("*.part"))


def test_shards_are_computed_once_and_read_back(cache, monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)  # this test may run in a worker of its own
    computed = []

    def shard(i):
        computed.append(i)
        return torch.full((3,), float(i))

    keys = [f"{i:064x}" for i in range(4)]
    first = intermediates.sharded("test", keys, shard)
    second = intermediates.sharded("test", keys, lambda i: pytest.fail("computed again"))
    assert computed == [0, 1, 2, 3]
    assert [float(t[0]) for t in first] == [float(t[0]) for t in second] == [0, 1, 2, 3]


def test_a_worker_starts_at_its_share_of_the_shards(cache, monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    computed = []
    intermediates.sharded("test", [f"{i:064x}" for i in range(4)], lambda i: computed.append(i) or torch.ones(1))
    assert computed == [2, 3, 0, 1]


def test_entries_are_keyed_by_weights_and_code(cache):
    model = random_model("tiny", seed=0)
    compute, calls = counting(torch.ones(2))
    memo.per_model(model, ("k",), compute, persist="test")
    memo.clear(model)
    memo.per_model(model, ("k",), compute, persist="test")
    assert len(calls) == 1  # read from disk
    with torch.no_grad():
        model.decoder.token_embedding.weight[0, 0] += 1
    memo.per_model(model, ("k",), compute, persist="test")
    assert len(calls) == 2  # other weights: another entry
    same = intermediates.entry_key("test", ("k",), weights="w", module="whisper_claims.measure.memo")
    assert same != intermediates.entry_key("test", ("k",), weights="w", module="whisper_claims.claims.phonetic")
    assert same != intermediates.entry_key("test", ("k", 1), weights="w", module="whisper_claims.measure.memo")


def test_the_code_digest_covers_the_modules_a_module_imports():
    imported = intermediates._package_imports("whisper_claims.claims.phonetic")
    assert {"whisper_claims.claims.phonetic", "whisper_claims.measure.mining", "whisper_claims.measure.sae",
            "whisper_claims.stimuli.corpus", "whisper_claims.stimuli.espeak", "whisper_claims.progress"} <= imported
    assert "whisper_claims.plugin" not in imported


def test_an_unlisted_class_is_never_rebuilt(cache):
    tree = {"t": "dataclass", "cls": "subprocess:Popen", "fields": {}}
    with pytest.raises(TypeError, match="not a class of whisper_claims"):
        intermediates._decode(tree, [])


def test_the_corpus_pass_keeps_each_clips_rows_through_its_shards_and_the_cache(cache, monkeypatch):
    from whisper_claims.claims import phonetic
    from whisper_claims.measure.mining import corpus_activations

    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.setattr(phonetic, "PASS_SHARD", 3)  # 7 clips: shards of 3, 3 and 1
    corpus, layers = {"n_clips": 7, "seed": 0, "clip_s": 2.0}, ("encoder.blocks.0.mlp.1", "encoder.blocks.1")
    clips = phonetic.stimulus_corpus(phonetic.corpus_options(corpus))
    expected = dict(corpus_activations(random_model("tiny", seed=0), [c.audio for c in clips], layers, batch_size=1))
    computed = phonetic.corpus_pass(random_model("tiny", seed=0), corpus, layers[0], layers, trim=False)[1]
    read_back = phonetic.corpus_pass(random_model("tiny", seed=0), corpus, layers[0], layers, trim=False)[1]
    assert len(entry_files(cache)) == 3
    for name in layers:
        for stored in (computed, read_back):
            assert len(stored.activations[name]) == len(clips)
            for i, rows in enumerate(stored.activations[name]):
                assert torch.equal(rows, expected[i][name])
