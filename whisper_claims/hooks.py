"""Collecting activations by Whisper's own dotted module names, with hooks that are always removed."""
from __future__ import annotations

import difflib
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


def named_module(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (e.g. ``"encoder.blocks.2.mlp.1"``); a typo names close matches."""
    modules = dict(model.named_modules())
    if name not in modules:
        close = difflib.get_close_matches(name, list(modules), n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise KeyError(f"no module {name!r} in {type(model).__name__}{hint}")
    return modules[name]


@contextmanager
def capture(model: nn.Module, module_names: list[str] | tuple[str, ...] | str) -> Iterator[dict[str, list[torch.Tensor]]]:
    """Record the outputs of named modules during the forward passes run inside the block.

    ``encoder.blocks.2.mlp.1`` is the GELU of ``blocks[2].mlp``: the post-GELU neurons, not the MLP output.

    Yields
    ------
    dict
        ``name -> list`` of detached output tensors, one per call of that module, in call order.
        The hooks are removed on exit, also when the block raises.
    """
    names = [module_names] if isinstance(module_names, str) else list(module_names)
    modules = {name: named_module(model, name) for name in names}  # fail before any hook is added
    records: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    handles = []
    try:
        for name, module in modules.items():
            def hook(_module, _inputs, output, name=name):
                records[name].append(output.detach())
            handles.append(module.register_forward_hook(hook))
        yield records
    finally:
        for handle in handles:
            handle.remove()
