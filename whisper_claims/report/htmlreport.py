"""``report.html``: one page to read, look at and listen to, with no network and no JavaScript.

At the top the claim × model matrix; then, per claim, its statement, the post's figures, and per
model the verdict, the metrics against their thresholds with provenance, the figures and audio the
claim produced, transcripts diffed word by word against the reference, and the raw evidence folded
away. Every text that comes from a document is HTML-escaped; every image and clip is a file beside
the page (see `whisper_claims.report.publish`), referenced by a relative URL.

Evidence convention of a row (all optional)::

    "figures":     [{"path": "<relative to the folder of claims.json>", "caption": "..."}, ...]
    "audio":       [{"path": "...", "caption": "..."}, ...]
    "transcripts": {"full": "<reference>", "<label>": "<text diffed against full>", ...}
"""
from __future__ import annotations

import difflib
import html
import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from ..claims.verdict import AUDIO, FIGURES
from ..files import safe_name
from ..models.redistributions import describe_source
from .badges import all_badges
from .claims_json import baseline_lines, metric_fixed
from .merge import MergedReport, Row, key_metric_text

REFERENCE_TRANSCRIPT = "full"
# a model's figure of this artifact kind is shown beside the post's figure of the same quantity, when the
# claim names it: (the post's figure, what to know when comparing them)
POST_FIGURE_BESIDE = {
    "relevance_map": ("blog/encoder/attention_scores.png",
                      "the post's relevance map, frames 0-700 as ours, made on another clip: its speech ends "
                      "at frame 502 (10 s), Hot_ones.wav's at 300 (6 s)"),
}
RAW_EVIDENCE_LIMIT = 200_000  # characters of JSON shown inline; claims.json has the rest


@dataclass(frozen=True)
class Link:
    """Where a file is, relative to the page (percent-encoded), or why it is not shown; ``online``
    is its public address, offered as a link (never loaded by the page)."""

    href: str | None
    note: str = ""
    online: str = ""


@dataclass(frozen=True)
class Media:
    """The files the page shows, placed beside it by the caller.

    ``evidence`` is keyed by (source index, path as written in the row's evidence), ``post_figures``
    by asset name; ``badges`` maps a badge name to the href of its SVG (empty without anybadge).
    """

    evidence: dict[tuple[int, str], Link] = field(default_factory=dict)
    post_figures: dict[str, Link] = field(default_factory=dict)
    badges: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EvidenceItem:
    """One entry of ``evidence["figures"]`` or ``evidence["audio"]``; ``problem`` says why it is unusable."""

    path: str | None
    caption: str
    problem: str = ""


def evidence_items(evidence: dict[str, Any], kind: str) -> list[EvidenceItem]:
    """The entries of ``evidence[kind]`` (``"figures"`` or ``"audio"``), malformed ones flagged, not dropped."""
    entries = evidence.get(kind, [])
    if not isinstance(entries, list):
        return [EvidenceItem(None, "", f"evidence.{kind} is {type(entries).__name__}, expected a list of "
                                         '{"path": ..., "caption": ...}')]
    items = []
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and isinstance(entry.get("path"), str) and entry["path"]:
            caption = entry.get("caption", "")
            items.append(EvidenceItem(entry["path"], caption if isinstance(caption, str) else str(caption)))
        else:
            shown = json.dumps(entry, ensure_ascii=False, default=repr)[:80]
            items.append(EvidenceItem(None, "", f"evidence.{kind}[{i}] is {shown}, expected "
                                                '{"path": "<relative path>", "caption": "..."}'))
    return items


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def word_diff(reference: str, text: str) -> str:
    """``text`` against ``reference`` word by word, as escaped HTML: words only in the reference in
    ``<del>``, words only in ``text`` in ``<ins>``. Words are compared exactly (case, punctuation)."""
    ref, hyp = reference.split(), text.split()
    parts = []
    matcher = difflib.SequenceMatcher(a=ref, b=hyp, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            parts.append(esc(" ".join(ref[i1:i2])))
        if tag in ("delete", "replace"):
            parts.append(f"<del>{esc(' '.join(ref[i1:i2]))}</del>")
        if tag in ("insert", "replace"):
            parts.append(f"<ins>{esc(' '.join(hyp[j1:j2]))}</ins>")
    return " ".join(parts)


def claim_anchor(claim: str) -> str:
    return "claim-" + safe_name(claim)


def verdict_anchor(claim: str, model: str) -> str:
    return f"{claim_anchor(claim)}--{safe_name(model)}"


CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 76rem; padding: 1rem 1.5rem 4rem; color: #1f2328; background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Roboto, sans-serif; }
h1 { font-size: 1.6rem; margin: .5rem 0; } h2 { font-size: 1.3rem; margin-top: 2.5rem;
  border-bottom: 1px solid #d0d7de; } h3 { font-size: 1.1rem; margin-top: 1.6rem; } h4 { margin: 1rem 0 .4rem; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9em; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; vertical-align: top; }
thead th { background: #f6f8fa; }
.scroll { overflow-x: auto; }
.matrix td { min-width: 9rem; }
.matrix td a { color: inherit; text-decoration: none; display: block; }
.status { font-weight: 700; }
.st-holds { background: #dafbe1; } .st-fails { background: #ffebe9; }
.st-error { background: #fff8c5; } .st-skipped { background: #f6f8fa; color: #57606a; }
.st-inconclusive { background: #ddf4ff; }
.st-not-run { color: #8c959f; font-style: italic; }
.metric { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .85em; }
.badges img { margin: 0 .4rem .3rem 0; vertical-align: middle; }
.note { color: #57606a; font-style: italic; }
.problem { color: #9a6700; }
.fixed-after { color: #9a6700; font-weight: 600; font-size: .9em; }
.statement { font-size: 1.1rem; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(20rem, 1fr)); gap: 1rem; }
figure { margin: 0; } figure img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
figcaption { font-size: .9rem; color: #57606a; }
audio { width: 100%; max-width: 28rem; }
article.verdict { border-left: 4px solid #d0d7de; padding: .2rem 0 .2rem 1rem; margin: 1.2rem 0; }
article.verdict.st-holds { border-left-color: #1a7f37; background: none; }
article.verdict.st-fails { border-left-color: #cf222e; background: none; }
article.verdict.st-error { border-left-color: #bf8700; background: none; }
article.verdict.st-skipped { border-left-color: #8c959f; background: none; color: inherit; }
article.verdict.st-inconclusive { border-left-color: #0969da; background: none; }
del { background: #ffebe9; color: #82071e; }
ins { background: #dafbe1; color: #116329; text-decoration: none; border-bottom: 2px solid #1a7f37; }
.transcripts td:first-child { white-space: nowrap; }
details { margin: .5rem 0; } summary { cursor: pointer; color: #0969da; }
pre { background: #f6f8fa; padding: .75rem; overflow: auto; max-height: 32rem; }
nav ul { columns: 2; }
""".strip()


def report_html(report: MergedReport, media: Media) -> str:
    """The whole page; the same report and media give the same text, byte for byte."""
    claims = report.claims
    title = 'Claims of "Interpreting Whisper" × models'
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           # the page may load nothing from elsewhere: only its own files, no scripts
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src 'self' data:; "
           "media-src 'self'; style-src 'unsafe-inline'\">",
           f"<title>{esc(title)}</title>", f"<style>\n{CSS}\n</style>", "</head>", "<body>"]
    out += ["<header>", f"<h1>{esc(title)}</h1>",
            f"<p>{len(claims)} claim{'s' * (len(claims) != 1)} on {len(report.models)} "
            f"model{'s' * (len(report.models) != 1)}, from {len(report.sources)} claims.json "
            f"(<a href=\"#runs\">runs</a>). A cell is the verdict on that model, with the claim's key "
            "metric against its threshold.</p>"]
    overall = [b for b in all_badges(report) if b.name.startswith("overall-")]
    if overall and media.badges:
        out.append('<p class="badges">' + "".join(_badge_img(b, media) for b in overall) + "</p>")
    out.append("</header>")

    out += _matrix(report)
    out += _changes(report)
    out += ['<nav aria-label="claims"><h2>Claims</h2><ul>']
    out += [f'<li><a href="#{claim_anchor(c)}"><code>{esc(c)}</code></a>: {esc(spec["statement"])}</li>'
            for c, spec in claims.items()]
    out += ["</ul></nav>"]
    badges = {b.name: b for b in all_badges(report)}
    for claim_id, spec in claims.items():
        out += _claim_section(report, media, claim_id, spec, badges.get(safe_name(claim_id)))
    out += _runs(report)
    out += ["<footer><p class=\"note\">Built by whisper-claims from the claims.json files listed under Runs; "
            "this page loads nothing from the network and needs no JavaScript.</p></footer>",
            "</body>", "</html>"]
    return "\n".join(out) + "\n"


def _badge_img(badge, media: Media) -> str:
    href = media.badges.get(badge.name)
    if not href:
        return ""
    return f'<img src="{esc(href)}" alt="{esc(badge.label)}: {esc(badge.message)}">'


def _changes(report: MergedReport) -> list[str]:
    """Each run's changes against its --claims-baseline, regressions first."""
    out = []
    for number, source in enumerate(report.sources, start=1):
        if not source.baseline:
            continue
        lines = baseline_lines({"baseline": source.baseline})
        out += [f'<section id="baseline-{number}"><h2>Changes against the baseline (run {number})</h2>',
                f"<p>{esc(lines[0])}</p><ul>"]
        out += [f'<li class="{"st-fails" if "REGRESSION" in line else ""}">{esc(line.strip())}</li>'
                for line in lines[1:]]
        out += ["</ul></section>"]
    return out


def _matrix(report: MergedReport) -> list[str]:
    out = ['<section id="matrix">', "<h2>Claim × model</h2>", '<div class="scroll">',
           '<table class="matrix" id="claims-matrix">', "<thead><tr><th scope=\"col\">claim</th>"]
    out[-1] += "".join(f'<th scope="col"><code>{esc(m)}</code></th>' for m in report.models) + "</tr></thead>"
    out.append("<tbody>")
    for claim_id, spec in report.claims.items():
        cells = [f'<th scope="row"><a href="#{claim_anchor(claim_id)}"><code>{esc(claim_id)}</code></a></th>']
        for model in report.models:
            row = report.row(claim_id, model)
            if row is None:
                cells.append('<td class="st-not-run">not run</td>')
                continue
            metric = key_metric_text(row, spec)
            title = f' title="{esc(row.data["reason"])}"' if row.data["reason"] else ""
            body = f'<span class="status">{esc(row.status)}</span>'
            if metric:
                body += f'<br><span class="metric">{esc(metric)}</span>'
            cells.append(f'<td class="st-{row.status}"{title}>'
                         f'<a href="#{verdict_anchor(claim_id, model)}">{body}</a></td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody>")
    counts = []
    for model in report.models:
        holding = sum(row.status == "holds" for _, row in report.model_rows(model))
        counts.append(f"<td>{holding}/{len(report.claims)} hold</td>")
    out += ['<tfoot><tr><th scope="row">claims that hold</th>' + "".join(counts) + "</tr></tfoot>",
            "</table>", "</div>"]
    out.append('<p class="note">holds: every applicable metric passes its threshold (all of its 95% interval, '
               "where it has one); fails: at least one does not; inconclusive: none fails but an interval "
               "straddles its threshold; skipped: not run here (no weights, or the claim does not apply to the "
               "size); error: the claim function raised; not run: no verdict in any claims.json.</p>")
    out.append("</section>")
    return out


def _claim_section(report: MergedReport, media: Media, claim_id: str, spec: dict[str, Any], badge) -> list[str]:
    out = [f'<section class="claim" id="{claim_anchor(claim_id)}">', f"<h2><code>{esc(claim_id)}</code></h2>"]
    if badge is not None:
        img = _badge_img(badge, media)
        if img:
            out.append(f'<p class="badges">{img}</p>')
    out += [f'<p class="statement">{esc(spec["statement"])}</p>',
            f"<p>Section of the post: {esc(spec['section'])}. Key metric: <code>{esc(spec['key_metric'])}</code>.</p>"]

    figures = spec.get("post_figures", [])
    out.append("<h3>The post's figures</h3>")
    if not figures:
        out.append('<p class="note">The registry names no figure of the post for this claim.</p>')
    else:
        out.append('<div class="gallery">')
        for name in figures:
            link = media.post_figures.get(name, Link(None, "not placed"))
            if link.href:
                out.append(f'<figure><a href="{esc(link.href)}"><img src="{esc(link.href)}" alt="{esc(name)}" '
                           f'loading="lazy"></a><figcaption><code>{esc(name)}</code>'
                           + (f" ({esc(link.note)})" if link.note else "") + "</figcaption></figure>")
            else:
                online = (f' <a href="{esc(link.online)}">The figure in the post.</a>'
                          if link.online.startswith("https://") else "")
                note = link.note.rstrip(".")
                end = "" if note.endswith(("?", "!")) else "."
                out.append(f'<p class="note">Figure <code>{esc(name)}</code> is not shown: {esc(note)}{end}'
                           f"{online}</p>")
        out.append("</div>")

    rows = report.claim_rows(claim_id)
    post_transcripts = spec.get("post_transcripts")
    if isinstance(post_transcripts, dict) and post_transcripts:
        out += _transcripts_beside_the_posts(post_transcripts, rows)

    out.append("<h3>Verdicts</h3>")
    if not rows:
        out.append('<p class="note">No claims.json has a verdict for this claim: it was not run.</p>')
    for model, row in rows:
        out += _verdict(report, media, claim_id, model, row, figures)
    out.append("</section>")
    return out


def _post_figure_beside(item: EvidenceItem, post_figures: list[str], media: Media) -> str:
    """The post's figure of the same quantity as a model's figure (by the figure's artifact kind), when
    the claim names it and it is placed; else ""."""
    kind = PurePosixPath(item.path or "").stem.rsplit("--", 1)[-1]
    name, note = POST_FIGURE_BESIDE.get(kind, (None, ""))
    link = media.post_figures.get(name) if name in post_figures else None
    if link is None or not link.href:
        return ""
    return (f'<figure class="post"><a href="{esc(link.href)}"><img src="{esc(link.href)}" alt="{esc(name)}" '
            f'loading="lazy"></a><figcaption>Beside it, {esc(note)} (<code>{esc(name)}</code>)</figcaption></figure>')


def _when_fixed(metric: dict) -> str:
    """Under a threshold, when it was fixed; marked when after a real checkpoint had been measured (a
    reader should know the bar was set with real numbers in view). "" for records that do not say."""
    fixed = metric_fixed(metric)
    if fixed is None:
        return ""
    return f'<br><span class="{"fixed-after" if fixed.after_real else "note"}">{esc(fixed.text())}</span>'


def _fixed_note(metric: dict) -> str:
    """After the provenance: what changed when the threshold was fixed, or what is ambiguous about it."""
    fixed = metric_fixed(metric)
    return f'<br><span class="note">When fixed: {esc(fixed.note)}</span>' if fixed and fixed.note else ""


def _verdict(report: MergedReport, media: Media, claim_id: str, model: str, row: Row,
             post_figures: list[str] = ()) -> list[str]:
    data = row.data
    out = [f'<article class="verdict st-{row.status}" id="{verdict_anchor(claim_id, model)}">',
           f'<h4><code>{esc(model)}</code>: <span class="status">{esc(row.status)}</span></h4>']
    if data["reason"]:
        out.append(f"<p>{esc(data['reason'])}</p>")
    source = report.sources[row.source]
    out.append(f'<p class="note">From <code>{esc(source.path)}</code> (run {row.source + 1}).</p>')
    if data["metrics"]:
        out += ['<div class="scroll"><table class="metrics"><thead><tr><th>metric</th><th>value</th>'
                "<th>needs</th><th>passed</th><th>provenance of the threshold</th></tr></thead><tbody>"]
        for name, m in data["metrics"].items():
            value = "not measured" if m["value"] is None else f"{m['value']:.4g}"
            interval = m.get("interval") if m["passed"] is not None else None
            if interval:
                value += f" [{interval['low']:.4g}, {interval['high']:.4g}]"
                passed, cls = {True: ("yes", "st-holds"), False: ("no", "st-fails"),
                               None: ("undecided: the interval straddles", "st-inconclusive")}[interval["passed"]]
            else:
                passed, cls = {True: ("yes", "st-holds"), False: ("no", "st-fails"),
                               None: ("does not apply", "st-skipped")}[m["passed"]]
            out.append(f"<tr><td><code>{esc(name)}</code></td><td>{esc(value)}</td>"
                       f"<td>{esc(m['comparator'])} {esc(format(m['threshold'], '.4g'))}{_when_fixed(m)}</td>"
                       f'<td class="{cls}">{passed}</td><td>{esc(m["provenance"])}{_fixed_note(m)}</td></tr>')
        out.append("</tbody></table></div>")

    evidence = data["evidence"]
    figures = evidence_items(evidence, FIGURES)
    if figures:
        out += ["<h4>Figures</h4>", '<div class="gallery">']
        for item in figures:
            link = _evidence_link(media, row, item)
            if link.href:
                alt = item.caption or item.path
                out.append(f'<figure><a href="{esc(link.href)}"><img src="{esc(link.href)}" alt="{esc(alt)}" '
                           f'loading="lazy"></a><figcaption>{esc(item.caption)}</figcaption></figure>')
                beside = _post_figure_beside(item, list(post_figures), media)
                if beside:
                    out.append(beside)
            else:
                out.append(f'<p class="note problem">{esc(link.note)}</p>')
        out.append("</div>")
    audio = evidence_items(evidence, AUDIO)
    if audio:
        out += ["<h4>Listen</h4>", '<div class="gallery">']
        for item in audio:
            link = _evidence_link(media, row, item)
            if link.href:
                out.append(f"<figure><figcaption>{esc(item.caption or item.path)}</figcaption>"
                           f'<audio controls preload="metadata" src="{esc(link.href)}">'
                           f'<a href="{esc(link.href)}">download the audio</a></audio></figure>')
            else:
                out.append(f'<p class="note problem">{esc(link.note)}</p>')
        out.append("</div>")
    if "transcripts" in evidence:
        out += _transcripts(evidence["transcripts"])

    raw = json.dumps(evidence, indent=2, sort_keys=True, ensure_ascii=False)
    cut = ""
    if len(raw) > RAW_EVIDENCE_LIMIT:
        raw, cut = raw[:RAW_EVIDENCE_LIMIT], f" (first {RAW_EVIDENCE_LIMIT} characters; the rest is in claims.json)"
    out += [f"<details><summary>Raw evidence{esc(cut)}</summary><pre>{esc(raw)}</pre></details>", "</article>"]
    return out


def _evidence_link(media: Media, row: Row, item: EvidenceItem) -> Link:
    if item.problem:
        return Link(None, item.problem)
    return media.evidence.get((row.source, item.path), Link(None, f"{item.path}: not placed beside the page"))


def _transcripts_beside_the_posts(post: dict[str, str], rows: list[tuple[str, Row]]) -> list[str]:
    """The post's published transcripts in the first column, each model's beside them (same labels),
    each against its own column's full transcript: <del>words lost</del>, <ins>words added</ins>."""
    columns = [("the post", {str(k): str(v) for k, v in post.items()})]
    for model, row in rows:
        texts = row.data["evidence"].get("transcripts")
        if isinstance(texts, dict):
            columns.append((model, {str(k): v for k, v in texts.items() if isinstance(v, str)}))
    labels = list(dict.fromkeys(label for _, texts in columns for label in texts))
    out = ["<h3>Transcripts: the post's beside each model's</h3>",
           f'<p class="note">Each against its own column\'s "{REFERENCE_TRANSCRIPT}": '
           "<del>words lost</del>, <ins>words added</ins>; — where a run has no such transcript.</p>",
           '<div class="scroll"><table class="transcripts"><thead><tr><th></th>'
           + "".join(f"<th><code>{esc(name)}</code></th>" for name, _ in columns) + "</tr></thead><tbody>"]
    for label in labels:
        cells = []
        for _, texts in columns:
            text, full = texts.get(label), texts.get(REFERENCE_TRANSCRIPT)
            if text is None:
                cells.append("<td>—</td>")
            elif label == REFERENCE_TRANSCRIPT or full is None:
                cells.append(f"<td>{esc(text)}</td>")
            else:
                cells.append(f"<td>{word_diff(full, text)}</td>")
        out.append(f"<tr><th>{esc(label)}</th>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return out


def _transcripts(transcripts: Any) -> list[str]:
    out = ["<h4>Transcripts</h4>"]
    if not isinstance(transcripts, dict):
        return out + [f'<p class="note problem">evidence.transcripts is {esc(type(transcripts).__name__)}, '
                      "expected an object of label → text</p>"]
    texts = {str(k): v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in transcripts.items()}
    reference = texts.get(REFERENCE_TRANSCRIPT)
    if reference is None:
        out.append(f'<p class="note">No reference transcript (key "{REFERENCE_TRANSCRIPT}"): shown without diff.</p>')
    else:
        out.append(f'<p class="note">Each transcript against "{REFERENCE_TRANSCRIPT}": '
                   "<del>words lost</del>, <ins>words added</ins>.</p>")
    out.append('<table class="transcripts"><tbody>')
    if reference is not None:
        out.append(f"<tr><th>{esc(REFERENCE_TRANSCRIPT)}</th><td>{esc(reference)}</td></tr>")
    for label, value in texts.items():
        if label == REFERENCE_TRANSCRIPT:
            continue
        body = esc(value) if reference is None else word_diff(reference, value)
        out.append(f"<tr><th>{esc(label)}</th><td>{body}</td></tr>")
    out.append("</tbody></table>")
    return out


def _runs(report: MergedReport) -> list[str]:
    out = ['<section id="runs">', "<h2>Runs</h2>"]
    for number, source in enumerate(report.sources, start=1):
        run = source.run
        thresholds = run.get("thresholds") or {}
        out.append(f"<h3>Run {number}: <code>{esc(source.path)}</code></h3>")
        if run.get("interrupted"):
            out.append(f"<p><strong>Interrupted</strong>: {esc(run['interrupted'])}; its rows are those it "
                       "reached.</p>")
        out.append("<table><tbody>")
        for label, value in [("git commit", run.get("git_commit")), ("python", run.get("python")),
                             ("platform", run.get("platform")), ("cpu", run.get("cpu")),
                             ("torch threads", run.get("torch_threads")),
                             ("thresholds file", thresholds.get("path")),
                             ("thresholds sha256", thresholds.get("sha256"))]:
            shown = "unknown" if value is None else value
            out.append(f"<tr><th>{esc(label)}</th><td><code>{esc(shown)}</code></td></tr>")
        out.append("</tbody></table>")
        models = run.get("models", [])
        if models:
            out.append('<div class="scroll"><table><thead><tr><th>model</th><th>kind</th><th>size</th>'
                       "<th>sha256, or why unavailable</th><th>weights</th></tr></thead><tbody>")
            for info in models:
                if "unavailable" in info:
                    out.append(f"<tr><td><code>{esc(info['spec'])}</code></td><td>unavailable</td><td></td>"
                               f"<td>{esc(info['unavailable'])}</td></tr>")
                else:
                    out.append(f"<tr><td><code>{esc(info['spec'])}</code></td><td>{esc(info.get('kind', ''))}</td>"
                               f"<td>{esc(info.get('size') or '')}</td>"
                               f"<td><code>{esc(info.get('sha256', 'unknown'))}</code></td>"
                               f"<td>{esc(describe_source(info))}</td></tr>")
            out.append("</tbody></table></div>")
        packages = run.get("packages") or {}
        if packages:
            listed = ", ".join(f"{esc(name)} {esc(version or 'not installed')}"
                               for name, version in sorted(packages.items()))
            out.append(f"<p>Packages: {listed}.</p>")
    out.append("</section>")
    return out
