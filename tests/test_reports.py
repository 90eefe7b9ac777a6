"""Reports built from claims.json: claims.md, shields.io badges, report.html, merging, the CLI, and the
page as a real headless browser renders it."""
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import wave
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from whisper_claims.cli import main
from whisper_claims.files import safe_name
from whisper_claims.report import htmlreport, markdown, publish
from whisper_claims.report.badges import COLORS, claim_badge, overall_badge, status_color
from whisper_claims.report.claims_json import SCHEMA, SCHEMA_VERSION, summary_table
from whisper_claims.report.htmlreport import word_diff
from whisper_claims.report.merge import merge
from whisper_claims.report.publish import build_reports
from whisper_claims.stimuli.assets import AssetLocations, load_manifest

MAGENTA = (255, 0, 255)
RANDOM = "random:tiny:3"
HOSTILE = '<script>alert("x")</script> & <b>'


# -- hand-made documents ------------------------------------------------------------------------


def metric(value, comparator, threshold, passed, provenance="CLAIMS.md, the post's figure"):
    return {"value": value, "comparator": comparator, "threshold": threshold, "passed": passed,
            "provenance": provenance}


def row(claim, model, status, reason="", metrics=None, evidence=None):
    return {"claim": claim, "model": model, "status": status, "reason": reason, "metrics": metrics or {},
            "evidence": evidence or {}}


def model_info(spec, sha="a"):
    return {"spec": spec, "kind": "random" if spec.startswith("random:") else "official", "size": "tiny",
            "path": None, "sha256": sha * 64, "dims": {"n_mels": 80}}


def run(specs, commit="c0ffee", threads=2):
    return {
        "python": "3.11.7", "platform": "Linux-x86_64", "cpu": "Test CPU; torch kernels AVX2",
        "torch_threads": threads, "git_commit": commit,
        "packages": {"torch": "2.13.0", "numpy": "2.4.6", "jiwer": None},
        "thresholds": {"path": "claims/thresholds.toml", "sha256": "7" * 64},
        "models": [model_info(s) if s != "base"
                   else {"spec": "base", "unavailable": "no checkpoint base.pt | downloads off"} for s in specs],
    }


CLAIMS = {
    "dec-embed-sound": {"statement": "Token embeddings cluster by sound: ' rug' sits next to lug & mug",
                        "section": "3) The decoder alone acts as a weak LM", "marker": "decoder",
                        "key_metric": "rhyme_p_value",
                        "post_figures": ["blog/decoder/embedding_space/rug_embed.png", "blog/post/absent.png"]},
    "enc-chop-start": {"statement": "Replacing encoder frames 0-50 removes \"hot ones\"",
                       "section": "2) Encoder: attention is local", "marker": "encoder",
                       "key_metric": "recall_removed", "post_figures": [],
                       "post_transcripts": {"full": "hot ones. The show", "chop 0-50": "The show"}},
    "enc-never-run": {"statement": "A claim no run has measured", "section": "4) Features",
                      "marker": "encoder", "key_metric": "score", "post_figures": []},
}


def rhyme(value, passed):
    return {"rhyme_p_value": metric(value, "<", 0.01, passed),
            "rug_neighbours_top10": metric(None, ">=", 2, None, "tiny only")}


def write_png(path, color, size=(240, 120)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def write_wav(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(3200))


def make_run(folder, rows=None, specs=("tiny", "base", RANDOM), commit="c0ffee"):
    """A claims.json in ``folder`` with a figure and a clip beside it; every status, several models."""
    write_png(folder / "figures" / "chop.png", MAGENTA)
    write_wav(folder / "audio" / "chopped.wav")
    if rows is None:
        rows = [
            row("dec-embed-sound", "base", "skipped", "model 'base': no checkpoint base.pt in /root/.cache/whisper"),
            row("dec-embed-sound", RANDOM, "fails", "not met: rhyme_p_value | p > threshold", rhyme(0.304, False)),
            row("dec-embed-sound", "tiny", "holds", "", rhyme(0.00123, True), {
                "figures": [{"path": "figures/chop.png", "caption": "chopped <start>"},
                            {"path": "figures/never-written.png", "caption": "a figure that was not saved"}],
                "audio": [{"path": "audio/chopped.wav", "caption": "frames 0-50 replaced"}],
                "transcripts": {"full": "Hot ones is the show with hot questions",
                                "chopped": f"is the show with {HOSTILE} questions"},
            }),
            row("enc-chop-start", RANDOM, "holds", "", {"recall_removed": metric(1.0, ">=", 0.5, True)},
                {"transcripts": {"full": "hot ones. The show", "chop 0-50": "hot <b> show",
                                 "control chop 1200-1250": "hot ones. The show"}}),
            row("enc-chop-start", "tiny", "error", "RuntimeError: shapes <1500> & <3000> differ"),
        ]
    document = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "run": run(specs, commit),
                "claims": copy.deepcopy(CLAIMS), "rows": rows}
    path = folder / "claims.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path, document


def tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class _Refs(HTMLParser):
    """Every src/href of a page, the ids, and whether it has a script or an external stylesheet."""

    def __init__(self):
        super().__init__()
        self.src, self.href, self.ids, self.scripts, self.links = [], [], set(), 0, 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.scripts += tag == "script"
        self.links += tag == "link"
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if "src" in attrs:
            self.src.append(attrs["src"])
        if "href" in attrs:
            self.href.append(attrs["href"])


def refs(page):
    parser = _Refs()
    parser.feed(page)
    return parser


@pytest.fixture
def built(tmp_path):
    path, document = make_run(tmp_path / "reports" / "tiny")
    out = tmp_path / "site"
    written = build_reports([(path, document)], out)
    return out, written, document


# -- the builder --------------------------------------------------------------------------------


def test_build_writes_every_output_and_nothing_partial(built):
    out, written, _ = built
    random_name = safe_name(RANDOM)
    expected = {"claims.md", "report.html"} | {
        f"badges/{name}.{ext}" for ext in ("json", "svg")
        for name in ("dec-embed-sound", "enc-chop-start", "enc-never-run", "overall-tiny", "overall-base",
                     f"overall-{random_name}")}
    files = set(tree(out))
    assert expected <= files
    copied = files - expected
    assert {Path(f).name for f in copied} == {"chop.png", "chopped.wav"}
    assert all(f.startswith("files/") for f in copied)
    assert sorted(written) == sorted(out / f for f in files)
    assert written[-1] == out / "report.html"  # written last
    assert not [p for p in out.rglob("*") if p.name.startswith(".") or p.name.endswith(".part")]


def test_shields_endpoint_json_has_exactly_the_schema_keys(built):
    out, _, _ = built
    documents = sorted((out / "badges").glob("*.json"))
    assert len(documents) == 6
    for path in documents:
        badge = json.loads(path.read_text(encoding="utf-8"))
        assert list(badge) == sorted(badge)  # keys sorted, for byte-identical rebuilds
        assert set(badge) == {"schemaVersion", "label", "message", "color"}, path
        assert badge["schemaVersion"] == 1 and type(badge["schemaVersion"]) is int
        assert all(isinstance(badge[k], str) and badge[k] for k in ("label", "message", "color"))
        assert badge["color"] in COLORS


def test_claim_badges_list_models_by_status(built):
    out, _, _ = built
    badge = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in (out / "badges").glob("*.json")}
    assert badge["dec-embed-sound"] == {"schemaVersion": 1, "label": "dec-embed-sound", "color": "yellow",
                                        "message": f"holds: tiny · fails: {RANDOM} · skipped: base"}
    # one holds, one error: as many hold as do not, so yellow
    assert badge["enc-chop-start"]["message"] == f"holds: {RANDOM} · error: tiny"
    assert badge["enc-chop-start"]["color"] == "yellow"
    assert badge["enc-never-run"]["message"] == "untested"
    assert badge["enc-never-run"]["color"] == "lightgrey"


def test_claim_badge_when_every_row_is_skipped_or_all_agree(tmp_path):
    rows = [row("dec-embed-sound", "tiny", "skipped", "no weights"), row("dec-embed-sound", "base", "skipped", "x"),
            row("enc-chop-start", "tiny", "holds"), row("enc-chop-start", "base", "holds"),
            row("enc-never-run", "tiny", "fails"), row("enc-never-run", RANDOM, "fails")]
    report = merge([make_run(tmp_path, rows)])
    skipped = claim_badge(report, "dec-embed-sound")
    assert (skipped.message, skipped.color) == ("untested (skipped: tiny, base)", "lightgrey")
    holds = claim_badge(report, "enc-chop-start")
    assert (holds.message, holds.color) == ("holds: tiny, base", "brightgreen")
    fails = claim_badge(report, "enc-never-run")
    assert (fails.message, fails.color) == (f"fails: tiny, {RANDOM}", "red")


@pytest.mark.parametrize("counts, complete, color", [
    ((0, 0, 0), True, "lightgrey"), ((0, 0, 2), True, "lightgrey"), ((3, 0, 0), True, "brightgreen"),
    ((3, 0, 0), False, "green"), ((0, 2, 1), True, "red"), ((2, 1, 1), True, "yellow"), ((1, 2, 0), True, "orange"),
])
def test_status_color(counts, complete, color):
    assert status_color(*counts, complete=complete) == color


def test_svg_badges_parse_as_xml_and_say_the_message(built):
    out, _, _ = built
    svgs = sorted((out / "badges").glob("*.svg"))
    assert len(svgs) == 6
    masks = set()
    for path in svgs:
        root = ET.parse(path).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
        message = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))["message"]
        assert message in texts
        masks |= {m.get("id") for m in root.iter("{http://www.w3.org/2000/svg}mask")}
    assert len(masks) == 6  # distinct mask ids: several badges can share one page


def test_without_anybadge_there_are_json_badges_and_no_svg(tmp_path, monkeypatch):
    monkeypatch.setattr(publish, "anybadge_available", lambda: False)
    path, document = make_run(tmp_path / "run")
    out = tmp_path / "site"
    build_reports([(path, document)], out)
    assert len(list((out / "badges").glob("*.json"))) == 6
    assert not list((out / "badges").glob("*.svg"))
    assert not [src for src in refs((out / "report.html").read_text(encoding="utf-8")).src if "badges/" in src]


def test_overall_badges_count_claims_that_hold(built):
    out, _, document = built
    badge = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in (out / "badges").glob("overall-*.json")}
    n = len(document["claims"])
    assert n == 3
    assert badge["overall-tiny"] == {"schemaVersion": 1, "label": "claims on tiny", "color": "yellow",
                                     "message": f"1/{n} claims hold"}  # 1 holds, 1 error
    assert badge[f"overall-{safe_name(RANDOM)}"]["message"] == f"1/{n} claims hold"
    assert badge[f"overall-{safe_name(RANDOM)}"]["color"] == "yellow"  # 1 holds, 1 fails
    assert badge["overall-base"] == {"schemaVersion": 1, "label": "claims on base", "color": "lightgrey",
                                     "message": f"0/{n} claims hold"}


def test_overall_badge_of_a_model_on_which_every_claim_holds(tmp_path):
    rows = [row(claim, "tiny", "holds") for claim in CLAIMS]
    report = merge([make_run(tmp_path, rows, specs=("tiny",))])
    badge = overall_badge(report, "tiny")
    assert (badge.message, badge.color) == ("3/3 claims hold", "brightgreen")


@pytest.mark.parametrize("spec", ["tiny", "large-v3", "tiny.en", "dec-embed-sound"])
def test_safe_name_keeps_plain_names(spec):
    assert safe_name(spec) == spec


def test_safe_name_is_a_distinct_plain_file_name_for_any_spec():
    specs = ["random:tiny:3", "random-tiny-3", "/models/My Checkpoint.pt", "../../etc/passwd", "Tiny", "tiny",
             "C:\\weights\\x.pt", "é:ü", ":::", "a" * 300, ".hidden"]
    names = [safe_name(s) for s in specs]
    assert len(set(names)) == len(names)
    for name in names:
        assert re.fullmatch(r"[a-z0-9][a-z0-9._-]*", name), name
        assert len(name) <= 80 and ".." not in name
    assert names == [safe_name(s) for s in specs]  # deterministic
    assert safe_name("random:tiny:3").startswith("random-tiny-3-")


def test_markdown_matrix_reasons_and_run_metadata(built):
    out, _, _ = built
    md = (out / "claims.md").read_text(encoding="utf-8")
    lines = md.splitlines()
    header = f"| claim | `tiny` | `base` | `{RANDOM}` |"
    assert header in lines
    cells = lines[lines.index(header) + 2]
    assert cells == ("| `dec-embed-sound` | **holds** `rhyme_p_value=0.00123 (< 0.01)` | **skipped** | "
                     "**fails** `rhyme_p_value=0.304 (< 0.01)` |")
    assert "| `enc-never-run` | not run | not run | not run |" in lines
    assert "| claims that hold | 1/3 | 0/3 | 1/3 |" in lines
    # table rows have the cell separators of their header: a '|' in a reason is escaped
    assert "| `base` | unavailable |  | no checkpoint base.pt \\| downloads off |  |" in lines
    for line in lines:
        if line.startswith("|"):
            assert len(re.findall(r"(?<!\\)\|", line)) in (6, 5, 3), line
    assert f"- `dec-embed-sound` on `{RANDOM}`: **fails**: not met: rhyme\\_p\\_value \\| p \\> threshold" in lines
    assert "- `enc-chop-start` on `tiny`: **error**: RuntimeError: shapes \\<1500\\> \\& \\<3000\\> differ" in lines
    assert "| git commit | `c0ffee` |" in lines
    assert "| torch threads | 2 |" in lines
    assert "| cpu | Test CPU; torch kernels AVX2 |" in lines
    assert f"| thresholds sha256 | `{'7' * 64}` |" in lines
    assert (f"| `tiny` | official | tiny | `{'a' * 64}` | OpenAI's checkpoint (sha256 aaaaaaaaaaaa…, as in "
            f"whisper's download table) |") in lines
    assert "| `jiwer` | not installed |" in lines and "| `torch` | 2.13.0 |" in lines
    # no markup: outside code spans every '<' is escaped
    assert not re.search(r"(?<!\\)<", re.sub(r"`[^`]*`", "", md))


def test_html_page_matrix_verdicts_and_escaping(built):
    out, _, _ = built
    page = (out / "report.html").read_text(encoding="utf-8")
    found = refs(page)
    assert found.scripts == 0 and found.links == 0
    assert {"matrix", "claims-matrix", "runs", "claim-dec-embed-sound", "claim-enc-never-run",
            "claim-dec-embed-sound--tiny", f"claim-dec-embed-sound--{safe_name(RANDOM)}"} <= found.ids
    assert '<td class="st-holds"><a href="#claim-dec-embed-sound--tiny"><span class="status">holds</span>' \
           '<br><span class="metric">rhyme_p_value=0.00123 (&lt; 0.01)</span></a></td>' in page
    assert "rhyme_p_value" in page and "CLAIMS.md, the post&#x27;s figure" in page
    assert "RuntimeError: shapes &lt;1500&gt; &amp; &lt;3000&gt; differ" in page
    # a hostile transcript is text, never markup, in the diff and in the raw evidence
    assert "<script" not in page and "<b>" not in page
    assert ('<th>chopped</th><td><del>Hot ones</del> is the show with <del>hot</del> <ins>&lt;script&gt;'
            'alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;</ins> questions</td>') in page
    assert "figures/never-written.png: file not found" in page
    assert '<audio controls preload="metadata" src="files/' in page
    assert ("Figure <code>blog/decoder/embedding_space/rug_embed.png</code> is not shown: no asset folder was given "
            "(whisper-claims report --assets DIR, or $WHISPER_CLAIMS_ASSETS). <a href=\"https://er537.github.io/blog/"
            "assets/images/whisper_interpretability/decoder/embedding_space/rug_embed.png\">The figure in the post.</a>"
            ) in page
    assert "Figure <code>blog/post/absent.png</code> is not shown: no asset folder was given" in page
    assert "<details><summary>Raw evidence</summary>" in page
    # the post's transcripts beside each model's, each against its own column's full transcript
    assert "<h3>Transcripts: the post's beside each model's</h3>" in page
    assert (f'<th></th><th><code>the post</code></th><th><code>{RANDOM}</code></th>' in page
            and "<tr><th>chop 0-50</th><td><del>hot ones.</del> The show</td>"
                "<td>hot <del>ones. The</del> <ins>&lt;b&gt;</ins> show</td></tr>" in page)
    assert "<tr><th>control chop 1200-1250</th><td>—</td><td>hot ones. The show</td></tr>" in page
    assert "c0ffee" in page and "7" * 64 in page and "a" * 64 in page


def test_html_page_loads_only_files_beside_it(built):
    out, _, _ = built
    page = (out / "report.html").read_text(encoding="utf-8")
    found = refs(page)
    assert found.src, "the page shows no file at all"
    for src in found.src:
        assert not re.match(r"[a-z][a-z0-9+.-]*:|//", src), src  # no scheme, no network
        assert (out / src).is_file(), src
    for href in found.href:  # links to follow: in the page, beside it, or the post itself
        assert href.startswith(("#", "https://er537.github.io/")) or (out / href).is_file(), href
    assert "default-src 'none'" in page  # and the browser is told to load nothing else


def test_word_diff():
    assert word_diff("a b c d", "a x c d e") == "a <del>b</del> <ins>x</ins> c d <ins>e</ins>"
    assert word_diff("same words", "same  words") == "same words"
    assert word_diff("", "<i>") == "<ins>&lt;i&gt;</ins>"


def test_post_figures_are_shown_from_the_asset_folder(tmp_path, monkeypatch):
    assets = tmp_path / "assets"
    figure = assets / "blog" / "decoder" / "embedding_space" / "rug_embed.png"
    write_png(figure, (0, 128, 255))
    write_png(assets / "blog" / "post" / "absent.png", (0, 0, 0))  # present, but its checksum is wrong
    manifest = tmp_path / "assets.tsv"
    manifest.write_text(
        "name\turl\tsha256\tbytes\tlicence\tpurpose\n"
        f"blog/decoder/embedding_space/rug_embed.png\t\t{hashlib.sha256(figure.read_bytes()).hexdigest()}"
        f"\t{figure.stat().st_size}\tnone stated\tthe post's figure\n"
        f"blog/post/absent.png\t\t{'0' * 64}\t10\tnone stated\ta figure\n", encoding="utf-8")
    monkeypatch.setattr(publish, "load_manifest", lambda: load_manifest(manifest))
    path, document = make_run(tmp_path / "run")
    out = tmp_path / "out"
    build_reports([(path, document)], out,
                  asset_locations=AssetLocations(folder=assets, cache=tmp_path / "cache", allow_download=False))
    assert (out / "assets" / figure.relative_to(assets)).read_bytes() == figure.read_bytes()
    assert not (out / "assets" / "blog" / "post" / "absent.png").exists()
    page = (out / "report.html").read_text(encoding="utf-8")
    assert ('<img src="assets/blog/decoder/embedding_space/rug_embed.png" '
            'alt="blog/decoder/embedding_space/rug_embed.png"') in page
    assert "licence: none stated" in page
    assert "Figure <code>blog/post/absent.png</code> is not shown:" in page and "sha256 is" in page
    assert 'class="post"' not in page  # no figure kind of this run has a post's figure to sit beside


def test_the_posts_figure_sits_beside_each_models_figure_of_the_same_kind(tmp_path, monkeypatch):
    """As the post's relevance map beside each model's (figure kind relevance_map); here the run's
    figure figures/chop.png (kind "chop") gets the claim's rug figure beside it, for tiny's verdict only."""
    assets = tmp_path / "assets"
    figure = assets / "blog" / "decoder" / "embedding_space" / "rug_embed.png"
    write_png(figure, (0, 128, 255))
    manifest = tmp_path / "assets.tsv"
    manifest.write_text(
        "name\turl\tsha256\tbytes\tlicence\tpurpose\n"
        f"blog/decoder/embedding_space/rug_embed.png\t\t{hashlib.sha256(figure.read_bytes()).hexdigest()}"
        f"\t{figure.stat().st_size}\tnone stated\tthe post's figure\n", encoding="utf-8")
    monkeypatch.setattr(publish, "load_manifest", lambda: load_manifest(manifest))
    monkeypatch.setattr(htmlreport, "POST_FIGURE_BESIDE",
                        {"chop": ("blog/decoder/embedding_space/rug_embed.png", "the post's neighbours")})
    path, document = make_run(tmp_path / "run")
    out = tmp_path / "out"
    build_reports([(path, document)], out,
                  asset_locations=AssetLocations(folder=assets, cache=tmp_path / "cache", allow_download=False))
    page = (out / "report.html").read_text(encoding="utf-8")
    model_figure = page.index('chop.png"><img')
    beside = page.index('<figure class="post">', model_figure)
    assert beside < page.index("</div>", model_figure)  # in the same gallery, right after it
    assert page.count('<figure class="post">') == 1
    assert "Beside it, the post&#x27;s neighbours" in page


def test_output_is_byte_identical_across_builds(tmp_path):
    path, document = make_run(tmp_path / "run")
    first, second = tmp_path / "one", tmp_path / "two"
    build_reports([(path, document)], first)
    build_reports([(path, json.loads(path.read_text(encoding="utf-8")))], second)
    assert tree(first) == tree(second)
    before = tree(first)
    build_reports([(path, document)], first)  # again, into the same folder
    assert tree(first) == before


def test_merging_two_runs_later_row_wins_and_both_runs_are_kept(tmp_path):
    first = make_run(tmp_path / "tiny", [row("dec-embed-sound", "tiny", "holds", "", rhyme(0.001, True))],
                     specs=("tiny",), commit="1111111")
    second = make_run(tmp_path / "base", [row("dec-embed-sound", "tiny", "fails", "not met", rhyme(0.5, False)),
                                          row("dec-embed-sound", "large-v3", "holds", "", rhyme(0.002, True))],
                      specs=("large-v3", "tiny"), commit="2222222")
    out = tmp_path / "site"
    build_reports([first, second], out)
    md = (out / "claims.md").read_text(encoding="utf-8")
    assert "| claim | `tiny` | `large-v3` |" in md
    assert ("| `dec-embed-sound` | **fails** `rhyme_p_value=0.5 (< 0.01)` | **holds** `rhyme_p_value=0.002 (< 0.01)` |"
            in md)
    assert "`1111111`" in md and "`2222222`" in md
    assert f"### Run 1: `{first[0]}`" in md and f"### Run 2: `{second[0]}`" in md
    badge = json.loads((out / "badges" / "dec-embed-sound.json").read_text(encoding="utf-8"))
    assert badge["message"] == "holds: large-v3 · fails: tiny"

    build_reports([second, first], out)  # the other order: the first run's row wins
    md = (out / "claims.md").read_text(encoding="utf-8")
    assert "| `dec-embed-sound` | **holds** `rhyme_p_value=0.001 (< 0.01)` |" in md.replace(
        " **holds** `rhyme_p_value=0.002 (< 0.01)` |", "")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "1111111" in page and "2222222" in page


def test_evidence_of_two_runs_with_the_same_relative_path_stays_apart(tmp_path):
    def figure_row(model):
        return row("dec-embed-sound", model, "holds", "", rhyme(0.001, True),
                   {"figures": [{"path": "figures/chop.png", "caption": model}]})

    first = make_run(tmp_path / "a", [figure_row("tiny")], specs=("tiny",))
    second = make_run(tmp_path / "b", [figure_row("base")], specs=("base",))
    write_png(tmp_path / "b" / "figures" / "chop.png", (0, 200, 0))
    out = tmp_path / "site"
    build_reports([first, second], out)
    copies = sorted((out / "files").rglob("chop.png"))
    assert len(copies) == 2 and copies[0].read_bytes() != copies[1].read_bytes()


def test_input_claims_json_in_the_output_folder_is_left_alone(tmp_path):
    folder = tmp_path / "reports" / "tiny"
    path, document = make_run(folder)
    before = path.read_bytes()
    written = build_reports([(path, document)], folder)
    assert path.read_bytes() == before
    assert path not in written
    # the figures beside claims.json are linked where they are, not copied
    assert not (folder / "files").exists()
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert '<img src="figures/chop.png"' in page and 'src="audio/chopped.wav"' in page


def test_an_input_is_never_overwritten_whatever_its_name(tmp_path):
    path, document = make_run(tmp_path / "run")
    out = tmp_path / "site"
    out.mkdir()
    odd = out / "report.html"  # a claims.json saved under the name of an output
    shutil.copyfile(path, odd)
    with pytest.raises(ValueError, match="is one of the claims.json files being read"):
        build_reports([(odd, document)], out)
    assert odd.read_bytes() == path.read_bytes()
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]


def test_markdown_escaping():
    assert markdown.text("a | b\n<c> *d* [e](f) & `g`") == "a \\| b \\<c\\> \\*d\\* \\[e\\](f) \\& \\`g\\`"
    assert markdown.text("two\n  lines") == "two lines"
    assert markdown.code("a|b", cell=True) == "`a\\|b`" and markdown.code("a|b") == "`a|b`"
    assert markdown.code("x ``y`` z") == "```x ``y`` z```"
    assert markdown.code("`edge`") == "`` `edge` ``"


def test_an_evidence_path_out_of_its_folder_is_refused(tmp_path):
    secret = tmp_path / "secret.png"
    write_png(secret, (1, 2, 3))
    evidence = {"figures": [{"path": "../secret.png", "caption": "climbs out"},
                            {"path": str(secret), "caption": "absolute"},
                            {"path": "link.png", "caption": "a symlink out"},
                            {"caption": "no path"}]}
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "link.png").symlink_to(secret)
    path, document = make_run(folder, [row("dec-embed-sound", "tiny", "holds", "", rhyme(0.001, True), evidence)])
    out = tmp_path / "site"
    build_reports([(path, document)], out)
    assert not (out / "files").exists()
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("refused") == 3
    assert "../secret.png: refused, evidence paths must be relative to the folder of claims.json" in page
    assert "link.png: refused, it links to" in page
    assert "evidence.figures[3] is" in page


@pytest.mark.parametrize("change, message", [
    (lambda d: d["rows"][0].update(status="pass"), "rows[0].status is \"pass\", expected one of holds"),
    (lambda d: d["rows"][1].update(claim="nope"), "rows[1].claim is \"nope\", expected a claim of the"),
    (lambda d: d["rows"][2]["metrics"]["rhyme_p_value"].update(threshold="0.01"), "threshold is \"0.01\""),
    (lambda d: d.pop("run"), "run is null, expected an object of run metadata"),
    (lambda d: d["claims"]["enc-never-run"].pop("key_metric"), "claims.enc-never-run.key_metric is null"),
])
def test_a_malformed_document_is_refused_naming_the_file_and_nothing_is_written(tmp_path, change, message):
    path, document = make_run(tmp_path / "run")
    change(document)
    out = tmp_path / "site"
    with pytest.raises(ValueError) as error:
        build_reports([(path, document)], out)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)
    assert not out.exists()


def test_no_documents_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="at least one"):
        build_reports([], tmp_path / "site")


def test_a_failed_write_leaves_no_partial_file(tmp_path):
    path, document = make_run(tmp_path / "run")
    out = tmp_path / "site"
    out.mkdir()
    (out / "badges").write_text("a file where the badges folder goes")
    with pytest.raises(OSError):
        build_reports([(path, document)], out)
    assert sorted(p.name for p in out.rglob("*")) == ["badges"]  # all or nothing: nothing was written


def test_an_interrupted_copy_leaves_no_partial_file(tmp_path, monkeypatch):
    path, document = make_run(tmp_path / "run")
    out = tmp_path / "site"

    def half_then_fail(source, dest):
        Path(dest).write_bytes(Path(source).read_bytes()[:10])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(publish.shutil, "copyfile", half_then_fail)
    with pytest.raises(OSError, match="No space left") as error:
        build_reports([(path, document)], out)
    assert error.value.filename.startswith(str(out / "files"))  # the file that could not be written
    assert not [p for p in out.rglob("*") if p.is_file()]  # all or nothing: no partial and no new file


def test_a_failed_build_leaves_the_earlier_one_as_it_was(tmp_path, monkeypatch):
    path, document = make_run(tmp_path / "run")
    out = tmp_path / "site"
    build_reports([(path, document)], out)
    earlier = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    changed = copy.deepcopy(document)
    changed["rows"][2]["status"] = "fails"
    real_write = Path.write_bytes

    def fail_on_html(self, data):
        if ".report.html." in self.name:
            raise OSError(28, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", fail_on_html)
    with pytest.raises(OSError, match="No space left") as error:
        build_reports([(path, changed)], out)
    assert error.value.filename == str(out / "report.html")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == earlier


def test_a_document_with_two_rows_for_one_claim_on_one_model_is_refused(tmp_path):
    path, document = make_run(tmp_path / "run")
    document["rows"].append(row("dec-embed-sound", "tiny", "fails", "not met", rhyme(0.5, False)))
    with pytest.raises(ValueError) as error:
        build_reports([(path, document)], tmp_path / "site")
    assert str(error.value).startswith(f"{path}: rows[5] is \"dec-embed-sound on tiny\", expected one row per")
    assert "rows[2] is the same claim on the same model" in str(error.value)


def test_runs_of_one_model_name_with_other_weights_are_not_merged(tmp_path):
    first = make_run(tmp_path / "a", [row("dec-embed-sound", "tiny", "holds", "", rhyme(0.001, True))], specs=("tiny",))
    second = make_run(tmp_path / "b", [row("dec-embed-sound", "tiny", "fails", "not met", rhyme(0.5, False))],
                      specs=("tiny",))
    first[1]["run"]["models"][0]["parameters_sha256"] = "1" * 64
    second[1]["run"]["models"][0]["parameters_sha256"] = "2" * 64
    with pytest.raises(ValueError) as error:
        build_reports([first, second], tmp_path / "site")
    message = str(error.value)
    assert message.startswith(f"{second[0]}: model 'tiny' was run with parameters_sha256 {'2' * 64}")
    assert f"{first[0]} has rows for 'tiny' with {'1' * 64}" in message
    second[1]["run"]["models"][0]["parameters_sha256"] = "1" * 64  # the same weights: merged, later row wins
    build_reports([first, second], tmp_path / "site")


# -- the command line ---------------------------------------------------------------------------


def test_cli_prints_the_table_without_out(tmp_path, capsys):
    path, _ = make_run(tmp_path / "run")
    assert main(["report", str(path)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"== {path}\n")
    assert "dec-embed-sound" in printed and "fails rhyme_p_value=0.304 (< 0.01)" in printed
    assert not (tmp_path / "run" / "report.html").exists()


def test_cli_report_never_loads_torch_or_whisper(tmp_path):
    path, _ = make_run(tmp_path / "run")
    site = tmp_path / "site"
    code = ("import sys; from whisper_claims.cli import main; "
            f"assert main(['report', {str(path)!r}]) == 0; "
            f"assert main(['report', {str(path)!r}, '--out', {str(site)!r}]) == 0; "
            "loaded = sorted({'torch', 'whisper'} & set(sys.modules)); assert not loaded, loaded")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "WHISPER_CLAIMS_CACHE": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    assert (site / "report.html").is_file() and (site / "claims.md").is_file()


def test_cli_builds_every_output_with_out(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WHISPER_CLAIMS_CACHE", str(tmp_path / "cache"))
    first, _ = make_run(tmp_path / "tiny", specs=("tiny",),
                        rows=[row("dec-embed-sound", "tiny", "holds", "", rhyme(0.001, True))])
    second, _ = make_run(tmp_path / "base", specs=("base",), rows=[row("dec-embed-sound", "base", "skipped", "x")])
    out = tmp_path / "site"
    assert main(["report", str(first), str(second), "--out", str(out), "--assets", str(tmp_path / "none")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == str(out / "claims.md") and printed[-1] == str(out / "report.html")
    assert all(Path(p).is_file() for p in printed)
    assert str(out / "badges" / "overall-base.json") in printed
    page = (out / "report.html").read_text(encoding="utf-8")
    # figures that cannot be found are a note, never a failure
    assert "is not shown: asset blog/decoder/embedding_space/rug_embed.png is not available; looked in" in page
    assert "is not shown: unknown asset &#x27;blog/post/absent.png&#x27;" in page


@pytest.mark.parametrize("content, says", [
    (None, "not a readable claims.json"),
    ("{not json", "not a readable claims.json"),
    ("[1, 2]", "not a claims.json document"),
    (b"\xff\xfe\x00binary", "not a claims.json document"),
    ('{"schema": "other", "schema_version": 1}', "expected 'whisper-claims/claims.json'"),
    ("bad-row", "rows[0].status"),
])
@pytest.mark.parametrize("out", [False, True])
def test_cli_errors_exit_2_naming_the_file(tmp_path, capsys, content, says, out):
    good, document = make_run(tmp_path / "good")
    bad = tmp_path / "bad" / "claims.json"
    bad.parent.mkdir()
    if content == "bad-row":
        document["rows"][0]["status"] = "pass"
        bad.write_text(json.dumps(document), encoding="utf-8")
    elif isinstance(content, bytes):
        bad.write_bytes(content)
    elif content is not None:
        bad.write_text(content, encoding="utf-8")
    site = tmp_path / "site"
    argv = ["report", str(good), str(bad)] + (["--out", str(site)] if out else [])
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing printed before every file was checked
    assert captured.err.startswith(f"whisper-claims report: {bad}: ") and says in captured.err
    assert not site.exists()


def test_cli_finds_the_claims_json_files_below_a_folder(tmp_path, capsys):
    make_run(tmp_path / "reports" / "claims-base", specs=("base",),
             rows=[row("dec-embed-sound", "base", "skipped", "x")])
    make_run(tmp_path / "reports" / "claims-tiny", specs=("tiny",),
             rows=[row("dec-embed-sound", "tiny", "holds", "", rhyme(0.001, True))])
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "reports")]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("== ")]
    assert printed == [f"== {tmp_path / 'reports' / name / 'claims.json'}" for name in ("claims-base", "claims-tiny")]
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "no claims.json below this folder" in capsys.readouterr().err


def test_cli_assets_without_out_is_an_error(tmp_path, capsys):
    path, _ = make_run(tmp_path / "run")
    assert main(["report", str(path), "--assets", str(tmp_path)]) == 2
    assert "--assets is only used with --out" in capsys.readouterr().err


# -- a real browser -----------------------------------------------------------------------------


def _chromium():
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _browse(binary, profile, *args, timeout=120):
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def test_report_renders_in_a_headless_browser(built, tmp_path):
    binary = _chromium()
    if binary is None:
        pytest.skip("no chromium binary on PATH (looked for chromium, chromium-browser): "
                    "install Debian's with `apt-get install chromium` to render report.html")
    out, _, _ = built
    url = (out / "report.html").resolve().as_uri()
    shot = tmp_path / "report.png"
    started = time.monotonic()
    done = _browse(binary, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,2000", url)
    assert shot.is_file() and shot.stat().st_size > 0, f"no screenshot (exit {done.returncode}): {done.stderr[-2000:]}"
    with Image.open(shot) as image:
        image = image.convert("RGB")
        assert image.size == (1280, 2000)
        extrema = image.getextrema()
        assert any(low != high for low, high in extrema), "the screenshot is a single flat colour"
        pixels = np.asarray(image)
        # the run's own figure (a magenta rectangle) was loaded from beside the page
        assert (pixels == MAGENTA).all(axis=-1).sum() > 1000
    # the browser logs the page's console: a file refused by the page's own policy would show there
    dom = _browse(binary, tmp_path / "profile-dom", "--enable-logging=stderr", "--v=0", "--dump-dom", url)
    elapsed = time.monotonic() - started
    assert dom.returncode == 0, dom.stderr[-2000:]
    refused = [line for line in dom.stderr.splitlines() if "Content Security Policy" in line]
    assert not refused, refused
    rendered = refs(dom.stdout)
    assert "claims-matrix" in rendered.ids
    matrix = dom.stdout[dom.stdout.index('id="claims-matrix"'):dom.stdout.index("</table>")]
    assert "dec-embed-sound" in matrix and "enc-chop-start" in matrix and RANDOM in matrix
    assert "rhyme_p_value=0.00123 (&lt; 0.01)" in matrix
    assert elapsed < 120


# -- inconclusive verdicts: shown wherever a verdict is ----------------------------------------------


def inconclusive_row(model):
    found = metric(0.44, ">=", 0.5, False)
    found["interval"] = {"low": 0.29, "high": 0.55, "level": 0.95, "method": "bootstrap", "n_units": 15,
                         "n_resamples": 2000, "seed": 0, "passed": None}
    return row("enc-chop-start", model, "inconclusive", "interval straddles the threshold: recall_removed",
               {"recall_removed": found})


def test_an_inconclusive_verdict_is_shown_in_every_report(tmp_path):
    path, document = make_run(tmp_path / "run", [inconclusive_row("tiny"), inconclusive_row(RANDOM)],
                              specs=("tiny", RANDOM))
    out = tmp_path / "site"
    build_reports([(path, document)], out)
    md = (out / "claims.md").read_text(encoding="utf-8")
    assert "| `enc-chop-start` | **inconclusive** `recall_removed=0.44 [0.29, 0.55] (>= 0.5)` |" in md
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'class="st-inconclusive"' in page and "undecided: the interval straddles" in page
    assert "0.44 [0.29, 0.55]" in page
    badge = json.loads((out / "badges" / "enc-chop-start.json").read_text(encoding="utf-8"))
    assert badge["message"] == f"inconclusive: tiny, {RANDOM}" and badge["color"] == "blue"
    assert summary_table(document)[1].split()[1:] == ["inconclusive", "recall_removed=0.44", "[0.29,", "0.55]",
                                                      "(>=", "0.5)"] * 2


@pytest.mark.parametrize("interval, message", [
    ({"low": 0.6, "high": 0.5, "passed": None}, "low ≤ high"),
    ({"low": 0.4, "high": 0.5, "passed": "maybe"}, "low ≤ high and passed"),
    ([0.4, 0.5], "an object"),
])
def test_a_malformed_interval_is_refused(tmp_path, interval, message):
    path, document = make_run(tmp_path / "run", [inconclusive_row("tiny")], specs=("tiny",))
    document["rows"][0]["metrics"]["recall_removed"]["interval"] = interval
    with pytest.raises(ValueError, match=message):
        build_reports([(path, document)], tmp_path / "site")


def test_badge_colours_with_inconclusive_rows():
    assert status_color(0, 0, 0, inconclusive=2) == "blue"
    assert status_color(2, 0, 0, inconclusive=1) == "yellow"
    assert status_color(1, 0, 0, inconclusive=2) == "orange"
    assert status_color(0, 1, 0, inconclusive=1) == "red"


def test_the_run_names_its_cpu_and_torch_kernels():
    import torch

    from whisper_claims.report.record import cpu

    found = cpu()
    assert found.endswith(f"; torch kernels {torch.backends.cpu.get_cpu_capability()}")
    assert not found.startswith(";")  # a processor name, or 'unknown processor'
