"""The heatmap reader: a map rendered from a known matrix reads back to it, and the post's relevance
figure reads as the map reference-data.md describes."""
import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib", reason="the heatmap reader needs the 'report' extra")

from whisper_claims.claims.post_figure import FIGURE, post_relevance_scores, speech_end
from whisper_claims.errors import FigureError
from whisper_claims.stimuli.figure_reader import N_COLOURS, read_heatmap

matplotlib.use("Agg", force=True)


def render(matrix: np.ndarray, path, vmax: float = 20.0, cmap: str = "YlOrRd", dpi: int = 100) -> None:
    """A seaborn-like heatmap: row 0 on top, a colour bar on the right, ticks and a title."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 5))
    image = axes.imshow(matrix, cmap=cmap, vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest")
    figure.colorbar(image)
    axes.set_title("Propagated attention scores")
    axes.set_xlabel("Source")
    axes.set_ylabel("Destination")
    figure.savefig(path, dpi=dpi)
    plt.close(figure)


def known_matrix(n_rows: int = 60, n_cols: int = 50) -> np.ndarray:
    rng = np.random.default_rng(0)
    matrix = rng.uniform(0, 20, (n_rows, n_cols))
    matrix[:10] = 0.0  # background
    matrix[40:45, 30:35] = 35.0  # above vmax: saturated
    return matrix


def test_a_rendered_heatmap_reads_back_to_its_matrix(tmp_path):
    matrix = known_matrix()
    render(matrix, tmp_path / "map.png")
    reading = read_heatmap(tmp_path / "map.png", n_rows=60, n_cols=50, vmin=0.0, vmax=20.0)
    # one colour step either way: neighbouring YlOrRd colours differ by less than a PNG's 8-bit rounding
    step = 20.0 / N_COLOURS
    clipped = np.minimum(matrix, 20.0 - 1e-9)
    assert np.abs(reading.values - clipped).max() <= 1.5 * step
    assert np.all(reading.saturated[matrix >= 20.0]) and not np.any(reading.saturated[matrix < 20.0 - 2 * step])
    assert reading.lower[:10].max() == 0.0
    assert reading.summary()["colour_error_over_tolerance_share"] == 0.0


def test_unreadable_figures_say_what_is_wrong(tmp_path):
    (tmp_path / "not.png").write_text("no image")
    with pytest.raises(FigureError, match=r"not\.png: cannot read it as an image"):
        read_heatmap(tmp_path / "not.png", n_rows=2, n_cols=2, vmin=0, vmax=1)
    render(np.zeros((4, 4)), tmp_path / "tiny.png", dpi=20)
    with pytest.raises(FigureError, match=r"tiny\.png: the YlOrRd map found spans \d+ × \d+ pixels, too few"):
        read_heatmap(tmp_path / "tiny.png", n_rows=700, n_cols=700, vmin=0, vmax=20)
    with pytest.raises(FigureError, match="unknown colormap 'YlOrRdd'"):
        read_heatmap(tmp_path / "tiny.png", n_rows=4, n_cols=4, vmin=0, vmax=20, cmap="YlOrRdd")
    with pytest.raises(FigureError, match="expected vmin < vmax"):
        read_heatmap(tmp_path / "tiny.png", n_rows=4, n_cols=4, vmin=20, vmax=20)


def test_the_end_of_speech_is_where_rows_turn_dense():
    values = np.zeros((120, 120))
    values[np.arange(80), np.arange(80)] = 20.0  # speech: a diagonal
    values[80:] = 2.0  # after speech: every row dense
    values[80:, 78:82] = 20.0
    assert speech_end(values, tail_rows=20) == 80


def test_the_posts_relevance_figure_reads_as_described(asset):
    scores = post_relevance_scores(asset(FIGURE))
    reading = scores["reading"]
    assert reading["shape"] == [700, 700] and reading["colour_error_over_tolerance_share"] < 0.05
    # reference-data.md §5: "after about 510 the rows are dense and attend to source columns about 494-520"
    assert 490 <= scores["speech_end_frame"] <= 515
    for bound in ("lower", "midpoint"):
        curve = list(scores[bound]["median_band_mass_by_w"].values())
        assert curve == sorted(curve) and 0 < curve[0] < curve[-1] <= 1
        assert 0 < scores[bound]["median_end_share"] <= 1
        # "all future positions attend back to the end of the speech": every row the figure shows does
        assert scores[bound]["end_peak_share"] == 1.0
