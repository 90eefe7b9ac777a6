"""Building every report of one or several ``claims.json`` into a folder: ``claims.md``, ``badges/``,
``report.html`` and the figures and audio the page shows.

Everything is rendered and every input file checked before the first file is written; every file is
then written to a temporary name, and only when all are written are they renamed into place
(``report.html`` last, then a run's own ``claims.json``): a failed build replaces nothing. An input
``claims.json`` is never written, so one that lies in the output folder is left as it is.

Layout of the output folder::

    claims.md                    matrix, reasons, run metadata
    report.html                  the page
    badges/<claim>.json|.svg     shields.io endpoint JSON and offline SVG, per claim
    badges/overall-<model>.*     "n/N claims hold", per model
    files/<sha256[:16]>/<name>   figures and audio of the evidence, copied (content-addressed)
    assets/<asset name>          the post's figures, when asset locations are given
"""
from __future__ import annotations

import os
import shutil
import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..claims.verdict import AUDIO, FIGURES
from ..errors import WhisperClaimsError
from ..files import atomic_paths, sha256_file
from ..stimuli.assets import AssetLocations, load_manifest, resolve_asset
from .badges import anybadge_available, badge_files
from .claims_json import CLAIMS_JSON, claims_json_text
from .htmlreport import Link, Media, evidence_items, report_html
from .markdown import claims_markdown
from .merge import MergedReport, merge

MARKDOWN = "claims.md"
HTML = "report.html"
EVIDENCE_DIR = "files"
ASSETS_DIR = "assets"


@dataclass(frozen=True)
class Placement:
    """The files the page shows: links for the page, and the copies that make them true."""

    media: Media
    copies: tuple[tuple[Path, str], ...]  # (source file, destination relative to the output folder)


def build_reports(documents: list[tuple[Path, dict[str, Any]]], out_dir: Path, *,
                  asset_locations: AssetLocations | None = None, write_record: bool = False) -> list[Path]:
    """
    Write ``claims.md``, ``badges/`` and ``report.html`` for one or several claims.json documents.

    Parameters
    ----------
    documents : list of (Path, dict)
        Each claims.json path and its content, in merge order: a later document's row for the same
        claim × model replaces an earlier one; every run's metadata is kept. Evidence paths
        (``evidence["figures"][i]["path"]``, ``evidence["audio"]``) are relative to the folder of
        the path.
    out_dir : Path
        The output folder, created if missing. Files of earlier builds that this build does not
        write are left in place.
    asset_locations : AssetLocations, optional
        Where the post's figures are looked for (`whisper_claims.stimuli.assets.default_locations`); without
        it, or when a figure is not found, the page says so instead of showing it.
    write_record : bool
        Also write the one document as ``out_dir/claims.json`` (the end of a claims run), last and in
        the same all-or-nothing step as the reports.

    Returns
    -------
    list of Path
        Every file written or already up to date: ``claims.md``, the badges, the copied figures and
        audio, then ``report.html``.

    Raises
    ------
    ValueError
        If there is no document or one is malformed (the message names the file and the entry), or
        two badges would share a file name; nothing is written then.
    OSError
        If a file cannot be written (its path is named); then no file of the folder was replaced.
    """
    out_dir = Path(out_dir)
    report = merge(documents)
    svg = anybadge_available()
    files: dict[str, str] = {MARKDOWN: claims_markdown(report)}
    badges = badge_files(report, svg=svg)
    files.update(badges)
    placement = place_media(report, out_dir, asset_locations)
    media = Media(evidence=placement.media.evidence, post_figures=placement.media.post_figures,
                  badges={PurePosixPath(path).stem: _href(path) for path in badges if path.endswith(".svg")})
    files[HTML] = report_html(report, media)

    planned: list[tuple[Path, bytes | Path]] = [(out_dir / rel, text.encode("utf-8"))
                                                for rel, text in files.items() if rel != HTML]
    planned += [(out_dir / rel, source) for source, rel in placement.copies]
    planned.append((out_dir / HTML, files[HTML].encode("utf-8")))  # after what it shows
    inputs = {_resolved(path) for path, _ in documents}
    for target, _ in planned:
        if _resolved(target) in inputs:  # e.g. an input named report.html: never overwrite an input
            raise ValueError(f"{target}: is one of the claims.json files being read; choose another --out folder")
    if write_record:
        (path, document), = documents
        if _resolved(path) != _resolved(out_dir / CLAIMS_JSON):
            raise ValueError(f"{path}: a run's record is written as {out_dir / CLAIMS_JSON} only")
        planned.append((out_dir / CLAIMS_JSON, claims_json_text(document).encode("utf-8")))  # last
    return write_all(planned)


def write_all(planned: list[tuple[Path, bytes | Path]]) -> list[Path]:
    """Write each ``(path, its bytes or the file to copy)`` whose content differs from what is there, all of
    them or none (`files.atomic_paths`); an unchanged file keeps its time stamp, so a site sync sees no change.

    Returns every planned path. Raises OSError naming the file that could not be written.
    """
    changed = [(path, content) for path, content in planned if not _up_to_date(path, content)]
    with atomic_paths([path for path, _ in changed]) as tmps:
        for tmp, (path, content) in zip(tmps, changed):
            try:
                if isinstance(content, bytes):
                    tmp.write_bytes(content)
                else:
                    shutil.copyfile(content, tmp)
            except OSError as error:
                raise OSError(error.errno, error.strerror or str(error), str(path)) from error
    return [path for path, _ in planned]


def place_media(report: MergedReport, out_dir: Path, asset_locations: AssetLocations | None) -> Placement:
    """Decide where each evidence file and post figure is shown from; reads files, writes nothing.

    An evidence file already inside ``out_dir`` is linked where it is; any other is copied to
    ``files/<sha256[:16]>/<name>``. A path that is absolute, climbs out of its claims.json folder or
    names no file gets a note instead of a link.
    """
    out_root = Path(os.path.abspath(out_dir))
    evidence: dict[tuple[int, str], Link] = {}
    copies: dict[str, Path] = {}
    for key in sorted(report.rows):
        row = report.rows[key]
        for kind in (FIGURES, AUDIO):
            for item in evidence_items(row.data["evidence"], kind):
                where = (row.source, item.path)
                if item.problem or where in evidence:
                    continue
                evidence[where] = _place_evidence(report.sources[row.source].directory, item.path,
                                                out_root, copies)

    post: dict[str, Link] = {}
    names = list(dict.fromkeys(name for claim in report.claims.values() for name in claim.get("post_figures", [])))
    manifest, manifest_error = None, ""
    if names:  # read even without locations: it gives the figure's address in the post
        try:
            manifest = load_manifest()
        except WhisperClaimsError as error:
            manifest_error = str(error)
    for name in names:
        post[name] = _place_post_figure(name, asset_locations, manifest, manifest_error, out_root, copies)
    return Placement(media=Media(evidence=evidence, post_figures=post),
                     copies=tuple((source, rel) for rel, source in sorted(copies.items())))


def _place_evidence(directory: Path, path: str, out_root: Path, copies: dict[str, Path]) -> Link:
    relative = PurePosixPath(path)
    if relative.is_absolute() or "\\" in path or ".." in relative.parts:
        return Link(None, f"{path}: refused, evidence paths must be relative to the folder of claims.json "
                          "and stay inside it")
    source = directory / relative
    if not source.is_file():
        return Link(None, f"{path}: file not found (looked for {source})")
    real, base = Path(os.path.realpath(source)), Path(os.path.realpath(directory))
    if not real.is_relative_to(base):
        return Link(None, f"{path}: refused, it links to {real}, outside the folder of claims.json")
    if real.is_relative_to(Path(os.path.realpath(out_root))):
        return Link(_href(Path(os.path.relpath(real, os.path.realpath(out_root))).as_posix()))
    rel = f"{EVIDENCE_DIR}/{sha256_file(real)[:16]}/{relative.name}"
    copies[rel] = real
    return Link(_href(rel))


def _place_post_figure(name: str, locations: AssetLocations | None, manifest, manifest_error: str,
                       out_root: Path, copies: dict[str, Path]) -> Link:
    if manifest is None:
        return Link(None, manifest_error)
    online = manifest[name].url if name in manifest else ""
    if locations is None:
        return Link(None, "no asset folder was given (whisper-claims report --assets DIR, or "
                          "$WHISPER_CLAIMS_ASSETS)", online)
    try:
        path = resolve_asset(name, locations, manifest)
    except (WhisperClaimsError, OSError) as error:
        return Link(None, str(error), online)
    rel = f"{ASSETS_DIR}/{name}"  # manifest names are checked to be relative paths without '..'
    copies[rel] = Path(os.path.realpath(path))
    asset = manifest[name]
    return Link(_href(rel), f"licence: {asset.licence}" if asset.licence else "")


def _href(relative: str) -> str:
    return urllib.parse.quote(relative, safe="/")


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _up_to_date(path: Path, content: bytes | Path) -> bool:
    if not path.is_file():
        return False
    if isinstance(content, bytes):
        return path.stat().st_size == len(content) and path.read_bytes() == content
    return _resolved(path) == _resolved(content) or (
        path.stat().st_size == content.stat().st_size and sha256_file(path) == sha256_file(content))
