"""Controls of the claims dec-bigram, dec-bigram-general and dec-neuron-semantic: they fail on random
weights and hold where planted; the neuron ranking, the corpus and the hooked activations against plain code."""
import copy
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import rankdata
from whisper.model import ModelDimensions
from whisper.tokenizer import get_tokenizer

from whisper_claims.claims import decoder as decoder_claims
from whisper_claims.claims.decoder import (bigram_prompt, dec_bigram, dec_bigram_general,
                                           dec_neuron_semantic, jaccard, top_text_tokens, written_form)
from whisper_claims.claims.figures import draw_figures, matplotlib_available
from whisper_claims.claims.runner import measure_claim
from whisper_claims.claims.verdict import judge
from whisper_claims.files import PACKAGE_DATA
from whisper_claims.measure.decoder_neurons import (category_nulls, neuron_module, permutation_p, placements, project,
                                                    random_directions, rank_neurons, shuffled_best_shares,
                                                    shuffled_labels, token_activations, top_positions)
from whisper_claims.measure.hooks import capture
from whisper_claims.measure.inference import next_token_logits, padding_features, tokenizer_for
from whisper_claims.models.load import LoadedModel, random_model
from whisper_claims.stimuli.decoder_corpus import context, expand, load_corpus, normalize_word, tokenize
from whisper_claims.stimuli.speech_corpus import transcribed_recordings

pytestmark = pytest.mark.control

BIGRAM_METRICS = ("very_continuations", "traffic_continuations", "good_continuations")
NEURON_RANKS = ("neuron10_food_rank", "neuron12_numbers_rank", "neuron14_motion_rank")
SHARES = ("food_best_share", "numbers_best_share", "motion_best_share")
MARGINS = tuple(f"{c}_margin_over_{null}" for c in ("food", "numbers", "motion")
                for null in ("shuffled_labels", "random_directions"))
# a Whisper small enough to build and run in milliseconds: 24 encoder frames (0.48 s of audio), 16 text positions
SMALL = ModelDimensions(n_mels=80, n_audio_ctx=24, n_audio_state=32, n_audio_head=4, n_audio_layer=1,
                        n_vocab=51865, n_text_ctx=16, n_text_state=32, n_text_head=4, n_text_layer=3)


@pytest.fixture(scope="module")
def corpus():
    return load_corpus()


def measure(loaded, spec, **overrides):
    measured = measure_claim(spec, loaded, **overrides)
    return measured, judge(spec, loaded.info, measured)


# -- the registry entries ------------------------------------------------------------------------------


def test_registry_entries_match_the_claim_functions(registry):
    bigram = registry["dec-bigram"]
    assert {p["metric"] for p in bigram.params["prompts"]} | {"max_unprompted_jaccard"} == set(bigram.metrics)
    assert [p["prompt"] for p in bigram.params["prompts"]] == [" very", " traffic", " Good"]
    assert [bigram.metrics[m].threshold for m in BIGRAM_METRICS] == [3, 2, 3]
    neurons = registry["dec-neuron-semantic"]
    assert neurons.params["expected_neurons"] == {"food": 10, "numbers": 12, "motion": 14}
    assert set(neurons.metrics) == set(SHARES) | set(NEURON_RANKS) | set(MARGINS)
    for name in NEURON_RANKS:
        assert neurons.metrics[name].applies_to == ("tiny",)
    for name in SHARES:
        assert neurons.metrics[name].applies_to is None and neurons.metrics[name].threshold == 0.5
    for name in MARGINS:  # ours (#30): the nulls are extra metrics, the post's thresholds stay
        metric = neurons.metrics[name]
        assert (metric.comparator, metric.threshold, metric.applies_to) == (">", 0, None)
        assert metric.provenance.startswith("ours (#30), provisional")
    assert neurons.params["shuffles"] >= 100


# -- dec-bigram: the prompt and the top tokens ---------------------------------------------------------------


def test_bigram_prompt_multilingual():
    tokenizer = get_tokenizer(True, language="en", task="transcribe")
    # the post's <|startoftranscript|><|en|><|transcribe|> + token (ids from reference-data.md)
    assert bigram_prompt(tokenizer, " very") == [50258, 50259, 50359, 588]
    assert bigram_prompt(tokenizer, " traffic") == [50258, 50259, 50359, 6419]
    assert bigram_prompt(tokenizer, " Good") == [50258, 50259, 50359, 2205]
    assert bigram_prompt(tokenizer, "Sun") == [50258, 50259, 50359, 42455]


def test_bigram_prompt_english_only():
    tokenizer = get_tokenizer(multilingual=False)
    # no language or task tokens: <|startoftranscript|> + token
    assert tokenizer.sot_sequence == (50257,)
    assert bigram_prompt(tokenizer, " very") == [50257, tokenizer.encode(" very")[0]]
    assert len(bigram_prompt(tokenizer, "Sun")) == 2


def test_bigram_prompt_must_be_one_token():
    tokenizer = get_tokenizer(True, language="en", task="transcribe")
    with pytest.raises(ValueError, match="not a single token"):
        bigram_prompt(tokenizer, " xylophonically")


def test_top_text_tokens_leave_out_special_tokens():
    tokenizer = get_tokenizer(True, language="en", task="transcribe")
    logits = torch.zeros(51865)
    logits[tokenizer.eot:] = 100.0  # <|endoftext|>, languages, timestamps
    logits[709] = 5.0  # ' much'
    logits[731] = 4.0
    top = top_text_tokens(logits, tokenizer, 3)
    assert [t[0] for t in top[:2]] == [709, 731]
    assert top[0][1] == " much" and top[0][2] == 5.0
    assert all(t[0] < tokenizer.eot for t in top)


def test_jaccard():
    assert jaccard([1, 2, 3], [1, 2, 3]) == 1.0
    assert jaccard([1, 2], [3, 4]) == 0.0
    assert jaccard([1, 2, 3], [2, 3, 4]) == 0.5
    assert jaccard([1, 1, 2], [2, 1]) == 1.0


# -- dec-bigram: controls ------------------------------------------------------------------------------------


def test_bigram_does_not_hold_on_random_weights(tiny, registry):
    measured, verdict = measure(tiny, registry["dec-bigram"])
    assert verdict.status == "fails"
    for name in BIGRAM_METRICS:
        assert verdict.metric(name).passed is False, name
    evidence = measured.evidence
    assert list(evidence["prompts"]) == [" very", " traffic", " Good", "Sun"]
    assert evidence["prompts"]["Sun"]["judged"] is False and "Sun" not in str(measured.metrics)
    for entry in evidence["prompts"].values():
        assert len(entry["top"]) == 20
        logits = [t["logit"] for t in entry["top"]]
        assert logits == sorted(logits, reverse=True)
    assert evidence["prompts"][" very"]["prompt_tokens"] == [50258, 50259, 50359, 588]
    unprompted = evidence["unprompted"]
    assert unprompted["prompt_tokens"] == [50258, 50259, 50359] and len(unprompted["top"]) == 20
    assert evidence["unprompted_no_timestamps"]["prompt_tokens"] == [50258, 50259, 50359, 50363]
    assert 0 < unprompted["text_probability"] <= 1
    probabilities = [t["probability"] for t in unprompted["top"]]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1
    assert set(measured.artifacts["top_logits"]) == {" very", " traffic", " Good", "Sun"}


def test_bigram_on_an_english_only_model(registry):
    # English-only vocabulary (51864 tokens), small dimensions: no language or task tokens in the prompt
    model = random_model("tiny", seed=1, dims=replace(SMALL, n_vocab=51864))
    assert not model.is_multilingual
    measured = dec_bigram(model, **registry["dec-bigram"].params)
    very = get_tokenizer(multilingual=False).encode(" very")
    assert measured.evidence["prompts"][" very"]["prompt_tokens"] == [50257, *very]
    assert measured.evidence["unprompted"]["prompt_tokens"] == [50257]
    assert measured.evidence["unprompted_no_timestamps"]["prompt_tokens"] == [50257, 50362]
    assert all(t["token"] for t in measured.evidence["unprompted"]["top"])


def final_states(model, prompts):
    """The decoder's final LayerNorm output at the last position of each prompt, on padding audio."""
    states = []
    for prompt in prompts:
        with capture(model, "decoder.ln") as records:
            next_token_logits(model, padding_features(model), prompt)
        states.append(records["decoder.ln"][0][0, -1])
    return torch.stack(states)


@pytest.fixture(scope="module")
def planted_bigrams(tiny, registry):
    """random:tiny whose output embedding makes each prompt's continuations its top tokens, and only there.

    Only the rows of continuation tokens change; none of them is in a prompt, so the decoder's hidden
    states are unchanged and each row can be solved for: logit 30 after its own prompt, 0 after the others.
    """
    model = copy.deepcopy(tiny.model)
    tokenizer = tokenizer_for(model)
    params = registry["dec-bigram"].params
    entries = [*params["prompts"], *params["evidence_prompts"]]
    prompts = [bigram_prompt(tokenizer, e["prompt"]) for e in entries]
    prompts += [list(tokenizer.sot_sequence), list(tokenizer.sot_sequence_including_notimestamps)]
    states = final_states(model, prompts).double()  # [n_prompts, n_text_state]
    weight = model.decoder.token_embedding.weight
    with torch.no_grad():
        for i, entry in enumerate(entries[:3]):
            for word in entry["expected"]:
                target = torch.zeros(len(prompts), dtype=torch.float64)
                target[i] = 30.0
                token, = tokenizer.encode(" " + word)
                weight[token] = torch.linalg.lstsq(states, target[:, None]).solution[:, 0].float()
    return LoadedModel(model, tiny.info)


def test_bigram_holds_for_planted_continuations(planted_bigrams, registry):
    spec = registry["dec-bigram"]
    measured, verdict = measure(planted_bigrams, spec)
    assert verdict.status == "holds", verdict.describe()
    for entry in spec.params["prompts"]:
        found = measured.evidence["prompts"][entry["prompt"]]
        assert found["found"] == entry["expected"]
        assert measured.metrics[entry["metric"]] == len(entry["expected"])
        # the planted tokens lead, at about the planted logit
        leaders = [t["token"].strip() for t in found["top"][: len(entry["expected"])]]
        assert sorted(leaders) == sorted(entry["expected"])
        assert all(abs(t["logit"] - 30) < 0.1 for t in found["top"][: len(entry["expected"])])
    # the unprompted distribution did not change: no planted token there
    planted = {w for e in spec.params["prompts"] for w in e["expected"]}
    assert not planted & {t["token"].strip() for t in measured.evidence["unprompted"]["top"]}
    assert measured.metrics["max_unprompted_jaccard"] <= 0.5


def test_bigram_fails_for_a_decoder_that_ignores_the_prompt(planted_bigrams, registry):
    # a fixed prior that holds every continuation: the overlaps pass, the prompt is not used
    model = copy.deepcopy(planted_bigrams.model)
    tokenizer = tokenizer_for(model)
    prior = torch.zeros(model.dims.n_vocab)
    for entry in registry["dec-bigram"].params["prompts"]:
        for word in entry["expected"]:
            prior[tokenizer.encode(" " + word)[0]] = 10.0
    model.logits = lambda tokens, features: prior.expand(1, tokens.shape[1], -1)
    measured, verdict = measure(LoadedModel(model, planted_bigrams.info), registry["dec-bigram"])
    assert [verdict.metric(m).passed for m in BIGRAM_METRICS] == [True, True, True]
    assert measured.metrics["max_unprompted_jaccard"] == 1.0
    assert verdict.status == "fails" and verdict.reason == "not met: max_unprompted_jaccard"


# -- dec-bigram-general ------------------------------------------------------------------------------------


def test_general_bigrams_do_not_hold_on_random_weights(tiny, registry):
    spec = registry["dec-bigram-general"]
    measured, verdict = measure(tiny, spec)
    assert verdict.status == "fails" and verdict.metric("continuation_share").passed is False
    assert measured.evidence["n_pairs"] == len(spec.params["pairs"]) >= 50
    assert all(len(pair["top"]) == 20 for pair in measured.evidence["pairs"])
    share = measured.intervals["continuation_share"]  # the prompts are the sampling unit
    assert (share.method, share.n_units) == ("wilson", measured.evidence["n_pairs"]) and share.high < 0.5
    lift = measured.intervals["lift_over_other_prompts"]
    assert (lift.method, lift.n_units, lift.n_resamples) == ("bootstrap", measured.evidence["n_pairs"], 2000)
    assert lift.low <= measured.metrics["lift_over_other_prompts"] <= lift.high < 0.3


@pytest.fixture(scope="module")
def planted_general(tiny, registry):
    """random:tiny whose output rows make each prompt's continuations rank first after it, and only there
    (solved by least squares over the decoder's final states, as for the post's prompts)."""
    model = copy.deepcopy(tiny.model)
    tokenizer = tokenizer_for(model)
    pairs = registry["dec-bigram-general"].params["pairs"]
    prompts = [bigram_prompt(tokenizer, pair["prompt"]) for pair in pairs]
    targets: dict[int, torch.Tensor] = {}
    for i, pair in enumerate(pairs):
        for word in pair["expected"]:
            token = tokenizer.encode(" " + word)[0]
            targets.setdefault(token, torch.zeros(len(prompts), dtype=torch.float64))[i] = 30.0
    # no continuation is a prompt token, so the hidden states do not move when the rows change
    assert not set(targets) & {t for p in prompts for t in p}
    states = final_states(model, prompts).double()
    weight = model.decoder.token_embedding.weight
    with torch.no_grad():
        for token, target in targets.items():
            weight[token] = torch.linalg.lstsq(states, target[:, None]).solution[:, 0].float()
    return LoadedModel(model, tiny.info)


def test_general_bigrams_hold_where_planted(planted_general, registry):
    measured, verdict = measure(planted_general, registry["dec-bigram-general"])
    assert verdict.status == "holds", verdict.describe()
    assert measured.metrics["continuation_share"] == 1.0
    # shared continuations (' to' after according, due, able) are the only ones seen after other prompts
    assert measured.evidence["baseline_share"] < 0.05
    assert measured.intervals["continuation_share"].low > 0.9
    assert measured.intervals["lift_over_other_prompts"].low > 0.9


def test_general_bigrams_fail_for_a_decoder_that_ignores_the_prompt(planted_general, registry):
    # a fixed prior that holds every continuation: every prompt is "followed", and so is every other one
    model = copy.deepcopy(planted_general.model)
    tokenizer = tokenizer_for(model)
    prior = torch.zeros(model.dims.n_vocab)
    for pair in registry["dec-bigram-general"].params["pairs"][:20]:
        prior[tokenizer.encode(" " + pair["expected"][0])[0]] = 10.0
    model.logits = lambda tokens, features: prior.expand(1, tokens.shape[1], -1)
    spec = replace(registry["dec-bigram-general"],
                   params={**registry["dec-bigram-general"].params,
                           "pairs": registry["dec-bigram-general"].params["pairs"][:20], "min_pairs": 20})
    measured, verdict = measure(LoadedModel(model, planted_general.info), spec)
    assert measured.metrics["continuation_share"] == 1.0 and verdict.metric("continuation_share").passed
    assert measured.metrics["lift_over_other_prompts"] < 0.05
    assert measured.intervals["lift_over_other_prompts"].high < 0.3  # wholly below: fails, not inconclusive
    assert verdict.status == "fails" and verdict.reason == "not met: lift_over_other_prompts"


def test_general_bigrams_need_enough_single_token_prompts(tiny, registry):
    params = {**registry["dec-bigram-general"].params, "pairs": [{"prompt": " Xylophonist", "expected": ["a"]}]}
    with pytest.raises(ValueError, match=r"only 0 of 1 prompts are single tokens .*Xylophonist"):
        dec_bigram_general(tiny.model, **params)


# -- dec-neuron-semantic: the corpus --------------------------------------------------------------------------


def test_corpus_is_every_word_in_the_same_frames(corpus):
    assert len(corpus.sentences) == corpus.repeats * len(corpus.words) >= 300
    assert corpus.sentences == tuple(expand(list(corpus.frames), list(corpus.words), corpus.repeats))
    assert load_corpus().sentences == corpus.sentences  # deterministic
    assert len(set(corpus.words)) == len(corpus.words)
    # the frames carry no category: category and filler words share them alike
    category_words = {w for words in corpus.categories.values() for w in words}
    frame_words = {normalize_word(w) for f in corpus.frames for w in f.replace("{word}", "").split()}
    assert not frame_words & category_words
    fillers = [w for w in corpus.words if normalize_word(w) not in category_words]
    assert len(fillers) > 2 * len(corpus.words) // 3  # categories are a minority, each about a tenth
    # the post's own examples (reference-data.md §4) are in their categories
    assert {"steak", "cheese", "salad", "lunch", "rice", "dinner", "eating"} <= corpus.categories["food"]
    assert {"15", "8th", "16th", "20th", "6th", "3,000", "4th"} <= corpus.categories["numbers"]
    assert {"throw", "knock", "shaking", "drill", "brushing", "swept", "struck"} <= corpus.categories["motion"]
    assert set(corpus.sources) == {"corpus", "food", "numbers", "motion"}
    assert all(source.strip() for source in corpus.sources.values())


def test_expand_spreads_words_over_frames():
    frames = ["A {word}.", "{word} b.", "c {word} c."]
    assert expand(frames, ["x", "y", "z", "w"], 1) == ["A x.", "Y b.", "c z c.", "A w."]
    assert expand(frames, ["x"], 3) == ["A x.", "X b.", "c x c."]  # a word never twice in one frame
    with pytest.raises(ValueError, match="repeats=4"):
        expand(frames, ["x"], 4)


@pytest.mark.parametrize("old, new, error", [
    ('"ball", "box",', '"ball", "Pizza", "box",', r"fillers are category words: \['pizza'\]"),
    ('"ball", "box",', '"ball", "box", "ball",', r"listed twice .*\['ball'\]"),
    ('"I heard {word} twice."', '"I heard {word} and {word}."', "exactly one"),
    ('"I heard {word} twice."', '"I heard the fifth {word}."',
     r"frame words or fillers are category words: \['fifth'\]"),
])
def test_corpus_file_errors(tmp_path, old, new, error):
    text = (PACKAGE_DATA / "decoder_corpus.toml").read_text(encoding="utf-8")
    assert text.count(old) == 1
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(ValueError, match=error):
        load_corpus(bad)


@pytest.mark.parametrize("multilingual", [True, False])
def test_tokenizing_word_by_word_matches_whole_sentences(corpus, multilingual):
    tokenizer = get_tokenizer(multilingual, language="en", task="transcribe")
    table = tokenize(tokenizer, corpus.sentences, corpus.categories)
    for sentence, tokens in zip(corpus.sentences, table.sentence_tokens):
        assert tuple(tokenizer.encode(" " + sentence)) == tokens
    assert table.prefix == tuple(tokenizer.sot_sequence_including_notimestamps)
    assert len(table) == sum(len(t) for t in table.sentence_tokens)
    # every token of "8th" is a number; the frame's words are nothing
    i = corpus.sentences.index(next(s for s in corpus.sentences if " 8th " in f" {s} " or "8th." in s))
    rows = np.flatnonzero(table.sentence == i)
    words = corpus.sentences[i].split()
    for row in rows:
        is_number = normalize_word(words[table.word[row]]) == "8th"
        assert table.labels["numbers"][row] == is_number
        assert not table.labels["food"][row] and not table.labels["motion"][row]


def test_context_brackets_the_word():
    sentences = ["Until the 8th year of the war."]
    assert context(sentences, 0, 2) == "Until the [8th] year of the"
    assert context(sentences, 0, 0, width=1) == "[Until] the"


# -- dec-neuron-semantic: the ranking on constructed tables ----------------------------------------------------


def constructed_table(seed=0, n_positions=3000, n_neurons=64, vocabulary=400, n_category=40):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, vocabulary, n_positions)
    in_category = tokens < n_category  # token ids 0..39 are the category
    activations = rng.normal(size=(n_positions, n_neurons)).astype(np.float32)
    return tokens, in_category, activations


def test_ranking_finds_a_planted_category_neuron():
    tokens, in_category, activations = constructed_table()
    activations[:, 7] += 3.0 * in_category  # neuron 7 prefers the category
    ranking = rank_neurons(activations, tokens, in_category, top=20)
    assert ranking.best == 7 and ranking.rank(7) == 1
    assert ranking.share[7] == 1.0 and ranking.auroc[7] > 0.95
    assert ranking.base_rate == pytest.approx(0.1, abs=0.01)
    others = np.delete(ranking.share, 7)
    assert others.max() <= 0.4  # chance: 20 draws at a base rate of 0.1
    top = top_positions(activations, tokens, in_category, 7, top=20)
    assert len({tokens[p] for p in top}) == 20 and all(in_category[p] for p in top)
    assert list(activations[top, 7]) == sorted(activations[top, 7], reverse=True)


def test_shuffled_category_labels_give_no_enrichment():
    tokens, in_category, activations = constructed_table()
    activations[:, 7] += 3.0 * in_category
    for seed in range(3):
        shuffled = shuffled_labels(tokens, in_category, seed)
        # the same number of category token ids, every position of an id labelled alike
        assert len(np.unique(tokens[shuffled])) == len(np.unique(tokens[in_category]))
        for token in np.unique(tokens)[:50]:
            assert len(set(shuffled[tokens == token])) == 1
        ranking = rank_neurons(activations, tokens, shuffled, top=20)
        assert ranking.share.max() <= 0.45, seed
        assert ranking.share[7] <= 0.35 and abs(ranking.auroc[7] - 0.5) < 0.2


def test_a_neuron_of_one_frequent_token_does_not_fill_its_top_list():
    tokens, in_category, activations = constructed_table()
    activations[:, 3] += 5.0 * (tokens == 0)  # one category token only
    ranking = rank_neurons(activations, tokens, in_category, top=20)
    assert ranking.share[3] <= 0.3  # one type among 20, not 20 repeats of it


def test_ranking_breaks_ties_by_auroc_then_index():
    tokens = np.repeat(np.arange(40), 2)
    in_category = tokens < 10
    activations = np.zeros((80, 3), dtype=np.float32)
    activations[:, 0] = in_category * 1.0
    activations[:, 1] = in_category * 1.0 + (tokens == 15) * 2.0  # one non-category type on top
    activations[:, 2] = in_category * 1.0
    ranking = rank_neurons(activations, tokens, in_category, top=10)
    assert list(ranking.order) == [0, 2, 1]
    assert ranking.share[1] == 0.9


def test_ranking_input_errors():
    tokens, in_category, activations = constructed_table(n_positions=100)
    with pytest.raises(ValueError, match="one of each per position"):
        rank_neurons(activations[:50], tokens, in_category)
    with pytest.raises(ValueError, match="need some of both"):
        rank_neurons(activations, tokens, np.zeros(100, dtype=bool))
    with pytest.raises(ValueError, match="need at least top=500"):
        rank_neurons(activations, tokens, in_category, top=500)


# -- dec-neuron-semantic: the nulls on constructed tables -------------------------------------------------------


def test_shuffled_best_shares_are_rank_neurons_on_shuffled_labels():
    tokens, in_category, activations = constructed_table()
    activations[:, 7] += 3.0 * in_category
    fast = shuffled_best_shares(activations, tokens, in_category, 20, range(5))
    slow = [rank_neurons(activations, tokens, shuffled_labels(tokens, in_category, seed), 20).share.max()
            for seed in range(5)]
    assert list(fast) == slow


def nulls(activations, tokens, in_category):
    directions = random_directions(activations.shape[1], activations.shape[1])
    return category_nulls(activations, project(activations, directions), tokens, in_category, top=20, shuffles=100)


def test_a_selective_neuron_beats_both_nulls():
    tokens, in_category, activations = constructed_table()
    activations[:, 7] += 3.0 * in_category
    found = nulls(activations, tokens, in_category)
    assert found.share == 1.0 and len(found.shuffled) == 100
    assert found.margin_over_shuffled_labels > 0.5 and found.margin_over_random_directions > 0.3
    assert found.p_value == 1 / 101  # no shuffle reaches it: the least p that 100 shuffles can give


def test_no_selective_neuron_beats_neither_null():
    tokens, in_category, activations = constructed_table()
    found = nulls(activations, tokens, in_category)
    assert found.share <= 0.3
    assert found.margin_over_shuffled_labels <= 0 and found.margin_over_random_directions <= 0
    assert found.p_value > 0.5


def test_a_category_spread_over_every_neuron_fails_the_direction_null():
    # the category is in the activations, but along a direction that no single neuron carries: the label
    # null passes (the category is special), the direction null does not (neurons are no better than any basis)
    tokens, in_category, activations = constructed_table()
    spread = np.full(activations.shape[1], 1 / math.sqrt(activations.shape[1]), dtype=np.float32)
    activations += 3.0 * in_category[:, None] * spread
    found = nulls(activations, tokens, in_category)
    assert found.margin_over_shuffled_labels > 0 and found.p_value < 0.05
    assert found.margin_over_random_directions < 0


def test_random_directions_and_permutation_p():
    directions = random_directions(64, 10, seed=3)
    assert directions.shape == (64, 10) and directions.dtype == np.float32
    assert np.allclose(np.linalg.norm(directions, axis=0), 1, atol=1e-6)
    assert np.array_equal(directions, random_directions(64, 10, seed=3))
    assert not np.array_equal(directions, random_directions(64, 10, seed=4))
    with pytest.raises(ValueError, match="random_directions = 0"):
        random_directions(64, 0)
    assert permutation_p([0.1, 0.2, 0.3], 0.5) == 0.25 and permutation_p([0.1, 0.2, 0.3], 0.2) == 0.75
    tokens, in_category, activations = constructed_table()
    with pytest.raises(ValueError, match="shuffles = 0"):
        category_nulls(activations, activations, tokens, in_category, shuffles=0)


# -- dec-neuron-semantic: hooked activations against a plain computation --------------------------------------


def plain_attention(x, source, attention, n_head, causal):
    q = x @ attention.query.weight.T + attention.query.bias
    k = source @ attention.key.weight.T
    v = source @ attention.value.weight.T + attention.value.bias
    batch, n_q, width = q.shape
    split = lambda t: t.reshape(batch, t.shape[1], n_head, width // n_head).transpose(1, 2)
    scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(width // n_head)
    if causal:
        scores = scores.masked_fill(torch.ones(n_q, n_q, dtype=torch.bool).triu(1), float("-inf"))
    out = (scores.softmax(-1) @ split(v)).transpose(1, 2).reshape(batch, n_q, width)
    return out @ attention.out.weight.T + attention.out.bias


def plain_neurons(model, tokens, xa, layer):
    """Block ``layer``'s post-GELU MLP neurons, written out from the weights."""
    decoder = model.decoder
    layer_norm = lambda t, ln: F.layer_norm(t, t.shape[-1:], ln.weight, ln.bias, ln.eps)
    x = decoder.token_embedding.weight[tokens] + decoder.positional_embedding[: tokens.shape[1]]
    for block in decoder.blocks[: layer + 1]:
        x = x + plain_attention(layer_norm(x, block.attn_ln), layer_norm(x, block.attn_ln), block.attn,
                                block.attn.n_head, causal=True)
        x = x + plain_attention(layer_norm(x, block.cross_attn_ln), xa, block.cross_attn, block.cross_attn.n_head,
                                causal=False)
        hidden = layer_norm(x, block.mlp_ln) @ block.mlp[0].weight.T + block.mlp[0].bias
        neurons = F.gelu(hidden)
        x = x + neurons @ block.mlp[2].weight.T + block.mlp[2].bias
    return neurons


@pytest.mark.parametrize("layer, shared", [(0, True), (1, False)])  # one encoder output for all, or one each
def test_hooked_activations_match_a_plain_computation(layer, shared):
    model = random_model("tiny", seed=3, dims=SMALL)
    g = torch.Generator().manual_seed(1)
    sequences = [[50258, 50259, 50359, 50363, 400, 7, 912], [50258, 50259, 50359, 50363, 11], [50258, 3, 4, 5, 6]]
    features = torch.randn(len(sequences), SMALL.n_audio_ctx, SMALL.n_audio_state, generator=g)
    if shared:
        features = features[0]
    activations = token_activations(model, sequences, features, layer=layer, skip=1, batch_size=2)
    assert activations.shape == (sum(len(s) - 1 for s in sequences), 4 * SMALL.n_text_state)
    rows = 0
    with torch.no_grad():
        for i, sequence in enumerate(sequences):
            xa = (features if shared else features[i])[None]
            expected = plain_neurons(model, torch.tensor([sequence]), xa, layer)[0, 1:].numpy()
            got = activations[rows: rows + len(sequence) - 1]
            np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-4)
            # and the full decoder's forward, hooked the same way, agrees
            with capture(model, neuron_module(layer)) as records:
                model.decoder(torch.tensor([sequence]), xa)
            np.testing.assert_allclose(got, records[neuron_module(layer)][0][0, 1:].numpy(), atol=1e-5, rtol=1e-4)
            rows += len(sequence) - 1


def test_token_activations_input_errors():
    model = random_model("tiny", seed=3, dims=SMALL)
    with pytest.raises(ValueError, match="2 encoder outputs for 3 sequences"):
        token_activations(model, [[1], [2], [3]], torch.zeros(2, 24, 32))
    with pytest.raises(ValueError, match="context is 16"):
        token_activations(model, [list(range(17))], torch.zeros(24, 32))


# -- dec-neuron-semantic: controls on models -------------------------------------------------------------------


def test_neuron_claim_does_not_hold_on_random_weights(tiny, registry):
    measured, verdict = measure(tiny, registry["dec-neuron-semantic"])
    assert verdict.status == "fails"
    assert [verdict.metric(m).passed for m in SHARES + NEURON_RANKS] == [False] * 6
    for category in ("food", "numbers", "motion"):
        record = measured.evidence[category]["padding"]
        assert 0.05 < record["base_rate_types"] < 0.15  # reported beside the share
        assert record["share"] < 0.5 and len(record["top_tokens"]) == 20
        shuffled = record["shuffled_labels"]
        # the best of 1536 neurons on random token sets: the 95th percentile below the post's 0.5, not far
        assert len(shuffled["best_shares"]) == 100 and 0.25 <= shuffled["quantile_95"] < 0.5
        assert shuffled["p_resolution"] == 1 / 101 and shuffled["p_value"] > 0.05
        assert record["random_directions_best_share"] < 0.5
        assert measured.metrics[f"{category}_margin_over_shuffled_labels"] <= 0
        # its interval reaches no higher than the share's upper end above the null: never wholly above 0
        assert measured.intervals[f"{category}_margin_over_shuffled_labels"].low < 0
        # k of 20 top types: an exact interval on the share, wholly below 0.5 or straddling it
        interval = measured.intervals[f"{category}_best_share"]
        assert interval.method == "clopper-pearson" and interval.n_units == 20 and interval.low < 0.5
        assert record["expected_neuron"]["rank"] > 5
        example = record["top_tokens"][0]
        assert set(example) == {"token", "word", "context", "activation", "in_category"}
        assert f"[{example['word']}]" in example["context"]
    assert measured.evidence["conditions"] == ["padding"]
    assert measured.evidence["module"] == "decoder.blocks.0.mlp.1"
    assert measured.evidence["random_directions"]["n_directions"] == 1536  # as many as the layer's neurons


def plant_neurons(tiny, registry, tables) -> LoadedModel:
    """random:tiny with each category's tokens (of every table in ``tables``) sharing one direction in the token
    embedding, read by neurons 10, 12 and 14 and by no other neuron (the directions are projected out of the
    other neurons' weights), so that single neurons, not the layer's neuron space as a whole, carry the
    categories."""
    model = copy.deepcopy(tiny.model)
    g = torch.Generator().manual_seed(0)
    planted = registry["dec-neuron-semantic"].params["expected_neurons"]
    with torch.no_grad():
        embedding = model.decoder.token_embedding.weight
        first = model.decoder.blocks[0].mlp[0]
        directions = []
        for category, neuron in planted.items():
            direction = torch.randn(model.dims.n_text_state, generator=g)
            direction = (direction - direction.mean()) / (direction - direction.mean()).norm()
            tokens = np.unique(np.concatenate([table.tokens[table.labels[category]] for table in tables]))
            embedding[torch.as_tensor(tokens)] += 0.3 * direction
            directions.append(direction)
        basis, _ = torch.linalg.qr(torch.stack(directions, dim=1))  # [n_text_state, 3], orthonormal
        first.weight -= (first.weight @ basis) @ basis.T
        for direction, neuron in zip(directions, planted.values()):
            first.weight[neuron] = 5.0 * direction
            first.bias[neuron] = 0.0
    return LoadedModel(model, tiny.info)


@pytest.fixture(scope="module")
def planted_neurons(tiny, registry, corpus):
    """The written corpus' category tokens planted (`plant_neurons`)."""
    return plant_neurons(tiny, registry, [tokenize(tokenizer_for(tiny.model), corpus.sentences, corpus.categories)])


def test_neuron_claim_holds_for_planted_neurons(planted_neurons, registry):
    measured, verdict = measure(planted_neurons, registry["dec-neuron-semantic"])
    assert verdict.status == "holds", verdict.describe()
    assert [measured.metrics[m] for m in NEURON_RANKS] == [1, 1, 1]
    for category, neuron in (("food", 10), ("numbers", 12), ("motion", 14)):
        record = measured.evidence[category]["padding"]
        assert record["best_neuron"] == neuron and record["share"] >= 0.8
        assert record["enrichment"] > 5
        assert record["shuffled_labels"]["quantile_95"] < 0.5  # the labels, not the neuron, carry the result
        assert record["shuffled_labels"]["p_value"] == 1 / 101
        assert measured.metrics[f"{category}_margin_over_shuffled_labels"] > 0.3
        # the planted direction is read by one neuron: a random direction of the layer catches little of it
        assert measured.metrics[f"{category}_margin_over_random_directions"] > 0.3
        assert measured.intervals[f"{category}_best_share"].low > 0.5
        # each margin's interval is the share's, less its null: wholly above 0, so the margins hold
        share = measured.intervals[f"{category}_best_share"]
        for null, reference in (("shuffled_labels", record["shuffled_labels"]["quantile_95"]),
                                ("random_directions", record["random_directions_best_share"])):
            margin = measured.intervals[f"{category}_margin_over_{null}"]
            assert (margin.low, margin.high) == pytest.approx((share.low - reference, share.high - reference))
            assert margin.low > 0 and margin.method == "clopper-pearson, less a fixed null"


def fake_speech(text: str) -> np.ndarray:
    """A deterministic 0.3 s, 16 kHz 'recording' of ``text``: a tone whose pitch depends on the text."""
    pitch = 200 + 10 * (sum(map(ord, text)) % 64)
    return (0.1 * np.sin(2 * np.pi * pitch * np.arange(4800) / 16000)).astype(np.float32)


SMALL_CORPUS = """
source = "a test corpus"
[categories.food]
source = "test"
words = ["steak", "cheese", "rice"]
[categories.numbers]
source = "test"
words = ["8th", "15", "two"]
[categories.motion]
source = "test"
words = ["throw", "knocked", "shaking"]
[corpus]
repeats = 1
frames = ["She said {word} again.", "I heard {word} twice."]
[corpus.fillers]
noun = ["house", "car", "book", "phone", "river", "music"]
"""


def test_speech_audio_is_a_second_condition(registry, tmp_path):
    corpus = tmp_path / "small.toml"
    corpus.write_text(SMALL_CORPUS, encoding="utf-8")
    model = random_model("tiny", seed=2, dims=SMALL)  # small: one encoder pass per sentence
    heard = []

    def speech(text):
        heard.append(text)
        return fake_speech(text)

    params = {**registry["dec-neuron-semantic"].params, "corpus": str(corpus), "top": 5, "shuffles": 5,
              "random_directions": 16}
    measured = dec_neuron_semantic(model, **params, speech=speech)
    assert heard == list(load_corpus(corpus).sentences) and len(heard) == 15
    assert measured.evidence["conditions"] == ["padding", "speech"]
    assert measured.evidence["corpus"]["name"] == "small.toml"
    for category in ("food", "numbers", "motion"):
        shares = [measured.evidence[category][c]["share"] for c in ("padding", "speech")]
        assert measured.metrics[f"{category}_best_share"] == min(shares)
        for null in ("shuffled_labels", "random_directions"):  # each margin the lower over the conditions
            margins = [measured.evidence[category][c]["share"] - (
                measured.evidence[category][c]["shuffled_labels"]["quantile_95"] if null == "shuffled_labels"
                else measured.evidence[category][c]["random_directions_best_share"]) for c in ("padding", "speech")]
            assert measured.metrics[f"{category}_margin_over_{null}"] == pytest.approx(min(margins), abs=1e-4)
    ranks = [measured.evidence["food"][c]["expected_neuron"]["rank"] for c in ("padding", "speech")]
    assert measured.metrics["neuron10_food_rank"] == max(ranks)
    # the speech condition decodes against each sentence's own encoder output, not padding
    padding_top = measured.evidence["food"]["padding"]["expected_neuron"]["top_tokens"]
    speech_top = measured.evidence["food"]["speech"]["expected_neuron"]["top_tokens"]
    assert [t["activation"] for t in padding_top] != [t["activation"] for t in speech_top]
    # without speech: the padding condition alone, with the same numbers
    alone = dec_neuron_semantic(model, **params)
    assert alone.evidence["conditions"] == ["padding"]
    assert alone.evidence["food"]["padding"] == measured.evidence["food"]["padding"]


# -- dec-neuron-semantic-real: the written corpus' neurons held out on real speech --------------------------

# TIMIT speakers and praatIO's recordings that between them say 10 food words, 3 numbers and 3 motion verbs
REAL_FOLDERS = ["speech/timit_nltk_sample/dr2-marc0", "speech/timit_nltk_sample/dr5-mbgt0", "speech/praatio",
                "speech/timit_nltk_sample/dr6-mbma1", "speech/timit_nltk_sample/dr3-madc0",
                "speech/timit_nltk_sample/dr5-ftlg0", "speech/timit_nltk_sample/dr6-fapb0"]
REAL_METRICS = tuple(f"{c}_{m}" for c in ("food", "numbers", "motion")
                     for m in ("auroc_real", "margin_over_random_direction_real"))


def test_placements_average_to_the_auroc():
    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=300), 1)  # rounded: ties
    labels = rng.random(300) < 0.1
    placed = placements(scores, labels)
    ranks = rankdata(scores)
    n_in, n_out = labels.sum(), (~labels).sum()
    assert placed.mean() == pytest.approx((ranks[labels].sum() - n_in * (n_in + 1) / 2) / (n_in * n_out))
    assert placements(np.array([3.0, 1.0, 2.0, 2.0]), np.array([True, False, True, False])).tolist() == [1.0, 0.75]
    with pytest.raises(ValueError, match="items of both kinds"):
        placements(np.ones(3), np.ones(3, dtype=bool))


def test_written_form_is_a_sentence_as_whisper_writes_one():
    assert written_form("BOBBY RIPPED THE LEDGER") == "Bobby ripped the ledger."
    assert written_form("printing in the  only sense") == "Printing in the only sense."
    assert written_form("She had your dark suit in greasy wash water all year.") == \
        "She had your dark suit in greasy wash water all year."


def reference_transcripts(monkeypatch, folders):
    """The claim's 'model transcripts' replaced by the recordings' references, in order: a model with random or
    planted weights cannot transcribe real speech, and the neurons are what is tested."""
    recordings, _ = transcribed_recordings(tuple(folders))
    texts = iter([written_form(r.text) for r in recordings])
    monkeypatch.setattr(decoder_claims, "transcribe_batch",
                        lambda model, features, batch_size: [next(texts) for _ in range(len(features))])


def test_real_neuron_claim_holds_for_planted_neurons(tiny, registry, corpus, monkeypatch):
    # planted on the category tokens of the real transcripts too ('Brush', capitalised, is not a token of the
    # written corpus), and block 0's cross-attention silenced: a random encoder's output of real speech, unlike
    # padding's, differs between recordings and would drown the planted direction (norm 0.3)
    tokenizer = tokenizer_for(tiny.model)
    recordings, _ = transcribed_recordings(tuple(REAL_FOLDERS))
    tables = [tokenize(tokenizer, texts, corpus.categories)
              for texts in (corpus.sentences, [written_form(r.text) for r in recordings])]
    planted = plant_neurons(tiny, registry, tables)
    with torch.no_grad():
        planted.model.decoder.blocks[0].cross_attn.out.weight.zero_()
        planted.model.decoder.blocks[0].cross_attn.out.bias.zero_()
    reference_transcripts(monkeypatch, REAL_FOLDERS)
    measured, verdict = measure(planted, registry["dec-neuron-semantic-real"], folders=REAL_FOLDERS)
    assert verdict.status == "holds", verdict.describe()
    judged = measured.evidence["conditions"]["model transcripts"]
    for category, neuron in (("food", 10), ("numbers", 12), ("motion", 14)):
        record = judged[category]
        assert record["neuron"] == neuron and len(record["words"]) >= 3
        # the planted tokens are the written corpus' lower-case ones: ' Brush' is not one of them
        assert measured.metrics[f"{category}_auroc_real"] > 0.8
        assert measured.intervals[f"{category}_auroc_real"].low > 0.5
        assert measured.intervals[f"{category}_auroc_real"].n_units == len(record["words"])
        # the best random direction on the written corpus catches some of the planted direction, not all
        assert measured.intervals[f"{category}_margin_over_random_direction_real"].low > 0
    assert judged["food"]["top_tokens"][0]["in_category"]
    assert measured.evidence["real_speech"]["recordings"] == 62


def test_real_neuron_claim_does_not_hold_on_random_weights(tiny, registry, monkeypatch):
    reference_transcripts(monkeypatch, REAL_FOLDERS)
    measured, verdict = measure(tiny, registry["dec-neuron-semantic-real"], folders=REAL_FOLDERS)
    assert verdict.status != "holds", verdict.describe()
    assert set(REAL_METRICS) <= set(measured.metrics)
    # chance is 0.5: no category's interval lies wholly above it, and the margins straddle 0 or fall below
    assert sum(measured.intervals[f"{c}_auroc_real"].low > 0.5 for c in ("food", "numbers", "motion")) <= 1


def test_a_category_without_enough_words_cannot_decide(tiny, registry, monkeypatch):
    folders = ["speech/timit_nltk_sample/dr6-mbma1", "speech/timit_nltk_sample/dr3-madc0"]  # no motion verb
    reference_transcripts(monkeypatch, folders)
    measured, verdict = measure(tiny, registry["dec-neuron-semantic-real"], folders=folders)
    assert math.isnan(measured.metrics["motion_auroc_real"])
    interval = measured.intervals["motion_auroc_real"]
    assert (interval.low, interval.high, interval.n_units) == (0.0, 1.0, 0)
    assert measured.evidence["conditions"]["model transcripts"]["motion"]["no_verdict"].startswith("0 distinct")
    assert verdict.metric("motion_auroc_real").outcome is None  # undecided, never a failure of the claim
    assert verdict.status in ("inconclusive", "fails")
    if verdict.status == "fails":  # only another metric, measured, can fail it
        assert "motion" not in verdict.reason
    with pytest.raises(ValueError, match="min_category_words = 1"):
        measure(tiny, registry["dec-neuron-semantic-real"], folders=folders, min_category_words=1)


def test_unknown_expected_category_or_neuron_is_an_error(tiny, registry):
    with pytest.raises(ValueError, match=r"unknown categories \['fruit'\]"):
        measure(tiny, registry["dec-neuron-semantic"], expected_neurons={"fruit": 3})
    with pytest.raises(ValueError, match=r"\{'food': 1536\}: decoder.blocks.0.mlp.1 has neurons 0 to 1535"):
        measure(tiny, registry["dec-neuron-semantic"], expected_neurons={"food": 1536})
    with pytest.raises(ValueError, match=r"shuffles = 0: the label-shuffle null needs at least 1"):
        measure(tiny, registry["dec-neuron-semantic"], shuffles=0)


# -- figures ---------------------------------------------------------------------------------------------------


@pytest.mark.skipif(not matplotlib_available(), reason="matplotlib (the 'report' extra) is not installed")
def test_bigram_and_embedding_figures_are_drawn(tiny, registry, tmp_path):
    bigram, _ = measure(tiny, registry["dec-bigram"])
    embed, _ = measure(tiny, registry["dec-embed-sound"])
    assert list(embed.artifacts["embedding_neighbours"]) == [" rug", " UK", " duck", " tea"]
    figures = draw_figures("dec-bigram", "random:tiny", bigram.artifacts, tmp_path)
    figures += draw_figures("dec-embed-sound", "random:tiny", embed.artifacts, tmp_path)
    assert [f["path"].rsplit("--", 1)[1] for f in figures] == ["top_logits.png", "embedding_neighbours.png"]
    for figure in figures:
        assert (tmp_path / figure["path"]).read_bytes().startswith(b"\x89PNG")
        assert figure["caption"]
