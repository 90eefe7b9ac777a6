"""What decoding chopped transcripts in batches saves, and whether it changes a transcript (a benchmark, not a test).

The per-word chop claims (enc-chop-word*) decode one transcript per spoken word and per control width,
``inference.transcribe_batch`` 16 at a time. This prints, per model, for ``--n`` chops of the Hot Ones
clip (25 frames each, spread over its speech): seconds per transcript one at a time
(``transcribe_features``) and in batches, their ratio, and how many transcripts are identical.

Usage::

    python benchmarks/batched_decoding.py [--models tiny.en,base] [--n 32] [--batch-size 16]
"""
from __future__ import annotations

import argparse
import time

import torch

from whisper_claims.claims.encoder import clip_run
from whisper_claims.measure.inference import chop, padding_features, transcribe_batch, transcribe_features
from whisper_claims.models.load import open_model
from whisper_claims.stimuli.assets import default_locations, resolve_asset

HOT_ONES = "blog/encoder/Hot_ones.wav"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--n", type=int, default=32, help="chops to decode")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    clip = resolve_asset(HOT_ONES, default_locations())
    print(f"torch threads {torch.get_num_threads()}; {args.n} chops of 25 frames; batches of {args.batch_size}")
    for spec in args.models.split(","):
        model = open_model(spec).model
        run = clip_run(model, clip)
        padding = padding_features(model)
        starts = [round(i * (run.speech_end - 25) / max(1, args.n - 1)) for i in range(args.n)]
        chops = torch.stack([chop(run.features, padding, s, s + 25) for s in starts])
        begin = time.perf_counter()
        one_at_a_time = [transcribe_features(model, f) for f in chops]
        single = (time.perf_counter() - begin) / args.n
        begin = time.perf_counter()
        batched = transcribe_batch(model, chops, args.batch_size)
        batch = (time.perf_counter() - begin) / args.n
        same = sum(a == b for a, b in zip(one_at_a_time, batched))
        print(f"{spec}: one at a time {single:.3f} s per transcript, batched {batch:.3f} s "
              f"(ratio {single / batch:.2f}); identical transcripts {same} of {args.n}")


if __name__ == "__main__":
    main()
