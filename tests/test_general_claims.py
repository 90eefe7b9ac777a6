"""The encoder claims over a clip set (enc-*-general): the clip set, the summary over clips, the share of
clips meeting the bar, and the controls — constructed relevance and transcripts hold or fail as they
must, and random weights fail."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from whisper_claims.claims import encoder as encoder_claims
from whisper_claims.claims.encoder import clip_clusters, clip_run, general_clips, over_clips
from whisper_claims.claims.runner import run_claim
from whisper_claims.claims.verdict import Measurement, judge
from whisper_claims.errors import MethodInvalid
from whisper_claims.measure.intervals import bootstrap
from whisper_claims.models.load import LoadedModel
from whisper_claims.stimuli.word_clips import WordClip, sentences as sentence_plan

GENERAL = ("enc-relevance-local-general", "enc-end-sink-general", "enc-end-sink-every-row-general",
           "enc-window-k75-general", "enc-window-narrow-general")
SMALL_SET = {"recordings": [["speech/praatio/bobby.wav", "Bobby ripped the ledger"],
                            ["speech/praatio/mary.wav", "mary rolled the barrel"]],
             "sentences": {"source": "stimuli", "n": 1, "seed": 1}}


@pytest.fixture(scope="module")
def small_set(asset):
    for name, _ in SMALL_SET["recordings"]:
        asset(name)  # skips, saying where it looked, when the recordings are absent
    return SMALL_SET


def test_general_claims_read_one_clip_set(registry):
    """Every general claim reads the same clips, so that their verdicts describe one set; each metric
    keeps its replication's bar."""
    for size in ("tiny", "tiny.en", "base", "micro"):
        sets = {(repr(registry[c].params_for(size)["recordings"]), repr(registry[c].params_for(size)["sentences"]))
                for c in GENERAL}
        assert len(sets) == 1, size
    for claim in GENERAL:
        replication = registry[claim.removesuffix("-general")]
        for name, metric in registry[claim].metrics.items():
            assert (metric.comparator, metric.threshold) == (replication.metrics[name].comparator,
                                                             replication.metrics[name].threshold), claim


def test_the_clip_set_holds_the_recordings_and_the_sentences(registry, small_set):
    clips = general_clips(**small_set)
    assert [reference for _, reference in clips[:2]] == ["Bobby ripped the ledger", "mary rolled the barrel"]
    sentence, reference = clips[2]
    assert isinstance(sentence, WordClip) and sentence.name == "stimuli/1/0" and sentence.text in reference
    params = registry["enc-window-k75-general"].params
    every = general_clips(params["recordings"], params["sentences"])
    assert len(every) == 19 and sum(isinstance(c, WordClip) for c, _ in every) == 10


def test_in_memory_clips_run_like_files(small_random, small_set, tmp_path):
    """A clip held in memory gives the encode and transcript of the same samples read from a file."""
    import soundfile

    _, _, (sentence, _) = general_clips(**small_set)
    path = tmp_path / "sentence.wav"
    soundfile.write(path, sentence.audio, 16000, subtype="FLOAT")
    model = small_random()
    in_memory, from_file = clip_run(model, sentence), clip_run(model, path)
    assert torch.equal(in_memory.features, from_file.features) and in_memory.transcript == from_file.transcript
    assert in_memory.path == "stimuli/1/0" and in_memory.speech_end == from_file.speech_end


def test_over_clips_takes_medians_and_counts_undefined_clips():
    values = iter([{"m": 0.2}, {"m": math.nan}, {"m": 0.6}, {"m": 0.9}])
    measured = over_clips([("a.wav", ""), ("b.wav", ""), ("c.wav", ""), ("d.wav", "")],
                          lambda clip, ref: (next(values), {}), "clips")
    assert measured.metrics["m"] == 0.6 and measured.evidence["undefined_clips"] == {"m": 1}
    assert [row["clip"] for row in measured.evidence["per_clip"]] == ["a.wav", "b.wav", "c.wav", "d.wav"]


def test_clips_that_share_a_speaker_or_a_sentence_are_one_unit(registry):
    params = registry["enc-relevance-local-general"].params
    clusters = clip_clusters(params["recordings"], params["sentences"])
    names = [entry[0].rsplit("/", 1)[1] for entry in params["recordings"]] + [
        f"{voice} {i}" for i, (_, voice, _) in enumerate(sentence_plan("stimuli", 10, 1))]
    group = {name: cluster for name, cluster in zip(names, clusters)}
    # four speakers read arctic a0001, and slt also a0009: one unit
    assert len({group[n] for n in names if "arctic" in n}) == 1
    assert group["bobby.wav"] == group["mary.wav"] != group["jfk_16k_mono.wav"]
    voices = [n.split()[0] for n in names[9:]]
    for i, a in enumerate(voices):  # one espeak-ng voice reading several sentences is one speaker
        assert all((group[names[9 + i]] == group[names[9 + j]]) == (a == b) for j, b in enumerate(voices))
    assert len(set(clusters)) < len(clusters)


def test_over_clips_gives_the_median_an_interval_that_resamples_clusters():
    values = [0.2, 0.25, 0.3, 0.6, 0.65, 0.9, math.nan]
    clips = [(f"{i}.wav", "") for i in range(len(values))]
    rows = iter([{"m": v} for v in values])
    measured = over_clips(clips, lambda clip, ref: (next(rows), {}), "clips", clusters=[0, 0, 0, 1, 1, 2, 3])
    interval = measured.intervals["m"]
    assert interval.n_units == 3 and interval.method == "bootstrap"  # the NaN clip's cluster leaves with it
    assert interval == bootstrap(values[:6], np.median, clusters=[0, 0, 0, 1, 1, 2], seed=0)
    assert measured.evidence["clusters"] == [0, 0, 0, 1, 1, 2, 3] and measured.evidence["n_clusters"] == 4
    rows = iter([{"m": v} for v in values[:3]])
    one_unit = over_clips(clips[:3], lambda clip, ref: (next(rows), {}), "clips", clusters=[5, 5, 5])
    assert one_unit.intervals == {}  # one independent unit: no interval


def test_the_verdict_counts_the_clips_that_meet_the_bar(registry, tiny):
    spec = registry["enc-relevance-local-general"]
    per_clip = {"median_band_mass": [0.2, math.nan, 0.6, 0.9], "margin_over_speech_uniform": [0.1, 0.1, 0.2, -0.1]}
    measured = Measurement({"median_band_mass": 0.6, "margin_over_speech_uniform": 0.1},
                           {"per_clip_metrics": per_clip})
    verdict = judge(spec, tiny.info, measured)
    assert verdict.holds and verdict.evidence["share_of_clips_meeting_threshold"] == {
        "median_band_mass": 0.5, "margin_over_speech_uniform": 0.75}
    assert verdict.evidence["share_of_clips_meeting_every_threshold"] == 0.25
    narrow = judge(registry["enc-window-narrow-general"], tiny.info, Measurement(
        {"max_recall_rise": 0.0, "shortest_window_words": 1.0},
        {"per_clip_metrics": {"max_recall_rise": [0.0, 0.5, 0.0], "shortest_window_words": [1.0, 0.0, 9.0]}}))
    assert narrow.evidence["share_of_clips_meeting_threshold"] == {"max_recall_rise": 2 / 3,
                                                                   "shortest_window_words": 2 / 3}
    assert narrow.evidence["share_of_clips_meeting_every_threshold"] == 1 / 3  # a clip holds on both or not
    assert "share_of_clips_meeting_threshold" not in judge(registry["enc-relevance-local"], tiny.info, Measurement(
        {"median_band_mass": 0.6, "margin_over_speech_uniform": 0.1}, {})).evidence


def banded(n: int, width: int) -> torch.Tensor:
    i = torch.arange(n)
    return ((i[:, None] - i[None, :]).abs() <= width).float()


@pytest.mark.control
def test_constructed_relevance_holds_and_uniform_relevance_fails(registry, tiny, small_set, monkeypatch):
    """Relevance within ±10 frames, plus a sink at each clip's end after it: the relevance and sink
    claims hold; uniform relevance fails them. On a clip no longer than the ±50-frame band, local relevance
    cannot beat relevance spread over the speech (margin 0): with 3 clips the margin's interval then reaches
    below 0 and the relevance claim may only be inconclusive, never failed."""
    def local_with_sink(model, clip, window=None):
        end, _ = encoder_claims.end_of_speech(clip, clip_run(model, clip))  # where the clip's speech stops
        r = banded(1500, 10)
        r[end + 25:, end - 5:end + 5] += 3.0
        return r

    for relevance, expected in ((local_with_sink, {"holds"}), (lambda m, c, w=None: torch.ones(1500, 1500), {"fails"})):
        monkeypatch.setattr(encoder_claims, "clip_relevance", relevance)
        for claim in ("enc-relevance-local-general", "enc-end-sink-general", "enc-end-sink-every-row-general"):
            spec = registry[claim]
            verdict = run_claim(spec, tiny, **small_set)
            allowed = expected | ({"inconclusive"} if claim == "enc-relevance-local-general" and "holds" in expected
                                  else set())
            assert verdict.status in allowed, verdict.describe()
            assert verdict.evidence["n_clips"] == 3
            if "holds" in expected:
                margins = verdict.evidence["per_clip_metrics"].get("margin_over_speech_uniform", [])
                assert all(m >= 0 for m in margins) and verdict.metric(spec.key_metric).passed


@pytest.mark.control
def test_constructed_transcripts_hold_the_window_claims(registry, tiny, small_set, monkeypatch):
    """A model that transcribes every clip perfectly down to k = 50 and nothing below holds both window
    claims; one that writes the same words at every k fails the narrow-window claim."""
    references = {str(clip) if not isinstance(clip, WordClip) else clip.name: text
                  for clip, text in general_clips(**small_set)}

    def name(clip):
        return clip.name if isinstance(clip, WordClip) else str(clip)

    # the unmodified transcript is the words spoken: the narrow-window claim is judged on every clip
    monkeypatch.setattr(encoder_claims, "clip_run", lambda model, clip: SimpleNamespace(transcript=references[name(clip)]))
    for cutoff, expected in ((50, "holds"), (0, "fails")):
        monkeypatch.setattr(encoder_claims, "windowed_transcript",
                            lambda model, clip, k, cutoff=cutoff: references[name(clip)] if k >= cutoff else "")
        spec = registry["enc-window-k75-general"]
        assert run_claim(spec, tiny, **small_set).holds
        spec = registry["enc-window-narrow-general"]
        verdict = run_claim(spec, tiny, **small_set)
        assert verdict.status == expected, verdict.describe()


@pytest.mark.control
def test_the_narrow_window_is_judged_only_on_clips_whose_transcript_recalls_their_words(registry, tiny, small_set,
                                                                                       monkeypatch):
    """#30: a clip whose unmodified transcript recalls less than the window claim's bar leaves the degradation
    metrics undefined; with no clip left, there is no verdict."""
    references = {(clip.name if isinstance(clip, WordClip) else str(clip)): text for clip, text in general_clips(**small_set)}
    said = {name: (text if i else "") for i, (name, text) in enumerate(references.items())}  # the first says nothing

    def name(clip):
        return clip.name if isinstance(clip, WordClip) else str(clip)

    monkeypatch.setattr(encoder_claims, "clip_run", lambda model, clip: SimpleNamespace(transcript=said[name(clip)]))
    monkeypatch.setattr(encoder_claims, "windowed_transcript", lambda model, clip, k: said[name(clip)] if k >= 50 else "")
    verdict = run_claim(registry["enc-window-narrow-general"], tiny, **small_set)
    per_clip = verdict.evidence["per_clip_metrics"]
    assert math.isnan(per_clip["shortest_window_words"][0]) and per_clip["shortest_window_words"][1:] == [0.0, 0.0]
    assert verdict.evidence["undefined_clips"]["shortest_window_words"] == 1
    assert verdict.evidence["min_full_recall"] == 0.5
    monkeypatch.setattr(encoder_claims, "clip_run", lambda model, clip: SimpleNamespace(transcript=""))
    with pytest.raises(MethodInvalid, match="no clip's unmodified transcript recalls min_full_recall = 0.5"):
        run_claim(registry["enc-window-narrow-general"], tiny, **small_set)


@pytest.mark.control
@pytest.mark.parametrize("claim", GENERAL)
def test_general_claims_do_not_hold_on_random_weights(registry, tiny, small_random, small_set, claim):
    """random:tiny for relevance; for transcripts, random weights of a narrow model whose garbage is at
    most 32 tokens long (random:tiny writes 224 tokens per decode, 18 decodes here). A model that transcribes
    nothing gets no verdict on how its transcripts degrade (#30)."""
    spec = registry[claim]
    model = LoadedModel(small_random(1), tiny.info) if "window" in claim else tiny
    if "min_full_recall" in spec.params:
        with pytest.raises(MethodInvalid, match="no clip's unmodified transcript recalls"):
            run_claim(spec, model, **small_set)
        return
    verdict = run_claim(spec, model, **small_set)
    assert verdict.status == "fails", verdict.describe()
    values = verdict.evidence["per_clip_metrics"][spec.key_metric]
    assert len(values) == 3 and np.median([v for v in values if math.isfinite(v)]) == verdict.metric(spec.key_metric).value


@pytest.mark.skipif(not __import__("importlib").util.find_spec("matplotlib"), reason="matplotlib is not installed")
def test_the_per_clip_figure_is_drawn(tmp_path):
    from whisper_claims.claims.figures import draw_figures

    values = iter([{"m": 0.2, "n": 1.0}, {"m": math.nan, "n": 2.0}, {"m": 0.6, "n": 0.0}])
    measured = over_clips([("a.wav", ""), ("b.wav", ""), ("c.wav", "")], lambda clip, ref: (next(values), {}), "clips")
    figures = draw_figures("enc-toy-general", "planted", measured.artifacts, tmp_path)
    assert [f["path"] for f in figures] == ["figures/enc-toy-general--planted--clip_values.png"]
    assert (tmp_path / figures[0]["path"]).stat().st_size > 0
