"""Checksummed downloads: a file appears at its destination only once its sha256 is right."""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
import http.client
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator

from .errors import ChecksumMismatch, DownloadError

CHUNK_SIZE = 1 << 20
SCHEMES = ("http", "https", "file")

_SHA256 = re.compile(r"[0-9a-f]{64}")


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


def _expected_digest(sha256: str, what: str) -> str:
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
    expected = _expected_digest(sha256, str(path))
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumMismatch(
            f"{path}: sha256 is {actual}, expected {expected}; the file is corrupt or a "
            "different version, and was left as it is: replace it with the published copy"
        )


def download_verified(
    url: str,
    dest: str | os.PathLike,
    sha256: str,
    *,
    size: int | None = None,
    timeout: float = 30.0,
) -> Path:
    """
    Download ``url`` to ``dest``, publishing the file only if its sha256 matches.

    The bytes go to a hidden ``.part`` file next to ``dest`` and are hashed as they
    arrive; ``dest`` is replaced atomically once the digest (and size) are right. On any
    failure, interruption included, the partial file is removed and ``dest`` is left as
    it was, so a later run never finds a truncated or unverified file.

    Parameters
    ----------
    url : str
        An ``http://``, ``https://`` or ``file://`` URL.
    dest : str or PathLike
        Where the file goes; its folder is created if missing.
    sha256 : str
        Expected hex digest of the content.
    size : int, optional
        Expected size in bytes.
    timeout : float
        Seconds to wait for the connection and for each read.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    ValueError
        For a URL scheme other than http, https or file, or a malformed ``sha256``.
    DownloadError
        On a network or HTTP error, a timeout, an interrupted transfer or a size mismatch.
    ChecksumMismatch
        If the downloaded content has another sha256.
    """
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(
            f"{url}: cannot download a {scheme or 'scheme-less'} URL, expected one of "
            + ", ".join(f"{s}://" for s in SCHEMES)
        )
    expected = _expected_digest(sha256, url)
    dest = Path(dest)
    created = [p for p in [dest.parent, *dest.parent.parents] if not p.exists()]
    dest.parent.mkdir(parents=True, exist_ok=True)

    tmp = tempfile.NamedTemporaryFile(
        delete=False, dir=dest.parent, prefix="." + dest.name + ".", suffix=".part"
    )
    published = False
    try:
        with tmp:
            digest, received = _stream(url, tmp, timeout=timeout, size=size)
        if size is not None and received != size:
            raise DownloadError(
                f"could not download {url}: received {received} bytes, expected {size}"
            )
        actual = digest.hexdigest()
        if actual != expected:
            raise ChecksumMismatch(
                f"{url}: downloaded content has sha256 {actual}, expected {expected}; "
                f"{dest} was not written (the file at the URL changed, or the manifest is wrong)"
            )
        _publish(Path(tmp.name), dest)
        published = True
    finally:
        if not published:
            Path(tmp.name).unlink(missing_ok=True)
            # the folders this call made, deepest first, if nothing else was put in them meanwhile
            for folder in created:
                try:
                    folder.rmdir()
                except OSError:
                    break
    return dest


@contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``dest``, renamed onto it when the block succeeds and removed otherwise.

    So that a failed or interrupted write never leaves a partial file at ``dest``.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(handle)
    try:
        yield Path(tmp)
        _publish(Path(tmp), dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


def save_torch(obj, dest: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``dest`` atomically, the same objects giving the same bytes.

    torch.save names its zip archive after the file it is given, here a random temporary name; through
    a file object the archive is always called "archive", so the file's sha256 depends on its content only.
    """
    import torch

    with atomic_path(dest) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
    return Path(dest)


def _publish(tmp: Path, dest: Path) -> None:
    # temporary files are created 0600; give the published file the mode a plain open() would
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, dest)


def _stream(url: str, out, *, timeout: float, size: int | None):
    """Copy the body of ``url`` to the open file ``out``; return (sha256 object, bytes)."""
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            announced = response.headers.get("Content-Length")
            announced = int(announced) if announced and announced.isdigit() else None
            if size is not None and announced is not None and announced != size:
                raise DownloadError(
                    f"could not download {url}: server announces {announced} bytes, "
                    f"expected {size}"
                )
            while chunk := response.read(CHUNK_SIZE):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
    except urllib.error.HTTPError as e:
        raise DownloadError(f"could not download {url}: HTTP {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        raise DownloadError(f"could not download {url}: {e.reason}") from e
    except (http.client.HTTPException, OSError) as e:
        # timeouts and connection resets mid-body surface as these, not as URLError
        raise DownloadError(f"could not download {url}: {type(e).__name__}: {e}") from e
    # http.client.read(n) returns b"" rather than raising when the peer closes early
    if announced is not None and received != announced:
        raise DownloadError(
            f"could not download {url}: transfer interrupted after {received} of "
            f"{announced} bytes"
        )
    return digest, received


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
