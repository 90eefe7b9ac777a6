"""The transcript corpus of dec-neuron-semantic: every word of the categories and of a filler list said in
the same neutral frames, and the token positions of each sentence labelled with the categories of their words.

The data (frames, category words, fillers and their sources) is ``data/decoder_corpus.toml``.
"""
from __future__ import annotations

import hashlib
import string
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from whisper.tokenizer import Tokenizer

from ..files import PACKAGE_DATA

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_CORPUS = "decoder_corpus.toml"
SLOT = "{word}"


@dataclass(frozen=True)
class Corpus:
    """Sentences and the word categories they are labelled with."""

    sentences: tuple[str, ...]
    categories: dict[str, frozenset[str]]  # category -> normalized words
    words: tuple[str, ...]  # the pool: every category word and filler, once each, in file order
    frames: tuple[str, ...]  # the sentences every word is said in, with a {word} slot
    repeats: int  # how many frames each word is said in
    sources: dict[str, str]  # "corpus" and each category -> where its words come from
    sha256: str  # of the data file the corpus was expanded from
    name: str  # the data file's name


@dataclass(frozen=True)
class TokenTable:
    """The text tokens of a corpus under teacher forcing, one row per token position.

    ``prefix`` is the special-token prefix every sentence is decoded after; it is not in the table.
    """

    prefix: tuple[int, ...]
    sentence_tokens: tuple[tuple[int, ...], ...]  # text tokens of each sentence, in order
    tokens: np.ndarray  # [n] token id
    sentence: np.ndarray  # [n] index of the sentence
    word: np.ndarray  # [n] index of the word within its sentence (split on spaces)
    labels: dict[str, np.ndarray]  # category -> bool [n]: the token's word is in the category

    def __len__(self) -> int:
        return len(self.tokens)


def normalize_word(word: str) -> str:
    """Lower-cased, leading and trailing punctuation stripped: ``"Rice."`` → ``"rice"``, ``"3,000."`` →
    ``"3,000"``."""
    return word.strip(string.punctuation + "“”‘’").lower()


def load_corpus(name: str | Path = DEFAULT_CORPUS) -> Corpus:
    """Expand a corpus data file (a name under ``whisper_claims/data/`` or a path) into sentences.

    Raises
    ------
    ValueError
        A frame without exactly one ``{word}`` slot, a frame word or filler that is in a category, or a
        word listed twice, naming the file.
    """
    path = Path(name) if Path(name).is_absolute() or Path(name).exists() else PACKAGE_DATA / name
    raw = path.read_bytes()
    data = tomllib.loads(raw.decode("utf-8"))
    corpus = data["corpus"]
    categories = {c: frozenset(normalize_word(w) for w in e["words"]) for c, e in data["categories"].items()}
    sources = {"corpus": data["source"], **{c: e["source"] for c, e in data["categories"].items()}}

    labelled = frozenset().union(*categories.values())
    fillers = [w for words in corpus["fillers"].values() for w in words]
    pool = [w for e in data["categories"].values() for w in e["words"]] + fillers
    twice = sorted({w for w in pool if pool.count(w) > 1})
    if twice:
        raise ValueError(f"{path}: words listed twice (in categories or fillers): {twice}")
    for frame in corpus["frames"]:
        if frame.count(SLOT) != 1:
            raise ValueError(f"{path}: frame {frame!r} needs exactly one {SLOT}")
    frame_words = {normalize_word(w) for frame in corpus["frames"] for w in frame.replace(SLOT, " ").split()}
    clash = sorted(frame_words & labelled)
    clash += sorted({normalize_word(w) for w in fillers} & labelled)
    if clash:
        raise ValueError(f"{path}: frame words or fillers are category words: {clash}")

    sentences = expand(corpus["frames"], pool, corpus["repeats"])
    return Corpus(sentences=tuple(sentences), categories=categories, words=tuple(pool),
                  frames=tuple(corpus["frames"]), repeats=corpus["repeats"], sources=sources,
                  sha256=hashlib.sha256(raw).hexdigest(), name=path.name)


def expand(frames: list[str], words: list[str], repeats: int) -> list[str]:
    """Every word in ``repeats`` frames, deterministically.

    Word ``i`` goes into frames ``(i + r * step) % len(frames)`` for ``r < repeats`` with
    ``step = len(frames) // repeats``, so words of one category spread over every frame and a word is
    not said twice in the same frame. Sentences are ordered by ``r``, then by word. A word that starts a
    sentence gets a capital first letter, as Whisper writes transcripts.
    """
    if not 1 <= repeats <= len(frames):
        raise ValueError(f"repeats={repeats}: expected 1 to {len(frames)} (the number of frames)")
    step = len(frames) // repeats
    sentences = []
    for r in range(repeats):
        for i, word in enumerate(words):
            frame = frames[(i + r * step) % len(frames)]
            first = frame.startswith(SLOT)
            sentences.append(frame.replace(SLOT, word[:1].upper() + word[1:] if first else word))
    return sentences


def tokenize(tokenizer: Tokenizer, sentences: list[str] | tuple[str, ...],
             categories: dict[str, frozenset[str]]) -> TokenTable:
    """Teacher-forcing tokens of each sentence (as Whisper writes it, with a leading space), labelled.

    Words are encoded one at a time (``" " + word``), which for Whisper's byte-level BPE gives the same
    tokens as encoding the whole sentence (its pre-tokenizer never joins across a space before a word)
    and tells which word each token belongs to. A token of a category word is labelled with the category
    unless it holds no letter or digit (the period of ``"dessert."``).
    """
    tokens, sentence, word, per_sentence = [], [], [], []
    labels: dict[str, list[bool]] = {c: [] for c in categories}
    for s, text in enumerate(sentences):
        ids = []
        for w, item in enumerate(text.split()):
            pieces = tokenizer.encode(" " + item)
            ids += pieces
            sentence += [s] * len(pieces)
            word += [w] * len(pieces)
            # a piece of punctuation ("dessert." -> " dessert", ".") is the sentence's, not the word's
            spelled = [any(ch.isalnum() for ch in tokenizer.decode([piece])) for piece in pieces]
            for category, words in categories.items():
                labels[category] += [normalize_word(item) in words and part for part in spelled]
        tokens += ids
        per_sentence.append(tuple(ids))
    return TokenTable(
        prefix=tuple(tokenizer.sot_sequence_including_notimestamps),
        sentence_tokens=tuple(per_sentence),
        tokens=np.asarray(tokens, dtype=np.int64),
        sentence=np.asarray(sentence, dtype=np.int64),
        word=np.asarray(word, dtype=np.int64),
        labels={c: np.asarray(v, dtype=bool) for c, v in labels.items()},
    )


def context(sentences: list[str] | tuple[str, ...], sentence: int, word: int, width: int = 3) -> str:
    """The words around ``word`` of a sentence, the word itself in brackets: ``"until the [8th] year"``."""
    words = sentences[sentence].split()
    lo, hi = max(0, word - width), min(len(words), word + width + 1)
    return " ".join(f"[{w}]" if i == word else w for i, w in enumerate(words[lo:hi], start=lo))
