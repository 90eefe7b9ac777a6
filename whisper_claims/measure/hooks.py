"""Collecting activations by Whisper's own dotted module names, with hooks that are always removed."""
from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from ..errors import did_you_mean

_LAYER = re.compile(r"(encoder|decoder)\.blocks\.(\d+)(\.mlp\.1)?")


def layer_name(side: str, block: int, neurons: bool = False) -> str:
    """openai-whisper's dotted name of a block (its residual output, ``encoder.blocks.3``) or of its
    post-GELU MLP neurons (``encoder.blocks.2.mlp.1``)."""
    return f"{side}.blocks.{block}" + (".mlp.1" if neurons else "")


def parse_layer(name: str) -> tuple[str, int, bool] | None:
    """``(side, block, neurons)`` of a name `layer_name` writes; None for any other name."""
    match = _LAYER.fullmatch(name)
    if match is None:
        return None
    return match.group(1), int(match.group(2)), match.group(3) is not None


def named_module(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (e.g. ``"encoder.blocks.2.mlp.1"``); a typo names close matches."""
    modules = dict(model.named_modules())
    if name not in modules:
        hint = did_you_mean(name, modules, n=3, quote=False)
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
