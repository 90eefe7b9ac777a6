"""How much the claims gain from workers and from the disk cache, and how close the corpus pass runs to
this machine's limit (a benchmark, not a test: it prints figures and ratios, asserts nothing).

``claims``: the claims step (``pytest -m "encoder or decoder"`` on ``--models``), each run a fresh process:
serial and with ``-n 2`` on an empty cache of intermediates (cold; the espeak-ng corpus is synthesized
once beforehand, as both kinds of run find it), then again on the filled cache (warm). Prints each wall
time and the ratios serial / -n 2 and cold / warm, and checks that every run recorded the same rows.

``pass``: the padded corpus pass of the phonetic claims (``mining.corpus_activations``: 30 s inputs, one
clip at a time, stopping after ``encoder.blocks.3``) on ``--clips`` clips, in GFLOP/s (FLOPs counted
from the model's dimensions: convolutions, every block below the deepest, and the deepest block's rows
of the clip), against a float32 matmul of 4096 × 4096 on the same threads (this machine's practical
limit).

``memory``: the resident memory the same pass leaves behind as ``phonetic.corpus_pass`` keeps it (cache
off, ``--clips`` clips from the corpus' start, in shards of 250): RSS grown per clip against the bytes kept
per clip, and their ratio (1 is no waste; keeping each clip's rows as small separate tensors between the
pass's large temporaries fragmented the heap: 10.4 on base, 100 clips).

Usage::

    python benchmarks/parallel_and_cache.py claims [--models tiny.en] [--select "encoder or decoder"]
    python benchmarks/parallel_and_cache.py pass [--model tiny.en] [--clips 40] [--threads 1,2]
    python benchmarks/parallel_and_cache.py memory [--model base] [--clips 250]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

PROJECT = Path(__file__).resolve().parents[1]
PASS_LAYERS = ("encoder.blocks.2.mlp.1", "encoder.blocks.3")


def run_claims(models: str, select: str, cache: Path, report: Path, workers: int) -> float:
    env = {**os.environ, "WHISPER_CLAIMS_CACHE": str(cache), "WHISPER_CLAIMS_CACHE_MODE": "read-write"}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", select,
               f"--whisper-models={models}", f"--claims-report={report}", "--claims-record-only"]
    if workers > 1:
        command += ["-n", str(workers)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-3000:]}")
    return seconds


def claims(args) -> None:
    work = Path(tempfile.mkdtemp(prefix="whisper-claims-bench-"))
    try:
        cache = work / "cache"
        # the espeak-ng corpus, synthesized once: both kinds of run find it (not what is compared here)
        env = {**os.environ, "WHISPER_CLAIMS_CACHE": str(cache)}
        subprocess.run([sys.executable, "-c", "from whisper_claims.claims.phonetic import stimulus_corpus, "
                        "corpus_options; from whisper_claims.claims.registry import load_registry; "
                        "stimulus_corpus(corpus_options(load_registry()['enc-neuron-phoneme'].params['corpus']))"],
                       cwd=PROJECT, env=env, check=True)
        times, rows = {}, {}
        for name, workers, cold in [("serial, cold", 1, True), ("-n 2, cold", 2, True), ("serial, warm", 1, False),
                                    ("-n 2, warm", 2, False)]:
            if cold:
                shutil.rmtree(cache / "intermediates", ignore_errors=True)
            report = work / name.replace(" ", "").replace(",", "-")
            times[name] = run_claims(args.models, args.select, cache, report, workers)
            rows[name] = json.loads((report / "claims.json").read_text())["rows"]
            print(f"{name:>14}: {times[name]:7.1f} s", flush=True)
        size = sum(p.stat().st_size for p in (cache / "intermediates").rglob("*") if p.is_file())
        first = next(iter(rows.values()))
        same = sum(r == first for r in rows.values())
        print(f"serial / -n 2 (cold): {times['serial, cold'] / times['-n 2, cold']:.2f}x")
        print(f"cold / warm (serial): {times['serial, cold'] / times['serial, warm']:.1f}x, warm is "
              f"{times['serial, warm'] / times['serial, cold']:.1%} of cold")
        print(f"cold / warm (-n 2):   {times['-n 2, cold'] / times['-n 2, warm']:.1f}x, warm is "
              f"{times['-n 2, warm'] / times['-n 2, cold']:.1%} of cold")
        print(f"cache of intermediates: {size / 2**30:.2f} GiB; runs recording identical rows: {same} of {len(rows)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def pass_flops(dims, n_keep: int) -> float:
    """FLOPs of one padded clip through ``corpus_activations`` up to encoder.blocks.3 (2 per multiply-add)."""
    d, n = dims.n_audio_state, dims.n_audio_ctx
    macs = 2 * n * d * dims.n_mels * 3 + n * d * d * 3  # conv1 (stride 1, 2n frames), conv2 (stride 2)
    full_block = 4 * n * d * d + 2 * n * n * d + 8 * n * d * d  # projections, attention, MLP
    deepest = 2 * n * d * d + 2 * n_keep * d * d + 2 * n_keep * n * d + 8 * n_keep * d * d
    macs += 3 * full_block + deepest  # blocks 0-2 whole, block 3 on the clip's rows
    return 2.0 * macs


def matmul_gflops(threads: int, size: int = 4096, repeats: int = 5) -> float:
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2.0 * size ** 3 * repeats / (time.perf_counter() - started) / 1e9


def corpus_pass(args) -> None:
    from whisper_claims.measure.mining import clip_frames, corpus_activations
    from whisper_claims.models.load import open_model
    from whisper_claims.claims.phonetic import corpus_options, stimulus_corpus
    from whisper_claims.claims.registry import load_registry

    model = open_model(args.model).model
    corpus = stimulus_corpus(corpus_options(load_registry()["enc-neuron-phoneme"].params["corpus"]))
    audio = [c.audio for c in corpus[: args.clips]]
    flops = sum(pass_flops(model.dims, clip_frames(len(a))) for a in audio)
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for _ in corpus_activations(model, audio[:2], PASS_LAYERS, batch_size=1):
            pass  # warm-up
        started = time.perf_counter()
        for _ in corpus_activations(model, audio, PASS_LAYERS, batch_size=1):
            pass
        seconds = time.perf_counter() - started
        achieved, limit = flops / seconds / 1e9, matmul_gflops(threads)
        print(f"{args.model}, {threads} thread(s): {len(audio) / seconds:.2f} clips/s, pass {achieved:.0f} GFLOP/s, "
              f"float32 matmul {limit:.0f} GFLOP/s, ratio {achieved / limit:.2f} "
              f"({flops / len(audio) / 1e9:.1f} GFLOP per clip)", flush=True)


def resident_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def pass_memory(args) -> None:
    from whisper_claims.claims import phonetic
    from whisper_claims.claims.registry import load_registry
    from whisper_claims.measure import intermediates
    from whisper_claims.models.load import open_model

    intermediates.configure("off")
    model = open_model(args.model).model
    corpus = {**load_registry()["enc-neuron-phoneme"].params["corpus"], "n_clips": args.clips}
    phonetic.stimulus_corpus(phonetic.corpus_options(corpus))  # synthesized (or read) before measuring
    torch.set_num_threads(1)
    before = resident_mb()
    stored = phonetic.corpus_pass(model, corpus, PASS_LAYERS[0], PASS_LAYERS, trim=False)[1]
    grown = resident_mb() - before
    kept = sum(rows.numel() * rows.element_size() for name in PASS_LAYERS for rows in stored.activations[name]) / 2**20
    print(f"{args.model}, {args.clips} clips: RSS grew {grown / args.clips:.2f} MB per clip, "
          f"{kept / args.clips:.2f} MB kept per clip, ratio {grown / kept:.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("claims", help="serial vs -n 2, cold vs warm cache")
    c.add_argument("--models", default="tiny.en")
    c.add_argument("--select", default="encoder or decoder", help="pytest -m expression")
    p = sub.add_parser("pass", help="the corpus pass against a float32 matmul")
    p.add_argument("--model", default="tiny.en")
    p.add_argument("--clips", type=int, default=40)
    p.add_argument("--threads", default="1,2")
    m = sub.add_parser("memory", help="resident memory the pass leaves against what it keeps")
    m.add_argument("--model", default="base")
    m.add_argument("--clips", type=int, default=250)
    args = parser.parse_args()
    {"claims": claims, "pass": corpus_pass, "memory": pass_memory}[args.command](args)


if __name__ == "__main__":
    main()
