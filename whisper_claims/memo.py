"""Results computed once per model and reused by every claim of a run (clip features, padding, relevance)."""
from __future__ import annotations

from typing import Any, Callable, Hashable, TypeVar
from weakref import WeakKeyDictionary

from torch import nn

T = TypeVar("T")

_CACHE: "WeakKeyDictionary[nn.Module, dict[Hashable, Any]]" = WeakKeyDictionary()
_STATE = object()  # the key under which an entry remembers the weights it was computed from


def _weights_state(model: nn.Module) -> tuple:
    # a parameter changed in place bumps its _version; a replaced parameter has a new id
    return tuple((id(p), p._version) for p in model.parameters())


def per_model(model: nn.Module, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()`` once per model, weights and ``key``; later calls return the same object.

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
        entry[key] = compute()
    return entry[key]


def clear(model: nn.Module | None = None) -> None:
    """Forget the results of one model, or of every model."""
    if model is None:
        _CACHE.clear()
    else:
        _CACHE.pop(model, None)
