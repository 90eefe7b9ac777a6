"""Chopping every word of a clip set (enc-chop-word*): word timings, batched decoding against one-at-a-time
decoding, the scores on constructed transcripts, and the controls — a decoder that reads words off
frames holds, random weights and a decoder that reads the whole clip fail."""
import math

import numpy as np
import pytest
import torch

from whisper_claims.claims import encoder as encoder_claims
from whisper_claims.claims.encoder import (enc_chop_words, word_chop_scores, word_chops, word_frames,
                                           words_in_transcript)
from whisper_claims.claims.figures import draw_figures, matplotlib_available, word_outcome
from whisper_claims.claims.runner import measure_claim
from whisper_claims.claims.verdict import judge
from whisper_claims.errors import WordClipError
from whisper_claims.measure.inference import transcribe_batch, transcribe_features
from whisper_claims.models.load import LoadedModel
from whisper_claims.stimuli.word_clips import sentences, spoken_sentence, word_clip_set

WORD_CLAIMS = ("enc-chop-word", "enc-chop-word-keeps", "enc-chop-word-adds-none")
SMALL_RECORDINGS = [("speech/praatio/bobby.wav", "speech/praatio/bobby_words.TextGrid"),
                    ("speech/praatio/mary.wav", "speech/praatio/mary.TextGrid")]
SMALL_SENTENCES = {"source": "stimuli", "n": 2, "seed": 1}


@pytest.fixture(scope="module")
def small_recordings(asset):
    # verified paths (an absent file skips, saying where it looked), as the runner hands them to the claim
    return [[asset(name) for name in pair] for pair in SMALL_RECORDINGS]


def test_the_claims_of_the_experiment_name_it(registry):
    assert {registry[claim].experiment for claim in WORD_CLAIMS} == {"word-chops"}


# -- timings ---------------------------------------------------------------------------------------


def test_word_frames_cover_the_word():
    assert word_frames(0.43, 0.71) == (21, 36)  # 0.42-0.72 s: every frame the word overlaps
    assert word_frames(0.0, 0.3) == (0, 15)
    assert word_frames(3.0, 3.5) == (150, 175)  # the post's chop of 'hot questions'
    assert word_frames(1.0, 1.0) == (50, 51)  # never an empty chop


def test_espeak_words_are_timed_in_order_by_their_phonemes():
    text = "Each quiet proud noise hated soon between one singer."
    clip = spoken_sentence(text, "en-us", 175)
    assert [w.word for w in clip.words] == text.rstrip(".").split()
    assert clip.words[0].start_s == 0.0
    for before, after in zip(clip.words, clip.words[1:]):
        assert before.start_s < before.end_s == after.start_s
    assert clip.words[-1].end_s <= len(clip.audio) / 16000 + 1e-9
    assert clip.audio.dtype == np.float32 and clip.sha256 == spoken_sentence(text, "en-us", 175).sha256


def test_recordings_are_read_from_their_word_tier(small_recordings):
    clips = word_clip_set(small_recordings, "stimuli", 1, 1)
    assert [c.text for c in clips[:2]] == ["BOBBY RIPPED THE LEDGER", "mary rolled the barrel"]
    assert (clips[1].words[0].start_s, clips[1].words[0].end_s) == pytest.approx((0.3154, 0.6755), abs=1e-4)
    assert clips[2].name == "stimuli/1/0" and len(clips) == 3


def test_sentence_sources():
    held_out = sentences("micro", 3, 1)
    assert len(held_out) == 3 and all(isinstance(t, str) and v and r for t, v, r in held_out)
    assert sentences("stimuli", 2, 1) == sentences("stimuli", 2, 1) != sentences("stimuli", 2, 0)
    with pytest.raises(WordClipError, match="'espeak'.*stimuli, micro"):
        sentences("espeak", 2, 1)
    with pytest.raises(WordClipError, match="n -1"):
        sentences("stimuli", -1, 1)


# -- batched decoding ------------------------------------------------------------------------------


def test_batched_decoding_equals_one_at_a_time(small_random):
    model = small_random()
    g = torch.Generator().manual_seed(0)
    features = torch.randn(5, 1500, 64, generator=g)
    one_at_a_time = [transcribe_features(model, f) for f in features]
    assert len(set(one_at_a_time)) > 1  # the inputs are told apart
    assert transcribe_batch(model, features, batch_size=2) == one_at_a_time
    with pytest.raises(ValueError, match=r"\[n, \*\(1500, 64\)\]"):
        transcribe_batch(model, features[0])


# -- scores ----------------------------------------------------------------------------------------

FULL = "hot ones. The show where celebrities answer hot questions while feeding even hotter wings."
SPOKEN = "hot ones the show where celebrities answer hot questions while feeding even hotter wings".split()


def scores(chopped_by_word: dict[int, str], spoken=SPOKEN, full=FULL):
    chopped = [chopped_by_word.get(i, full) for i in range(len(spoken))]
    return word_chop_scores(spoken, full, chopped, [full] * len(spoken))


def test_a_precise_chop_removes_its_word_alone():
    rows = scores({5: FULL.replace("celebrities ", "")})
    assert rows[5] | {"removed": True, "lost": 0, "inserted": 0, "precise": True} == rows[5]
    # a chop that changes nothing keeps its word: not removed, nothing lost or put in
    assert rows[0]["removed"] is False and rows[0]["lost"] == 0 and rows[0]["clean"]
    assert not any(row["control_removed"] or row["control_changed"] for row in rows)


def test_the_alignment_finds_which_of_repeated_words_went():
    """'hot' is spoken three times; chopping the second removes that one (the post's 'hot questions')."""
    rows = scores({7: "hot ones. The show where celebrities answer questions while feeding even hotter wings."})
    assert rows[7]["removed"] and rows[7]["lost"] == 0 and rows[7]["inserted"] == 0


def test_lost_and_inserted_words_are_counted_apart():
    rows = scores({8: "hot ones. The show where celebrities answer hot or hot wings while feeding even hotter wings.",
                   9: "hot ones. The show where celebrities answer hot questions"})
    assert rows[8]["removed"] and rows[8]["lost"] == 0 and rows[8]["inserted"] == 3 and not rows[8]["clean"]
    assert rows[9]["removed"] and rows[9]["lost"] == 4 and not rows[9]["kept"] and rows[9]["clean"]
    substituted = scores({5: FULL.replace("celebrities", "celery")})[5]
    assert substituted["removed"] and substituted["inserted"] == 1  # a substitute is put in


def test_words_the_full_transcript_lacks_are_not_scored():
    rows = word_chop_scores(["mary", "rolled", "the", "barrel"], "Maryrolled the barrel.",
                            ["the barrel", "Mary the barrel", "Mary barrel", "Mary the"], ["x"] * 4)
    assert [row["scored"] for row in rows] == [False, False, True, True]
    assert rows[0]["why_unscored"] == "not in the full transcript"
    assert rows[3]["removed"] and rows[3]["lost"] == 1 and rows[3]["inserted"] == 1  # 'mary' substitutes
    assert rows[2]["control_changed"] and rows[2]["control_removed"]


def test_a_word_a_neighbour_chop_also_removes_is_not_removed_specifically():
    spoken, full = ["mary", "rolled", "the", "barrel"], "Mary rolled the barrel."
    rows = word_chop_scores(spoken, full, ["rolled the barrel", "Mary the barrel", "Mary rolled barrel", full],
                            [full] * 4, neighbours=[[full], ["the barrel", full], [full, full], [full]])
    assert [row["removed"] for row in rows] == [True, True, True, False]
    assert [row["neighbour_removed"] for row in rows] == [False, True, False, False]
    assert [row["specific"] for row in rows] == [True, False, True, False]


def test_words_in_transcript_are_those_the_scores_judge():
    spoken = ["mary", "rolled", "the", "barrel", "New York"]
    assert words_in_transcript(spoken, "Maryrolled the barrel.") == [None, None, 1, 2, None]
    rows = word_chop_scores(spoken, "Maryrolled the barrel.", ["x"] * 5, ["x"] * 5)
    assert [row["scored"] for row in rows] == [False, False, True, True, False]


def test_neighbour_chops_are_decoded_only_around_scored_words(tiny, small_recordings, small_random, monkeypatch):
    clip = word_clip_set(small_recordings, **_set(SMALL_SENTENCES))[0]
    model = small_random(3)
    planted(monkeypatch, [clip], model)
    decoded = []
    transcribe = encoder_claims.transcribe_batch
    monkeypatch.setattr(encoder_claims, "transcribe_batch", lambda m, fs, b=16: decoded.extend(fs) or transcribe(m, fs, b))
    # only the first word is in the transcript
    monkeypatch.setattr(encoder_claims, "words_in_transcript", lambda spoken, full: [0] + [None] * (len(spoken) - 1))
    chops = word_chops(model, clip, control_start=1200)
    assert [len(texts) for texts in chops["neighbours"]] == [2] + [0] * (len(clip.words) - 1)
    widths = {stop - start for start, stop in chops["frames"]}
    assert len(decoded) == len({*chops["frames"], *chops["neighbour_frames"][0],
                                *((1200, 1200 + w) for w in widths)})


# -- controls --------------------------------------------------------------------------------------


def planted(monkeypatch, clips, model, whole_clip=False):
    """A constructed model: the encoder tags every frame of clip c with c + 1, the padding is zeros, and
    the decoder says a clip's word exactly when its middle frame is not padding (or, ``whole_clip``,
    writes other words whenever any frame was chopped)."""
    by_tag = {c + 1: clip for c, clip in enumerate(clips)}
    names = {clip.name: c + 1 for c, clip in enumerate(clips)}
    n_ctx, n_state = model.dims.n_audio_ctx, model.dims.n_audio_state

    def encode(_model, mel):
        return torch.full((1, n_ctx, n_state), float(names[current[0]]))

    def log_mel(_audio, _model, *, source):
        current[0] = source
        return torch.zeros(1)

    def decode(features):
        clip = by_tag[int(features.max().item())]
        if whole_clip and bool((features == 0).any()):
            return "red cat sky moon door lamp"
        said = [w.word for w in clip.words
                if features[sum(word_frames(w.start_s, w.end_s)) // 2].max() > 0]
        return " ".join(said)

    current = [""]
    monkeypatch.setattr(encoder_claims, "encode", encode)
    monkeypatch.setattr(encoder_claims, "log_mel", log_mel)
    monkeypatch.setattr(encoder_claims, "padding_features", lambda _m: torch.zeros(n_ctx, n_state))
    monkeypatch.setattr(encoder_claims, "transcribe_features", lambda _m, f: decode(f))
    monkeypatch.setattr(encoder_claims, "transcribe_batch", lambda _m, fs, _b=16: [decode(f) for f in fs])


@pytest.mark.control
@pytest.mark.parametrize("claim", WORD_CLAIMS)
def test_word_claims_hold_for_a_decoder_that_reads_words_off_frames(registry, tiny, small_recordings, small_random,
                                                                   monkeypatch, claim):
    model = small_random(3)
    planted(monkeypatch, word_clip_set(small_recordings, **_set(SMALL_SENTENCES)), model)
    spec = registry[claim]
    measured = measure_claim(spec, LoadedModel(model, tiny.info), recordings=small_recordings,
                             sentences=SMALL_SENTENCES)
    verdict = judge(spec, tiny.info, measured)
    assert verdict.holds, verdict.describe()
    assert measured.evidence["n_words_scored"] == measured.evidence["n_words_spoken"] > 20
    assert measured.evidence["control_removed_share"] == measured.evidence["control_changed_share"] == 0


@pytest.mark.control
@pytest.mark.parametrize("claim", WORD_CLAIMS[1:])
def test_precision_fails_for_a_decoder_that_reads_the_whole_clip(registry, tiny, small_recordings, small_random,
                                                                 monkeypatch, claim):
    model = small_random(3)
    planted(monkeypatch, word_clip_set(small_recordings, **_set(SMALL_SENTENCES)), model, whole_clip=True)
    spec = registry[claim]
    measured = measure_claim(spec, LoadedModel(model, tiny.info), recordings=small_recordings,
                             sentences=SMALL_SENTENCES)
    assert measured.metrics["removed_share"] == 1.0  # every word goes, with the others
    verdict = judge(spec, tiny.info, measured)
    assert verdict.status == "fails", verdict.describe()


@pytest.mark.control
def test_a_chop_that_removes_everything_fails_specificity(registry, tiny, small_recordings, small_random, monkeypatch):
    """#30: a decoder that loses every word whenever any frame is chopped removes each word, and its neighbours'
    chops remove it too: the margin over the neighbour chops is 0 and the removal claim fails."""
    model = small_random(3)
    planted(monkeypatch, word_clip_set(small_recordings, **_set(SMALL_SENTENCES)), model, whole_clip=True)
    spec = registry["enc-chop-word"]
    measured = measure_claim(spec, LoadedModel(model, tiny.info), recordings=small_recordings,
                             sentences=SMALL_SENTENCES)
    assert measured.metrics["removed_share"] == 1.0 and measured.evidence["neighbour_removed_share"] == 1.0
    assert measured.metrics["margin_over_neighbour_chops"] == 0 and measured.evidence["specific_share"] == 0
    verdict = judge(spec, tiny.info, measured)
    assert verdict.status == "fails" and "margin_over_neighbour_chops" in verdict.reason, verdict.describe()
    interval = verdict.metric("removed_share").interval
    assert interval.method == "clopper-pearson, clustered" and interval.low == interval.high == 1  # every word went
    assert interval.n_units == measured.evidence["n_clips_with_scored_words"]


@pytest.mark.control
def test_word_claims_do_not_hold_on_random_weights(registry, tiny, small_recordings, small_random):
    """Random weights transcribe none of the words spoken: nothing is scored, every share is undefined."""
    model = small_random(5)
    for claim in WORD_CLAIMS:
        spec = registry[claim]
        measured = measure_claim(spec, LoadedModel(model, tiny.info), recordings=small_recordings,
                                 sentences=SMALL_SENTENCES)
        assert measured.evidence["n_words_scored"] == 0
        assert all(math.isnan(v) for v in measured.metrics.values())
        verdict = judge(spec, tiny.info, measured)
        assert verdict.status == "fails", verdict.describe()


def _set(spec: dict) -> dict:
    return {"sentence_source": spec["source"], "n_sentences": spec["n"], "seed": spec["seed"]}


@pytest.mark.skipif(not matplotlib_available(), reason="matplotlib is not installed")
def test_the_word_removal_map_is_drawn(tiny, small_recordings, monkeypatch, tmp_path, small_random):
    model = small_random(3)
    planted(monkeypatch, word_clip_set(small_recordings, **_set(SMALL_SENTENCES)), model, whole_clip=True)
    measured = enc_chop_words(model, recordings=small_recordings, sentences=SMALL_SENTENCES, control_start=1200)
    rows = measured.artifacts["word_removal"]["rows"]
    assert {word_outcome(row) for row in rows} == {1}  # every word goes, with the others
    figures = draw_figures("enc-chop-word", "planted", measured.artifacts, tmp_path)
    assert [f["path"] for f in figures] == ["figures/enc-chop-word--planted--word_removal.png"]
    assert (tmp_path / figures[0]["path"]).stat().st_size > 0 and "word by word" in figures[0]["caption"]
