"""A toy project for running the plugin under pytester: one claim ("toy") and its thresholds file."""
import json
import textwrap
from pathlib import Path

PROJECT = Path(__file__).parents[1]

THRESHOLDS = """\
schema_version = 1

[claims.toy]
statement = "the audio state is wide"
section = "0) toys"
marker = "decoder"
function = "toyclaims:width"
key_metric = "width"
applies_to = {applies_to}

[claims.toy.params]
scale = 1

[claims.toy.metrics.width]
description = "n_audio_state times scale"
comparator = ">="
threshold = {threshold}
provenance = "the toy figure, width 300"
fixed = {{commit = "abc1234", date = "2026-12-07", after_real = true}}
"""

CLAIM_TEST = """\
import pytest
from whisper_claims.claims.verdict import Measurement


def width(model, *, scale):
    return Measurement({"width": model.dims.n_audio_state * scale},
                       {"note": "x", "first_weights": model.decoder.token_embedding.weight[0, :3]})


@pytest.mark.claim("toy")
def test_toy(whisper_model, claim):
    claim.check(whisper_model)
"""


def write_thresholds(pytester, threshold=300, applies_to='"all"', text=None) -> Path:
    path = pytester.path / "thresholds.toml"
    path.write_text(text if text is not None else THRESHOLDS.format(threshold=threshold, applies_to=applies_to))
    return path


def write_claim(pytester, source=CLAIM_TEST, name="test_toy.py", module="toyclaims") -> Path:
    """Write a toy claim as the project has it: the functions before the first ``@pytest.mark`` line go
    into ``module.py`` (named by the thresholds file's ``function``), the tests into ``claims/name``."""
    source = textwrap.dedent(source)
    cut = source.index("\n@pytest.mark")
    (pytester.path / f"{module}.py").write_text(source[:cut + 1])
    path = pytester.path / "claims" / name
    path.write_text("import pytest\n\n" + source[cut + 1:])
    return path


def run(pytester, *args):
    """Run in-process with the toy thresholds and an empty checkpoint folder (no official model present)."""
    return pytester.runpytest("-p", "no:cacheprovider", "--claims-thresholds", str(pytester.path / "thresholds.toml"),
                              "--whisper-root", str(pytester.path / "empty-root"), *args)


def output(result) -> str:
    return "\n".join(result.outlines + result.errlines)


def claims_json(folder: Path) -> dict:
    return json.loads((folder / "claims.json").read_text(encoding="utf-8"))


