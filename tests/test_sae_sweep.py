"""benchmarks/sae_sweep.py: its grid is issue #31's, its --smoke run prints a row per recipe in seconds, and
its numbers are the training reports' (recurrence 1 for an SAE compared with itself)."""
import importlib.util
import json
import sys

import pytest
import torch

from whisper_claims.files import PROJECT
from whisper_claims.measure.sae import SAEConfig, SparseAutoencoder


@pytest.fixture(scope="module")
def sweep_module():
    spec = importlib.util.spec_from_file_location("sae_sweep", PROJECT / "benchmarks" / "sae_sweep.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        yield module
        torch.set_num_threads(threads)
    finally:
        sys.modules.pop(spec.name, None)


def test_the_grid_is_the_issues(sweep_module):
    base = SAEConfig(steps=4000, batch_size=1024)
    recipes = sweep_module.grid(384, base, base)
    assert recipes[0].name == "post" and recipes[0].config == base
    rest = recipes[1:]
    assert len(rest) == 2 * 3 * 3
    assert {(r.name, r.config.n_features, r.config.k) for r in rest} == {
        (kind, width * 384, k) for kind in ("topk", "batchtopk") for width in (1, 4, 8) for k in (16, 32, 64)}
    assert all(not r.config.tied and r.config.center and r.config.l1 == 0 and r.config.steps == 4000 for r in rest)


def test_smoke_prints_a_row_per_recipe(sweep_module, capsys):
    assert sweep_module.main(["--smoke", "--seeds", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:3] == ["layer", "recipe", "width"]
    rows = [line.split() for line in lines[1:]]  # "smoke (random)", recipe, width, features, k, L0, ...
    assert rows[0][2] == "post" and sorted(r[2] for r in rows) == ["batchtopk"] * 4 + ["post"] + ["topk"] * 4
    for r in rows:
        if r[2] == "topk":
            assert float(r[6]) <= int(r[5])  # held-out L0 at most k


def test_rows_are_the_training_reports(sweep_module):
    frames = sweep_module.smoke_frames(n_frames=600)
    config = SAEConfig(n_features=16, kind="topk", k=2, steps=20, batch_size=64, tied=False)
    recipe = sweep_module.Recipe("topk", 1, config)
    reported = []
    # the same seed twice: the same SAE, every feature recurs
    (row,) = sweep_module.sweep("x", frames, [recipe], [0, 0], threads=1, report=reported.append)
    assert reported == [row] and row.recurring == 1.0 and row.explained[0] == row.explained[1]
    assert row.n_train == 540 and row.mean_l0 <= 2
    assert "topk" in sweep_module.format_row(row)
    sae = SparseAutoencoder(16, SAEConfig(n_features=4))
    with torch.no_grad():
        sae.bias.copy_(torch.tensor([100.0, 100.0, -100.0, 0.0]))
    assert sweep_module.always_on(sae, frames) == 2


def test_faithfulness_scores_the_first_seed_with_its_training_mean(sweep_module):
    frames = sweep_module.smoke_frames(n_frames=600)
    config = SAEConfig(n_features=16, kind="topk", k=2, steps=20, batch_size=64, tied=False)
    seen = []

    def faithfulness(sae, mean_frame):
        seen.append((sae, mean_frame))
        return {"clean": 0.5, "spoken": 0.25, "all_frames": {"clean": 0.125, "spoken": 0.0}}

    (row,) = sweep_module.sweep("x", frames, [sweep_module.Recipe("topk", 1, config)], [0, 1], threads=1,
                                report=lambda r: None, faithfulness=faithfulness)
    assert len(seen) == 1 and row.recovered["clean"] == 0.5 and row.recovered["all_frames"]["clean"] == 0.125
    assert torch.equal(seen[0][1], frames[:row.n_train].mean(dim=0))  # the training frames' mean, the floor
    assert sweep_module.format_row(row).endswith("0.500/0.250      0.125       -")


@pytest.mark.parametrize("option, value", [("--widths", "3"), ("--ks", "32,x"), ("--widths", "")])
def test_widths_and_ks_outside_the_grid_are_refused(sweep_module, capsys, option, value):
    with pytest.raises(SystemExit):
        sweep_module.main([option, value])
    assert f"{option} {value!r}" in capsys.readouterr().err


def test_recorded_rows_read_back_as_a_table(sweep_module, tmp_path, capsys):
    frames = sweep_module.smoke_frames(n_frames=600)
    config = SAEConfig(n_features=16, kind="topk", k=2, steps=20, batch_size=64, tied=False)
    path = tmp_path / "rows.jsonl"
    report = sweep_module.appender(str(path), {"model": "smoke", "seeds": [0]})
    judged = []
    selective = {"fraction": 0.625, "n_selective": 10, "n_live": 16, "interval": [0.39, 0.82]}
    sweep_module.sweep("x", frames, [sweep_module.Recipe("topk", 1, config)] * 2, [0], threads=1, report=report,
                       faithfulness=lambda sae, mean: {"clean": 0.9, "spoken": 0.8, "clean_interval": [0.85, 0.95],
                                                       "all_frames": {"clean": 0.1, "clean_interval": [0.0, 0.2]}},
                       selectivity=lambda sae: judged.append(sae) or selective)
    assert len(judged) == 2  # one SAE per row: the first seed's
    assert len(path.read_text().splitlines()) == 2  # one line per row, written as each is done
    capsys.readouterr()
    assert sweep_module.main(["--table", str(path)]) == 0
    table = capsys.readouterr().out.strip().splitlines()
    assert len(table) == 4 and table[2].startswith("| smoke | x | topk 1× | espeak-ng | 16 | 2 |")
    assert "| 0.900 [0.85, 0.95] / 0.800 | 0.100 [0.00, 0.20] |" in table[2]  # an interval where the row has one
    assert "| 0.62 [0.39, 0.82] (10 of 16 live) |" in table[2]
    path.write_text("not json\n")
    with pytest.raises(SystemExit):
        sweep_module.main(["--table", str(path)])
    assert "expected the JSON lines that --record writes" in capsys.readouterr().err


def test_a_faithfulness_record_keeps_both_intervals_and_every_clip(sweep_module):
    from whisper_claims.measure.faithfulness import ClipTranscripts, TranscriptFaithfulness, recovered_over_clips

    spoken, clean, sae, floor = ["red green", "cat dog"], ["red green", "cat dog"], ["red", "cat dog"], ["", ""]
    result = TranscriptFaithfulness("encoder.blocks.3", tuple(ClipTranscripts(c, s, f, 0.0, 1.0) for c, s, f in
                                                              zip(clean, sae, floor)),
                                    recovered_over_clips(clean, clean, sae, floor),
                                    recovered_over_clips(spoken, clean, sae, floor, reference="words spoken"))
    record = sweep_module.faithfulness_summary(result)
    assert record["clean"] == record["spoken"] == 0.75 and len(record["clips"]) == 2 and record["frames"] == "clip"
    assert record["clean_interval"][0] <= 0.75 <= record["clean_interval"][1]
    assert record["clips"][0]["sae"] == "red" and json.loads(json.dumps(record)) == record


def test_the_frontier_marks_the_rows_that_meet_every_bar_and_draws_one_figure_per_model_and_layer(sweep_module,
                                                                                                   tmp_path, capsys):
    pytest.importorskip("matplotlib")
    row = {"model": "tiny.en", "layer": "encoder.blocks.3", "recipe": "topk", "width": 4, "k": 64, "n_features": 1536,
           "n_train": 10, "mean_l0": 64.0, "explained_variance": [0.86, 0.88], "dead": 0.0, "always_on": 0.0,
           "recurring": None, "seconds_per_sae": 1.0, "seeds": [0, 1],
           "wer_recovered": {"clean": 0.95, "spoken": 0.9}, "selective": {"fraction": 0.7, "n_selective": 7,
                                                                          "n_live": 10, "interval": [0.4, 0.9]}}
    bars = sweep_module.BARS
    assert sweep_module.qualifies(row)
    for change in ({"mean_l0": 65.1}, {"explained_variance": [0.79, 0.80]}, {"wer_recovered": {"clean": 0.89}},
                   {"wer_recovered": {"clean": float("nan")}}, {"wer_recovered": None}):
        assert not sweep_module.qualifies({**row, **change}), change
    post = {**row, "recipe": "post", "width": None, "k": None, "mean_l0": 23.1, "explained_variance": [0.68],
            "wer_recovered": {"clean": 0.28, "spoken": 0.39}, "selective": None}
    other_layer = {**row, "layer": "encoder.blocks.2"}
    found = sweep_module.frontiers([row, post, other_layer])
    assert set(found) == {("tiny.en", "encoder.blocks.3"), ("tiny.en", "encoder.blocks.2")}
    points = found[("tiny.en", "encoder.blocks.3")]["points"]
    assert [(p["label"], p["qualifies"], p["selective"]) for p in points] == [("topk 4× k64", True, 0.7),
                                                                              ("post", False, None)]
    assert points[0]["explained_variance"] == pytest.approx(0.87) and found[("tiny.en", "encoder.blocks.3")]["bars"] == bars
    records = tmp_path / "rows.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in (row, post, other_layer)))
    assert sweep_module.main(["--table", str(records), "--figure", str(tmp_path / "figures")]) == 0
    drawn = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert drawn == ["sae-frontier--tiny.en--encoder.blocks.2.png", "sae-frontier--tiny.en--encoder.blocks.3.png"]
    assert all((tmp_path / "figures" / name).read_bytes().startswith(b"\x89PNG") for name in drawn)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        sweep_module.main(["--figure", str(tmp_path)])
    assert "give --table too" in capsys.readouterr().err


def test_training_on_real_speech_leaves_out_the_clip_sets_recordings(sweep_module, monkeypatch):
    """--train-on speech: the real recordings' pass, less every clip cut from a recording the faithfulness
    clip set transcribes (and, as on espeak-ng, less the silent frames)."""
    import numpy as np

    from whisper_claims.claims import phonetic

    class Clip:
        def __init__(self, name, labels):
            self.name, self.frame_labels = name, np.array(labels)

    class Pass:
        def stacked(self, layer):
            return torch.arange(7.0)[:, None]

    clips = (Clip("speech/a.wav@0.00", ["sil", "aa", "b"]), Clip("speech/held.wav@0.00", ["aa", "b"]),
             Clip("speech/a.wav@2.00", ["sil", "k"]))
    monkeypatch.setattr(phonetic, "corpus_pass", lambda *args: (clips, Pass()))
    params = {"corpus": {"source": "speech"}, "layer": "encoder.blocks.3", "pass_layers": ["encoder.blocks.3"]}
    loaded = type("Loaded", (), {"model": None})()
    _, _, frames = sweep_module.corpus_frames(loaded, "encoder.blocks.3", params, exclude=["speech/held.wav"])
    assert frames[:, 0].tolist() == [1.0, 2.0, 6.0]
    assert sweep_module.TRAIN_ON == {"espeak": "enc-sae-phoneme", "speech": "enc-neuron-phoneme-real"}
    with pytest.raises(SystemExit):
        sweep_module.main(["--train-on", "timit"])
