"""The findings page, the README's verdict table and the generated blocks of docs/methods.md and
docs/micro.md come from the committed records: the committed text is what the records give, and a record
that changes, or a number edited by hand inside a block, makes the check name the page."""
import json
import shutil
from pathlib import Path

import pytest

from whisper_claims.cli import main
from whisper_claims.report import findings
from whisper_claims.report.docblocks import BLOCKS
from whisper_claims.report.merge import Row

PROJECT = Path(__file__).resolve().parents[1]


def copy_project(tmp_path: Path) -> Path:
    for name in (*findings.RECORDS, findings.README, findings.FINDINGS, findings.THRESHOLDS, *BLOCKS):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT / name, tmp_path / name)
    return tmp_path


def test_the_committed_pages_are_what_the_records_give():
    assert findings.stale(PROJECT) == [], "run `whisper-claims docs` and commit README.md and docs/findings.md"


def test_a_changed_record_makes_the_check_name_both_pages(tmp_path, capsys):
    project = copy_project(tmp_path)
    record = project / findings.RECORDS[0]
    document = json.loads(record.read_text(encoding="utf-8"))
    row = next(r for r in document["rows"] if r["model"] == "tiny.en" and r["status"] == "holds")
    row["status"] = "fails"
    record.write_text(json.dumps(document), encoding="utf-8")
    assert main(["docs", "--check", f"--project={project}"]) == 1
    err = capsys.readouterr().err
    assert "README.md: differs from what the records give" in err and "findings.md: differs" in err
    assert main(["docs", f"--project={project}"]) == 0
    assert findings.stale(project) == []
    assert main(["docs", "--check", f"--project={project}"]) == 0


def test_the_readme_needs_its_markers(tmp_path):
    project = copy_project(tmp_path)
    readme = project / findings.README
    readme.write_text(readme.read_text(encoding="utf-8").replace(findings.END, ""), encoding="utf-8")
    with pytest.raises(ValueError, match="README.md: expected one line .* around the generated verdict table"):
        findings.pages(project)
    assert main(["docs", f"--project={project}"]) == 2


def row(status, metrics, reason=""):
    return Row({"claim": "c", "model": "m", "status": status, "reason": reason, "metrics": metrics,
                "evidence": {}}, 0)


def metric(value, passed, comparator=">=", threshold=0.5):
    return {"value": value, "comparator": comparator, "threshold": threshold, "passed": passed, "provenance": ""}


def test_a_cell_shows_the_key_metric_or_names_the_one_that_failed():
    key = "share"
    assert findings.verdict_cell(row("holds", {key: metric(0.74, True)}), key) == "**holds** 0.74 (≥ 0.5)"
    failed = row("fails", {key: metric(0.9, True), "margin": metric(-0.1, False, ">", 0)})
    assert findings.verdict_cell(failed, key) == "**fails** `margin` -0.1 (> 0)"
    assert findings.verdict_cell(row("error", {}, "MethodInvalid: dense"), key) == "**no verdict**"
    assert findings.verdict_cell(None, key) == "not run"
    one_clip = Row({**row("holds", {key: metric(0.74, True)}).data, "evidence": {"clip": "Hot_ones.wav"}}, 0)
    assert findings.verdict_cell(one_clip, key) == "**holds** 0.74 (≥ 0.5; 1 clip)"
    assert [findings.number(v) for v in (5.0, 8.58e-08, 0.0799999, 2)] == ["5", "8.58e-08", "0.08", "2"]


def test_a_metric_cell_is_judged_by_its_interval_when_it_has_one():
    """A point value past the bar whose interval straddles it is not 'met': the interval decides."""
    straddling = {**metric(0.04, True, ">", 0), "interval": {"low": -0.062, "high": 0.121, "passed": None}}
    above = {**metric(0.24, True, ">", 0), "interval": {"low": 0.119, "high": 0.382, "passed": True}}
    below = {**metric(0.12, False), "interval": {"low": 0.056, "high": 0.238, "passed": False}}
    cells = [findings.metric_cell(row("fails", {"m": m}), "m") for m in (straddling, above, below)]
    assert cells == ["0.04 [-0.062, 0.121] *straddles*", "0.24 [0.119, 0.382] met", "0.12 [0.056, 0.238] **not met**"]
    assert findings.metric_cell(row("holds", {"m": metric(0.74, True)}), "m") == "0.74 met"  # no interval


def test_every_generated_block_of_the_docs_is_what_the_records_give():
    for name, blocks in BLOCKS.items():
        current = (PROJECT / name).read_text(encoding="utf-8")
        for block in blocks:
            assert current.count(findings.block_begin(block)) == 1, f"{name} lacks the block {block}"
    assert findings.stale(PROJECT) == [], "run `whisper-claims docs` and commit docs/methods.md and docs/micro.md"


def test_a_number_edited_by_hand_in_a_generated_block_is_reported(tmp_path, capsys):
    project = copy_project(tmp_path)
    methods = project / "docs/methods.md"
    current = methods.read_text(encoding="utf-8")
    block = current.split(findings.block_begin("word-chops"), 1)[1].split(findings.block_end("word-chops"), 1)[0]
    edited = block.replace("137 of 225", "138 of 225", 1)
    assert edited != block
    methods.write_text(current.replace(block, edited), encoding="utf-8")
    assert findings.stale(project) == [methods]
    assert main(["docs", "--check", f"--project={project}"]) == 1
    assert "methods.md: differs from what the records give" in capsys.readouterr().err
    assert main(["docs", f"--project={project}"]) == 0
    assert methods.read_text(encoding="utf-8") == current and findings.stale(project) == []


def test_prose_outside_the_blocks_is_left_as_written(tmp_path):
    project = copy_project(tmp_path)
    micro = project / "docs/micro.md"
    micro.write_text(micro.read_text(encoding="utf-8") + "\nA hand-written line.\n", encoding="utf-8")
    assert findings.stale(project) == []


def test_a_block_needs_both_markers_and_a_known_name(tmp_path):
    project = copy_project(tmp_path)
    micro = project / "docs/micro.md"
    current = micro.read_text(encoding="utf-8")
    micro.write_text(current.replace(findings.block_end("micro-findings"), ""), encoding="utf-8")
    with pytest.raises(ValueError, match="micro.md: expected one line .* around the generated block micro-findings"):
        findings.pages(project)
    micro.write_text(current + "\n" + findings.block_begin("no-such-block") + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="micro.md: generated block\\(s\\) no-such-block unknown"):
        findings.pages(project)


def test_the_recorded_sae_frontier_is_a_table_under_the_models_line():
    from whisper_claims.measure import sae_frontier
    from whisper_claims.report.docblocks import frontier_lines

    bars = {"max_l0": 64, "min_explained_variance": 0.8, "min_wer_recovered": 0.9, "provenance": "issue #31"}
    row = {"model": "tiny.en", "layer": "encoder.blocks.3", "recipe": "topk", "width": 4, "k": 64, "mean_l0": 64.0,
           "explained_variance": [0.866], "wer_recovered": {"clean": 0.578, "clean_interval": [0.43, 0.73]}}
    post = {**row, "recipe": "post", "width": None, "mean_l0": 23.1, "explained_variance": [0.683],
            "wer_recovered": None}
    lines = frontier_lines(sae_frontier.summary([row, post], bars))
    assert lines[0] == "" and lines[-1] == "" and all(line.startswith("  ") for line in lines[1:-1] if line)
    assert "closest: topk 4× k64 on encoder.blocks.3 (L0 64.0, EV 0.866, WER recovered 0.578 \\[0.43, 0.73\\])" in lines[1]
    assert lines[-3] == "  | `encoder.blocks.3` | topk 4× k64 | 64 | 0.866 | 0.578 [0.43, 0.73] | — | no |"
    assert lines[-2] == "  | `encoder.blocks.3` | post | 23.1 | 0.683 | — | — | no |"
    assert frontier_lines(None) == []
