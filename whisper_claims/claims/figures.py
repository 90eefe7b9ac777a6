"""Figures drawn from a claim's artifacts when a report is written (matplotlib, the optional 'report' extra).

Each artifact kind has one drawing function; a claim names its artifacts in ``Measurement.artifacts``
and gets the matching figures without code here knowing the claim.
"""
from __future__ import annotations

import importlib.util
import textwrap
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..files import atomic_path, safe_name
from ..measure.listening import export_units
from .verdict import AUDIO, FIGURES, FIGURES_NOTE, Measurement

FIGURE_DIR = "figures"
KIND_PART = "--"  # an artifact kind "<drawer>--<part>" is drawn by <drawer>, once per part


def matplotlib_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def with_figures(measured: Measurement, claim: str, model: str, report_dir: Path) -> Measurement:
    """The measurement with its artifacts drawn under ``report_dir`` and listed in the evidence."""
    if not measured.artifacts:
        return measured
    if not matplotlib_available():
        note = "no figures: matplotlib is not installed (pip install 'whisper-claims[report]')"
        return replace(measured, evidence={**measured.evidence, FIGURES_NOTE: note})
    try:
        figures = draw_figures(claim, model, measured.artifacts, report_dir)
        audio = [entry for kind, data in measured.artifacts.items() if kind.startswith("listening") and data
                 for entry in listening_examples(claim, model, data, report_dir, kind)]
    except OSError as error:  # a full disk loses the drawings, never the measurement
        where = error.filename or report_dir
        note = f"no figures or audio: {where} could not be written ({error.strerror or error})"
        return replace(measured, evidence={**measured.evidence, FIGURES_NOTE: note})
    evidence = {**measured.evidence, FIGURES: figures}
    if audio:
        evidence[AUDIO] = audio
    return replace(measured, evidence=evidence)


def draw_figures(claim: str, model: str, artifacts: dict[str, Any], report_dir: Path) -> list[dict[str, str]]:
    """Draw every artifact that has a drawing function into ``report_dir/figures/``.

    Returns
    -------
    list of dict
        ``{"path": path relative to report_dir, "caption": str}`` per figure, in artifact order.
        Empty when matplotlib is not installed.
    """
    if not artifacts or not matplotlib_available():
        return []
    import matplotlib

    matplotlib.use("Agg", force=True)  # files only; no display here or in CI
    figures = []
    for kind, data in artifacts.items():
        draw = DRAWERS.get(kind.split(KIND_PART)[0])  # "sae_frontier--encoder.blocks.3": one figure per layer
        if draw is None:
            continue
        relative = Path(FIGURE_DIR) / f"{safe_name(claim)}--{safe_name(model)}--{kind}.png"
        try:
            caption = draw(data, report_dir / relative, f"{claim} on {model}")
        except OSError as error:
            raise OSError(error.errno, error.strerror or str(error), str(report_dir / relative)) from error
        figures.append({"path": relative.as_posix(), "caption": caption})
    return figures


def _save(figure, path: Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp, warnings.catch_warnings():
        # transcripts of random models hold any script; a missing glyph is drawn as a box, not an error
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        # no Software/date metadata: the same run gives the same bytes
        figure.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(figure)


def relevance_map(data: dict[str, Any], path: Path, title: str) -> str:
    import matplotlib.pyplot as plt

    r = np.asarray(data["map"], dtype=np.float64)
    figure, ax = plt.subplots(figsize=(6.4, 5.6))
    vmax = float(np.quantile(r, 0.999)) or 1.0  # a few large entries would hide the band otherwise
    image = ax.imshow(r, cmap="viridis", vmin=0, vmax=vmax, origin="upper", interpolation="nearest")
    end = data.get("speech_end")
    if end is not None and end < r.shape[0]:
        ax.axvline(end, color="white", lw=0.6, ls="--")
        ax.axhline(end, color="white", lw=0.6, ls="--")
    ax.set_xlabel("source frame j (20 ms)")
    ax.set_ylabel("destination frame i")
    ax.set_title(f"relevance R − I, frames 0–{r.shape[0]}\n{title}", fontsize=9)
    figure.colorbar(image, ax=ax, shrink=0.8)
    figure.tight_layout()
    _save(figure, path)
    return f"Relevance R − I over frames 0–{r.shape[0]} (dashed: end of speech), like the post's heatmap."


def _curves(path: Path, title: str, x: list, series: list[tuple[list, str, str]], xlabel: str,
            ylabel: str = "", reverse_x: bool = False) -> None:
    """Lines over a log x axis: ``series`` is ``(y, style, label)`` per line."""
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(6.0, 3.6))
    for y, style, label in series:
        ax.plot(x, y, style, label=label)
    ax.set_xscale("log")
    if reverse_x:
        ax.invert_xaxis()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    figure.tight_layout()
    _save(figure, path)


def head_distance(data: dict[str, Any], path: Path, title: str) -> str:
    """``encoder_claims.attention_distance``: per layer (rows) and head (columns), the attention-weighted
    mean distance and the share within the smallest ±k, numbers written in the cells."""
    import matplotlib.pyplot as plt

    k = min(data["share_within"], key=int)
    panels = [(np.asarray(data["mean_distance"], dtype=np.float64), "mean |i − j| (frames)", "magma_r", "{:.0f}"),
              (np.asarray(data["share_within"][k], dtype=np.float64), f"share within ±{k} frames", "viridis", "{:.2f}")]
    n_layers, n_heads = panels[0][0].shape
    figure, axes = plt.subplots(1, 2, figsize=(2.0 + 1.2 * n_heads, 1.2 + 0.5 * n_layers))
    for ax, (values, label, cmap, fmt) in zip(axes, panels):
        image = ax.imshow(values, cmap=cmap, aspect="auto")
        for (i, j), v in np.ndenumerate(values):
            red, green, blue, _ = image.cmap(image.norm(v))
            dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5  # text readable on its own cell
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7, color="white" if dark else "black")
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        ax.set_title(label, fontsize=9)
        figure.colorbar(image, ax=ax, shrink=0.8)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    _save(figure, path)
    return (f"How far each encoder layer and head attends on the speech frames ({data['rows']} rows): "
            f"attention-weighted mean distance, and the share of attention within ±{k} frames.")


def band_mass_curve(data: dict[str, Any], path: Path, title: str) -> str:
    _curves(path, title, data["w"], [(data["median"], "o-", "measured median m(w)"),
                                     (data["uniform"], "s--", "uniform attention")],
            "band half-width w (frames)", "share of relevance within ±w")
    return "Median share of each speech frame's relevance within ±w frames, against uniform attention."


def recall_curve(data: dict[str, Any], path: Path, title: str) -> str:
    _curves(path, title, data["k"], [(data["recall"], "o-", "word recall of the words spoken"),
                                     (data["wer"], "s--", "WER against the words spoken")],
            "attention window k (frames either side)", reverse_x=True)
    return "Transcript quality as the encoder's attention window k shrinks."


def transcripts(data: dict[str, str], path: Path, title: str) -> str:
    import matplotlib.pyplot as plt

    lines = []
    for label, text in data.items():
        wrapped = textwrap.wrap(text or "(empty)", 80, max_lines=4, placeholder=" …") or ["(empty)"]
        lines += [(label, True)] + [(line, False) for line in wrapped] + [("", False)]
    figure = plt.figure(figsize=(8.0, 0.25 * len(lines) + 0.6))
    figure.suptitle(title, fontsize=9)
    for n, (line, bold) in enumerate(lines):
        figure.text(0.02, 1 - (n + 2) / (len(lines) + 2), line, fontsize=8,
                    family="monospace", weight="bold" if bold else "normal")
    _save(figure, path)
    return "Transcripts side by side (first lines of each)."


def clip_values(data: dict[str, Any], path: Path, title: str) -> str:
    """One panel per metric: each clip's value as a bar, the median over clips as a line."""
    import matplotlib.pyplot as plt

    clips, metrics = data["clips"], data["metrics"]
    figure, axes = plt.subplots(1, len(metrics), figsize=(4.0 * len(metrics) + 1.5, 0.22 * len(clips) + 1.2),
                                squeeze=False, sharey=True)
    for ax, (name, values) in zip(axes[0], metrics.items()):
        finite = [v for v in values if v is not None and np.isfinite(v)]
        ax.barh(range(len(clips)), [v if v is not None and np.isfinite(v) else 0.0 for v in values],
                color="tab:blue")
        if finite:
            ax.axvline(float(np.median(finite)), color="black", linestyle="--", linewidth=1, label="median")
            ax.legend(fontsize=7, loc="lower right")
        ax.set_title(name, fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    axes[0][0].set_yticks(range(len(clips)))
    axes[0][0].set_yticklabels(clips, fontsize=6)
    axes[0][0].invert_yaxis()
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    _save(figure, path)
    return "Each clip's value of the claim's metrics (bars; an undefined value is drawn as 0) and their median."


WORD_OUTCOMES = (  # (label, colour) of a chopped word, in legend order
    ("removed precisely", "tab:green"),
    ("removed; others lost or words put in", "tab:orange"),
    ("not removed", "tab:red"),
    ("not in the full transcript (unscored)", "0.85"),
)


def word_outcome(row: dict) -> int:
    """Index in `WORD_OUTCOMES` of one row of ``enc_chop_words``' ``word_removal`` artifact."""
    if not row["scored"]:
        return 3
    return 0 if row["precise"] else 1 if row["removed"] else 2


def word_removal(data: dict[str, Any], path: Path, title: str) -> str:
    """One line per clip, each word a cell coloured by what chopping its frames did."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    clips = list(dict.fromkeys(row["clip"] for row in data["rows"]))
    figure, ax = plt.subplots(figsize=(12.0, 0.28 * len(clips) + 1.4))
    longest = 1
    for y, clip in enumerate(clips):
        words = [row for row in data["rows"] if row["clip"] == clip]
        longest = max(longest, len(words))
        for x, row in enumerate(words):
            ax.add_patch(plt.Rectangle((x, y - 0.45), 0.96, 0.9, color=WORD_OUTCOMES[word_outcome(row)][1]))
            ax.text(x + 0.48, y, row["word"][:12], ha="center", va="center", fontsize=5.5)
    ax.set_xlim(0, longest)
    ax.set_ylim(len(clips) - 0.5, -0.5)
    ax.set_yticks(range(len(clips)))
    ax.set_yticklabels(clips, fontsize=6)
    ax.set_xticks([])
    ax.set_xlabel("spoken words, in order (one decode per word, its encoder frames replaced by the padding input's)",
                  fontsize=8)
    ax.legend(handles=[Patch(color=c, label=label) for label, c in WORD_OUTCOMES], fontsize=7, ncol=4,
              loc="upper center", bbox_to_anchor=(0.5, -0.06 if len(clips) > 10 else -0.2), frameon=False)
    ax.set_title(title, fontsize=9)
    figure.tight_layout()
    _save(figure, path)
    return "What chopping each word's encoder frames did to the transcript, word by word and clip by clip."


def _token_bars(panels: dict[str, list[dict]], value: str, path: Path, title: str, panel_title: str,
                ylabel: str) -> None:
    """One bar chart per panel, stacked: x = tokens (as displayed, leading spaces stripped, in order),
    y = each entry's ``value``."""
    import matplotlib.pyplot as plt

    # laid out when saved, inside _save's filter: tokens of any script lack glyphs in the default font
    figure, axes = plt.subplots(len(panels), 1, figsize=(8.0, 2.7 * len(panels)), squeeze=False, layout="tight")
    for ax, (label, entries) in zip(axes[:, 0], panels.items()):
        # repr(): a label's leading space and unprintable bytes stay visible
        names = [repr(e["token"].strip())[1:-1] or repr(e["token"]) for e in entries]
        ax.bar(range(len(entries)), [e[value] for e in entries], color="tab:blue")
        ax.set_xticks(range(len(entries)))
        ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_title(panel_title.format(label=label.strip()), fontsize=9)
    figure.suptitle(title, fontsize=9)
    _save(figure, path)


def top_logits(data: dict[str, list[dict]], path: Path, title: str) -> str:
    """``{prompt: [{"token", "logit"}, …]}``: the post's "top logits when prompted with …" plots."""
    _token_bars(data, "logit", path, title, "top logits when prompted with '{label}' (padding audio)", "Logit value")
    return "Top next-token logits on padding audio after each prompt token, like the post's bigram plots."


def embedding_neighbours(data: dict[str, list[dict]], path: Path, title: str) -> str:
    """``{query: [{"token", "cosine"}, …]}``: the post's "nearest token embeddings to …" plots."""
    _token_bars(data, "cosine", path, title, "nearest token embeddings to '{label}'", "cosine similarity")
    return "Nearest tokens by cosine in the decoder's token embedding, like the post's embedding plots."


def sae_frontier(data: dict[str, Any], path: Path, title: str) -> str:
    """``{"points": [{"label", "mean_l0", "explained_variance", "wer_recovered", "selective", "qualifies"}, …],
    "bars": {"max_l0", "min_explained_variance", "min_wer_recovered"}}``: one point per SAE recipe, L0
    against explained variance, coloured by the share of its live features that are phoneme-selective
    (grey where not measured), those that meet every bar drawn as stars; dashed lines at the bars."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    points, bars = data["points"], data["bars"]
    figure, (ax, key) = plt.subplots(1, 2, figsize=(9.5, 4.6), gridspec_kw={"width_ratios": [3, 1.3]})
    cmap = plt.get_cmap("viridis")
    lines = []
    for number, point in enumerate(points, start=1):
        selective = point.get("selective")
        colour = "0.6" if selective is None else cmap(float(selective))
        ax.scatter(point["mean_l0"], point["explained_variance"], s=140 if point["qualifies"] else 60,
                   marker="*" if point["qualifies"] else "o", color=colour, edgecolors="black", linewidths=0.6,
                   zorder=3)
        # numbers beside the points, stacked where recipes share an L0 and EV and would hide each other's
        near = sum(abs(np.log2(other["mean_l0"] / point["mean_l0"])) < 0.05 and
                   abs(other["explained_variance"] - point["explained_variance"]) < 0.005 for other in points[:number - 1])
        ax.annotate(str(number), (point["mean_l0"], point["explained_variance"]), fontsize=7,
                    xytext=(6, 2 - 9 * near), textcoords="offset points")
        recovered = point.get("wer_recovered")
        lines.append(f"{number}. {point['label']}: WER rec. " + ("—" if recovered is None else f"{recovered:.2f}")
                     + ("" if selective is None else f", selective {selective:.2f}"))
    key.axis("off")
    key.text(0, 1, "\n".join(lines), fontsize=7, va="top", family="monospace")
    ax.axvline(bars["max_l0"], color="0.4", lw=0.8, ls="--")
    ax.axhline(bars["min_explained_variance"], color="0.4", lw=0.8, ls="--")
    ax.set_xscale("log", base=2)
    ax.set_xlabel(f"mean L0, held-out frames (bar: at most {bars['max_l0']:g})")
    ax.set_ylabel(f"explained variance (bar: at least {bars['min_explained_variance']:g})")
    mappable = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    figure.colorbar(mappable, ax=ax, shrink=0.8, label="share of live features phoneme-selective")
    ax.legend(handles=[Line2D([], [], marker="*", ls="", color="black", markersize=10,
                              label=f"meets every bar (WER recovered ≥ {bars['min_wer_recovered']:g} too)"),
                       Line2D([], [], marker="o", ls="", color="0.6", label="misses a bar; grey: selectivity "
                                                                              "not measured")],
              fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    where = f", {data['layer']}" if data.get("layer") else ""
    ax.set_title(title + where, fontsize=9)
    figure.tight_layout()
    _save(figure, path)
    n = sum(point["qualifies"] for point in points)
    return (f"The SAE recipes' frontier{where}: sparsity against explained variance, {len(points)} recipes, {n} "
            f"meeting every bar (stars).")


def listening_examples(claim: str, model: str, data: dict[str, Any], report_dir: Path,
                       kind: str = "listening") -> list[dict[str, str]]:
    """Write a listening artifact (top frames of some units over a corpus) as WAV snippets under
    ``report_dir/audio/`` and return ``{"path", "caption"}`` entries for the evidence's ``audio``.
    Artifacts other than ``listening`` itself (e.g. ``listening_real``) get a folder of their own."""
    suffix = "" if kind == "listening" else f"--{safe_name(kind.removeprefix('listening_'))}"
    folder = Path("audio") / f"{safe_name(claim)}--{safe_name(model)}{suffix}"
    rows = export_units(data["top"], data["clips"], report_dir / folder, units=data["units"],
                        n_examples=data.get("n_examples", 3), labels=data.get("labels"),
                        clip_ids=data.get("clip_ids"), prefix=data.get("prefix", "unit"))
    return [{"path": (folder / row["file"]).as_posix(),
             "caption": f"{data.get('what', 'unit')} {row['unit']}, example {row['rank'] + 1}: "
                        f"{row.get('label') or '?'} at {row['time_s']} s of {row['clip_id']} "
                        f"(activation {row['activation']:.3g})"} for row in rows]


DRAWERS: dict[str, Callable[[Any, Path, str], str]] = {
    "relevance_map": relevance_map,
    "band_mass_curve": band_mass_curve,
    "head_distance": head_distance,
    "recall_curve": recall_curve,
    "word_removal": word_removal,
    "clip_values": clip_values,
    "transcripts": transcripts,
    "top_logits": top_logits,
    "embedding_neighbours": embedding_neighbours,
    "sae_frontier": sae_frontier,
}
