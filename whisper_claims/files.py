"""File helpers: sha256 digests and checks, atomic writes, files below folders, safe file names."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from .errors import ChecksumMismatch

CHUNK_SIZE = 1 << 20
# the package's data files (word lists, tables) and the project folder that holds fixtures/ and claims/
PACKAGE_DATA = Path(__file__).resolve().parent / "data"
PROJECT = Path(__file__).resolve().parent.parent

_SHA256 = re.compile(r"[0-9a-f]{64}")
_UNSAFE = re.compile(r"[^a-z0-9._-]+")


def sha256_file(path: str | os.PathLike) -> str:
    """
    Hex sha256 digest of a file, read in 1 MiB chunks.

    Parameters
    ----------
    path : str or PathLike
        The file to hash.

    Returns
    -------
    str
        64 lowercase hex characters.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def expected_digest(sha256: str, what: str) -> str:
    expected = sha256.strip().lower()
    if not _SHA256.fullmatch(expected):
        raise ValueError(f"{what}: expected sha256 must be 64 hex characters, got {sha256!r}")
    return expected


def verify_file(path: str | os.PathLike, sha256: str) -> None:
    """
    Check that a file's sha256 is the expected one; the file is never modified.

    Parameters
    ----------
    path : str or PathLike
        The file to check.
    sha256 : str
        Expected hex digest (case-insensitive).

    Raises
    ------
    ChecksumMismatch
        If the digests differ; the message names the file and both digests.
    """
    expected = expected_digest(sha256, str(path))
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumMismatch(
            f"{path}: sha256 is {actual}, expected {expected}; the file is corrupt or a "
            "different version, and was left as it is: replace it with the published copy"
        )


@contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``dest``, renamed onto it when the block succeeds and removed otherwise.

    So that a failed or interrupted write never leaves a partial file at ``dest``.
    """
    with atomic_paths([Path(dest)]) as (tmp,):
        yield tmp


@contextmanager
def atomic_paths(dests: Sequence[Path]) -> Iterator[list[Path]]:
    """Temporary paths beside each of ``dests``, renamed onto them in order only when the block succeeds
    (every file written), and all removed otherwise.

    So that a failed write of several files (a full disk, an interrupt) replaces none of them: renames
    need no space, and they start only when every file is complete.
    """
    tmps: list[Path] = []
    try:
        for dest in dests:
            dest.parent.mkdir(parents=True, exist_ok=True)
            handle, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
            os.close(handle)
            tmps.append(Path(tmp))
        yield tmps
        for tmp, dest in zip(tmps, dests):
            move_into_place(tmp, dest)
    finally:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)


def move_into_place(tmp: Path, dest: Path) -> None:
    # temporary files are created 0600; give the published file the mode a plain open() would
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, dest)


def files_below(paths, matches, what: str) -> list[Path]:
    """The given files, with each folder replaced by the files below it for which ``matches(path)``
    holds (recursive, sorted); a folder with none is an error naming it and ``what`` was looked for."""
    files: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            files.append(path)
            continue
        found = sorted(p for p in path.rglob("*") if p.is_file() and matches(p))
        if not found:
            raise ValueError(f"{path}: no {what} below this folder")
        files += found
    return files


def safe_name(text: str) -> str:
    """A file name for a claim id or model spec, the same on every run and every file system.

    Lower-case letters, digits, ``.``, ``_`` and ``-`` are kept; anything else (``:`` of
    ``random:tiny:3``, ``/`` of a checkpoint path, upper case) becomes ``-``, and then the first
    12 hex digits of the text's sha256 are appended so that ``random:tiny:3`` and ``random-tiny-3``
    cannot share a file. Official names (``tiny``, ``large-v3``, ``tiny.en``) are unchanged.
    """
    slug = _UNSAFE.sub("-", text.lower()).strip("-.")[:60].strip("-.")
    if slug == text and slug:
        return slug
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return f"{slug}-{digest}" if slug else digest
