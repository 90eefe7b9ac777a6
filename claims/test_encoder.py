"""The post's section 1, "The encoder learns local features", as executable claims on the Hot Ones clip."""
import pytest

from whisper_claims.encoder_claims import (enc_chop, enc_chop_words, enc_end_sink, enc_end_sink_general,
                                           enc_relevance_local, enc_relevance_local_general, enc_window,
                                           enc_window_general)

# The clip is the claim's `clip` parameter (claims/thresholds.toml): the post's Hot_ones.wav, 6.0 s,
# "hot ones. The show where celebrities answer hot questions…"; micro's own held-out clips for micro.
pytestmark = pytest.mark.encoder


@pytest.mark.claim("enc-relevance-local")
def test_attention_relevance_is_local(whisper_model, check_claim):
    """Up to the point where the audio ends, the attention pattern is highly localized."""
    check_claim(enc_relevance_local, whisper_model)


@pytest.mark.claim("enc-end-sink")
def test_after_speech_frames_attend_to_its_end(whisper_model, check_claim):
    """When the speech ends, all future positions attend back to the end of the speech."""
    check_claim(enc_end_sink, whisper_model)


@pytest.mark.claim("enc-end-sink-every-row")
def test_every_after_speech_frame_peaks_at_its_end(whisper_model, check_claim):
    """When the speech ends, all future positions attend back to the end of the speech."""
    check_claim(enc_end_sink, whisper_model)


@pytest.mark.claim("enc-window-k75")
def test_a_75_frame_window_still_transcribes(whisper_model, check_claim):
    """Even when k is reduced to 75, the model continues to generate reasonably precise transcripts."""
    check_claim(enc_window, whisper_model)


@pytest.mark.claim("enc-window-narrow")
def test_transcripts_degrade_as_the_window_shrinks_to_nothing(whisper_model, check_claim):
    """k = 100, 75, 50 transcribe less and less; k = 20: "I'm joined today."; k = 10: ""."""
    check_claim(enc_window, whisper_model)


@pytest.mark.claim("enc-chop-start")
def test_chopping_the_first_second_removes_hot_ones(whisper_model, check_claim):
    """Substituting the initial 50 audio embeddings with padded equivalents omits the first two words."""
    check_claim(enc_chop, whisper_model)


@pytest.mark.claim("enc-chop-start-keeps")
def test_chopping_the_first_second_keeps_the_other_words(whisper_model, check_claim):
    """'The show where celebrities answer hot questions while feeding even hotter wings.'"""
    check_claim(enc_chop, whisper_model)


@pytest.mark.claim("enc-chop-start-adds-none")
def test_chopping_the_first_second_puts_nothing_in_their_place(whisper_model, check_claim):
    """We can precisely remove words from a transcript by removing their corresponding embeddings."""
    check_claim(enc_chop, whisper_model)


@pytest.mark.claim("enc-chop-mid")
def test_chopping_frames_150_to_175_removes_hot_questions(whisper_model, check_claim):
    """Chopping 3–3.5 s omits the words 'hot questions'."""
    check_claim(enc_chop, whisper_model)


@pytest.mark.claim("enc-chop-mid-keeps")
def test_chopping_frames_150_to_175_keeps_the_other_words(whisper_model, check_claim):
    """'hot ones. The show where celebrities while feeding even hotter wings.'"""
    check_claim(enc_chop, whisper_model)


@pytest.mark.claim("enc-chop-mid-adds-none")
def test_chopping_frames_150_to_175_puts_nothing_in_their_place(whisper_model, check_claim):
    """We can precisely remove words from a transcript by removing their corresponding embeddings."""
    check_claim(enc_chop, whisper_model)


@pytest.mark.slow
@pytest.mark.claim("enc-chop-word")
def test_chopping_a_words_frames_removes_that_word(whisper_model, check_claim):
    """We can precisely remove words from a transcript by removing their corresponding embeddings."""
    check_claim(enc_chop_words, whisper_model)


@pytest.mark.slow
@pytest.mark.claim("enc-chop-word-keeps")
def test_chopping_a_words_frames_keeps_the_other_words(whisper_model, check_claim):
    """… every word but the removed one stays (the post's chops lost at most one other)."""
    check_claim(enc_chop_words, whisper_model)


@pytest.mark.slow
@pytest.mark.claim("enc-chop-word-adds-none")
def test_chopping_a_words_frames_puts_nothing_in_its_place(whisper_model, check_claim):
    """… and nothing is put in the removed word's place."""
    check_claim(enc_chop_words, whisper_model)


# -- the same statements over a clip set: the manifest's real recordings and held-out espeak-ng sentences
# (slow: 19 clips, a minute or more each on base; they share each clip's encode and relevance)


@pytest.mark.slow
@pytest.mark.claim("enc-relevance-local-general")
def test_attention_relevance_is_local_on_every_kind_of_clip(whisper_model, check_claim):
    """Up to the point where the audio ends, the attention pattern is highly localized."""
    check_claim(enc_relevance_local_general, whisper_model)


@pytest.mark.slow
@pytest.mark.claim("enc-end-sink-general")
def test_after_speech_frames_attend_to_its_end_on_every_kind_of_clip(whisper_model, check_claim):
    """When the speech ends, all future positions attend back to the end of the speech."""
    check_claim(enc_end_sink_general, whisper_model)


@pytest.mark.slow
@pytest.mark.claim("enc-end-sink-every-row-general")
def test_every_after_speech_frame_peaks_at_its_end_on_every_kind_of_clip(whisper_model, check_claim):
    """When the speech ends, all future positions attend back to the end of the speech."""
    check_claim(enc_end_sink_general, whisper_model)


@pytest.mark.slow
@pytest.mark.claim("enc-window-k75-general")
def test_a_75_frame_window_still_transcribes_every_kind_of_clip(whisper_model, check_claim):
    """Even when k is reduced to 75, the model continues to generate reasonably precise transcripts."""
    check_claim(enc_window_general, whisper_model)


@pytest.mark.slow
@pytest.mark.claim("enc-window-narrow-general")
def test_transcripts_of_every_kind_of_clip_degrade_as_the_window_shrinks(whisper_model, check_claim):
    """k = 100, 75, 50 transcribe less and less; k = 20: "I'm joined today."; k = 10: ""."""
    check_claim(enc_window_general, whisper_model)
