"""Read a published heatmap back into a matrix: each cell's pixel colour → value through the colormap.

The post gives its relevance map only as a figure (``blog/encoder/attention_scores.png``: seaborn,
``YlOrRd``, ``vmax = 20``). Reading it back lets a claim's metric be computed on the post's own
numbers, with what the figure cannot say (values above ``vmax``) recorded as saturation. Needs
matplotlib and pillow (the ``report`` extra).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import FigureError

N_COLOURS = 256  # matplotlib's lookup table for a named colormap
BOX_TOLERANCE = 0.1  # RGB distance (0-1 per channel) under which a pixel counts as a colormap colour
MIN_SHARE = 0.5  # a row or column of the heatmap has at least this share of colormap pixels
MAX_GAP = 5  # pixels: stripes of blended colours inside the map do not split it


@dataclass(frozen=True)
class HeatmapReading:
    """A heatmap read from pixels.

    ``values[i, j]`` is the value of the colormap colour nearest to the pixel at the centre of cell
    ``(i, j)``, the middle of that colour's value interval (``lower`` and ``upper`` are its ends);
    ``saturated`` marks cells in the top colour (the value is then at least its lower end, possibly
    far more). The colour is exact to one step either way: neighbouring colours of a smooth colormap
    differ by less than the 8-bit rounding of a PNG.
    """

    index: np.ndarray  # [n_rows, n_cols]: the colormap colour (0 … 255) nearest to each cell's pixel
    colour_error: np.ndarray  # [n_rows, n_cols]: RGB distance between the pixel and its colormap colour
    box: tuple[int, int, int, int]  # top, bottom, left, right pixels of the map (end exclusive)
    vmin: float
    vmax: float
    cmap: str

    def _value(self, offset: float) -> np.ndarray:
        return self.vmin + (self.index + offset) / N_COLOURS * (self.vmax - self.vmin)

    @property
    def values(self) -> np.ndarray:
        return self._value(0.5)

    @property
    def lower(self) -> np.ndarray:
        return self._value(0.0)

    @property
    def upper(self) -> np.ndarray:
        return self._value(1.0)

    @property
    def saturated(self) -> np.ndarray:
        return self.index == N_COLOURS - 1

    def summary(self) -> dict:
        return {"shape": list(self.values.shape), "box_px": list(self.box), "vmin": self.vmin, "vmax": self.vmax,
                "cmap": self.cmap, "saturated_share": float(self.saturated.mean()),
                "median_colour_error": float(np.median(self.colour_error)),
                "colour_error_over_tolerance_share": float((self.colour_error > BOX_TOLERANCE).mean())}


def colormap_table(cmap: str) -> np.ndarray:
    """The ``[256, 3]`` RGB lookup table matplotlib draws ``cmap`` with."""
    import matplotlib

    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError:
        raise FigureError(f"unknown colormap {cmap!r}: expected a matplotlib colormap name") from None
    return colormap.resampled(N_COLOURS)(np.arange(N_COLOURS))[:, :3]


def longest_run(flags: np.ndarray, max_gap: int) -> tuple[int, int]:
    """``(start, end)`` of the longest run of True, joining runs separated by at most ``max_gap`` False."""
    runs: list[list[int]] = []
    for index in np.flatnonzero(flags):
        if runs and index - runs[-1][1] <= max_gap:
            runs[-1][1] = index + 1
        else:
            runs.append([index, index + 1])
    if not runs:
        return 0, 0
    start, end = max(runs, key=lambda run: run[1] - run[0])
    return int(start), int(end)


def heatmap_box(distance: np.ndarray) -> tuple[int, int, int, int]:
    """The map's pixel box: the widest band of columns, then of rows within it, whose pixels are mostly
    colormap colours (``distance``: per pixel, RGB distance to the nearest one). The colour bar is a
    narrower band and is left out."""
    inside = distance < BOX_TOLERANCE
    left, right = longest_run(inside.mean(axis=0) >= MIN_SHARE, MAX_GAP)
    top, bottom = longest_run(inside[:, left:right].mean(axis=1) >= MIN_SHARE, MAX_GAP)
    return top, bottom, left, right


def read_heatmap(path: str | os.PathLike, *, n_rows: int, n_cols: int, vmin: float, vmax: float,
                 cmap: str = "YlOrRd", min_pixels: int = 1) -> HeatmapReading:
    """Read the heatmap of a PNG figure (one map, optionally a colour bar beside it).

    Parameters
    ----------
    path : path of the PNG
    n_rows, n_cols : int
        Cells of the matrix drawn (a figure does not say it; read it from its axis labels).
    vmin, vmax : float
        The colour scale's ends.
    cmap : str
        A matplotlib colormap name.
    min_pixels : int
        Fewest pixels a cell must span in each direction (fewer: the figure cannot resolve the cells).

    Raises
    ------
    FigureError
        If the file is not an image, holds no map in ``cmap``, or its map is too small for the cells.
    """
    from PIL import Image, UnidentifiedImageError
    from scipy.spatial import cKDTree

    if not vmax > vmin:
        raise FigureError(f"vmin {vmin} and vmax {vmax}: expected vmin < vmax")
    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"), dtype=np.float64) / 255
    except (OSError, UnidentifiedImageError) as error:
        raise FigureError(f"{path}: cannot read it as an image ({error})") from None
    table = colormap_table(cmap)
    distance, index = cKDTree(table).query(rgb.reshape(-1, 3))
    distance, index = distance.reshape(rgb.shape[:2]), index.reshape(rgb.shape[:2])
    top, bottom, left, right = heatmap_box(distance)
    height, width = bottom - top, right - left
    if height < n_rows * min_pixels or width < n_cols * min_pixels:
        raise FigureError(f"{path}: the {cmap} map found spans {width} × {height} pixels, too few for "
                          f"{n_cols} × {n_rows} cells (at least {min_pixels} pixel per cell expected)")
    rows = top + ((np.arange(n_rows) + 0.5) * height / n_rows).astype(int)
    cols = left + ((np.arange(n_cols) + 0.5) * width / n_cols).astype(int)
    return HeatmapReading(index=index[np.ix_(rows, cols)], colour_error=distance[np.ix_(rows, cols)], box=(top, bottom, left, right),
                          vmin=float(vmin), vmax=float(vmax), cmap=cmap)
