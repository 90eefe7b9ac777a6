"""torch's threads while a claim is measured: one, except in computations whose numbers do not depend on them.

A small matrix product (a decoder step, a backward pass through attention) sums in another order on two
threads than on one: logits move in the 6th digit and relevance in the 8th, so a claim's numbers would
depend on the machine's cores. Every claim is therefore measured on `CLAIM_THREADS` thread; a run gains
speed from processes (``pytest -n 2``, `whisper_claims.claims.distribute`). The encoder pass over a corpus, whose
products have 1,500 rows and give the same bits on any number of threads (tests/test_threads.py), runs on
the threads the process had (`invariant`), so that a serial run keeps both cores for its largest cost.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

import torch

CLAIM_THREADS = 1
_outside: Optional[int] = None  # the process's threads while a claim holds them at CLAIM_THREADS


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to ``n`` inside the block, restored after it."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def claim_threads() -> Iterator[None]:
    """Measure a claim on `CLAIM_THREADS` thread (`invariant` blocks inside use the process's)."""
    global _outside
    previous, _outside = _outside, torch.get_num_threads()
    try:
        with torch_threads(CLAIM_THREADS):
            yield
    finally:
        _outside = previous


@contextmanager
def invariant() -> Iterator[None]:
    """For a computation whose numbers are the same on any number of threads: the process's threads
    even inside `claim_threads`."""
    with torch_threads(_outside or torch.get_num_threads()):
        yield
