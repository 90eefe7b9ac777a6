"""``claims.md``: the claim × model matrix, why rows do not hold, and the metadata of every run.

Readable as plain text and as GitHub-flavoured Markdown. Free text from the documents (statements,
reasons) is escaped so that it cannot break the table or inject markup; identifiers are code spans.
"""
from __future__ import annotations

import re
from typing import Any

from ..models.redistributions import describe_source
from .claims_json import baseline_lines, metric_fixed, shown_metric
from .merge import MergedReport, key_metric_text

_ESCAPED = re.compile(r"([\\`*_\[\]<>|&])")


def text(value: Any) -> str:
    """Free text on one line, with Markdown's and HTML's special characters escaped."""
    return _ESCAPED.sub(r"\\\1", " ".join(str(value).split()))


def code(value: Any, cell: bool = False) -> str:
    """A code span that holds any text: a fence longer than any backtick run inside. In a table
    ``cell``, ``|`` is escaped: GitHub splits cells on it even inside code."""
    value = " ".join(str(value).split())
    if cell:
        value = value.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return lines


AFTER_REAL_MARK = "†"  # beside a cell whose metric's threshold was fixed after real measurement


def matrix_cell(report: MergedReport, claim: str, model: str) -> str:
    row = report.row(claim, model)
    if row is None:
        return "not run"
    metric = key_metric_text(row, report.claims[claim])
    mark = _after_real_mark(row.data, report.claims[claim])
    return f"**{row.status}**" + (f" {code(metric, cell=True)}" if metric else "") + mark


def _after_real_mark(row: dict[str, Any], claim: dict[str, Any]) -> str:
    shown = shown_metric(row, claim["key_metric"])
    fixed = metric_fixed(shown[1]) if shown else None
    return f" {AFTER_REAL_MARK}" if fixed and fixed.after_real else ""


def fixed_lines(report: MergedReport, claim: str) -> list[str]:
    """One line per metric of the claim: when its threshold was fixed, from the latest row that says so
    (records written before thresholds said it have none)."""
    found: dict[str, Any] = {}
    for _, row in reversed(report.claim_rows(claim)):
        for name, metric in (row.data.get("metrics") or {}).items():
            fixed = metric_fixed(metric)
            if fixed is not None and name not in found:
                found[name] = fixed
    lines = []
    for name, fixed in found.items():
        mark = f" {AFTER_REAL_MARK}" if fixed.after_real else ""
        note = f": {text(fixed.note)}" if fixed.note else ""
        lines.append(f"- threshold of {code(name)} {fixed.text()}{mark}{note}")
    return lines


def claims_markdown(report: MergedReport) -> str:
    """The whole ``claims.md``; the same report gives the same text, byte for byte."""
    out = ["# Claims of \"Interpreting Whisper\" × models", ""]
    sources = ", ".join(code(source.path) for source in report.sources)
    out += [f"Merged from {len(report.sources)} claims.json: {sources}. Each cell is the verdict on that "
            "model, with the claim's key metric against its threshold; a later file's verdict replaces "
            "an earlier one.", ""]

    header = ["claim"] + [code(model, cell=True) for model in report.models]
    rows = [[code(claim, cell=True)] + [matrix_cell(report, claim, model) for model in report.models]
            for claim in report.claims]
    counts = []
    for model in report.models:
        holding = sum(row.status == "holds" for _, row in report.model_rows(model))
        counts.append(f"{holding}/{len(report.claims)}")
    rows.append(["claims that hold"] + counts)
    out += table(header, rows) + [""]
    if any(AFTER_REAL_MARK in cell for cells in rows for cell in cells[1:]):
        out += [f"{AFTER_REAL_MARK} the threshold of the metric shown was fixed after a real checkpoint had been "
                "measured (`fixed` in claims/thresholds.toml; each claim's thresholds below say when).", ""]

    reasons = [(claim, model, row) for claim in report.claims for model, row in report.claim_rows(claim)
               if row.status != "holds"]
    out += ["## Why a claim does not hold (or was not judged)", ""]
    if reasons:
        # one line per model, status and reason: a missing checkpoint skips every claim the same way
        grouped: dict[tuple[str, str, str], list[str]] = {}
        for claim, model, row in reasons:
            reason = text(row.data["reason"]) if row.data["reason"].strip() else "no reason recorded"
            grouped.setdefault((model, row.status, reason), []).append(code(claim))
        for (model, status, reason), claims in grouped.items():
            out.append(f"- {', '.join(claims)} on {code(model)}: **{status}**: {reason}")
    else:
        out.append("Every claim that was run holds.")
    out.append("")

    for number, source in enumerate(report.sources, start=1):
        if source.baseline:
            out += [f"## Changes against the baseline of run {number}", "",
                    *[f"- {text(line.strip())}" for line in baseline_lines({"baseline": source.baseline})], ""]

    out += ["## Claims", ""]
    for claim_id, claim in report.claims.items():
        out += [f"### {code(claim_id)}", "", text(claim["statement"]), "",
                f"- section of the post: {text(claim['section'])}",
                f"- key metric: {code(claim['key_metric'])}", *fixed_lines(report, claim_id), ""]

    out += ["## Runs", ""]
    for number, source in enumerate(report.sources, start=1):
        out += _run_lines(number, source.path, source.run)
    return "\n".join(out).rstrip("\n") + "\n"


def _run_lines(number: int, path, run: dict[str, Any]) -> list[str]:
    thresholds = run.get("thresholds") or {}
    out = [f"### Run {number}: {code(path)}", ""]
    if run.get("interrupted"):
        out += [f"**Interrupted**: {text(run['interrupted'])}; its rows are those it reached.", ""]
    out += table(["", ""], [
        ["git commit", _maybe_code(run.get("git_commit"))],
        ["python", _maybe_text(run.get("python"))],
        ["platform", _maybe_text(run.get("platform"))],
        ["cpu", _maybe_text(run.get("cpu"))],
        ["torch threads", _maybe_text(run.get("torch_threads"))],
        ["thresholds file", _maybe_code(thresholds.get("path"))],
        ["thresholds sha256", _maybe_code(thresholds.get("sha256"))],
    ]) + [""]
    packages = run.get("packages") or {}
    if packages:
        out += table(["package", "version"], [[code(name, cell=True), _maybe_text(version, "not installed")]
                                               for name, version in sorted(packages.items())])
        out.append("")
    model_rows = []
    for info in run.get("models", []):
        if "unavailable" in info:
            model_rows.append([code(info["spec"], cell=True), "unavailable", "", text(info["unavailable"]), ""])
        else:
            model_rows.append([code(info["spec"], cell=True), _maybe_text(info.get("kind")),
                               _maybe_text(info.get("size")), _maybe_code(info.get("sha256")),
                               text(describe_source(info))])
    if model_rows:
        out += table(["model", "kind", "size",
                       "sha256 (of the checkpoint file, or of random weights' parameters), or why unavailable",
                       "weights"],
                      model_rows)
        out.append("")
    return out


def _maybe_text(value: Any, missing: str = "unknown") -> str:
    return missing if value is None else text(value)


def _maybe_code(value: Any) -> str:
    # only used in table cells
    return "unknown" if value is None else code(value, cell=True)
