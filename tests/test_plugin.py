import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest
import torch
from whisper.model import ModelDimensions

from whisper_claims.claims import figures
from whisper_claims.files import safe_name
from whisper_claims.models.load import open_model, random_model, write_checkpoint
from whisper_claims.report import publish

from toyproject import CLAIM_TEST, THRESHOLDS, claims_json, output, run, write_claim, write_thresholds

PROJECT = Path(__file__).parents[1]
SMALL_DIMS = ModelDimensions(n_mels=80, n_audio_ctx=16, n_audio_state=32, n_audio_head=2, n_audio_layer=1,
                             n_vocab=51865, n_text_ctx=16, n_text_state=32, n_text_head=2, n_text_layer=1)

def table(result) -> list[list[str]]:
    """The words of each line of the claim × model section of the terminal summary."""
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if "whisper-claims: claim × model" in line)
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("=") or line.startswith("whisper-claims:"):
            break
        if line.strip():
            rows.append(line.split())
    return rows


def collected_ids(result) -> list[str]:
    return [line.split("::", 1)[1] for line in result.outlines if "::" in line]


# -- options and model specs --------------------------------------------------------------


def test_help_lists_the_options(project):
    result = project.runpytest("--help")
    assert result.ret == 0
    text = result.stdout.str()
    assert "checking the claims of 'Interpreting Whisper'" in text
    for option in ("--whisper-models", "--whisper-root", "--whisper-download", "--require-models", "--assets",
                   "--assets-download", "--claims-report", "--claims-thresholds"):
        assert option in text, option


def test_default_models_are_tiny_and_tiny_en(project):
    result = run(project, "--collect-only", "-q")
    assert result.ret == 0
    assert collected_ids(result) == ["test_toy[tiny]", "test_toy[tiny.en]"]


def test_models_from_the_environment(project, monkeypatch):
    monkeypatch.setenv("WHISPER_CLAIMS_MODELS", "random:tiny, base.en")
    result = run(project, "--collect-only", "-q")
    assert collected_ids(result) == ["test_toy[random:tiny]", "test_toy[base.en]"]


def test_option_wins_over_the_environment(project, monkeypatch):
    monkeypatch.setenv("WHISPER_CLAIMS_MODELS", "base")
    result = run(project, "--collect-only", "-q", "--whisper-models", "random:small:3")
    assert collected_ids(result) == ["test_toy[random:small:3]"]


def test_duplicate_specs_are_removed_order_kept(project):
    result = run(project, "--collect-only", "-q", "--whisper-models", "random:base,random:tiny, random:base,,random:tiny")
    assert collected_ids(result) == ["test_toy[random:base]", "test_toy[random:tiny]"]


def test_unknown_model_is_a_usage_error_with_a_suggestion(project):
    result = run(project, "--whisper-models", "tinny")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = output(result)
    assert "--whisper-models" in text and "'tinny'" in text and "did you mean tiny" in text


def test_unknown_random_size_is_a_usage_error(project):
    result = run(project, "--whisper-models", "random:bsae")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "random:bsae" in output(result) and "did you mean base" in output(result)


# -- thresholds and markers -------------------------------------------------------------


def test_thresholds_typo_is_a_usage_error_naming_file_and_entry(project):
    path = write_thresholds(project, text=THRESHOLDS.format(threshold=1, applies_to='"all"')
                            .replace('comparator = ">="', 'comparater = ">="'))
    result = run(project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = output(result)
    assert str(path) in text
    assert "claims.toy.metrics.width" in text and "did you mean 'comparator'" in text


def test_missing_thresholds_file_is_a_usage_error(project):
    missing = project.path / "no-such.toml"
    result = project.runpytest("-p", "no:cacheprovider", "--claims-thresholds", str(missing))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert str(missing) in output(result)


def test_the_projects_thresholds_file_is_the_default(project):
    # no --claims-thresholds: this checkout's claims/thresholds.toml, which has no claim "toy"
    result = project.runpytest("-p", "no:cacheprovider", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "dec-embed-sound" in output(result)


def test_unknown_claim_id_is_a_usage_error_naming_claim_and_test(project):
    write_claim(project, CLAIM_TEST.replace('claim("toy")', 'claim("no-such-claim")'))
    result = run(project, "--whisper-models", "random:tiny")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = output(result)
    assert "'no-such-claim'" in text
    assert "claims/test_toy.py::test_toy[random:tiny]" in text
    assert "known claims: toy" in text


def test_claim_marker_without_id_is_a_usage_error(project):
    write_claim(project, CLAIM_TEST.replace('claim("toy")', "claim"))
    result = run(project, "--whisper-models", "random:tiny")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "claims/test_toy.py::test_toy[random:tiny]" in output(result)


# -- outcomes -----------------------------------------------------------------------------


def test_official_model_absent_is_a_skip_naming_model_and_folder(project, tmp_path):
    report = tmp_path / "report"
    result = run(project, "--whisper-models", "tiny", "--claims-report", str(report))
    assert result.ret == 0
    result.assert_outcomes(skipped=1)
    text = output(result)
    root = project.path / "empty-root"
    assert "SKIPPED" in text and "model 'tiny'" in text and f"tiny.pt in {root}" in text
    rows = table(result)
    assert rows[:2] == [["claim", "tiny"], ["toy", "skipped"]]
    assert "model 'tiny'" in " ".join(rows[2])  # the reason under the table
    row, = claims_json(report)["rows"]
    assert row["status"] == "skipped" and row["model"] == "tiny"
    assert "model 'tiny'" in row["reason"] and str(root) in row["reason"]
    assert not row["reason"].startswith("Skipped")
    model, = claims_json(report)["run"]["models"]
    assert model["spec"] == "tiny" and "unavailable" in model and str(root) in model["unavailable"]


def test_require_models_makes_an_absent_model_an_error(project, tmp_path):
    report = tmp_path / "report"
    result = run(project, "--whisper-models", "tiny", "--require-models", "--claims-report", str(report))
    result.assert_outcomes(errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = output(result)
    root = project.path / "empty-root"
    assert "--require-models" in text and "model 'tiny'" in text and f"tiny.pt in {root}" in text
    row, = claims_json(report)["rows"]
    assert row["status"] == "error"
    assert "model 'tiny'" in row["reason"] and f"tiny.pt in {root}" in row["reason"]


def test_claim_that_holds_passes_and_shows_the_key_metric(project):
    result = run(project, "--whisper-models", "random:tiny")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    assert table(result) == [["claim", "random:tiny"], ["toy", "holds", "width=384", "(>=", "300)"]]


def test_failing_claim_fails_with_every_number(project):
    write_thresholds(project, threshold=1000)
    result = run(project, "--whisper-models", "random:tiny")
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = output(result)
    assert "claim toy fails on model random:tiny: not met: width" in text
    assert ("FAIL width = 384 (needs >= 1000; the toy figure, width 300; fixed after real measurement "
            "(commit abc1234, 2026-12-07))") in text
    assert "fails width=384 (>= 1e+03)" in text  # the table cell


def test_claim_for_other_sizes_is_skipped_saying_which(project, tmp_path):
    checkpoint = write_checkpoint(random_model("tiny", dims=SMALL_DIMS), tmp_path / "small.pt")
    write_thresholds(project, applies_to='["tiny", "base"]')
    report = tmp_path / "report"
    result = run(project, "--whisper-models", f"random:tiny,{checkpoint}", "--claims-report", str(report), "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    text = output(result)
    assert (f"claim toy applies to tiny, base only; model {checkpoint} has the dimensions of no official size"
            in text)
    rows = {row["model"]: row for row in claims_json(report)["rows"]}
    assert rows["random:tiny"]["status"] == "holds"
    assert rows[str(checkpoint)]["status"] == "skipped"
    assert "applies to tiny, base only" in rows[str(checkpoint)]["reason"]


def test_claim_for_other_official_size_is_skipped(project):
    write_thresholds(project, applies_to='["base"]')
    result = run(project, "--whisper-models", "random:tiny", "-rs")
    result.assert_outcomes(skipped=1)
    assert "claim toy applies to base only; model random:tiny has the dimensions of tiny" in output(result)


def test_claim_function_that_raises_is_an_error(project, tmp_path):
    write_claim(project, CLAIM_TEST.replace('    return Measurement(', '    raise RuntimeError("boom in width")\n'
                                                                      '    return Measurement('))
    report = tmp_path / "report"
    result = run(project, "--whisper-models", "random:tiny", "--claims-report", str(report))
    result.assert_outcomes(failed=1)
    assert "RuntimeError: boom in width" in output(result)
    row, = claims_json(report)["rows"]
    assert row["status"] == "error" and row["reason"] == "RuntimeError: boom in width"
    assert row["metrics"] == {}


@pytest.mark.parametrize("record_only", [False, True])
def test_a_method_that_misses_its_bar_is_an_error_with_its_numbers(project, tmp_path, record_only):
    """MethodInvalid (e.g. an SAE that is not sparse): recorded as an error with the message; it fails the
    test, except under --claims-record-only, where it is a finding like a claim that fails."""
    write_claim(project, CLAIM_TEST.replace(
        '    return Measurement(',
        '    from whisper_claims.errors import MethodInvalid\n'
        '    raise MethodInvalid("mean L0 357.5 of 400 features (89%; bar <= 10%)")\n'
        '    return Measurement('))
    report = tmp_path / "report"
    result = run(project, "--whisper-models", "random:tiny", "--claims-report", str(report),
                 *(["--claims-record-only"] if record_only else []))
    result.assert_outcomes(**({"xfailed": 1} if record_only else {"failed": 1}))
    row, = claims_json(report)["rows"]
    assert row["status"] == "error"
    assert row["reason"] == "MethodInvalid: mean L0 357.5 of 400 features (89%; bar <= 10%)"


def test_a_missed_bar_keeps_the_errors_evidence_and_draws_its_figures(project, tmp_path):
    """What a MethodInvalid shows (the recipes tried, their frontier) is in the error's row, and its
    artifacts are drawn into the report like a verdict's."""
    pytest.importorskip("matplotlib")
    write_claim(project, CLAIM_TEST.replace(
        '    return Measurement(',
        '    from whisper_claims.errors import MethodInvalid\n'
        '    points = [{"label": "topk 4× k64", "mean_l0": 64.0, "explained_variance": 0.87, "wer_recovered": 0.6,\n'
        '               "selective": None, "qualifies": False}]\n'
        '    bars = {"max_l0": 64, "min_explained_variance": 0.8, "min_wer_recovered": 0.9}\n'
        '    raise MethodInvalid("no recipe is faithful", evidence={"tried": ["topk"]},\n'
        '                        artifacts={"sae_frontier--encoder.blocks.3": {"points": points, "bars": bars}})\n'
        '    return Measurement('))
    report = tmp_path / "report"
    result = run(project, "--whisper-models", "random:tiny", "--claims-report", str(report), "--claims-record-only")
    result.assert_outcomes(xfailed=1)
    row, = claims_json(report)["rows"]
    assert row["status"] == "error" and row["evidence"]["tried"] == ["topk"]
    figure, = row["evidence"]["figures"]
    assert figure["path"].endswith("--sae_frontier--encoder.blocks.3.png") and "frontier" in figure["caption"]
    assert (report / figure["path"]).read_bytes().startswith(b"\x89PNG")


def test_claim_function_missing_a_metric_is_an_error(project, tmp_path):
    write_claim(project, CLAIM_TEST.replace('{"width":', '{"wdth":'))
    report = tmp_path / "report"
    result = run(project, "--whisper-models", "random:tiny", "--claims-report", str(report))
    result.assert_outcomes(failed=1)
    row, = claims_json(report)["rows"]
    assert row["status"] == "error" and "no value for width" in row["reason"]


# -- claims.json --------------------------------------------------------------------------


def test_claims_report(project, tmp_path):
    report = tmp_path / "report" / "nested"
    result = run(project, "--whisper-models", "random:tiny,tiny", "--claims-report", str(report))
    result.assert_outcomes(passed=1, skipped=1)
    assert f"whisper-claims: wrote {report / 'claims.json'}" in output(result)
    # the reports beside claims.json, and no temporary files left
    assert sorted(p.name for p in report.iterdir()) == ["badges", "claims.json", "claims.md", "report.html"]
    assert not list(report.rglob("*.part"))

    document = claims_json(report)
    assert document["schema"] == "whisper-claims/claims.json"
    assert document["schema_version"] == 1
    run_info = document["run"]
    assert run_info["packages"]["torch"] == metadata.version("torch")
    assert run_info["packages"]["openai-whisper"] == metadata.version("openai-whisper")
    assert isinstance(run_info["torch_threads"], int) and run_info["torch_threads"] >= 1
    thresholds = project.path / "thresholds.toml"
    assert run_info["thresholds"] == {"path": str(thresholds),
                                      "sha256": hashlib.sha256(thresholds.read_bytes()).hexdigest()}
    random_info, official = run_info["models"]
    loaded = open_model("random:tiny")
    expected = loaded.info
    assert random_info["spec"] == "random:tiny" and random_info["kind"] == "random"
    assert random_info["size"] == "tiny" and random_info["path"] is None
    assert random_info["sha256"] == expected.sha256
    assert random_info["dims"] == expected.dims and random_info["dims"]["n_audio_state"] == 384
    assert official["spec"] == "tiny" and "no checkpoint tiny.pt" in official["unavailable"]
    assert set(document["claims"]) == {"toy"}
    assert document["claims"]["toy"]["key_metric"] == "width"

    holds, skipped = document["rows"]  # sorted by (claim, model)
    assert (holds["claim"], holds["model"], holds["status"]) == ("toy", "random:tiny", "holds")
    assert holds["metrics"] == {"width": {"value": 384.0, "comparator": ">=", "threshold": 300.0, "passed": True,
                                          "provenance": "the toy figure, width 300",
                                          "fixed": {"commit": "abc1234", "date": "2026-12-07", "after_real": True,
                                                    "note": ""}}}
    weights = loaded.model.decoder.token_embedding.weight[0, :3].tolist()
    assert holds["evidence"] == {"note": "x", "first_weights": weights}
    assert (skipped["model"], skipped["status"], skipped["metrics"]) == ("tiny", "skipped", {})


def test_reports_of_identical_runs_have_identical_rows(project, tmp_path):
    specs = "random:tiny:1,random:tiny"
    first, second = tmp_path / "first", tmp_path / "second"
    run(project, "--whisper-models", specs, "--claims-report", str(first)).assert_outcomes(passed=2)
    run(project, "--whisper-models", specs, "--claims-report", str(second)).assert_outcomes(passed=2)
    a, b = claims_json(first), claims_json(second)
    assert a["rows"] == b["rows"]
    assert a["run"]["models"] == b["run"]["models"]
    evidence = [row["evidence"]["first_weights"] for row in a["rows"]]
    assert len(evidence) == 2 and evidence[0] != evidence[1]  # the seeds differ, the runs do not


def test_no_report_without_the_option(project):
    result = run(project, "--whisper-models", "random:tiny")
    result.assert_outcomes(passed=1)
    assert not list(project.path.rglob("claims.json"))
    assert "whisper-claims: wrote" not in output(result)


# -- memory -------------------------------------------------------------------------------

MEMORY_CONFTEST = """\
import json
import weakref

import pytest

pytest_plugins = ("whisper_claims.plugin",)
REFS = []  # (spec, weakref to the model)
EVENTS = []


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    if fixturedef.argname == "whisper_model":
        EVENTS.append(["setup", request.param, [spec for spec, ref in REFS if ref() is not None]])
    result = yield
    if fixturedef.argname == "whisper_model":
        REFS.append((request.param, weakref.ref(result.model)))
    return result


def pytest_sessionfinish(session):
    (session.config.rootpath / "events.json").write_text(json.dumps(EVENTS))
"""

MEMORY_TEST = """\
import weakref

import pytest
from whisper_claims.claims.verdict import Measurement

SEEN = []  # weak references to the models the claim ran on


def width(model, *, scale):
    if any(ref() is not None and ref() is not model for ref in SEEN):
        raise AssertionError("two models in memory at once")
    SEEN.append(weakref.ref(model))
    return Measurement({"width": model.dims.n_audio_state * scale})


@pytest.mark.claim("toy")
def test_one(whisper_model, claim):
    claim.check(whisper_model)


@pytest.mark.claim("toy")
def test_two(whisper_model, claim):
    claim.check(whisper_model)
"""


def test_one_model_in_memory_at_a_time(project):
    project.makeconftest(MEMORY_CONFTEST)
    write_claim(project, MEMORY_TEST)
    result = run(project, "--whisper-models", "random:tiny,random:tiny:1", "-v")
    result.assert_outcomes(passed=4)
    # grouped per model: both tests on the first model, then both on the second
    order = [line.split("::", 1)[1].split()[0] for line in result.outlines if "PASSED" in line and "::" in line]
    assert order == ["test_one[random:tiny]", "test_two[random:tiny]",
                     "test_one[random:tiny:1]", "test_two[random:tiny:1]"]
    events = json.loads((project.path / "events.json").read_text())
    # each model loaded once; when the second is loaded, the first is no longer alive
    assert events == [["setup", "random:tiny", []], ["setup", "random:tiny:1", []]]


# -- figures ---------------------------------------------------------------------------------------

FIGURE_CLAIM = """\
import pytest
from whisper_claims.claims.verdict import Measurement


def width(model, *, scale):
    return Measurement({"width": model.dims.n_audio_state * scale}, {"note": "x"},
                       artifacts={"transcripts": {"full": "hot ones", "chopped": "ones"},
                                  "recall_curve": {"k": [100, 10], "recall": [1.0, 0.5], "wer": [0.0, 0.5]},
                                  "not_a_figure_kind": [1, 2]})


@pytest.mark.claim("toy")
def test_toy(whisper_model, claim):
    claim.check(whisper_model)
"""


def test_artifacts_become_figures_listed_in_the_evidence(project):
    write_claim(project, FIGURE_CLAIM)
    report = project.path / "report"
    run(project, "--whisper-models", "random:tiny", f"--claims-report={report}").assert_outcomes(passed=1)
    (row,) = claims_json(report)["rows"]
    figures = row["evidence"]["figures"]
    model = safe_name("random:tiny")
    assert [f["path"] for f in figures] == [f"figures/toy--{model}--transcripts.png",
                                            f"figures/toy--{model}--recall_curve.png"]
    for figure in figures:
        data = (report / figure["path"]).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 1000 and figure["caption"]
    assert "artifacts" not in row and "not_a_figure_kind" not in json.dumps(row)
    assert not list(report.rglob("*.part"))
    # the reports beside claims.json show the figures
    page = (report / "report.html").read_text(encoding="utf-8")
    assert f"toy--{model}--transcripts.png" in page
    assert "toy" in (report / "claims.md").read_text(encoding="utf-8")
    assert json.loads((report / "badges" / "toy.json").read_text())["message"] == "holds: random:tiny"


def test_a_failed_report_build_is_reported_and_fails_the_run(project, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("claims.json: rows[0].status: not a status")

    monkeypatch.setattr("whisper_claims.run_report.build_reports", broken)
    report = project.path / "report"
    result = run(project, "--whisper-models", "random:tiny", f"--claims-report={report}")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    assert f"wrote {report / 'claims.json'}; the reports beside it failed: ValueError: claims.json: rows[0].status" \
        in output(result)
    assert (report / "claims.json").is_file()


BLOCKING_CLAIM = """\
import os
import time
from pathlib import Path

import pytest
from whisper_claims.claims.verdict import Measurement


def width(model, *, scale):
    calls = Path(os.environ["TOY_CALLS"])
    calls.write_text(calls.read_text() + "x" if calls.exists() else "x")
    if os.environ.get("TOY_BLOCK") and len(calls.read_text()) > 1:  # the second model's claim waits
        Path(os.environ["TOY_BLOCK"]).write_text("started")
        for _ in range(1200):  # short sleeps: a SIGINT that lands just before one long sleep waits it out
            time.sleep(0.1)
    return Measurement({"width": model.dims.n_audio_state * scale}, {})


@pytest.mark.claim("toy")
def test_toy(whisper_model, claim):
    claim.check(whisper_model)
"""


def test_an_interrupted_run_keeps_the_earlier_report_and_its_own_rows(project, monkeypatch, tmp_path):
    write_claim(project, BLOCKING_CLAIM)
    report = project.path / "report"
    specs = "random:tiny:1,random:tiny:2"
    monkeypatch.setenv("TOY_CALLS", str(tmp_path / "first-calls"))
    run(project, "--whisper-models", specs, f"--claims-report={report}").assert_outcomes(passed=2)
    earlier = {path: path.read_bytes() for path in report.rglob("*") if path.is_file()}
    assert len(claims_json(report)["rows"]) == 2

    # a second run, interrupted (SIGINT, as Ctrl-C sends) while its second claim runs
    started = tmp_path / "started"
    env = {**os.environ, "TOY_CALLS": str(tmp_path / "second-calls"), "TOY_BLOCK": str(started)}
    child = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--claims-thresholds",
                              str(project.path / "thresholds.toml"), "--whisper-root", str(project.path / "empty-root"),
                              "--whisper-models", specs, f"--claims-report={report}"],
                             cwd=project.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             # Ctrl-C's default, whatever this worker inherited: an ignored SIGINT is inherited too
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not started.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert started.exists(), child.communicate()[0]
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=300)  # 11 s alone; once over 120 s in a full -n 2 run
    assert child.returncode == pytest.ExitCode.INTERRUPTED, out

    # the earlier report is untouched, byte for byte; the interrupted run's row is kept, and marked
    assert {path: path.read_bytes() for path in earlier} == earlier
    assert not (report / ".in-progress").exists()
    interrupted = claims_json(report / "interrupted")
    assert "interrupted" in interrupted["run"]["interrupted"]
    assert [(row["model"], row["status"]) for row in interrupted["rows"]] == [("random:tiny:1", "holds")]
    assert (report / "interrupted" / "report.html").is_file()
    assert "Interrupted" in (report / "interrupted" / "claims.md").read_text(encoding="utf-8")
    assert f"row(s) are in {report / 'interrupted' / 'claims.json'}, marked interrupted" in " ".join(out.split())
    assert "an earlier run's, was left as it was" in out


def test_a_run_stopped_by_x_is_marked_and_leaves_no_claims_json(project, tmp_path):
    write_claim(project, FIGURE_CLAIM)
    write_thresholds(project, threshold=1000)  # the claim fails, and -x stops the run there
    report = project.path / "report"
    result = run(project, "--whisper-models", "random:tiny,random:tiny:1", f"--claims-report={report}", "-x")
    assert not (report / "claims.json").exists()
    document = claims_json(report / "interrupted")
    assert "stopped early" in document["run"]["interrupted"]
    assert len(document["rows"]) == 1 and document["rows"][0]["status"] == "fails"
    # the figures it drew sit beside its own record, where its evidence says
    (row,) = document["rows"]
    assert all((report / "interrupted" / figure["path"]).is_file() for figure in row["evidence"]["figures"])
    assert "there is no earlier" in output(result)


def test_a_full_disk_while_drawing_keeps_the_verdict_and_names_the_file(project, monkeypatch):
    def full(data, path, title):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setitem(figures.DRAWERS, "transcripts", full)
    write_claim(project, FIGURE_CLAIM)
    report = project.path / "report"
    run(project, "--whisper-models", "random:tiny", f"--claims-report={report}").assert_outcomes(passed=1)
    (row,) = claims_json(report)["rows"]
    assert row["status"] == "holds"
    note = row["evidence"]["figures_note"]
    assert "No space left on device" in note and "figures/toy--random-tiny" in note


def test_a_report_that_cannot_be_written_replaces_nothing(project, monkeypatch):
    report = project.path / "report"
    run(project, "--whisper-models", "random:tiny", f"--claims-report={report}").assert_outcomes(passed=1)
    earlier = {path: path.read_bytes() for path in report.rglob("*") if path.is_file()}

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(publish.Path, "write_bytes", lambda self, data: full_disk())
    monkeypatch.setattr(publish.shutil, "copyfile", full_disk)
    monkeypatch.setattr("whisper_claims.report.claims_json.Path.write_text", lambda self, *a, **k: full_disk())
    result = run(project, "--whisper-models", "random:tiny:1", f"--claims-report={report}")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    assert {path: path.read_bytes() for path in earlier} == earlier
    assert not list(report.rglob("*.part"))
    text = output(result)
    assert "No space left on device" in text and "nothing there was replaced" in text


def test_no_figures_without_a_report(project):
    write_claim(project, FIGURE_CLAIM)
    run(project, "--whisper-models", "random:tiny").assert_outcomes(passed=1)
    assert not (project.path / "figures").exists()


def test_without_matplotlib_the_evidence_says_so(project, monkeypatch):
    monkeypatch.setattr("whisper_claims.claims.figures.matplotlib_available", lambda: False)
    write_claim(project, FIGURE_CLAIM)
    report = project.path / "report"
    run(project, "--whisper-models", "random:tiny", f"--claims-report={report}").assert_outcomes(passed=1)
    (row,) = claims_json(report)["rows"]
    assert "matplotlib is not installed" in row["evidence"]["figures_note"]
    assert not (report / "figures").exists()


LISTENING_CLAIM = """\
import numpy as np
import pytest
import torch
from whisper_claims.claims.verdict import Measurement
from whisper_claims.measure.mining import TopFrames


def width(model, *, scale):
    clips = [np.sin(np.arange(32000) / (5 + i)).astype(np.float32) * 0.5 for i in range(3)]
    top = TopFrames(torch.tensor([[3.0, 2.0], [1.0, 0.5]]), torch.tensor([[0, 2], [1, 1]]),
                    torch.tensor([[10, 50], [70, 20]]))
    return Measurement({"width": model.dims.n_audio_state * scale}, {},
                       artifacts={"listening": {"top": top, "clips": clips, "units": [0, 1], "n_examples": 2,
                                                "prefix": "b2_mlp1_", "what": "neuron"}})


@pytest.mark.claim("toy")
def test_toy(whisper_model, claim):
    claim.check(whisper_model)
"""


def test_listening_artifacts_become_audio_in_the_evidence_and_the_page(project):
    write_claim(project, LISTENING_CLAIM)
    report = project.path / "report"
    run(project, "--whisper-models", "random:tiny", f"--claims-report={report}").assert_outcomes(passed=1)
    (row,) = claims_json(report)["rows"]
    audio = row["evidence"]["audio"]
    assert len(audio) == 4 and audio[0]["caption"].startswith("neuron 0, example 1")
    for entry in audio:
        assert (report / entry["path"]).read_bytes().startswith(b"RIFF")
    assert "<audio" in (report / "report.html").read_text(encoding="utf-8")


# -- device, progress, weights' source ------------------------------------------------------


@pytest.mark.parametrize("device,expected", [("gpu", "not a torch device"), ("mps", "expected cpu, cuda or cuda:N")])
def test_a_bad_device_is_a_usage_error(project, device, expected):
    result = run(project, "--whisper-models", "random:tiny", f"--whisper-device={device}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--whisper-device={device}" in output(result) and expected in output(result)


def test_cuda_without_a_cuda_device_is_a_usage_error(project):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = run(project, "--whisper-models", "random:tiny", "--whisper-device=cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--whisper-device=cuda: this machine has no CUDA device" in output(result)


def test_claims_run_on_cuda(project):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    result = run(project, "--whisper-models", "random:tiny", "--whisper-device=cuda")
    assert result.ret == 0


PROGRESS_CLAIM = CLAIM_TEST.replace(
    "def width(model, *, scale):",
    "def width(model, *, scale):\n    from whisper_claims import progress\n"
    "    for i in range(3):\n        progress.report('toy stage', i + 1, 3)")


def test_long_work_shows_progress_past_the_capture(project):
    write_claim(project, PROGRESS_CLAIM)
    result = run(project, "--whisper-models", "random:tiny")
    assert result.ret == 0
    lines = [line for line in result.outlines if "toy stage" in line]
    # the first and the last report of a stage are shown; those between only every few seconds
    assert lines == ["[toy on random:tiny] toy stage 1/3 (33%, 0 s)", "[toy on random:tiny] toy stage 3/3 (100%, 0 s)"]


def test_progress_is_quiet_under_q(project):
    write_claim(project, PROGRESS_CLAIM)
    result = run(project, "--whisper-models", "random:tiny", "-q")
    assert result.ret == 0
    assert not [line for line in result.outlines if "toy stage" in line]


def test_the_summary_names_each_models_weights(project):
    result = run(project, "--whisper-models", "random:tiny,tiny")
    text = output(result)
    assert "  random:tiny: random weights of tiny's dimensions (parameters " in text
    assert "  tiny:" not in text  # unavailable: its reason is in the table's notes, once


def test_installing_the_package_gives_any_project_the_options(pytester):
    """The plugin is a pytest11 entry point: a project with no conftest naming it still gets its options."""
    result = pytester.runpytest_subprocess("--help")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*--whisper-models=SPECS*", "*--claims-cache=MODE*"])
