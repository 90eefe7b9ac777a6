"""Several ``claims.json`` documents read as one: structure checks, then a merged claim × model view.

Reports (``claims.md``, badges, ``report.html``) are rendered from a `MergedReport`, so that one run
per model size, or several runs of the same models, give one matrix. A later document's row for the
same claim × model replaces an earlier one; every run's metadata is kept.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .report import metric_text, read_claims_json
from .verdict import STATUSES


@dataclass(frozen=True)
class Source:
    """One ``claims.json`` that was merged: the path it was read from (as given) and its run metadata."""

    path: Path
    run: dict[str, Any]
    baseline: dict[str, Any] | None = None  # the run's comparison with --claims-baseline, if any

    @property
    def directory(self) -> Path:
        """The folder relative to which the document's evidence paths are written."""
        return self.path.parent


@dataclass(frozen=True)
class Row:
    """A claims.json row and the index (in `MergedReport.sources`) of the document it came from."""

    data: dict[str, Any]
    source: int

    @property
    def status(self) -> str:
        return self.data["status"]


@dataclass(frozen=True)
class MergedReport:
    """The claim × model matrix of one or several documents.

    ``claims`` and ``models`` keep the order in which documents list them; ``rows`` is keyed by
    ``(claim id, model spec)``.
    """

    sources: tuple[Source, ...]
    claims: dict[str, dict[str, Any]]
    models: tuple[str, ...]
    rows: dict[tuple[str, str], Row]

    def row(self, claim: str, model: str) -> Row | None:
        return self.rows.get((claim, model))

    def claim_rows(self, claim: str) -> list[tuple[str, Row]]:
        """``(model, row)`` of one claim, in model order, for the models that have a row."""
        return [(m, self.rows[claim, m]) for m in self.models if (claim, m) in self.rows]

    def model_rows(self, model: str) -> list[tuple[str, Row]]:
        """``(claim, row)`` of one model, in claim order, for the claims that have a row."""
        return [(c, self.rows[c, model]) for c in self.claims if (c, model) in self.rows]

    def model_info(self, model: str) -> dict[str, Any] | None:
        """The run metadata of a model spec from the latest document that lists it."""
        for source in reversed(self.sources):
            for info in source.run.get("models", []):
                if info.get("spec") == model:
                    return info
        return None


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
    for i, row in enumerate(rows):
        name = f"rows[{i}]"
        _expect(isinstance(row, dict), where, name, row, "an object")
        for key in ("claim", "model", "reason"):
            _expect(isinstance(row.get(key), str), where, f"{name}.{key}", row.get(key), "a string")
        _expect(row.get("status") in STATUSES, where, f"{name}.status", row.get("status"),
                f"one of {', '.join(STATUSES)}")
        _expect(row["claim"] in claims, where, f"{name}.claim", row["claim"],
                "a claim of the document's claims table")
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


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _expect(ok: bool, where: str, entry: str, value: Any, expected: str) -> None:
    if not ok:
        shown = json.dumps(value, ensure_ascii=False, default=repr)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise ValueError(f"{where}: {entry} is {shown}, expected {expected}")


def merge(documents: list[tuple[Path, dict[str, Any]]]) -> MergedReport:
    """Merge checked documents, in order: a later row for the same claim × model wins.

    Parameters
    ----------
    documents : list of (Path, dict)
        Each claims.json path (evidence paths are relative to its folder) and its content.

    Returns
    -------
    MergedReport

    Raises
    ------
    ValueError
        If there is no document, or one is malformed (see `check_document`).
    """
    if not documents:
        raise ValueError("no claims.json to report on: expected at least one document")
    sources: list[Source] = []
    claims: dict[str, dict[str, Any]] = {}
    listed: list[str] = []
    rows: dict[tuple[str, str], Row] = {}
    for index, (path, document) in enumerate(documents):
        path = Path(path)
        check_document(path, document)
        sources.append(Source(path=path, run=document["run"], baseline=document.get("baseline")))
        for claim_id, claim in document["claims"].items():
            claims[claim_id] = claim  # a later thresholds file wins; the key keeps its first place
        listed += [info["spec"] for info in document["run"]["models"]]
        for row in document["rows"]:
            rows[row["claim"], row["model"]] = Row(data=row, source=index)
    with_rows = {model for _, model in rows}
    # the models of the runs, in their order, then any model a row names but no run lists
    models = [m for m in dict.fromkeys(listed) if m in with_rows]
    models += sorted(with_rows - set(models))
    return MergedReport(sources=tuple(sources), claims=claims, models=tuple(models), rows=rows)


def key_metric_text(row: Row | None, claim: dict[str, Any]) -> str:
    """The claim's key metric against its threshold (``rhyme_p_value=0.304 (< 0.01)``), or for a claim
    that fails the metric that failed (``report.shown_metric``), or ``""`` when the row has no measured
    value; the same numbers as the terminal table."""
    return "" if row is None else metric_text(row.data, claim["key_metric"])
