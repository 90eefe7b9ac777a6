"""How fast encoder units are mined, several ways, and how far the fast ways agree with the post's
(a benchmark, not a test).

On ``--model`` (default random:tiny) over the first ``--clips`` clips of the stimulus corpus, for the
neurons of ``encoder.blocks.2.mlp.1``, each clip offering its best frame (``per_clip``, as the claims):
- the post's method: every clip padded to 30 s through the whole encoder, one clip at a time, neurons
  read by a hook;
- padded, exact (the claims' default): 30 s input, the encoder stopped after the block needed, whose
  rows past the clip are not computed (``mining.layers_activations``), and one pass storing both layers
  the phonetic claims read (``encoder.blocks.2.mlp.1`` and ``encoder.blocks.3``);
- approximations: the clip plus ``p`` frames of the padding input (``p = 0``: the trimmed context).
Prints clips/s, the speed-up over the post's method, and the top-``k`` agreement with it (per neuron,
the share of its top-``k`` clips that the method also finds: mean, median, share of neurons ≥ 0.9).
The issue's bar for a fast default: agreement ≥ 0.9 at ≥ 10× the post's throughput.

Usage::

    python benchmarks/mining.py [--model tiny.en] [--clips 200] [--k 20] [--tails 0,50,150,400]
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from whisper.audio import log_mel_spectrogram

from whisper_claims.claims.phonetic import corpus_options, stimulus_corpus
from whisper_claims.measure.hooks import capture
from whisper_claims.measure.mining import (TopFrames, clip_frames, clip_mel, corpus_activations, layers_activations,
                                           mine_activations, top_k_agreement)
from whisper_claims.models.load import open_model
from whisper_claims.stimuli.audio import SAMPLE_RATE, SAMPLES_PER_FRAME

LAYER = "encoder.blocks.2.mlp.1"
PASS_LAYERS = ("encoder.blocks.2.mlp.1", "encoder.blocks.3")


def top_of(activations, n_clips: int, k: int) -> TopFrames:
    return mine_activations(activations, n_clips, k, per_clip=True).top["units"]


def posts_method(model, clips):
    """Whole encoder on 30 s inputs, one clip at a time, as the original code did."""
    with torch.no_grad():
        for index, audio in enumerate(clips):
            with capture(model, LAYER) as records:
                model.encoder(clip_mel(audio, model))
            yield index, records[LAYER][0][0, : clip_frames(len(audio))]


def padded_exact(model, clips, layers):
    for index, acts in corpus_activations(model, clips, layers, batch_size=1):
        yield index, acts[LAYER]


def with_tail(model, clips, tail: int):
    """The clip's frames plus ``tail`` frames of the padding input (the 30 s log-mel, sliced)."""
    for index, audio in enumerate(clips):
        n = clip_frames(len(audio))
        total = min(model.dims.n_audio_ctx, n + tail)
        padded = np.zeros(total * SAMPLES_PER_FRAME + SAMPLE_RATE, dtype=np.float32)
        padded[: len(audio)] = audio
        mel = log_mel_spectrogram(torch.from_numpy(padded), n_mels=model.dims.n_mels)[None, :, : 2 * total]
        yield index, layers_activations(model, mel, [LAYER], n_keep=n)[LAYER][0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="random:tiny")
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--tails", default="0,50,150,400", help="padding frames kept after the clip, comma-separated")
    args = parser.parse_args(argv)
    tails = [int(t) for t in args.tails.split(",") if t]

    model = open_model(args.model).model
    started = time.perf_counter()
    corpus = stimulus_corpus(corpus_options({"n_clips": args.clips, "seed": 0, "clip_s": 2.0}))
    print(f"corpus: {len(corpus)} clips of 2 s in {time.perf_counter() - started:.1f} s (synthesized or cached)")
    clips = [c.audio for c in corpus]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.model}, {LAYER}, top-{args.k} "
          f"clips per neuron (each clip's best frame)")

    methods = [("post's method (30 s, whole encoder)", lambda: posts_method(model, clips)),
               ("padded, exact: the default, 1 layer", lambda: padded_exact(model, clips, [LAYER])),
               ("padded, exact: the default, 2 layers", lambda: padded_exact(model, clips, PASS_LAYERS))]
    methods += [(f"clip + {tail} padding frames" + (" (trimmed)" if tail == 0 else ""),
                 lambda tail=tail: with_tail(model, clips, tail)) for tail in tails]
    reference, base = None, None
    for name, run in methods:
        started = time.perf_counter()
        top = top_of(run(), len(clips), args.k)
        seconds = time.perf_counter() - started
        reference, base = reference or top, base or seconds
        agreement = top_k_agreement(reference, top)
        print(f"  {name:<40} {len(clips) / seconds:6.2f} clips/s  ×{base / seconds:5.2f}  agreement mean "
              f"{agreement.mean():.3f}, median {agreement.median():.3f}, neurons ≥ 0.9: "
              f"{(agreement >= 0.9).float().mean():.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
