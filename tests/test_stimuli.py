"""Stimulus corpora: espeak-ng synthesis (deterministic across calls and processes, plausible phoneme
timings), the generated corpus and its cache, and the real aligned recordings."""
import hashlib
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from whisper_claims.errors import AssetUnavailable, StimulusError, SynthesisError
from whisper_claims.stimuli import corpus as stimuli
from whisper_claims.stimuli import espeak
from whisper_claims.stimuli.corpus import CorpusOptions
from whisper_claims.stimuli.phones import LABELS, PHONES, SIL, VOWELS, espeak_source, to_arpabet_sequence

SENTENCE = "She sells sea shells by the sea shore, and the shells she sells are surely seashells."
REPO = Path(__file__).resolve().parents[1]


def fingerprint(clip) -> str:
    digest = hashlib.sha256(clip.audio.tobytes())
    digest.update(json.dumps([(s.start_s, s.end_s, s.label) for s in clip.segments]).encode())
    digest.update(" ".join(clip.frame_labels.tolist()).encode())
    return digest.hexdigest()


def small(n=3, **kwargs) -> CorpusOptions:
    return CorpusOptions(n_clips=n, **kwargs)


# -- espeak-ng ----------------------------------------------------------------------------------


def test_synthesis_is_bit_identical_on_repeat_in_one_process():
    first = espeak.synthesize(SENTENCE, "en-us", 175)
    espeak.synthesize("Something else in between, to move any state the library keeps.", "en+f2", 140)
    again = espeak.synthesize(SENTENCE, "en-us", 175)
    assert first.sample_rate == 22050 and first.samples.dtype == np.int16
    assert np.array_equal(first.samples, again.samples)
    assert first.phonemes == again.phonemes and first.words == again.words
    a = stimuli.synthesize_clip(SENTENCE, "en-us+f3", 160)
    b = stimuli.synthesize_clip(SENTENCE, "en-us+f3", 160)
    assert fingerprint(a) == fingerprint(b)


def test_synthesis_is_bit_identical_in_another_process():
    clip = stimuli.synthesize_clip(SENTENCE, "en-gb-scotland+f5", 185, clip_s=2.0)
    code = (
        "import hashlib, json, sys\n"
        "from whisper_claims.stimuli import corpus as stimuli\n"
        f"clip = stimuli.synthesize_clip({SENTENCE!r}, 'en-gb-scotland+f5', 185, clip_s=2.0)\n"
        "digest = hashlib.sha256(clip.audio.tobytes())\n"
        "digest.update(json.dumps([(s.start_s, s.end_s, s.label) for s in clip.segments]).encode())\n"
        "digest.update(' '.join(clip.frame_labels.tolist()).encode())\n"
        "print(digest.hexdigest())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == fingerprint(clip)


def test_voices_and_rates_change_the_samples():
    base = espeak.synthesize("A quiet garden.", "en-us", 175)
    for voice, rate in (("en-us+f3", 175), ("en", 175), ("en-us", 120)):
        other = espeak.synthesize("A quiet garden.", voice, rate)
        assert not np.array_equal(base.samples, other.samples), (voice, rate)
    assert len(espeak.synthesize("A quiet garden.", "en-us", 120).samples) > len(base.samples)


@pytest.mark.parametrize("voice", ["en-us", "en", "en-gb-scotland", "en-029+m2"])
def test_phoneme_events_are_espeaks_own_phoneme_string(voice):
    synthesis = espeak.synthesize(SENTENCE, voice, 175)
    spoken = [p.name for p in synthesis.phonemes if not p.name.startswith("_")]
    assert spoken == list(espeak.phonemize(SENTENCE, voice))
    starts = [p.sample for p in synthesis.phonemes]
    assert starts == sorted(starts) and 0 <= starts[0] < 2000 and starts[-1] <= len(synthesis.samples)


def test_phoneme_timings_match_the_sound():
    """Frames labelled with sibilants carry their energy above 4 kHz, vowels below; within the speech,
    frames are rarely silence; padding is silence."""
    clip = stimuli.synthesize_clip(SENTENCE, "en-us", 175, clip_s=6.0)
    assert clip.audio.shape == (96000,) and clip.frame_labels.shape == (300,)
    frames = clip.audio[: 300 * 320].reshape(300, 320).astype(np.float64)
    spectra = np.abs(np.fft.rfft(frames * np.hanning(320), axis=1)) ** 2
    high = spectra[:, np.fft.rfftfreq(320, 1 / 16000) >= 4000].sum(axis=1) / (spectra.sum(axis=1) + 1e-12)
    energy = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    labels = clip.frame_labels
    sibilant = np.isin(labels, ["S", "SH"])
    vowel = np.isin(labels, sorted(VOWELS))
    assert sibilant.sum() > 20 and vowel.sum() > 40
    assert np.median(high[sibilant]) > 0.3 > 0.05 > np.median(high[vowel])
    assert np.median(energy[vowel]) > np.median(energy[sibilant]) > -60
    speech = np.flatnonzero(labels != SIL)
    inside = labels[speech[0]: speech[-1] + 1]
    assert np.mean(inside == SIL) < 0.15
    assert (energy[speech[-1] + 5:] < -100).all()  # zero padding


def test_espeak_request_errors():
    with pytest.raises(SynthesisError, match=r"voice 'xx-nowhere' not found"):
        espeak.synthesize("hello", "xx-nowhere")
    with pytest.raises(SynthesisError, match=r"voice 'en-us\+zz9': espeak-ng has no variant 'zz9'"):
        espeak.synthesize("hello", "en-us+zz9")
    with pytest.raises(ValueError, match=r"rate 50: expected an integer from 80 to 450"):
        espeak.synthesize("hello", "en-us", 50)
    with pytest.raises(ValueError, match=r"text '  ': expected a non-empty string"):
        espeak.synthesize("  ")
    with pytest.raises(ValueError, match="no NUL"):
        espeak.phonemize("a\0b")
    assert espeak.synthesize("hello again").samples.size > 0  # the helper survives refused requests
    assert espeak.version().startswith("1.") and espeak.native_sample_rate() == 22050


# -- generated corpus ---------------------------------------------------------------------------


def test_sentences_are_pinned_and_depend_only_on_seed_and_index():
    words = stimuli.load_words()
    assert stimuli.make_sentence(0, 0, words) == "A prince arranged this box rarely around each sour jacket."
    assert stimuli.clip_plan(CorpusOptions(), 1, words) == (
        "Into no tiny chalk you crossed a plain garden while this bread.", "en", 155)
    assert [stimuli.clip_plan(small(5), i, words) for i in range(5)] == [
        stimuli.clip_plan(CorpusOptions(n_clips=2000), i, words) for i in range(5)]
    assert stimuli.make_sentence(1, 0, words) != stimuli.make_sentence(0, 0, words)
    sentences = [stimuli.make_sentence(0, i, words) for i in range(300)]
    assert len(set(sentences)) == 300
    assert not any(" a a" in s or " a e" in s or " a o" in s for s in sentences)  # "an" before vowels


def test_every_word_maps_to_arpabet_and_all_39_phonemes_occur():
    words = stimuli.load_words()
    text = " ".join(w for ws in words.values() for w in ws)
    for voice in stimuli.DEFAULT_VOICES:
        mapped = [p for name in espeak.phonemize(text, voice) for p in to_arpabet_sequence(name, espeak_source(voice))]
        assert set(mapped) <= set(LABELS)
        if voice in ("en-us", "en"):
            assert set(PHONES) <= set(mapped), set(PHONES) - set(mapped)


def test_a_small_corpus_builds_in_seconds(tmp_path):
    start = time.perf_counter()
    clips = stimuli.build_corpus(small(20), cache=tmp_path)
    elapsed = time.perf_counter() - start
    assert elapsed < 15, f"20 clips took {elapsed:.1f} s"
    assert [c.name for c in clips] == [f"espeak/0/{i:05d}" for i in range(20)]
    counts = Counter()
    for clip, (sentence, voice, rate) in zip(clips, (stimuli.clip_plan(small(20), i) for i in range(20))):
        assert clip.audio.shape == (32000,) and clip.audio.dtype == np.float32
        assert clip.frame_labels.shape == (100,) and clip.sample_rate == 16000
        assert not clip.audio.flags.writeable and not clip.frame_labels.flags.writeable
        assert (clip.voice, clip.rate) == (voice, rate) and clip.origin.startswith("espeak-ng 1.")
        assert sentence.startswith(clip.text) and 0 < len(clip.text) < len(sentence)
        assert clip.segments[-1].end_s <= 2.0 and set(s.label for s in clip.segments) <= set(LABELS)
        assert np.abs(clip.audio).max() < 1.5 and np.abs(clip.audio).max() > 0.05
        assert np.mean(clip.frame_labels != SIL) > 0.6  # cut near 2 s: mostly speech
        counts.update(clip.frame_labels.tolist())
    assert len(counts) > 30
    assert len({c.voice for c in clips}) > 4 and len({c.rate for c in clips}) > 2


def test_cut_at_the_last_word_boundary_and_pad(tmp_path):
    clip = stimuli.synthesize_clip(SENTENCE, "en-us", 175, clip_s=1.5)
    full = stimuli.synthesize_clip(SENTENCE, "en-us", 175)
    assert clip.audio.shape == (24000,) and clip.frame_labels.shape == (75,)
    assert full.text == SENTENCE and full.duration_s > 4
    assert SENTENCE.startswith(clip.text) and SENTENCE[len(clip.text)] in " ,"
    n = len(clip.text.split())
    assert 2 <= n < len(SENTENCE.split())
    end = clip.segments[-1].end_s
    assert end <= 1.5 and np.all(clip.audio[int(end * 16000) + 40:] == 0)
    # the kept speech is the start of the whole utterance, apart from the fade-out at the cut
    keep = int((end - 0.01) * 16000)
    assert np.allclose(clip.audio[:keep], full.audio[:keep], atol=2e-3)
    assert [s.label for s in clip.segments] == [s.label for s in full.segments[: len(clip.segments)]]


def test_cache_miss_then_hit_without_synthesis(tmp_path, monkeypatch):
    options = small(2)
    first = stimuli.build_corpus(options, cache=tmp_path)
    files = sorted(tmp_path.rglob("*"))
    stored = [p for p in files if p.is_file()]
    assert len(stored) == 2 and all(p.suffix == ".npz" and p.parent.name == p.name[:2] for p in stored)

    def no_synthesis(*args, **kwargs):
        raise AssertionError("a cached clip was synthesised again")

    monkeypatch.setattr(espeak, "synthesize", no_synthesis)
    again = stimuli.build_corpus(options, cache=tmp_path)
    assert [fingerprint(c) for c in again] == [fingerprint(c) for c in first]
    assert sorted(tmp_path.rglob("*")) == files
    with pytest.raises(AssertionError, match="synthesised again"):
        stimuli.build_corpus(options, cache=False)
    with pytest.raises(AssertionError, match="synthesised again"):
        stimuli.build_corpus(CorpusOptions(n_clips=2, sample_rate=22050), cache=tmp_path)  # another key


def test_cache_key_covers_what_the_clip_depends_on():
    key = stimuli.cache_key("Hi there.", "en-us", 175, 16000, 2.0)
    assert len(key) == 64
    others = {
        stimuli.cache_key(*args) for args in [
            ("Hi there!", "en-us", 175, 16000, 2.0), ("Hi there.", "en", 175, 16000, 2.0),
            ("Hi there.", "en-us", 176, 16000, 2.0), ("Hi there.", "en-us", 175, 8000, 2.0),
            ("Hi there.", "en-us", 175, 16000, None),
        ]
    }
    assert key not in others and len(others) == 5


def test_a_failed_cache_write_leaves_no_file(tmp_path, monkeypatch):
    def broken(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(OSError, match="disk full"):
        stimuli.synthesize_clip("Hi there.", cache=tmp_path)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_damaged_or_foreign_cache_files_are_errors(tmp_path):
    clip = stimuli.synthesize_clip("Hi there.", cache=tmp_path)
    (path,) = [p for p in tmp_path.rglob("*.npz")]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StimulusError, match=rf"{path.name}: cannot read this cached stimulus clip.*delete it"):
        stimuli.synthesize_clip("Hi there.", cache=tmp_path)
    # a file holding another clip under this clip's name
    other = tmp_path / "other"
    stimuli.synthesize_clip("Something else.", cache=other)
    (foreign,) = list(other.rglob("*.npz"))
    path.write_bytes(foreign.read_bytes())
    with pytest.raises(StimulusError, match=r"holds another clip.*'sentence': \('Something else.', 'Hi there.'\)"):
        stimuli.synthesize_clip("Hi there.", cache=tmp_path)
    path.unlink()
    assert fingerprint(stimuli.synthesize_clip("Hi there.", cache=tmp_path)) == fingerprint(clip)


def test_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("WHISPER_CLAIMS_CACHE", str(tmp_path / "root"))
    assert stimuli.stimulus_cache_dir() == tmp_path / "root" / "stimuli"
    monkeypatch.delenv("WHISPER_CLAIMS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert stimuli.stimulus_cache_dir() == tmp_path / "xdg" / "whisper-claims" / "stimuli"
    monkeypatch.setenv("WHISPER_CLAIMS_CACHE", str(tmp_path / "env"))
    stimuli.synthesize_clip("Hi.", cache=True)
    assert len(list((tmp_path / "env" / "stimuli").rglob("*.npz"))) == 1


@pytest.mark.parametrize("kwargs, match", [
    ({"n_clips": -1}, "n_clips -1"), ({"clip_s": 0}, "clip_s 0"), ({"clip_s": 31.0}, "clip_s 31.0"),
    ({"voices": ()}, "voices"), ({"rates": (60,)}, r"rates \(60,\)"), ({"sample_rate": 0}, "sample_rate 0"),
    ({"frame_s": -0.02}, "frame_s"), ({"seed": 1.5}, "seed 1.5"),
])
def test_corpus_option_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CorpusOptions(**kwargs)


def test_word_list_is_checked(tmp_path):
    words = stimuli.load_words()
    assert set(words) == set(stimuli.WORD_CLASSES) and len(words["noun"]) > 150
    assert "measure" in words["noun"] and "boy" in words["noun"]
    bad = tmp_path / "w.tsv"
    for text, match in [
        ("# c\nclass\tword\nnoun\tdog\nnoun\tDog\n", r"w\.tsv:4: 'noun\\tDog': expected"),
        ("class\tword\nnoun\tdog\nthing\tcat\n", r"w\.tsv:3: 'thing\\tcat'"),
        ("class\tword\nnoun\tdog\nnoun\tdog\n", r"w\.tsv:3: 'dog' is listed twice as noun"),
        ("klass\tword\n", r"w\.tsv:1: header is \['klass', 'word'\]"),
        ("class\tword\nnoun\tdog\n", r"w\.tsv: no words of class det, pron"),
    ]:
        bad.write_text(text)
        with pytest.raises(StimulusError, match=match):
            stimuli.load_words(bad)
    with pytest.raises(StimulusError, match="cannot read the word list"):
        stimuli.load_words(tmp_path / "missing.tsv")


# -- real recordings ----------------------------------------------------------------------------


def test_reference_speech_from_the_asset_manifest(asset, asset_locations):
    for audio_name, alignment_name, _ in stimuli.REFERENCE_SPEECH:
        asset(audio_name), asset(alignment_name)  # skips when absent
    clips = stimuli.load_reference_speech(asset_locations)
    assert len(clips) == 8 and clips[0].name == "speech/cmu_arctic/slt_arctic_a0001.wav"
    for clip in clips:
        assert clip.sample_rate == 16000 and clip.audio.dtype == np.float32
        assert clip.frame_labels.shape == (int(np.ceil(len(clip.audio) / 320)),)
        assert set(clip.frame_labels.tolist()) <= set(LABELS) and np.mean(clip.frame_labels != SIL) > 0.5
    mary = clips[-1]
    assert mary.text == "mary rolled the barrel" and abs(mary.duration_s - 1.8697) < 0.001  # 48 kHz resampled
    slt = clips[0]
    assert slt.frame_labels[9:17].tolist() == ["AO"] * 8  # ao from 0.18075 to 0.34325 s


def test_reference_speech_reports_absent_assets(tmp_path):
    locations = stimuli.default_locations(folder=tmp_path, cache=tmp_path / "cache", allow_download=False)
    with pytest.raises(AssetUnavailable, match="speech/cmu_arctic/slt_arctic_a0001.wav is not available"):
        stimuli.load_reference_speech(locations)


def test_clips_from_a_user_folder(tmp_path):
    sf.write(tmp_path / "x.wav", np.full(24000, 0.1, dtype=np.float32), 48000)  # 0.5 s at 48 kHz
    (tmp_path / "x.phones.tsv").write_text("start_s\tend_s\tlabel\n0\t0.1\t\n0.1\t0.5\tAA1\n")
    (tmp_path / "x.txt").write_text("ah\n")
    (clip,) = stimuli.load_aligned_folder(tmp_path)
    assert clip.audio.shape == (8000,) and clip.text == "ah" and clip.origin.endswith("x.phones.tsv")
    assert clip.frame_labels.tolist() == [SIL] * 5 + ["AA"] * 20


def test_a_dead_helper_process_is_restarted():
    before = espeak.synthesize("Hi there.")
    espeak._helper._process.kill()
    espeak._helper._process.wait()
    after = espeak.synthesize("Hi there.")
    assert np.array_equal(before.samples, after.samples)
