"""Reference files (the post's audio and figures, aligned speech) named by a checksummed manifest.

The files themselves are never part of the project: they are read from a local asset folder,
from the cache, or, only when allowed, downloaded into the cache.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..downloads import download_verified
from ..errors import AssetUnavailable, ChecksumMismatch, ManifestError, WhisperClaimsError
from ..files import PROJECT, sha256_file

FIXTURES = PROJECT / "fixtures"
DEFAULT_MANIFEST = FIXTURES / "assets.tsv"
# files that are part of the project (micro's own clips), each verified against this manifest
BUNDLED_MANIFEST = FIXTURES / "micro" / "clips.tsv"
COLUMNS = ("name", "url", "sha256", "bytes", "licence", "purpose")

ENV_FOLDER = "WHISPER_CLAIMS_ASSETS"
ENV_CACHE = "WHISPER_CLAIMS_CACHE"
ENV_DOWNLOAD = "WHISPER_CLAIMS_DOWNLOAD"
_TRUE = ("1", "true", "yes")
_FALSE = ("", "0", "false", "no")

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Asset:
    """One manifest entry; ``url`` is empty for derived files that exist only locally."""

    name: str
    url: str
    sha256: str
    size: int
    licence: str
    purpose: str


@dataclass(frozen=True)
class AssetLocations:
    """Where assets are looked for, and whether a missing one may be downloaded."""

    folder: Path | None
    cache: Path
    allow_download: bool

    def cache_path(self, name: str) -> Path:
        return self.cache / "assets" / name


def load_manifest(path: str | os.PathLike | None = None) -> dict[str, Asset]:
    """
    Read and validate the asset manifest.

    Parameters
    ----------
    path : str or PathLike, optional
        A tab-separated file with the header ``name url sha256 bytes licence purpose``;
        by default the project's ``fixtures/assets.tsv``.

    Returns
    -------
    dict[str, Asset]
        Entries by name, in file order.

    Raises
    ------
    ManifestError
        If the file is missing or a row is malformed; the message names the file and line.
    """
    path = Path(path) if path is not None else DEFAULT_MANIFEST
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ManifestError(f"{path}: cannot read the asset manifest: {e.strerror or e}") from e
    if not lines or lines[0].split("\t") != list(COLUMNS):
        found = lines[0].split("\t") if lines else "an empty file"
        raise ManifestError(
            f"{path}:1: header is {found}, expected the tab-separated columns {list(COLUMNS)}"
        )

    assets: dict[str, Asset] = {}
    first_line: dict[str, int] = {}
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        fields = line.split("\t")
        if len(fields) != len(COLUMNS):
            raise ManifestError(
                f"{where}: {len(fields)} tab-separated fields, expected {len(COLUMNS)} "
                f"({', '.join(COLUMNS)})"
            )
        name, url, sha256, size, licence, purpose = (f.strip() for f in fields)
        _check_name(name, where)
        if name in assets:
            raise ManifestError(
                f"{where}: duplicate asset {name!r}, already listed on line {first_line[name]}"
            )
        if url and not url.startswith(("https://", "http://", "file://")):
            raise ManifestError(f"{where}: url {url!r} of {name} is not http(s):// or file://")
        if not _SHA256.fullmatch(sha256.lower()):
            raise ManifestError(
                f"{where}: sha256 {sha256!r} of {name} is not 64 hex characters"
            )
        if not size.isdigit() or int(size) <= 0:
            raise ManifestError(
                f"{where}: bytes {size!r} of {name} is not a positive integer"
            )
        assets[name] = Asset(name, url, sha256.lower(), int(size), licence, purpose)
        first_line[name] = lineno
    return assets


def all_assets() -> dict[str, Asset]:
    """The reference assets (`DEFAULT_MANIFEST`) and the files bundled with the project (`BUNDLED_MANIFEST`)."""
    bundled = load_manifest(BUNDLED_MANIFEST) if BUNDLED_MANIFEST.is_file() else {}
    return {**load_manifest(), **bundled}


def _check_name(name: str, where: str) -> None:
    # names are joined onto the asset folder and the cache: keep them inside both
    if "\\" in name or any(part in ("", ".", "..") for part in name.split("/")):
        raise ManifestError(
            f"{where}: name {name!r} is not a relative path inside the asset folder "
            "(expected e.g. blog/encoder/Hot_ones.wav)"
        )


def env_download_allowed() -> bool:
    """Whether ``$WHISPER_CLAIMS_DOWNLOAD`` allows downloads (checkpoints and assets); unset means no.

    Raises
    ------
    ValueError
        If it holds a value that is neither true nor false.
    """
    value = os.environ.get(ENV_DOWNLOAD, "").strip().lower()
    if value not in _TRUE + _FALSE:
        raise ValueError(
            f"{ENV_DOWNLOAD}={os.environ[ENV_DOWNLOAD]!r}: expected one of "
            f"{', '.join(_TRUE)} (download allowed) or {', '.join(_FALSE[1:])} "
            "or unset (not allowed)"
        )
    return value in _TRUE


def default_locations(
    folder: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
    allow_download: bool | None = None,
) -> AssetLocations:
    """
    Asset locations from explicit options, falling back to environment variables.

    Parameters
    ----------
    folder : str or PathLike, optional
        Local asset folder (``--assets``); default ``$WHISPER_CLAIMS_ASSETS``, else none.
    cache : str or PathLike, optional
        Cache root; assets go in ``<cache>/assets/<name>``. Default ``$WHISPER_CLAIMS_CACHE``,
        else ``$XDG_CACHE_HOME/whisper-claims``, else ``~/.cache/whisper-claims``.
    allow_download : bool, optional
        Whether missing assets may be downloaded (``--assets-download``); default
        ``$WHISPER_CLAIMS_DOWNLOAD`` ("1", "true" or "yes"), else off: nothing touches the
        network unless asked to.

    Returns
    -------
    AssetLocations

    Raises
    ------
    ValueError
        If ``$WHISPER_CLAIMS_DOWNLOAD`` holds a value that is neither true nor false.
    """
    if folder is None and os.environ.get(ENV_FOLDER):
        folder = os.environ[ENV_FOLDER]
    if cache is None:
        if os.environ.get(ENV_CACHE):
            cache = os.environ[ENV_CACHE]
        elif os.environ.get("XDG_CACHE_HOME"):
            cache = Path(os.environ["XDG_CACHE_HOME"]) / "whisper-claims"
        else:
            cache = Path("~/.cache/whisper-claims")
    if allow_download is None:
        allow_download = env_download_allowed()
    return AssetLocations(
        folder=Path(folder).expanduser() if folder is not None else None,
        cache=Path(cache).expanduser(),
        allow_download=bool(allow_download),
    )


def resolve_asset(
    name: str, locations: AssetLocations, manifest: dict[str, Asset] | None = None
) -> Path:
    """
    Path of a verified copy of an asset.

    Looks in the local folder, then in the cache, then (if allowed and the asset has a
    URL) downloads it into the cache. A copy whose sha256 is wrong is an error, never
    skipped in favour of another copy or replaced.

    Parameters
    ----------
    name : str
        Manifest name, e.g. ``"blog/encoder/Hot_ones.wav"``.
    locations : AssetLocations
        See `default_locations`.
    manifest : dict[str, Asset], optional
        Default: `load_manifest()`.

    Returns
    -------
    Path

    Raises
    ------
    AssetUnavailable
        If the name is unknown (close matches are suggested), or the asset is found
        nowhere and cannot be downloaded; the message says where it looked and how to
        provide it.
    ChecksumMismatch
        If a copy exists but its content differs from the manifest.
    DownloadError
        If an allowed download fails.
    """
    manifest = load_manifest() if manifest is None else manifest
    asset = manifest.get(name)
    if asset is None:
        raise AssetUnavailable(_unknown(name, manifest))

    bundled = FIXTURES / name
    if not asset.url and bundled.is_file():
        return _verified(bundled, asset, f"project's fixtures folder {FIXTURES}")
    if locations.folder is not None:
        local = locations.folder / name
        if local.is_file():
            return _verified(local, asset, f"local asset folder {locations.folder}")
    cached = locations.cache_path(name)
    if cached.is_file():
        return _verified(cached, asset, f"cache {locations.cache}")
    if locations.allow_download and asset.url:
        return download_verified(asset.url, cached, asset.sha256, size=asset.size)
    raise AssetUnavailable(_unavailable(asset, locations))


def check_assets(
    locations: AssetLocations, manifest: dict[str, Asset] | None = None
) -> list[tuple[Asset, Path | None, str]]:
    """
    Resolve every manifest entry, collecting failures instead of raising.

    With ``locations.allow_download`` set, missing assets are downloaded.

    Parameters
    ----------
    locations : AssetLocations
    manifest : dict[str, Asset], optional
        Default: `load_manifest()`.

    Returns
    -------
    list of (Asset, Path or None, str)
        For each entry its path and ``"ok"``, or ``None`` and the error message.
    """
    manifest = load_manifest() if manifest is None else manifest
    results = []
    for asset in manifest.values():
        try:
            results.append((asset, resolve_asset(asset.name, locations, manifest), "ok"))
        except (WhisperClaimsError, OSError) as e:
            results.append((asset, None, str(e)))
    return results


def _verified(path: Path, asset: Asset, where: str) -> Path:
    actual = sha256_file(path)
    if actual != asset.sha256:
        fix = f"download it again from {asset.url}" if asset.url else "restore the original copy"
        raise ChecksumMismatch(
            f"{path}: sha256 is {actual}, expected {asset.sha256} for asset {asset.name} "
            f"(fixtures/assets.tsv; fixtures/micro/clips.tsv for files bundled with the project); the file "
            f"in the {where} was left untouched and no other copy was tried: remove it or {fix}"
        )
    return path


def _unknown(name: str, manifest: dict[str, Asset]) -> str:
    base = PurePosixPath(name).name
    same_file = [n for n in manifest if PurePosixPath(n).name == base]
    close = difflib.get_close_matches(name, list(manifest), n=3, cutoff=0.6)
    matches = list(dict.fromkeys(same_file + close))[:5]
    hint = (
        f"did you mean {', '.join(matches)}?"
        if matches
        else "the manifest lists the known names"
    )
    return f"unknown asset {name!r}: not in the asset manifest (fixtures/assets.tsv); {hint}"


def _unavailable(asset: Asset, locations: AssetLocations) -> str:
    if locations.folder is not None:
        local = (
            f"local asset folder: {locations.folder / asset.name} "
            f"(set by --assets / {ENV_FOLDER})"
        )
    else:
        local = f"local asset folder: none set (set one with --assets / {ENV_FOLDER})"
    cache = f"cache: {locations.cache_path(asset.name)} (cache root set by {ENV_CACHE})"
    provide = (
        f"to provide it, point --assets / {ENV_FOLDER} at a folder holding {asset.name}"
    )
    if asset.url:
        provide += (
            f", or allow downloading it from {asset.url} with --assets-download / "
            f"{ENV_DOWNLOAD}=1"
        )
    else:
        provide += f" (it has no public URL, so it cannot be downloaded; {asset.purpose})"
    return f"asset {asset.name} is not available; looked in {local}; {cache}; {provide}"
