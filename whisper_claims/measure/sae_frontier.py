"""The SAE frontier: every recipe ``benchmarks/sae_sweep.py`` has measured on a model and layer (held-out L0,
explained variance, WER recovered on the general clip set, phoneme-selective share), and which of them are
sparse and faithful enough for an SAE claim to judge (issue #31's bars, kept in the claim's registry entry).

The sweep trains for hours on a 2-core machine, so its rows are a record: JSON lines appended by
``--record``, one per recipe, each naming the model's parameters sha256, the date and the torch version
(``FRONTIER_FILE`` holds the rows measured so far). A claim reads the rows of its own model's weights.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional, Sequence

from ..errors import SAEFileError

# not in data/: the package data is part of every cached value's code digest, and this record grows as the sweep runs
FRONTIER_FILE = Path(__file__).resolve().parents[1] / "records" / "sae_frontier.jsonl"
BAR_KEYS = ("max_l0", "min_explained_variance", "min_wer_recovered")
CORPUS_NAMES = {"espeak": "espeak-ng", "speech": "real speech"}  # the sweep's --train-on
# how an error's message introduces the frontier: the docs show it as a table instead, and cut it there
FRONTIER_SENTENCE = "; the recorded frontier"


def check_bars(bars: dict, where: str) -> None:
    """``bars`` has every key of ``BAR_KEYS`` (numbers) and a provenance; else a ValueError naming ``where``."""
    missing = [key for key in BAR_KEYS + ("provenance",) if key not in bars]
    if missing:
        raise ValueError(f"{where}: missing {missing}; expected {{{', '.join(BAR_KEYS)}, provenance}}")
    for key in BAR_KEYS:
        if isinstance(bars[key], bool) or not isinstance(bars[key], (int, float)):
            raise ValueError(f"{where}.{key} = {bars[key]!r}: expected a number")


def read_frontier(path: str | Path = FRONTIER_FILE) -> list[dict]:
    """The recorded rows, in file order; a line that is not a JSON row of the sweep is named with its file
    and number (``SAEFileError``)."""
    path = Path(path)
    rows = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                missing = [key for key in ("model", "parameters_sha256", "layer", "recipe", "mean_l0",
                                           "explained_variance") if key not in row]
            except (ValueError, TypeError) as error:
                raise SAEFileError(f"{path}:{number}: not a JSON row of benchmarks/sae_sweep.py ({error})") from None
            if missing:
                raise SAEFileError(f"{path}:{number}: a sweep row without {missing}")
            rows.append(row)
    return rows


def mean_explained(row: dict) -> float:
    """Explained variance, the mean over the row's seeds."""
    values = row["explained_variance"]
    return float(sum(values) / len(values))


def recovered(row: dict) -> Optional[float]:
    """WER recovered against the clean transcripts at the clip's frames; None when not measured or undefined."""
    value = (row.get("wer_recovered") or {}).get("clean")
    return None if value is None or math.isnan(value) else float(value)


def qualifies(row: dict, bars: dict) -> bool:
    """Whether a row meets every bar: mean L0, explained variance (mean over seeds) and WER recovered (a row
    without it does not)."""
    wer = recovered(row)
    return (row["mean_l0"] <= bars["max_l0"] and mean_explained(row) >= bars["min_explained_variance"]
            and wer is not None and wer >= bars["min_wer_recovered"])


def label(row: dict) -> str:
    """``topk 4× k64``, with the training corpus when it is not the claim's (``, real speech``)."""
    name = row["recipe"] if row.get("width") is None else f"{row['recipe']} {row['width']}× k{row['k']}"
    corpus = row.get("train_on", "espeak")
    return name if corpus == "espeak" else f"{name}, {CORPUS_NAMES.get(corpus, corpus)}"


def describe(row: dict) -> str:
    """One row in words: ``topk 4× k64 on encoder.blocks.3 (L0 64.0, EV 0.866, WER recovered 0.578 [0.43, 0.73])``."""
    wer, interval = recovered(row), (row.get("wer_recovered") or {}).get("clean_interval")
    shown = "not measured" if wer is None else f"{wer:.3f}" + (
        f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "")
    return f"{label(row)} on {row['layer']} (L0 {row['mean_l0']:.1f}, EV {mean_explained(row):.3f}, WER recovered {shown})"


def point(row: dict, bars: dict) -> dict:
    """A row as a point of `claims.figures.sae_frontier`."""
    return {"label": label(row), "mean_l0": row["mean_l0"], "explained_variance": mean_explained(row),
            "wer_recovered": recovered(row), "selective": (row.get("selective") or {}).get("fraction"),
            "qualifies": qualifies(row, bars)}


def frontiers(rows: Sequence[dict], bars: dict) -> dict[tuple[str, str], dict]:
    """``{(model, layer): {"points": [...], "bars": bars}}``: the data of one frontier figure each."""
    found: dict[tuple[str, str], dict] = {}
    for row in rows:
        found.setdefault((row["model"], row["layer"]), {"points": [], "bars": bars})["points"].append(point(row, bars))
    return found


def closest(rows: Sequence[dict], bars: dict) -> Optional[dict]:
    """The row nearest to qualifying: among those that are sparse and meet the explained-variance bar the one
    with the most WER recovered, else among the sparse ones the one with the most explained variance."""
    sparse = [r for r in rows if r["mean_l0"] <= bars["max_l0"]]
    faithful = [r for r in sparse if mean_explained(r) >= bars["min_explained_variance"] and recovered(r) is not None]
    if faithful:
        return max(faithful, key=recovered)
    return max(sparse, key=mean_explained) if sparse else None


def summary(rows: Sequence[dict], bars: dict, path: str | Path = FRONTIER_FILE) -> dict:
    """The evidence a claim keeps of its model's rows (read from ``path``): each row's numbers, which qualify,
    and the closest."""
    best = closest(rows, bars)
    path = Path(path).resolve()
    package = FRONTIER_FILE.parents[2]  # the folder holding whisper_claims/
    shown = path.relative_to(package).as_posix() if path.is_relative_to(package) else str(path)
    return {
        "record": f"{shown} (benchmarks/sae_sweep.py --record), not recomputed by this run",
        "bars": bars,
        "n_recipes": len(rows),
        "qualifying": [label(r) for r in rows if qualifies(r, bars)],
        "closest": None if best is None else describe(best),
        "rows": [{"layer": r["layer"], "recipe": label(r), "n_features": r.get("n_features"), "k": r.get("k"),
                  "mean_l0": round(r["mean_l0"], 2), "explained_variance": round(mean_explained(r), 4),
                  "wer_recovered": recovered(r),
                  "wer_recovered_interval": (r.get("wer_recovered") or {}).get("clean_interval"),
                  "selective": (r.get("selective") or {}).get("fraction"), "qualifies": qualifies(r, bars),
                  "seeds": r.get("seeds"), "date": r.get("date"), "torch": r.get("torch")} for r in rows],
    }
