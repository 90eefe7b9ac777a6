"""Comparing a run with an earlier ``claims.json``: regressions, improvements, new and removed claims.

A claim × model is a **regression** when it held in the baseline and now fails or errors, or when its
key metric moved further than the key metric's ``tolerance`` in the thresholds file. A claim that now
holds where it failed is an **improvement**. Claims present on one side only are **new** or
**removed**. Rows skipped on either side (no weights, claim does not apply) are not compared.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .claims_json import read_document
from .files import sha256_file
from .registry import ClaimSpec

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


def baseline_section(path: Path, changes: list[Change]) -> dict[str, Any]:
    """What claims.json records of the comparison: the baseline file, its sha256 and the changes."""
    return {"path": str(path), "sha256": sha256_file(path), "changes": [asdict(c) for c in changes]}


def load_baseline(path: str | Path) -> dict[str, Any]:
    """Read a baseline claims.json with the checks ``whisper-claims report`` makes (``claims_json.read_document``);
    errors (ValueError) name the file and the entry at fault."""
    return read_document(path)
