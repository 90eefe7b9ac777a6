"""Comparing a run with an earlier ``claims.json``: regressions, improvements, new and removed claims.

A claim × model is a **regression** when it held in the baseline and now fails, is inconclusive or errors,
or when its key metric moved further than the key metric's ``tolerance`` in the thresholds file. A claim
that now holds where it failed or was inconclusive is an **improvement**; between fails and inconclusive
only the key metric's tolerance is checked. Claims present on one side only are **new** or
**removed**. Rows skipped on either side (no weights, claim does not apply) are not compared.

Apart from changes, every row of both runs is compared value by value (``differences``): a rerun of
the same code on the same machine must reproduce its records exactly, so rows whose numbers moved
within their tolerance are listed too, without failing the run.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..claims.registry import ClaimSpec
from ..claims.verdict import REPORT_EVIDENCE, jsonable
from ..files import sha256_file
from .claims_json import read_document

KINDS = ("regression", "improvement", "new", "removed")
JUDGED = ("holds", "fails", "inconclusive", "error")


@dataclass(frozen=True)
class Change:
    """One difference between the baseline and this run for one claim × model."""

    claim: str
    model: str
    kind: str  # one of KINDS
    before: str  # baseline status, or "absent"
    after: str  # this run's status, or "absent"
    detail: str

    def describe(self) -> str:
        return f"{self.kind}: {self.claim} on {self.model}: {self.before} → {self.after}; {self.detail}"


@dataclass(frozen=True)
class RowDifference:
    """A row of both runs whose values are not all equal (status, reason, metrics, evidence)."""

    claim: str
    model: str
    n_differing: int  # values (leaves of the row's JSON) that differ
    shown: tuple[str, ...]  # the first of them in the row's order, as "path: before → after"


N_SHOWN = 3  # values shown per differing row
SHOWN_CHARS = 60  # of each value (transcripts and captions are long)


class _Absent:
    def __repr__(self) -> str:
        return "absent"


ABSENT = _Absent()  # a value on one side only (not the JSON string "absent", not null)


def _shown(value: Any) -> str:
    text = repr(value) if value is ABSENT else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 1] + "…"


def _leaves(value: Any, path: tuple = ()) -> dict[tuple, Any]:
    """Path (a tuple of keys and indices, so that keys holding dots stay apart) → value, in the row's
    order; an empty object or list is a leaf of its own."""
    if isinstance(value, dict) and value:
        return {k: v for key, item in value.items() for k, v in _leaves(item, path + (key,)).items()}
    if isinstance(value, list) and value:
        return {k: v for i, item in enumerate(value) for k, v in _leaves(item, path + (i,)).items()}
    return {path: value}


def _dotted(path: tuple) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" if i else part
                   for i, part in enumerate(path))


def _by_key(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["claim"], r["model"]): r for r in document["rows"]}


def _comparable(row: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    # a run without --claims-report lists no figures or audio: only what both runs drew is compared
    evidence, theirs = row.get("evidence", {}), other.get("evidence", {})
    dropped = {key for key in REPORT_EVIDENCE if key in evidence and key not in theirs}
    row = {**row, "evidence": {k: v for k, v in evidence.items() if k not in dropped}} if dropped else row
    return _without_one_sided_fixed(row, other)


def _without_one_sided_fixed(row: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    # records written before metrics said when their threshold was fixed have no "fixed": that is no change
    metrics, theirs = row.get("metrics") or {}, other.get("metrics") or {}
    one_sided = {name for name, metric in metrics.items()
                 if isinstance(metric, dict) and "fixed" in metric
                 and not (isinstance(theirs.get(name), dict) and "fixed" in theirs[name])}
    if not one_sided:
        return row
    return {**row, "metrics": {name: {k: v for k, v in metric.items() if k != "fixed"} if name in one_sided
                               else metric for name, metric in metrics.items()}}


def differences(baseline: dict[str, Any], current: dict[str, Any]) -> tuple[int, list[RowDifference]]:
    """How many rows the two documents share, and those of them that are not identical (sorted by
    claim and model).

    Rows skipped in both runs are not compared: their reasons name this machine's folders. A report
    folder's evidence (figures, audio) is compared only when both runs wrote one, and a metric's ``fixed``
    (when its threshold was fixed) only when both rows have it: older records were written without it.
    """
    before = _by_key(baseline)
    # as claims.json will hold them: tuples as lists, non-finite floats as None
    after = {key: jsonable(row) for key, row in _by_key(current).items()}
    shared = sorted(key for key in set(before) & set(after)
                    if not (before[key]["status"] == after[key]["status"] == "skipped"))
    found = []
    for key in shared:
        old = _comparable(before[key], after[key])
        new = _comparable(after[key], before[key])
        if old == new:
            continue
        a, b = _leaves(old), _leaves(new)
        paths = [*a, *(path for path in b if path not in a)]
        moved = [f"{_dotted(path)}: {_shown(a.get(path, ABSENT))} → {_shown(b.get(path, ABSENT))}"
                 for path in paths if a.get(path, ABSENT) != b.get(path, ABSENT)]
        found.append(RowDifference(key[0], key[1], len(moved), tuple(moved[:N_SHOWN])))
    return len(shared), found


def tolerances(registry: dict[str, ClaimSpec]) -> dict[str, float | None]:
    """Each claim's key-metric tolerance from the thresholds file (None: no drift check)."""
    return {claim_id: spec.metrics[spec.key_metric].tolerance for claim_id, spec in registry.items()}


def _key_value(row: dict[str, Any], key_metric: str) -> float | None:
    value = row.get("metrics", {}).get(key_metric, {}).get("value")
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def compare(baseline: dict[str, Any], current: dict[str, Any],
            drift: dict[str, float | None]) -> list[Change]:
    """The changes from ``baseline`` to ``current`` (two claims.json documents), sorted by claim and model.

    Parameters
    ----------
    drift : dict
        Claim id → allowed absolute change of its key metric (``tolerances(registry)``).
    """
    before, after = _by_key(baseline), _by_key(current)
    changes = []
    for claim in sorted(set(current["claims"]) - set(baseline["claims"])):
        changes.append(Change(claim, "*", "new", "absent", "present", "claim not in the baseline's thresholds"))
    for claim in sorted(set(baseline["claims"]) - set(current["claims"])):
        changes.append(Change(claim, "*", "removed", "present", "absent", "claim no longer in the thresholds"))

    for key in sorted(set(before) & set(after)):
        old, new = before[key], after[key]
        if old["status"] not in JUDGED or new["status"] not in JUDGED or key[0] not in current["claims"]:
            continue
        claim, model = key
        key_metric = current["claims"][claim]["key_metric"]
        if old["status"] == "holds" and new["status"] != "holds":
            changes.append(Change(claim, model, "regression", old["status"], new["status"],
                                  new.get("reason") or "no longer holds"))
            continue
        if old["status"] != "holds" and new["status"] == "holds":
            changes.append(Change(claim, model, "improvement", old["status"], new["status"], "now holds"))
            continue
        tolerance = drift.get(claim)
        a, b = _key_value(old, key_metric), _key_value(new, key_metric)
        if tolerance is not None and a is not None and b is not None and abs(b - a) > tolerance:
            changes.append(Change(claim, model, "regression", old["status"], new["status"],
                                  f"{key_metric} moved {a:.4g} → {b:.4g} (|Δ| {abs(b - a):.3g} > tolerance "
                                  f"{tolerance:.3g})"))
    return changes


def baseline_section(path: Path, changes: list[Change],
                     compared: tuple[int, list[RowDifference]]) -> dict[str, Any]:
    """What claims.json records of the comparison: the baseline file, its sha256, the changes, and how
    many rows were compared value by value with those that differ (``differences``)."""
    n_compared, differing = compared
    return {"path": str(path), "sha256": sha256_file(path), "changes": [asdict(c) for c in changes],
            "rows_compared": n_compared, "rows_differing": [jsonable(asdict(d)) for d in differing]}


def load_baseline(path: str | Path) -> dict[str, Any]:
    """Read a baseline claims.json with the checks ``whisper-claims report`` makes (``claims_json.read_document``);
    errors (ValueError) name the file and the entry at fault."""
    return read_document(path)
