"""Which function measures each claim of the registry (``claims/thresholds.toml``), by claim id.

The plugin checks each claim's ``params`` against its function's keyword arguments when pytest starts,
so that a typo in the thresholds file is a usage error naming the entry, not a TypeError mid-run.
"""
from __future__ import annotations

from typing import Callable

from .decoder_claims import dec_bigram, dec_bigram_general, dec_embed_sound, dec_neuron_semantic
from .encoder_claims import (enc_chop, enc_chop_words, enc_end_sink, enc_end_sink_general, enc_relevance_local,
                             enc_relevance_local_general, enc_window, enc_window_general)
from .phonetic_claims import enc_neuron_phoneme, enc_neuron_table, enc_polysemantic, enc_sae_phoneme

CLAIM_FUNCTIONS: dict[str, Callable] = {
    "dec-embed-sound": dec_embed_sound,
    "dec-bigram": dec_bigram,
    "dec-bigram-general": dec_bigram_general,
    "dec-neuron-semantic": dec_neuron_semantic,
    "enc-relevance-local": enc_relevance_local,
    "enc-end-sink": enc_end_sink,
    "enc-end-sink-every-row": enc_end_sink,
    "enc-window-k75": enc_window,
    "enc-window-narrow": enc_window,
    "enc-chop-start": enc_chop,
    "enc-chop-start-keeps": enc_chop,
    "enc-chop-start-adds-none": enc_chop,
    "enc-chop-mid": enc_chop,
    "enc-chop-mid-keeps": enc_chop,
    "enc-chop-mid-adds-none": enc_chop,
    "enc-relevance-local-general": enc_relevance_local_general,
    "enc-end-sink-general": enc_end_sink_general,
    "enc-end-sink-every-row-general": enc_end_sink_general,
    "enc-window-k75-general": enc_window_general,
    "enc-window-narrow-general": enc_window_general,
    "enc-chop-word": enc_chop_words,
    "enc-chop-word-keeps": enc_chop_words,
    "enc-chop-word-adds-none": enc_chop_words,
    "enc-neuron-phoneme": enc_neuron_phoneme,
    "enc-neuron-table": enc_neuron_table,
    "enc-polysemantic": enc_polysemantic,
    "enc-sae-phoneme": enc_sae_phoneme,
}
