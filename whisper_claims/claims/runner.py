"""Running a claim: the function its registry entry names, that function's arguments, and the verdict.

The one way a claim is run, by the pytest plugin, the toolkit's tests, the controls and the benchmarks::

    spec = load_registry()["enc-chop-mid"]
    verdict = run_claim(spec, open_model("tiny.en"))

A claim's entry in ``claims/thresholds.toml`` names its function (``function = "module:name"``); the
function takes the model and the entry's ``params`` as keyword arguments (and ``resolve``, asset name →
verified path, when it reads assets of its own) and returns a ``Measurement``.
"""
from __future__ import annotations

import inspect
from importlib import import_module
from pathlib import Path
from typing import Any, Callable

from ..errors import MethodInvalid, ThresholdsError, did_you_mean
from ..models.load import LoadedModel
from ..stimuli.assets import AssetLocations, all_assets, default_locations, resolve_asset
from ..threads import claim_threads
from .figures import with_figures
from .registry import ClaimSpec
from .verdict import Measurement, Verdict, judge

Resolve = Callable[[str], Path]  # asset name -> checksum-verified local path


def claim_function(spec: ClaimSpec, path: str | Path | None = None) -> Callable[..., Measurement]:
    """The function ``spec.function`` names, imported.

    Raises
    ------
    ThresholdsError
        Naming the entry, when the module cannot be imported or has no such function.
    """
    module_name, _, name = spec.function.partition(":")
    where = f"thresholds file {path}: claims.{spec.id}.function" if path else f"claims.{spec.id}.function"
    try:
        module = import_module(module_name)
    except ImportError as error:
        raise ThresholdsError(f"{where}: cannot import module {module_name!r} ({error})") from None
    function = getattr(module, name, None)
    if not callable(function):
        names = [n for n, value in vars(module).items() if inspect.isfunction(value) and not n.startswith("_")]
        raise ThresholdsError(f"{where}: module {module_name} has no function {name!r}{did_you_mean(name, names)}")
    return function


def claim_functions(registry: dict[str, ClaimSpec], path: str | Path | None = None) -> dict[str, Callable]:
    """Claim id → the function that measures it, for every entry (errors as `claim_function`)."""
    return {claim_id: claim_function(spec, path) for claim_id, spec in registry.items()}


def asset_resolver(locations: AssetLocations | None = None) -> Resolve:
    """``resolve(name)`` → verified path of an asset of the manifests; by default the asset folder
    (``$WHISPER_CLAIMS_ASSETS``) and the cache, never a download."""
    locations = locations or default_locations(allow_download=False)
    manifest = all_assets()
    return lambda name: resolve_asset(name, locations, manifest)


def claim_arguments(spec: ClaimSpec, size: str | None, resolve: Resolve | None = None,
                    **overrides: Any) -> dict[str, Any]:
    """The keyword arguments of ``spec``'s function for a model of ``size``: its ``params`` (with the
    size's ``size_params``) replaced by ``overrides``, the files they name as assets resolved to verified
    paths.

    A ``clip`` and the audio and alignment files of a clip set's ``recordings`` are assets; a
    recording's transcript stays text.

    Raises
    ------
    AssetUnavailable
        An asset is in no location (its message says where it was looked for).
    """
    resolve = resolve or asset_resolver()
    params = {**spec.params_for(size), **overrides}
    if isinstance(params.get("clip"), str):
        params["clip"] = resolve(params["clip"])
    if isinstance(params.get("recordings"), list):
        manifest = all_assets()
        params["recordings"] = [[resolve(x) if isinstance(x, str) and x in manifest else x for x in entry]
                                for entry in params["recordings"]]
    return params


def not_applicable(spec: ClaimSpec, loaded: LoadedModel) -> Verdict | None:
    """A skipped verdict when the claim applies to other sizes than the model's; None when it applies."""
    info = loaded.info
    if spec.applies(info.size):
        return None
    return Verdict(spec.id, info.spec, "skipped",
                   reason=f"claim {spec.id} applies to {', '.join(spec.applies_to)} only; model {info.spec} has "
                          f"the dimensions of {info.size or 'no official size'}")


def measure_claim(spec: ClaimSpec, loaded: LoadedModel, resolve: Resolve | None = None,
                  **overrides: Any) -> Measurement:
    """What ``spec``'s function measures on the model, with `claim_arguments`; no verdict.

    A function that reads assets of its own (other than ``clip`` and ``recordings``) takes ``resolve``.
    """
    resolve = resolve or asset_resolver()
    function = claim_function(spec)
    arguments = claim_arguments(spec, loaded.info.size, resolve, **overrides)
    if "resolve" in inspect.signature(function).parameters:
        arguments.setdefault("resolve", resolve)
    with claim_threads():  # the same numbers on any machine (whisper_claims.threads)
        return function(loaded.model, **arguments)


def run_claim(spec: ClaimSpec, loaded: LoadedModel, resolve: Resolve | None = None,
              report_dir: str | Path | None = None, **overrides: Any) -> Verdict:
    """Measure a claim on a model and judge it against its thresholds.

    Parameters
    ----------
    spec : ClaimSpec
        The claim's registry entry.
    loaded : LoadedModel
        The model and what it is (its size picks ``size_params`` and per-size thresholds).
    resolve : callable, optional
        Asset name → verified path; default `asset_resolver()`.
    report_dir : path, optional
        Where the measurement's figures and audio are written (listed in the verdict's evidence).
    **overrides
        Arguments replacing the entry's ``params`` (tests: smaller settings, constructed inputs).

    Returns
    -------
    Verdict
        ``skipped`` when the claim does not apply to the model's size; otherwise ``holds`` or ``fails``.

    Raises
    ------
    AssetUnavailable, MethodInvalid
        An input is absent; the method missed its own bar on this model (no verdict).
    """
    skipped = not_applicable(spec, loaded)
    if skipped is not None:
        return skipped
    try:
        measured = measure_claim(spec, loaded, resolve, **overrides)
    except MethodInvalid as error:  # no verdict, but what the error shows is drawn as a verdict's would be
        if report_dir is not None and error.artifacts:
            shown = Measurement(metrics={}, evidence=error.evidence, artifacts=error.artifacts)
            error.evidence = with_figures(shown, spec.id, loaded.info.spec, Path(report_dir)).evidence
        raise
    if report_dir is not None:
        measured = with_figures(measured, spec.id, loaded.info.spec, Path(report_dir))
    return judge(spec, loaded.info, measured)
