"""The SAE recipes of issue #31 on a model's corpus frames: how sparse and faithful each one is (a sweep,
not a test).

For each layer (default the residual after ``encoder.blocks.2`` and ``encoder.blocks.3``) and recipe:
- ``post``: the post's SAE as enc-sae-phoneme trains it today (its registry params: 400 tied ReLU
  features, L1 from ``l1_shrink``);
- ``topk`` and ``batchtopk`` at 1×, 4× and 8× the residual width with k ∈ {16, 32, 64}, untied and
  centred (the pre-bias is the training frames' mean), with the post's optimiser, steps and batches;

``--seeds`` SAEs (default 3) are trained on the speech frames of enc-sae-phoneme's padded corpus pass
(the claim's ``frames()``: the same rows, the last 10% of them, whole clips, held out), and the table
gives, over the seeds: held-out mean L0, explained variance (1 − Σ‖x − x̂‖² / Σ‖x − mean(x)‖² over the
held-out frames, min–max over seeds), dead features (never active on the held-out frames) and always-on
ones (active on every held-out frame), means over seeds; the share of the first seed's features that
recur in every other seed (a decoder column with cosine ≥ 0.9); training frames; seconds per SAE. With
``--faithfulness``, the first seed's SAE is spliced into the residual at its block and the general encoder
claims' clip set is transcribed (``measure.faithfulness``): WER recovered against the clean transcripts and
against the words spoken, each with its 95% interval over the clips, the floor being the training frames'
mean; both replace the clip's frames (the headline) and, in a second condition, every frame of the window,
padding included; ``--record`` keeps every clip's three transcripts of both. With ``--selectivity``, the
first seed's live features are mined over the corpus and judged as enc-sae-phoneme judges them (its
``top_k``, ``n_permutations`` and ``alpha``): the share that is phoneme-selective, with its Wilson interval.

Usage::

    python benchmarks/sae_sweep.py [--models tiny.en] [--layers encoder.blocks.2,encoder.blocks.3]
                                   [--seeds 3] [--threads 1] [--only topk] [--widths 4] [--ks 32,64]
                                   [--faithfulness] [--selectivity]
    python benchmarks/sae_sweep.py --smoke     # a tiny grid on random sparse data, in seconds
    python benchmarks/sae_sweep.py ... --record sweep.jsonl   # also append each row to a file when it is done
    python benchmarks/sae_sweep.py --table sweep.jsonl         # the recorded rows as a markdown table
    python benchmarks/sae_sweep.py --table sweep.jsonl --figure DIR  # and each model and layer's frontier figure

Rows measured so far are kept in ``whisper_claims/records/sae_frontier.jsonl`` (``--record`` output, appended as
runs finish; each row names the model's parameters sha256, the training corpus, the date and the torch
version): enc-sae-phoneme shows its model's rows, and the bars (its registry entry's ``frontier_bar``), in
its evidence and report. Read them back with ``--table whisper_claims/records/sae_frontier.jsonl [--figure DIR]``.

``--train-on speech`` trains on the real aligned recordings that enc-neuron-phoneme-real mines (2 s clips of
``../shared/assets/speech``) instead of the claim's espeak-ng corpus, less every clip cut from a recording of
the faithfulness clip set.

The corpus pass comes from the disk cache when a run of the claims left it there; a layer the claims'
pass does not store (``encoder.blocks.2``'s residual) makes a new pass over the corpus (minutes).
Training is the cost: 4000 steps per SAE, one thread each; the whole grid is hours on a 2-core CPU.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import sys
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from whisper_claims.claims.registry import load_registry
from whisper_claims.measure import sae_frontier
from whisper_claims.measure.sae import (SAEConfig, SparseAutoencoder, activation_scale, calibrated_l1,
                                        recurring_features, train_sae)

CLAIM = "enc-sae-phoneme"
LAYERS = ("encoder.blocks.2", "encoder.blocks.3")
WIDTHS = (1, 4, 8)  # × the residual width
KS = (16, 32, 64)
KINDS = ("topk", "batchtopk")
RECUR_COSINE = 0.9
# issue #31's bars for an SAE the claim may judge, with their provenance: the claim's registry entry is their home
BARS = load_registry()[CLAIM].params["frontier_bar"]
FAITHFULNESS_CLIPS = "enc-relevance-local-general"  # whose clip set (``general``) is transcribed
# the training corpora: the claim's espeak-ng corpus, or the real aligned recordings that the real-speech claims
# mine (this claim's params, as enc-neuron-phoneme-real reads them), less the clip set's recordings
TRAIN_ON = {"espeak": CLAIM, "speech": "enc-neuron-phoneme-real"}


@dataclass(frozen=True)
class Recipe:
    """One row of the grid: a name and the config its seeds share (the seed is replaced)."""

    name: str  # "post", "topk", "batchtopk"
    width: Optional[int]  # × d_in; None for the post's fixed size
    config: SAEConfig


@dataclass(frozen=True)
class Row:
    layer: str
    recipe: Recipe
    n_train: int
    mean_l0: float  # mean over seeds
    explained: tuple[float, ...]  # per seed
    dead: float  # mean over seeds
    always_on: float
    recurring: Optional[float]  # share of the first seed's features found in every other seed
    seconds: float  # per SAE, mean over seeds
    # the first seed's WER recovered at the clip's frames (`faithfulness_summary`), with "all_frames": the
    # same at every frame of the window
    recovered: Optional[dict] = None
    # the first seed's share of phoneme-selective live features: `feature_selectivity`
    selective: Optional[dict] = None


def grid(d_in: int, base: SAEConfig, post: SAEConfig, *, widths: Iterable[int] = WIDTHS, ks: Iterable[int] = KS,
         kinds: Iterable[str] = KINDS) -> list[Recipe]:
    """The post's recipe, then each kind × width × k (k ≤ width, so every config is valid)."""
    recipes = [Recipe("post", None, post)]
    for kind in kinds:
        for width in widths:
            for k in ks:
                n_features = width * d_in
                if k <= n_features:
                    config = replace(base, n_features=n_features, kind=kind, k=k, l1=None, tied=False, center=True)
                    recipes.append(Recipe(kind, width, config))
    return recipes


@torch.no_grad()
def always_on(sae: SparseAutoencoder, frames: Tensor, chunk: int = 16384) -> int:
    """Features active on every one of ``frames``."""
    on = torch.ones(sae.n_features, dtype=torch.bool)
    for x in frames.split(chunk):
        on &= (sae.encode(x) > 0).all(dim=0)
    return int(on.sum())


def sweep(layer: str, frames: Tensor, recipes: Sequence[Recipe], seeds: Sequence[int],
          threads: Optional[int], report: Callable[[Row], None],
          faithfulness: Optional[Callable[[SparseAutoencoder, Tensor], dict]] = None,
          selectivity: Optional[Callable[[SparseAutoencoder], dict]] = None) -> list[Row]:
    """Train every recipe at every seed on ``frames`` ``[n, d]`` (the last ``held_out`` share held out,
    as ``train_sae`` does) and report one row per recipe as soon as it is done; ``faithfulness(sae,
    mean_frame)``, when given, scores the first seed's SAE (the mean of its training frames is the floor),
    and ``selectivity(sae)`` its features."""
    rows = []
    for recipe in recipes:
        saes, reports, held = [], [], None
        for seed in seeds:
            sae, training = train_sae(frames, replace(recipe.config, seed=seed), threads=threads)
            saes.append(sae)
            reports.append(training)
            held = frames[-training.n_held_out:]
        explained = tuple(r.explained_variance for r in reports)
        recur = recurring_features(saes, RECUR_COSINE)
        recovered = None
        if faithfulness is not None:
            recovered = faithfulness(saes[0], frames[:reports[0].n_train].mean(dim=0))
        row = Row(layer, recipe, reports[0].n_train, float(np.mean([r.mean_l0 for r in reports])), explained,
                  float(np.mean([r.n_dead for r in reports])), float(np.mean([always_on(s, held) for s in saes])),
                  None if recur["recurring"] is None else recur["recurring"] / recur["of"],
                  float(np.mean([r.seconds for r in reports])), recovered,
                  None if selectivity is None else selectivity(saes[0]))
        report(row)
        rows.append(row)
    return rows


HEADER = (f"{'layer':<18} {'recipe':<10} {'width':>5} {'feat':>5} {'k':>3} {'L0':>7} {'L0 %':>6} "
          f"{'EV (min-max)':>20} {'dead':>7} {'on':>5} {'recur':>6} {'frames':>8} {'s/SAE':>7} "
          f"{'WERrec clean/spoken':>19} {'all frames':>10} {'select.':>7}")


def format_row(row: Row) -> str:
    config = row.recipe.config
    width = "-" if row.recipe.width is None else f"{row.recipe.width}x"
    ev = f"{np.mean(row.explained):.3f} ({min(row.explained):.3f}-{max(row.explained):.3f})"
    recur = "-" if row.recurring is None else f"{row.recurring:.2f}"
    recovered, everywhere = "-", "-"
    if row.recovered is not None:
        recovered = f"{row.recovered['clean']:.3f}/{row.recovered['spoken']:.3f}"
        everywhere = f"{row.recovered['all_frames']['clean']:.3f}"
    return (f"{row.layer:<18} {row.recipe.name:<10} {width:>5} {config.n_features:>5} {config.k or '-':>3} "
            f"{row.mean_l0:>7.1f} {row.mean_l0 / config.n_features:>6.1%} {ev:>20} {row.dead:>7.1f} "
            f"{row.always_on:>5.1f} {recur:>6} {row.n_train:>8} {row.seconds:>7.1f} {recovered:>19} {everywhere:>10} "
            f"{'-' if row.selective is None else format(row.selective['fraction'], '.3f'):>7}")


def print_row(row: Row) -> None:
    print(format_row(row), flush=True)


def row_record(row: Row, run: dict) -> dict:
    """One row as a JSON object, with what produced it (``run``: model, its parameters' sha256, seeds, …)."""
    config = row.recipe.config
    return {**run, "layer": row.layer, "recipe": row.recipe.name, "width": row.recipe.width,
            "n_features": config.n_features, "k": config.k, "n_train": row.n_train, "mean_l0": row.mean_l0,
            "explained_variance": list(row.explained), "dead": row.dead, "always_on": row.always_on,
            "recurring": row.recurring, "seconds_per_sae": row.seconds,
            "wer_recovered": row.recovered, "selective": row.selective}


def appender(path: str, run: dict) -> Callable[[Row], None]:
    """``report(row)``: print it and append it to ``path`` (one JSON line, flushed), so that a long sweep
    stopped part way keeps every row it finished."""
    def report(row: Row) -> None:
        print_row(row)
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(row_record(row, run)) + "\n")
    return report


def markdown_table(records: Sequence[dict]) -> str:
    """Recorded rows as a markdown table (EV as the mean over seeds, with min–max when there are several)."""
    lines = ["| model | layer | recipe | trained on | features | k | L0 | L0 % | explained variance | dead | recur | "
             "WER recovered (clean / spoken) | at every frame (clean) | selective features | frames | s per SAE | "
             "seeds |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in records:
        ev = r["explained_variance"]
        shown = f"{np.mean(ev):.3f}" + (f" ({min(ev):.3f}–{max(ev):.3f})" if len(ev) > 1 else "")
        recipe = r["recipe"] if r["width"] is None else f"{r['recipe']} {r['width']}×"
        recovered, everywhere = "—", "—"
        if r["wer_recovered"] is not None:
            recovered = " / ".join(with_interval(r["wer_recovered"], against) for against in ("clean", "spoken"))
            if "all_frames" in r["wer_recovered"]:
                everywhere = with_interval(r["wer_recovered"]["all_frames"], "clean")
        corpus = sae_frontier.CORPUS_NAMES.get(r.get("train_on", "espeak"), r.get("train_on"))
        lines.append(f"| {r['model']} | {r['layer']} | {recipe} | {corpus} | {r['n_features']} | {r['k'] or '—'} | "
                     f"{r['mean_l0']:.1f} | {r['mean_l0'] / r['n_features']:.1%} | {shown} | {r['dead']:.1f} | "
                     f"{'—' if r['recurring'] is None else format(r['recurring'], '.2f')} | {recovered} | {everywhere} | "
                     f"{selective_cell(r.get('selective'))} | "
                     f"{r['n_train']} | {r['seconds_per_sae']:.0f} | {len(ev)} |")
    return "\n".join(lines)


def smoke_frames(seed: int = 0, d: int = 16, n_frames: int = 3000) -> Tensor:
    """Sparse non-negative combinations of 24 random unit directions in ``d`` dimensions (about 3 per
    frame) plus a constant offset: something for the SAEs to find, in a second."""
    g = torch.Generator().manual_seed(seed)
    directions = torch.nn.functional.normalize(torch.randn(24, d, generator=g), dim=1)
    active = torch.rand(n_frames, 24, generator=g) < 3 / 24
    return (active * (0.5 + torch.rand(n_frames, 24, generator=g))) @ directions + 0.2


def smoke(seeds: Sequence[int]) -> list[Row]:
    """A tiny grid on random sparse data: the code path of the sweep, in seconds."""
    frames = smoke_frames()
    base = SAEConfig(n_features=32, steps=60, batch_size=128, lr=3e-3)
    post = replace(base, l1=calibrated_l1(activation_scale(frames), frames.shape[1], base, 0.04))
    recipes = grid(frames.shape[1], base, post, widths=(1, 2), ks=(2, 4))
    print(HEADER)
    return sweep("smoke (random)", frames, recipes, seeds, threads=1, report=print_row)


def corpus_frames(loaded, layer: str, params: dict, exclude: Sequence[str] = ()):
    """``(clips, pass, frames)``: the corpus, its padded pass (the claims' own when it stores ``layer``) and
    the speech frames enc-sae-phoneme trains on (its ``frames()``) at ``layer``, less the clips cut from the
    recordings named in ``exclude`` (held out for the faithfulness clip set)."""
    from whisper_claims.claims.phonetic import corpus_pass
    from whisper_claims.measure.selectivity import SILENCE

    pass_layers = list(params.get("pass_layers") or [params["layer"]])
    if layer not in pass_layers:
        print(f"  ({layer} is not in the claims' pass {pass_layers}: a new pass over the corpus)", flush=True)
        pass_layers.append(layer)
    clips, stored = corpus_pass(loaded.model, params["corpus"], layer, pass_layers, params.get("trim", False))
    kept = [c.name.split("@")[0] not in set(exclude) for c in clips]
    if not all(kept):
        print(f"  ({len(kept) - sum(kept)} clips of the clip set's recordings left out of training)", flush=True)
    keep = torch.from_numpy(np.concatenate([np.full(len(c.frame_labels), k) for c, k in zip(clips, kept)]))
    speech = torch.from_numpy(np.concatenate([c.frame_labels for c in clips]) != SILENCE)
    return clips, stored, stored.stacked(layer)[speech & keep]


def clip_set_recordings(loaded) -> list[str]:
    """The asset names of the faithfulness clip set's recordings."""
    registry = load_registry()
    params = registry[FAITHFULNESS_CLIPS].params_for(loaded.info.size)
    return [recording[0] for recording in params["recordings"]]


def qualifies(record: dict, bars: Optional[dict] = None) -> bool:
    """Whether a recorded row meets every bar (`measure.sae_frontier.qualifies`; default the registry's)."""
    return sae_frontier.qualifies(record, BARS if bars is None else bars)


def frontiers(records: Sequence[dict], bars: Optional[dict] = None) -> dict[tuple[str, str], dict]:
    """``{(model, layer): data}`` for `figures.sae_frontier`: one point per recorded row."""
    return sae_frontier.frontiers(records, BARS if bars is None else bars)


def draw_frontiers(records: Sequence[dict], folder: str) -> list[str]:
    """Each model and layer's frontier figure, ``<folder>/sae-frontier--<model>--<layer>.png``; the paths."""
    from pathlib import Path

    from whisper_claims.claims.figures import sae_frontier as draw_frontier
    from whisper_claims.files import safe_name

    paths = []
    for (model, layer), data in frontiers(records).items():
        path = Path(folder) / f"sae-frontier--{safe_name(model)}--{safe_name(layer)}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        draw_frontier(data, path, f"SAE recipes on {model}, {layer} (benchmarks/sae_sweep.py)")
        paths.append(str(path))
    return paths


def selective_cell(selective: Optional[dict]) -> str:
    """``0.62 [0.57, 0.67] (240 of 384 live)``, or a dash when not measured."""
    if selective is None:
        return "—"
    low, high = selective["interval"]
    return f"{selective['fraction']:.2f} [{low:.2f}, {high:.2f}] ({selective['n_selective']} of {selective['n_live']} live)"


def feature_selectivity(clips, stored, layer: str, params: dict) -> Callable[[SparseAutoencoder], dict]:
    """``selectivity(sae)``: the share of its live features that are phoneme-selective, judged as
    enc-sae-phoneme judges them (``params``: its registry parameters), with the Wilson interval."""
    from whisper_claims.claims.phonetic import sae_feature_selectivity
    from whisper_claims.measure.intervals import wilson

    def selectivity(sae: SparseAutoencoder) -> dict:
        sae.eval()
        _, live, features = sae_feature_selectivity(sae, clips, stored, layer, mine_k=params["mine_k"],
                                                    top_k=params["top_k"], n_permutations=params["n_permutations"],
                                                    per_clip=params["per_clip"])
        n_selective = sum(r.selective(params["alpha"]) for r in features)
        interval = wilson(n_selective, len(features)) if features else None
        return {"fraction": n_selective / len(features) if features else None, "n_selective": n_selective,
                "n_live": len(live), "interval": None if interval is None else [interval.low, interval.high],
                "alpha": params["alpha"], "top_k": params["top_k"]}

    return selectivity


def with_interval(recovered: dict, against: str) -> str:
    """``0.956 [0.91, 0.99]``; rows recorded before intervals were (7 December 2026) show the value alone."""
    interval = recovered.get(f"{against}_interval")
    value = f"{recovered[against]:.3f}"
    return value if interval is None else f"{value} [{interval[0]:.2f}, {interval[1]:.2f}]"


def faithfulness_summary(result) -> dict:
    """A `TranscriptFaithfulness` as a record: WER recovered against the clean transcripts and the words
    spoken, each with its interval over the clips (None when undefined), and every clip's transcripts and
    WERs, so that a low value can be traced to the clips that cost it."""
    explained = result.explained_variance
    found = {"frames": result.frames, "explained_variance": None if math.isnan(explained) else explained}
    for against, recovered in (("clean", result.against_clean), ("spoken", result.against_spoken)):
        found[against] = recovered.recovered
        found[f"{against}_interval"] = None if recovered.interval is None else \
            [recovered.interval.low, recovered.interval.high]
    found["clips"] = [dataclasses.asdict(clip) for clip in result.clips]
    return found


def clip_set_faithfulness(loaded, layer: str) -> Callable[[SparseAutoencoder, Tensor], dict]:
    """``faithfulness(sae, mean_frame)`` on the general encoder claims' clip set (its recordings and held-out
    sentences, with the words spoken): WER recovered against the clean transcripts and the words spoken, at
    the clip's frames, with the same at every frame under ``"all_frames"``."""
    from whisper_claims.claims.encoder import general_clips
    from whisper_claims.measure.faithfulness import transcript_faithfulness
    from whisper_claims.stimuli.audio import load_audio

    params = load_registry()[FAITHFULNESS_CLIPS].params_for(loaded.info.size)
    pairs = general_clips(params["recordings"], params["sentences"])
    audio = [clip.audio if hasattr(clip, "audio") else load_audio(clip) for clip, _ in pairs]
    spoken = [text for _, text in pairs]

    clean: list[str] = []  # the clean transcripts do not depend on the SAE: decoded once per layer

    def faithfulness(sae: SparseAutoencoder, mean_frame: Tensor) -> dict:
        sae.eval()
        found = {}
        for frames in ("clip", "all"):
            result = transcript_faithfulness(loaded.model, audio, layer, sae, mean_frame, spoken=spoken,
                                             frames=frames, clean=clean or None)
            clean[:] = [clip.clean for clip in result.clips]
            found[frames] = faithfulness_summary(result)
        return {**found["clip"], "all_frames": found["all"]}

    return faithfulness


def real(models: Sequence[str], layers: Sequence[str], seeds: Sequence[int], threads: int,
         only: Optional[str], widths: Sequence[int] = WIDTHS, ks: Sequence[int] = KS,
         faithfulness: bool = False, record: Optional[str] = None, selectivity: bool = False,
         train_on: str = "espeak") -> None:
    from whisper_claims.models.load import open_model

    registry = load_registry()
    for name in models:
        loaded = open_model(name)
        params = registry[CLAIM].params_for(loaded.info.size)
        corpus = registry[TRAIN_ON[train_on]].params_for(loaded.info.size)
        print(f"\n{name}: parameters sha256 {loaded.info.parameters_sha256[:12]}, torch {torch.__version__}, "
              f"{threads} thread(s) per SAE, seeds {list(seeds)}")
        print(HEADER)
        for layer in layers:
            exclude = clip_set_recordings(loaded) if train_on != "espeak" else ()
            clips, stored, frames = corpus_frames(loaded, layer, corpus, exclude)
            base = SAEConfig(**params["sae"])
            post = base
            if params.get("l1_shrink") is not None:
                post = replace(base, l1=calibrated_l1(activation_scale(frames), frames.shape[1], base,
                                                      params["l1_shrink"]))
            recipes = [r for r in grid(frames.shape[1], base, post, widths=widths, ks=ks)
                       if only is None or r.name == only]
            scorer = clip_set_faithfulness(loaded, layer) if faithfulness else None
            run = {"model": name, "parameters_sha256": loaded.info.parameters_sha256, "seeds": list(seeds),
                   "threads": threads, "torch": torch.__version__, "train_on": train_on,
                   "date": datetime.date.today().isoformat()}
            judge = feature_selectivity(clips, stored, layer, params) if selectivity else None
            sweep(layer, frames, recipes, seeds, threads, print_row if record is None else appender(record, run),
                  scorer, judge)


def _numbers(text: str, option: str, allowed: Sequence[int], parser: argparse.ArgumentParser) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        parser.error(f"{option} {text!r}: expected comma-separated whole numbers from {list(allowed)}")
    if not set(values) <= set(allowed):
        parser.error(f"{option} {text!r}: expected values from {list(allowed)}")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a tiny grid on random data, in seconds")
    parser.add_argument("--models", default="tiny.en")
    parser.add_argument("--layers", default=",".join(LAYERS))
    parser.add_argument("--seeds", type=int, default=3, help="seeds per recipe (>= 3 for the recurrence)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per SAE")
    parser.add_argument("--only", choices=("post",) + KINDS, default=None, help="one recipe family")
    parser.add_argument("--widths", default=",".join(map(str, WIDTHS)), help="× the residual width (topk kinds)")
    parser.add_argument("--ks", default=",".join(map(str, KS)), help="k of the topk kinds")
    parser.add_argument("--faithfulness", action="store_true",
                        help="WER recovered of each recipe's first SAE on the general clip set")
    parser.add_argument("--selectivity", action="store_true",
                        help="share of each recipe's first SAE's features that are phoneme-selective")
    parser.add_argument("--train-on", choices=tuple(TRAIN_ON), default="espeak",
                        help="the frames the SAEs train on: the claim's espeak-ng corpus, or the real aligned "
                             "recordings less the clip set's")
    parser.add_argument("--record", metavar="PATH", help="append each finished row to PATH (JSON lines)")
    parser.add_argument("--table", metavar="PATH", help="print the rows recorded in PATH as markdown, and stop")
    parser.add_argument("--figure", metavar="DIR", help="with --table: also draw each model and layer's frontier "
                                                         "into DIR (matplotlib)")
    args = parser.parse_args(argv)
    if args.figure and not args.table:
        parser.error("--figure draws the rows of --table PATH: give --table too")
    if args.table:
        try:
            with open(args.table, encoding="utf-8") as rows:
                records = [json.loads(line) for line in rows if line.strip()]
            print(markdown_table(records))
        except (OSError, ValueError, KeyError) as error:
            parser.error(f"--table {args.table}: {error}; expected the JSON lines that --record writes")
        if args.figure:
            for path in draw_frontiers(records, args.figure):
                print(f"drew {path}")
        return 0
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    widths = _numbers(args.widths, "--widths", WIDTHS, parser)
    ks = _numbers(args.ks, "--ks", KS, parser)
    seeds = range(args.seeds)
    if args.smoke:
        smoke(seeds)
        return 0
    real([m.strip() for m in args.models.split(",")], [layer.strip() for layer in args.layers.split(",")], seeds,
         args.threads, args.only, widths, ks, args.faithfulness, args.record, args.selectivity, args.train_on)
    return 0


if __name__ == "__main__":
    sys.exit(main())
