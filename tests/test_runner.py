"""The claim runner: one way to run a claim (the plugin, the tests, the controls and the benchmarks use it),
and adding a claim as the README says — one function, one thin test, one registry entry."""
from dataclasses import replace
from pathlib import Path

import pytest

from toyproject import THRESHOLDS, claims_json, output, run, write_claim, write_thresholds
from whisper_claims.claims.registry import check_params
from whisper_claims.claims.runner import claim_arguments, claim_function, claim_functions, measure_claim, run_claim
from whisper_claims.errors import ThresholdsError

# -- adding a claim: the README's worked example, as a project would write it --------------------------

# 1. the function: the model and the entry's params in, a Measurement out
ADDED_FUNCTION = '''\
from whisper_claims.claims.verdict import Measurement


def enc_heads_per_layer(model, *, min_heads):
    """Every encoder layer has at least ``min_heads`` attention heads."""
    heads = [block.attn.n_head for block in model.encoder.blocks]
    return Measurement({"fewest_heads": min(heads)}, {"heads": heads, "min_heads": min_heads})
'''

# 2. the registry entry: statement, marker, function, params, metric with its threshold and provenance
ADDED_ENTRY = '''
[claims.enc-heads]
statement = "Every encoder layer has several attention heads."
section = "0) toys"
marker = "encoder"
function = "heads:enc_heads_per_layer"
slow = true
key_metric = "fewest_heads"

[claims.enc-heads.params]
min_heads = 4

[claims.enc-heads.metrics.fewest_heads]
description = "heads of the encoder layer with the fewest"
comparator = ">="
threshold = 4
provenance = "a toy: Whisper tiny has 6 heads per layer"
fixed = {commit = "abc1234", date = "2026-12-07", after_real = true}
'''

# 3. the thin test: the post's words, the claim id, one line
ADDED_TEST = '''\
@pytest.mark.claim("enc-heads")
def test_every_encoder_layer_has_several_heads(whisper_model, claim):
    """Each layer has several heads."""
    claim.check(whisper_model)
'''


@pytest.fixture
def added(project):
    """The toy project with a second claim added the README's way (three files, nothing else)."""
    write_thresholds(project, text=THRESHOLDS.format(threshold=300, applies_to='"all"') + ADDED_ENTRY)
    write_claim(project, ADDED_FUNCTION + "\n\n" + ADDED_TEST, name="test_heads.py", module="heads")
    return project


def test_a_claim_added_in_three_files_runs_and_is_recorded(added, tmp_path):
    report = tmp_path / "report"
    result = run(added, "--whisper-models", "random:tiny", "--claims-report", str(report), "claims/test_heads.py")
    result.assert_outcomes(passed=1)
    (row,) = [r for r in claims_json(report)["rows"] if r["claim"] == "enc-heads"]
    assert row["status"] == "holds" and row["metrics"]["fewest_heads"]["value"] == 6
    assert row["evidence"] == {"heads": [6, 6, 6, 6], "min_heads": 4}


def test_the_registry_gives_the_added_claim_its_markers(added):
    run(added, "--whisper-models", "random:tiny", "-m", "encoder", "claims/test_heads.py").assert_outcomes(passed=1)
    run(added, "--whisper-models", "random:tiny", "-m", "decoder", "claims/test_heads.py").assert_outcomes(deselected=1)
    run(added, "--whisper-models", "random:tiny", "-m", "not slow", "claims/test_heads.py").assert_outcomes(
        deselected=1)


def test_the_added_claim_can_fail(added):
    write_thresholds(added, text=THRESHOLDS.format(threshold=300, applies_to='"all"')
                     + ADDED_ENTRY.replace("threshold = 4", "threshold = 8"))
    result = run(added, "--whisper-models", "random:tiny", "claims/test_heads.py")
    result.assert_outcomes(failed=1)
    assert "FAIL fewest_heads = 6 (needs >= 8" in output(result)


def test_a_test_marked_against_its_registry_entry_is_a_usage_error(added):
    write_claim(added, ADDED_FUNCTION + "\n\n@pytest.mark.decoder\n" + ADDED_TEST, name="test_heads.py", module="heads")
    result = run(added, "--whisper-models", "random:tiny")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "marked decoder, but its claim enc-heads has marker = 'encoder' in the thresholds file" in output(result)


@pytest.mark.parametrize("change, replacement, expected", [
    ('function = "heads:enc_heads_per_layer"', 'function = "heads:enc_heads_per_layr"',
     "claims.enc-heads.function: module heads has no function 'enc_heads_per_layr'; "
     "did you mean 'enc_heads_per_layer'?"),
    ('function = "heads:enc_heads_per_layer"', 'function = "headz:enc_heads_per_layer"',
     "claims.enc-heads.function: cannot import module 'headz'"),
    ("min_heads = 4", "min_head = 4",
     "claims.enc-heads.params.min_head: enc_heads_per_layer() takes no argument 'min_head'; did you mean 'min_heads'?"),
    ("[claims.enc-heads.params]\nmin_heads = 4", "",
     "claims.enc-heads.params: enc_heads_per_layer() needs min_heads, which the entry does not give"),
])
def test_an_entry_that_does_not_fit_its_function_is_a_usage_error_at_start(added, change, replacement, expected):
    text = THRESHOLDS.format(threshold=300, applies_to='"all"') + ADDED_ENTRY.replace(change, replacement)
    path = write_thresholds(added, text=text)
    result = run(added, "--whisper-models", "random:tiny")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"thresholds file {path}: {expected}" in output(result)


# -- the runner itself ------------------------------------------------------------------------------


def test_run_claim_judges_what_measure_claim_measures(registry, tiny, asset):
    spec = registry["enc-chop-mid"]
    verdict = run_claim(spec, tiny, asset)
    measured = measure_claim(spec, tiny, asset)
    assert verdict.status == "fails" and verdict.metric("target_removed").value == measured.metrics["target_removed"]


def test_a_claim_for_other_sizes_is_skipped_without_running(registry, tiny):
    spec = replace(registry["enc-chop-mid"], function="no.such.module:f", applies_to=("base",))
    verdict = run_claim(spec, tiny)
    assert verdict.status == "skipped" and "applies to base only" in verdict.reason


def test_arguments_are_the_sizes_params_with_assets_resolved(registry, asset):
    spec = registry["enc-chop-mid"]
    tiny, micro = claim_arguments(spec, "tiny", asset), claim_arguments(spec, "micro", asset)
    assert tiny["clip"] == asset("blog/encoder/Hot_ones.wav") and tiny["clip"].is_file()
    assert micro["clip"] == asset(spec.size_params["micro"]["clip"])
    # an override replaces a param before resolution: an absent asset it replaces is never looked for
    assert claim_arguments(spec, "tiny", lambda name: pytest.fail(name), clip=Path("x.wav"))["clip"] == Path("x.wav")
    recordings = claim_arguments(registry["enc-chop-word"], "tiny", asset)["recordings"]
    for audio, transcript_or_alignment in recordings:  # files resolved; a transcript stays text
        assert isinstance(audio, Path) and audio.is_file()
        assert (isinstance(transcript_or_alignment, Path) and transcript_or_alignment.is_file()
                or isinstance(transcript_or_alignment, str) and " " in transcript_or_alignment)


def test_every_registry_entry_names_a_function_that_takes_its_params(registry):
    functions = claim_functions(registry)
    for claim_id, spec in registry.items():
        function = functions[claim_id]
        assert f"{function.__module__}:{function.__name__}" == spec.function
    check_params(registry, functions, "claims/thresholds.toml")  # raises on any mismatch
    with pytest.raises(ThresholdsError, match="claims.enc-chop-mid.params.strat: enc_chop.. takes no argument"):
        bad = replace(registry["enc-chop-mid"], params={**registry["enc-chop-mid"].params, "strat": 1})
        check_params({"enc-chop-mid": bad}, functions, "claims/thresholds.toml")


def test_an_unknown_function_is_a_thresholds_error_naming_the_entry(registry):
    spec = replace(registry["enc-chop-mid"], function="whisper_claims.claims.encoder:enc_chopp")
    with pytest.raises(ThresholdsError, match=r"^claims.enc-chop-mid.function: module whisper_claims.claims.encoder "
                                              r"has no function 'enc_chopp'; did you mean 'enc_chop'\?"):
        claim_function(spec)

