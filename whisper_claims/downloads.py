"""Checksummed downloads: a file appears at its destination only once its sha256 is right."""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .errors import ChecksumMismatch, DownloadError
from .files import CHUNK_SIZE, expected_digest, move_into_place

SCHEMES = ("http", "https", "file")


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
    expected = expected_digest(sha256, url)
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
        move_into_place(Path(tmp.name), dest)
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
