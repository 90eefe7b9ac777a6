"""Claims of the post's second section, "Encoder MLP neurons and features are phonetic".

Each function takes the model and the claim's ``params`` from ``claims/thresholds.toml`` and returns a
``Measurement``. The stimulus corpus (espeak-ng sentences with frame-level phoneme labels) is built
once per process and the mining pass once per model, layer and corpus (``memo.per_model``): the
claims share them.
"""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence

import numpy as np
import torch
from torch import Tensor
from whisper.model import Whisper

from ..errors import AssetUnavailable, MethodInvalid
from ..files import PACKAGE_DATA
from ..measure import intermediates
from ..measure.listening import default_prefix
from ..measure.memo import per_model, weights_digest
from ..measure.mining import (Layer, Mined, Projection, clip_activations, clip_frames, corpus_activations, mine,
                              mine_activations, project, top_k_agreement)
from ..measure import sae_frontier
from ..measure.sae import (SAEConfig, SparseAutoencoder, TrainingReport, activation_scale, calibrated_l1,
                           recurring_features, train_sae)
from ..measure.intervals import Interval, bootstrap, clopper_pearson, wilson
from ..measure.selectivity import (SILENCE, UnitSelectivity, band_dominants, difference_bootstrap, margin_over_bases,
                                   phoneme_tuning, polysemantic, random_orthogonal_basis, random_orthogonal_bases,
                                   top_labels, tuning_agreement, unit_selectivity)
from ..stimuli.audio import check_fits, load_audio
from ..stimuli.corpus import CorpusOptions, StimulusClip, build_corpus, load_reference_speech
from ..stimuli.speech_corpus import SpeechCorpusOptions, build_speech_corpus
from ..threads import invariant
from .verdict import Measurement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover  (Python 3.10: pyproject installs tomli there)
    import tomli as tomllib

POST_TABLE = PACKAGE_DATA / "post_neuron_table.toml"
RANDOM_BASIS = "random_basis"
# random bases of the layer the neurons are compared with (issue #30: one basis's share moves by a few
# neurons from seed to seed, as much as the margins it decided)
N_BASES = 20
PASS_SHARD = 250  # clips per shard of the corpus pass on disk (~190 MB on tiny.en)
REAL_MIN_FRAMES = 5  # a phoneme enters a unit's real-speech tuning with at least this many frames in each corpus
# on the real-speech corpus (32,000 speech frames, every phoneme ≥ 168 frames): a phoneme's mean activation
# over ≥ 50 frames (1 s of it) has a standard error of a seventh of the unit's spread, so a tuning is not noise
TRANSFER_MIN_FRAMES = 50


@lru_cache(maxsize=4)
def stimulus_corpus(options: CorpusOptions | SpeechCorpusOptions) -> tuple[StimulusClip, ...]:
    """The corpus, once per process: espeak-ng clips synthesized (or read from the disk cache) by one
    process while the others wait, then read; real speech cut from the asset manifest's recordings."""
    if isinstance(options, SpeechCorpusOptions):
        return tuple(build_speech_corpus(options))
    with intermediates.exclusive("stimuli", repr(options)):
        return tuple(build_corpus(options))


CORPUS_SOURCES = {"espeak-ng": CorpusOptions, "speech": SpeechCorpusOptions}


def corpus_options(corpus: dict) -> CorpusOptions | SpeechCorpusOptions:
    """A claim's ``corpus`` parameter: espeak-ng sentences (``source`` absent or ``"espeak-ng"``) or real
    aligned speech cut into clips (``source = "speech"``, `whisper_claims.stimuli.speech_corpus`)."""
    source = corpus.get("source", "espeak-ng")
    if source not in CORPUS_SOURCES:
        raise ValueError(f"corpus source {source!r}: expected one of {sorted(CORPUS_SOURCES)}")
    fields = {key: tuple(v) if isinstance(v, list) else v for key, v in corpus.items() if key != "source"}
    return CORPUS_SOURCES[source](**fields)


@dataclass(frozen=True)
class CorpusPass:
    """Activations of some layers at every frame of every corpus clip, from one encoder pass."""

    layers: tuple[str, ...]
    trim: bool
    activations: dict[str, tuple[Tensor, ...]]  # layer → per clip [clip_frames, n_units]

    def clip_activations(self, layer: str) -> Iterator[tuple[int, Tensor]]:
        return enumerate(self.activations[layer])

    def stacked(self, layer: str) -> Tensor:
        """``[Σ clip frames, n_units]``, clip by clip in corpus order."""
        return torch.cat(self.activations[layer])


def corpus_pass(model: Whisper, corpus: dict, layer: str, pass_layers: Optional[Sequence[str]],
                trim: bool) -> tuple[tuple[StimulusClip, ...], CorpusPass]:
    """The corpus and its activations at ``pass_layers`` (default: ``layer`` alone), computed once
    per model in one pass: the phonetic claims name the same ``pass_layers`` so that they share it.
    Padded to 30 s (the post's input) unless ``trim``."""
    layers = tuple(pass_layers) if pass_layers else (layer,)
    if layer not in layers:
        raise ValueError(f"layer {layer!r} is not among pass_layers {list(layers)}; add it there")
    options = corpus_options(corpus)
    clips = stimulus_corpus(options)

    def shard(start: int) -> dict[str, tuple[Tensor, ...]]:
        members = clips[start: start + PASS_SHARD]
        lengths = [clip_frames(len(c.audio)) for c in members]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).tolist()
        # each clip's rows copied into one block per layer, not cloned one by one: small clones between
        # the padded pass's large temporaries fragment the heap (base: ~10 MB of RSS per clip for 1 MB kept;
        # the 2,000-clip pass then held 11.6 GiB in a worker beside another, and CI's worker was killed)
        blocks: dict[str, Tensor] = {}
        # one padded clip at a time: 3.5 clips/s on tiny.en against 2.8 in batches of 8 (2 cores)
        with invariant():  # the process's threads: the pass gives the same bits on any number
            for index, acts in corpus_activations(model, [c.audio for c in members], layers, trim=trim,
                                                  batch_size=8 if trim else 1):
                for name in layers:
                    if name not in blocks:  # the layer's width and dtype as the pass gives them
                        blocks[name] = acts[name].new_empty((offsets[-1], acts[name].shape[1]))
                    blocks[name][offsets[index]: offsets[index + 1]].copy_(acts[name])
        return {name: tuple(block[offsets[i]: offsets[i + 1]] for i in range(len(members)))
                for name, block in blocks.items()}

    def compute() -> CorpusPass:
        # in shards kept on disk, so that processes needing the pass compute it together
        starts = range(0, len(clips), PASS_SHARD)
        keys = [intermediates.entry_key("corpus-pass", ("pass shard", layers, trim, _audio_sha256(clips[s: s + PASS_SHARD])),
                                        weights=weights_digest(model), module=__name__) for s in starts]
        parts = intermediates.sharded("corpus-pass", keys, lambda i: shard(starts[i]),
                                      describe=f"{layers} {'trimmed' if trim else 'padded'} pass of {options}")
        return CorpusPass(layers, trim, {name: tuple(a for part in parts for a in part[name]) for name in layers})

    return clips, per_model(model, ("pass", options, layers, trim), compute)


def _audio_sha256(clips: Sequence[StimulusClip]) -> str:
    """sha256 of the clips' samples and lengths: the pass's input, by content."""
    digest = hashlib.sha256()
    for clip in clips:
        audio = np.ascontiguousarray(clip.audio)
        digest.update(f"{audio.dtype.str}{audio.shape}".encode())
        digest.update(audio.tobytes())
    return digest.hexdigest()


def mined_corpus(model: Whisper, corpus: dict, layer: str, *, k: int, trim: bool, per_clip: bool,
                 n_directions: int, basis_seed: int, n_bases: int = 1,
                 pass_layers: Optional[Sequence[str]] = None) -> tuple[tuple[StimulusClip, ...], Mined]:
    """The corpus and the mining of ``layer`` over it: its units and ``n_bases`` random orthogonal bases
    of ``n_directions`` directions each (the control bases, seeds ``basis_seed`` on, side by side in the
    ``RANDOM_BASIS`` view: ``selectivity.random_orthogonal_bases``), each with its top-``k`` frames."""
    clips, stored = corpus_pass(model, corpus, layer, pass_layers, trim)
    n_units = Layer.parse(layer, model).n_units(model)

    def compute() -> Mined:
        bases = random_orthogonal_bases(n_units, n_directions, n_bases, seed=basis_seed)
        return mine_activations(stored.clip_activations(layer), len(clips), k, views={RANDOM_BASIS: bases},
                                per_clip=per_clip)

    key = ("mined", corpus_options(corpus), layer, k, trim, per_clip, n_directions, basis_seed, n_bases,
           stored.layers)
    return clips, per_model(model, key, compute)


def _labels(clips: Sequence[StimulusClip]) -> list[np.ndarray]:
    return [c.frame_labels for c in clips]


def _population(clips: Sequence[StimulusClip]) -> list[str]:
    return [str(label) for c in clips for label in c.frame_labels]


def _selectivity(mined: Mined, view: str, clips, units: Sequence[int], top_k: int, n_permutations: int,
                 seed: int) -> list[UnitSelectivity]:
    top = mined.top[view]
    labels = top_labels(top.clip[list(units), :top_k], top.frame[list(units), :top_k], _labels(clips))
    results = unit_selectivity(labels, _population(clips), n_permutations=n_permutations, seed=seed)
    return [replace(r, unit=u) for u, r in zip(units, results)]


def _summary(results: Sequence[UnitSelectivity], alpha: float) -> list[dict]:
    return [{"unit": r.unit, "dominant": r.dominant, "share": round(r.share, 3), "class": r.dominant_class,
             "class_share": round(r.class_share, 3), "p_value": r.p_value, "selective": r.selective(alpha),
             "top_labels": " ".join(r.labels)} for r in results]


def _corpus_evidence(options: CorpusOptions | SpeechCorpusOptions, clips: Sequence[StimulusClip]) -> dict:
    labels = _population(clips)
    values, counts = np.unique(labels, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    if isinstance(options, SpeechCorpusOptions):
        recordings = sorted({c.name.rsplit("@", 1)[0] for c in clips})
        source = {"source": "real speech", "folders": list(options.folders), "n_recordings": len(recordings),
                  "min_speech_s": options.min_speech_s,
                  "fewest_frames_of_a_phoneme": int(min(n for v, n in zip(values, counts) if v != SILENCE))}
    else:
        source = {"seed": options.seed, "voices": list(options.voices), "rates": list(options.rates)}
    return {"n_clips": len(clips), "clip_s": options.clip_s, **source, "n_frames": len(labels),
            "silence_share": float(np.mean(np.asarray(labels) == SILENCE)),
            "label_shares": {str(values[i]): round(counts[i] / len(labels), 4) for i in order[:12]}}


def enc_neuron_phoneme(model: Whisper, *, corpus: dict, layer: str, n_examined: int = 50, top_k: int = 20,
                       mine_k: int = 200, alpha: float = 0.01, n_permutations: int = 2000, trim: bool = False,
                       per_clip: bool = True, basis_seed: int = 0, n_bases: int = N_BASES,
                       agreement_clips: int = 100, pass_layers: Optional[Sequence[str]] = None,
                       transfer_from: Optional[dict] = None) -> Measurement:
    """Encoder MLP neurons are phoneme-selective: the top frames of most of neurons ``0 … n_examined-1``
    share one phoneme far more than shuffled labels would, and more often than random directions do.

    A unit is selective when its permutation p-value (max label share of its ``top_k`` frames against
    the corpus' shuffled frame labels) is below ``alpha`` and its dominant label is not silence.
    Clips are padded to 30 s as the post did; ``trim`` mines the clip's frames alone (faster, not the
    post's experiment: its top-``k`` agreement with the padded input on ``agreement_clips`` clips is
    then in the evidence). ``corpus`` is espeak-ng speech, or real speech (``source = "speech"``, the
    post's input) with ``transfer_from`` naming the espeak-ng corpus whose tunings are compared with it.

    Metrics
    -------
    selective_fraction
        Share of the examined neurons that are selective; 95% Wilson interval over the ``n_examined``
        neurons.
    margin_over_random_basis
        ``selective_fraction`` minus the median of the same share over ``n_bases`` random orthogonal
        bases of ``n_examined`` directions of the same layer (seeds ``basis_seed`` on; the original code
        drew one); 95% bootstrap interval resampling the neurons and, independently, the bases
        (``selectivity.margin_over_bases``). Every basis's share and the neurons' permutation-style
        p-value among them are in the evidence (``random_bases``).
    """
    clips, mined = mined_corpus(model, corpus, layer, k=mine_k, trim=trim, per_clip=per_clip,
                                n_directions=n_examined, basis_seed=basis_seed, n_bases=n_bases,
                                pass_layers=pass_layers)
    units = range(n_examined)
    neurons = _selectivity(mined, "units", clips, units, top_k, n_permutations, seed=0)
    bases = _bases(mined, clips, n_examined, n_bases, top_k, n_permutations)
    metrics, intervals, null = against_bases(neurons, bases, alpha)
    metrics["margin_over_random_basis"] = metrics.pop("margin")
    intervals["margin_over_random_basis"] = intervals.pop("margin")
    listen_to = [r.unit for r in sorted(neurons, key=lambda r: r.p_value)[:5]]  # the most selective
    agreement = trim_agreement(model, clips[:agreement_clips], layer, top_k, per_clip) if trim else None
    _, stored = corpus_pass(model, corpus, layer, pass_layers, trim)
    real, real_listening = _speech_evidence(model, layer, clips, stored, units, mined.top["units"],
                                            transfer_from=transfer_from, pass_layers=pass_layers, trim=trim,
                                            listen_to=listen_to if transfer_from is None else (),
                                            what=f"{layer} neuron")
    if "unavailable" not in real:
        directions = random_orthogonal_basis(Layer.parse(layer, model).n_units(model), n_examined, basis_seed)
        if transfer_from is None:
            basis_real, _ = real_speech(model, layer, clips, stored, units, view=directions)  # the mined basis
        else:
            basis_real = espeak_transfer(model, layer, clips, stored, units, transfer_from=transfer_from,
                                         pass_layers=pass_layers, trim=trim, view=directions)
        real["random_basis"] = {key: basis_real[key] for key in ("median_rho", "share_positive_p05")}
    return Measurement(
        metrics=metrics,
        evidence={
            "layer": layer, "top_k": top_k, "alpha": alpha, "input": _input(trim), "per_clip": per_clip,
            "corpus": _corpus_evidence(corpus_options(corpus), clips),
            "random_basis_selective_fraction": null["median"],  # the median over the bases
            "random_bases": {**null, "seeds": [basis_seed + b for b in range(n_bases)]},
            "trimmed_vs_padded_top_k_agreement": agreement,
            "neurons": _summary(neurons, alpha),
            "random_basis": _summary(bases[0], alpha),  # the first basis (seed basis_seed), direction by direction
            "real_speech" if transfer_from is None else "espeak_transfer": real,
        },
        intervals=intervals,
        artifacts={"listening": _listening(mined.top["units"], clips, listen_to, default_prefix(layer),
                                           f"{layer} neuron"),
                   "listening_real": real_listening},
    )


def _bases(mined: Mined, clips, n_directions: int, n_bases: int, top_k: int,
           n_permutations: int) -> list[list[UnitSelectivity]]:
    """Selectivity of every direction of the ``n_bases`` mined random bases, basis by basis, each
    direction numbered within its basis (one permutation null for all of them)."""
    found = _selectivity(mined, RANDOM_BASIS, clips, range(n_directions * n_bases), top_k, n_permutations, seed=0)
    return [[replace(r, unit=r.unit - b * n_directions) for r in found[b * n_directions: (b + 1) * n_directions]]
            for b in range(n_bases)]


def against_bases(units: Sequence[UnitSelectivity], bases: Sequence[Sequence[UnitSelectivity]],
                  alpha: float) -> tuple[dict[str, float], dict[str, Interval], dict]:
    """The examined units' ``selective_fraction`` (Wilson interval) and its ``margin`` over the median
    share of the random ``bases`` (``margin_over_bases``), and the null's evidence."""
    selective = [float(r.selective(alpha)) for r in units]
    basis_fractions = [float(np.mean([r.selective(alpha) for r in basis])) for basis in bases]
    margin, interval, null = margin_over_bases(selective, basis_fractions, seed=0)
    fraction = float(np.mean(selective))
    return ({"selective_fraction": fraction, "margin": margin},
            {"selective_fraction": wilson(int(sum(selective)), len(selective)), "margin": interval}, null)


def _input(trim: bool) -> str:
    return "trimmed: the clip's frames only (not the post's input)" if trim else \
        "padded to 30 s, the post's input (exact)"


def _listening(top, clips: Sequence[StimulusClip], units: Sequence[int], prefix: str, what: str) -> dict:
    """The ``listening`` artifact: 3 snippets for each of ``units`` (written when a report is)."""
    return {"top": top, "clips": [c.audio for c in clips], "units": list(units), "n_examples": 3,
            "labels": _labels(clips), "clip_ids": [c.name.replace("/", "-") for c in clips],
            "prefix": prefix, "what": what}


def trim_agreement(model: Whisper, clips: Sequence[StimulusClip], layer: str, k: int, per_clip: bool) -> dict:
    """How far the trimmed context can be trusted on this model: per unit, the share of the padded
    (30 s, the post's) top-``k`` frames over ``clips`` that the trimmed context also finds."""
    audio = [c.audio for c in clips]
    padded, trimmed = (mine(model, audio, layer, k, trim=trim, per_clip=per_clip).top["units"] for trim in (False, True))
    shares = top_k_agreement(padded, trimmed)
    return {"clips": len(clips), "k": k, "mean": float(shares.mean()), "median": float(shares.median()),
            "min": float(shares.min())}


def reference_speech_activations(model: Whisper, layer: str) -> tuple[tuple[StimulusClip, ...], tuple[Tensor, ...]]:
    """The manifest's aligned real recordings (``stimuli.load_reference_speech``) and their activations at
    ``layer`` (padded to 30 s, clip frames only), computed once per model and layer."""
    clips = tuple(load_reference_speech())

    def compute() -> tuple[Tensor, ...]:
        stored: list[Optional[Tensor]] = [None] * len(clips)
        for index, acts in corpus_activations(model, [c.audio for c in clips], (layer,), batch_size=1):
            stored[index] = acts[layer].clone()
        return tuple(stored)

    return clips, per_model(model, ("reference speech", tuple(c.name for c in clips), layer), compute)


def real_speech(model: Whisper, layer: str, clips: Sequence[StimulusClip], stored: CorpusPass,
                units: Sequence[int], *, view: Optional[Projection] = None, listen_to: Sequence[int] = (),
                prefix: str = "unit", what: str = "unit") -> tuple[dict, Optional[dict]]:
    """Does a tuning found on espeak-ng hold on real speech? Per unit of ``layer`` (or of ``view``),
    the rank correlation of its mean activation per phoneme on the corpus with that on the manifest's
    aligned real recordings; and a ``listening`` artifact of ``listen_to``'s top frames there.

    Returns the evidence and the artifact (None without ``listen_to``); when the recordings are not
    available the evidence says so and why (the claim's verdict does not depend on them).
    """
    try:
        real_clips, real_acts = reference_speech_activations(model, layer)
    except AssetUnavailable as error:
        return {"unavailable": str(error)}, None
    units = list(units)
    espeak_acts = (a for _, a in stored.clip_activations(layer))
    evidence = {"recordings": [c.name for c in real_clips],
                **_tuning_transfer(espeak_acts, clips, real_acts, real_clips, units, view, REAL_MIN_FRAMES)}
    if not listen_to:
        return evidence, None
    views = {"view": view} if view is not None else None
    mined = mine_activations(enumerate(real_acts), len(real_clips), 3, views=views, per_clip=True)
    top = mined.top["view" if view is not None else "units"]
    return evidence, _listening(top, real_clips, listen_to, f"{prefix}real-", f"{what} on real speech")


def _tuning_transfer(espeak_acts: Iterable[Tensor], espeak_clips: Sequence[StimulusClip], real_acts: Iterable[Tensor],
                     real_clips: Sequence[StimulusClip], units: list[int], view: Optional[Projection],
                     min_frames: int) -> dict:
    """Per unit (of ``view`` when given), the rank correlation of its mean activation per phoneme on the
    espeak-ng clips with that on the real ones (phonemes with ``min_frames`` frames in each), and their
    median and share significantly positive."""
    def selected(acts: Tensor) -> np.ndarray:
        with torch.no_grad():
            return project(acts, view)[:, units].numpy()

    espeak = phoneme_tuning((selected(a) for a in espeak_acts), _labels(espeak_clips))
    real = phoneme_tuning((selected(a) for a in real_acts), _labels(real_clips))
    rows = [{"unit": unit, "rho": row["rho"], "p_value": row["p_value"], "n_phonemes": row["n_phonemes"],
             "espeak_top": row["top_a"], "real_top": row["top_b"]}
            for unit, row in zip(units, tuning_agreement(espeak, real, min_frames))]
    rhos = np.array([row["rho"] for row in rows if not np.isnan(row["rho"])])
    return {
        "speech_frames": int(real.n_frames.sum()),
        "min_frames": min_frames, "n_phonemes": rows[0]["n_phonemes"] if rows else 0,
        "median_rho": round(float(np.median(rhos)), 4) if len(rhos) else float("nan"),
        "share_positive_p05": round(float(np.mean([r["rho"] > 0 and r["p_value"] < 0.05 for r in rows])), 4)
        if rows else float("nan"),
        "units": [{**row, "rho": round(row["rho"], 3), "p_value": float(f"{row['p_value']:.3g}")} for row in rows],
    }


def espeak_transfer(model: Whisper, layer: str, clips: Sequence[StimulusClip], stored: CorpusPass,
                    units: Sequence[int], *, transfer_from: dict, pass_layers: Optional[Sequence[str]], trim: bool,
                    view: Optional[Projection] = None) -> dict:
    """On the real-speech corpus: does each unit's tuning here match its tuning on the espeak-ng corpus
    ``transfer_from`` (its pass shared with the espeak-ng claims)? As `real_speech`, the other way round,
    with ``TRANSFER_MIN_FRAMES`` frames of a phoneme in each corpus."""
    espeak_clips, espeak = corpus_pass(model, transfer_from, layer, pass_layers, trim)
    real_acts = (a for _, a in stored.clip_activations(layer))
    return {"espeak_corpus": _corpus_evidence(corpus_options(transfer_from), espeak_clips),
            **_tuning_transfer((a for _, a in espeak.clip_activations(layer)), espeak_clips, real_acts, clips,
                               list(units), view, TRANSFER_MIN_FRAMES)}


def _speech_evidence(model: Whisper, layer: str, clips: Sequence[StimulusClip], stored: CorpusPass,
                     units: Sequence[int], top, *, transfer_from: Optional[dict], pass_layers: Optional[Sequence[str]],
                     trim: bool, listen_to: Sequence[int], what: str) -> tuple[dict, Optional[dict]]:
    """The claim's second corpus, as evidence, and what to listen to on real speech: on espeak-ng speech
    the reference recordings (`real_speech`); on real speech (``transfer_from`` names the espeak-ng
    corpus) the transfer from espeak-ng (`espeak_transfer`) and the claim's own top frames (``top``)."""
    if transfer_from is None:
        return real_speech(model, layer, clips, stored, units, listen_to=listen_to, prefix=default_prefix(layer),
                           what=what)
    evidence = espeak_transfer(model, layer, clips, stored, units, transfer_from=transfer_from,
                               pass_layers=pass_layers, trim=trim)
    listening = _listening(top, clips, listen_to, f"{default_prefix(layer)}real-", f"{what} on real speech") \
        if listen_to else None
    return evidence, listening


def _post_table(path: Path = POST_TABLE) -> dict:
    with open(path, "rb") as f:
        return tomllib.load(f)


def _clip_max(model: Whisper, path: Path, layer: str, unit: int, trim: bool) -> float:
    audio = load_audio(path)
    check_fits(len(audio), model, str(path))
    (_, acts), = clip_activations(model, [audio], layer, trim=trim)
    return float(acts[:, unit].max())


def enc_neuron_table(model: Whisper, *, corpus: dict, resolve: Callable[[str], Path], top_k: int = 20,
                     mine_k: int = 200, trim: bool = False, per_clip: bool = True, percentile: float = 90.0,
                     n_examined: int = 50, basis_seed: int = 0, n_bases: int = N_BASES,
                     pass_layers: Optional[Sequence[str]] = None) -> Measurement:
    """The post's table of ``encoder.blocks.2.mlp.1`` neurons 0–49 replicates, and each neuron responds
    to the post's own listening clips far above the corpus (tiny only: indices belong to tiny).

    ``resolve`` maps an asset name (``blog/audio/<file>``) to a verified local path.

    Metrics
    -------
    named_match_fraction
        Of the neurons CLAIMS.md names (0 m, 1 jh/ch/sh, 3 k, 8 l, 14 r, 19 p, 32 d, 34 n, 40 s), the
        share whose measured dominant phoneme is one of the post's; 95% Wilson interval over them.
    published_clips_above_percentile
        Share of the post's clips for a neuron (blocks 2 and 3) whose maximum activation of that neuron
        exceeds the ``percentile``-th percentile of its maxima over the corpus clips; 95% bootstrap
        interval resampling the neurons (a neuron's clips are not independent of each other).
    """
    table = _post_table()
    layer = table["layer"]
    # the mining of enc-neuron-phoneme and enc-polysemantic (the same key), not a second one
    clips, mined = mined_corpus(model, corpus, layer, k=mine_k, trim=trim, per_clip=per_clip,
                                n_directions=n_examined, basis_seed=basis_seed, n_bases=n_bases,
                                pass_layers=pass_layers)
    labels = {int(n): entry for n, entry in table["labels"].items()}
    measured = {r.unit: r for r in _selectivity(mined, "units", clips, sorted(labels), top_k, 2, seed=0)}
    rows, named_hits = [], []
    for n, entry in sorted(labels.items()):
        r = measured[n]
        match = (r.dominant in entry["phonemes"]) if entry["phonemes"] else \
            (r.dominant_class == entry["class"] if "class" in entry else None)
        rows.append({"neuron": n, "post": entry["post"], "post_phonemes": entry["phonemes"],
                     "measured": r.dominant, "share": round(r.share, 3), "class": r.dominant_class, "match": match})
        if n in table["named"]:
            named_hits.append(bool(match))

    clip_rows = []
    for clip_layer, per_neuron in table["published_clips"].items():
        if clip_layer == layer:
            maxima = mined.clip_max
        else:
            _, other = mined_corpus(model, corpus, clip_layer, k=1, trim=trim, per_clip=per_clip, n_directions=1,
                                    basis_seed=basis_seed, pass_layers=pass_layers)
            maxima = other.clip_max
        for n, files in per_neuron.items():
            threshold = float(np.percentile(maxima[:, int(n)].numpy(), percentile))
            for name in files:
                value = _clip_max(model, resolve(f"blog/audio/{name}"), clip_layer, int(n), trim)
                rank = float((maxima[:, int(n)] < value).float().mean() * 100)
                clip_rows.append({"layer": clip_layer, "neuron": int(n), "clip": name, "max_activation": value,
                                  "corpus_percentile": rank, "threshold_at_percentile": threshold,
                                  "above": value > threshold})
    labelled = [row["match"] for row in rows if row["match"] is not None]
    above = [float(row["above"]) for row in clip_rows]
    return Measurement(
        metrics={"named_match_fraction": float(np.mean(named_hits)),
                 "published_clips_above_percentile": float(np.mean(above))},
        intervals={"named_match_fraction": wilson(int(sum(named_hits)), len(named_hits)),
                   "published_clips_above_percentile": bootstrap(
                       above, np.mean, clusters=[(row["layer"], row["neuron"]) for row in clip_rows], seed=0)},
        evidence={"layer": layer, "input": _input(trim), "percentile": percentile,
                  "labelled_match_fraction": float(np.mean(labelled)), "neurons": rows,
                  "published_clips": clip_rows, "corpus": _corpus_evidence(corpus_options(corpus), clips)},
    )


def enc_polysemantic(model: Whisper, *, corpus: dict, layer: str, n_examined: int = 50, top_k: int = 20,
                     mine_k: int = 200, n_bands: int = 4, min_share: float = 0.2, min_frames: int = 10,
                     min_top_share: float = 0.6,
                     alpha: float = 0.01, n_permutations: int = 10000, trim: bool = False, per_clip: bool = True,
                     basis_seed: int = 0, n_bases: int = N_BASES, focus: Optional[dict] = None,
                     pass_layers: Optional[Sequence[str]] = None, transfer_from: Optional[dict] = None) -> Measurement:
    """Neurons respond to different sounds at different activation levels.

    Each examined neuron's ``mine_k`` top frames are split into ``n_bands`` equal-width activation bands
    (top band first). A neuron is polysemantic when it is selective at ``alpha / n_examined``
    (Bonferroni: one neuron among ``n_examined`` suffices for the claim, so chance is controlled over
    all of them), its highest band of at least ``min_frames`` frames sounds like one phoneme (share
    ≥ ``min_top_share``: "initially these neurons appeared to respond to a single phoneme"), and a
    lower band is dominated by another phoneme with share ≥ ``min_share``. The same criterion is
    applied to ``n_bases`` random orthogonal bases of ``n_examined`` directions of the same layer (seeds
    ``basis_seed`` on: the control).
    ``focus`` (tiny) names a neuron whose top band should be one phoneme with another below:
    ``{"neuron": 3, "top": "K", "below": "G", "min_share": 0.1}``. ``corpus`` and ``transfer_from`` as in
    `enc_neuron_phoneme`.

    Metrics
    -------
    polysemantic_neurons
        How many examined neurons are polysemantic: a census of the neurons the claim names, judged as
        counted. Chance is in each neuron's test (Bonferroni) and in the margin below; the Clopper–Pearson
        interval of their share, which speaks of other neurons like these (and would ask for five of 50 to
        pass a bar of one), is evidence (``polysemantic_rate``).
    margin_over_random_basis
        ``polysemantic_neurons`` minus the median over the bases of the number of their directions that
        pass the criterion; 95% bootstrap interval resampling the neurons and, independently, the bases
        (``selectivity.margin_over_bases``; every basis's count and the p-value in ``random_bases``).
    focus_top_and_below
        1 when the focus neuron's top band is dominated by ``top`` and ``below`` reaches ``min_share``
        in a lower band, else 0 (NaN without ``focus``).
    """
    clips, mined = mined_corpus(model, corpus, layer, k=mine_k, trim=trim, per_clip=per_clip,
                                n_directions=n_examined, basis_seed=basis_seed, n_bases=n_bases,
                                pass_layers=pass_layers)
    criterion = dict(n_bands=n_bands, min_share=min_share, min_frames=min_frames, min_top_share=min_top_share,
                     alpha=alpha / n_examined)
    neurons = _band_rows(mined, "units", clips, range(n_examined), top_k, n_permutations, **criterion)
    every = _band_rows(mined, RANDOM_BASIS, clips, range(n_examined * n_bases), top_k, n_permutations, **criterion)
    bases = [every[b * n_examined: (b + 1) * n_examined] for b in range(n_bases)]
    basis = bases[0]  # the first basis (seed basis_seed): its directions are numbered 0 … n_examined - 1
    metrics, intervals, null = polysemantic_against_bases(neurons, bases)
    focus_value = float("nan")
    if focus is not None:
        bands = neurons[focus["neuron"]]["bands"]
        below = [b["shares"].get(focus["below"], 0.0) for b in bands[1:] if b["n"]]
        focus_value = float(bands[0]["dominant"] == focus["top"] and max(below, default=0) >= focus["min_share"])
    found = [n["unit"] for n in neurons if n["polysemantic"]]
    _, stored = corpus_pass(model, corpus, layer, pass_layers, trim)
    real, real_listening = _speech_evidence(model, layer, clips, stored, found, mined.top["units"],
                                            transfer_from=transfer_from, pass_layers=pass_layers, trim=trim,
                                            listen_to=found, what=f"{layer} polysemantic neuron")
    return Measurement(
        metrics={**metrics, "focus_top_and_below": focus_value},
        evidence={"layer": layer, "n_bands": n_bands, "min_share": min_share, "input": _input(trim),
                  "polysemantic": found,
                  # the rate among neurons like these: evidence, not the census the claim is judged on
                  "polysemantic_rate": clopper_pearson(len(found), n_examined).to_json(),
                  # the first basis (seed basis_seed); every basis's count is in random_bases
                  "random_basis_polysemantic": [n["unit"] for n in basis if n["polysemantic"]],
                  "random_bases": {**null, "seeds": [basis_seed + b for b in range(n_bases)]}, "focus": focus,
                  "neurons": neurons, "random_basis": basis,
                  "real_speech" if transfer_from is None else "espeak_transfer": real,
                  "corpus": _corpus_evidence(corpus_options(corpus), clips)},
        artifacts={"listening_real": real_listening},
        intervals=intervals,
    )


def polysemantic_against_bases(neurons: Sequence[dict], bases: Sequence[Sequence[dict]]
                               ) -> tuple[dict[str, float], dict[str, Interval], dict]:
    """``polysemantic_neurons`` (a count, no interval) and ``margin_over_random_basis`` (over the median
    count of the ``bases``: ``margin_over_bases``, with its interval) of ``_band_rows``, and the null's
    evidence."""
    n = len(neurons)
    flags = [float(row["polysemantic"]) for row in neurons]
    counts = [float(sum(row["polysemantic"] for row in basis)) for basis in bases]
    margin, interval, null = margin_over_bases(flags, counts, scale=n, seed=0)
    return ({"polysemantic_neurons": float(sum(flags)), "margin_over_random_basis": margin},
            {"margin_over_random_basis": interval}, null)


def _band_rows(mined: Mined, view: str, clips, units: Sequence[int], top_k: int, n_permutations: int, *,
               n_bands: int, min_share: float, min_frames: int, min_top_share: float, alpha: float) -> list[dict]:
    """Per unit of ``view``: selective at ``alpha``, its activation bands and whether it is polysemantic."""
    selectivity = _selectivity(mined, view, clips, units, top_k, n_permutations, seed=0)
    top = mined.top[view]
    frame_labels = _labels(clips)
    rows = []
    for r in selectivity:
        labels = [str(frame_labels[c][f]) for c, f in zip(top.clip[r.unit].tolist(), top.frame[r.unit].tolist())]
        bands = band_dominants(top.values[r.unit], labels, n_bands)
        rows.append({"unit": r.unit, "selective": r.selective(alpha),
                     "polysemantic": r.selective(alpha) and polysemantic(bands, min_share, min_frames, min_top_share),
                     "bands": [{"range": [round(b["range"][0], 3), round(b["range"][1], 3)], "n": b["n"],
                                "dominant": b["dominant"],
                                "shares": {k: round(v, 3) for k, v in list(b["shares"].items())[:4]}}
                               for b in bands]})
    return rows


def enc_sae_phoneme(model: Whisper, *, corpus: dict, layer: str, sae: dict, sae_bar: dict,
                    l1_shrink: Optional[float] = None, n_seeds: int = 3, recur_cosine: float = 0.9,
                    top_k: int = 20, mine_k: int = 20, alpha: float = 0.01, n_permutations: int = 2000,
                    trim: bool = False, per_clip: bool = True, threads: Optional[int] = 1,
                    pass_layers: Optional[Sequence[str]] = None, frontier_bar: Optional[dict] = None,
                    frontier_file: str | Path = sae_frontier.FRONTIER_FILE) -> Measurement:
    """Sparse-autoencoder features of the residual stream are phoneme-like, more than its own basis.

    An SAE (``sae``: ``SAEConfig`` fields; the post's recipe by default) is trained on the layer's
    activations at the corpus' speech frames; its live features and the layer's own dimensions are
    mined and judged like neurons (see ``enc_neuron_phoneme``). ``l1_shrink`` sets the L1 coefficient
    from the activations' scale (``sae.calibrated_l1``) instead of ``sae["l1"]``.

    Only a sparse and faithful SAE is judged: on its held-out frames, mean L0 at most
    ``sae_bar["max_l0_share"]`` of its features and explained variance at least
    ``sae_bar["min_explained_variance"]``; otherwise ``MethodInvalid`` (no verdict). ``n_seeds`` SAEs
    (seeds ``sae["seed"]`` and the next ones) are trained; the first is judged, and the evidence says how
    many of its features recur in every other seed (a dictionary column with cosine ≥ ``recur_cosine``).

    ``frontier_bar`` (``max_l0``, ``min_explained_variance``, ``min_wer_recovered``, ``provenance``): the
    recipes that ``benchmarks/sae_sweep.py`` recorded for this model's weights in ``frontier_file`` go into
    the evidence (and the error, when the SAE misses its bar), each marked by whether it meets these bars,
    with one frontier figure per layer.

    Metrics
    -------
    sae_selective_fraction
        Share of live SAE features that are selective; 95% Wilson interval over the live features.
    margin_over_residual_basis
        ``sae_selective_fraction`` minus the share of the residual stream's own dimensions that are
        (the residual stream is not a privileged basis, so its dimensions should be less phonetic);
        95% bootstrap interval resampling the features and, independently, the dimensions.
    """
    _check_bar(sae_bar)
    if not isinstance(n_seeds, int) or n_seeds < 1:
        raise ValueError(f"n_seeds = {n_seeds!r}: expected an integer >= 1")
    frontier, frontier_figures, frontier_text = recorded_frontier(model, frontier_bar, frontier_file)
    clips, stored = corpus_pass(model, corpus, layer, pass_layers, trim)
    options = corpus_options(corpus)
    base = SAEConfig(**sae)

    @cache  # built once per call, for the scale and every seed; not kept after it
    def frames() -> Tensor:
        speech = torch.from_numpy(np.concatenate([c.frame_labels for c in clips]) != SILENCE)
        return stored.stacked(layer)[speech]

    scale = per_model(model, ("sae scale", options, layer, trim, stored.layers), lambda: activation_scale(frames()))
    if l1_shrink is None:
        config = base
    else:
        config = replace(base, l1=calibrated_l1(scale, Layer.parse(layer, model).n_units(model), base, l1_shrink))

    def train(seed: int) -> tuple[SparseAutoencoder, TrainingReport]:
        key = ("sae", options, layer, replace(config, seed=seed), trim, stored.layers, threads)
        return per_model(model, key, lambda: train_sae(frames(), replace(config, seed=seed), threads=threads),
                         persist="sae")

    autoencoder, report = train(config.seed)
    if report.mean_l0 > sae_bar["max_l0_share"] * config.n_features \
            or report.explained_variance < sae_bar["min_explained_variance"]:
        raise MethodInvalid(
            f"the SAE on {layer} is not sparse and faithful enough to judge its features: held-out mean L0 "
            f"{report.mean_l0:.1f} of {config.n_features} features ({report.mean_l0 / config.n_features:.1%}; "
            f"bar ≤ {sae_bar['max_l0_share']:.0%}), explained variance {report.explained_variance:.3f} "
            f"(bar ≥ {sae_bar['min_explained_variance']}), dead features {report.n_dead}; l1 {config.l1:.4g} "
            f"(l1_shrink {l1_shrink}, mean frame norm {scale:.2f}), seed {config.seed}, {report.n_train} training "
            f"frames; bar: {sae_bar['provenance']}{frontier_text}",
            evidence={"layer": layer, "sae": {**sae, "l1": config.l1, "l1_shrink": l1_shrink,
                                              "mean_frame_norm": round(scale, 4), "n_train_frames": report.n_train,
                                              "explained_variance": report.explained_variance,
                                              "mean_l0": report.mean_l0, "dead_features": report.n_dead,
                                              "bar": sae_bar},
                      **frontier},
            artifacts=frontier_figures)
    trained = [(autoencoder, report)] + [train(config.seed + i) for i in range(1, n_seeds)]
    seeds = [{"seed": config.seed + i, "explained_variance": round(r.explained_variance, 4),
              "mean_l0": round(r.mean_l0, 2), "l0_share": round(r.mean_l0 / config.n_features, 4),
              "dead_features": r.n_dead, "parameters_sha256": a.parameters_sha256()}
             for i, (a, r) in enumerate(trained)]
    training = {**sae, "l1": config.l1, "l1_shrink": l1_shrink, "mean_frame_norm": round(scale, 4),
                "n_train_frames": report.n_train, "n_held_out_frames": report.n_held_out,
                "explained_variance": report.explained_variance, "mean_l0": report.mean_l0,
                "dead_features": report.n_dead, "parameters_sha256": autoencoder.parameters_sha256(),
                "bar": sae_bar, "seeds": seeds,
                "recurring_features": recurring_features([a for a, _ in trained], recur_cosine)}
    mined, live, features = sae_feature_selectivity(autoencoder, clips, stored, layer, mine_k=mine_k, top_k=top_k,
                                                    n_permutations=n_permutations, per_clip=per_clip)
    dims = _selectivity(mined, "units", clips, range(mined.top["units"].values.shape[0]), top_k, n_permutations, seed=0)
    selective = [float(r.selective(alpha)) for r in features]
    dims_selective = [float(r.selective(alpha)) for r in dims]
    fraction = float(np.mean(selective)) if features else float("nan")
    basis = float(np.mean(dims_selective))
    intervals = {"sae_selective_fraction": wilson(int(sum(selective)), len(selective)),
                 "margin_over_residual_basis": difference_bootstrap(selective, dims_selective, np.mean, np.mean,
                                                                    seed=0)} if len(features) >= 2 else {}
    listen_to = [r.unit for r in sorted(features, key=lambda r: r.p_value)[:5]]  # the most selective
    real, real_listening = real_speech(model, layer, clips, stored, [r.unit for r in features],
                                       view=autoencoder.encode, listen_to=listen_to,
                                       prefix=default_prefix(layer, sae=True), what=f"{layer} SAE feature")
    return Measurement(
        metrics={"sae_selective_fraction": fraction, "margin_over_residual_basis": fraction - basis},
        evidence={
            "layer": layer, "sae": {**training, "n_live": len(live)},
            "residual_basis_selective_fraction": basis, "top_k": top_k, "alpha": alpha,
            "input": _input(trim), "per_clip": per_clip,
            "features": _summary(features, alpha)[:100],
            "real_speech": {**real, "units": [row for row in real.get("units", []) if row["unit"] in listen_to]},
            "corpus": _corpus_evidence(options, clips),
            **frontier,
        },
        artifacts={"listening_real": real_listening, **frontier_figures},
        intervals=intervals,
    )


def recorded_frontier(model: Whisper, bars: Optional[dict], path: str | Path) -> tuple[dict, dict, str]:
    """``(evidence, artifacts, sentence)`` of the SAE recipes recorded for ``model``'s weights in ``path``
    (`measure.sae_frontier`), judged against ``bars``: ``{"frontier": summary}``, a frontier figure per layer,
    and a sentence for an error's message; all empty without ``bars``."""
    if bars is None:
        return {}, {}, ""
    sae_frontier.check_bars(bars, "frontier_bar")
    digest = weights_digest(model).partition("@")[0]
    rows = [row for row in sae_frontier.read_frontier(path) if row["parameters_sha256"] == digest]
    if not rows:
        return {}, {}, (f"; no SAE frontier is recorded for these weights (parameters sha256 {digest[:12]} in "
                        f"{Path(path).name}): benchmarks/sae_sweep.py measures one")
    found = sae_frontier.summary(rows, bars, path)
    figures = {f"sae_frontier--{layer}": {**data, "layer": layer}
               for (_, layer), data in sae_frontier.frontiers(rows, bars).items()}
    layers = sorted({row["layer"] for row in rows})
    sentence = (f"{sae_frontier.FRONTIER_SENTENCE} (benchmarks/sae_sweep.py, {len(rows)} recipes on "
                f"{', '.join(layers)}): "
                f"{len(found['qualifying'])} meet L0 <= {bars['max_l0']:g}, explained variance >= "
                f"{bars['min_explained_variance']:g} and WER recovered >= {bars['min_wer_recovered']:g} "
                f"(frontier_bar, issue #31)")
    if found["qualifying"]:
        sentence += f": {', '.join(found['qualifying'])}, not yet trained and judged by this claim (issue #31)"
    elif found["closest"]:
        sentence += f"; the closest: {found['closest']}"
    return {"frontier": found}, figures, sentence


def sae_feature_selectivity(autoencoder: SparseAutoencoder, clips: Sequence[StimulusClip], stored: CorpusPass,
                            layer: str, *, mine_k: int, top_k: int, n_permutations: int, per_clip: bool
                            ) -> tuple[Mined, list[int], list[UnitSelectivity]]:
    """The SAE's features mined over the corpus pass (and the layer's own dimensions, as ``"units"``), its
    live features (active on some frame) and their selectivity (``_selectivity``, seed 0)."""
    with torch.no_grad():
        mined = mine_activations(stored.clip_activations(layer), len(clips), mine_k, views={"sae": autoencoder.encode},
                                 per_clip=per_clip)
    live = [f for f in range(autoencoder.n_features) if float(mined.top["sae"].values[f, 0]) > 0]
    features = _selectivity(mined, "sae", clips, live, top_k, n_permutations, seed=0) if live else []
    return mined, live, features


SAE_BAR_KEYS = ("max_l0_share", "min_explained_variance", "provenance")


def _check_bar(bar: dict) -> None:
    if not isinstance(bar, dict) or set(bar) != set(SAE_BAR_KEYS):
        raise ValueError(f"sae_bar = {bar!r}: expected a table with exactly {', '.join(SAE_BAR_KEYS)}")
    for key in SAE_BAR_KEYS[:2]:
        if not isinstance(bar[key], (int, float)) or not 0 < bar[key] <= 1:
            raise ValueError(f"sae_bar.{key} = {bar[key]!r}: expected a share in (0, 1]")
