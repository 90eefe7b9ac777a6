"""What the five encoder claims cost, against the passes they truly need (a benchmark, not a test).

For each model spec (default random:tiny and random:base) this prints, from one process:
- one plain encoder forward pass (the unit of every ratio);
- each claim's wall time with an empty cache, run in the suite's order, so that work shared through
  ``memo.per_model`` (clip encode and transcript, padding encode, relevance) is paid by the first claim
  that needs it;
- the "needed" floor: the same passes written out by hand with no bookkeeping — one clip encode, one
  padding encode, one whole-graph relevance forward/backward, one windowed encode per k, one greedy
  decode per transcript — and the ratio of the claims' total to it (goal: ≤ 3).

Usage::

    python benchmarks/encoder_claims.py [--models random:tiny,random:base] [--assets DIR] [--repeat 3]

Timings are medians over ``--repeat`` runs on this machine with torch's default thread count.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time

import torch
import whisper

from whisper_claims.claims.registry import load_registry
from whisper_claims.claims.runner import asset_resolver, measure_claim
from whisper_claims.measure import memo
from whisper_claims.measure.attention import attention_window, explicit_attention
from whisper_claims.measure.inference import DECODING, chop, encode
from whisper_claims.models.load import open_model
from whisper_claims.stimuli.assets import default_locations, resolve_asset
from whisper_claims.stimuli.audio import load_audio, log_mel, padding_mel

HOT_ONES = "blog/encoder/Hot_ones.wav"
# the claims of the post's section 1, atomic ones included (they share their experiment's decodes)
CLAIMS = [claim for claim, spec in load_registry().items()
          if spec.function.partition(":")[2] in ("enc_relevance_local", "enc_end_sink", "enc_window", "enc_chop")]


def seconds(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        memo.clear()
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def decode(model, features) -> None:
    whisper.decode(model, features, DECODING)


def needed_passes(model, mel, registry) -> None:
    """The claims' passes written out by hand: what no implementation of them can avoid."""
    with torch.no_grad():
        features = encode(model, mel)[0]
        padding = encode(model, padding_mel(model))[0]
        decode(model, features)
    with torch.enable_grad():
        x = mel.clone().requires_grad_(True)
        with explicit_attention(model, record=True) as probabilities:
            out = model.encoder(x)
        torch.autograd.grad(out.sum(), probabilities)
    with torch.no_grad():
        for k in registry["enc-window-k75"].params["windows"]:
            with attention_window(model, k):
                decode(model, encode(model, mel)[0])
        for claim in ("enc-chop-start", "enc-chop-mid"):
            p = registry[claim].params
            decode(model, chop(features, padding, p["start"], p["stop"]))
            start = p["control_start"]
            decode(model, chop(features, padding, start, start + p["stop"] - p["start"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="random:tiny,random:base")
    parser.add_argument("--assets", default=None, help="asset folder (default $WHISPER_CLAIMS_ASSETS)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    clip = resolve_asset(HOT_ONES, default_locations(folder=args.assets))
    registry = load_registry()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; clip {clip.name}; "
          f"median of {args.repeat} runs")
    for spec in args.models.split(","):
        loaded = open_model(spec.strip())
        resolve = asset_resolver()  # built once: the timed loop measures the claims, not manifest reads
        model = loaded.model
        mel = log_mel(load_audio(clip), model)
        forward = seconds(lambda: encode(model, mel), args.repeat)
        print(f"\n{spec}: one plain encoder forward {forward * 1000:.0f} ms")

        per_claim = {}
        for _ in range(args.repeat):
            memo.clear()
            for claim_id in CLAIMS:
                start = time.perf_counter()
                measure_claim(registry[claim_id], loaded, resolve, clip=clip)
                per_claim.setdefault(claim_id, []).append(time.perf_counter() - start)
        total = 0.0
        for claim_id, times in per_claim.items():
            t = statistics.median(times)
            total += t
            print(f"  {claim_id:<24} {t:7.2f} s  = {t / forward:6.1f} forward passes")
        needed = seconds(lambda: needed_passes(model, mel, registry), args.repeat)
        print(f"  {'all the claims':<20} {total:7.2f} s  = {total / forward:6.1f} forward passes")
        print(f"  {'needed passes':<20} {needed:7.2f} s  = {needed / forward:6.1f} forward passes")
        print(f"  ratio claims / needed = {total / needed:.2f} (goal <= 3)")
        memo.clear()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory of this process: {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
