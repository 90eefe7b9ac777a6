"""Badges: one per claim and one per model, as shields.io endpoint JSON and as offline SVG.

``badges/<claim>.json`` is read by ``https://img.shields.io/endpoint?url=…``; ``badges/<claim>.svg``
is the same badge drawn here by anybadge, for pages that must not call shields.io.

Colours (shields.io names; the SVG uses the same hex codes as shields.io):

============  ==========================================================================
brightgreen   every judged row holds (a claim), every claim of the document holds (a model)
green         model badge only: every judged claim holds, some claims have no verdict yet
yellow        mixed: at least as many rows hold as fail or error
orange        mixed: fewer rows hold than fail or error
red           no row holds and at least one fails
lightgrey     nothing judged: no row, only skipped rows, or only errors
============  ==========================================================================

Skipped rows (no weights here, or a claim that does not apply to the size) never change a colour.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass

from ..files import safe_name
from .merge import MergedReport

COLORS = {
    "brightgreen": "#4c1",
    "green": "#97ca00",
    "yellow": "#dfb317",
    "orange": "#fe7d37",
    "red": "#e05d44",
    "lightgrey": "#9f9f9f",
    "blue": "#007ec6",
}
GROUP_ORDER = ("holds", "fails", "inconclusive", "error", "skipped")
SEPARATOR = " · "
DIRECTORY = "badges"



@dataclass(frozen=True)
class Badge:
    """What a badge says; ``name`` is its file name without extension (see `safe_name`)."""

    name: str
    label: str
    message: str
    color: str  # a key of COLORS

    def endpoint_json(self) -> str:
        """The shields.io endpoint document: exactly schemaVersion, label, message and color."""
        document = {"schemaVersion": 1, "label": self.label, "message": self.message, "color": self.color}
        return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def svg(self) -> str:
        """The badge drawn by anybadge (an optional dependency: the ``report`` extra).

        Raises
        ------
        ImportError
            When anybadge is not installed.
        """
        import anybadge

        badge = anybadge.Badge(self.label, self.message, default_color=COLORS[self.color])
        # anybadge numbers masks with a process-wide counter; a name-derived id keeps files identical
        # from run to run and distinct when several SVGs are inlined in one page
        badge.mask_str = "anybadge_" + hashlib.sha256(self.name.encode()).hexdigest()[:12]
        return badge.badge_svg_text


def status_color(holds: int, fails: int, errors: int, complete: bool = True, inconclusive: int = 0) -> str:
    """The colour of a badge from how many judged rows hold, fail, are inconclusive or error (see the module
    table); rows that are all inconclusive have a colour of their own."""
    if holds + fails == 0:
        return "blue" if inconclusive else "lightgrey"
    if fails + errors + inconclusive == 0:
        return "brightgreen" if complete else "green"
    if holds == 0:
        return "red"
    return "yellow" if holds >= fails + errors + inconclusive else "orange"


def claim_badge(report: MergedReport, claim: str) -> Badge:
    """``holds: tiny, base · fails: large-v3``; ``untested`` without rows; ``untested (skipped: …)``
    when every row is skipped."""
    groups: dict[str, list[str]] = {status: [] for status in GROUP_ORDER}
    for model, row in report.claim_rows(claim):
        groups[row.status].append(model)
    if not any(groups.values()):
        message = "untested"
    elif not any(groups[s] for s in ("holds", "fails", "inconclusive", "error")):
        message = f"untested (skipped: {', '.join(groups['skipped'])})"
    else:
        message = SEPARATOR.join(f"{status}: {', '.join(models)}" for status, models in groups.items() if models)
    color = status_color(len(groups["holds"]), len(groups["fails"]), len(groups["error"]),
                         inconclusive=len(groups["inconclusive"]))
    return Badge(name=safe_name(claim), label=claim, message=message, color=color)


def overall_badge(report: MergedReport, model: str) -> Badge:
    """``n/N claims hold`` on one model, N being the number of claims of the merged claims tables."""
    statuses = [row.status for _, row in report.model_rows(model)]
    holds, fails, errors, undecided = (statuses.count(s) for s in ("holds", "fails", "error", "inconclusive"))
    total = len(report.claims)
    return Badge(
        name="overall-" + safe_name(model),
        label=f"claims on {model}",
        message=f"{holds}/{total} claims hold",
        color=status_color(holds, fails, errors, complete=holds == total, inconclusive=undecided),
    )


def all_badges(report: MergedReport) -> list[Badge]:
    """Every claim's badge, then every model's overall badge; file names are checked to be distinct."""
    badges = [claim_badge(report, claim) for claim in report.claims]
    badges += [overall_badge(report, model) for model in report.models]
    seen: dict[str, str] = {}
    for badge in badges:
        if badge.name in seen:  # e.g. a claim id "overall-tiny" next to the model tiny
            raise ValueError(f"badges of {seen[badge.name]!r} and {badge.label!r} would both be "
                             f"{DIRECTORY}/{badge.name}.json: rename the claim")
        seen[badge.name] = badge.label
    return badges


def badge_files(report: MergedReport, svg: bool = True) -> dict[str, str]:
    """``{"badges/<name>.json": text, "badges/<name>.svg": text, …}``, sorted by path.

    Parameters
    ----------
    report : MergedReport
    svg : bool
        Also draw SVGs; raises ImportError when anybadge is missing.
    """
    files = {}
    for badge in all_badges(report):
        files[f"{DIRECTORY}/{badge.name}.json"] = badge.endpoint_json()
        if svg:
            files[f"{DIRECTORY}/{badge.name}.svg"] = badge.svg()
    return dict(sorted(files.items()))


def anybadge_available() -> bool:
    """Whether SVG badges can be drawn (anybadge is the optional ``report`` extra)."""
    return importlib.util.find_spec("anybadge") is not None
