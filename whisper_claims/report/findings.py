"""The findings page, the README's verdict table and the tables of the other docs, generated from the
committed records.

Numbers in the documentation come from ``fixtures/real/claims.json`` (OpenAI's checkpoints) and
``fixtures/micro/claims.json`` (micro), never from a hand: ``whisper-claims docs`` rewrites
``docs/findings.md``, the part of README.md between `BEGIN` and `END`, and every generated block of
docs/methods.md and docs/micro.md (between `block_begin` and `block_end`; the blocks are
``docblocks.BLOCKS``); ``whisper-claims docs --check`` (run by ``tests/test_findings.py``) fails when a
committed page differs from what the records give.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..claims.registry import ClaimSpec, load_registry
from ..files import atomic_path
from .claims_json import read_documents, shown_metric
from .markdown import code, table, text
from .merge import MergedReport, Row, merge

RECORDS = ("fixtures/real/claims.json", "fixtures/micro/claims.json")
README = "README.md"
THRESHOLDS = "claims/thresholds.toml"
FINDINGS = "docs/findings.md"
BEGIN = "<!-- verdicts: written by `whisper-claims docs` from the records; edit the records, not this table -->"
END = "<!-- end of verdicts -->"
SHOWN = {"holds": "holds", "fails": "fails", "inconclusive": "inconclusive", "error": "no verdict", "skipped": "n/a"}
COMPARATORS = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "==": "="}


@dataclass(frozen=True)
class Page:
    """A generated file: its path in the project and the text the records give it."""

    path: Path
    text: str


def read_records(project: Path) -> MergedReport:
    """The committed records of the project at ``project``, merged (micro's after the real checkpoints')."""
    return merge(read_documents([project / path for path in RECORDS]))


def judged_models(report: MergedReport) -> list[str]:
    """Models with at least one row that was run (a model every claim skipped has no column)."""
    return [m for m in report.models if any(row.status != "skipped" for _, row in report.model_rows(m))]


def number(value: Any) -> str:
    """A measured value in three significant digits (integers as they are)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return text(value)
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.3g}"


def criterion(metric: dict[str, Any]) -> str:
    return f"{COMPARATORS.get(metric['comparator'], metric['comparator'])} {number(metric['threshold'])}"


def verdict_cell(row: Row | None, key_metric: str) -> str:
    """``**holds** 0.74 [0.66, 0.8] (≥ 0.5)``: the status and the metric a table shows (the key metric, or for
    a claim that fails the metric that failed), named when it is not the key metric, with its 95% interval
    where it has one, or "1 clip" where it is measured on one clip."""
    if row is None:
        return "not run"
    cell = f"**{SHOWN.get(row.status, row.status)}**"
    shown = shown_metric(row.data, key_metric)
    if shown is not None:
        name, metric = shown
        label = "" if name == key_metric else f"{code(name, cell=True)} "
        interval = metric.get("interval")
        ends = f" [{number(interval['low'])}, {number(interval['high'])}]" if interval else ""
        # a metric of one clip has no sampling unit to resample: its verdict is that clip's (#30)
        unit = "; 1 clip" if not interval and "clip" in (row.data.get("evidence") or {}) else ""
        cell += f" {label}{number(metric['value'])}{ends} ({criterion(metric)}{unit})"
    return cell


def verdict_table(report: MergedReport) -> list[str]:
    """The README's table: one row per claim, its statement and marker, the verdict per judged model."""
    models = judged_models(report)
    rows = [[code(claim_id, cell=True), text(claim["statement"]), claim["marker"],
             *[verdict_cell(report.row(claim_id, m), claim["key_metric"]) for m in models]]
            for claim_id, claim in report.claims.items()]
    rows.append(["", "", "", *[f"{sum(r.status == 'holds' for _, r in report.model_rows(m))} of "
                               f"{len(report.claims)} hold" for m in models]])
    return table(["claim", "statement", "marker", *[code(m) for m in models]], rows)


def readme_section(report: MergedReport) -> list[str]:
    """What README.md holds between `BEGIN` and `END`."""
    skipped = [m for m in report.models if m not in judged_models(report)]
    out = [BEGIN, ""]
    out += verdict_table(report)
    out += ["", "Each cell: the verdict and the key metric against its threshold (for a claim that fails, the "
                "metric that failed, named). *no verdict*: the method could not judge this model (the reason is "
                "in [docs/findings.md](docs/findings.md)); *n/a*: the claim does not apply to the model."]
    if skipped:
        out += ["", f"Not judged here (no checkpoint on these machines): {', '.join(code(m) for m in skipped)}."]
    out += ["", END]
    return out


def metric_cell(row: Row | None, name: str) -> str:
    if row is None:
        return "not run"
    metric = (row.data.get("metrics") or {}).get(name)
    if metric is None or metric.get("value") is None:
        return SHOWN.get(row.status, row.status) if row.status != "holds" else "—"
    interval = metric.get("interval")
    if interval is None:
        mark = {True: "met", False: "**not met**"}.get(metric.get("passed"), "")
        return f"{number(metric['value'])} {mark}".strip()
    # an interval decides: its whole range on one side of the threshold, or it straddles (inconclusive)
    mark = {True: "met", False: "**not met**", None: "*straddles*"}[interval.get("passed")]
    return f"{number(metric['value'])} [{number(interval['low'])}, {number(interval['high'])}] {mark}"


def clip_lines(report: MergedReport, claim_id: str, models: list[str]) -> list[str]:
    """For a claim measured over clips: per model, how many clips, the key metric's quartiles and the
    share of clips that meet each threshold."""
    key = report.claims[claim_id]["key_metric"]
    out = []
    for model in models:
        row = report.row(claim_id, model)
        evidence = row.data.get("evidence") or {} if row is not None else {}
        if "n_clips" not in evidence:
            continue
        quartiles = (evidence.get("quartiles") or {}).get(key) or []
        share = (evidence.get("share_of_clips_meeting_threshold") or {}).get(key)
        parts = [f"{evidence['n_clips']} clips"]
        if quartiles:
            parts.append(f"{code(key)} quartiles {' / '.join(number(q) for q in quartiles)}")
        if share is not None:
            parts.append(f"{number(share)} of clips meet its threshold")
        out.append(f"- {code(model)}: " + "; ".join(parts))
    return out


def findings_page(report: MergedReport) -> str:
    """``docs/findings.md``: every claim's metrics on every judged model, the clip statistics of the
    claims measured over clips, and why a row has no verdict."""
    models = judged_models(report)
    out = ["# Findings: every claim on every model, from the records", "",
           f"Generated by `whisper-claims docs` from {', '.join(code(p) for p in RECORDS)}; do not edit by "
           "hand. How each claim is measured and what its numbers mean: [methods.md](methods.md); thresholds "
           "and their provenance: `claims/thresholds.toml`.", "",
           "## Summary", ""]
    out += verdict_table(report) + [""]
    for claim_id, claim in report.claims.items():
        out += [f"## {code(claim_id)}", "", text(claim["statement"]), "",
                f"Section of the post: {text(claim['section'])}. Marker: `{claim['marker']}`.", ""]
        thresholds: dict[str, str] = {}  # every metric a model measured, in order, with its threshold
        for model in models:
            row = report.row(claim_id, model)
            for name, metric in ((row.data.get("metrics") or {}) if row is not None else {}).items():
                thresholds.setdefault(name, criterion(metric))
        if thresholds:
            out += table(["metric", "threshold", *[code(m) for m in models]],
                         [[f"{code(name, cell=True)}{' (key)' if name == claim['key_metric'] else ''}", threshold,
                           *[metric_cell(report.row(claim_id, m), name) for m in models]]
                          for name, threshold in thresholds.items()])
            out.append("")
        clips = clip_lines(report, claim_id, models)
        if clips:
            out += ["Over clips:", "", *clips, ""]
        for model in models:
            row = report.row(claim_id, model)
            if row is not None and row.status in ("error", "skipped") and row.data["reason"].strip():
                out += [f"- {code(model)}, {SHOWN[row.status]}: {text(row.data['reason'])}"]
        if out[-1] != "":
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def readme_text(current: str, report: MergedReport, where: Path) -> str:
    """``current`` with the part between `BEGIN` and `END` replaced by `readme_section`."""
    if current.count(BEGIN) != 1 or current.count(END) != 1 or current.index(BEGIN) > current.index(END):
        raise ValueError(f"{where}: expected one line {BEGIN!r} and, after it, one line {END!r} around the "
                         "generated verdict table")
    head, rest = current.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    return head + "\n".join(readme_section(report)) + tail


def block_begin(name: str, source: str = "the records") -> str:
    return f"<!-- generated: {name} by whisper-claims docs from {source}; do not edit -->"


def block_end(name: str) -> str:
    return f"<!-- end of {name} -->"


_BLOCK_NAME = re.compile(r"<!-- generated: (\S+) by whisper-claims docs")


def filled_text(current: str, blocks: dict[str, Callable[[MergedReport], list[str]]], report: MergedReport,
                where: Path, source: str = "the records") -> str:
    """``current`` with the text between each block's markers replaced by its function's lines.

    Every block of ``blocks`` must appear once, its end marker after its begin marker, and every begin
    marker in ``current`` must name one of ``blocks``: a ValueError names ``where`` otherwise. ``source``
    is what the begin markers say the blocks are generated from.
    """
    unknown = sorted(set(_BLOCK_NAME.findall(current)) - set(blocks))
    if unknown:
        raise ValueError(f"{where}: generated block(s) {', '.join(unknown)} unknown to whisper-claims docs")
    for name, lines in blocks.items():
        begin, end = block_begin(name, source), block_end(name)
        if current.count(begin) != 1 or current.count(end) != 1 or current.index(begin) > current.index(end):
            raise ValueError(f"{where}: expected one line {begin!r} and, after it, one line {end!r} around the "
                             f"generated block {name}")
        head, rest = current.split(begin, 1)
        current = head + "\n".join([begin, "", *lines(report), "", end]) + rest.split(end, 1)[1]
    return current


def pages(project: Path) -> list[Page]:
    """Every generated page of the project at ``project``, as the committed records give it."""
    from .docblocks import BLOCKS, README_BLOCKS  # docblocks builds on this module's helpers

    report = read_records(project)
    registry = load_registry(project / THRESHOLDS)
    readme = project / README
    text = readme_text(readme.read_text(encoding="utf-8"), report, readme)
    # the README's blocks of the thresholds file are functions of the registry, not of the records
    text = filled_text(text, {name: _of_registry(lines, registry) for name, lines in README_BLOCKS.items()},
                       report, readme, source=THRESHOLDS)
    out = [Page(readme, text), Page(project / FINDINGS, findings_page(report))]
    for name, blocks in BLOCKS.items():
        path = project / name
        out.append(Page(path, filled_text(path.read_text(encoding="utf-8"), blocks, report, path)))
    return out


def _of_registry(lines: Callable[[dict[str, ClaimSpec]], list[str]],
                 registry: dict[str, ClaimSpec]) -> Callable[[MergedReport], list[str]]:
    """A block of the registry as `filled_text` takes blocks: a function of the records (ignored)."""
    return lambda _report: lines(registry)


def stale(project: Path) -> list[Path]:
    """The generated pages whose committed text differs from what the records give."""
    return [page.path for page in pages(project)
            if not page.path.exists() or page.path.read_text(encoding="utf-8") != page.text]


def write(project: Path) -> list[Path]:
    """Write every generated page; returns the paths that changed."""
    changed = []
    for page in pages(project):
        if not page.path.exists() or page.path.read_text(encoding="utf-8") != page.text:
            page.path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(page.path) as tmp:
                tmp.write_text(page.text, encoding="utf-8")
            changed.append(page.path)
    return changed
