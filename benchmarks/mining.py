"""How fast encoder units are mined, three ways, and how much the fast ways agree (a benchmark, not a test).

On ``--model`` (default random:tiny) over the first ``--clips`` clips of the stimulus corpus:
- the post's method: every clip padded to 30 s through the whole encoder, neurons read by a hook;
- stop-at-block: padded to 30 s, the encoder run only up to the block needed;
- trimmed context: only the clip's frames, positional embedding sliced (``trim=True``).
Prints clips/s of each, the speed-up over the post's method, the top-K agreement (per neuron, share
of the padded path's top-K frames the trimmed path also finds), and the time to train the SAE of
``enc-sae-phoneme`` on the corpus' speech frames of ``encoder.blocks.3``.

Usage::

    python benchmarks/mining.py [--model random:tiny] [--clips 200] [--k 20] [--sae-steps 4000]
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from whisper_claims.hooks import capture
from whisper_claims.mining import TopK, clip_mel, mine_top_frames, top_k_agreement
from whisper_claims.models import open_model
from whisper_claims.phonetic_claims import corpus_options, stimulus_corpus
from whisper_claims.sae import SAEConfig, layer_activations, train_sae

LAYER = "encoder.blocks.2.mlp.1"


def posts_method(model, clips, k):
    """Whole encoder on 30 s inputs, one clip at a time, as the original code did."""
    top = None
    with torch.no_grad():
        for index, audio in enumerate(clips):
            n = len(audio) // 320
            with capture(model, LAYER) as records:
                model.encoder(clip_mel(audio, model))
            acts = records[LAYER][0][0, :n]
            top = top or TopK(acts.shape[1], k)
            top.update(acts, torch.full((n,), index), torch.arange(n))
    return top.result()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="random:tiny")
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--sae-steps", type=int, default=4000)
    args = parser.parse_args(argv)

    model = open_model(args.model).model
    started = time.perf_counter()
    corpus = stimulus_corpus(corpus_options({"n_clips": args.clips, "seed": 0, "clip_s": 2.0}))
    print(f"corpus: {len(corpus)} clips of 2 s in {time.perf_counter() - started:.1f} s (synthesized or cached)")
    clips = [c.audio for c in corpus]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.model}, {LAYER}, k={args.k}")

    runs = {}
    for name, run in [("post's method (30 s, whole encoder)", lambda: posts_method(model, clips, args.k)),
                      ("stop at block (30 s)", lambda: mine_top_frames(model, clips, LAYER, args.k)),
                      ("trimmed context", lambda: mine_top_frames(model, clips, LAYER, args.k, trim=True))]:
        started = time.perf_counter()
        runs[name] = (run(), time.perf_counter() - started)
    base = runs["post's method (30 s, whole encoder)"][1]
    padded = runs["stop at block (30 s)"][0]
    for name, (top, seconds) in runs.items():
        agreement = top_k_agreement(padded, top)
        print(f"  {name:<38} {len(clips) / seconds:7.1f} clips/s  ×{base / seconds:5.1f}  "
              f"top-{args.k} agreement with padded: mean {agreement.mean():.3f}, "
              f"median {agreement.median():.3f}")
    print(f"  2000 clips trimmed: about {2000 / len(clips) * runs['trimmed context'][1]:.0f} s")

    started = time.perf_counter()
    acts = layer_activations(model, clips, "encoder.blocks.3", trim=True)
    speech = torch.from_numpy(np.concatenate([c.frame_labels for c in corpus]) != "sil")
    collect = time.perf_counter() - started
    _, report = train_sae(acts[speech], SAEConfig(steps=args.sae_steps), threads=1)
    print(f"SAE (400 features, {args.sae_steps} steps, 1 thread) on {int(speech.sum())} speech frames of "
          f"encoder.blocks.3: collect {collect:.1f} s, train {report.seconds:.1f} s; explained variance "
          f"{report.explained_variance:.3f}, L0 {report.mean_l0:.1f}, dead {report.n_dead}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
