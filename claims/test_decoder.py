"""The post's section 3, "The decoder alone acts as a weak LM", as executable claims; and section 1's reading
of its chops, that the decoder attends to each word's own frames (dec-cross-attention-window)."""
import pytest


@pytest.mark.claim("dec-embed-sound")
def test_token_embeddings_cluster_by_sound(whisper_model, claim):
    """Nearest tokens to ' rug' are lug, mug, rut, tug: embeddings cluster by sound, and rhymes are close."""
    claim.check(whisper_model)


@pytest.mark.claim("dec-embed-semantic")
def test_close_tokens_are_also_semantically_similar(whisper_model, claim):
    """Often tokens that are close in embedding space are semantically similar words: synonyms and members of
    one category (lion/tiger, cheese/milk) are closer than the same words paired at random."""
    claim.check(whisper_model)


@pytest.mark.claim("dec-bigram")
def test_decoder_falls_back_on_bigrams(whisper_model, claim):
    """On padding audio, ' very' is followed by much, well, good; ' Good' by bye, luck, morning."""
    claim.check(whisper_model)


@pytest.mark.claim("dec-bigram-general")
def test_decoder_continues_fixed_expressions(whisper_model, claim):
    """On padding audio, ' United' is followed by States and ' thank' by you, and not after other prompts."""
    claim.check(whisper_model)


@pytest.mark.claim("dec-neuron-semantic")
def test_first_layer_decoder_neurons_are_semantic(whisper_model, claim):
    """Some neurons of decoder.blocks.0.mlp.1 fire mostly on food, numbers or verbs of moving things."""
    claim.check(whisper_model)


@pytest.mark.claim("dec-neuron-semantic-real")
def test_first_layer_decoder_neurons_are_semantic_on_real_speech(whisper_model, claim):
    """The post mined decoder.blocks.0.mlp.1 on real clips: "even in the first layer of the decoder they often
    activate on semantically similar concepts … the model is already operating on the word level by the first
    MLP layer". The food, numbers and motion neurons of the written sentences prefer their category's words on
    real recordings, teacher-forced with their own audio."""
    claim.check(whisper_model)


@pytest.mark.claim("dec-cross-attention-window")
def test_each_word_attends_to_a_small_window_of_audio(whisper_model, claim):
    """The post: "for each word in the transcript, the decoder is cross-attending to a small window of audio
    embeddings and using a limited amount of context from the rest of the audio embeddings". Most of a word's
    cross-attention falls within its aligned frames ± 0.2 s, more than attention spread evenly over the speech
    would put there."""
    claim.check(whisper_model)
