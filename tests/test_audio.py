import tempfile
import types
from math import gcd
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import whisper
from hypothesis import example, given, settings
from hypothesis import strategies as st
from whisper.model import ModelDimensions

from whisper_claims.errors import AudioError
from whisper_claims.stimuli.audio import (HOP_LENGTH, SAMPLE_RATE, load_audio, load_mel, log_mel, padding_mel,
                                          window_samples)

ASSETS = Path(__file__).parents[1].parent / "shared" / "assets"
JFK = ASSETS / "speech" / "whisper_jfk" / "jfk.flac"
JFK_16K = ASSETS / "speech" / "whisper_jfk" / "jfk_16k_mono.wav"
BOBBY = ASSETS / "speech" / "praatio" / "bobby.wav"
HOT_ONES = ASSETS / "blog" / "encoder" / "Hot_ones.wav"


def _asset(path):
    if not path.is_file():
        pytest.skip(f"shared asset {path} is absent")
    return path


def _model(n_audio_ctx=1500, n_mels=80):
    dims = ModelDimensions(
        n_mels=n_mels,
        n_audio_ctx=n_audio_ctx,
        n_audio_state=64,
        n_audio_head=2,
        n_audio_layer=1,
        n_vocab=51865,
        n_text_ctx=8,
        n_text_state=64,
        n_text_head=2,
        n_text_layer=1,
    )
    return types.SimpleNamespace(dims=dims)


def _tone(n, sr=SAMPLE_RATE, freq=440.0):
    t = np.arange(n) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# real files


def test_jfk_flac_loads_as_16k_mono():
    audio = load_audio(_asset(JFK))
    assert audio.dtype == np.float32
    assert audio.ndim == 1
    assert audio.shape == (176000,)
    assert audio.flags["C_CONTIGUOUS"]
    assert np.isfinite(audio).all()


def test_jfk_flac_agrees_with_ffmpeg_conversion():
    ours = load_audio(_asset(JFK))
    ffmpeg = load_audio(_asset(JFK_16K))
    assert ffmpeg.shape == ours.shape
    corr = np.corrcoef(ours, ffmpeg)[0, 1]
    assert corr > 0.99
    assert not np.array_equal(ours, ffmpeg)


def test_bobby_48k_resampled_to_16k():
    audio = load_audio(_asset(BOBBY))
    n_48k = sf.info(str(BOBBY)).frames
    assert audio.shape == (-(-n_48k // 3),)
    assert audio.shape[0] / SAMPLE_RATE == pytest.approx(1.1946, abs=1e-3)


def test_hot_ones_float32_16k():
    audio = load_audio(_asset(HOT_ONES))
    assert audio.dtype == np.float32
    assert audio.shape == (96000,)
    raw, _ = sf.read(str(HOT_ONES), dtype="float32")
    np.testing.assert_array_equal(audio, raw)


def test_load_mel_of_a_real_file():
    mel = load_mel(_asset(JFK), _model())
    assert mel.shape == (1, 80, 3000)
    assert mel.dtype == torch.float32
    expected = whisper.log_mel_spectrogram(whisper.pad_or_trim(load_audio(JFK)))
    torch.testing.assert_close(mel[0], expected, rtol=0, atol=0)


def test_load_audio_accepts_str_path():
    assert load_audio(str(_asset(HOT_ONES))).shape == (96000,)


# generated files


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 3 * 48000),
    sr=st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000]),
    channels=st.integers(1, 3),
    subtype=st.sampled_from(["PCM_16", "FLOAT"]),
    seed=st.integers(0, 2**32 - 1),
)
@example(n=865, sr=8000, channels=3, subtype="FLOAT", seed=67)  # once 2 ulps apart after resampling
def test_generated_wav_loads_as_16k_mono(n, sr, channels, subtype, seed):
    rng = np.random.default_rng(seed)
    mono = rng.uniform(-0.9, 0.9, n).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one.wav"
        many = Path(tmp) / "many.wav"
        sf.write(one, mono, sr, subtype=subtype)
        sf.write(many, np.repeat(mono[:, None], channels, axis=1), sr, subtype=subtype)
        a1 = load_audio(one)
        an = load_audio(many)

    up, down = SAMPLE_RATE, sr
    g = gcd(up, down)
    up, down = up // g, down // g
    expected_len = -(-n * up // down)

    for a in (a1, an):
        assert a.dtype == np.float32
        assert a.ndim == 1
        assert a.flags["C_CONTIGUOUS"]
        assert np.isfinite(a).all()
        assert a.shape == (expected_len,)
    # averaging equal float32 channels can be 1 ulp off before resampling, which spreads it over the
    # signal's scale (|samples| < 1): a few float32 ulps at 1.0, not at each sample's own size
    np.testing.assert_allclose(an, a1, rtol=1e-6, atol=5e-7)
    if sr == SAMPLE_RATE and subtype == "FLOAT":
        np.testing.assert_array_equal(a1, mono)


def test_resampling_is_deterministic(tmp_path):
    path = tmp_path / "tone.wav"
    sf.write(path, _tone(22050, sr=44100), 44100)
    np.testing.assert_array_equal(load_audio(path), load_audio(path))


def test_other_target_rate(tmp_path):
    path = tmp_path / "tone.wav"
    sf.write(path, _tone(16000), 16000)
    assert load_audio(path, sample_rate=8000).shape == (8000,)


def test_resampled_tone_keeps_its_frequency(tmp_path):
    path = tmp_path / "tone.wav"
    sf.write(path, _tone(44100, sr=44100, freq=1000.0), 44100)
    audio = load_audio(path)
    spectrum = np.abs(np.fft.rfft(audio))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / len(audio)
    assert peak_hz == pytest.approx(1000.0, abs=2.0)


# errors


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.wav"
    with pytest.raises(AudioError, match="nowhere.wav"):
        load_audio(path)


def test_corrupt_file(tmp_path):
    path = tmp_path / "garbage.wav"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(AudioError, match="garbage.wav") as e:
        load_audio(path)
    assert "cannot read audio" in str(e.value)
    assert "WAV or FLAC" in str(e.value)


def test_directory_is_not_audio(tmp_path):
    with pytest.raises(AudioError, match="directory"):
        load_audio(tmp_path)


def test_zero_length_wav(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="empty.wav.*no audio samples"):
        load_audio(path)


def test_nan_samples(tmp_path):
    path = tmp_path / "nan.wav"
    x = _tone(1000)
    x[[3, 10, 500]] = np.nan
    x[7] = np.inf
    sf.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan.wav.*4 of 1000 samples are NaN or infinite"):
        load_audio(path)


def test_bad_sample_rate_argument(tmp_path):
    path = tmp_path / "tone.wav"
    sf.write(path, _tone(100), 16000)
    with pytest.raises(AudioError, match="sample_rate"):
        load_audio(path, sample_rate=0)


@pytest.mark.parametrize("n_audio_ctx, seconds, window", [(1500, 31, 30), (500, 11, 10)])
def test_file_longer_than_window(tmp_path, n_audio_ctx, seconds, window):
    path = tmp_path / "long.wav"
    sf.write(path, np.zeros(seconds * 16000, np.float32), 16000)
    with pytest.raises(AudioError) as e:
        load_mel(path, _model(n_audio_ctx))
    msg = str(e.value)
    assert "long.wav" in msg
    assert f"{seconds:.2f} s" in msg
    assert f"{window:.2f} s window" in msg
    assert "cut it first" in msg


def test_array_longer_than_window_names_audio_array():
    with pytest.raises(AudioError, match=r"audio array.*31.00 s.*30.00 s window"):
        log_mel(np.zeros(31 * 16000, np.float32), _model())


def test_array_exactly_the_window_is_accepted():
    assert log_mel(np.zeros(160000, np.float32), _model(500)).shape == (1, 80, 1000)


@pytest.mark.parametrize(
    "audio, match",
    [
        (np.zeros((2, 100), np.float32), "shape"),
        (np.zeros(0, np.float32), "no audio samples"),
        (np.array([0.0, np.nan, np.inf], np.float32), "2 of 3 samples are NaN or infinite"),
        (np.zeros(100, np.int16), "float samples"),
        (torch.zeros(1, 100), "shape"),
        (torch.tensor([float("nan")]), "NaN"),
        ([0.0, 0.1], "numpy array or torch tensor"),
    ],
)
def test_log_mel_rejects_bad_arrays(audio, match):
    with pytest.raises(AudioError, match=match) as e:
        log_mel(audio, _model())
    assert "audio array" in str(e.value)


# window and log-mel


def test_window_samples():
    assert window_samples(_model()) == 480000
    assert window_samples(_model(500)) == 160000
    assert window_samples(_model().dims) == 480000
    with pytest.raises(TypeError, match="ModelDimensions"):
        window_samples(object())


def test_real_whisper_model_is_accepted():
    model = whisper.model.Whisper(_model(n_audio_ctx=500).dims)
    assert window_samples(model) == 160000 == 500 * 2 * HOP_LENGTH
    assert log_mel(_tone(1600), model).shape == (1, 80, 1000)


@pytest.mark.parametrize(
    "n_audio_ctx, n_mels, shape",
    [(1500, 80, (1, 80, 3000)), (500, 80, (1, 80, 1000)), (1500, 128, (1, 128, 3000))],
)
def test_log_mel_shape(n_audio_ctx, n_mels, shape):
    mel = log_mel(_tone(16000), _model(n_audio_ctx, n_mels))
    assert mel.shape == shape
    assert mel.dtype == torch.float32
    assert padding_mel(_model(n_audio_ctx, n_mels)).shape == shape


def test_short_clip_is_padded_at_audio_level():
    x = _tone(8000)
    mel = log_mel(x, _model())
    expected = whisper.log_mel_spectrogram(whisper.pad_or_trim(x))
    torch.testing.assert_close(mel[0], expected, rtol=0, atol=0)
    # padding the mel instead would leave the silent tail at -1.5, not at max - 8
    assert not torch.allclose(mel[0, :, -1], torch.full((80,), -1.5))


def test_tensor_and_array_give_the_same_mel():
    x = _tone(8000)
    torch.testing.assert_close(log_mel(torch.from_numpy(x), _model()), log_mel(x, _model()))
    torch.testing.assert_close(log_mel(x.astype(np.float64), _model()), log_mel(x, _model()))


def test_padding_mel_is_constant_for_30s():
    mel = padding_mel(_model())
    assert mel.shape == (1, 80, 3000)
    assert torch.all(mel == -1.5)
    torch.testing.assert_close(mel, log_mel(np.zeros(1, np.float32), _model()))


def test_padding_mel_cache_cannot_be_corrupted():
    first = padding_mel(_model())
    first.fill_(7.0)
    first[0, 0, 0] = 123.0
    assert torch.all(padding_mel(_model()) == -1.5)


def test_log_mel_is_deterministic():
    x = np.random.default_rng(1).uniform(-0.5, 0.5, 20000).astype(np.float32)
    torch.testing.assert_close(log_mel(x, _model()), log_mel(x, _model()), rtol=0, atol=0)


def test_log_mel_does_not_change_its_input():
    x = _tone(8000)
    before = x.copy()
    log_mel(x, _model())
    np.testing.assert_array_equal(x, before)


def test_read_only_samples_are_accepted_without_a_warning(recwarn):
    from whisper.model import ModelDimensions

    dims = ModelDimensions(n_mels=80, n_audio_ctx=50, n_audio_state=8, n_audio_head=1, n_audio_layer=1,
                           n_vocab=51865, n_text_ctx=4, n_text_state=8, n_text_head=1, n_text_layer=1)
    samples = np.linspace(-0.5, 0.5, 8000, dtype=np.float32)
    samples.setflags(write=False)
    mel = log_mel(samples, dims)
    assert mel.shape == (1, 80, 100) and not [w for w in recwarn if "not writable" in str(w.message)]
    assert not samples.flags.writeable  # the caller's array is left as it was
