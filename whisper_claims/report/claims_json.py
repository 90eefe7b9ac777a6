"""``claims.json``: its schema, writing and reading it with every entry checked, and its rows as text.

Free of torch and of the model loader: ``whisper-claims report`` reads, merges and renders these files alone.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..claims.registry import Fixed
from ..claims.verdict import STATUSES, jsonable
from ..files import atomic_path

SCHEMA = "whisper-claims/claims.json"
SCHEMA_VERSION = 1
CHANGE_KEYS = ("claim", "model", "kind", "before", "after", "detail")  # of baseline.changes[i]
FIXED_KEYS = {"commit", "date", "after_real", "note"}  # of a metric's fixed (registry.Fixed)
CLAIMS_JSON = "claims.json"


def claims_json_text(document: dict[str, Any]) -> str:
    """A ``claims_document`` as the text of its file."""
    return json.dumps(jsonable(document), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_claims_json(document: dict[str, Any], directory: Path) -> Path:
    """Write a ``claims_document`` as ``directory/claims.json`` atomically (temporary file, then rename)."""
    path = Path(directory) / CLAIMS_JSON
    with atomic_path(path) as tmp:
        tmp.write_text(claims_json_text(document), encoding="utf-8")
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


def read_documents(paths: list[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """Read and check ``claims.json`` files.

    Parameters
    ----------
    paths : list of Path
        The files, in merge order (a later file wins for the same claim × model).

    Returns
    -------
    list of (Path, dict)
        Each path with its document, ready for `merge`.

    Raises
    ------
    ValueError
        If a file is unreadable, not JSON, of another schema, or malformed; the message names the
        file and the entry at fault.
    """
    return [(Path(path), read_document(path)) for path in paths]


def read_document(path: str | Path) -> dict[str, Any]:
    """One claims.json, read and checked: the reader of ``whisper-claims report`` and ``--claims-baseline``.

    Raises
    ------
    ValueError
        Naming the file and what is wrong with it (unreadable, not UTF-8, not JSON, another schema, or
        the entry at fault).
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: a folder; expected a claims.json file")
    try:
        document = read_claims_json(path)
    except (AttributeError, UnicodeDecodeError) as error:
        # a JSON array or number has no .get; a binary file is not UTF-8
        raise ValueError(f"{path}: not a claims.json document ({type(error).__name__}: {error})") from None
    check_document(path, document)
    return document


def check_document(path: Path, document: Any) -> None:
    """Check the parts of a claims.json that reports read.

    Raises
    ------
    ValueError
        Naming ``path`` and the entry (``rows[3].status``, ``claims.x.key_metric``…) and what was
        expected.
    """
    where = str(path)
    _expect(isinstance(document, dict), where, "the document", document, "a JSON object")
    _expect(isinstance(document.get("run"), dict), where, "run", document.get("run"), "an object of run metadata")
    models = document["run"].get("models")
    _expect(isinstance(models, list), where, "run.models", models, "a list")
    for i, info in enumerate(models):
        _expect(isinstance(info, dict) and isinstance(info.get("spec"), str), where, f"run.models[{i}]", info,
                "an object with a string 'spec'")
    claims = document.get("claims")
    _expect(isinstance(claims, dict), where, "claims", claims, "an object of claims by id")
    for claim_id, claim in claims.items():
        name = f"claims.{claim_id}"
        _expect(isinstance(claim, dict), where, name, claim, "an object")
        for key in ("statement", "section", "key_metric"):
            _expect(isinstance(claim.get(key), str), where, f"{name}.{key}", claim.get(key), "a string")
        figures = claim.get("post_figures", [])
        _expect(isinstance(figures, list) and all(isinstance(f, str) for f in figures), where,
                f"{name}.post_figures", figures, "a list of asset names")
        transcripts = claim.get("post_transcripts", {})
        _expect(isinstance(transcripts, dict) and all(isinstance(t, str) for t in transcripts.values()), where,
                f"{name}.post_transcripts", transcripts, "an object of label → transcript")
    rows = document.get("rows")
    _expect(isinstance(rows, list), where, "rows", rows, "a list")
    seen: dict[tuple[str, str], int] = {}
    for i, row in enumerate(rows):
        name = f"rows[{i}]"
        _expect(isinstance(row, dict), where, name, row, "an object")
        for key in ("claim", "model", "reason"):
            _expect(isinstance(row.get(key), str), where, f"{name}.{key}", row.get(key), "a string")
        _expect(row.get("status") in STATUSES, where, f"{name}.status", row.get("status"),
                f"one of {', '.join(STATUSES)}")
        _expect(row["claim"] in claims, where, f"{name}.claim", row["claim"],
                "a claim of the document's claims table")
        first = seen.setdefault((row["claim"], row["model"]), i)
        _expect(first == i, where, name, f"{row['claim']} on {row['model']}",
                f"one row per claim × model (rows[{first}] is the same claim on the same model)")
        _expect(isinstance(row.get("evidence"), dict), where, f"{name}.evidence", row.get("evidence"), "an object")
        metrics = row.get("metrics")
        _expect(isinstance(metrics, dict), where, f"{name}.metrics", metrics, "an object of metrics by name")
        for metric_name, metric in metrics.items():
            m = f"{name}.metrics.{metric_name}"
            _expect(isinstance(metric, dict), where, m, metric, "an object")
            _expect(metric.get("value") is None or _number(metric.get("value")), where, f"{m}.value",
                    metric.get("value"), "a finite number or null")
            _expect(_number(metric.get("threshold")), where, f"{m}.threshold", metric.get("threshold"),
                    "a finite number")
            _expect(metric.get("passed") in (True, False, None), where, f"{m}.passed", metric.get("passed"),
                    "true, false or null")
            for key in ("comparator", "provenance"):
                _expect(isinstance(metric.get(key), str), where, f"{m}.{key}", metric.get(key), "a string")
            fixed = metric.get("fixed")  # absent from records written before thresholds said when they were fixed
            if fixed is not None:
                _expect(isinstance(fixed, dict) and isinstance(fixed.get("commit"), str)
                        and isinstance(fixed.get("date"), str) and isinstance(fixed.get("after_real"), bool)
                        and isinstance(fixed.get("note", ""), str) and set(fixed) <= FIXED_KEYS,
                        where, f"{m}.fixed", fixed,
                        "an object with strings commit, date, note and a boolean after_real")
            interval = metric.get("interval")
            if interval is not None:
                _expect(isinstance(interval, dict) and _number(interval.get("low")) and _number(interval.get("high"))
                        and interval["low"] <= interval["high"] and interval.get("passed") in (True, False, None),
                        where, f"{m}.interval", interval, "an object with finite low ≤ high and passed")
    if "baseline" in document:
        _check_baseline(where, document["baseline"])


def _check_baseline(where: str, baseline: Any) -> None:
    _expect(isinstance(baseline, dict) and isinstance(baseline.get("path"), str), where, "baseline", baseline,
            "an object with a string 'path'")
    changes = baseline.get("changes")
    _expect(isinstance(changes, list), where, "baseline.changes", changes, "a list")
    for i, change in enumerate(changes):
        _expect(isinstance(change, dict) and all(isinstance(change.get(key), str) for key in CHANGE_KEYS), where,
                f"baseline.changes[{i}]", change, f"an object with strings {', '.join(CHANGE_KEYS)}")
    if "rows_compared" not in baseline:  # written before rows were compared value by value
        return
    n_compared, differing = baseline["rows_compared"], baseline.get("rows_differing")
    _expect(isinstance(n_compared, int) and not isinstance(n_compared, bool) and n_compared >= 0, where,
            "baseline.rows_compared", n_compared, "an integer >= 0")
    _expect(isinstance(differing, list) and len(differing) <= n_compared, where, "baseline.rows_differing",
            differing, "a list of at most rows_compared rows")
    for i, row in enumerate(differing):
        _expect(isinstance(row, dict) and isinstance(row.get("claim"), str) and isinstance(row.get("model"), str)
                and isinstance(row.get("n_differing"), int) and isinstance(row.get("shown"), list)
                and all(isinstance(text, str) for text in row["shown"]), where, f"baseline.rows_differing[{i}]",
                row, "an object with strings claim and model, an integer n_differing and a list of strings shown")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _expect(ok: bool, where: str, entry: str, value: Any, expected: str) -> None:
    if not ok:
        shown = json.dumps(value, ensure_ascii=False, default=repr)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise ValueError(f"{where}: {entry} is {shown}, expected {expected}")


def shown_metric(row: dict[str, Any], key_metric: str) -> tuple[str, dict[str, Any]] | None:
    """The metric a table cell shows: the key metric, except for a claim that fails, whose cell shows
    the metric that failed (the key metric when it failed, else the first that did), and for an
    inconclusive claim the metric whose interval straddles its threshold; None for a row without measured
    metrics."""
    metrics = row.get("metrics") or {}
    if row.get("status") in ("skipped", "error") or not metrics:
        return None
    name = key_metric
    deciding = {"fails": False, "inconclusive": None}
    if row.get("status") in deciding:
        wanted = deciding[row["status"]]
        outcomes = {n: _outcome(m) for n, m in metrics.items()}
        if outcomes.get(key_metric, True) is not wanted:
            name = next((n for n, o in outcomes.items() if o is wanted and metrics[n].get("passed") is not None),
                        key_metric)
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
    interval = metric.get("interval")
    ends = f" [{interval['low']:.3g}, {interval['high']:.3g}]" if interval else ""
    return f"{name}={metric['value']:.3g}{ends} ({metric['comparator']} {metric['threshold']:.3g})"


def metric_fixed(metric: dict[str, Any]) -> Fixed | None:
    """When a record's metric had its threshold fixed; None for records written before they said so."""
    fixed = metric.get("fixed")
    return Fixed(**fixed) if isinstance(fixed, dict) else None


def _outcome(metric: dict[str, Any]) -> bool | None:
    """A metric's say on the verdict: its interval's when it has one (None: it straddles), else ``passed``."""
    interval = metric.get("interval")
    return interval.get("passed") if isinstance(interval, dict) else metric.get("passed")


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
    if "rows_compared" in baseline:  # absent from records written before rows were compared value by value
        differing = baseline["rows_differing"]
        lines.append(f"rows identical to the baseline: {baseline['rows_compared'] - len(differing)} of "
                     f"{baseline['rows_compared']}")
        for d in differing:
            more = f", … ({d['n_differing']} in all)" if d["n_differing"] > len(d["shown"]) else ""
            lines.append(f"  differs: {d['claim']} on {d['model']}: {'; '.join(d['shown'])}{more}")
    return lines
