"""Expensive, deterministic intermediates kept on disk between runs: corpus passes, trained SAEs, decodes.

An entry is named by the sha256 of everything its value depends on: the model's parameters sha256, the
key its caller gives (the inputs' digests and the parameters that shape the result), and a digest of the
code that computes it (the computing module and every module of this package it imports, with the
versions of torch, numpy, openai-whisper, scipy and espeak-ng). A change to any of them is another entry.

``<cache root>/intermediates/<kind>/<aa>/<key>/`` holds ``value.pt`` (``torch.save`` of a plain tree of
tensors, read with ``weights_only=True``) and ``meta.json`` (the value's sha256 and size, what it is).
An entry is written in a temporary folder and renamed into place, so that a reader never sees half of
one and two processes filling it at once leave one good entry. Every read checks the sha256: an entry
that fails it, or cannot be read, is recomputed with a one-line warning, never used.

Modes (``--claims-cache``, ``$WHISPER_CLAIMS_CACHE_MODE``): ``read-write`` (the default: read an entry
when it is there, else compute and write it), ``refresh`` (compute and overwrite; read nothing) and
``off`` (neither).
"""
from __future__ import annotations

import ast
import dataclasses
import fcntl
import hashlib
import json
import os
import pickle
import shutil
import sys
import tempfile
import time
import warnings
import zipfile
from contextlib import contextmanager
from functools import lru_cache
from importlib import import_module, metadata
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, TypeVar

import numpy as np
import torch

from ..errors import CacheWarning
from ..files import PACKAGE_DATA, sha256_file
from ..stimuli.assets import default_locations

T = TypeVar("T")

MODES = ("off", "read-write", "refresh")
DEFAULT_MODE = "read-write"
ENV_MODE = "WHISPER_CLAIMS_CACHE_MODE"
FOLDER = "intermediates"
FORMAT = "whisper-claims-intermediate"
VERSION = 1
PACKAGE = __name__.partition(".")[0]
# besides this package's code, what a value can depend on
VERSIONED = ("torch", "numpy", "openai-whisper", "scipy", "espeakng-loader")


@dataclasses.dataclass(frozen=True)
class Settings:
    mode: str
    root: Optional[Path]  # the intermediates folder; None when the mode is off

    @property
    def reads(self) -> bool:
        return self.mode == "read-write"

    @property
    def writes(self) -> bool:
        return self.mode in ("read-write", "refresh")


_settings: Optional[Settings] = None


def check_mode(text: str, where: str) -> str:
    """``text`` when it is a mode; a ValueError naming ``where`` and the modes otherwise."""
    if text not in MODES:
        raise ValueError(f"{where}={text!r}: expected one of {', '.join(MODES)}")
    return text


def configure(mode: Optional[str] = None, root: str | os.PathLike | None = None) -> Settings:
    """Set this process's cache: ``mode`` (default ``$WHISPER_CLAIMS_CACHE_MODE``, else read-write) and
    the cache root (default the asset cache root: ``$WHISPER_CLAIMS_CACHE``, ``$XDG_CACHE_HOME/whisper-claims``
    or ``~/.cache/whisper-claims``); entries go in ``<root>/intermediates``."""
    global _settings
    if mode is None:
        mode = check_mode(os.environ.get(ENV_MODE) or DEFAULT_MODE, ENV_MODE)
    else:
        check_mode(mode, "mode")
    folder = None if mode == "off" else default_locations(cache=root, allow_download=False).cache / FOLDER
    _settings = Settings(mode, folder)
    return _settings


def settings() -> Settings:
    return _settings if _settings is not None else configure()


# -- keys -----------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def code_digest(module: str) -> str:
    """sha256 of ``module``'s source and of every module of this package it imports (transitively), of
    the package's data files, and of the versions of the libraries a value depends on."""
    digest = hashlib.sha256()
    for name in sorted(_package_imports(module)):
        digest.update(name.encode())
        digest.update(Path(import_module(name).__file__).read_bytes())
    for path in sorted(PACKAGE_DATA.glob("*")):  # word lists and tables the code reads
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    for name in VERSIONED:
        try:
            digest.update(f"{name}=={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name} absent".encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def _package_imports(module: str) -> set[str]:
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or not (name == PACKAGE or name.startswith(PACKAGE + ".")):
            continue
        seen.add(name)
        try:
            path = getattr(import_module(name), "__file__", None)
        except ImportError:  # `from .models import parameters_sha256` names a function, not a module
            continue
        if path is None:
            continue
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
        package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parent = ".".join(parts[: len(parts) - node.level + 1])
                    base = f"{parent}.{base}" if base else parent
                todo.append(base)
                todo += [f"{base}.{alias.name}" for alias in node.names]  # `from . import progress`
            elif isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names]
    return {name for name in seen if name in sys.modules}


def entry_key(kind: str, key: Any, *, weights: str, module: str) -> str:
    """The sha256 naming an entry: ``kind``, ``repr(key)``, the model's weights (``memo.weights_digest``)
    and the code of ``module``."""
    fields = {"kind": kind, "key": repr(key), "weights": weights, "code": code_digest(module)}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


# -- entries --------------------------------------------------------------------------------------


def cached(kind: str, key: str, compute: Callable[[], T], *, describe: str = "") -> T:
    """The value of entry ``key`` (an `entry_key`): read when the cache has a good copy, else computed
    by ``compute()`` and written. Off: ``compute()``. Concurrent callers of one key compute it once:
    the others wait for the first and read its entry."""
    current = settings()
    if current.root is None:
        return compute()
    folder = _folder(current, kind, key)
    if current.reads:
        found = _read(folder)
        if found is not _MISSING:
            return found
    with _locked(folder):
        if current.reads:  # another process may have written it while this one waited
            found = _read(folder)
            if found is not _MISSING:
                return found
        value = compute()
        _write(folder, value, kind=kind, describe=describe)
    return value


def sharded(kind: str, keys: list[str], compute: Callable[[int], T], *, describe: str = "") -> list[T]:
    """The values of entries ``keys``, shard ``i`` computed by ``compute(i)`` when the cache lacks it.

    Processes that need the same shards share the work: each computes the shards that no other is
    computing (starting at its own offset, from ``$PYTEST_XDIST_WORKER``), then reads the others' as
    they are written. Without a cache every shard is computed here.
    """
    current = settings()
    if current.root is None:
        return [compute(i) for i in range(len(keys))]
    values: dict[int, T] = {}
    waiting = []
    start = _worker_offset(len(keys))
    for i in [*range(start, len(keys)), *range(start)]:
        folder = _folder(current, kind, keys[i])
        found = _read(folder) if current.reads else _MISSING
        if found is not _MISSING:
            values[i] = found
            continue
        release = try_lock(kind, keys[i])
        if release is None:  # another process is computing it
            waiting.append(i)
            continue
        try:
            found = _read(folder) if current.reads else _MISSING
            values[i] = found if found is not _MISSING else compute(i)
            if found is _MISSING:
                _write(folder, values[i], kind=kind, describe=f"{describe} shard {i + 1} of {len(keys)}")
        finally:
            release()
    for i in waiting:
        values[i] = cached(kind, keys[i], lambda: compute(i), describe=f"{describe} shard {i + 1} of {len(keys)}")
    return [values[i] for i in range(len(keys))]


def _worker_offset(n: int) -> int:
    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if not (worker.startswith("gw") and worker[2:].isdigit() and count.isdigit() and int(count) > 0):
        return 0
    return int(worker[2:]) % int(count) * n // int(count)


_MISSING = object()


def _read(folder: Path) -> Any:
    meta_path, value_path = folder / "meta.json", folder / "value.pt"
    if not meta_path.is_file():
        return _MISSING
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        actual = sha256_file(value_path)
        if actual != meta["sha256"]:
            raise ValueError(f"value.pt has sha256 {actual}, meta.json records {meta['sha256']}")
        content = torch.load(value_path, map_location="cpu", weights_only=True)
        if not isinstance(content, dict) or content.get("format") != FORMAT or content.get("version") != VERSION:
            raise ValueError(f"not a {FORMAT} file of version {VERSION}")
        return _decode(json.loads(content["tree"]), content["tensors"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError, EOFError,
            pickle.UnpicklingError, zipfile.BadZipFile) as error:
        warnings.warn(f"cache entry {folder} is unusable ({type(error).__name__}: {error}); recomputing it",
                      CacheWarning, stacklevel=3)
        _remove(folder)
        return _MISSING


def _write(folder: Path, value: Any, *, kind: str, describe: str) -> None:
    try:
        tensors: list[torch.Tensor] = []
        tree = json.dumps(_encode(value, tensors))
    except TypeError as error:
        warnings.warn(f"cache: {kind} not stored ({error})", CacheWarning, stacklevel=3)
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".part"))
    try:
        value_path = staging / "value.pt"
        torch.save({"format": FORMAT, "version": VERSION, "tree": tree, "tensors": tensors}, value_path)
        meta = {"format": FORMAT, "version": VERSION, "kind": kind, "describe": describe,
                "sha256": sha256_file(value_path), "bytes": value_path.stat().st_size,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (staging / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        os.chmod(staging, 0o755)
        if folder.exists():  # refresh, or an entry removed as unusable and rewritten by another process
            _remove(folder)
        try:
            os.rename(staging, folder)
        except OSError:
            if not (folder / "meta.json").is_file():
                raise
            # another process put the same entry in place first: keep its copy
    except OSError as error:
        warnings.warn(f"cache entry {folder} could not be written ({error.strerror or error}); "
                      f"the value is used without being stored", CacheWarning, stacklevel=3)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remove(folder: Path) -> None:
    # renamed aside first, so that no reader sees a half-deleted entry
    try:
        aside = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".old"))
        os.replace(folder, aside / "entry")
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def _folder(current: Settings, kind: str, key: str) -> Path:
    return current.root / _safe(kind) / key[:2] / key


def _lock_file(folder: Path):
    folder.parent.mkdir(parents=True, exist_ok=True)
    return open(folder.parent / f"{folder.name}.lock", "a")


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder``'s entry, across processes (released when the process dies)."""
    with _lock_file(folder) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def exclusive(kind: str, name: str) -> Iterator[None]:
    """Hold lock ``name`` of ``kind`` across this machine's processes (none when the cache is off): for
    work that fills another cache, such as synthesizing a corpus, done once while the others wait."""
    current = settings()
    if current.root is None:
        yield
        return
    with _locked(current.root / _safe(kind) / hashlib.sha256(name.encode()).hexdigest()):
        yield


def try_lock(kind: str, key: str) -> Optional[Callable[[], None]]:
    """Take entry ``key``'s lock without waiting: its release function, or None when another process
    holds it (it is computing that entry)."""
    current = settings()
    if current.root is None:
        return lambda: None
    handle = _lock_file(_folder(current, kind, key))
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None

    def release() -> None:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()

    return release


def _safe(kind: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in kind)


# -- values: a plain tree of JSON and tensors, read back without unpickling code ------------------


def _encode(value: Any, tensors: list) -> Any:
    if value is None or isinstance(value, (bool, int, str, float)):
        return value
    if isinstance(value, list):
        return [_encode(v, tensors) for v in value]
    if isinstance(value, tuple):
        return {"t": "tuple", "v": [_encode(v, tensors) for v in value]}
    if isinstance(value, dict):
        return {"t": "dict", "items": [[_encode(k, tensors), _encode(v, tensors)] for k, v in value.items()]}
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        whole = tensor.is_contiguous() and tensor.storage_offset() == 0 \
            and tensor.untyped_storage().nbytes() == tensor.numel() * tensor.element_size()
        tensors.append(tensor if whole else tensor.clone())  # a view would store its whole base
        return {"t": "tensor", "i": len(tensors) - 1}
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "US":
            return {"t": "ndarray_text", "dtype": value.dtype.str, "shape": list(value.shape),
                    "v": value.ravel().tolist()}
        if value.dtype.kind not in "biuf":
            raise TypeError(f"numpy array of dtype {value.dtype} cannot be stored")
        tensors.append(torch.from_numpy(np.ascontiguousarray(value)).clone())
        return {"t": "ndarray", "i": len(tensors) - 1, "dtype": value.dtype.str}
    if isinstance(value, np.generic):
        return {"t": "npscalar", "dtype": value.dtype.str, "v": value.item()}
    cls = type(value)
    name = f"{cls.__module__}:{cls.__qualname__}"
    if not cls.__module__.startswith(PACKAGE + "."):
        raise TypeError(f"a {name} cannot be stored")
    if dataclasses.is_dataclass(value):
        return {"t": "dataclass", "cls": name,
                "fields": {f.name: _encode(getattr(value, f.name), tensors) for f in dataclasses.fields(value)}}
    if hasattr(value, "to_plain") and hasattr(cls, "from_plain"):
        return {"t": "plain", "cls": name, "v": _encode(value.to_plain(), tensors)}
    raise TypeError(f"a {name} cannot be stored")


def _decode(tree: Any, tensors: list) -> Any:
    if isinstance(tree, list):
        return [_decode(v, tensors) for v in tree]
    if not isinstance(tree, dict):
        return tree
    tag = tree["t"]
    if tag == "tuple":
        return tuple(_decode(v, tensors) for v in tree["v"])
    if tag == "dict":
        return {_decode(k, tensors): _decode(v, tensors) for k, v in tree["items"]}
    if tag == "tensor":
        return tensors[tree["i"]]
    if tag == "ndarray":
        return tensors[tree["i"]].numpy().astype(np.dtype(tree["dtype"]), copy=False)
    if tag == "ndarray_text":
        return np.array(tree["v"], dtype=np.dtype(tree["dtype"])).reshape(tree["shape"])
    if tag == "npscalar":
        return np.dtype(tree["dtype"]).type(tree["v"])
    cls = _package_class(tree["cls"])
    if tag == "dataclass":
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{tree['cls']} is not a dataclass")
        value = cls.__new__(cls)
        for name, field_tree in tree["fields"].items():
            object.__setattr__(value, name, _decode(field_tree, tensors))
        return value
    if tag == "plain":
        return cls.from_plain(_decode(tree["v"], tensors))
    raise ValueError(f"unknown tag {tag!r}")


def _package_class(name: str) -> type:
    module, _, qualname = name.partition(":")
    if not module.startswith(PACKAGE + ".") or "." in qualname:
        raise TypeError(f"{name} is not a class of {PACKAGE}")
    cls = getattr(import_module(module), qualname, None)
    if not isinstance(cls, type):
        raise TypeError(f"{name} is not a class of {PACKAGE}")
    return cls
