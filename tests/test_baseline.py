"""Baselines: a run compared with an earlier claims.json reports regressions, improvements, new and
removed claims, in the summary, claims.json and the reports, and fails under --fail-on-regression."""
import copy
import json
import re
from dataclasses import asdict, fields

import pytest

from whisper_claims.claims.registry import load_registry
from whisper_claims.report.baseline import Change, compare, differences, tolerances
from whisper_claims.report.claims_json import CHANGE_KEYS, baseline_lines, check_document
from toyproject import claims_json, output, run, write_thresholds


def document(rows, claims=("a", "b")):
    return {"claims": {c: {"key_metric": "m"} for c in claims},
            "rows": [{"claim": c, "model": m, "status": s, "reason": "why" if s != "holds" else "",
                      "metrics": {"m": {"value": v}}} for c, m, s, v in rows]}


def kinds(changes):
    return sorted((c.kind, c.claim, c.model) for c in changes)


def test_held_then_fails_or_errors_is_a_regression():
    before = document([("a", "tiny", "holds", 0.9), ("b", "tiny", "holds", 0.9)])
    after = document([("a", "tiny", "fails", 0.2), ("b", "tiny", "error", None)])
    changes = compare(before, after, {"a": None, "b": None})
    assert kinds(changes) == [("regression", "a", "tiny"), ("regression", "b", "tiny")]
    assert changes[0].before == "holds" and changes[0].after == "fails" and changes[0].detail == "why"


def test_fails_then_holds_is_an_improvement():
    changes = compare(document([("a", "base", "fails", 0.1)]), document([("a", "base", "holds", 0.9)]), {})
    assert kinds(changes) == [("improvement", "a", "base")]


@pytest.mark.parametrize("moved, tolerance, expected", [
    (0.05, 0.1, []), (0.15, 0.1, ["regression"]), (-0.15, 0.1, ["regression"]), (5.0, None, []),
])
def test_key_metric_drift_beyond_its_tolerance_is_a_regression(moved, tolerance, expected):
    before = document([("a", "tiny", "holds", 0.6)])
    after = document([("a", "tiny", "holds", 0.6 + moved)])
    changes = compare(before, after, {"a": tolerance})
    assert [c.kind for c in changes] == expected
    if expected:
        assert "tolerance 0.1" in changes[0].detail


def test_drift_is_checked_on_failing_claims_too():
    before = document([("a", "tiny", "fails", 0.1)])
    assert kinds(compare(before, document([("a", "tiny", "fails", 0.4)]), {"a": 0.1})) == [("regression", "a", "tiny")]


def test_new_and_removed_claims_and_skips():
    before = document([("a", "tiny", "holds", 0.9), ("b", "tiny", "skipped", None)], claims=("a", "b"))
    after = document([("a", "tiny", "skipped", None), ("b", "tiny", "fails", 0.1), ("c", "tiny", "holds", 1)],
                     claims=("b", "c"))
    assert kinds(compare(before, after, {})) == [("new", "c", "*"), ("removed", "a", "*")]


def test_unchanged_run_has_no_changes():
    doc = document([("a", "tiny", "holds", 0.9), ("b", "large-v3", "fails", 0.1)])
    assert compare(doc, copy.deepcopy(doc), {"a": 0.0, "b": 0.0}) == []


def test_rows_are_compared_value_by_value():
    before = document([("a", "tiny", "holds", 0.9), ("b", "tiny", "fails", 0.1), ("b", "base", "holds", 0.5)])
    after = copy.deepcopy(before)
    assert differences(before, after) == (3, [])
    after["rows"][1]["metrics"]["m"]["value"] = 0.1000001  # within any tolerance: not a change, yet not identical
    after["rows"][1]["evidence"] = {"ranks": (3, 4)}
    after["rows"].append({"claim": "a", "model": "base", "status": "holds"})  # in one run only: not compared
    n_compared, (difference,) = differences(before, after)
    assert n_compared == 3 and (difference.claim, difference.model, difference.n_differing) == ("b", "tiny", 3)
    # in the row's order, values as JSON, a value of one side only as absent
    assert difference.shown == ("metrics.m.value: 0.1 → 0.1000001", "evidence.ranks[0]: absent → 3",
                                "evidence.ranks[1]: absent → 4")


def test_a_status_change_is_shown_first_and_long_values_are_cut():
    before = document([("a", "tiny", "holds", 0.9)])
    before["rows"][0]["evidence"] = {"transcript": "word " * 40, "dotted.key": 1, "dotted": {"key": 2}}
    after = document([("a", "tiny", "fails", 0.2)])
    after["rows"][0]["evidence"] = {"transcript": "other " * 40, "dotted.key": 1, "dotted": {"key": 3}}
    (difference,) = differences(before, after)[1]
    assert difference.n_differing == 5  # keys holding dots stay apart from nested ones
    assert difference.shown[0] == 'status: "holds" → "fails"'
    assert difference.shown[1] == 'reason: "" → "why"'
    lines = baseline_lines({"baseline": {"path": "old.json", "changes": [], "rows_compared": 1,
                                         "rows_differing": [asdict(difference)]}})
    assert lines[1:] == ["rows identical to the baseline: 0 of 1",
                         f"  differs: a on tiny: {'; '.join(difference.shown)}, … (5 in all)"]
    after["rows"][0] = {**before["rows"][0], "evidence": after["rows"][0]["evidence"]}
    (difference,) = differences(before, after)[1]
    assert difference.shown[0].startswith('evidence.transcript: "word word') and len(difference.shown[0]) < 150
    assert difference.shown[0].count("…") == 2  # both values cut


def test_rows_as_claims_json_holds_them_are_identical():
    before = document([("a", "tiny", "holds", None)])
    before["rows"][0]["evidence"] = {"pair": [1, 2]}
    after = copy.deepcopy(before)
    after["rows"][0]["evidence"] = {"pair": (1, 2)}
    after["rows"][0]["metrics"]["m"]["value"] = float("nan")  # written as null
    assert differences(before, after) == (1, [])


def test_empty_values_and_skips_and_reports():
    before = document([("a", "tiny", "holds", 0.9), ("b", "tiny", "skipped", None)])
    before["rows"][0]["evidence"] = {"figures": [{"path": "figures/a.png"}], "ranks": []}
    before["rows"][1]["reason"] = "no checkpoint in /root/.cache/whisper"
    after = copy.deepcopy(before)
    del after["rows"][0]["evidence"]["figures"]  # a run without --claims-report draws nothing
    after["rows"][1]["reason"] = "no checkpoint in /home/me/.cache/whisper"  # skipped in both: not compared
    assert differences(before, after) == (1, [])
    after["rows"][0]["evidence"]["ranks"] = {}
    (difference,) = differences(before, after)[1]
    assert difference.shown == ("evidence.ranks: [] → {}",)


def test_the_reader_knows_the_fields_of_a_change():
    assert tuple(f.name for f in fields(Change)) == CHANGE_KEYS


@pytest.mark.parametrize("section, entry", [
    ({"path": "old.json", "changes": [{"claim": "a"}]}, "baseline.changes[0]"),
    ({"path": "old.json", "changes": [], "rows_compared": -1, "rows_differing": []}, "baseline.rows_compared"),
    ({"path": "old.json", "changes": [], "rows_compared": 0, "rows_differing": [{}]}, "baseline.rows_differing"),
    ({"path": "old.json", "changes": [], "rows_compared": 1, "rows_differing": [{"claim": "a", "model": "tiny"}]},
     "baseline.rows_differing[0]"),
])
def test_a_malformed_baseline_section_names_its_entry(section, entry):
    doc = {"run": {"models": []}, "claims": {}, "rows": [], "baseline": section}
    with pytest.raises(ValueError, match=rf"claims.json: {re.escape(entry)} is "):
        check_document("claims.json", doc)


def test_tolerances_come_from_the_key_metric():
    registry = load_registry()
    drift = tolerances(registry)
    assert set(drift) == set(registry)
    for claim_id, spec in registry.items():
        assert drift[claim_id] == spec.metrics[spec.key_metric].tolerance


# -- through pytest ------------------------------------------------------------------------------


def test_a_run_against_its_own_baseline_reports_no_change(project, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    run(project, "--whisper-models", "random:tiny", f"--claims-report={first}").assert_outcomes(passed=1)
    result = run(project, "--whisper-models", "random:tiny", f"--claims-report={second}",
                 f"--claims-baseline={first / 'claims.json'}", "--fail-on-regression")
    assert result.ret == 0
    assert "0 regression(s), 0 change(s)" in output(result)
    assert "rows identical to the baseline: 1 of 1" in output(result)
    section = claims_json(second)["baseline"]
    assert section["changes"] == [] and section["rows_compared"] == 1 and section["rows_differing"] == []


def test_drift_is_reported_and_fails_only_under_fail_on_regression(project, tmp_path):
    write_thresholds(project, text=(project.path / "thresholds.toml").read_text() + "tolerance = 10\n")
    first = tmp_path / "first"
    run(project, "--whisper-models", "random:tiny", f"--claims-report={first}").assert_outcomes(passed=1)
    toml = (project.path / "thresholds.toml").read_text().replace("scale = 1", "scale = 2")
    write_thresholds(project, text=toml)  # width 384 → 768: still holds, moved beyond 10
    baseline = f"--claims-baseline={first / 'claims.json'}"
    second = tmp_path / "second"
    result = run(project, "--whisper-models", "random:tiny", baseline, f"--claims-report={second}")
    assert result.ret == 0
    assert "REGRESSION: toy on random:tiny: holds → holds; width moved 384 → 768" in output(result)
    (change,) = claims_json(second)["baseline"]["changes"]
    assert change["kind"] == "regression"
    assert "regression" in (second / "claims.md").read_text() and "REGRESSION" in (second / "report.html").read_text()
    assert "rows identical to the baseline: 0 of 1" in output(result)
    assert "differs: toy on random:tiny: metrics.width.value: 384.0 → 768.0" in output(result)
    assert claims_json(second)["baseline"]["rows_differing"][0]["n_differing"] >= 1

    failing = run(project, "--whisper-models", "random:tiny", baseline, "--fail-on-regression")
    failing.assert_outcomes(passed=1)
    assert failing.ret == pytest.ExitCode.TESTS_FAILED


def test_held_then_fails_through_pytest(project, tmp_path):
    first = tmp_path / "first"
    run(project, "--whisper-models", "random:tiny", f"--claims-report={first}").assert_outcomes(passed=1)
    write_thresholds(project, threshold=1000)
    result = run(project, "--whisper-models", "random:tiny", f"--claims-baseline={first / 'claims.json'}")
    result.assert_outcomes(failed=1)
    assert "REGRESSION: toy on random:tiny: holds → fails" in output(result)


def test_record_only_turns_findings_into_xfail_and_fails_on_change(project, tmp_path):
    """CI on micro: a claim that does not hold is recorded, not a failed test; a change from the baseline is."""
    write_thresholds(project, threshold=1000)
    first = tmp_path / "first"
    result = run(project, "--whisper-models", "random:tiny", "--claims-record-only", f"--claims-report={first}")
    result.assert_outcomes(xfailed=1)
    assert result.ret == 0
    assert "claim toy fails on model random:tiny: not met: width" in output(result)
    assert claims_json(first)["rows"][0]["status"] == "fails"
    baseline = f"--claims-baseline={first / 'claims.json'}"
    assert run(project, "--whisper-models", "random:tiny", "--claims-record-only", baseline,
               "--fail-on-regression").ret == 0
    write_thresholds(project, threshold=300)  # now holds: a change, not a regression
    assert run(project, "--whisper-models", "random:tiny", "--claims-record-only", baseline,
               "--fail-on-regression").ret == 0
    second = tmp_path / "second"
    run(project, "--whisper-models", "random:tiny", f"--claims-report={second}").assert_outcomes(passed=1)
    write_thresholds(project, threshold=1000)
    regressed = run(project, "--whisper-models", "random:tiny", "--claims-record-only",
                    f"--claims-baseline={second / 'claims.json'}", "--fail-on-regression")
    regressed.assert_outcomes(xfailed=1)
    assert regressed.ret == pytest.ExitCode.TESTS_FAILED


def test_bad_baselines_are_usage_errors(project, tmp_path):
    missing = tmp_path / "nowhere.json"
    result = run(project, f"--claims-baseline={missing}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--claims-baseline: {missing}" in output(result)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": "other"}))
    assert "schema 'other'" in output(run(project, f"--claims-baseline={bad}"))
    result = run(project, "--fail-on-regression")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--fail-on-regression needs --claims-baseline" in output(result)


def test_held_then_inconclusive_is_a_regression_and_back_an_improvement():
    held, undecided = document([("a", "tiny", "holds", 0.6)]), document([("a", "tiny", "inconclusive", 0.55)])
    assert kinds(compare(held, undecided, {"a": None})) == [("regression", "a", "tiny")]
    assert kinds(compare(undecided, held, {"a": None})) == [("improvement", "a", "tiny")]
    # between fails and inconclusive only the key metric's tolerance counts
    failed = document([("a", "tiny", "fails", 0.45)])
    assert compare(failed, undecided, {"a": 0.2}) == [] and compare(undecided, failed, {"a": 0.2}) == []
    assert kinds(compare(undecided, failed, {"a": 0.05})) == [("regression", "a", "tiny")]
