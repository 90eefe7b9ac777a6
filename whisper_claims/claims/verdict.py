"""Verdicts: what a claim measured on one model, judged against the registry's thresholds."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..models.model_info import ModelInfo
from .registry import ClaimSpec, Fixed

if TYPE_CHECKING:  # the record side reads verdicts without numpy's statistics
    from ..measure.intervals import Interval

# inconclusive: a metric's interval straddles its threshold (holds and fails need the whole interval on one side)
STATUSES = ("holds", "fails", "inconclusive", "skipped", "error")
# evidence a run adds only when it writes a report folder (``figures.with_figures``)
FIGURES, AUDIO, FIGURES_NOTE = "figures", "audio", "figures_note"
REPORT_EVIDENCE = (FIGURES, AUDIO, FIGURES_NOTE)


@dataclass(frozen=True)
class Measurement:
    """What a claim function returns: metric values by name, evidence for people to read, and
    artifacts: data for figures (arrays, curves, transcripts), drawn by ``figures`` when a report is
    written and never stored in claims.json."""

    metrics: dict[str, float]
    evidence: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    # a metric aggregated over units (clips, words, neurons, seeds) comes with its interval
    # (``measure.intervals``); one without a sampling unit (one transcript of one clip) has none
    intervals: dict[str, Interval] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricResult:
    name: str
    value: float | None  # None when not measured or not finite
    comparator: str
    threshold: float  # after per-size overrides
    passed: bool | None  # None when the metric does not apply to this model
    provenance: str
    interval: Interval | None = None
    # with an interval: True when all of it passes, False when none of it does, None when it straddles
    interval_passed: bool | None = None
    fixed: Fixed | None = None  # when the threshold was fixed (None: a record written before it was kept)

    @property
    def outcome(self) -> bool | None:
        """Whether the metric decides for the claim (True), against it (False), or cannot decide (None)."""
        if self.passed is None or self.interval is None:
            return self.passed
        return self.interval_passed


@dataclass(frozen=True)
class Verdict:
    claim: str  # claim id
    model: str  # model spec
    status: str  # one of STATUSES
    metrics: tuple[MetricResult, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)
    reason: str = ""  # why it was skipped or errored, or which metrics failed

    @property
    def holds(self) -> bool:
        return self.status == "holds"

    def metric(self, name: str) -> MetricResult:
        return next(m for m in self.metrics if m.name == name)

    def describe(self) -> str:
        """A failure message: claim, model, every metric with its value, comparator and threshold."""
        lines = [f"claim {self.claim} {self.status} on model {self.model}" + (f": {self.reason}" if self.reason else "")]
        for m in self.metrics:
            mark = "n/a " if m.passed is None else {True: "ok  ", False: "FAIL", None: "??  "}[m.outcome]
            shown = _fmt(m.value) + (f" [{_fmt(m.interval.low)}, {_fmt(m.interval.high)}]" if m.interval else "")
            fixed = f"; {m.fixed.text()}" if m.fixed and m.fixed.after_real else ""
            lines.append(f"  {mark} {m.name} = {shown} "
                         f"(needs {m.comparator} {_fmt(m.threshold)}; {m.provenance}{fixed})")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "claim": self.claim,
            "model": self.model,
            "status": self.status,
            "reason": self.reason,
            "metrics": {
                m.name: {
                    "value": m.value,
                    "comparator": m.comparator,
                    "threshold": m.threshold,
                    "passed": m.passed,
                    "provenance": m.provenance,
                    **({"interval": {**m.interval.to_json(), "passed": m.interval_passed}} if m.interval else {}),
                    **({"fixed": m.fixed.to_json()} if m.fixed else {}),
                }
                for m in self.metrics
            },
            "evidence": jsonable(self.evidence),
        }


def judge(spec: ClaimSpec, info: ModelInfo, measured: Measurement) -> Verdict:
    """Compare measured metrics with the thresholds that apply to the model's size.

    The claim holds when every applicable metric passes; a metric the registry names but the claim
    function did not return is an error in the claim function, not a failure of the claim.
    """
    missing = [name for name in spec.metrics if name not in measured.metrics]
    if missing:
        raise ValueError(f"claim {spec.id}: the claim function returned no value for {', '.join(missing)}")
    results = []
    for name, metric in spec.metrics.items():
        value = _finite(measured.metrics[name])
        applies = metric.applies(info.size)
        interval = measured.intervals.get(name)
        ends = (metric.passes(interval.low, info.size), metric.passes(interval.high, info.size)) if interval else ()
        results.append(MetricResult(
            name=name,
            value=value,
            comparator=metric.comparator,
            threshold=metric.threshold_for(info.size),
            passed=metric.passes(value, info.size) if applies else None,
            provenance=metric.provenance,
            interval=interval,
            interval_passed=None if not interval or ends[0] != ends[1] else ends[0],
            fixed=metric.fixed,
        ))
    failed = [r.name for r in results if r.outcome is False]
    undecided = [r.name for r in results if r.passed is not None and r.outcome is None]
    evidence = measured.evidence
    per_clip = evidence.get("per_clip_metrics")
    if per_clip:
        # a claim measured over a clip set: how many clips meet the bar on their own, per metric and on all
        judged = {name: metric for name, metric in spec.metrics.items()
                  if name in per_clip and metric.applies(info.size)}
        n_clips = len(next(iter(per_clip.values()), []))
        every = [all(metric.passes(_finite(per_clip[name][i]), info.size) for name, metric in judged.items())
                 for i in range(n_clips)]
        evidence = {**evidence,
                    "share_of_clips_meeting_threshold": {name: _share_passing(metric, per_clip[name], info.size)
                                                         for name, metric in judged.items()},
                    "share_of_clips_meeting_every_threshold": sum(every) / n_clips if n_clips and judged else None}
    return Verdict(
        claim=spec.id,
        model=info.spec,
        status="fails" if failed else "inconclusive" if undecided else "holds",
        metrics=tuple(results),
        evidence=evidence,
        reason=(f"not met: {', '.join(failed)}" if failed
                else f"interval straddles the threshold: {', '.join(undecided)}" if undecided else ""),
    )


def _share_passing(metric, values: list, size: str | None) -> float | None:
    """Share of the clips whose own value passes; an undefined value (NaN) never does."""
    if not values:
        return None
    return sum(bool(metric.passes(_finite(v), size)) for v in values) / len(values)


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g}"


def jsonable(value: Any) -> Any:
    """Evidence as plain JSON: numpy and torch scalars and arrays to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy and torch arrays and scalars, without importing torch
        return jsonable(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    raise TypeError(f"evidence value {value!r} of type {type(value).__name__} is not JSON-serialisable")
