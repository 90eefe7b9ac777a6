"""Real aligned speech cut into clips (whisper_claims.stimuli.speech_corpus): cuts on phone boundaries, labels
that are the alignment's, the manifest's recordings."""
import numpy as np
import pytest

from whisper_claims.claims.phonetic import TRANSFER_MIN_FRAMES, corpus_options
from whisper_claims.stimuli.assets import Asset, load_manifest
from whisper_claims.stimuli.phones import LABELS, PhoneSegment
from whisper_claims.stimuli.speech_corpus import (SpeechCorpusOptions, aligned_recordings, build_speech_corpus,
                                                  cut_recording)

RATE = 16000


def test_a_recording_is_cut_on_phone_boundaries_into_clips_no_longer_than_clip_s():
    # 0.3 s of silence, then phones of 0.4 s, the last one ending at 3.5 s; audio runs to 4 s
    segments = [PhoneSegment(0.0, 0.3, "sil")] + [PhoneSegment(0.3 + 0.4 * i, 0.7 + 0.4 * i, p)
                                                 for i, p in enumerate(["S", "AA", "M", "P", "L", "IY", "Z", "T"])]
    audio = np.arange(4 * RATE, dtype=np.float32)
    clips = cut_recording("speech/x.wav", audio, segments, "speech/x.TextGrid", SpeechCorpusOptions(clip_s=1.0, min_speech_s=0.4))
    starts = [round(float(c.name.rsplit("@", 1)[1]) * RATE) for c in clips]
    assert [c.name for c in clips] == ["speech/x.wav@0.00", "speech/x.wav@0.70", "speech/x.wav@1.50",
                                       "speech/x.wav@2.30", "speech/x.wav@3.10"]
    assert all(c.duration_s <= 1.0 for c in clips)
    for clip, start in zip(clips, starts):
        assert np.array_equal(clip.audio, audio[start: start + len(clip.audio)])  # the recording's own samples
    assert starts[-1] + len(clips[-1].audio) == round(3.5 * RATE)  # nothing past the alignment's last phone
    assert clips[0].frame_labels.tolist() == ["sil"] * 15 + ["S"] * 20  # 0.3 s silence, then S to 0.7 s
    assert clips[1].frame_labels.tolist() == ["AA"] * 20 + ["M"] * 20
    assert not clips[0].audio.flags.writeable and not clips[0].frame_labels.flags.writeable


def test_a_clip_with_too_little_speech_is_dropped_and_a_long_phone_is_cut():
    segments = [PhoneSegment(0.0, 2.0, "sil"), PhoneSegment(2.0, 2.3, "S"), PhoneSegment(2.3, 5.0, "AA")]
    clips = cut_recording("r.wav", np.zeros(5 * RATE, np.float32), segments, "r.TextGrid",
                          SpeechCorpusOptions(clip_s=2.0, min_speech_s=0.5))
    # [0, 2) is silence only and [2, 2.3) 0.3 s of speech: dropped; the 2.7 s AA is cut 2 s in
    assert [c.name for c in clips] == ["r.wav@2.30", "r.wav@4.30"]
    assert [c.duration_s for c in clips] == pytest.approx([2.0, 0.7])
    assert all(np.sum(c.frame_labels != "sil") * 0.02 >= 0.5 - 1e-9 for c in clips)


def test_the_alignment_beside_a_recording_is_chosen_in_the_readers_order():
    def asset(name):
        return Asset(name, "", "0" * 64, 1, "MIT", "test")
    manifest = {n: asset(n) for n in ["speech/a/one.wav", "speech/a/one.TextGrid", "speech/a/one.phones.tsv",
                                       "speech/a/two.wav", "speech/a/two.phn", "speech/a/three.flac",
                                       "speech/b/four.wav", "speech/b/four_phones.TextGrid"]}
    assert aligned_recordings(manifest, ["speech/a", "speech/b"]) == [
        ("speech/a/one.wav", "speech/a/one.TextGrid"), ("speech/a/two.wav", "speech/a/two.phn"),
        ("speech/b/four.wav", "speech/b/four_phones.TextGrid")]  # three.flac has no alignment
    with pytest.raises(Exception, match=r"speech corpus folder 'speech/c': no file of the asset manifest"):
        aligned_recordings(manifest, ["speech/c"])


@pytest.mark.parametrize("bad, message", [({"clip_s": 0}, "clip_s 0"), ({"min_speech_s": 3.0}, "min_speech_s 3.0"),
                                          ({"folders": []}, "folders")])
def test_bad_options_are_named(bad, message):
    with pytest.raises(ValueError, match=message):
        SpeechCorpusOptions(**bad)


def test_the_corpus_parameter_names_its_source():
    assert corpus_options({"source": "speech", "clip_s": 2.0}) == SpeechCorpusOptions()
    assert corpus_options({"source": "speech", "folders": ["speech/praatio"]}).folders == ("speech/praatio",)


def test_the_manifests_aligned_speech_gives_every_phoneme_enough_frames(asset):
    asset("speech/timit_nltk_sample/dr1-fvmh0/sa1.wav")  # skips when the recordings are absent
    clips = build_speech_corpus()
    recordings = {c.name.rsplit("@", 1)[0] for c in clips}
    assert len(recordings) == len(aligned_recordings(load_manifest(), SpeechCorpusOptions().folders)) >= 200
    assert sum(c.name.startswith("speech/timit_nltk_sample/") for c in clips) > len(clips) / 2
    assert all(c.duration_s <= 2.0 for c in clips)
    labels = np.concatenate([c.frame_labels for c in clips])
    assert set(labels.tolist()) <= set(LABELS)  # TIMIT's 61 phones folded to the project's labels
    values, counts = np.unique(labels[labels != "sil"], return_counts=True)
    assert len(values) >= 38 and counts.min() >= TRANSFER_MIN_FRAMES


def test_transcribed_recordings_read_the_words_written_beside_each_recording():
    from whisper_claims.stimuli.speech_corpus import transcribed_recordings

    found, without = transcribed_recordings(("speech/timit_nltk_sample/dr1-fvmh0", "speech/praatio",
                                             "speech/cmu_arctic"))
    names = [r.name for r in found]
    assert "speech/timit_nltk_sample/dr1-fvmh0/sa1.wav" in names and len(names) == 12  # 10 TIMIT + bobby, mary
    sa1 = found[names.index("speech/timit_nltk_sample/dr1-fvmh0/sa1.wav")]
    # TIMIT's .txt without its sample span
    assert sa1.text == "She had your dark suit in greasy wash water all year."
    assert sa1.origin == "speech/timit_nltk_sample/dr1-fvmh0/sa1.txt"
    bobby = found[names.index("speech/praatio/bobby.wav")]
    assert bobby.text == "BOBBY RIPPED THE LEDGER" and bobby.origin == "speech/praatio/bobby_words.TextGrid"
    assert bobby.audio.dtype == np.float32 and bobby.audio.ndim == 1
    # CMU ARCTIC's phone labels come with no written words: left out, and said
    assert without and all(name.startswith("speech/cmu_arctic/") for name in without)
