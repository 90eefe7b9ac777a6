"""The post's section 3, "The decoder alone acts as a weak LM", as executable claims."""
import pytest

from whisper_claims.decoder_claims import dec_bigram, dec_bigram_general, dec_embed_sound, dec_neuron_semantic


@pytest.mark.decoder
@pytest.mark.claim("dec-embed-sound")
def test_token_embeddings_cluster_by_sound(whisper_model, check_claim):
    """Nearest tokens to ' rug' are lug, mug, rut, tug: embeddings cluster by sound, and rhymes are close."""
    check_claim(dec_embed_sound, whisper_model)


@pytest.mark.decoder
@pytest.mark.claim("dec-bigram")
def test_decoder_falls_back_on_bigrams(whisper_model, check_claim):
    """On padding audio, ' very' is followed by much, well, good; ' Good' by bye, luck, morning."""
    check_claim(dec_bigram, whisper_model)


@pytest.mark.decoder
@pytest.mark.claim("dec-bigram-general")
def test_decoder_continues_fixed_expressions(whisper_model, check_claim):
    """On padding audio, ' United' is followed by States and ' thank' by you, and not after other prompts."""
    check_claim(dec_bigram_general, whisper_model)


@pytest.mark.decoder
@pytest.mark.claim("dec-neuron-semantic")
def test_first_layer_decoder_neurons_are_semantic(whisper_model, check_claim):
    """Some neurons of decoder.blocks.0.mlp.1 fire mostly on food, numbers or verbs of moving things."""
    check_claim(dec_neuron_semantic, whisper_model)
