"""The generated blocks of docs/methods.md and docs/micro.md: the tables of numbers the records hold;
and README.md's block of the thresholds file (`README_BLOCKS`): the thresholds fixed after real measurement.

The prose around them is written by hand and quotes none of these numbers. Each block is one function of
the merged records giving the block's lines; `BLOCKS` names them per document, and `findings.filled_text`
puts them between the block's markers (`findings.block_begin`, `findings.block_end`).
"""
from __future__ import annotations

from typing import Any, Callable

from ..claims.registry import FIRST_REAL_MEASUREMENT, ClaimSpec
from ..measure.sae_frontier import FRONTIER_SENTENCE
from .findings import COMPARATORS, SHOWN, judged_models, number, verdict_cell
from .markdown import code, table, text
from .merge import MergedReport, Row

WINDOWS = ("5", "10", "25", "50", "100", "200")  # the band half-widths w of the m(w) curve
KS = ("1500", "100", "75", "50", "20", "10")  # the attention windows k of the window claims
GENERAL = ("enc-relevance-local-general", "enc-end-sink-general", "enc-end-sink-every-row-general",
           "enc-window-k75-general", "enc-window-narrow-general")


def evidence(report: MergedReport, claim: str, model: str) -> dict[str, Any]:
    """The evidence of one claim × model, empty when there is no row or it has none."""
    row = report.row(claim, model)
    return (row.data.get("evidence") or {}) if row is not None else {}


def status(row: Row | None) -> str:
    return "not run" if row is None else SHOWN.get(row.status, row.status)


def words(values: list[str]) -> str:
    """Words as a quoted list, or "none"."""
    return ", ".join(f"\"{text(v)}\"" for v in values) if values else "none"


def clips_meeting(found: dict[str, Any], share: float | None) -> str:
    """``18 of 19`` from a share of the clips."""
    return "—" if share is None else f"{round(share * found['n_clips'])} of {found['n_clips']}"


def short(value: Any) -> str:
    """A share or cosine as the docs write it: two decimals (``.35``)."""
    return "—" if value is None else f"{value:.2f}".replace("0.", ".", 1) if 0 <= value < 1 else number(value)


# ---- methods.md -------------------------------------------------------------------------------------------

def _control_relevance(found: dict[str, Any]) -> str:
    return f"uniform attention {number(found['uniform_band_mass_by_w']['50'])}"


def _control_end_sink(found: dict[str, Any]) -> str:
    return f"uniform attention {number(found['uniform_share'])}"


def _control_every_row(found: dict[str, Any]) -> str:
    return f"first 175 rows {number(found['end_of_speech']['end_peak_share_first_175_rows'])}"


def _control_window(found: dict[str, Any]) -> str:
    return f"k = 1500 recall {number(found['recall']['1500'])}"


def _control_narrow(found: dict[str, Any]) -> str:
    return f"k = 10: \"{text(found['transcripts']['k=10'])}\""


def _control_chop(found: dict[str, Any]) -> str:
    return f"control chop WER {number(found['control_wer'])}"


def _control_lost(found: dict[str, Any]) -> str:
    return f"lost {words(found['lost'])}"


def _control_inserted(found: dict[str, Any]) -> str:
    return f"put in {words(found['inserted'])}"


def _control_general(found: dict[str, Any]) -> str:
    return f"{clips_meeting(found, found.get('share_of_clips_meeting_every_threshold'))} clips meet every bar"


def _control_word_chop(found: dict[str, Any]) -> str:
    return (f"{found['n_words_scored']} of {found['n_words_spoken']} words scored; control chop changed "
            f"{number(found['control_changed_share'])}")


def _control_neurons(found: dict[str, Any]) -> str:
    return f"random basis {number(found['random_basis_selective_fraction'])}"


def _control_polysemantic(found: dict[str, Any]) -> str:
    return (f"neurons {', '.join(map(str, found['polysemantic'])) or 'none'}; random bases' median count "
            f"{number(found['random_bases']['median'])}")


def _control_sae(found: dict[str, Any]) -> str:
    return f"residual dimensions {number(found['residual_basis_selective_fraction'])}"


def rhyme_pairs(rhyme: dict[str, Any]) -> str:
    """``13 of 40``: the rhyme pairs judged (``n_pairs``) of those listed (judged, untrained, dropped)."""
    return f"{rhyme['n_pairs']} of {rhyme['n_pairs'] + len(rhyme['untrained_pairs']) + len(rhyme['dropped_pairs'])}"


def _control_embed(found: dict[str, Any]) -> str:
    rhyme = found["rhyme"]
    return f"raw cosines p {number(rhyme['raw']['p_value'])}; {rhyme_pairs(rhyme)} pairs judged"


def _control_embed_semantic(found: dict[str, Any]) -> str:
    centred = found["centred"]
    auc = centred["auc_interval"]
    return (f"AUC {number(centred['auc'])} [{number(auc['low'])}, {number(auc['high'])}]; raw cosines p "
            f"{number(found['raw']['p_value'])}; {found['n_pairs']} pairs judged")


def _control_cross_attention(found: dict[str, Any]) -> str:
    every = "" if found["heads"] == "every head" else f"; every head {number(found['median_window_mass_every_head'])}"
    return (f"spread evenly over the speech {number(found['median_null'])}{every}; {found['n_words_scored']} of "
            f"{found['n_words_spoken']} words scored")


def _control_bigram(found: dict[str, Any]) -> str:
    judged = [(p.strip(), v) for p, v in found["prompts"].items() if v["judged"]]
    return "; ".join(f"{p} {len(v['found'])} of {len(v['expected'])}" for p, v in judged)


def _control_bigram_general(found: dict[str, Any]) -> str:
    return f"after other prompts {number(found['baseline_share'])}"


def _control_semantic(found: dict[str, Any]) -> str:
    rates = [f"{c} {number(found[c]['padding']['base_rate_types'])}" for c in ("food", "numbers", "motion")]
    return "base rates " + ", ".join(rates)


def _control_semantic_real(found: dict[str, Any]) -> str:
    judged = found["conditions"]["model transcripts"]
    cells = [f"{c} {number(judged[c]['direction_auroc'])}" if "direction_auroc" in judged[c] else f"{c} —"
             for c in ("food", "numbers", "motion")]
    words = ", ".join(f"{c} {len(judged[c]['words'])}" for c in ("food", "numbers", "motion"))
    return f"directions' AUROC {', '.join(cells)}; words {words}"


CONTROLS: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "dec-embed-sound": ("the same test on raw cosines; rhyme pairs with trained rows judged", _control_embed),
    "dec-embed-semantic": ("AUC over crossed pairs; the same test on raw cosines; pairs with trained rows judged",
                           _control_embed_semantic),
    "enc-relevance-local": ("m(50) of uniform attention", _control_relevance),
    "enc-end-sink": ("end share of uniform attention", _control_end_sink),
    "enc-end-sink-every-row": ("the share over the first 175 post-speech rows", _control_every_row),
    "enc-window-k75": ("recall unmasked", _control_window),
    "enc-window-narrow": ("the transcript at k = 10", _control_narrow),
    "enc-chop-start": ("the same chop inside the padding", _control_chop),
    "enc-chop-start-keeps": ("the words lost", _control_lost),
    "enc-chop-start-adds-none": ("the words put in", _control_inserted),
    "enc-chop-mid": ("the same chop inside the padding", _control_chop),
    "enc-chop-mid-keeps": ("the words lost", _control_lost),
    "enc-chop-mid-adds-none": ("the words put in", _control_inserted),
    **{claim: ("clips meeting every bar on their own", _control_general) for claim in GENERAL},
    "enc-chop-word": ("words scored; a chop inside the padding", _control_word_chop),
    "enc-chop-word-keeps": ("words scored; a chop inside the padding", _control_word_chop),
    "enc-chop-word-adds-none": ("words scored; a chop inside the padding", _control_word_chop),
    "enc-neuron-phoneme": ("random orthogonal directions of the layer", _control_neurons),
    "enc-sae-phoneme": ("the residual stream's own dimensions", _control_sae),
    "enc-polysemantic": ("the neurons found; directions of a random basis", _control_polysemantic),
    "enc-neuron-phoneme-real": ("random orthogonal directions of the layer", _control_neurons),
    "enc-polysemantic-real": ("the neurons found; directions of a random basis", _control_polysemantic),
    "dec-bigram-general": ("the same continuations' share after the other prompts", _control_bigram_general),
    "dec-bigram": ("continuations found per prompt", _control_bigram),
    "dec-neuron-semantic": ("each category's share of token types", _control_semantic),
    "dec-neuron-semantic-real": ("the written corpus' best random direction's AUROC on the same types; distinct "
                                 "category words in the model's transcripts", _control_semantic_real),
    "dec-cross-attention-window": ("the window's share of attention spread evenly over the speech (median); every "
                                   "head's mass; words scored", _control_cross_attention),
}


def key_metrics(report: MergedReport) -> list[str]:
    """Per claim and model the verdict with its shown metric, and beside it the control or detail of
    the same run that the claim is read against (`CONTROLS`)."""
    models = judged_models(report)
    rows = []
    for claim_id, claim in report.claims.items():
        label, control = CONTROLS.get(claim_id, ("", None))
        cells = []
        for model in models:
            row = report.row(claim_id, model)
            found = evidence(report, claim_id, model)
            cell = verdict_cell(row, claim["key_metric"])
            if control is not None and found and row.status != "error":  # an error's evidence is not a verdict's
                cell += f"; {control(found)}"
            cells.append(cell)
        rows.append([code(claim_id, cell=True), text(label) or "—", *cells])
    return table(["claim", "beside the metric", *[code(m) for m in models]], rows)


def embed_sound(report: MergedReport) -> list[str]:
    """dec-embed-sound: the rhyme test centred and raw, the rows' common component, and the nearest
    tokens of the four query words."""
    rows = []
    for model in judged_models(report):
        found = evidence(report, "dec-embed-sound", model)
        if not found:
            continue
        rhyme, near = found["rhyme"], found["neighbours"]
        status_text = status(report.row("dec-embed-sound", model))
        rug = ", ".join(f"{text(n['token'].strip())} {short(n['cosine'])}" for n in near["centred"][" rug"][:5])
        raw = ", ".join(f"{code(n['token'], cell=True)} {short(n['cosine'])}" for n in near["raw"][" rug"][:3])
        first = ", ".join(f"{text(q.strip())} → {text(ns[0]['token'].strip())} {short(ns[0]['cosine'])}"
                          for q, ns in near["centred"].items() if q != " rug" and ns and ns[0]["cosine"])
        if not near["centred"][" rug"][0]["cosine"]:  # an untrained (zero) row has no neighbours
            rug = raw = "untrained row"
        eye = found.get("eye_rhyme", {}).get("centred", {})
        rows.append([code(model), f"{number(rhyme['centred']['p_value'])} **{status_text}**",
                     number(rhyme["raw"]["p_value"]), number(rhyme["centred"].get("mann_whitney_p")),
                     f"{number(rhyme['centred'].get('auc'))} / {number(eye.get('auc'))}", rhyme_pairs(rhyme),
                     f"{short(found['mean_text_row_norm'])} / {short(found['mean_row_norm'])}", rug, raw, first])
    return table(["", "rhyme p, centred (the metric)", "rhyme p, raw", "Mann–Whitney p, centred (before #30)",
                  "AUC over crossed pairs: rhymes / eye-rhymes", "rhyme pairs judged",
                  "norm of the mean text row / mean row norm", "' rug', centred: top 5", "' rug', raw: top 3",
                  "nearest, centred"], rows)


def hot_ones_relevance(report: MergedReport) -> list[str]:
    """The relevance claims on their clip: the m(w) curve, the end share and the rows peaking at the end."""
    rows = []
    for model in judged_models(report):
        local = evidence(report, "enc-relevance-local", model)
        sink = evidence(report, "enc-end-sink", model)
        if not local or not sink:
            continue
        end = sink["end_of_speech"]
        curve = " ".join(short(local["median_band_mass_by_w"][w]) for w in WINDOWS)
        rows.append([code(model), text(local["clip"]), curve,
                     number(local["uniform_band_mass_by_w"]["50"]),
                     f"{number(end['median_end_share'])} (uniform {number(sink['uniform_share'])})",
                     f"{number(end['end_peak_share'])}; {number(end['end_peak_share_first_175_rows'])}",
                     f"frame {end['end_frame']} ({text(end['method'])}); "
                     f"{' / '.join(number(q) for q in end['peak_column_quartiles'])}"])
    return table(["", "clip", f"m(w), w = {', '.join(WINDOWS)}", "m(50) of uniform attention",
                  "end share, median over post-speech rows", "rows peaking within ±25 of the end (all; first 175)",
                  "end of speech; quartiles of the rows' peak columns"], rows)


def hot_ones_transcripts(report: MergedReport) -> list[str]:
    """The window and chop claims on their clip: words per window k, recall at k = 75, each chop's target
    (word by word), the words lost and put in, and how many neighbour chops keep the target."""
    rows = []
    for model in judged_models(report):
        window = evidence(report, "enc-window-k75", model)
        start = evidence(report, "enc-chop-start", model)
        mid = evidence(report, "enc-chop-mid", model)
        if not window or not start or not mid:
            continue
        chops = [f"{text(c['target'])} ({c['chop_frames'][0]}–{c['chop_frames'][1]}): "
                 f"{_target_fate(c)}; lost {words(c['lost'])}; put in {words(c['inserted'])}; neighbour chops "
                 f"{', '.join(f'{a}–{b}' for a, b in c['neighbour_frames'])} keep it: "
                 f"{sum(c['neighbour_chops_keeping_target'])} of {len(c['neighbour_chops_keeping_target'])}"
                 for c in (start, mid)]
        rows.append([code(model), " ".join(str(window["words"][k]) for k in KS),
                     " ".join(short(window["recall"][k]) for k in KS), *chops])
    return table(["", f"words, k = {', '.join(KS)}", "recall of the words spoken, same k", "start chop",
                  "middle chop"], rows)


def _target_fate(chop: dict[str, Any]) -> str:
    """What the chop did to its target, word by word (#30): removed, or which of its words stayed."""
    if not chop["target_in_full"]:
        return "not in the full transcript"
    kept = chop["target_words_kept"]
    return "removed" if not kept else f"not removed (kept {words(kept)})"


def general_claims(report: MergedReport) -> list[str]:
    """The claims over a clip set: the median's verdict (with its interval), the quartiles of the key metric,
    the clips that meet every bar on their own, and the independent units the interval resampled."""
    models = judged_models(report)
    rows = []
    for claim_id in GENERAL:
        claim = report.claims[claim_id]
        cells = []
        for model in models:
            found = evidence(report, claim_id, model)
            cell = verdict_cell(report.row(claim_id, model), claim["key_metric"])
            if found:
                quartiles = found["quartiles"][claim["key_metric"]]
                cell += (f" (quartiles {short(quartiles[0])}–{short(quartiles[2])}); "
                         f"{clips_meeting(found, found['share_of_clips_meeting_every_threshold'])} clips"
                         + (f" in {found['n_clusters']} units" if "n_clusters" in found else ""))
            cells.append(cell)
        rows.append([code(claim_id, cell=True), *cells])
    return table(["median over the clips; clips meeting every bar", *[code(m) for m in models]], rows)


def end_per_clip(report: MergedReport) -> list[str]:
    """The share of post-speech rows peaking at the end, per clip, with the end where the clip's speech
    stops (its alignment, word events or signal energy) and where its audio does."""
    models = [m for m in judged_models(report) if evidence(report, "enc-end-sink-every-row-general", m)]
    per_model = {m: {c["clip"]: c for c in evidence(report, "enc-end-sink-every-row-general", m)["per_clip"]}
                 for m in models}
    clips = list(dict.fromkeys(c for m in models for c in per_model[m]))
    rows = []
    for clip in clips:
        cells = []
        for model in models:
            c = per_model[model].get(clip)
            cells.append("—" if c is None else f"{c['speech_end_frame']}, {c['audio_end_frame']}: "
                         f"{short(c['end_peak_share'])}, {short(c['end_peak_share_at_audio_end'])}")
        methods = {c["speech_end_method"].split(" ")[0] for m in models
                   for name, c in per_model[m].items() if name == clip}
        rows.append([code(clip, cell=True), text(", ".join(sorted(methods))), *cells])
    return table(["clip", "end of speech from",
                  *[f"{code(m)}: end frames (speech, audio): shares" for m in models]], rows)


def metric_value(report: MergedReport, claim: str, model: str, name: str) -> Any:
    """A metric's measured value, None when the row or the metric is missing."""
    row = report.row(claim, model)
    return ((row.data.get("metrics") or {}).get(name) or {}).get("value") if row is not None else None


def metric_interval(report: MergedReport, claim: str, model: str, name: str) -> tuple[float, float] | None:
    """A metric's interval ``(low, high)``, None when it has none."""
    row = report.row(claim, model)
    found = ((row.data.get("metrics") or {}).get(name) or {}).get("interval") if row is not None else None
    return (found["low"], found["high"]) if found else None


def word_chops(report: MergedReport) -> list[str]:
    """enc-chop-word*: the shares of scored words removed, kept and clean, overall and per source."""
    rows = []
    for model in judged_models(report):
        found = evidence(report, "enc-chop-word", model)
        if not found:
            continue
        shares = [metric_value(report, "enc-chop-word", model, "removed_share"),
                  metric_value(report, "enc-chop-word-keeps", model, "kept_share"),
                  metric_value(report, "enc-chop-word-adds-none", model, "clean_share")]
        rows.append([f"{code(model)}, all", f"{found['n_words_scored']} of {found['n_words_spoken']} "
                                            f"in {found['n_clips_with_scored_words']} clips",
                     *[number(v) for v in shares], number(found["neighbour_removed_share"]),
                     number(found["specific_share"]), number(found["precise_share"]), number(found["mean_lost_words"]),
                     number(found["mean_inserted_words"]), number(found["control_changed_share"])])
        for source, part in found["by_source"].items():
            if part["words"]:
                rows.append([f"{code(model)}, {source}", str(part["words"]), number(part["removed"]),
                             number(part["kept"]), number(part["clean"]), "", "", "", "", "", ""])
    return table(["", "scored words", "removed", "rest kept (≤ 1 lost)", "nothing put in",
                  "removed by a neighbour chop", "removed by its own chop only", "all three",
                  "other words lost, mean", "words put in, mean", "control chop changed the transcript"], rows)


def attention_distance(report: MergedReport) -> list[str]:
    """How far each encoder layer's heads attend on the speech frames (enc-relevance-local's evidence)."""
    rows = []
    for model in judged_models(report):
        found = evidence(report, "enc-relevance-local", model).get("attention_distance")
        if not found:
            continue
        heads = len(found["mean_distance"][0])
        near = found["heads_mostly_within_10"]
        spans = [f"{min(layer):.0f}–{max(layer):.0f}" for layer in found["mean_distance"]]
        far = max((d, layer, head) for layer, ds in enumerate(found["mean_distance"]) for head, d in enumerate(ds))
        beyond = sum(d > 200 for ds in found["mean_distance"] for d in ds)
        rows.append([code(model), f"{', '.join(map(str, near))} (of {heads})", f"{sum(near)} of {heads * len(near)}",
                     ", ".join(spans), str(beyond), f"layer {far[1]} head {far[2]}: {far[0]:.0f}"])
    return table(["", "heads with half their attention within ±10 frames, per layer", "of all heads",
                  "mean distance per layer, nearest–farthest head (frames)", "heads beyond 200 frames",
                  "farthest head"], rows)


PHONETIC_CORPORA = (("espeak-ng", ""), ("real speech", "-real"))  # the claims' two corpora: id suffix


def phonetic(report: MergedReport) -> list[str]:
    """enc-neuron-phoneme and enc-polysemantic, on espeak-ng and on real speech (their -real twins), against
    the directions of random bases of the layer."""
    rows = []
    for model in judged_models(report):
        for corpus, suffix in PHONETIC_CORPORA:
            neuron_id, poly_id = f"enc-neuron-phoneme{suffix}", f"enc-polysemantic{suffix}"
            neurons, poly = evidence(report, neuron_id, model), evidence(report, poly_id, model)
            if not neurons or not poly:
                continue
            focus = metric_value(report, poly_id, model, "focus_top_and_below")
            rows.append([code(model), corpus, f"{number(metric_value(report, neuron_id, model, 'selective_fraction'))}"
                         f" **{status(report.row(neuron_id, model))}**",
                         number(neurons["random_basis_selective_fraction"]),
                         f"{', '.join(map(str, poly['polysemantic'])) or 'none'} **{status(report.row(poly_id, model))}**",
                         f"{', '.join(map(str, poly['random_basis_polysemantic'])) or 'none'}; median count of "
                         f"{poly['random_bases']['n_bases']} bases {number(poly['random_bases']['median'])}",
                         "—" if focus is None or focus != focus else ("met" if focus else "not met")])
    return table(["", "corpus", "neurons 0–49 selective", "random-basis directions selective (median of the bases)",
                  "polysemantic neurons", "polysemantic random-basis directions (first basis; median count)",
                  "neuron 3: K at the top, G below"], rows)


def sae_lines(report: MergedReport) -> list[str]:
    """enc-sae-phoneme per model: the judged SAE's sparsity, faithfulness and recurrence, or why none was
    judged."""
    out = []
    for model in judged_models(report):
        row = report.row("enc-sae-phoneme", model)
        found = evidence(report, "enc-sae-phoneme", model)
        if row is None or row.status == "skipped":
            continue
        if row.status == "error" or not found.get("sae"):
            reason = row.data["reason"].split(FRONTIER_SENTENCE)[0]  # the frontier: its table, below
            out.append(f"- {code(model)}, {status(row)}: {text(reason)}")
            out += frontier_lines(found.get("frontier"))
            continue
        sae, recur = found["sae"], found["sae"]["recurring_features"]
        out.append(f"- {code(model)}, {status(row)}: held-out mean L0 {number(sae['mean_l0'])} of "
                   f"{sae['n_features']} features ({number(100 * sae['mean_l0'] / sae['n_features'])}%), explained "
                   f"variance {number(sae['explained_variance'])}, dead features {sae['dead_features']}; l1 "
                   f"{number(sae['l1'])} (l1_shrink {number(sae['l1_shrink'])}, mean frame norm "
                   f"{number(sae['mean_frame_norm'])}); {recur['recurring']} of {recur['of']} features recur across "
                   f"{recur['n_saes']} seeds (cosine ≥ {number(recur['min_cosine'])}; median best cosine "
                   f"{' / '.join(number(c) for c in recur['median_best_cosine'])}); selective share of its "
                   f"features {number(metric_value(report, 'enc-sae-phoneme', model, 'sae_selective_fraction'))}, "
                   f"of the residual stream's dimensions {number(found['residual_basis_selective_fraction'])}")
    return out


def frontier_lines(frontier: dict[str, Any] | None) -> list[str]:
    """The SAE recipes recorded for a model (benchmarks/sae_sweep.py), as the claim's evidence holds them: a
    table, indented under the model's line."""
    if not frontier:
        return []
    bars = frontier["bars"]

    def recovered(row: dict[str, Any]) -> str:
        if row["wer_recovered"] is None:
            return "—"
        interval = row["wer_recovered_interval"]
        return number(row["wer_recovered"]) + ("" if not interval else
                                               f" [{number(interval[0])}, {number(interval[1])}]")

    rows = [[code(row["layer"], cell=True), text(row["recipe"]), number(row["mean_l0"]),
             number(row["explained_variance"]), recovered(row),
             "—" if row["selective"] is None else number(row["selective"]), "yes" if row["qualifies"] else "no"]
            for row in frontier["rows"]]
    lines = [f"The recorded frontier ({frontier['n_recipes']} recipes, {text(frontier['record'])}); the bars: L0 ≤ "
             f"{number(bars['max_l0'])}, explained variance ≥ {number(bars['min_explained_variance'])}, WER recovered ≥ "
             f"{number(bars['min_wer_recovered'])}; closest: {text(frontier['closest'] or 'none')}", "",
             *table(["layer", "recipe", "L0", "explained variance", "WER recovered [95%]", "selective share",
                     "meets every bar"], rows)]
    return [""] + ["  " + line if line else "" for line in lines] + [""]


def real_speech(report: MergedReport) -> list[str]:
    """The synthetic selectivity checked on the aligned recordings: per unit set and model, the median
    Spearman ρ and the share of units with ρ > 0 at p < 0.05."""
    models = judged_models(report)
    sources = [evidence(report, "enc-neuron-phoneme", m).get("real_speech") for m in models]
    first = next((s for s in sources if s), None)
    if first is None:
        return ["No record has real-speech evidence."]

    def pair(found: dict[str, Any] | None) -> str:
        return "—" if not found else f"{number(found['median_rho'])}, {number(found['share_positive_p05'])}"

    def units(model: str) -> str:
        found = evidence(report, "enc-polysemantic", model).get("real_speech")
        if not found:
            return status(report.row("enc-polysemantic", model))
        return "; ".join(f"{u['unit']}: {number(u['rho'])} (p {number(u['p_value'])}; {' '.join(u['real_top'])})"
                         for u in found["units"]) or "none"

    def sae(model: str) -> str:
        found = evidence(report, "enc-sae-phoneme", model).get("real_speech")
        return pair(found) if found else status(report.row("enc-sae-phoneme", model))

    transfers = [evidence(report, "enc-neuron-phoneme-real", m).get("espeak_transfer") for m in models]
    corpus = next((t for t in transfers if t), None)
    out = [f"On the reference recordings ({len(first['recordings'])} recordings, {first['speech_frames']} speech "
           f"frames, {first['n_phonemes']} phonemes with at least {first['min_frames']} frames in both corpora)"
           + ("" if corpus is None else
              f", and on the real-speech corpus of the `-real` claims ({corpus['speech_frames']} speech frames, "
              f"{corpus['n_phonemes']} phonemes with at least {corpus['min_frames']} frames in both corpora)") + ":",
           ""]
    rows = [["neurons 0–49 of `blocks.2.mlp.1` (enc-neuron-phoneme)", *[pair(s) for s in sources]],
            ["50 random-basis directions of the same layer", *[pair((s or {}).get("random_basis")) for s in sources]]]
    if corpus is not None:
        rows += [["neurons 0–49, real-speech corpus (enc-neuron-phoneme-real)", *[pair(t) for t in transfers]],
                 ["50 random-basis directions, real-speech corpus", *[pair((t or {}).get("random_basis"))
                                                                       for t in transfers]]]
    return out + table(["units", *[f"{code(m)}: median ρ, share ρ > 0 (p < .05)" for m in models]], rows + [
        ["polysemantic neurons (enc-polysemantic): unit: ρ (p; top 3 on the recordings)", *[units(m) for m in models]],
        ["SAE features (enc-sae-phoneme)", *[sae(m) for m in models]]])


def bigram_general(report: MergedReport) -> list[str]:
    """dec-bigram-general: the share of prompts continued, the same continuations after other prompts,
    the prompts not continued."""
    rows = []
    for model in judged_models(report):
        found = evidence(report, "dec-bigram-general", model)
        if not found:
            continue
        continued = sum(p["followed"] for p in found["pairs"])
        rows.append([code(model), f"{number(metric_value(report, 'dec-bigram-general', model, 'continuation_share'))} "
                     f"({continued} of {found['n_pairs']}) **{status(report.row('dec-bigram-general', model))}**",
                     number(found["baseline_share"]),
                     number(metric_value(report, "dec-bigram-general", model, "lift_over_other_prompts")),
                     ", ".join(text(p.strip()) for p in found["missed"]) if len(found["missed"]) <= 20
                     else f"{len(found['missed'])} prompts"])
    return table(["", "prompts continued", "the same continuations after other prompts", "lift",
                  "not continued"], rows)


def decoder_neurons(report: MergedReport) -> list[str]:
    """dec-neuron-semantic per category: the best neuron and its share, the category's base rate, and the
    rank of the post's neuron."""
    rows = []
    for model in judged_models(report):
        found = evidence(report, "dec-neuron-semantic", model)
        if not found:
            continue
        cells = []
        for category in ("food", "numbers", "motion"):
            c = found[category]["padding"]
            post = c["expected_neuron"]
            cells.append(f"neuron {c['best_neuron']}: {number(c['share'])} (base rate {short(c['base_rate_types'])});"
                         f" the post's {post['neuron']}: rank {post['rank']}")
        rows.append([code(model), *cells])
    return table(["", "food", "numbers", "motion"], rows)


def _words(n: int) -> str:
    return f"{n} word" if n == 1 else f"{n} words"


def decoder_neurons_real(report: MergedReport) -> list[str]:
    """dec-neuron-semantic-real per model and category: the written corpus' neuron, its AUROC on the real
    recordings teacher-forced with the model's transcripts (the verdict's) and with the references, and the
    category's words."""
    rows = []
    for model in judged_models(report):
        found = evidence(report, "dec-neuron-semantic-real", model)
        if not found:
            continue
        cells = []
        for category in ("food", "numbers", "motion"):
            judged = found["conditions"]["model transcripts"][category]
            reference = found["conditions"]["reference transcripts"][category]
            value = metric_value(report, "dec-neuron-semantic-real", model, f"{category}_auroc_real")
            interval = metric_interval(report, "dec-neuron-semantic-real", model, f"{category}_auroc_real")
            shown = "no value" if value is None else number(value)
            if value is not None and interval:
                shown += f" [{number(interval[0])}, {number(interval[1])}]"
            on_reference = "—" if "auroc" not in reference else number(reference["auroc"][0])
            cells.append(f"neuron {judged['neuron']}: {shown}, {_words(len(judged['words']))}; "
                         f"references {on_reference}, {_words(len(reference['words']))}")
        rows.append([code(model), *cells])
    return table(["", "food", "numbers", "motion"], rows)


# ---- micro.md ---------------------------------------------------------------------------------------------

MICRO = "micro"


def frames(span: list[int], dash: str) -> str:
    """``150–196``: a chop's frames as its transcript's label (``-``) or the docs (``–``) write them."""
    return f"{span[0]}{dash}{span[1]}"


def micro_findings(report: MergedReport) -> list[str]:
    """What micro's record says on the claims micro.md discusses."""
    def found(claim: str) -> dict[str, Any]:
        return evidence(report, claim, MICRO)

    local, window, start, mid, sink = (found(c) for c in ("enc-relevance-local", "enc-window-k75", "enc-chop-start",
                                                            "enc-chop-mid", "enc-end-sink"))
    if not (local and window and start and mid and sink):
        return [f"No record of {code(MICRO)} with this evidence."]
    chops, sae = found("enc-chop-word"), found("enc-sae-phoneme").get("sae") or {}
    poly, semantic = found("enc-polysemantic"), found("dec-neuron-semantic")
    rhyme = found("dec-embed-sound").get("rhyme")
    end = sink["end_of_speech"]
    rows = [
        ["enc-relevance-local", f"m(50) {number(local['median_band_mass_by_w']['50'])} "
                                f"(uniform attention {number(local['uniform_band_mass_by_w']['50'])})"],
        ["enc-window-k75", f"at k = 75: \"{text(window['transcripts']['k=75'])}\"; recall of the "
                           f"{len(window['reference'].split())} words spoken {number(window['recall']['75'])}; "
                           "k = 1500 reproduces the full transcript: "
                           f"{'yes' if window['widest_window_reproduces_full'] else 'no'}"],
        *[[claim, f"control chop {frames(c['control_frames'], '–')}: \"{text(c['transcripts']['full'])}\" → "
                                f"\"{text(c['transcripts']['control chop ' + frames(c['control_frames'], '-')])}\""]
          for claim, c in (("enc-chop-start", start), ("enc-chop-mid", mid))],
        ["enc-chop-start", f"\"{text(start['transcripts']['chop ' + frames(start['chop_frames'], '-')])}\": "
                           f"lost {words(start['lost'])}, put in {words(start['inserted'])}"],
        ["enc-end-sink", f"end share {number(end['median_end_share'])} "
                         f"(uniform attention {number(sink['uniform_share'])});"
                         f" rows peaking at the end {number(end['end_peak_share'])}"],
    ]
    if chops:
        rows.append(["enc-chop-word*", f"{chops['n_words_scored']} of {chops['n_words_spoken']} words scored: removed "
                     f"{number(metric_value(report, 'enc-chop-word', MICRO, 'removed_share'))}, rest kept "
                     f"{number(metric_value(report, 'enc-chop-word-keeps', MICRO, 'kept_share'))}, nothing put in "
                     f"{number(metric_value(report, 'enc-chop-word-adds-none', MICRO, 'clean_share'))}; the control "
                     f"chop at frame {chops['control_start']} changed {number(chops['control_changed_share'])}"])
    if poly:
        rows.append(["enc-polysemantic", f"neurons {', '.join(map(str, poly['polysemantic'])) or 'none'}; random "
                     f"bases' median count {number(poly['random_bases']['median'])}"])
    if sae:
        recur = sae["recurring_features"]
        rows.append(["enc-sae-phoneme", f"L0 {number(100 * sae['mean_l0'] / sae['n_features'])}% of "
                     f"{sae['n_features']} "
                     f"features, explained variance {number(sae['explained_variance'])}; {recur['recurring']} of "
                     f"{recur['of']} features recur across {recur['n_saes']} seeds (median best cosine "
                     f"{' / '.join(number(c) for c in recur['median_best_cosine'])}); selective "
                     f"{number(metric_value(report, 'enc-sae-phoneme', MICRO, 'sae_selective_fraction'))}, residual "
                     f"dimensions {number(found('enc-sae-phoneme')['residual_basis_selective_fraction'])}"])
    if rhyme:
        rows.append(["dec-embed-sound", f"{rhyme_pairs(rhyme)} rhyme pairs judged (the others are untrained rows), "
                     f"p {number(rhyme['centred']['p_value'])}"])
    elif report.row("dec-embed-sound", MICRO) is not None:
        sound = report.row("dec-embed-sound", MICRO)
        rows.append(["dec-embed-sound", f"{status(sound)}: {text(sound.data.get('reason', ''))}"])
    related = found("dec-embed-semantic")
    if related:
        rows.append(["dec-embed-semantic", f"{related['n_pairs']} related pairs judged (the others are untrained "
                     f"rows), p {number(related['centred']['p_value'])}, AUC {number(related['centred']['auc'])}"])
    if semantic:
        rows.append(["dec-neuron-semantic", ", ".join(f"{c} {number(semantic[c]['padding']['share'])}"
                                                      for c in ("food", "numbers", "motion"))])
    return table(["claim", f"{code(MICRO)}'s record"], [[code(c, cell=True), v] for c, v in rows])


# ---- README.md, from claims/thresholds.toml ------------------------------------------------------------------

def fixed_after_real(registry: dict[str, ClaimSpec]) -> list[str]:
    """The thresholds whose ``fixed`` says after real measurement, grouped by when and why (one row per
    commit and note), with how many of all the thresholds they are."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    n_metrics = 0
    for claim_id, spec in registry.items():
        for name, metric in spec.metrics.items():
            n_metrics += 1
            if metric.fixed is not None and metric.fixed.after_real:
                fixed = metric.fixed
                needs = f"{COMPARATORS.get(metric.comparator, metric.comparator)} {number(metric.threshold)}"
                groups.setdefault((fixed.commit, fixed.date, fixed.note), []).append(
                    f"{code(claim_id, cell=True)} {code(name, cell=True)} {needs}")
    n_after = sum(len(metrics) for metrics in groups.values())
    lines = [f"{n_after} of the {n_metrics} thresholds were fixed after a real checkpoint had been measured "
             f"(tiny.en and base, first on {FIRST_REAL_MEASUREMENT.isoformat()}):", ""]
    rows = [[f"{code(commit, cell=True)}, {date}", "<br>".join(metrics), text(note) if note else ""]
            for (commit, date, note), metrics in groups.items()]
    return lines + table(["fixed at", "claim, metric and threshold", "what changed then"], rows)


README_BLOCKS: dict[str, Callable[[dict[str, ClaimSpec]], list[str]]] = {
    "thresholds-fixed-after-real": fixed_after_real,
}


BLOCKS: dict[str, dict[str, Callable[[MergedReport], list[str]]]] = {
    "docs/methods.md": {
        "key-metrics": key_metrics,
        "dec-embed-sound": embed_sound,
        "hot-ones-relevance": hot_ones_relevance,
        "hot-ones-transcripts": hot_ones_transcripts,
        "general-claims": general_claims,
        "end-per-clip": end_per_clip,
        "word-chops": word_chops,
        "attention-distance": attention_distance,
        "phonetic": phonetic,
        "sae": sae_lines,
        "real-speech": real_speech,
        "bigram-general": bigram_general,
        "decoder-neurons": decoder_neurons,
        "decoder-neurons-real": decoder_neurons_real,
    },
    "docs/micro.md": {"micro-findings": micro_findings},
}
