"""When each threshold was fixed (#30 item 4): the registry's ``fixed`` travels into every verdict's metrics
in claims.json, back from workers, through baselines (records written before it was kept count no change),
into claims.md and report.html (marked when after real measurement), and into README's generated list."""
import copy
from pathlib import Path

import pytest

from whisper_claims.claims.distribute import verdict_from_json
from whisper_claims.claims.registry import ClaimSpec, Fixed, MetricSpec, load_registry
from whisper_claims.claims.verdict import Measurement, judge
from whisper_claims.models.model_info import ModelInfo
from whisper_claims.report import findings
from whisper_claims.report.baseline import differences
from whisper_claims.report.claims_json import SCHEMA, SCHEMA_VERSION, check_document
from whisper_claims.report.docblocks import README_BLOCKS, fixed_after_real
from whisper_claims.report.htmlreport import Media, report_html
from whisper_claims.report.markdown import AFTER_REAL_MARK, claims_markdown
from whisper_claims.report.merge import merge

PROJECT = Path(__file__).resolve().parents[1]
AFTER = Fixed("13e4719", "2026-12-02", True, "the cosines it judges are centred since 13e4719")
BEFORE = Fixed("fdf9a4d", "2026-11-26", False)
SPEC = ClaimSpec(id="toy", statement="toys are fine", section="1) toys", marker="decoder", function="m:f",
                 key_metric="share", metrics={
                     "share": MetricSpec("share", "a share", ">=", 0.5, "the post", fixed=AFTER),
                     "rank": MetricSpec("rank", "a rank", "<=", 5, "the post's table", fixed=BEFORE)})
INFO = ModelInfo(spec="tiny.en", kind="official", size="tiny.en", path=None, sha256="0" * 64, dims={})


def toy_row(share=0.7, rank=3):
    return judge(SPEC, INFO, Measurement({"share": share, "rank": rank})).to_json()


def toy_document(rows):
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION,
            "run": {"models": [{"spec": "tiny.en", "kind": "official", "size": "tiny.en", "sha256": "0" * 64}]},
            "claims": {"toy": {"statement": "toys are fine", "section": "1) toys", "marker": "decoder",
                               "key_metric": "share", "post_figures": []}},
            "rows": rows}


def without_fixed(row):
    row = copy.deepcopy(row)
    for metric in row["metrics"].values():
        metric.pop("fixed", None)
    return row


def test_a_verdict_carries_when_each_threshold_was_fixed():
    verdict = judge(SPEC, INFO, Measurement({"share": 0.7, "rank": 3}))
    assert verdict.metric("share").fixed == AFTER and verdict.metric("rank").fixed == BEFORE
    row = verdict.to_json()
    assert row["metrics"]["share"]["fixed"] == {"commit": "13e4719", "date": "2026-12-02", "after_real": True,
                                                "note": "the cosines it judges are centred since 13e4719"}
    assert row["metrics"]["rank"]["fixed"]["after_real"] is False
    assert verdict_from_json(row) == verdict  # as workers send rows to the controller
    text = verdict.describe()
    assert "fixed after real measurement (commit 13e4719, 2026-12-02)" in text
    assert "fdf9a4d" not in text  # only bars fixed after are marked on the terminal


def test_records_without_fixed_still_read_and_compare_equal():
    row = toy_row()
    old = without_fixed(row)
    check_document(Path("old.json"), toy_document([old]))  # written before metrics said when they were fixed
    assert verdict_from_json(old).metric("share").fixed is None
    assert differences(toy_document([old]), toy_document([row])) == (1, [])
    assert differences(toy_document([row]), toy_document([old])) == (1, [])
    moved = copy.deepcopy(row)
    moved["metrics"]["share"]["fixed"]["commit"] = "b442285"
    n_compared, found = differences(toy_document([row]), toy_document([moved]))
    assert n_compared == 1 and found[0].shown == ('metrics.share.fixed.commit: "13e4719" → "b442285"',)
    moved_value = without_fixed(toy_row(share=0.8))
    assert differences(toy_document([row]), toy_document([moved_value]))[1][0].shown == (
        "metrics.share.value: 0.7 → 0.8",)


@pytest.mark.parametrize("fixed", [
    "13e4719", {"commit": "13e4719", "date": "2026-12-02"}, {"commit": "13e4719", "date": "2026-12-02",
                                                            "after_real": "yes"},
    {"commit": "13e4719", "date": "2026-12-02", "after_real": True, "when": "now"},
])
def test_a_malformed_fixed_in_a_record_is_named(fixed):
    row = toy_row()
    row["metrics"]["share"]["fixed"] = fixed
    with pytest.raises(ValueError, match=r"bad.json: rows\[0\].metrics.share.fixed is .*expected an object with "
                                         "strings commit, date, note and a boolean after_real"):
        check_document(Path("bad.json"), toy_document([row]))


def test_claims_md_marks_thresholds_fixed_after_real_measurement():
    text = claims_markdown(merge([(Path("claims.json"), toy_document([toy_row()]))]))
    assert f"**holds** `share=0.7 (>= 0.5)` {AFTER_REAL_MARK}" in text
    assert f"{AFTER_REAL_MARK} the threshold of the metric shown was fixed after a real checkpoint" in text
    assert (f"- threshold of `share` fixed after real measurement (commit 13e4719, 2026-12-02) {AFTER_REAL_MARK}: "
            "the cosines it judges are centred since 13e4719") in text
    assert "- threshold of `rank` fixed before real measurement (commit fdf9a4d, 2026-11-26)\n" in text
    old = claims_markdown(merge([(Path("claims.json"), toy_document([without_fixed(toy_row())]))]))
    assert AFTER_REAL_MARK not in old and "threshold of" not in old


def test_report_html_marks_thresholds_fixed_after_real_measurement():
    page = report_html(merge([(Path("claims.json"), toy_document([toy_row()]))]), Media())
    assert ('&gt;= 0.5<br><span class="fixed-after">fixed after real measurement (commit 13e4719, 2026-12-02)'
            '</span>') in page
    assert '&lt;= 5<br><span class="note">fixed before real measurement (commit fdf9a4d, 2026-11-26)</span>' in page
    assert "When fixed: the cosines it judges are centred since 13e4719" in page
    old = report_html(merge([(Path("claims.json"), toy_document([without_fixed(toy_row())]))]), Media())
    assert "real measurement" not in old


def test_readme_lists_exactly_the_thresholds_fixed_after_real_measurement():
    registry = load_registry()
    lines = "\n".join(fixed_after_real(registry))
    after = [(c, n) for c, spec in registry.items() for n, m in spec.metrics.items() if m.fixed.after_real]
    n_metrics = sum(len(spec.metrics) for spec in registry.values())
    assert lines.startswith(f"{len(after)} of the {n_metrics} thresholds were fixed after")
    for claim_id, name in after:
        assert f"`{claim_id}` `{name}` " in lines
    for claim_id, spec in registry.items():
        for name, metric in spec.metrics.items():
            if not metric.fixed.after_real:
                assert f"`{claim_id}` `{name}` " not in lines
    readme = (PROJECT / findings.README).read_text(encoding="utf-8")
    for name in README_BLOCKS:
        assert readme.count(findings.block_begin(name, findings.THRESHOLDS)) == 1


def test_a_changed_threshold_date_makes_the_docs_check_name_the_readme(tmp_path):
    for name in (*findings.RECORDS, findings.README, findings.FINDINGS, findings.THRESHOLDS):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes((PROJECT / name).read_bytes())
    from whisper_claims.report.docblocks import BLOCKS
    for name in BLOCKS:
        (tmp_path / name).write_bytes((PROJECT / name).read_bytes())
    assert findings.stale(tmp_path) == []
    thresholds = tmp_path / findings.THRESHOLDS
    text = thresholds.read_text(encoding="utf-8")
    assert text.count('commit = "d501990", date = "2026-12-02", after_real = true') >= 1
    thresholds.write_text(text.replace('commit = "d501990", date = "2026-12-02", after_real = true',
                                       'commit = "d501990", date = "2026-12-02", after_real = false'),
                          encoding="utf-8")
    assert findings.stale(tmp_path) == [tmp_path / findings.README]
