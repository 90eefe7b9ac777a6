"""The run record: every verdict of one pytest run, and the ``claims.json`` document built from it."""
from __future__ import annotations

import platform
import subprocess
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from ..claims.registry import ClaimSpec, default_thresholds_path
from ..claims.verdict import Verdict
from ..files import sha256_file
from ..models.model_info import ModelInfo
from .claims_json import SCHEMA, SCHEMA_VERSION

PACKAGES = ("whisper-claims", "openai-whisper", "torch", "numpy", "scipy", "jiwer", "soundfile", "pytest")


@dataclass
class ClaimsRecord:
    """What one run has learnt: the registry, the model specs, and a verdict per claim × model."""

    registry: dict[str, ClaimSpec]
    specs: list[str]
    thresholds_path: Path = field(default_factory=default_thresholds_path)
    torch_threads: int | None = None  # the threads the models ran with (the plugin reads them from torch)
    verdicts: dict[tuple[str, str], Verdict] = field(default_factory=dict)
    models: dict[str, ModelInfo] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)  # spec -> reason
    sizes: dict[str, str | None] = field(default_factory=dict)  # spec -> its official size, where known
    document: dict[str, Any] | None = None  # the claims.json content, built once at the end of the run
    written: Path | None = None  # the claims.json this run wrote
    report_error: str | None = None  # why claims.md, badges or report.html could not be built
    baseline: tuple[Path, dict[str, Any]] | None = None  # --claims-baseline: its path and document
    interrupted: str | None = None  # why the run stopped before every selected claim ran (None: it did not)

    def add(self, verdict: Verdict) -> None:
        # a claim tested by several functions keeps its worst verdict
        key = (verdict.claim, verdict.model)
        previous = self.verdicts.get(key)
        if previous is None or _rank(verdict) > _rank(previous):
            self.verdicts[key] = verdict

    def rows(self) -> list[Verdict]:
        return [self.verdicts[key] for key in sorted(self.verdicts)]


def _rank(verdict: Verdict) -> int:
    return {"skipped": 0, "holds": 1, "inconclusive": 2, "fails": 3, "error": 4}[verdict.status]


def run_metadata(record: ClaimsRecord, rootdir: Path | None = None) -> dict[str, Any]:
    """What a reader needs to reproduce the run: versions, threads, models with their sha256, commit."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    thresholds = Path(record.thresholds_path)
    not_loaded = "not reached: the run was interrupted" if record.interrupted else "not loaded in this run"
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu(),
        "packages": versions,
        "torch_threads": record.torch_threads,
        "git_commit": git_commit(rootdir or Path.cwd()),
        "thresholds": {"path": str(thresholds),
                       "sha256": sha256_file(thresholds) if thresholds.is_file() else None},
        "models": [
            asdict(record.models[spec]) if spec in record.models
            else {"spec": spec, "unavailable": record.unavailable.get(spec, not_loaded)}
            for spec in record.specs
        ],
        **({"interrupted": record.interrupted} if record.interrupted else {}),
    }


def cpu() -> str:
    """The processor and the instruction set torch's CPU kernels use (``AVX512``, ``AVX2``, …): rows are
    bit-identical run to run on one machine, but a matrix product sums in another order on another
    instruction set, which moves results in their 6th or 7th digit."""
    import torch  # here, not at import: writing a record of a run that loaded no model needs no torch

    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{model or 'unknown processor'}; torch kernels {torch.backends.cpu.get_cpu_capability()}"


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
