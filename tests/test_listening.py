"""Listening examples: snippet length, centre and clipping at the clip's edges, the emphasis relative
to the source, the table, identical bytes twice, and nothing left behind by a failed export."""
import numpy as np
import pytest
import soundfile
import torch

from whisper_claims.measure.listening import (COLUMNS, ListenOptions, audio_files, default_prefix, emphasis_gain,
                                              export_units, parse_units, snippet, table_lines)
from whisper_claims.measure.mining import TopFrames

SR = 16000


def tone(seconds: float, seed: int = 0) -> np.ndarray:
    """A steady tone plus noise: its level is the same everywhere, so any level change is the emphasis."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (0.4 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def test_snippet_is_centred_on_the_frame_and_1_5_s_long():
    audio = tone(3.0)
    cut = snippet(audio, 75)  # 1.5 s into the clip
    assert (cut.start, cut.peak, cut.stop) == (24000 - 12000, 24000, 24000 + 12000)
    assert len(cut.audio) == 24000 and cut.audio.dtype == np.float32
    assert cut.emphasis == (24000 - 640, 24000 + 640)  # two 20 ms frames either side: 80 ms


@pytest.mark.parametrize("frame, start, stop", [(0, 0, 12000), (10, 0, 3200 + 12000), (99, 31680 - 12000, 32000)])
def test_snippet_is_cut_at_the_clips_edges(frame, start, stop):
    audio = tone(2.0)
    cut = snippet(audio, frame)
    assert (cut.start, cut.stop, cut.peak) == (start, stop, frame * 320)
    assert len(cut.audio) == stop - start
    low, high = cut.emphasis
    assert start <= low <= cut.peak < high <= stop


def test_emphasis_keeps_the_peak_region_and_attenuates_the_rest():
    audio = tone(2.0)
    cut = snippet(audio, 50)
    source = audio[cut.start:cut.stop]
    low, high = (e - cut.start for e in cut.emphasis)
    ramp = 80  # 5 ms
    assert np.array_equal(cut.audio[low:high], source[low:high])  # full level, untouched
    np.testing.assert_allclose(cut.audio[: low - ramp], 0.1 * source[: low - ramp], rtol=1e-6)
    np.testing.assert_allclose(cut.audio[high + ramp:], 0.1 * source[high + ramp:], rtol=1e-6)
    # relative to the source, the region is 20 dB above the rest
    inside = rms(cut.audio[low:high]) / rms(source[low:high])
    outside = rms(cut.audio[high + ramp:]) / rms(source[high + ramp:])
    assert inside / outside == pytest.approx(10.0)
    gain = emphasis_gain(1000, 400, 500, 0.25, 50)
    assert gain[400:500].min() == 1.0 and gain[:350].max() == gain[550:].max() == pytest.approx(0.25)
    assert np.all(np.diff(gain[350:401]) >= 0) and np.all(np.diff(gain[499:551]) <= 0)  # smooth, monotone ramps
    hard = snippet(audio, 50, ListenOptions(ramp_ms=0, background_gain=0.5, emphasis_frames=0))
    assert hard.emphasis == (16000, 16001)
    assert np.count_nonzero(hard.audio != 0.5 * audio[hard.start:hard.stop]) <= 1


def test_frames_outside_the_clip_are_refused():
    with pytest.raises(ValueError, match="frame 50 is outside the clip of 16000 samples \\(50 frames\\)"):
        snippet(tone(1.0), 50)
    with pytest.raises(ValueError, match="background_gain"):
        ListenOptions(background_gain=0)
    with pytest.raises(ValueError, match="WAV subtype 'FLOAT'"):
        ListenOptions(subtype="FLOAT")


def corpus():
    clips = [tone(2.0, 0), tone(1.0, 1), tone(2.0, 2)]
    labels = [["sil"] * 100, ["M"] * 25 + ["AA"] * 25, ["S"] * 100]
    top = TopFrames(values=torch.tensor([[3.5, 2.25, 1.0], [4.0, 0.5, 0.25]]),
                    clip=torch.tensor([[1, 0, 2], [2, 1, 0]]), frame=torch.tensor([[30, 0, 99], [7, 10, 50]]))
    return clips, labels, top


def test_export_writes_snippets_and_a_table(tmp_path):
    clips, labels, top = corpus()
    rows = export_units(top, clips, tmp_path / "out", units=[1, 0], n_examples=2, labels=labels,
                        clip_ids=["a", "b", "c"], prefix="b2_mlp1_")
    assert [(r["unit"], r["rank"], r["clip"], r["frame"]) for r in rows] == [(1, 0, 2, 7), (1, 1, 1, 10),
                                                                            (0, 0, 1, 30), (0, 1, 0, 0)]
    first = rows[0]
    assert first == {"unit": 1, "rank": 0, "clip": 2, "clip_id": "c", "frame": 7, "time_s": 0.14, "label": "S",
                     "activation": 4.0, "start_s": 0.0, "end_s": 0.89, "file": "b2_mlp1_1_sample00.wav"}
    assert rows[2]["label"] == "AA" and rows[2]["time_s"] == 0.6 and rows[2]["end_s"] == 1.0
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == sorted([r["file"] for r in rows] + ["examples.tsv"])  # no staging folder left
    lines = (tmp_path / "out" / "examples.tsv").read_text().splitlines()
    assert lines[0].split("\t") == list(COLUMNS) and len(lines) == 5
    assert lines[1].split("\t") == ["1", "0", "2", "c", "7", "0.14", "S", "4", "0.0", "0.89", "b2_mlp1_1_sample00.wav"]
    audio, rate = soundfile.read(tmp_path / "out" / first["file"], dtype="float32")
    info = soundfile.info(tmp_path / "out" / first["file"])
    assert rate == SR and info.subtype == "PCM_16" and len(audio) == int(0.89 * SR)
    np.testing.assert_allclose(audio, snippet(clips[2], 7).audio, atol=1 / 32768)


def test_without_labels_the_label_is_empty(tmp_path):
    clips, _, top = corpus()
    rows = export_units(top, clips, tmp_path, units=[0], n_examples=1)
    assert rows[0]["label"] is None and rows[0]["clip_id"] == "1" and rows[0]["file"] == "unit0_sample00.wav"
    assert table_lines(rows)[1].split("\t")[6] == ""


def test_export_is_byte_identical_twice(tmp_path):
    clips, labels, top = corpus()
    for name in ("one", "two"):
        export_units(top, clips, tmp_path / name, labels=labels, options=ListenOptions(subtype="PCM_24"))
    one = {p.name: p.read_bytes() for p in (tmp_path / "one").iterdir()}
    two = {p.name: p.read_bytes() for p in (tmp_path / "two").iterdir()}
    assert one == two and len(one) == 7


def test_a_failed_export_leaves_nothing(tmp_path, monkeypatch):
    clips, labels, top = corpus()
    calls = []
    real_write = soundfile.write

    def failing(path, *args, **kwargs):
        calls.append(path)
        if len(calls) > 1:
            raise OSError("disk full")
        real_write(path, *args, **kwargs)

    monkeypatch.setattr(soundfile, "write", failing)
    with pytest.raises(OSError, match="disk full"):
        export_units(top, clips, tmp_path / "new", labels=labels)
    assert len(calls) == 2 and not (tmp_path / "new").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    calls.clear()
    with pytest.raises(OSError, match="disk full"):
        export_units(top, clips, existing, labels=labels)
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]


def test_bad_arguments_are_named_before_anything_is_written(tmp_path):
    clips, labels, top = corpus()
    out = tmp_path / "out"
    cases = [
        ({"units": [2]}, "unit 2 is out of range: the top frames hold units 0 to 1"),
        ({"units": [-1]}, "unit -1 is out of range"),
        ({"units": [0, 0]}, "each unit at most once"),
        ({"n_examples": 4}, "n_examples = 4: expected 1 to 3"),
        ({"prefix": "../x"}, "file prefix '../x'"),
        ({"labels": labels[:2]}, "2 labels for 3 clips"),
        ({"labels": [["sil"] * 100, ["M"] * 20, ["S"] * 100]}, "clip 1 has labels for 20 frames, not frame 30"),
        ({"clip_ids": ["a", "b\tc", "d"]}, "tabs and line breaks"),
        ({"table_name": "sub/x.tsv"}, "table name"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=match):
            export_units(top, clips, out, **kwargs)
    bad_frame = TopFrames(top.values, top.clip, torch.tensor([[60, 0, 0], [0, 0, 0]]))
    with pytest.raises(ValueError, match="unit 0 rank 0, clip 1: frame 60 is outside the clip"):
        export_units(bad_frame, clips, out)
    bad_clip = TopFrames(top.values, torch.tensor([[5, 0, 0], [0, 0, 0]]), top.frame)
    with pytest.raises(ValueError, match="clip 5 is not in the corpus of 3 clips"):
        export_units(bad_clip, clips, out)
    assert not out.exists()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(ValueError, match="file.txt: is a file; expected a folder"):
        export_units(top, clips, a_file)


def test_command_line_helpers(tmp_path):
    assert parse_units("0-3,7, 2,10-10") == [0, 1, 2, 3, 7, 10]
    for bad in ("", "a", "3-1", "1,,2"):
        with pytest.raises(ValueError, match="expected indices and ranges"):
            parse_units(bad)
    assert default_prefix("encoder.blocks.2.mlp.1") == "b2_mlp1_"
    assert default_prefix("encoder.blocks.3") == "b3_res_" and default_prefix("encoder.blocks.3", sae=True) == "b3_sae_"
    (tmp_path / "d" / "e").mkdir(parents=True)
    for name in ("d/b.wav", "d/e/a.flac", "d/notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert audio_files([tmp_path / "d"]) == [tmp_path / "d/b.wav", tmp_path / "d/e/a.flac"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty: no .wav or .flac files"):
        audio_files([tmp_path / "empty"])


def test_listen_mines_a_folder_and_exports(tmp_path, capsys):
    from whisper.model import ModelDimensions

    from whisper_claims.cli import main
    from whisper_claims.models.load import random_model, write_checkpoint
    from whisper_claims.measure.sae import SAEConfig, layer_activations, train_sae

    # a small random checkpoint in Whisper's own format stands for a model spec
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=32, n_audio_head=2, n_audio_layer=2,
                           n_vocab=51865, n_text_ctx=16, n_text_state=32, n_text_head=2, n_text_layer=1)
    model = random_model("tiny", 0, dims=dims)
    spec = str(write_checkpoint(model, tmp_path / "small.pt"))

    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    for i, seconds in enumerate((1.0, 0.8)):
        soundfile.write(corpus_dir / f"clip{i}.wav", tone(seconds, i), SR, subtype="FLOAT")
        (corpus_dir / f"clip{i}.phones.tsv").write_text("start_s\tend_s\tlabel\n0.0\t0.4\tM\n0.4\t0.8\tAA1\n")

    def listen(layer, out, *options):
        assert main(["listen", spec, layer, str(corpus_dir), f"--out={out}", *options]) == 0
        assert capsys.readouterr().out.endswith(f"snippets and {out / 'examples.tsv'}\n")
        header, *lines = (out / "examples.tsv").read_text(encoding="utf-8").splitlines()
        return [dict(zip(header.split("\t"), line.split("\t"))) for line in lines]

    rows = listen("encoder.blocks.1.mlp.1", tmp_path / "neurons", "--units=0,5", "--k=3", "--trim", "--labels")
    assert [(r["unit"], r["rank"]) for r in rows] == [("0", "0"), ("0", "1"), ("0", "2"), ("5", "0"), ("5", "1"),
                                                      ("5", "2")]
    assert rows[0]["file"] == "b1_mlp1_0_sample00.wav" and rows[0]["clip_id"].endswith(("clip0.wav", "clip1.wav"))
    assert all(r["label"] == ("M" if float(r["time_s"]) < 0.4 else "AA" if float(r["time_s"]) < 0.8 else "sil")
               for r in rows)
    assert len(list((tmp_path / "neurons").iterdir())) == 7

    clips = [soundfile.read(corpus_dir / f"clip{i}.wav", dtype="float32")[0] for i in range(2)]
    sae, _ = train_sae(layer_activations(model, clips, "encoder.blocks.1", trim=True),
                       SAEConfig(n_features=20, kind="topk", k=3, steps=5, batch_size=16))
    path = sae.save(tmp_path / "sae.pt", layer="encoder.blocks.1")
    rows = listen("encoder.blocks.1", tmp_path / "features", "--units=19", "--k=2", "--trim", f"--sae={path}")
    assert [r["file"] for r in rows] == ["b1_sae_19_sample00.wav", "b1_sae_19_sample01.wav"]
    assert float(rows[0]["activation"]) >= float(rows[1]["activation"])
