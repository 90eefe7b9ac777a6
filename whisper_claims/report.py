"""Recording verdicts during a run and writing them out: the summary table and ``claims.json``."""
from __future__ import annotations

import hashlib
import json
import platform
import re
import subprocess
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from .fetch import atomic_path, sha256_file
from .models import ModelInfo
from .registry import ClaimSpec, default_thresholds_path
from .verdict import Verdict, jsonable

SCHEMA = "whisper-claims/claims.json"
SCHEMA_VERSION = 1
_UNSAFE = re.compile(r"[^a-z0-9._-]+")
PACKAGES = ("whisper-claims", "openai-whisper", "torch", "numpy", "scipy", "jiwer", "soundfile", "pytest")


@dataclass
class ClaimsRecord:
    """What one run has learnt: the registry, the model specs, and a verdict per claim × model."""

    registry: dict[str, ClaimSpec]
    specs: list[str]
    thresholds_path: Path = field(default_factory=default_thresholds_path)
    verdicts: dict[tuple[str, str], Verdict] = field(default_factory=dict)
    models: dict[str, ModelInfo] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)  # spec -> reason
    document: dict[str, Any] | None = None  # the claims.json content, built once at the end of the run
    written: Path | None = None  # the claims.json this run wrote
    report_error: str | None = None  # why claims.md, badges or report.html could not be built
    baseline: tuple[Path, dict[str, Any]] | None = None  # --claims-baseline: its path and document

    def add(self, verdict: Verdict) -> None:
        # a claim tested by several functions keeps its worst verdict
        key = (verdict.claim, verdict.model)
        previous = self.verdicts.get(key)
        if previous is None or _rank(verdict) > _rank(previous):
            self.verdicts[key] = verdict

    def rows(self) -> list[Verdict]:
        return [self.verdicts[key] for key in sorted(self.verdicts)]


def _rank(verdict: Verdict) -> int:
    return {"skipped": 0, "holds": 1, "fails": 2, "error": 3}[verdict.status]


def shown_metric(row: dict[str, Any], key_metric: str) -> tuple[str, dict[str, Any]] | None:
    """The metric a table cell shows: the key metric, except for a claim that fails, whose cell shows
    the metric that failed (the key metric when it failed, else the first that did); None for a row
    without measured metrics."""
    metrics = row.get("metrics") or {}
    if row.get("status") in ("skipped", "error") or not metrics:
        return None
    name = key_metric
    if row.get("status") == "fails" and (metrics.get(key_metric) or {}).get("passed") is not False:
        name = next((n for n, m in metrics.items() if m.get("passed") is False), key_metric)
    metric = metrics.get(name)
    if metric is None or metric.get("value") is None:
        return None
    return name, metric


def metric_text(row: dict[str, Any], key_metric: str) -> str:
    """``name=value (comparator threshold)`` of ``shown_metric``, or ``""``."""
    shown = shown_metric(row, key_metric)
    if shown is None:
        return ""
    name, metric = shown
    return f"{name}={metric['value']:.3g} ({metric['comparator']} {metric['threshold']:.3g})"


def cell(row: dict[str, Any] | None, key_metric: str) -> str:
    """One table cell: the status and, when measured, the metric ``shown_metric`` picks against its threshold."""
    if row is None:
        return "not run"
    text = metric_text(row, key_metric)
    return f"{row['status']} {text}" if text else row["status"]


def summary_table(document: dict[str, Any]) -> list[str]:
    """Lines of a claim × model table from a ``claims.json`` document, then the reasons behind
    skips, failures and errors."""
    rows = {(row["claim"], row["model"]): row for row in document["rows"]}
    claims = sorted({claim for claim, _ in rows})
    specs = [m["spec"] for m in document["run"]["models"]]
    models = [spec for spec in specs if any(m == spec for _, m in rows)]
    models += sorted({m for _, m in rows} - set(models))
    header = ["claim"] + models
    table = [[claim] + [cell(rows.get((claim, m)), document["claims"][claim]["key_metric"]) for m in models]
             for claim in claims]
    widths = [max(len(r[i]) for r in [header] + table) for i in range(len(header))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(r, widths)).rstrip() for r in [header] + table]
    reasons: dict[str, list[str]] = {}
    for row in document["rows"]:
        if row["status"] != "holds" and row["reason"]:
            reasons.setdefault(f"{row['model']}: {row['reason']}", []).append(row["claim"])
    for reason, claim_ids in reasons.items():
        lines.append(f"- [{', '.join(claim_ids)}] {reason}")
    lines += baseline_lines(document)
    return lines


def baseline_lines(document: dict[str, Any]) -> list[str]:
    """What changed against ``--claims-baseline``, regressions first; nothing without a baseline."""
    baseline = document.get("baseline")
    if not baseline:
        return []
    changes = sorted(baseline["changes"], key=lambda c: (c["kind"] != "regression", c["kind"], c["claim"], c["model"]))
    regressions = sum(c["kind"] == "regression" for c in changes)
    lines = [f"against baseline {baseline['path']}: {regressions} regression(s), {len(changes)} change(s)"]
    for c in changes:
        lines.append(f"  {c['kind'].upper() if c['kind'] == 'regression' else c['kind']}: {c['claim']} on "
                     f"{c['model']}: {c['before']} → {c['after']}; {c['detail']}")
    return lines


def run_metadata(record: ClaimsRecord, rootdir: Path | None = None) -> dict[str, Any]:
    """What a reader needs to reproduce the run: versions, threads, models with their sha256, commit."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    thresholds = Path(record.thresholds_path)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "torch_threads": torch.get_num_threads(),
        "git_commit": git_commit(rootdir or Path.cwd()),
        "thresholds": {"path": str(thresholds),
                       "sha256": sha256_file(thresholds) if thresholds.is_file() else None},
        "models": [
            asdict(record.models[spec]) if spec in record.models
            else {"spec": spec, "unavailable": record.unavailable.get(spec, "not loaded in this run")}
            for spec in record.specs
        ],
    }


def git_commit(directory: Path) -> str | None:
    """The checked-out commit of ``directory``, or None outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def claims_document(record: ClaimsRecord, rootdir: Path | None = None) -> dict[str, Any]:
    """The ``claims.json`` content: schema, run metadata, one row per claim × model (sorted)."""
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "run": run_metadata(record, rootdir),
        "claims": {
            claim_id: {"statement": spec.statement, "section": spec.section, "marker": spec.marker,
                       "key_metric": spec.key_metric, "post_figures": list(spec.post_figures),
                       **({"post_transcripts": dict(spec.post_transcripts)} if spec.post_transcripts else {})}
            for claim_id, spec in record.registry.items()
        },
        "rows": [verdict.to_json() for verdict in record.rows()],
    }


def write_claims_json(document: dict[str, Any], directory: Path) -> Path:
    """Write a ``claims_document`` as ``directory/claims.json`` atomically (temporary file, then rename)."""
    path = Path(directory) / "claims.json"
    text = json.dumps(jsonable(document), indent=2, ensure_ascii=False, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return path


def read_claims_json(path: Path) -> dict[str, Any]:
    """Read a ``claims.json`` and check its schema; errors name the file."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable claims.json ({error})") from None
    if document.get("schema") != SCHEMA or document.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema {document.get('schema')!r} version {document.get('schema_version')!r}, "
                         f"expected {SCHEMA!r} version {SCHEMA_VERSION}")
    return document


def safe_name(text: str) -> str:
    """A file name for a claim id or model spec, the same on every run and every file system.

    Lower-case letters, digits, ``.``, ``_`` and ``-`` are kept; anything else (``:`` of
    ``random:tiny:3``, ``/`` of a checkpoint path, upper case) becomes ``-``, and then the first
    12 hex digits of the text's sha256 are appended so that ``random:tiny:3`` and ``random-tiny-3``
    cannot share a file. Official names (``tiny``, ``large-v3``, ``tiny.en``) are unchanged.
    """
    slug = _UNSAFE.sub("-", text.lower()).strip("-.")[:60].strip("-.")
    if slug == text and slug:
        return slug
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return f"{slug}-{digest}" if slug else digest
