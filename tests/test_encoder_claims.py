"""The encoder claims: chopping and padding features against plain code, the scores on the post's own
transcripts, and the controls — every claim fails on random weights, and holds where it must."""
import math
from types import SimpleNamespace
from pathlib import Path

import numpy as np
import pytest
import torch

from whisper_claims.claims import encoder as encoder_claims
from whisper_claims.claims.encoder import (attention_distance, band_scores, chop_scores, clip_run, enc_chop,
                                           enc_end_sink, enc_relevance_local, enc_window, end_of_speech, end_peaks, end_share,
                                           neighbour_frames, transcribes,
                                           window_scores)
from whisper_claims.claims.figures import draw_figures, matplotlib_available
from whisper_claims.errors import MethodInvalid
from whisper_claims.claims.registry import SIZES, load_registry
from whisper_claims.claims.runner import measure_claim, run_claim
from whisper_claims.claims.verdict import Measurement, judge
from whisper_claims.measure.attention import attention_window, explicit_attention
from whisper_claims.measure.inference import chop, encode, padding_features, transcribe_features
from whisper_claims.measure.memo import per_model
from whisper_claims.models.load import LoadedModel, random_model
from whisper_claims.stimuli.audio import load_audio, log_mel, padding_mel

HOT_ONES = "blog/encoder/Hot_ones.wav"
# the replications on the Hot Ones clip (the -general and word claims are tested in their own files)
CLAIMS = tuple(claim for claim, spec in load_registry().items() if spec.marker == "encoder" and spec.function in
               {f"whisper_claims.claims.encoder:{f.__name__}" for f in (enc_relevance_local, enc_end_sink, enc_window,
                                                                         enc_chop)})
END_CLAIMS = ("enc-end-sink", "enc-end-sink-every-row")
WINDOW_CLAIMS = ("enc-window-k75", "enc-window-narrow")
CHOP_CLAIMS = {"start": ("enc-chop-start", "enc-chop-start-keeps", "enc-chop-start-adds-none"),
               "mid": ("enc-chop-mid", "enc-chop-mid-keeps", "enc-chop-mid-adds-none")}
ALL_CHOP_CLAIMS = CHOP_CLAIMS["start"] + CHOP_CLAIMS["mid"]

# The post's published transcripts of the Hot Ones clip (../shared/paper/interpreting-whisper.md), read from
# the registry, where the report shows them beside each model's
POST = load_registry()["enc-window-k75"].post_transcripts
POST_FULL = POST["full"]
POST_WINDOWED = {1500: POST_FULL, **{int(label[2:]): text for label, text in POST.items() if label.startswith("k=")}}
POST_CHOPPED = {where: load_registry()[claims[0]].post_transcripts[label]
                for where, claims, label in (("start", CHOP_CLAIMS["start"], "chop 0-50"),
                                             ("mid", CHOP_CLAIMS["mid"], "chop 150-175"))}


def chop_of(claim: str) -> str:
    return next(where for where, claims in CHOP_CLAIMS.items() if claim in claims)


@pytest.fixture(scope="module")
def hot_ones(asset):
    return asset(HOT_ONES)


def features_of(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(model.dims.n_audio_ctx, model.dims.n_audio_state, generator=g)


# -- chop and padding features ---------------------------------------------------------------------


def reference_chop(features, padding, start, stop):
    rows = torch.arange(features.shape[0])
    inside = ((rows >= start) & (rows < stop))[:, None]
    return torch.where(inside, padding, features)


@pytest.mark.parametrize("start, stop", [(0, 50), (150, 175), (1200, 1225), (0, 1500), (1499, 1500), (7, 7)])
def test_chop_matches_reference(tiny, start, stop):
    features, padding = features_of(tiny.model, 1), features_of(tiny.model, 2)
    before = features.clone()
    chopped = chop(features, padding, start, stop)
    assert torch.equal(chopped, reference_chop(features, padding, start, stop))
    assert torch.equal(features, before)  # the input is left as it was
    assert torch.equal(chop(features[None], padding[None], start, stop)[0], chopped)


def test_empty_chop_is_the_identity(tiny):
    features = features_of(tiny.model)
    assert torch.equal(chop(features, features_of(tiny.model, 3), 40, 40), features)


@pytest.mark.parametrize("start, stop, message", [
    (50, 10, "0 <= start <= stop <= 1500"),
    (-1, 10, "0 <= start <= stop <= 1500"),
    (0, 1501, "0 <= start <= stop <= 1500"),
    (0.5, 10, "start must be an integer"),
    (0, True, "stop must be an integer"),
])
def test_chop_rejects_bad_ranges(tiny, start, stop, message):
    features = features_of(tiny.model)
    with pytest.raises(ValueError, match=message):
        chop(features, features, start, stop)


def test_chop_rejects_mismatched_shapes(tiny):
    with pytest.raises(ValueError, match="differ in shape"):
        chop(features_of(tiny.model), features_of(tiny.model)[:100], 0, 10)


def test_padding_features_are_computed_once_and_copied(tiny):
    model = tiny.model
    expected = encode(model, padding_mel(model))[0]
    first = padding_features(model)
    assert torch.equal(first, expected)
    first.zero_()  # a caller changing its copy changes nothing for the next caller
    assert torch.equal(padding_features(model), expected)


def test_per_model_results_follow_the_weights():
    model = random_model("tiny", 0, dims=_small_dims())
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    assert per_model(model, "k", compute) == 1
    assert per_model(model, "k", compute) == 1
    with torch.no_grad():
        model.encoder.ln_post.weight.mul_(2)  # changed in place: cached results are stale
    assert per_model(model, "k", compute) == 2
    other = random_model("tiny", 0, dims=_small_dims())
    assert per_model(other, "k", compute) == 3  # keyed by model object, not by equal weights


def _small_dims():
    from whisper.model import ModelDimensions

    return ModelDimensions(n_mels=80, n_audio_ctx=100, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
                           n_vocab=51865, n_text_ctx=16, n_text_state=64, n_text_head=2, n_text_layer=2)


# -- scores on the post's own transcripts and on constructed relevance maps ----------------------------


POST_TEXT = Path(__file__).resolve().parents[2] / "shared" / "paper" / "interpreting-whisper.md"


def posts_transcripts(markdown: str) -> dict[str, str]:
    """The post's published transcripts: the first non-blank line under each '#####' heading, unquoted."""
    lines = markdown.splitlines()
    found = {}
    for i, line in enumerate(lines):
        if line.startswith("##### "):
            text = next(t.strip() for t in lines[i + 1:] if t.strip())
            found[line[6:].strip().rstrip(":")] = text[1:-1] if text[0] in "'\"`" else text
    return found


@pytest.mark.skipif(not POST_TEXT.is_file(), reason=f"the post's text is not at {POST_TEXT}")
def test_the_registrys_transcripts_are_the_posts(registry):
    """Copied into the registry from the post (where the report shows them beside each model's): the
    same text, and the atomic claims of one experiment carry the same."""
    post = posts_transcripts(POST_TEXT.read_text(encoding="utf-8"))
    assert POST_WINDOWED == {1500: post["Original transcript (k=750)"],
                             **{k: post[f"k={k}"] for k in (100, 75, 50, 20, 10)}}
    assert POST_CHOPPED == {"start": post["Substitute embedding between (start_index=0, stop_index=50)"],
                            "mid": post["Substitute embeddings between (start_index=150, stop_index=175)"]}
    assert post["Original Transcript"] == post["Original"] == POST_FULL
    for group in (WINDOW_CLAIMS, *CHOP_CLAIMS.values()):
        assert len({tuple(registry[c].post_transcripts.items()) for c in group}) == 1, group


def test_claims_of_one_experiment_name_it(registry):
    """The atomic claims read one experiment each (memoised by its params): each group names one
    [experiments] entry, which writes their params once, so two verdicts never describe two experiments."""
    groups = [END_CLAIMS, WINDOW_CLAIMS, *CHOP_CLAIMS.values()]
    assert sorted(c for group in groups for c in group) == sorted(c for c in CLAIMS if c != "enc-relevance-local")
    names = [{registry[c].experiment for c in group} for group in groups]
    assert all(len(n) == 1 and None not in n for n in names) and len(set().union(*names)) == len(groups), names


@pytest.mark.parametrize("claim", WINDOW_CLAIMS)
def test_window_scores_on_the_posts_transcripts_hold(registry, tiny, claim):
    spec = registry[claim]
    metrics, evidence = window_scores(POST_FULL, POST_FULL, POST_WINDOWED, spec.params["recall_window"])
    assert metrics["recall_at_window"] == pytest.approx(7 / 14)  # CLAIMS.md: 7 of 14 words
    assert evidence["words"]["10"] == 0
    verdict = judge(spec, tiny.info, Measurement(metrics, evidence))
    assert verdict.holds, verdict.describe()


def test_window_scores_measure_recall_of_the_words_spoken(registry):
    """A model that says the same thing at every k recalls all of its own transcript, none of the speech."""
    garbage = "the the the of"
    metrics, evidence = window_scores(POST_FULL, garbage, {k: garbage for k in POST_WINDOWED}, 75)
    assert evidence["recall_of_full"]["75"] == 1.0
    assert metrics["recall_at_window"] == pytest.approx(1 / 14)  # only 'the'
    assert metrics["recall_at_window"] < registry["enc-window-k75"].metrics["recall_at_window"].threshold


def test_window_scores_fail_when_recall_rises(registry):
    spec = registry["enc-window-narrow"]
    worse = {**POST_WINDOWED, 100: "I'm joined today.", 20: POST_FULL}
    metrics, _ = window_scores(POST_FULL, POST_FULL, worse, 75)
    assert metrics["max_recall_rise"] > spec.metrics["max_recall_rise"].threshold


@pytest.mark.parametrize("claim", ALL_CHOP_CLAIMS)
def test_chop_scores_on_the_posts_transcripts_hold(registry, tiny, claim):
    spec = registry[claim]
    # the post shows no neighbour chop: one that changes nothing keeps the target
    metrics, evidence = chop_scores(POST_FULL, POST_CHOPPED[chop_of(claim)], spec.params["target"], [POST_FULL])
    assert metrics["target_removed"] == 1 and metrics["inserted_words"] == 0
    assert evidence["target_in_full"] == 1 and evidence["target_in_chopped"] == 0
    assert evidence["lost"] == ([] if chop_of(claim) == "start" else ["answer"])
    verdict = judge(spec, tiny.info, Measurement(metrics, evidence))
    assert verdict.holds, verdict.describe()


def test_chop_scores_fail_when_the_target_survives_or_was_never_there(registry):
    kept, evidence = chop_scores(POST_FULL, POST_FULL, "hot questions")
    assert kept["target_removed"] == 0 and evidence["rest_wer"] > 0
    assert kept["lost_words"] == 0 and kept["inserted_words"] == 0  # a surviving target is not an insertion
    absent, evidence = chop_scores("the show where celebrities", "the show where celebrities", "hot ones")
    assert absent["target_removed"] == 0 and evidence["target_in_full"] == 0
    # nothing to remove: a chop that changed nothing is not precise, it is undefined (and never passes)
    assert math.isnan(absent["lost_words"]) and math.isnan(absent["inserted_words"])


def test_chop_scores_remove_every_occurrence():
    metrics, evidence = chop_scores("hot ones and hot ones again", "and again", "hot ones")
    assert evidence["target_in_full"] == 2 and evidence["rest_of_full"] == "and again"
    assert evidence["rest_wer"] == 0 and metrics["target_removed"] == 1 and metrics["lost_words"] == 0


def test_chop_scores_count_lost_and_inserted_words_apart():
    """tiny.en's chop 150-175: every other word stays, three words come in, and 'hot' of the target stays."""
    full = "Hot ones, the show where celebrities answer hot questions while eating even hotter wings."
    chopped = "Hot ones, the show where celebrities answer hot or hot wings while eating even hotter wings."
    metrics, evidence = chop_scores(full, chopped, "hot questions")
    assert metrics["target_removed"] == 0 and math.isnan(metrics["neighbours_keep_target"])
    assert metrics["lost_words"] == 0 and metrics["inserted_words"] == 3
    assert sorted(evidence["inserted"]) == ["hot", "or", "wings"] and evidence["target_words_kept"] == ["hot"]
    metrics, evidence = chop_scores(full, "the show where celebrities answer hot", "hot questions")
    assert metrics["lost_words"] == 7 and metrics["inserted_words"] == 0
    assert evidence["lost"] == ["hot", "ones", "while", "eating", "even", "hotter", "wings"]


@pytest.mark.control
def test_a_substitute_that_keeps_a_word_of_the_target_does_not_remove_it(registry, tiny):
    """#30: base's chop 150-175 put 'hot ones' in place of 'hot questions'; matched as a phrase it counted as
    removed, word by word it keeps 'hot' and the claim fails."""
    full = "Hot ones. The show where celebrities answer hot questions while eating even hotter wings."
    metrics, evidence = chop_scores(full, full.replace("hot questions", "hot ones"), "hot questions", [full])
    assert metrics["target_removed"] == 0 and evidence["target_in_chopped"] == 0
    assert evidence["target_words_removed_share"] == 0.5
    verdict = judge(registry["enc-chop-mid"], tiny.info, Measurement(metrics, evidence))
    assert verdict.status == "fails" and "target_removed" in verdict.reason


@pytest.mark.control
def test_a_chop_that_removes_everything_fails_specificity(registry, tiny):
    """#30's neighbour control: a chop anywhere near the words that empties the transcript removes the target,
    and so do the neighbour chops: the removal is not the target frames' doing."""
    metrics, evidence = chop_scores(POST_FULL, "", "hot questions", ["", POST_FULL])
    assert metrics["target_removed"] == 1 and metrics["neighbours_keep_target"] == 0.5
    assert evidence["neighbour_chops_keeping_target"] == [False, True]
    verdict = judge(registry["enc-chop-mid"], tiny.info, Measurement(metrics, evidence))
    assert verdict.status == "fails" and "neighbours_keep_target" in verdict.reason


def test_neighbour_frames_are_as_wide_as_the_chop_and_stay_in_the_window():
    assert neighbour_frames(150, 175, 1500) == [(125, 150), (175, 200)]
    assert neighbour_frames(0, 50, 1500) == [(50, 100)]  # nothing before the first frame
    assert neighbour_frames(10, 30, 1500) == [(0, 10), (30, 50)]  # cut short at the window's start
    assert neighbour_frames(1490, 1500, 1500) == [(1480, 1490)]


def banded(n: int, width: int) -> torch.Tensor:
    i = torch.arange(n)
    return ((i[:, None] - i[None, :]).abs() <= width).float()


def test_band_scores_tell_a_band_from_uniform_relevance(registry):
    params = registry["enc-relevance-local"].params
    local, evidence = band_scores(banded(1500, 10), 300, params["band"], params["band_curve"])
    assert local["median_band_mass"] == 1.0 and evidence["rows"] == 300
    uniform, evidence = band_scores(torch.ones(1500, 1500), 300, params["band"], params["band_curve"])
    assert uniform["median_band_mass"] == pytest.approx(101 / 1500)
    assert evidence["median_band_mass_by_w"]["5"] == pytest.approx(11 / 1500)


@pytest.mark.control
@pytest.mark.parametrize("speech_end", [100, 150, 300, 600])
def test_relevance_spread_evenly_over_the_speech_fails_locality_on_short_and_long_clips(registry, tiny, speech_end):
    """Spread evenly over a short clip's speech, relevance passes the post's bar (m(50) ≥ 0.5) with no
    locality at all; the null on the same frames fails it. Relevance within ±10 frames holds on every length."""
    spec = registry["enc-relevance-local"]
    r = torch.zeros(1500, 1500)
    r[:speech_end, :speech_end] = 1.0
    spread, evidence = band_scores(r, speech_end, 50, [50])
    assert spread["margin_over_speech_uniform"] == 0.0
    assert evidence["speech_uniform_band_mass"] == evidence["speech_permuted_band_mass"] == spread["median_band_mass"]
    verdict = judge(spec, tiny.info, Measurement(spread, evidence))
    assert verdict.status == "fails" and verdict.metric("margin_over_speech_uniform").passed is False
    assert verdict.metric("median_band_mass").passed is (speech_end <= 150)  # the old bar alone held short clips
    local, evidence = band_scores(banded(1500, 10), speech_end, 50, [50])
    assert judge(spec, tiny.info, Measurement(local, evidence)).status == "holds"


def test_band_scores_leave_out_rows_without_relevance():
    r = banded(100, 2)
    r[:10] = 0
    metrics, evidence = band_scores(r, 50, 5, [5])
    assert evidence["rows_without_relevance"] == 10 and metrics["median_band_mass"] == 1.0
    empty, _ = band_scores(torch.zeros(100, 100), 50, 5, [5])
    assert math.isnan(empty["median_band_mass"])


def test_end_share_finds_a_planted_sink():
    r = banded(1500, 3)
    r[325:, 290:310] += 2.0  # after speech, rows attend back to its end
    assert end_share(r, 300, 25)["median_end_share"] > 0.8
    assert end_share(torch.ones(1500, 1500), 300, 25)["median_end_share"] == pytest.approx(51 / 1500)
    assert end_share(r, 300, 25)["rows"] == 1500 - 325


def test_end_peaks_find_where_each_row_peaks():
    r = banded(1500, 3)
    r[325:, 290:310] += 2.0
    peaks = end_peaks(r, 300, 25)
    assert peaks["end_peak_share"] == 1.0 and peaks["peak_column_quartiles"] == [299.5, 299.5, 299.5]
    r[900:, 20:30] += 5.0  # later rows attend back to the start of speech instead
    peaks = end_peaks(r, 300, 25)
    assert peaks["end_peak_share"] == pytest.approx((900 - 325) / (1500 - 325))
    assert peaks["end_peak_share_first_175_rows"] == 1.0
    # a uniform row's maxima are tied everywhere: its peak is their middle, far from the end
    assert end_peaks(torch.ones(1500, 1500), 300, 25)["end_peak_share"] == 0.0


# -- controls on random weights and on constructed models --------------------------------------------


@pytest.mark.control
@pytest.mark.parametrize("claim", CLAIMS)
def test_claims_do_not_hold_on_random_weights(registry, tiny, asset, claim):
    if "min_full_recall" in registry[claim].params:
        # #30: a model that transcribes nothing of the clip gets no verdict on how its transcript degrades
        with pytest.raises(MethodInvalid, match="recalls 0.000 of the words spoken, under min_full_recall = 0.5"):
            run_claim(registry[claim], tiny, asset)
        return
    verdict = run_claim(registry[claim], tiny, asset)
    assert verdict.status == "fails", verdict.describe()


def test_narrow_window_is_judged_only_where_the_unmodified_transcript_recalls_the_words(registry):
    """The precondition is the window claim's own bar, and an empty transcript never meets it."""
    for claim, k75 in (("enc-window-narrow", "enc-window-k75"), ("enc-window-narrow-general", "enc-window-k75-general")):
        assert registry[claim].params["min_full_recall"] == registry[k75].metrics["recall_at_window"].threshold
    _, evidence = window_scores(POST_FULL, "", {k: "" for k in POST_WINDOWED}, 75)
    assert evidence["full_recall"] == 0 and not transcribes(evidence["full_recall"], 0.5)
    assert transcribes(1.0, 0.5) and transcribes(0.0, None) and not transcribes(math.nan, 0.5)


@pytest.mark.control
def test_relevance_local_holds_in_a_forced_window(registry, tiny, asset):
    verdict = run_claim(registry["enc-relevance-local"], tiny, asset, window=5)
    assert verdict.holds, verdict.describe()
    assert verdict.evidence["attention_window"] == 5


@pytest.mark.control
def test_widest_window_reproduces_the_unmasked_transcript(tiny, hot_ones):
    run = clip_run(tiny.model, hot_ones)
    with attention_window(tiny.model, 1500):
        features = encode(tiny.model, run.mel)[0]
    assert (features - run.features).abs().max() <= 1e-5
    assert transcribe_features(tiny.model, features) == run.transcript


@pytest.mark.control
def test_chop_inside_the_padding_of_a_local_encoder_changes_nothing(tiny, hot_ones):
    """An encoder held to ±5 frames, on a clip quiet enough that its padding mel is the padding
    input's: frames far from speech equal the padding input's, so chopping them is harmless,
    while chopping the speech is not."""
    model = tiny.model
    mel = log_mel(load_audio(hot_ones) * 1e-4, model)
    assert torch.all(mel[..., 700:] == padding_mel(model)[..., 700:])  # precondition of the control
    with attention_window(model, 5):
        features = encode(model, mel)[0]
        padding = encode(model, padding_mel(model))[0]
    full = transcribe_features(model, features)
    inside_padding = chop(features, padding, 1200, 1225)
    assert torch.equal(inside_padding, features)
    assert transcribe_features(model, inside_padding) == full
    assert not torch.equal(chop(features, padding, 0, 50), features)


@pytest.mark.control
@pytest.mark.parametrize("claim", ALL_CHOP_CLAIMS)
def test_chop_claims_hold_for_a_decoder_that_reads_words_off_frames(registry, tiny, asset, monkeypatch, claim):
    """A constructed decoder that says a word exactly when its frames are not padding: the post's
    transcript, with words at their times in the clip. The chop claims must hold for it."""
    model = random_model("tiny", 7)
    padding = padding_features(model)
    spans = [("hot ones", 0, 50), ("the show where celebrities answer", 50, 150),
             ("hot questions", 150, 175), ("while feeding even hotter wings", 175, 300)]

    def transcribe(_model, features):
        kept = [words for words, a, b in spans if not torch.equal(features[a:b], padding[a:b])]
        return " ".join(kept)

    monkeypatch.setattr(encoder_claims, "transcribe_features", transcribe)
    verdict = run_claim(registry[claim], LoadedModel(model, tiny.info), asset)
    assert verdict.holds, verdict.describe()
    assert verdict.evidence["control_wer"] == 0


def test_english_only_models_decode_with_the_same_options():
    """.en checkpoints have no language or task tokens; the shared decoding options still apply."""
    from whisper.model import ModelDimensions

    dims = ModelDimensions(n_mels=80, n_audio_ctx=100, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
                           n_vocab=51864, n_text_ctx=16, n_text_state=64, n_text_head=2, n_text_layer=2)
    model = random_model("tiny.en", 0, dims=dims)
    assert not model.is_multilingual
    features = padding_features(model)
    text = transcribe_features(model, chop(features, features, 0, 10))
    assert isinstance(text, str) and text == transcribe_features(model, features)


@pytest.mark.control
@pytest.mark.parametrize("claim", CHOP_CLAIMS["start"][1:] + CHOP_CLAIMS["mid"][1:])
def test_chop_precision_claims_fail_for_a_decoder_that_reads_the_whole_clip(registry, tiny, asset, monkeypatch,
                                                                          claim):
    """A constructed decoder whose every word depends on every frame: any chop rewrites the transcript.
    The target goes, but so does the rest, and other words come in: 'keeps' and 'adds-none' must fail."""
    model = random_model("tiny", 7)
    words = "hot ones the show where celebrities answer hot questions while feeding even hotter wings".split()
    vocabulary = ["red", "cat", "sky", "moon", "door", "lamp", "tree", "boat", "hill", "rain", "song", "wind"]

    unchanged = []  # the first decode is the clip's own (clip_run)

    def transcribe(_model, features):
        if not unchanged:
            unchanged.append(features.clone())
        if torch.equal(features, unchanged[0]):
            return " ".join(words)
        seed = int(features.sum().abs().item() * 1e3) % 2**31
        g = torch.Generator().manual_seed(seed)
        return " ".join(vocabulary[i] for i in torch.randint(len(vocabulary), (10,), generator=g).tolist())

    monkeypatch.setattr(encoder_claims, "transcribe_features", transcribe)
    verdict = run_claim(registry[claim], LoadedModel(model, tiny.info), asset)
    assert verdict.status == "fails", verdict.describe()


# -- how far each layer and head attends ------------------------------------------------------------


def test_attention_distance_matches_a_plain_computation(tiny, hot_ones):
    """Reduced layer by layer as the probabilities are made, against every layer's probabilities kept
    and summed with plain loops over heads."""
    model = tiny.model
    measured = attention_distance(model, hot_ones, (10, 75))
    run = clip_run(model, hot_ones)
    with torch.no_grad(), explicit_attention(model, record=True) as layers:
        model.encoder(run.mel)
    rows = run.speech_end
    i, j = torch.meshgrid(torch.arange(rows), torch.arange(layers[0].shape[-1]), indexing="ij")
    for layer, w in enumerate(layers):
        for head in range(w.shape[1]):
            a = w[0, head, :rows].double()
            expected = (a * (i - j).abs()).sum(1).mean().item()
            assert measured["mean_distance"][layer][head] == pytest.approx(expected, rel=1e-9)
            inside = (a * ((i - j).abs() <= 10)).sum(1).mean().item()
            assert measured["share_within"]["10"][layer][head] == pytest.approx(inside, rel=1e-9)
    assert len(measured["heads_mostly_within_10"]) == len(layers)


@pytest.mark.control
def test_attention_distance_tells_a_forced_window_from_random_attention(tiny, hot_ones):
    forced = attention_distance(tiny.model, hot_ones, (10, 75), window=5)
    assert max(max(layer) for layer in forced["mean_distance"]) <= 5
    assert min(min(layer) for layer in forced["share_within"]["10"]) == pytest.approx(1.0)
    assert forced["heads_mostly_within_10"] == [tiny.model.dims.n_audio_head] * tiny.model.dims.n_audio_layer
    free = attention_distance(tiny.model, hot_ones, (10, 75))  # random weights attend everywhere
    assert min(min(layer) for layer in free["mean_distance"]) > 300
    assert free["heads_mostly_within_10"] == [0] * tiny.model.dims.n_audio_layer
    with pytest.raises(ValueError, match="at least one window"):
        attention_distance(tiny.model, hot_ones, ())


@pytest.mark.skipif(not matplotlib_available(), reason="matplotlib (the 'report' extra) is not installed")
def test_relevance_local_draws_how_far_each_head_attends(registry, tiny, asset, tmp_path):
    measured = measure_claim(registry["enc-relevance-local"], tiny, asset)
    assert measured.evidence["attention_distance"]["rows"] == 300
    figures = draw_figures("enc-relevance-local", "random:tiny", measured.artifacts, tmp_path)
    drawn = [f for f in figures if "head_distance" in f["path"]]
    assert len(drawn) == 1 and (tmp_path / drawn[0]["path"]).stat().st_size > 0


def test_the_end_of_speech_comes_from_the_clips_own_timing_else_its_energy(tmp_path, asset):
    """#30: a recording's alignment, a synthesized sentence's word events, else the signal's energy; never the
    end of the audio, which may hold room silence."""
    import soundfile

    from whisper_claims.stimuli.word_clips import TimedWord, WordClip

    librispeech = asset("speech/librispeech/2277-149896-0005.wav")
    run = SimpleNamespace(energy_end=999)
    frame, method = end_of_speech(librispeech, run)
    assert method == "alignment 2277-149896-0005.TextGrid" and frame < math.ceil(5.6 / 0.02)
    audio = np.zeros(16000 * 3, dtype=np.float32)
    audio[:16000] = 0.1 * np.sin(np.arange(16000) / 5)  # 1 s of tone, then 2 s of silence
    alone = tmp_path / "tone.wav"  # no alignment beside it
    soundfile.write(alone, audio, 16000)
    assert end_of_speech(alone, SimpleNamespace(energy_end=encoder_claims._energy_end(audio))) == (
        50, "signal energy (last frame within 35 dB of the loudest)")
    clip = WordClip("s", audio, (TimedWord("tone", 0.0, 0.5), TimedWord("more", 0.5, 1.01)), "espeak-ng events")
    assert end_of_speech(clip, run) == (51, "espeak-ng events")
