"""The post's section 3, "The decoder alone acts as a weak LM", as executable claims."""
import pytest

from whisper_claims.decoder_claims import dec_embed_sound


@pytest.mark.decoder
@pytest.mark.claim("dec-embed-sound")
def test_token_embeddings_cluster_by_sound(whisper_model, check_claim):
    """Nearest tokens to ' rug' are lug, mug, rut, tug: embeddings cluster by sound, and rhymes are close."""
    check_claim(dec_embed_sound, whisper_model)
