"""Claims spread over pytest-xdist workers: groups, threads per worker, the order groups are handed out,
and the rows workers send back to the controller.

A group is what one worker runs start to end. Claims of a model share intermediates (a clip's encode, the
corpus pass): without the disk cache they can share them only in one process, so a group is a model
spec; with it (`intermediates`), a group is a model and a claim function, and a worker that needs what
another is computing waits for its entry (the corpus pass is computed in shards by every worker that
needs it). Groups that need the corpus pass go first, then those with slow claims, larger models first,
so that no long group starts last.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Optional

from ..measure.intervals import Interval
from ..models.dims import KNOWN_DIMS
from ..models.model_info import ModelInfo
from .registry import ClaimSpec, Fixed
from .verdict import MetricResult, Verdict

SEPARATOR = "::"
WORKER_OUTPUT = "whisper_claims"  # the key of xdist's workeroutput that carries a worker's rows


def group(spec: str, claim: ClaimSpec, shared_on_disk: bool) -> str:
    """The xdist group of ``claim`` on model ``spec``."""
    return f"{spec}{SEPARATOR}{claim.function.rpartition(':')[2]}" if shared_on_disk else spec


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover  (not Linux)
        return os.cpu_count() or 1


def threads_per_worker(n_workers: int) -> int:
    """torch threads for each of ``n_workers`` workers: the cores shared out, never more threads than cores."""
    return max(1, cores() // max(1, n_workers))


def group_priorities(registry: dict[str, ClaimSpec], specs: dict[str, Optional[str]], shared_on_disk: bool) \
        -> dict[str, tuple]:
    """Every group of this run (model specs → their sizes) with its priority, higher first: groups whose
    claims share the corpus pass (``pass_layers`` in their params: every worker that needs the pass
    computes a share of it, so they had best need it at once), then groups holding slow claims, then
    larger models (encoder width × layers)."""
    priorities: dict[str, tuple] = {}
    for spec, size in specs.items():
        dims = KNOWN_DIMS.get(size or "")
        width = dims.n_audio_state * dims.n_audio_layer if dims is not None else 0
        for claim in registry.values():
            name = group(spec, claim, shared_on_disk)
            shares_pass, slow, _ = priorities.get(name, (False, False, width))
            priorities[name] = (shares_pass or "pass_layers" in claim.params, slow or claim.slow, width)
    return priorities


def name_by_group(item, name: str) -> None:
    """Give a worker's test a node id that names its group, ``<path>::<test>[<model>@<group>]``.

    xdist 3.8 appends ``@<group>`` by setting ``item._nodeid``, which pytest 9.2 no longer reads (a node
    id is a structured ``NodeId`` now, in ``item._id``): without this every test would be its own group.
    The group goes inside the brackets, where ``NodeId`` keeps parameters.
    """
    node_id = getattr(item, "_id", None)
    if dataclasses.is_dataclass(node_id) and getattr(node_id, "params", None) and "@" not in node_id.params:
        item._id = dataclasses.replace(node_id, params=f"{node_id.params}@{name}")


def scheduler(config, log, priorities: dict[str, tuple]):
    """xdist's group scheduling, handing out the group of highest priority first (xdist's own hands them
    out by their number of tests, two at a time); tests in no group come after, in collection order."""
    from xdist.scheduler import LoadGroupScheduling  # only where xdist runs the session

    class ClaimScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return nodeid.rpartition("@")[2].removesuffix("]") if "@" in nodeid else nodeid

        def _assign_work_unit(self, node) -> None:
            scope = max(self.workqueue, key=lambda s: priorities.get(s, ()))
            self.workqueue.move_to_end(scope, last=False)
            super()._assign_work_unit(node)

    return ClaimScheduling(config, log)


def worker_output(rows: list[Verdict], models: dict[str, ModelInfo], unavailable: dict[str, str]) -> str:
    """What a worker sends the controller: its rows and the models it loaded (JSON)."""
    return json.dumps({"rows": [v.to_json() for v in rows],
                       "models": {s: dataclasses.asdict(i) for s, i in models.items()}, "unavailable": unavailable})


def read_worker_output(text: str) -> dict[str, Any]:
    """`worker_output` read back: rows as `Verdict`, models as `ModelInfo`."""
    data = json.loads(text)
    return {"rows": [verdict_from_json(row) for row in data["rows"]],
            "models": {spec: ModelInfo(**info) for spec, info in data["models"].items()},
            "unavailable": data["unavailable"]}


def verdict_from_json(row: dict[str, Any]) -> Verdict:
    """The `Verdict` whose ``to_json()`` is ``row``."""
    metrics = tuple(_metric_from_json(name, m) for name, m in row["metrics"].items())
    return Verdict(row["claim"], row["model"], row["status"], metrics, row["evidence"], row["reason"])


def _metric_from_json(name: str, found: dict[str, Any]) -> MetricResult:
    interval, fixed = found.get("interval"), found.get("fixed")
    return MetricResult(name, found["value"], found["comparator"], found["threshold"], found["passed"],
                        found["provenance"],
                        interval=None if interval is None else Interval(
                            interval["low"], interval["high"], interval["method"], interval["n_units"],
                            interval["level"], interval.get("n_resamples", 0), interval.get("seed")),
                        interval_passed=None if interval is None else interval["passed"],
                        fixed=None if fixed is None else Fixed(**fixed))
