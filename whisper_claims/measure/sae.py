"""Sparse autoencoders on encoder activations: the post's recipe, a TopK variant, training, files, and
their features as mining units.

The post's recipe (er537/whisper_interpretability, ``sparse_coding/train``): a dictionary ``W`` of
``n_features`` unit-norm columns in activation space, tied weights (the encoder is ``W`` itself),
ReLU, an encoder bias and no decoder bias::

    c = ReLU(x @ W + b)            x̂ = c @ Wᵀ
    loss = mse_scale · mean((x̂ - x)²) + l1 · mean_frames(Σ_f |c_f|)

with ``mse_scale = 1e4``, ``l1 = 1``, 400 features on ``encoder.blocks.3`` (200 on ``blocks.2``), RAdam
(lr 4e-4, eps 1e-5), cosine decay of the learning rate to 0, gradients clipped to norm 1, and ``W``
initialised orthogonally. The columns are renormalised after every step (the original renormalised
at the start of every forward: the same thing one step earlier). The MSE is the mean over frames and
dimensions, the L1 the per-frame sum over features averaged over frames, as in the original.

Deviations: batches are ``batch_size`` frames (the original took the activations of 100 clips per
step, far more frames than a CPU can afford, and its MSE skipped elements equal to its padding value
-1); ``center=True`` subtracts a fixed pre-bias, the training data's mean, before encoding and adds
it back after decoding (not in the original; off by default).

``kind="topk"`` (Gao et al. 2024, "Scaling and evaluating sparse autoencoders") keeps the ``k`` largest
pre-activations of each frame and applies ReLU to them, so a frame has at most ``k`` active features
(exactly ``k`` whenever its ``k``-th largest pre-activation is positive); its L1 coefficient defaults to 0.
``kind="batchtopk"`` (Bussmann, Leask and Nanda 2024, "BatchTopK sparse autoencoders") keeps, in
training, the ``k × batch`` largest ReLU'd pre-activations of the whole batch, so frames share a budget
of ``k`` features on average; at inference (eval mode) a frame keeps every feature whose pre-activation
exceeds one threshold θ (SAELens' JumpReLU form: ``ReLU(z) · [z > θ]``). θ estimates the paper's
expectation, over batches, of the smallest activation a batch keeps: an exponential moving average
(rate ``BATCHTOPK_THRESHOLD_RATE``, SAELens' default) of that smallest kept activation over the
training steps, started at the first batch's value rather than SAELens' 0. Its L1 coefficient defaults to 0.
``tied=False`` gives any kind a separate encoder matrix (initialised to the dictionary); only the
dictionary's columns are kept at unit norm.

Training is deterministic on the CPU: the same activations and config give identical weights (same
torch build and thread count), and the global random state is left as it was.
"""
from __future__ import annotations

import json
import math
import os
import pickle
import time
import zipfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from whisper.model import Whisper

from .. import progress
from ..errors import SAEFileError
from ..models.formats import save_torch
from ..models.load import parameters_sha256
from ..threads import torch_threads
from .mining import Layer, TopFrames, clip_activations, mine_top_frames

FORMAT = "whisper-claims-sae"
VERSION = 1
KINDS = ("relu", "topk", "batchtopk")
TOPK_KINDS = ("topk", "batchtopk")  # the kinds that take k
BATCHTOPK_THRESHOLD_RATE = 0.01  # of the moving average that estimates a batchtopk SAE's threshold
N_CURVE = 10  # points of the loss curve kept in the report


@dataclass(frozen=True)
class SAEConfig:
    """How to build and train a sparse autoencoder; the defaults are the post's ``blocks.3`` recipe.

    Attributes
    ----------
    n_features : int
        Dictionary size (the post: 400 on ``encoder.blocks.3``, 200 on ``encoder.blocks.2``).
    kind : str
        ``"relu"`` (the post), ``"topk"`` or ``"batchtopk"``.
    k : int, optional
        Active features per frame (``batchtopk``: on average over a batch); ``topk`` and ``batchtopk``
        only (required there).
    l1 : float, optional
        Coefficient of the L1 term; default 1.0 for ``relu`` (the post) and 0.0 for ``topk``. It lowers
        each active feature by about ``l1 * d / (2 * mse_scale)`` (0.02 for the post's settings at
        d = 384), so what is sparse depends on the activations' scale.
    mse_scale : float
        Coefficient of the MSE term (the post: 1e4).
    lr, eps : float
        RAdam learning rate (the post: 4e-4) and epsilon (the original: 1e-5).
    steps : int
        Optimizer steps; the data are reshuffled at every pass over them.
    batch_size : int
        Frames per step.
    seed : int
        Seeds the initial weights and the shuffling.
    tied : bool
        Encoder = dictionary (the post); False adds a separate encoder matrix.
    center : bool
        Subtract the training data's mean before encoding, add it back after decoding.
    grad_clip : float
        Gradient norm clipping (the original: 1.0); 0 turns it off.
    cosine : bool
        Cosine decay of the learning rate to 0 over ``steps`` (the original); False keeps it constant.
    held_out : float
        Share of the rows, taken from the end, kept out of training for the report (when
        ``train_sae`` gets no ``held_out`` tensor). With frames stacked clip by clip these are whole clips.
    """

    n_features: int = 400
    kind: str = "relu"
    k: Optional[int] = None
    l1: Optional[float] = None
    mse_scale: float = 1e4
    lr: float = 4e-4
    eps: float = 1e-5
    steps: int = 4000
    batch_size: int = 1024
    seed: int = 0
    tied: bool = True
    center: bool = False
    grad_clip: float = 1.0
    cosine: bool = True
    held_out: float = 0.1

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"SAE kind {self.kind!r}: expected one of {', '.join(KINDS)}")
        if self.l1 is None:
            object.__setattr__(self, "l1", 1.0 if self.kind == "relu" else 0.0)
        _positive_int(self.n_features, "n_features")
        _positive_int(self.steps, "steps")
        _positive_int(self.batch_size, "batch_size")
        if self.kind in TOPK_KINDS:
            _positive_int(self.k, f"k ({self.kind})")
            if self.k > self.n_features:
                raise ValueError(f"SAE k = {self.k}: expected at most n_features = {self.n_features}")
        elif self.k is not None:
            raise ValueError(f"SAE k = {self.k}: only kind 'topk' or 'batchtopk' takes k, "
                             f"expected None for {self.kind!r}")
        for name in ("l1", "mse_scale", "grad_clip"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"SAE {name} = {value!r}: expected a finite number >= 0")
        for name in ("lr", "eps"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"SAE {name} = {value!r}: expected a finite number > 0")
        if not (isinstance(self.held_out, (int, float)) and 0 < self.held_out < 1):
            raise ValueError(f"SAE held_out = {self.held_out!r}: expected a share strictly between 0 and 1")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"SAE seed = {self.seed!r}: expected an integer >= 0")


def _positive_int(value, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"SAE {name} = {value!r}: expected an integer >= 1")


@dataclass(frozen=True)
class TrainingReport:
    """How training went, measured on held-out frames."""

    n_train: int  # frames trained on
    n_held_out: int  # frames evaluated on
    steps: int
    explained_variance: float  # 1 - Σ‖x - x̂‖² / Σ‖x - mean‖² on the held-out frames
    mean_l0: float  # active features per held-out frame
    dead_features: tuple[int, ...]  # never active on the held-out frames
    mse: float  # held-out mean((x̂ - x)²), unscaled
    loss_curve: tuple[float, ...]  # training loss, mean over each tenth of the steps
    seconds: float  # training wall time (the only field that differs between identical runs)

    @property
    def n_dead(self) -> int:
        return len(self.dead_features)

    def live_features(self, n_features: int) -> tuple[int, ...]:
        dead = set(self.dead_features)
        return tuple(i for i in range(n_features) if i not in dead)


class SparseAutoencoder(nn.Module):
    """A dictionary of unit-norm feature directions with a ReLU or TopK encoder (see the module doc).

    Parameters: ``weight`` ``[d_in, n_features]`` (the dictionary, one feature per column), ``bias``
    ``[n_features]`` (encoder bias), ``encoder_weight`` ``[d_in, n_features]`` when untied; buffers
    ``pre_bias`` ``[d_in]`` (zeros unless ``center``) and, for ``batchtopk`` only, ``threshold`` ``[]``
    (the inference threshold θ that training estimates; 0 before).
    """

    def __init__(self, d_in: int, config: SAEConfig = SAEConfig(), generator: Optional[torch.Generator] = None):
        super().__init__()
        _positive_int(d_in, "d_in")
        self.d_in = d_in
        self.config = config
        self.meta: dict = {}  # a loaded file's metadata
        if generator is None:  # never draw from (and so never advance) the global random state
            generator = torch.Generator().manual_seed(config.seed)
        self.weight = nn.Parameter(torch.empty(d_in, config.n_features))
        nn.init.orthogonal_(self.weight, generator=generator)  # as the original
        self.bias = nn.Parameter(torch.zeros(config.n_features))
        self.encoder_weight = None if config.tied else nn.Parameter(torch.empty(d_in, config.n_features))
        self.register_buffer("pre_bias", torch.zeros(d_in))
        if config.kind == "batchtopk":  # the other kinds' state (and so their files and digests) unchanged
            self.register_buffer("threshold", torch.zeros(()))
        self.normalize_()
        if self.encoder_weight is not None:
            with torch.no_grad():
                self.encoder_weight.copy_(self.weight)

    @property
    def n_features(self) -> int:
        return self.config.n_features

    @torch.no_grad()
    def normalize_(self) -> None:
        """Rescale every dictionary column to unit norm (a zero column stays zero)."""
        self.weight.div_(self.weight.norm(dim=0, keepdim=True).clamp_min(1e-12))

    def pre_activations(self, x: Tensor) -> Tensor:
        encoder = self.weight if self.encoder_weight is None else self.encoder_weight
        return (x.to(self.weight.dtype) - self.pre_bias) @ encoder + self.bias

    def encode(self, x: Tensor) -> Tensor:
        """Feature activations ``[..., n_features]`` (>= 0) of activations ``[..., d_in]``.

        A ``batchtopk`` SAE in training mode picks its features over all the frames of ``x`` together;
        in eval mode each frame on its own, by the threshold.
        """
        if x.shape[-1] != self.d_in:
            raise ValueError(f"activations of shape {tuple(x.shape)}: expected [..., {self.d_in}] (d_in of this SAE)")
        z = self.pre_activations(x)
        if self.config.kind == "relu":
            return torch.relu(z)
        if self.config.kind == "batchtopk":
            if self.training:
                return _batch_topk(z, self.config.k)
            return torch.relu(z) * (z > self.threshold)
        values, indices = z.topk(self.config.k, dim=-1)  # ties: torch picks, deterministically on the CPU
        return torch.zeros_like(z).scatter(-1, indices, torch.relu(values))

    def decode(self, c: Tensor) -> Tensor:
        return c @ self.weight.T + self.pre_bias

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(reconstruction, feature activations)``."""
        c = self.encode(x)
        return self.decode(c), c

    def parameters_sha256(self) -> str:
        return parameters_sha256(self)

    def to_plain(self) -> dict:
        """What `from_plain` rebuilds this SAE from (the disk cache of `intermediates` stores it)."""
        return {"d_in": self.d_in, "config": self.config, "training": self.training,
                "state_dict": {name: t.detach().clone() for name, t in self.state_dict().items()}}

    @classmethod
    def from_plain(cls, plain: dict) -> "SparseAutoencoder":
        sae = cls(plain["d_in"], plain["config"])
        sae.load_state_dict(plain["state_dict"])
        return sae.train(plain["training"])

    # files ---------------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike, *, layer: Optional[str] = None, report: Optional[TrainingReport] = None,
             metadata: Optional[dict] = None) -> Path:
        """Write the SAE to ``path`` (a temporary file renamed into place, so never a partial file).

        The file holds ``{"meta": ..., "state_dict": ...}``: the config, ``d_in``, the layer it was
        trained on, the training report, free-form JSON ``metadata`` (e.g. the Whisper model and its
        sha256), and the sha256 of the parameters, checked by ``load``.
        """
        path = Path(path)
        if metadata is not None:
            try:
                json.dumps(metadata, allow_nan=False)
            except (TypeError, ValueError) as error:
                raise ValueError(f"{path}: SAE metadata must be JSON data (str, numbers, lists, dicts): "
                                 f"{error}") from error
        state = {name: tensor.detach().cpu().clone() for name, tensor in self.state_dict().items()}
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "d_in": self.d_in,
            "config": asdict(self.config),
            "layer": layer,
            "report": None if report is None else _report_dict(report),
            "metadata": metadata or {},
            "parameters_sha256": self.parameters_sha256(),
        }
        return save_torch({"meta": meta, "state_dict": state}, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SparseAutoencoder":
        """Read a file written by ``save`` (``torch.load(weights_only=True)``), checking everything.

        The returned SAE is in eval mode; ``sae.meta`` is the file's metadata.

        Raises
        ------
        SAEFileError
            The file is missing or unreadable, is not an SAE file, has an invalid config, tensors of
            the wrong names, shapes or dtypes, or parameters whose sha256 is not the recorded one.
        """
        path = Path(path)
        expected = "expected a file written by SparseAutoencoder.save"
        if not path.is_file():
            raise SAEFileError(f"{path}: no such SAE file; {expected}")
        try:
            content = torch.load(path, map_location="cpu", weights_only=True)
        except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError,
                KeyError, TypeError, AttributeError) as error:
            raise SAEFileError(f"{path}: not a readable SAE file ({type(error).__name__}: {error}); "
                               f"{expected}") from error
        if not isinstance(content, dict) or not isinstance(content.get("meta"), dict) \
                or not isinstance(content.get("state_dict"), dict):
            raise SAEFileError(f"{path}: not an SAE file (no 'meta' and 'state_dict'); {expected}")
        meta, state = content["meta"], content["state_dict"]
        if meta.get("format") != FORMAT:
            raise SAEFileError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}; {expected}")
        if meta.get("version") != VERSION:
            raise SAEFileError(f"{path}: SAE file version {meta.get('version')!r}, "
                               f"this toolkit reads version {VERSION}")
        try:
            config = _config_from_dict(meta["config"])
            d_in = meta["d_in"]
            sae = cls(d_in, config)
        except (KeyError, TypeError, ValueError) as error:
            raise SAEFileError(f"{path}: invalid SAE config or d_in ({type(error).__name__}: {error})") from error
        wanted = {name: tensor for name, tensor in sae.state_dict().items()}
        if set(state) != set(wanted):
            raise SAEFileError(f"{path}: tensors {sorted(state)}, expected {sorted(wanted)} for this config")
        for name, tensor in state.items():
            if not isinstance(tensor, Tensor) or tensor.dtype != torch.float32 \
                    or tuple(tensor.shape) != tuple(wanted[name].shape):
                got = f"{tuple(tensor.shape)} {tensor.dtype}" if isinstance(tensor, Tensor) else type(tensor).__name__
                raise SAEFileError(f"{path}: {name} is {got}, expected {tuple(wanted[name].shape)} torch.float32 "
                                   f"(d_in = {d_in}, n_features = {config.n_features})")
        sae.load_state_dict(state)
        digest = sae.parameters_sha256()
        if digest != meta.get("parameters_sha256"):
            raise SAEFileError(f"{path}: parameters have sha256 {digest}, the file records "
                               f"{meta.get('parameters_sha256')}; the file is corrupt or was edited")
        sae.meta = meta
        return sae.eval()


def _batch_topk(z: Tensor, k: int) -> Tensor:
    """ReLU of the ``k × n_frames`` largest pre-activations ``z`` ``[..., n_features]`` over all frames
    together, zeros elsewhere (fewer when fewer are positive: kept zeros stay zeros)."""
    acts = torch.relu(z)
    flat = acts.flatten()
    n_frames = flat.numel() // z.shape[-1]
    values, indices = flat.topk(min(k * n_frames, flat.numel()))  # ties: torch picks, deterministically on the CPU
    return torch.zeros_like(flat).scatter(0, indices, values).reshape(z.shape)


def _moving_threshold(threshold: Optional[float], kept: Tensor) -> Optional[float]:
    """The moving average of the smallest positive activation a training batch keeps (its first value
    when ``threshold`` is None; unchanged when the batch keeps none)."""
    positive = kept[kept > 0]
    if not len(positive):
        return threshold
    smallest = float(positive.min())
    if threshold is None:
        return smallest
    return (1 - BATCHTOPK_THRESHOLD_RATE) * threshold + BATCHTOPK_THRESHOLD_RATE * smallest


def _config_from_dict(values: dict) -> SAEConfig:
    names = {f.name for f in fields(SAEConfig)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown config fields {sorted(unknown)}")
    return SAEConfig(**values)


def _report_dict(report: TrainingReport) -> dict:
    values = asdict(report)
    values["dead_features"] = list(report.dead_features)
    values["loss_curve"] = list(report.loss_curve)
    return values


# training ----------------------------------------------------------------------------------------

def train_sae(activations: Tensor, config: SAEConfig = SAEConfig(), *, held_out: Optional[Tensor] = None,
              threads: Optional[int] = None) -> tuple[SparseAutoencoder, TrainingReport]:
    """Train a sparse autoencoder on activations ``[n_frames, d]``.

    Parameters
    ----------
    activations : torch.Tensor
        One row per frame, e.g. from ``layer_activations``.
    config : SAEConfig
    held_out : torch.Tensor, optional
        ``[m, d]`` frames for the report; default the last ``config.held_out`` share of the rows,
        which are then not trained on.
    threads : int, optional
        Torch threads while training (restored afterwards); default unchanged. One thread is several
        times faster than two on a 2-core machine shared with other work. Identical weights need the
        same thread count.

    Returns
    -------
    (SparseAutoencoder, TrainingReport)
        The SAE in eval mode, and its held-out explained variance, L0 and dead features.
    """
    data = _frames(activations, "activations")
    if held_out is None:
        n_held = max(1, int(round(config.held_out * len(data))))
        if len(data) - n_held < 1:
            raise ValueError(f"activations of shape {tuple(data.shape)}: too few frames to hold out "
                             f"{config.held_out:.0%} and train on the rest")
        data, held = data[:-n_held], data[-n_held:]
    else:
        held = _frames(held_out, "held_out")
        if held.shape[1] != data.shape[1]:
            raise ValueError(f"held_out of shape {tuple(held.shape)}: expected [m, {data.shape[1]}] "
                             f"like the activations")

    if threads is not None:
        _positive_int(threads, "threads")
        with torch_threads(threads):
            return train_sae(data, config, held_out=held)
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(config.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)  # anything not given the generator still draws reproducibly
        sae = SparseAutoencoder(data.shape[1], config, generator=generator)
        if config.center:
            sae.pre_bias.copy_(data.mean(dim=0))
        sae.train()
        optimizer = torch.optim.RAdam(sae.parameters(), lr=config.lr, eps=config.eps, foreach=False)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.steps, eta_min=0) \
            if config.cosine else None
        losses = torch.empty(config.steps, dtype=torch.float64)
        batch = min(config.batch_size, len(data))
        order, position = torch.empty(0, dtype=torch.int64), 0
        threshold: Optional[float] = None  # batchtopk's estimate of θ, in float64
        for step in range(config.steps):
            if position + batch > len(order):  # a new pass: reshuffle, drop the incomplete last batch
                order, position = torch.randperm(len(data), generator=generator), 0
            x = data[order[position: position + batch]]
            position += batch
            x_hat, c = sae(x)
            if config.kind == "batchtopk":
                threshold = _moving_threshold(threshold, c.detach())
            loss = config.mse_scale * (x_hat - x).pow(2).mean()
            if config.l1:
                loss = loss + config.l1 * c.abs().sum(dim=-1).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                nn.utils.clip_grad_norm_(sae.parameters(), config.grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            sae.normalize_()
            losses[step] = loss.detach()
            if (step + 1) % 100 == 0 or step + 1 == config.steps:
                progress.report("SAE training steps", step + 1, config.steps)
        if config.kind == "batchtopk":
            sae.threshold.fill_(0.0 if threshold is None else threshold)
    seconds = time.perf_counter() - started
    sae.eval()
    explained, mean_l0, dead, mse = evaluate(sae, held)
    curve = tuple(float(chunk.mean()) for chunk in torch.tensor_split(losses, min(N_CURVE, config.steps)))
    return sae, TrainingReport(len(data), len(held), config.steps, explained, mean_l0, dead, mse, curve, seconds)


@torch.no_grad()
def evaluate(sae: SparseAutoencoder, frames: Tensor, chunk: int = 16384) -> tuple[float, float, tuple[int, ...], float]:
    """``(explained variance, mean L0, dead features, mse)`` of an SAE on frames ``[m, d]``."""
    frames = _frames(frames, "frames")
    mean = frames.double().mean(dim=0)
    residual = total = l0 = 0.0
    active = torch.zeros(sae.n_features, dtype=torch.bool)
    for x in frames.split(chunk):
        x_hat, c = sae(x)
        residual += float((x_hat.double() - x.double()).pow(2).sum())
        total += float((x.double() - mean).pow(2).sum())
        l0 += float((c > 0).sum())
        active |= (c > 0).any(dim=0)
    explained = 1.0 - residual / total if total > 0 else float("nan")
    dead = tuple(int(i) for i in torch.nonzero(~active).flatten())
    return explained, l0 / len(frames), dead, residual / frames.numel()


def _frames(tensor: Tensor, what: str) -> Tensor:
    if not isinstance(tensor, Tensor) or tensor.ndim != 2 or not tensor.is_floating_point() or len(tensor) < 1:
        shape = tuple(tensor.shape) if isinstance(tensor, Tensor) else type(tensor).__name__
        raise ValueError(f"{what} of shape {shape}: expected a float tensor [n_frames, d] with n_frames >= 1")
    if not torch.isfinite(tensor).all():
        n_bad = int((~torch.isfinite(tensor)).sum())
        raise ValueError(f"{what}: {n_bad} values are NaN or infinite; expected finite values")
    return tensor.detach().to("cpu", torch.float32).contiguous()


# calibration and seeds ---------------------------------------------------------------------------

def activation_scale(activations: Tensor) -> float:
    """Mean L2 norm of the rows ``[n_frames, d]``: the scale the L1 coefficient is calibrated to."""
    return float(_frames(activations, "activations").double().norm(dim=1).mean())


def calibrated_l1(scale: float, d_in: int, config: SAEConfig, shrink: float) -> float:
    """The L1 coefficient of the post's loss that lowers each active feature by ``shrink`` times the
    mean frame norm ``scale`` of ``d_in``-dimensional activations.

    With ``loss = mse_scale · mean((x̂ - x)²) + l1 · Σ|c|`` on ``d`` dimensions and unit-norm columns, the
    L1 term lowers every active feature by ``l1 · d / (2 · mse_scale)`` (in activation units), whatever
    the activations' scale: the post's ``l1 = 1`` with ``mse_scale = 1e4`` lowers them by about 0.02,
    nothing for frames of norm ~10, everything for frames of norm ~0.01. Fixing the shrinkage relative
    to the frames' norm makes one setting mean the same on every layer and model.
    """
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"activation scale {scale!r}: expected a finite mean frame norm > 0")
    if not (isinstance(shrink, (int, float)) and math.isfinite(shrink) and shrink >= 0):
        raise ValueError(f"l1_shrink = {shrink!r}: expected a finite number >= 0")
    if config.kind != "relu":
        raise ValueError(f"l1_shrink calibrates the L1 of kind 'relu'; this SAE is {config.kind!r}")
    _positive_int(d_in, "d_in")
    return 2 * config.mse_scale * shrink * scale / d_in


def recurring_features(saes: Sequence[SparseAutoencoder], min_cosine: float = 0.9) -> dict:
    """How many features of the first SAE recur in every other one: a dictionary column of each other
    SAE with cosine ≥ ``min_cosine`` (columns are unit-norm, so cosine = dot product)."""
    first = saes[0].weight.detach()
    recur = torch.ones(first.shape[1], dtype=torch.bool)
    best = []
    for other in saes[1:]:
        cosines = (first.T @ other.weight.detach()).max(dim=1).values
        best.append(cosines)
        recur &= cosines >= min_cosine
    return {"n_saes": len(saes), "min_cosine": min_cosine, "recurring": int(recur.sum()) if len(saes) > 1 else None,
            "of": first.shape[1],
            "median_best_cosine": [round(float(b.median()), 4) for b in best]}


# corpus ------------------------------------------------------------------------------------------

def layer_activations(model: Whisper, clips: Sequence[np.ndarray], layer: str, *, trim: bool = False,
                      batch_size: int = 8) -> Tensor:
    """Activations ``[Σ clip frames, n_units]`` of ``layer`` over ``clips``, stacked clip by clip in
    corpus order (frames inside each clip only): the training data of ``train_sae``."""
    per_clip: dict[int, Tensor] = {}
    for index, acts in clip_activations(model, clips, layer, trim=trim, batch_size=batch_size):
        per_clip[index] = acts
    if not per_clip:
        raise ValueError("no clips to collect activations from")
    return torch.cat([per_clip[i] for i in range(len(clips))])


def _check_layer(model: Whisper, layer: str, sae: SparseAutoencoder) -> None:
    parsed = Layer.parse(layer, model)
    n_units = parsed.n_units(model)
    if n_units != sae.d_in:
        raise ValueError(f"layer {layer} has {n_units} units but the SAE takes d_in = {sae.d_in}")
    trained_on = sae.meta.get("layer")
    if trained_on is not None and trained_on != layer:
        raise ValueError(f"the SAE was trained on {trained_on}, not {layer}")


@torch.no_grad()
def sae_activations(model: Whisper, clips: Sequence[np.ndarray], layer: str, sae: SparseAutoencoder, *,
                    trim: bool = False, batch_size: int = 8) -> Iterator[tuple[int, Tensor]]:
    """``(clip index, feature activations [clip_frames, n_features])`` for every clip, like
    ``mining.clip_activations`` with the SAE's encoder applied."""
    _check_layer(model, layer, sae)
    for index, acts in clip_activations(model, clips, layer, trim=trim, batch_size=batch_size):
        yield index, sae.encode(acts)


def mine_sae_features(model: Whisper, clips: Sequence[np.ndarray], layer: str, sae: SparseAutoencoder, k: int, *,
                      trim: bool = False, per_clip: bool = False, batch_size: int = 8) -> TopFrames:
    """Top-``k`` frames of every SAE feature over ``clips`` (``mining.mine_top_frames`` with the
    features as units), after checking that the SAE fits the layer."""
    _check_layer(model, layer, sae)
    with torch.no_grad():
        return mine_top_frames(model, clips, layer, k, trim=trim, per_clip=per_clip, batch_size=batch_size,
                               units=sae.encode)
