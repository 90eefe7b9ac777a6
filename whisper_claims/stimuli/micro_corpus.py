"""What micro is trained on: its options and its sentences, voices and rates, drawn deterministically.

Apart from the training (`whisper_claims.micro.train`), so that the claims' held-out micro sentences
(`word_clips`) and the command line read them without importing the trainer.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..models.micro_checkpoint import card
from .corpus import load_words, make_sentence
from .decoder_corpus import load_corpus

# espeak-ng voices heard in training; the unseen family is only ever evaluated
TRAIN_VOICES = (
    "en-us", "en-us+f3", "en-us+m3", "en-us+f4", "en-us+klatt3", "en", "en+f2", "en-gb-x-rp+m7",
    "en+m1", "en-us+f1",
)
UNSEEN_VOICES = ("en-gb-scotland+f5", "en-029+m2")
# the post's bigrams (section 3), said often enough for a decoder to learn them
BIGRAMS = ("very good", "very much", "very well", "traffic jam", "traffic lights", "good morning",
           "good luck", "good bye", "good night")
CLOSINGS = ("Good morning.", "Good luck.", "Good bye.", "Good night.", "Very good.", "Thank you very much.")
SPLIT_SEEDS = {"train": 10_000, "heldout": 20_000, "unseen": 30_000}  # sentence seeds, apart from the
# phonetic claims' corpus (seed 0)


@dataclass(frozen=True)
class TrainOptions:
    """Everything `train` depends on; the same options and thread count give the same weights.

    Attributes
    ----------
    seed : int
        Seeds the corpus draws, the initial weights and the batch order.
    n_utterances : int
        Training utterances synthesized once and reused every epoch.
    steps, batch : int
        Optimiser steps and utterances per step.
    lr, warmup, final_lr : float, int, float
        Peak learning rate of AdamW, linear warm-up steps, cosine decay to ``final_lr * lr``.
    weight_decay, clip_norm : float
    ctc_weight : float
        Weight of the auxiliary CTC loss on the encoder output (training only; the head is dropped).
    threads : int
        torch threads; results are reproducible for the same number.
    n_heldout, n_unseen : int
        Evaluation sentences with training voices, and with `UNSEEN_VOICES`.
    """

    seed: int = 0
    n_utterances: int = 30_000
    steps: int = 3_000
    batch: int = 32
    lr: float = 1.5e-3
    warmup: int = 150
    final_lr: float = 0.05
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    ctc_weight: float = 0.5
    threads: int = 2
    n_heldout: int = 200
    n_unseen: int = 100
    voices: tuple[str, ...] = TRAIN_VOICES
    unseen_voices: tuple[str, ...] = UNSEEN_VOICES
    rates: tuple[int, ...] = (130, 145, 160, 175, 190, 205)
    max_lead_s: float = 3.0


CORPUS_OPTIONS = ("seed", "voices", "unseen_voices", "rates", "max_lead_s")


@dataclass(frozen=True)
class Utterance:
    text: str
    voice: str
    rate: int
    lead_s: float  # silence before the speech
    gain: float


def _rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([SPLIT_SEEDS[split], seed, index])


@lru_cache(maxsize=1)  # read once: micro_sentence is called for every utterance
def word_pool() -> tuple[str, ...]:
    words = load_words()
    corpus = load_corpus()
    pool = [w for ws in words.values() for w in ws]
    for name in sorted(corpus.categories):  # frozensets: sorted, so the pool is the same in every process
        pool += sorted(w for w in corpus.categories[name] if w.isalpha())
    return tuple(dict.fromkeys(pool))


def micro_sentence(seed: int, split: str, index: int, pool: tuple[str, ...] | None = None) -> str:
    """Sentence ``index`` of a split: half the phonetic corpus' templates, half lists of words and the
    post's bigrams; one in five ends with a short closing ("Good luck.") so that " Good" follows a stop."""
    pool = word_pool() if pool is None else pool
    rng = _rng(seed, split, index)
    if rng.random() < 0.5:
        sentence = make_sentence(SPLIT_SEEDS[split] + seed, index)
    else:
        items = [BIGRAMS[rng.integers(len(BIGRAMS))] if rng.random() < 0.25 else pool[rng.integers(len(pool))]
                 for _ in range(int(rng.integers(3, 9)))]
        text = " ".join(items)
        sentence = text[0].upper() + text[1:] + "."
    if rng.random() < 0.2:
        sentence += " " + CLOSINGS[rng.integers(len(CLOSINGS))]
    return sentence


def plan(options: TrainOptions, split: str, index: int, pool: tuple[str, ...] | None = None) -> Utterance:
    rng = _rng(options.seed, split, index + 1_000_000)
    voices = options.unseen_voices if split == "unseen" else options.voices
    return Utterance(
        text=micro_sentence(options.seed, split, index, pool),
        voice=voices[int(rng.integers(len(voices)))],
        rate=int(options.rates[int(rng.integers(len(options.rates)))]),
        lead_s=float(rng.uniform(0.0, options.max_lead_s)),
        gain=float(rng.uniform(0.4, 1.0)),
    )


def card_options(card_data: dict | None = None) -> TrainOptions:
    """The options micro was trained with, from its card."""
    data = (card() if card_data is None else card_data)["options"]
    return TrainOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
