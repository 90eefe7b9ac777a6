"""Claims spread over pytest-xdist workers: groups, the order they are handed out, the rows workers send,
and a run with `-n 2` recording exactly the rows of a serial run."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from whisper_claims.claims import distribute
from whisper_claims.claims.registry import load_registry
from whisper_claims.claims.verdict import MetricResult, Verdict
from whisper_claims.measure.intervals import Interval, wilson

PROJECT = Path(__file__).parents[1]


def test_a_group_is_a_model_or_without_the_disk_cache_a_model_and_function():
    registry = load_registry()
    spec = registry["enc-chop-mid-keeps"]
    assert distribute.group("tiny.en", spec, shared_on_disk=True) == "tiny.en::enc_chop"
    assert distribute.group("tiny.en", spec, shared_on_disk=False) == "tiny.en"
    # sibling claims of one function share their group, so their decodes are made once
    assert distribute.group("base", registry["enc-chop-mid"], True) == distribute.group("base", spec, True)


def test_groups_that_need_the_corpus_pass_go_first_then_slow_ones_then_larger_models():
    registry = load_registry()
    priorities = distribute.group_priorities(registry, {"tiny.en": "tiny.en", "base": "base", "x.pt": None}, True)
    order = sorted(priorities, key=priorities.get, reverse=True)
    assert order[:2] == ["base::enc_neuron_phoneme", "base::enc_neuron_table"]
    assert {g.partition("::")[2] for g in order[:12]} == {"enc_neuron_phoneme", "enc_neuron_table", "enc_polysemantic",
                                                          "enc_sae_phoneme"}
    first_not_pass = order[12]
    assert registry_slow(registry, first_not_pass) and first_not_pass.startswith("base::")
    assert order[-1].startswith("x.pt::")  # no known dimensions: last among equals
    assert priorities["tiny.en::dec_bigram"] < priorities["tiny.en::enc_chop_words"]


def registry_slow(registry, group: str) -> bool:
    function = group.partition("::")[2]
    return any(spec.slow for spec in registry.values() if spec.function.endswith(f":{function}"))


def test_threads_share_out_the_cores(monkeypatch):
    monkeypatch.setattr(distribute, "cores", lambda: 8)
    assert [distribute.threads_per_worker(n) for n in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]


def test_a_workers_rows_reach_the_controller_unchanged():
    verdict = Verdict("enc-chop-mid", "tiny.en", "fails",
                      (MetricResult("target_removed", 0.0, ">=", 1.0, False, "the post"),
                       MetricResult("other", None, "<=", 2.0, None, "ours")),
                      {"transcripts": {"full": "hot ones"}, "n": [1, 2]}, "not met: target_removed")
    # an interval and its say travel too (a worker judges; the controller writes what it judged)
    undecided = Verdict("enc-end-sink-general", "base", "inconclusive",
                        (MetricResult("median_end_share", 0.49, ">=", 0.3, True, "CLAIMS.md",
                                      Interval(0.25, 0.59, "bootstrap", 10, n_resamples=2000, seed=0), None),
                         MetricResult("share", 0.7, ">=", 0.5, True, "ours", wilson(7, 10), None)),
                        {"n_clips": 19}, "interval straddles the threshold: median_end_share")
    sent = distribute.read_worker_output(distribute.worker_output([verdict, undecided], {}, {"tiny": "no tiny.pt"}))
    assert sent["rows"] == [verdict, undecided] and sent["unavailable"] == {"tiny": "no tiny.pt"}
    assert [row.to_json() for row in sent["rows"]] == [verdict.to_json(), undecided.to_json()]


def run_claims(tmp_path: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WHISPER_CLAIMS_CACHE": str(tmp_path / f"cache-{name}"), "WHISPER_CLAIMS_CACHE_MODE": "read-write"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "--whisper-models=random:tiny,random:tiny:1",
         "-k", "bigram or frames_150", f"--claims-report={tmp_path / name}", "--claims-record-only", *args],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_two_workers_record_the_rows_of_a_serial_run(tmp_path):
    serial = run_claims(tmp_path, "serial")
    assert serial.returncode == 0, serial.stdout[-3000:] + serial.stderr[-3000:]
    parallel = run_claims(tmp_path, "parallel", "-n", "2", f"--claims-baseline={tmp_path / 'serial' / 'claims.json'}")
    assert parallel.returncode == 0, parallel.stdout[-3000:] + parallel.stderr[-3000:]
    a = json.loads((tmp_path / "serial" / "claims.json").read_text())
    b = json.loads((tmp_path / "parallel" / "claims.json").read_text())
    assert len(a["rows"]) == 8 and b["rows"] == a["rows"]
    assert b["run"]["models"] == a["run"]["models"] and b["run"]["torch_threads"] == a["run"]["torch_threads"] == 1
    assert "rows identical to the baseline: 8 of 8" in parallel.stdout
    # both workers ran claims, each test named by its group
    assert "[gw0]" in parallel.stdout and "[gw1]" in parallel.stdout
    assert "test_decoder_falls_back_on_bigrams[random:tiny:1@random:tiny:1::dec_bigram]" in parallel.stdout
    for page in ("claims.md", "report.html"):
        assert (tmp_path / "parallel" / page).is_file()
