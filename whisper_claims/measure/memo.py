"""Results computed once per model and reused by every claim of a run (clip features, padding, relevance);
the expensive ones also kept on disk between runs (``persist``, see `intermediates`)."""
from __future__ import annotations

from typing import Any, Callable, Hashable, Optional, TypeVar
from weakref import WeakKeyDictionary

from torch import nn

from ..models.load import parameters_sha256
from . import intermediates

T = TypeVar("T")

_CACHE: "WeakKeyDictionary[nn.Module, dict[Hashable, Any]]" = WeakKeyDictionary()
_STATE = object()  # the key under which an entry remembers the weights it was computed from
_STATE_DIGEST = "parameters sha256"


def _weights_state(model: nn.Module) -> tuple:
    # a parameter changed in place bumps its _version; a replaced parameter has a new id
    return tuple((id(p), p._version) for p in model.parameters())


def per_model(model: nn.Module, key: Hashable, compute: Callable[[], T], *, persist: Optional[str] = None) -> T:
    """``compute()`` once per model, weights and ``key``; later calls return the same object.

    With ``persist`` (an entry kind, e.g. ``"corpus-pass"``), the value is also read from and written to
    the disk cache (`intermediates.cached`), named by the model's parameters sha256, ``repr(key)`` and the
    code of ``compute``'s module: ``key`` must then name every input by its content (digests, not
    objects), as it must for this in-process cache.

    The cache holds the model weakly: results go when the model does. When any parameter has
    changed since (in place or replaced), every result of that model is recomputed.
    Callers must not change what they get back; copy it first.
    """
    entry = _CACHE.get(model)
    state = _weights_state(model)
    if entry is None or entry.get(_STATE) != state:
        entry = {_STATE: state}
        _CACHE[model] = entry
    if key not in entry:
        entry[key] = compute() if persist is None else _on_disk(model, persist, key, compute)
    return entry[key]


def weights_digest(model: nn.Module) -> str:
    """``<parameters sha256>@<device>`` (``models.parameters_sha256``), computed once per weights: what a
    value on disk was computed from (the device too: a GPU's value is not the CPU's to the last bit)."""
    digest = per_model(model, _STATE_DIGEST, lambda: parameters_sha256(model))
    return f"{digest}@{next(model.parameters()).device}"


def _on_disk(model: nn.Module, kind: str, key: Hashable, compute: Callable[[], T]) -> T:
    name = intermediates.entry_key(kind, key, weights=weights_digest(model), module=compute.__module__)
    return intermediates.cached(kind, name, compute, describe=repr(key)[:300])


def clear(model: nn.Module | None = None) -> None:
    """Forget the results of one model, or of every model."""
    if model is None:
        _CACHE.clear()
    else:
        _CACHE.pop(model, None)
