import math
import re
from pathlib import Path

import pytest

from whisper_claims.claims.registry import (COMPARATORS, MARKERS, SIZES, Fixed, MetricSpec, default_thresholds_path,
                                            load_registry)
from whisper_claims.errors import ThresholdsError

# a valid file; each validation test breaks one thing in it
GOOD = """\
schema_version = 1

[claims.x]
statement = "something holds"
section = "1) a section"
marker = "encoder"
function = "whisper_claims.claims.encoder:enc_chop"
key_metric = "m"
applies_to = "all"

[claims.x.params]
k = 3

[claims.x.metrics.m]
description = "a metric"
comparator = ">="
threshold = 0.5
provenance = "the post's figure 1"
fixed = {commit = "abc1234", date = "2026-12-07", after_real = true}
applies_to = ["tiny", "base"]
overrides = { base = 0.7 }
tolerance = 0.05

[claims.x.metrics.other]
description = "another metric"
comparator = "<"
threshold = 2
provenance = "CLAIMS.md"
fixed = {commit = "abc1234", date = "2026-12-07", after_real = true}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "thresholds.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ThresholdsError) as info:
        load_registry(path)
    message = str(info.value)
    assert str(path) in message, message
    return message


def metric(comparator=">=", threshold=1.0, **kwargs) -> MetricSpec:
    return MetricSpec("m", "a metric", comparator, threshold, "somewhere", **kwargs)


# -- the project's file -------------------------------------------------------------------


def test_real_thresholds_file_loads_and_is_complete():
    registry = load_registry()
    assert registry == load_registry(default_thresholds_path())
    assert "dec-embed-sound" in registry
    for claim_id, spec in registry.items():
        assert spec.id == claim_id
        assert spec.marker in ("encoder", "decoder"), claim_id
        assert spec.statement.strip() and spec.section.strip(), claim_id
        assert spec.key_metric in spec.metrics, claim_id
        for name, m in spec.metrics.items():
            assert m.name == name
            assert m.provenance.strip(), f"{claim_id}.{name}"
            assert m.comparator in COMPARATORS, f"{claim_id}.{name}"
            assert math.isfinite(m.threshold), f"{claim_id}.{name}"
            assert m.applies_to is None or set(m.applies_to) <= set(SIZES), f"{claim_id}.{name}"


def test_real_dec_embed_sound_entry():
    spec = load_registry()["dec-embed-sound"]
    assert spec.marker == "decoder"
    assert spec.key_metric == "rhyme_p_value"
    assert spec.applies_to is None
    p = spec.metrics["rhyme_p_value"]
    assert (p.comparator, p.threshold, p.applies_to) == ("<", 0.01, None)
    for name in ("rug_neighbours_top10", "tea_coffee_top5", "duck_neighbours_top3"):
        assert spec.metrics[name].applies_to == ("tiny",)
    checks = {c["metric"] for c in spec.params["neighbour_checks"]}
    assert checks | {"rhyme_p_value", "margin_over_eye_rhymes"} == set(spec.metrics)
    words = [w for pair in spec.params["rhyme_pairs"] for w in pair]
    assert len(words) == len(set(words)) == 80


def test_real_dec_embed_semantic_entry():
    """The semantic half of dec-embed-sound (#32 item 6): the rhyme test's bar, on 44 related pairs that share
    no word with each other or with dec-embed-sound's lists."""
    registry = load_registry()
    spec, sound = registry["dec-embed-semantic"], registry["dec-embed-sound"]
    assert (spec.marker, spec.key_metric, spec.applies_to, set(spec.metrics)) == (
        "decoder", "semantic_p_value", None, {"semantic_p_value"})
    p, rhyme = spec.metrics["semantic_p_value"], sound.metrics["rhyme_p_value"]
    assert (p.comparator, p.threshold) == (rhyme.comparator, rhyme.threshold) == ("<", 0.01)
    assert p.fixed == Fixed("64b7894", "2026-12-07", True, p.fixed.note) and "ours" in p.provenance
    assert spec.params["n_permutations"] == sound.params["n_permutations"] >= 2000
    words = [w for pair in spec.params["semantic_pairs"] for w in pair]
    assert len(words) == len(set(words)) == 88
    theirs = {w for key in ("rhyme_pairs", "eye_rhyme_pairs") for pair in sound.params[key] for w in pair}
    assert theirs.isdisjoint(words)
    # no pair shares its first letter or its last two (no cat/hat, no shop/store)
    assert all(a[0].lower() != b[0].lower() and a[-2:] != b[-2:] for a, b in spec.params["semantic_pairs"])


def test_good_file_parses(tmp_path):
    registry = load_registry(write(tmp_path, GOOD))
    spec = registry["x"]
    assert spec.marker in MARKERS and spec.key_metric == "m"
    assert spec.applies_to is None
    assert spec.params == {"k": 3}
    assert spec.post_figures == ()
    m = spec.metrics["m"]
    assert (m.comparator, m.threshold, m.applies_to, m.overrides, m.tolerance) == (
        ">=", 0.5, ("tiny", "base"), {"base": 0.7}, 0.05)
    assert isinstance(m.threshold, float)
    other = spec.metrics["other"]
    assert (other.applies_to, other.overrides, other.tolerance, other.threshold) == (None, {}, None, 2.0)


def test_load_registry_accepts_str_path(tmp_path):
    assert set(load_registry(str(write(tmp_path, GOOD)))) == {"x"}


# -- validation ---------------------------------------------------------------------------


def test_unknown_metric_key_suggests_the_close_one(tmp_path):
    message = load_error(tmp_path, GOOD.replace("threshold = 0.5", "treshold = 0.5"))
    assert "claims.x.metrics.m" in message
    assert "'treshold'" in message
    assert "did you mean 'threshold'" in message


def test_unknown_claim_key_suggests_the_close_one(tmp_path):
    message = load_error(tmp_path, GOOD.replace('key_metric = "m"', 'key_metric = "m"\nsatement = "x"'))
    assert "claims.x" in message and "'satement'" in message
    assert "did you mean 'statement'" in message


def test_unknown_top_level_key(tmp_path):
    message = load_error(tmp_path, "schema_verison = 1\n" + GOOD)
    assert "'schema_verison'" in message and "did you mean 'schema_version'" in message


def test_missing_metric_field(tmp_path):
    message = load_error(tmp_path, GOOD.replace('provenance = "CLAIMS.md"\n', ""))
    assert "claims.x.metrics.other" in message
    assert "missing 'provenance'" in message


FIXED = 'fixed = {commit = "abc1234", date = "2026-12-07", after_real = true}'


def test_every_metric_must_say_when_its_threshold_was_fixed(tmp_path):
    message = load_error(tmp_path, GOOD.replace(FIXED + "\n", "", 1))
    assert "claims.x.metrics.m: missing 'fixed'" in message
    assert "when the threshold was fixed" in message and "after_real" in message


def test_real_thresholds_say_before_or_after_real_measurement():
    """The archaeology of claims/thresholds.toml: the bars the issue named (dec-embed-sound's centred
    cosines, the SAE's) are after; the post's bars set on the first day are before."""
    registry = load_registry()
    fixed = {(c, n): m.fixed for c, spec in registry.items() for n, m in spec.metrics.items()}
    assert all(f is not None for f in fixed.values())
    assert fixed["dec-embed-sound", "rhyme_p_value"].after_real
    assert fixed["enc-sae-phoneme", "sae_selective_fraction"].after_real
    assert not fixed["dec-bigram", "very_continuations"].after_real
    assert not fixed["enc-relevance-local", "median_band_mass"].after_real


@pytest.mark.parametrize("value, expected", [
    ('"abc1234, 2026-12-07"', "claims.x.metrics.m.fixed: 'abc1234, 2026-12-07', expected {commit ="),
    ('{commit = "abc1234", date = "2026-12-07", after_real = true, when = "now"}',
     "claims.x.metrics.m.fixed: unknown key 'when'"),
    ('{commit = "abc1234", date = "2026-12-07"}', "claims.x.metrics.m.fixed: missing 'after_real'"),
    ('{commit = "HEAD", date = "2026-12-07", after_real = true}', "claims.x.metrics.m.fixed.commit: 'HEAD'"),
    ('{commit = "abc1234", date = "7 Dec 2026", after_real = true}', "claims.x.metrics.m.fixed.date: '7 Dec 2026'"),
    ('{commit = "abc1234", date = 2026-12-07, after_real = true}', "claims.x.metrics.m.fixed.date"),
    ('{commit = "abc1234", date = "2026-12-07", after_real = "yes"}',
     "claims.x.metrics.m.fixed.after_real: 'yes', expected true or false"),
    ('{commit = "abc1234", date = "2026-12-07", after_real = true, note = " "}',
     "claims.x.metrics.m.fixed.note: expected a non-empty string"),
    ('{commit = "abc1234", date = "2026-12-07", after_real = false}',
     "claims.x.metrics.m.fixed.after_real: false, but 2026-12-07 is after the first measurement of a real "
     "checkpoint (2026-12-02): expected after_real = true"),
    ('{commit = "abc1234", date = "2026-11-26", after_real = true}',
     "2026-11-26 is before the first measurement of a real checkpoint"),
])
def test_invalid_fixed_is_an_error_naming_the_metric(tmp_path, value, expected):
    message = load_error(tmp_path, GOOD.replace(FIXED, f"fixed = {value}", 1))
    assert expected in message, message


def test_fixed_on_the_day_of_the_first_real_measurement_may_be_either(tmp_path):
    for after_real in ("true", "false"):
        day = FIXED.replace("2026-12-07", "2026-12-02").replace("true", after_real)
        metric = load_registry(write(tmp_path, GOOD.replace(FIXED, day, 1)))["x"].metrics["m"]
        assert metric.fixed == Fixed("abc1234", "2026-12-02", after_real == "true")
        assert metric.fixed.text() == f"fixed {'after' if after_real == 'true' else 'before'} real measurement " \
                                      "(commit abc1234, 2026-12-02)"


def test_missing_claim_field(tmp_path):
    message = load_error(tmp_path, GOOD.replace('section = "1) a section"\n', ""))
    assert "claims.x" in message and "missing 'section'" in message


def test_empty_provenance_is_an_error(tmp_path):
    message = load_error(tmp_path, GOOD.replace('provenance = "CLAIMS.md"', 'provenance = "  "'))
    assert "claims.x.metrics.other.provenance" in message
    assert "non-empty string" in message


def test_bad_comparator(tmp_path):
    message = load_error(tmp_path, GOOD.replace('comparator = ">="', 'comparator = "=<"'))
    assert "claims.x.metrics.m.comparator" in message
    assert "'=<'" in message
    for comparator in COMPARATORS:
        assert comparator in message


def test_bad_marker(tmp_path):
    message = load_error(tmp_path, GOOD.replace('marker = "encoder"', 'marker = "decodr"'))
    assert "claims.x.marker" in message and "'decodr'" in message
    assert "encoder" in message and "decoder" in message


@pytest.mark.parametrize("value", ['"enc_chop"', '"whisper_claims.claims.encoder"', '"a b:c"', "3", '""'])
def test_function_must_be_module_colon_name(tmp_path, value):
    text = GOOD.replace('function = "whisper_claims.claims.encoder:enc_chop"', f"function = {value}")
    message = load_error(tmp_path, text)
    assert "claims.x.function" in message and ("module:function" in message or "non-empty string" in message)


def test_function_is_required_and_slow_is_a_boolean(tmp_path):
    assert "missing 'function'" in load_error(tmp_path, GOOD.replace(
        'function = "whisper_claims.claims.encoder:enc_chop"\n', ""))
    assert "claims.x.slow: 'yes', expected true or false" in load_error(tmp_path, GOOD.replace(
        'key_metric = "m"\n', 'key_metric = "m"\nslow = "yes"\n'))
    slow = load_registry(write(tmp_path, GOOD.replace('key_metric = "m"\n', 'key_metric = "m"\nslow = true\n')))
    assert slow["x"].slow and not load_registry(write(tmp_path, GOOD))["x"].slow


@pytest.mark.parametrize("value", ['"0.5"', "true", "false", "nan", "inf", "-inf", "[0.5]"])
def test_threshold_not_a_number(tmp_path, value):
    message = load_error(tmp_path, GOOD.replace("threshold = 0.5", f"threshold = {value}"))
    assert "claims.x.metrics.m.threshold" in message
    assert "expected a finite number" in message


def test_override_not_a_number(tmp_path):
    message = load_error(tmp_path, GOOD.replace("base = 0.7", 'base = "0.7"'))
    assert "claims.x.metrics.m.overrides.base" in message
    assert "expected a finite number" in message


def test_negative_tolerance(tmp_path):
    message = load_error(tmp_path, GOOD.replace("tolerance = 0.05", "tolerance = -1"))
    assert "claims.x.metrics.m.tolerance" in message and ">= 0" in message


def test_unknown_size_in_metric_applies_to(tmp_path):
    message = load_error(tmp_path, GOOD.replace('["tiny", "base"]', '["tiny", "bse"]'))
    assert "claims.x.metrics.m.applies_to" in message
    assert "'bse'" in message and "did you mean 'base'" in message


def test_unknown_size_in_claim_applies_to(tmp_path):
    message = load_error(tmp_path, GOOD.replace('applies_to = "all"', 'applies_to = ["tinny"]'))
    assert "claims.x.applies_to" in message
    assert "'tinny'" in message and "did you mean 'tiny'" in message


def test_applies_to_neither_all_nor_a_list(tmp_path):
    message = load_error(tmp_path, GOOD.replace('applies_to = "all"', 'applies_to = "every"'))
    assert "claims.x.applies_to" in message and "'every'" in message
    message = load_error(tmp_path, GOOD.replace('applies_to = "all"', "applies_to = []"))
    assert "claims.x.applies_to" in message and "non-empty list" in message


def test_unknown_size_in_overrides(tmp_path):
    message = load_error(tmp_path, GOOD.replace("base = 0.7", "bsae = 0.7"))
    assert "claims.x.metrics.m.overrides" in message
    assert "'bsae'" in message and "did you mean 'base'" in message


def test_key_metric_not_among_metrics(tmp_path):
    message = load_error(tmp_path, GOOD.replace('key_metric = "m"', 'key_metric = "n"'))
    assert "claims.x.key_metric" in message
    assert "'n'" in message and "m, other" in message


def test_claim_without_metrics(tmp_path):
    text = GOOD.split("[claims.x.metrics.m]")[0] + "[claims.x.metrics]\n"
    message = load_error(tmp_path, text)
    assert "claims.x.metrics" in message and "at least one metric" in message


def test_metric_not_a_table(tmp_path):
    text = GOOD.split("[claims.x.metrics.m]")[0] + "[claims.x.metrics]\nm = 3\n"
    message = load_error(tmp_path, text)
    assert "claims.x.metrics.m" in message and "expected a table" in message


def test_post_figures_not_a_list_of_names(tmp_path):
    message = load_error(tmp_path, GOOD.replace('key_metric = "m"', 'key_metric = "m"\npost_figures = [1]'))
    assert "claims.x.post_figures" in message


def test_post_transcripts_are_label_to_text(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text(GOOD.replace("[claims.x.params]", '[claims.x.post_transcripts]\nfull = "hot ones"\n"k=10" = ""\n\n'
                                                      "[claims.x.params]"), encoding="utf-8")
    assert load_registry(path)["x"].post_transcripts == {"full": "hot ones", "k=10": ""}
    message = load_error(tmp_path, GOOD.replace("[claims.x.params]", "[claims.x.post_transcripts]\nfull = 3\n\n"
                                                                     "[claims.x.params]"))
    assert "claims.x.post_transcripts.full" in message and "expected a string" in message


@pytest.mark.parametrize("version, shown", [("2", "2"), ("0", "0"), ('"1"', "'1'")])
def test_wrong_schema_version(tmp_path, version, shown):
    message = load_error(tmp_path, GOOD.replace("schema_version = 1", f"schema_version = {version}"))
    assert f"schema_version is {shown}, expected 1" in message


def test_missing_schema_version(tmp_path):
    message = load_error(tmp_path, GOOD.replace("schema_version = 1\n", ""))
    assert "missing 'schema_version'" in message


def test_invalid_toml(tmp_path):
    message = load_error(tmp_path, GOOD.replace('comparator = "<"', 'comparator = "<'))
    assert "not valid TOML" in message
    assert re.search(r"line \d+", message), message


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere" / "thresholds.toml"
    with pytest.raises(ThresholdsError) as info:
        load_registry(path)
    message = str(info.value)
    assert str(path) in message and "no such file" in message
    assert "--claims-thresholds" in message


# -- MetricSpec semantics ---------------------------------------------------------------


@pytest.mark.parametrize(
    "comparator, below, equal, above",
    [
        ("<", True, False, False),
        ("<=", True, True, False),
        (">", False, False, True),
        (">=", False, True, True),
    ],
)
def test_passes_for_each_comparator(comparator, below, equal, above):
    m = metric(comparator, threshold=2.0)
    assert m.passes(1.0, None) is below
    assert m.passes(2.0, None) is equal
    assert m.passes(2, "tiny") is equal
    assert m.passes(3.0, None) is above
    assert m.passes(2.0 - 1e-12, None) is below
    assert m.passes(2.0 + 1e-12, None) is above


@pytest.mark.parametrize("comparator", COMPARATORS)
def test_nan_and_none_never_pass(comparator):
    m = metric(comparator, threshold=0.0)
    assert m.passes(float("nan"), None) is False
    assert m.passes(float("nan"), "tiny") is False
    assert m.passes(None, None) is False


def test_overrides_apply_per_size():
    m = metric(">=", threshold=1.0, overrides={"base": 5.0})
    assert m.threshold_for("base") == 5.0
    assert m.threshold_for("tiny") == 1.0
    assert m.threshold_for(None) == 1.0
    assert m.passes(3.0, "tiny") is True
    assert m.passes(3.0, "base") is False
    assert m.passes(5.0, "base") is True
    assert m.passes(3.0, None) is True


def test_overrides_from_a_file_apply_per_size(tmp_path):
    m = load_registry(write(tmp_path, GOOD))["x"].metrics["m"]
    assert m.threshold_for("tiny") == 0.5
    assert m.threshold_for("base") == 0.7
    assert m.passes(0.6, "tiny") and not m.passes(0.6, "base")


def test_applies_every_size_or_listed_ones():
    everywhere = metric()
    assert everywhere.applies("tiny") and everywhere.applies("large-v3") and everywhere.applies(None)
    listed = metric(applies_to=("tiny", "base"))
    assert listed.applies("tiny") and listed.applies("base")
    assert not listed.applies("small")
    assert not listed.applies(None)


def test_claim_applies(tmp_path):
    text = GOOD.replace('applies_to = "all"', 'applies_to = ["small"]')
    spec = load_registry(write(tmp_path, text))["x"]
    assert spec.applies_to == ("small",)
    assert spec.applies("small") and not spec.applies("tiny") and not spec.applies(None)
    assert load_registry(write(tmp_path, GOOD))["x"].applies(None)


def test_size_params_replace_params_for_that_size_only(tmp_path):
    text = GOOD.replace("[claims.x.params]\nk = 3\n", "[claims.x.params]\nk = 3\nclip = \"a.wav\"\n\n"
                        "[claims.x.size_params.micro]\nclip = \"b.wav\"\n")
    spec = load_registry(write(tmp_path, text))["x"]
    assert spec.params_for("micro") == {"k": 3, "clip": "b.wav"}
    assert spec.params_for("tiny") == spec.params_for(None) == {"k": 3, "clip": "a.wav"}
    assert "micro" in SIZES


@pytest.mark.parametrize("table, expected", [
    ("[claims.x.size_params.mikro]\nk = 4\n", r"claims\.x\.size_params: unknown size 'mikro' \(did you mean 'micro'\?\)"),
    ("[claims.x.size_params.micro]\nkk = 4\n", r"claims\.x\.size_params\.micro\.kk: replaces no key of .*claims\.x\.params"),
])
def test_size_params_typos_are_errors(tmp_path, table, expected):
    assert re.search(expected, load_error(tmp_path, GOOD + "\n" + table))
    not_a_table = GOOD.replace('applies_to = "all"\n\n[claims.x.params]', 'applies_to = "all"\nsize_params = 3\n\n[claims.x.params]', 1)
    assert "size_params: expected a table, got int" in load_error(tmp_path, not_a_table)


# an experiment: what its claims share, written once
SHARED = """\
schema_version = 1

[experiments.chops]
section = "1) a section"
marker = "encoder"
function = "whisper_claims.claims.encoder:enc_chop"

[experiments.chops.params]
k = 3
clip = "a.wav"

[experiments.chops.size_params.micro]
clip = "b.wav"

[claims.x]
experiment = "chops"
statement = "something holds"
key_metric = "m"

[claims.x.metrics.m]
description = "a metric"
comparator = ">="
threshold = 0.5
provenance = "the post's figure 1"
fixed = {commit = "abc1234", date = "2026-12-07", after_real = true}

[claims.y]
experiment = "chops"
statement = "something else holds"
key_metric = "n"

[claims.y.params]
target = "hot ones"

[claims.y.metrics.n]
description = "another metric"
comparator = "<"
threshold = 2
provenance = "CLAIMS.md"
fixed = {commit = "abc1234", date = "2026-12-07", after_real = true}
"""


def test_claims_of_an_experiment_get_its_keys_written_once(tmp_path):
    registry = load_registry(write(tmp_path, SHARED))
    x, y = registry["x"], registry["y"]
    assert x.experiment == y.experiment == "chops"
    assert x.function == y.function == "whisper_claims.claims.encoder:enc_chop" and x.marker == "encoder"
    assert x.params_for("tiny") == {"k": 3, "clip": "a.wav"}
    assert x.params_for("micro") == {"k": 3, "clip": "b.wav"}
    assert y.params_for("micro") == {"k": 3, "clip": "b.wav", "target": "hot ones"}
    assert x.source("params.k") == "experiments.chops.params.k"
    assert y.source("params.target") == "claims.y.params.target"


@pytest.mark.parametrize("change, expected", [
    (('experiment = "chops"\nstatement = "something holds"', 'experiment = "chop"\nstatement = "something holds"'),
     r"claims\.x\.experiment: 'chop' names no \[experiments\.…\] entry \(did you mean 'chops'\?\)"),
    (('[claims.y.params]\ntarget', '[claims.y.params]\nk = 4\ntarget'),
     r"claims\.y\.params\.k: written twice; experiments\.chops\.params\.k gives it"),
    (('key_metric = "m"', 'key_metric = "m"\nmarker = "decoder"'),
     r"claims\.x\.marker: written twice; experiments\.chops\.marker gives it"),
    (('[experiments.chops.size_params.micro]', '[experiments.other]\nsection = "s"\nmarker = "encoder"\n'
      'function = "m:f"\n\n[experiments.chops.size_params.micro]'),
     r"experiments\.other: no claim names it"),
    (('function = "whisper_claims.claims.encoder:enc_chop"', 'function = "whisper_claims.claims.encoder:enc_chop"\n'
      'statement = "no"'), r"experiments\.chops: unknown key 'statement'"),
])
def test_experiment_mistakes_name_the_entry(tmp_path, change, expected):
    assert change[0] in SHARED
    assert re.search(expected, load_error(tmp_path, SHARED.replace(*change, 1)))


def test_a_bad_parameter_of_an_experiment_names_the_experiment(tmp_path):
    from whisper_claims.claims.registry import check_params

    def enc_chop(model, *, clip="", target=""):
        raise AssertionError("never called")

    path = write(tmp_path, SHARED)
    registry = load_registry(path)
    with pytest.raises(ThresholdsError, match=r"experiments\.chops\.params\.k: enc_chop\(\) takes no argument 'k'"):
        check_params(registry, {claim: enc_chop for claim in registry}, path)


CLIP_SET = """\
[clip_sets.some]
recordings = [["a.wav", "words"]]
sentences = { source = "stimuli", n = 2, seed = 1 }
"""


def test_a_clip_set_is_written_once_and_named(tmp_path):
    text = SHARED.replace('[experiments.chops.params]\nk = 3\n', '[experiments.chops.params]\nk = 3\nclip_set = "some"\n')
    spec = load_registry(write(tmp_path, text + "\n" + CLIP_SET))["x"]
    assert spec.params_for("tiny") == {"k": 3, "clip": "a.wav", "recordings": [["a.wav", "words"]],
                                       "sentences": {"source": "stimuli", "n": 2, "seed": 1}}
    assert spec.source("params.recordings") == "clip_sets.some.recordings"
    twice = text.replace('clip_set = "some"\n', 'clip_set = "some"\nsentences = {}\n')
    assert re.search(r"experiments\.chops\.params\.sentences: written twice; clip_sets\.some\.sentences gives it",
                     load_error(tmp_path, twice + "\n" + CLIP_SET))
    assert re.search(r"experiments\.chops\.params\.clip_set: 'sme' names no \[clip_sets\.…\] entry \(did you mean 'some'\?\)",
                     load_error(tmp_path, text.replace('"some"', '"sme"') + "\n" + CLIP_SET))
    assert re.search(r"clip_sets\.some: no params name it", load_error(tmp_path, SHARED + "\n" + CLIP_SET))
    assert re.search(r"clip_sets\.some: missing 'sentences'",
                     load_error(tmp_path, text + "\n" + CLIP_SET.replace('sentences = { source = "stimuli", n = 2, seed = 1 }\n', '')))
