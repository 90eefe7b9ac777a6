"""Comparing a run with an earlier ``claims.json``: regressions, improvements, new and removed claims.

A claim × model is a **regression** when it held in the baseline and now fails or errors, or when its
key metric moved further than the key metric's ``tolerance`` in the thresholds file. A claim that now
holds where it failed is an **improvement**. Claims present on one side only are **new** or
**removed**. Rows skipped on either side (no weights, claim does not apply) are not compared.

Apart from changes, every row present in both runs is compared value by value: a rerun of the same
code on the same machine must reproduce its records exactly, so rows whose numbers moved within their
tolerance are listed too (``Difference``), without failing the run.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .claims_json import read_document
from .files import sha256_file
from .registry import ClaimSpec
from .verdict import jsonable

KINDS = ("regression", "improvement", "new", "removed")
JUDGED = ("holds", "fails", "error")


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
class Difference:
    """A row present in both runs whose values are not all equal (status, reason, metrics, evidence)."""

    claim: str
    model: str
    n_values: int  # how many values differ (leaves of the row's JSON)
    first: tuple[str, ...]  # the first few, as "path: before → after"


N_SHOWN = 3  # values shown per differing row
SHOWN_CHARS = 60  # of each value (transcripts and captions are long)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 1] + "…"


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _leaves(item, f"{path}.{key}" if path else key).items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _leaves(item, f"{path}[{i}]").items()}
    return {path: value}


def differences(baseline: dict[str, Any], current: dict[str, Any]) -> tuple[int, list[Difference]]:
    """How many rows both documents have, and those of them that are not identical, sorted by claim and model."""
    before = {(r["claim"], r["model"]): r for r in baseline["rows"]}
    # as claims.json will hold them: tuples as lists, non-finite floats as None
    after = {(r["claim"], r["model"]): jsonable(r) for r in current["rows"]}
    shared = sorted(set(before) & set(after))
    found = []
    for key in shared:
        if before[key] == after[key]:
            continue
        old, new = _leaves(before[key]), _leaves(after[key])
        moved = [f"{path}: {_shown(old.get(path, 'absent'))} → {_shown(new.get(path, 'absent'))}"
                 for path in sorted(set(old) | set(new)) if old.get(path, "absent") != new.get(path, "absent")]
        found.append(Difference(key[0], key[1], len(moved), tuple(moved[:N_SHOWN])))
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
    before = {(r["claim"], r["model"]): r for r in baseline["rows"]}
    after = {(r["claim"], r["model"]): r for r in current["rows"]}
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


def baseline_section(path: Path, changes: list[Change], n_compared: int = 0,
                     differing: list[Difference] = ()) -> dict[str, Any]:
    """What claims.json records of the comparison: the baseline file, its sha256, the changes, and how
    many of the rows both runs have are identical (the others listed)."""
    return {"path": str(path), "sha256": sha256_file(path), "changes": [asdict(c) for c in changes],
            "rows_compared": n_compared, "rows_differing": [asdict(d) for d in differing]}


def load_baseline(path: str | Path) -> dict[str, Any]:
    """Read a baseline claims.json with the checks ``whisper-claims report`` makes (``claims_json.read_document``);
    errors (ValueError) name the file and the entry at fault."""
    return read_document(path)
