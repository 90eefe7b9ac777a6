"""The post's section 1, "The encoder learns local features", as executable claims on the Hot Ones clip."""
import pytest

# The clip is the claim's `clip` parameter (claims/thresholds.toml): the post's Hot_ones.wav, 6.0 s,
# "hot ones. The show where celebrities answer hot questions…"; micro's own held-out clips for micro.


@pytest.mark.claim("enc-relevance-local")
def test_attention_relevance_is_local(whisper_model, claim):
    """Up to the point where the audio ends, the attention pattern is highly localized."""
    claim.check(whisper_model)


@pytest.mark.claim("enc-end-sink")
def test_after_speech_frames_attend_to_its_end(whisper_model, claim):
    """When the speech ends, all future positions attend back to the end of the speech."""
    claim.check(whisper_model)


@pytest.mark.claim("enc-end-sink-every-row")
def test_every_after_speech_frame_peaks_at_its_end(whisper_model, claim):
    """When the speech ends, all future positions attend back to the end of the speech."""
    claim.check(whisper_model)


@pytest.mark.claim("enc-window-k75")
def test_a_75_frame_window_still_transcribes(whisper_model, claim):
    """Even when k is reduced to 75, the model continues to generate reasonably precise transcripts."""
    claim.check(whisper_model)


@pytest.mark.claim("enc-window-narrow")
def test_transcripts_degrade_as_the_window_shrinks_to_nothing(whisper_model, claim):
    """k = 100, 75, 50 transcribe less and less; k = 20: "I'm joined today."; k = 10: ""."""
    claim.check(whisper_model)


@pytest.mark.claim("enc-chop-start")
def test_chopping_the_first_second_removes_hot_ones(whisper_model, claim):
    """Substituting the initial 50 audio embeddings with padded equivalents omits the first two words."""
    claim.check(whisper_model)


@pytest.mark.claim("enc-chop-start-keeps")
def test_chopping_the_first_second_keeps_the_other_words(whisper_model, claim):
    """'The show where celebrities answer hot questions while feeding even hotter wings.'"""
    claim.check(whisper_model)


@pytest.mark.claim("enc-chop-start-adds-none")
def test_chopping_the_first_second_puts_nothing_in_their_place(whisper_model, claim):
    """We can precisely remove words from a transcript by removing their corresponding embeddings."""
    claim.check(whisper_model)


@pytest.mark.claim("enc-chop-mid")
def test_chopping_frames_150_to_175_removes_hot_questions(whisper_model, claim):
    """Chopping 3–3.5 s omits the words 'hot questions'."""
    claim.check(whisper_model)


@pytest.mark.claim("enc-chop-mid-keeps")
def test_chopping_frames_150_to_175_keeps_the_other_words(whisper_model, claim):
    """'hot ones. The show where celebrities while feeding even hotter wings.'"""
    claim.check(whisper_model)


@pytest.mark.claim("enc-chop-mid-adds-none")
def test_chopping_frames_150_to_175_puts_nothing_in_their_place(whisper_model, claim):
    """We can precisely remove words from a transcript by removing their corresponding embeddings."""
    claim.check(whisper_model)


@pytest.mark.claim("enc-chop-word")
def test_chopping_a_words_frames_removes_that_word(whisper_model, claim):
    """We can precisely remove words from a transcript by removing their corresponding embeddings."""
    claim.check(whisper_model)


@pytest.mark.claim("enc-chop-word-keeps")
def test_chopping_a_words_frames_keeps_the_other_words(whisper_model, claim):
    """… every word but the removed one stays (the post's chops lost at most one other)."""
    claim.check(whisper_model)


@pytest.mark.claim("enc-chop-word-adds-none")
def test_chopping_a_words_frames_puts_nothing_in_its_place(whisper_model, claim):
    """… and nothing is put in the removed word's place."""
    claim.check(whisper_model)


# -- the same statements over a clip set: the manifest's real recordings and held-out espeak-ng sentences
# (slow: 19 clips, a minute or more each on base; they share each clip's encode and relevance)


@pytest.mark.claim("enc-relevance-local-general")
def test_attention_relevance_is_local_on_every_kind_of_clip(whisper_model, claim):
    """Up to the point where the audio ends, the attention pattern is highly localized."""
    claim.check(whisper_model)


@pytest.mark.claim("enc-end-sink-general")
def test_after_speech_frames_attend_to_its_end_on_every_kind_of_clip(whisper_model, claim):
    """When the speech ends, all future positions attend back to the end of the speech."""
    claim.check(whisper_model)


@pytest.mark.claim("enc-end-sink-every-row-general")
def test_every_after_speech_frame_peaks_at_its_end_on_every_kind_of_clip(whisper_model, claim):
    """When the speech ends, all future positions attend back to the end of the speech."""
    claim.check(whisper_model)


@pytest.mark.claim("enc-window-k75-general")
def test_a_75_frame_window_still_transcribes_every_kind_of_clip(whisper_model, claim):
    """Even when k is reduced to 75, the model continues to generate reasonably precise transcripts."""
    claim.check(whisper_model)


@pytest.mark.claim("enc-window-narrow-general")
def test_transcripts_of_every_kind_of_clip_degrade_as_the_window_shrinks(whisper_model, claim):
    """k = 100, 75, 50 transcribe less and less; k = 20: "I'm joined today."; k = 10: ""."""
    claim.check(whisper_model)
