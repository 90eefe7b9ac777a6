"""Several ``claims.json`` documents read as one: structure checks, then a merged claim × model view.

Reports (``claims.md``, badges, ``report.html``) are rendered from a `MergedReport`, so that one run
per model size, or several runs of the same models, give one matrix. A later document's row for the
same claim × model replaces an earlier one; every run's metadata is kept.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .claims_json import check_document, metric_text


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
        If there is no document, or one is malformed (see `check_document`), or two give rows for one
        model spec run with different weights (``parameters_sha256``): one column would mix two models.
    """
    if not documents:
        raise ValueError("no claims.json to report on: expected at least one document")
    sources: list[Source] = []
    claims: dict[str, dict[str, Any]] = {}
    listed: list[str] = []
    rows: dict[tuple[str, str], Row] = {}
    weights: dict[str, tuple[str, Path]] = {}  # model spec -> the parameters_sha256 of its rows, and where
    for index, (path, document) in enumerate(documents):
        path = Path(path)
        check_document(path, document)
        _check_weights(path, document, weights)
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


def _check_weights(path: Path, document: dict[str, Any], weights: dict[str, tuple[str, Path]]) -> None:
    with_rows = {row["model"] for row in document["rows"]}
    for info in document["run"]["models"]:
        digest = info.get("parameters_sha256")
        if info["spec"] not in with_rows or not digest:
            continue
        earlier = weights.setdefault(info["spec"], (digest, path))
        if earlier[0] != digest:
            raise ValueError(f"{path}: model {info['spec']!r} was run with parameters_sha256 {digest}, but "
                             f"{earlier[1]} has rows for {info['spec']!r} with {earlier[0]}: two models under one "
                             "name would share a column; report them separately")


def key_metric_text(row: Row | None, claim: dict[str, Any]) -> str:
    """The claim's key metric against its threshold (``rhyme_p_value=0.304 (< 0.01)``), or for a claim
    that fails the metric that failed (``claims_json.shown_metric``), or ``""`` when the row has no measured
    value; the same numbers as the terminal table."""
    return "" if row is None else metric_text(row.data, claim["key_metric"])
