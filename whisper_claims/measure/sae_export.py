"""Sparse autoencoders written in the folder layout SAE libraries read (SAELens' ``cfg.json`` and
``sae_weights.safetensors``), and read back with every byte checked.

SAELens' inference forward, which these files are laid out for::

    f = act((x - b_dec) @ W_enc + b_enc)        x̂ = f @ W_dec + b_dec

(``apply_b_dec_to_input`` true, ``normalize_activations`` "none"). Our `SparseAutoencoder` maps onto it
exactly: ``W_enc`` is the encoder matrix (the dictionary itself when tied) ``[d_in, d_sae]``, ``b_enc`` the
encoder bias, ``W_dec`` the dictionary transposed ``[d_sae, d_in]`` and ``b_dec`` the pre-bias (the
training data's mean when centred, zeros otherwise), so a library's features and reconstructions are
ours. ``act`` is ReLU for kind ``relu`` (architecture "standard"), ReLU of the ``k`` largest
pre-activations for ``topk`` (architecture "topk", ``k``), and for ``batchtopk`` its inference rule
``ReLU(z) · [z > θ]``: SAELens has no inference "batchtopk" architecture and saves its own BatchTopK
SAEs as "jumprelu" with a ``threshold`` tensor ``[d_sae]`` filled with θ, and so do we (``k`` is then
in our config only).

``cfg.json`` uses SAELens' flat layout of versions before 6 (``hook_name``, ``model_name`` and
``activation_fn_str`` at the top level, no ``sae_lens_version``), which SAELens 6 converts on loading
(``handle_pre_6_0_config``); our own keys sit under ``"whisper_claims"``, which SAELens ignores: the
format and its version, the Whisper model's parameters sha256, the SAE's training config and report,
the sha256 of the weights file (checked on loading) and of the SAE's parameters.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import torch
from torch import Tensor

from ..errors import CheckpointError, SAEFileError
from ..files import atomic_paths, sha256_file
from ..models.formats import read_safetensors, write_safetensors
from .hooks import parse_layer
from .sae import SparseAutoencoder, TrainingReport, _config_from_dict, _report_dict

EXPORT_FORMAT = "whisper-claims-sae-export"
EXPORT_VERSION = 1
WEIGHTS_FILE = "sae_weights.safetensors"  # SAELens' SAE_WEIGHTS_FILENAME
CONFIG_FILE = "cfg.json"  # SAELens' SAE_CFG_FILENAME
# SAELens architecture and activation function of each kind
ARCHITECTURES = {"relu": ("standard", "relu"), "topk": ("topk", "topk"), "batchtopk": ("jumprelu", "relu")}
# the keys every exported cfg.json has (SAELens' and ours); load_exported_sae needs each of them
REQUIRED_KEYS = ("architecture", "d_in", "d_sae", "dtype", "model_name", "hook_name", "hook_layer",
                 "activation_fn_str", "activation_fn_kwargs", "apply_b_dec_to_input", "normalize_activations",
                 "whisper_claims")
OUR_KEYS = ("format", "version", "kind", "config", "model_parameters_sha256", "weights_sha256",
            "sae_parameters_sha256")


def sae_lens_tensors(sae: SparseAutoencoder) -> dict[str, Tensor]:
    """The SAE's parameters as SAELens names and shapes them (float32 copies): ``W_enc`` ``[d_in, d_sae]``,
    ``b_enc`` ``[d_sae]``, ``W_dec`` ``[d_sae, d_in]``, ``b_dec`` ``[d_in]``, and for ``batchtopk``
    ``threshold`` ``[d_sae]``."""
    encoder = sae.weight if sae.encoder_weight is None else sae.encoder_weight
    tensors = {"W_enc": encoder, "b_enc": sae.bias, "W_dec": sae.weight.T, "b_dec": sae.pre_bias}
    if sae.config.kind == "batchtopk":  # SAELens' JumpReLU: one threshold per feature, here all θ
        tensors["threshold"] = sae.threshold.expand(sae.n_features)
    return {name: t.detach().to("cpu", torch.float32).contiguous().clone() for name, t in tensors.items()}


def export_sae(sae: SparseAutoencoder, folder: str | os.PathLike, *, model_name: str, model_sha256: str,
               hook_name: str, report: Optional[TrainingReport] = None, metadata: Optional[dict] = None) -> Path:
    """Write ``sae`` to ``folder`` as ``sae_weights.safetensors`` and ``cfg.json`` (see the module doc).

    Parameters
    ----------
    sae : SparseAutoencoder
    folder : str or PathLike
        Created if needed; both files are written to temporary names and renamed only when both are
        complete, so a failure leaves neither half-written.
    model_name : str
        The Whisper model the SAE reads (``"tiny.en"``, a checkpoint's name).
    model_sha256 : str
        That model's parameters sha256 (``models.load.parameters_sha256``): which weights exactly.
    hook_name : str
        Where the SAE reads: ``encoder.blocks.N`` (the residual after block N) or ``encoder.blocks.N.mlp.1``.
    report : TrainingReport, optional
        How training went; stored with the config.
    metadata : dict, optional
        Free-form JSON data stored under ``whisper_claims.metadata``.

    Returns
    -------
    pathlib.Path
        ``folder``.
    """
    folder = Path(folder)
    if sae.config.kind not in ARCHITECTURES:
        raise ValueError(f"SAE kind {sae.config.kind!r}: this layout is written for {', '.join(ARCHITECTURES)}")
    parsed = parse_layer(hook_name)
    if parsed is None:
        raise ValueError(f"hook_name {hook_name!r}: expected 'encoder.blocks.N' or 'encoder.blocks.N.mlp.1'")
    trained_on = sae.meta.get("layer")
    if trained_on is not None and trained_on != hook_name:
        raise ValueError(f"the SAE was trained on {trained_on}, not {hook_name}")
    if not (isinstance(model_sha256, str) and len(model_sha256) == 64
            and all(c in "0123456789abcdef" for c in model_sha256)):
        raise ValueError(f"model_sha256 {model_sha256!r}: expected 64 lowercase hex characters")
    if not isinstance(model_name, str) or not model_name:
        raise ValueError(f"model_name {model_name!r}: expected the name of the Whisper model")
    ours = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "kind": sae.config.kind,
            "config": asdict(sae.config), "model_parameters_sha256": model_sha256,
            "sae_parameters_sha256": sae.parameters_sha256(),
            "report": None if report is None else _report_dict(report), "metadata": metadata or {}}
    try:
        json.dumps(ours, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{folder}: SAE metadata must be JSON data (str, numbers, lists, dicts): {error}") from error
    architecture, activation = ARCHITECTURES[sae.config.kind]
    k = sae.config.k if architecture == "topk" else None  # a JumpReLU SAE has no k
    cfg = {
        "architecture": architecture,
        "d_in": sae.d_in,
        "d_sae": sae.n_features,
        "dtype": "float32",
        "device": "cpu",
        "model_name": model_name,
        "hook_name": hook_name,
        "hook_layer": parsed[1],
        "hook_head_index": None,
        "activation_fn_str": activation,
        "activation_fn_kwargs": {} if k is None else {"k": k},
        **({} if k is None else {"k": k}),
        "apply_b_dec_to_input": True,
        "finetuning_scaling_factor": False,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "whisper_claims": ours,
    }
    tensors = sae_lens_tensors(sae)
    with atomic_paths([folder / WEIGHTS_FILE, folder / CONFIG_FILE]) as (weights, config):
        with open(weights, "wb") as f:
            write_safetensors(tensors, f)
        ours["weights_sha256"] = sha256_file(weights)
        config.write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    return folder


def load_exported_sae(folder: str | os.PathLike) -> SparseAutoencoder:
    """Read a folder written by `export_sae`, checking the weights file's sha256, every key, name, shape
    and dtype, and that the rebuilt SAE's parameters are the ones exported.

    Returns
    -------
    SparseAutoencoder
        In eval mode; ``sae.meta["layer"]`` is the hook name (so mining checks the layer) and
        ``sae.meta["export"]`` the whole ``cfg.json``.

    Raises
    ------
    SAEFileError
        A missing or unreadable file, a ``cfg.json`` missing a key or disagreeing with itself, a weights
        file whose sha256 is not the recorded one (damaged, truncated, replaced), tensors of the wrong
        names, shapes or dtypes, or a tied SAE whose ``W_enc`` is not ``W_dec`` transposed. The message
        names the file and what was expected.
    """
    folder = Path(folder)
    cfg_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    expected = "expected a folder written by export_sae"
    if not cfg_path.is_file():
        raise SAEFileError(f"{cfg_path}: no such file; {expected}")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SAEFileError(f"{cfg_path}: not readable JSON ({error}); {expected}") from None
    if not isinstance(cfg, dict):
        raise SAEFileError(f"{cfg_path}: a JSON {type(cfg).__name__}, expected an object; {expected}")
    missing = [key for key in REQUIRED_KEYS if key not in cfg]
    ours = cfg.get("whisper_claims")
    if isinstance(ours, dict):
        missing += [f"whisper_claims.{key}" for key in OUR_KEYS if key not in ours]
    elif "whisper_claims" in cfg:
        raise SAEFileError(f"{cfg_path}: whisper_claims is {ours!r}, expected an object; {expected}")
    if missing:
        raise SAEFileError(f"{cfg_path}: missing keys {', '.join(missing)}; {expected}")
    if ours["format"] != EXPORT_FORMAT:
        raise SAEFileError(f"{cfg_path}: whisper_claims.format {ours['format']!r}, expected {EXPORT_FORMAT!r}")
    if ours["version"] != EXPORT_VERSION:
        raise SAEFileError(f"{cfg_path}: whisper_claims.version {ours['version']!r}, this toolkit reads "
                           f"version {EXPORT_VERSION}")
    try:
        config = _config_from_dict(ours["config"])
    except (TypeError, ValueError) as error:
        raise SAEFileError(f"{cfg_path}: invalid whisper_claims.config ({type(error).__name__}: {error})") from None
    d_in, d_sae = cfg["d_in"], cfg["d_sae"]
    _agree(cfg_path, cfg, config, d_in, d_sae)

    if not weights_path.is_file():
        raise SAEFileError(f"{weights_path}: no such file; {expected}")
    digest = sha256_file(weights_path)
    if digest != ours["weights_sha256"]:
        raise SAEFileError(f"{weights_path}: sha256 is {digest}, {CONFIG_FILE} records {ours['weights_sha256']}; "
                           f"the file is damaged, truncated or was replaced")
    try:
        tensors = read_safetensors(weights_path)
    except CheckpointError as error:
        raise SAEFileError(f"{weights_path}: not a readable safetensors file ({error})") from None
    shapes = {"W_enc": (d_in, d_sae), "b_enc": (d_sae,), "W_dec": (d_sae, d_in), "b_dec": (d_in,)}
    if config.kind == "batchtopk":
        shapes["threshold"] = (d_sae,)
    if set(tensors) != set(shapes):
        raise SAEFileError(f"{weights_path}: tensors {sorted(tensors)}, expected {sorted(shapes)}")
    for name, shape in shapes.items():
        tensor = tensors[name]
        if tensor.dtype != torch.float32 or tuple(tensor.shape) != shape:
            raise SAEFileError(f"{weights_path}: {name} is {tuple(tensor.shape)} {tensor.dtype}, expected {shape} "
                               f"torch.float32 (d_in = {d_in}, d_sae = {d_sae} in {CONFIG_FILE})")
    if "threshold" in shapes and not bool((tensors["threshold"] == tensors["threshold"][0]).all()):
        raise SAEFileError(f"{weights_path}: threshold differs between features; a batchtopk SAE has one "
                           f"threshold, expected the same value for every feature")
    if config.tied and not torch.equal(tensors["W_enc"], tensors["W_dec"].T):
        raise SAEFileError(f"{weights_path}: the SAE is tied (whisper_claims.config.tied) but W_enc is not W_dec "
                           f"transposed")
    sae = SparseAutoencoder(d_in, config)
    state = {"weight": tensors["W_dec"].T.contiguous(), "bias": tensors["b_enc"], "pre_bias": tensors["b_dec"]}
    if not config.tied:
        state["encoder_weight"] = tensors["W_enc"]
    if config.kind == "batchtopk":
        state["threshold"] = tensors["threshold"][0].clone()
    sae.load_state_dict(state)
    if sae.parameters_sha256() != ours["sae_parameters_sha256"]:
        raise SAEFileError(f"{folder}: the SAE rebuilt from {WEIGHTS_FILE} has parameters sha256 "
                           f"{sae.parameters_sha256()}, {CONFIG_FILE} records {ours['sae_parameters_sha256']}")
    sae.meta = {"layer": cfg["hook_name"], "export": cfg}
    return sae.eval()


def _agree(cfg_path: Path, cfg: dict, config, d_in, d_sae) -> None:
    """SAELens' keys must say what our config says: a library reads only theirs."""
    for name, value in (("d_in", d_in), ("d_sae", d_sae)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SAEFileError(f"{cfg_path}: {name} = {value!r}, expected an integer >= 1")
    if d_sae != config.n_features:
        raise SAEFileError(f"{cfg_path}: d_sae = {d_sae} but whisper_claims.config.n_features = {config.n_features}")
    kind = cfg["whisper_claims"]["kind"]
    if kind != config.kind or kind not in ARCHITECTURES:
        raise SAEFileError(f"{cfg_path}: whisper_claims.kind {kind!r}, config kind {config.kind!r}; expected one "
                           f"of {', '.join(ARCHITECTURES)}, the same in both")
    architecture, activation = ARCHITECTURES[kind]
    checks = [("architecture", architecture), ("activation_fn_str", activation), ("dtype", "float32"),
              ("apply_b_dec_to_input", True), ("normalize_activations", "none"),
              ("activation_fn_kwargs", {"k": config.k} if architecture == "topk" else {})]
    if architecture == "topk":
        checks.append(("k", config.k))
    for key, wanted in checks:
        if cfg.get(key) != wanted:
            raise SAEFileError(f"{cfg_path}: {key} = {cfg.get(key)!r}, expected {wanted!r} for a {kind} SAE")
    parsed = parse_layer(cfg["hook_name"]) if isinstance(cfg["hook_name"], str) else None
    if parsed is None or cfg["hook_layer"] != parsed[1]:
        raise SAEFileError(f"{cfg_path}: hook_name {cfg['hook_name']!r} and hook_layer {cfg['hook_layer']!r}: "
                           f"expected 'encoder.blocks.N' (or its '.mlp.1') and N")
