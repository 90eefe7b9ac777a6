"""The post's section 2, "Encoder MLP neurons and features are phonetic", on a corpus of synthesized
sentences whose every 20 ms frame carries its phoneme (espeak-ng; see whisper_claims.stimuli.corpus), and on
real speech, the post's input: 2 s clips of aligned recordings (whisper_claims.stimuli.speech_corpus)."""
import pytest


@pytest.mark.claim("enc-neuron-phoneme")
def test_the_majority_of_neurons_activate_on_a_specific_phonetic_sound(whisper_model, claim):
    """Maximally activating examples of most blocks.2.mlp.1 neurons share one phoneme."""
    claim.check(whisper_model)


@pytest.mark.claim("enc-neuron-phoneme-real")
def test_on_real_speech_the_majority_of_neurons_activate_on_a_specific_phonetic_sound(whisper_model, claim):
    """Mined on real 2 s clips, as the post did: most blocks.2.mlp.1 neurons' top clips share one phoneme."""
    claim.check(whisper_model)


@pytest.mark.claim("enc-neuron-table")
def test_the_posts_neuron_table_replicates(whisper_model, claim):
    """Neuron 0 is 'm', 1 'j/ch/sh', 3 'c/q', …, and each responds to the post's own clips."""
    claim.check(whisper_model)


@pytest.mark.claim("enc-polysemantic")
def test_neurons_respond_to_different_sounds_at_different_activations(whisper_model, claim):
    """Neuron 3 is 'c' at the top of its range and 'g' only below."""
    claim.check(whisper_model)


@pytest.mark.claim("enc-polysemantic-real")
def test_on_real_speech_neurons_respond_to_different_sounds_at_different_activations(whisper_model, claim):
    """On real 2 s clips, some neurons sound like one phoneme at the top of their range and another below."""
    claim.check(whisper_model)


@pytest.mark.claim("enc-sae-phoneme")
def test_sae_features_of_the_residual_stream_are_phonemes(whisper_model, claim):
    """A dictionary learnt on encoder.blocks.3 has features for 'ch', 'w', …; the raw dimensions do not."""
    claim.check(whisper_model)
