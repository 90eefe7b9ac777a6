"""Bad input and failed runs: every probe of the bad-input issue gives a named error or a recorded row.

Each test is one probe: what a user might do wrong, and what they must get back (a usage error at start
naming the option, file or entry; or a claims.json row, a table cell and a reason that says what happened).
"""
import json
import os
import pickle
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from whisper.model import ModelDimensions, Whisper

from whisper_claims.downloads import download_verified
from whisper_claims.errors import AudioError, DownloadError
from whisper_claims.models.load import write_checkpoint
from whisper_claims.report.claims_json import cell
from whisper_claims.stimuli.audio import load_audio

from toyproject import claims_json, output, run, write_claim, write_thresholds

PROJECT = Path(__file__).parents[1]
SMALL = ModelDimensions(n_mels=80, n_audio_ctx=16, n_audio_state=32, n_audio_head=2, n_audio_layer=1,
                        n_vocab=51865, n_text_ctx=16, n_text_state=32, n_text_head=2, n_text_layer=1)


def row(folder: Path, model: str) -> dict:
    (found,) = [r for r in claims_json(folder)["rows"] if r["model"] == model]
    return found


# -- a model that fails to load: its message reaches claims.json and the table --------------------


def _bad_checkpoints(folder: Path) -> dict[str, tuple[Path, str]]:
    folder.mkdir()
    files = {}
    path = folder / "random-bytes.pt"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    files["random bytes"] = (path, "not a readable Whisper checkpoint")
    good = write_checkpoint(Whisper(SMALL), folder / "good.pt")
    path = folder / "truncated.pt"
    path.write_bytes(good.read_bytes()[:2000])
    files["truncated"] = (path, "not a readable Whisper checkpoint")
    path = folder / "plain-pickle.pt"
    path.write_bytes(pickle.dumps({"hello": 1}))
    files["plain pickle"] = (path, "not a readable Whisper checkpoint")
    path = folder / "no-dims.pt"
    torch.save({"model_state_dict": {}}, path)
    files["a dict without dims"] = (path, "KeyError: 'dims'")
    path = folder / "wrong-dims.pt"
    torch.save({"dims": {"n_mels": 80}, "model_state_dict": {}}, path)
    files["wrong dims"] = (path, "TypeError")
    path = folder / "wrong-shapes.pt"
    state = Whisper(SMALL).state_dict()
    bigger = {**vars(SMALL), "n_audio_state": 64, "n_text_state": 64}
    torch.save({"dims": bigger, "model_state_dict": state}, path)
    files["wrong state dict shapes"] = (path, "size mismatch")
    path = folder / "odd-width.pt"
    torch.save({"dims": {**vars(SMALL), "n_audio_state": 33}, "model_state_dict": state}, path)
    files["impossible dims"] = (path, "AssertionError")
    path = folder / "empty.pt"
    path.write_bytes(b"")
    files["an empty file"] = (path, "an empty file (0 bytes)")
    return files


def test_a_model_that_fails_to_load_keeps_its_message(project, tmp_path):
    files = _bad_checkpoints(tmp_path / "bad")
    specs = ",".join(str(path) for path, _ in files.values())
    out = tmp_path / "out"
    result = run(project, f"--whisper-models={specs}", f"--claims-report={out}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = output(result)
    for probe, (path, words) in files.items():
        found = row(out, str(path))
        assert found["status"] == "error", probe
        assert found["reason"].startswith("CheckpointError: checkpoint ") and str(path) in found["reason"], probe
        assert words in found["reason"], (probe, found["reason"])
        assert f"{path}: " in text  # the summary's notes show the same reason
    # the row's message is enough: no traceback per model on the terminal, unless -v asks for it
    assert "models/load.py:" not in text and "raise CheckpointError" not in text
    assert "not loaded in this run" not in json.dumps(claims_json(out)["run"]["models"])


def test_a_load_failure_shows_its_traceback_under_v(project, tmp_path):
    path = tmp_path / "random-bytes.pt"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    result = run(project, f"--whisper-models={path}", "-v")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "CheckpointError: checkpoint" in output(result) and "models/load.py" in output(result)


def test_a_checkpoint_path_that_does_not_exist_is_a_usage_error_at_start(project, tmp_path):
    result = run(project, f"--whisper-models={tmp_path / 'nowhere' / 'model.pt'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--whisper-models: checkpoint" in output(result) and "no such file" in output(result)


# -- asset failures leave a row ----------------------------------------------------------------

CLIP_THRESHOLDS = """\
schema_version = 1

[claims.toy]
statement = "the clip is long enough"
section = "0) toys"
marker = "encoder"
function = "toyclaims:seconds"
key_metric = "seconds"

[claims.toy.params]
clip = "{clip}"

[claims.toy.metrics.seconds]
description = "the clip's length"
comparator = ">="
threshold = 1
provenance = "a toy"
fixed = {{commit = "abc1234", date = "2026-12-07", after_real = true}}
"""

CLIP_TEST = """\
import os
import pytest
from whisper_claims.claims.verdict import Measurement


def seconds(model, *, clip):
    return Measurement({"seconds": os.path.getsize(clip) / 32000})


@pytest.mark.claim("toy")
def test_toy(whisper_model, claim):
    claim.check(whisper_model)
"""


@pytest.fixture
def clip_project(project, tmp_path, monkeypatch):
    monkeypatch.setenv("WHISPER_CLAIMS_CACHE", str(tmp_path / "cache"))
    write_thresholds(project, text=CLIP_THRESHOLDS.format(clip="blog/encoder/Hot_ones.wav"))
    write_claim(project, CLIP_TEST)
    return project


def test_an_asset_with_another_checksum_is_an_error_row(clip_project, tmp_path):
    assets = tmp_path / "assets"
    (assets / "blog" / "encoder").mkdir(parents=True)
    (assets / "blog" / "encoder" / "Hot_ones.wav").write_bytes(b"not the post's clip")
    out = tmp_path / "out"
    result = run(clip_project, "--whisper-models=random:tiny", f"--assets={assets}", f"--claims-report={out}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    found = row(out, "random:tiny")
    assert found["status"] == "error" and found["reason"].startswith("ChecksumMismatch: ")
    assert "Hot_ones.wav" in found["reason"]


def test_an_absent_asset_is_a_skipped_row_saying_where_it_looked(clip_project, tmp_path):
    (tmp_path / "assets").mkdir()
    out = tmp_path / "out"
    result = run(clip_project, "--whisper-models=random:tiny", f"--assets={tmp_path / 'assets'}",
                 f"--claims-report={out}")
    assert result.ret == pytest.ExitCode.OK
    found = row(out, "random:tiny")
    assert found["status"] == "skipped" and "Hot_ones.wav" in found["reason"]
    assert str(tmp_path / "assets") in found["reason"]
    assert (out / "badges" / "toy.json").is_file()


@pytest.mark.parametrize("clip", ["blog/encoder/Hot_one.wav", "no/such/asset.wav"])
def test_a_clip_that_names_no_asset_is_a_usage_error_at_start(clip_project, clip):
    write_thresholds(clip_project, text=CLIP_THRESHOLDS.format(clip=clip))
    result = run(clip_project, "--whisper-models=random:tiny")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"claims.toy.params.clip: {clip!r} names no asset" in output(result)


REFERENCE_ASSETS = os.environ.get("WHISPER_CLAIMS_ASSETS")  # read before `project` clears the environment

RECORDINGS_THRESHOLDS = """\
schema_version = 1

[claims.toy]
statement = "the recordings are there"
section = "0) toys"
marker = "encoder"
function = "toyclaims:files"
key_metric = "files"

[claims.toy.params]
recordings = [["speech/praatio/bobby.wav", "Bobby ripped the ledger"], ["{audio}", "{grid}"]]

[claims.toy.metrics.files]
description = "how many recordings were found as files"
comparator = ">="
threshold = 2
provenance = "a toy"
fixed = {{commit = "abc1234", date = "2026-12-07", after_real = true}}
"""

RECORDINGS_TEST = """\
import os
import pytest
from whisper_claims.claims.verdict import Measurement


def files(model, *, recordings):
    return Measurement({"files": sum(os.path.isfile(audio) for audio, _ in recordings)})


@pytest.mark.claim("toy")
def test_toy(whisper_model, claim):
    claim.check(whisper_model)
"""


@pytest.mark.parametrize("audio, grid, bad", [
    ("speech/praatio/bobbi.wav", "speech/praatio/bobby_words.TextGrid", "speech/praatio/bobbi.wav"),
    ("speech/praatio/mary.wav", "speech/praatio/mary_words.TextGrid", "speech/praatio/mary_words.TextGrid"),
])
def test_a_recording_that_names_no_asset_is_a_usage_error_at_start(project, audio, grid, bad):
    write_thresholds(project, text=RECORDINGS_THRESHOLDS.format(audio=audio, grid=grid))
    write_claim(project, RECORDINGS_TEST)
    result = run(project, "--whisper-models=random:tiny")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"claims.toy.params.recordings[1]: {bad!r} names no asset" in output(result)


def test_recordings_are_found_through_the_assets_option_or_skip(project, tmp_path, monkeypatch):
    """The files of a clip set are resolved like a clip: through --assets, checksum-verified, and an
    absent one is a skipped row saying where it was looked for."""
    assets = REFERENCE_ASSETS
    if not assets:
        pytest.skip("WHISPER_CLAIMS_ASSETS is not set: the reference recordings are not here")
    monkeypatch.setenv("WHISPER_CLAIMS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("WHISPER_CLAIMS_ASSETS", raising=False)
    write_thresholds(project, text=RECORDINGS_THRESHOLDS.format(audio="speech/praatio/mary.wav",
                                                                grid="mary rolled the barrel"))
    write_claim(project, RECORDINGS_TEST)
    found = run(project, "--whisper-models=random:tiny", f"--assets={assets}", f"--claims-report={tmp_path / 'a'}")
    assert found.ret == pytest.ExitCode.OK and row(tmp_path / "a", "random:tiny")["status"] == "holds"
    (tmp_path / "empty").mkdir()
    absent = run(project, "--whisper-models=random:tiny", f"--assets={tmp_path / 'empty'}",
                 f"--claims-report={tmp_path / 'b'}")
    assert absent.ret == pytest.ExitCode.OK
    skipped = row(tmp_path / "b", "random:tiny")
    assert skipped["status"] == "skipped" and "bobby.wav" in skipped["reason"]


# -- the report folder -------------------------------------------------------------------------


def test_a_report_path_that_is_a_file_is_a_usage_error_at_start(project, tmp_path):
    target = tmp_path / "claims-report"
    target.write_text("I am a file")
    result = run(project, "--whisper-models=random:tiny", f"--claims-report={target}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--claims-report={target}: a file is there" in output(result)


def test_an_unwritable_report_folder_is_a_usage_error_at_start(project, tmp_path, monkeypatch):
    import whisper_claims.run_options as run_options

    # as root every folder is writable; what a user without the right gets is the same check's answer
    monkeypatch.setattr(run_options.os, "access", lambda path, mode: False)
    result = run(project, "--whisper-models=random:tiny", f"--claims-report={tmp_path / 'out'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "this user cannot write into the folder" in output(result)


def test_a_report_that_cannot_be_written_after_the_run_keeps_the_results(project, tmp_path, monkeypatch):
    import whisper_claims.run_report as run_report

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run_report, "build_reports", full_disk)
    monkeypatch.setattr(run_report, "write_claims_json", full_disk)
    result = run(project, "--whisper-models=random:tiny", f"--claims-report={tmp_path / 'out'}")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    text = output(result)
    assert "toy    holds width=384 (>= 300)" in text  # the results were printed
    assert "no report: OSError" in text and "No space left on device" in text
    assert "claims.json could not be written" in text and "nothing there was replaced" in text


# -- the baseline: one reader with `whisper-claims report` ------------------------------------


@pytest.mark.parametrize("content,expected", [
    (b"[1, 2]", "not a claims.json document"),
    (b'"a string"', "not a claims.json document"),
    (b"\xff\xfe\x00binary", "not a claims.json document"),
])
def test_a_baseline_that_is_not_a_claims_json_names_the_file(project, tmp_path, content, expected):
    path = tmp_path / "baseline.json"
    path.write_bytes(content)
    result = run(project, "--whisper-models=random:tiny", f"--claims-baseline={path}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--claims-baseline: {path}" in output(result) and expected in output(result)


@pytest.mark.parametrize("change,entry", [
    (lambda d: d.pop("rows"), "rows"),
    (lambda d: d.update(claims=list(d["claims"])), "claims"),
])
def test_a_malformed_baseline_names_the_entry_at_start(project, tmp_path, change, entry):
    first = tmp_path / "first"
    assert run(project, "--whisper-models=random:tiny", f"--claims-report={first}").ret == 0
    document = claims_json(first)
    change(document)
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(document))
    result = run(project, "--whisper-models=random:tiny", f"--claims-baseline={path}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--claims-baseline: {path}" in output(result) and entry in output(result)


# -- the thresholds file -----------------------------------------------------------------------


def test_a_thresholds_folder_or_binary_file_is_a_usage_error(project, tmp_path):
    folder = tmp_path / "thresholds"
    folder.mkdir()
    binary = tmp_path / "thresholds.bin"
    binary.write_bytes(b"\x00\xff\xfe\x80" * 64)
    for path, expected in ((folder, "a folder; expected a TOML file"), (binary, "not UTF-8 text")):
        result = project.runpytest("-p", "no:cacheprovider", f"--claims-thresholds={path}",
                                   "--whisper-models=random:tiny")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        assert f"thresholds file {path}: {expected}" in output(result)


@pytest.mark.parametrize("old,new,expected", [
    ("[claims.dec-bigram.params]\ntop = 20\n", "[claims.dec-bigram.params]\ntopp = 20\n",
     "claims.dec-bigram.params.topp: dec_bigram() takes no argument 'topp'; did you mean 'top'?"),
    ("[claims.dec-bigram.params]\ntop = 20\n", '[claims.dec-bigram.params]\ntop = "20"\n',
     "claims.dec-bigram.params.top: '20' is a string, expected an integer"),
    # inside nested tables and lists, by the function's annotations (TypedDicts), and integers never negative
    ("top = 10\n", 'top = "ten"\n',
     "claims.dec-embed-sound.params.neighbour_checks[0].top: 'ten' is a string, expected an integer"),
    ("top = 10\n", "top = -5\n", "claims.dec-embed-sound.params.neighbour_checks[0].top: -5 is negative, "
                                "expected an integer ≥ 0"),
    ('query = " rug"\n', 'query = " rug"\nqeury = " rug"\n',
     "claims.dec-embed-sound.params.neighbour_checks[0]: the table has qeury, expected a table of metric, query"),
    ('{ prompt = " thank", expected = ["you"] }', '{ prompt = " thank", expected = "you" }',
     "claims.dec-bigram-general.params.pairs[1].expected: 'you' is a string, expected a list"),
])
def test_params_are_checked_against_the_claims_function_at_start(project, tmp_path, old, new, expected):
    text = (PROJECT / "claims" / "thresholds.toml").read_text(encoding="utf-8")
    assert text.count(old) >= 1
    path = tmp_path / "thresholds.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = project.runpytest("-p", "no:cacheprovider", f"--claims-thresholds={path}", "--whisper-models=random:tiny")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert expected in output(result)


def test_an_infinite_threshold_is_refused(project):
    write_thresholds(project, threshold="inf")
    result = run(project, "--whisper-models=random:tiny")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "claims.toy.metrics.width.threshold: expected a finite number, got inf" in output(result)


# -- too late or unnamed -----------------------------------------------------------------------


def test_a_bad_download_setting_is_one_usage_error_at_start(project, monkeypatch):
    monkeypatch.setenv("WHISPER_CLAIMS_DOWNLOAD", "maybe")
    result = run(project, "--whisper-models=random:tiny")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "WHISPER_CLAIMS_DOWNLOAD='maybe'" in output(result)


def test_a_clip_longer_than_the_window_names_the_file(tmp_path, capsys):
    from whisper_claims.cli import main

    path = tmp_path / "forty-seconds.wav"
    import soundfile

    soundfile.write(path, np.zeros(40 * 16000, dtype=np.float32), 16000)
    assert main(["listen", "random:tiny", "encoder.blocks.0.mlp.1", str(path), "--units=0",
                 f"--out={tmp_path / 'out'}"]) == 2
    assert f"whisper-claims listen: {path}: is 40.00 s long, longer than the model's 30.00 s" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_wav_whose_data_is_shorter_than_its_header_says_is_an_error(tmp_path):
    path = tmp_path / "cut.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.zeros(6 * 16000, dtype=np.int16).tobytes())
    data = path.read_bytes()
    path.write_bytes(data[: 44 + 2 * 2 * 16000])  # 2.0 s of the 6 the header declares
    with pytest.raises(AudioError, match=r"cut\.wav: the WAV header declares 192000 bytes of samples, the file holds "
                                         r"64000; the file is truncated"):
        load_audio(path)
    whole = tmp_path / "whole.wav"
    whole.write_bytes(data)
    assert len(load_audio(whole)) == 6 * 16000


def test_a_failed_download_leaves_no_folder_behind(tmp_path, server):
    root, url = server
    dest = tmp_path / "cache" / "deep" / "er" / "file.bin"
    with pytest.raises(DownloadError):
        download_verified(f"{url}/missing.bin", dest, "0" * 64)
    assert not (tmp_path / "cache").exists()


# -- the cell of a claim that fails shows the metric that failed --------------------------------


def test_a_failing_cell_shows_the_failed_metric():
    metrics = {"very_continuations": {"value": 5.0, "comparator": ">=", "threshold": 3.0, "passed": True},
               "traffic_continuations": {"value": 0.0, "comparator": ">=", "threshold": 2.0, "passed": False}}
    assert cell({"status": "fails", "metrics": metrics}, "very_continuations") == \
        "fails traffic_continuations=0 (>= 2)"
    assert cell({"status": "holds", "metrics": {**metrics, "traffic_continuations": {
        **metrics["traffic_continuations"], "passed": True}}}, "very_continuations") == \
        "holds very_continuations=5 (>= 3)"


def test_a_file_torch_refuses_to_unpickle_never_relays_its_unsafe_advice(tmp_path):
    """torch's message for a file weights_only=True refuses advises weights_only=False, which would run
    whatever the file holds: the error says what the file is not, and a CTranslate2 model.bin is named by
    its folder."""
    from whisper_claims.errors import CheckpointError
    from whisper_claims.models.load import open_model

    folder = tmp_path / "faster-whisper-tiny"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"\x06\x00\x00\x00" + np.random.default_rng(1).bytes(256))
    objects = tmp_path / "objects.pt"
    torch.save({"dims": Path("not a tensor")}, objects)
    for path in (folder / "model.bin", objects):
        with pytest.raises(CheckpointError) as info:
            open_model(str(path))
        message = str(info.value)
        assert f"checkpoint {path}: not a readable Whisper checkpoint (UnpicklingError: " in message, message
        assert "weights_only=False" not in message and "weights_only` set to `False" not in message, message
    with pytest.raises(CheckpointError, match=f"named by its folder: --whisper-models={folder}"):
        open_model(str(folder / "model.bin"))
