"""The encoder claims' metrics on the post's own relevance figure (``blog/encoder/attention_scores.png``).

The figure is the only form in which the post gives its relevance map. Read back into a matrix
(``figure_reader``), it scores the metrics of enc-relevance-local and enc-end-sink, so that each
threshold can be set against the post's own number. The figure was not made on Hot_ones.wav: its speech
ends near frame 500 (10 s), Hot_ones.wav's at 300 (6 s).
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch

from ..stimuli.figure_reader import MAX_GAP, HeatmapReading, longest_run, read_heatmap
from .encoder import band_scores, end_peaks, end_share

FIGURE = "blog/encoder/attention_scores.png"
# read off the figure: 700 × 700 cells (x labels 0 … 676 every 26, y labels 0 … 675 every 27; tick spacing
# 29.4 and 28.3 px over a 794 × 738 px map give 700 ± 2), YlOrRd from 0 (the colour bar's foot) to vmax 20
FIGURE_SCALE = {"n_rows": 700, "n_cols": 700, "vmin": 0.0, "vmax": 20.0, "cmap": "YlOrRd"}
TAIL_ROWS = 100  # the figure's last rows are after the speech: their mean level is the post-speech level


def speech_end(values: np.ndarray, tail_rows: int = TAIL_ROWS) -> int:
    """The first row of the post-speech block: the longest run of rows whose mean is at least half the
    mean level of the last ``tail_rows`` rows (rows inside speech attend to a narrow band, so their mean is
    far lower). Found from the rows alone, not from the column they attend to."""
    level = np.median(values[-tail_rows:].mean(axis=1))
    start, end = longest_run(values.mean(axis=1) >= level / 2, max_gap=MAX_GAP)  # a few pale rows inside it
    if end != len(values):
        raise ValueError(f"the rows above half the post-speech level ({level:.3g}) do not reach the last row")
    return start


def post_relevance_scores(path: str | os.PathLike, *, band: int = 50,
                          band_curve: Sequence[int] = (5, 10, 25, 50, 100, 200), margin: int = 25) -> dict:
    """enc-relevance-local's band mass and enc-end-sink's end share and end peaks on the post's figure.

    Each metric is computed on the cells' lower value bounds (the background reads as 0) and on their
    midpoints (the background reads as 0.04): the figure cannot tell them apart, so both are given.
    Saturated cells (the top colour, ≥ 19.92) read as that colour's bound, which lowers the end share;
    the map shows 700 of 1500 source columns, which raises both metrics against the whole map.
    """
    reading: HeatmapReading = read_heatmap(path, **FIGURE_SCALE)
    end = speech_end(reading.lower)
    scores = {"figure": FIGURE, "reading": reading.summary(), "speech_end_frame": end,
              "saturated_share_after_speech": float(reading.saturated[end:].mean())}
    for name, values in (("lower", reading.lower), ("midpoint", reading.values)):
        matrix = torch.from_numpy(values)
        metrics, evidence = band_scores(matrix, end, band, band_curve)
        scores[name] = {"median_band_mass": metrics["median_band_mass"],
                        "median_band_mass_by_w": evidence["median_band_mass_by_w"],
                        "median_end_share": end_share(matrix, end, margin)["median_end_share"],
                        "end_peak_share": end_peaks(matrix, end, margin)["end_peak_share"]}
    return scores
