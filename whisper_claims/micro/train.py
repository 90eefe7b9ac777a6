""""micro": a small Whisper trained here, from scratch, on espeak-ng speech: the suite's trained positive control.

No real checkpoint can exist on the machines this project runs on, so every claim could otherwise only be
shown to fail (random weights). ``whisper-claims micro train`` (or ``python -m whisper_claims.micro train``,
as the committed card records it) trains ``whisper.model.Whisper`` with `MICRO_DIMS` (10 s window, d 192,
4 encoder and 2 decoder layers, the multilingual tokenizer) on sentences spoken by the same espeak-ng
generator as the phonetic claims (`whisper_claims.stimuli.corpus`), deterministically given its seed and thread
count, in well under two hours on two CPU cores.

The training text has a closed vocabulary, so only those rows of the 51,865-token embedding are trained;
every other row is kept at zero. The committed file (``fixtures/micro/micro.pt``) stores the trained rows
only, in fp16; `expand_checkpoint` writes the full checkpoint in Whisper's own format into Whisper's
cache, from which ``whisper.load_model`` reads it (``open_model("micro")``).
"""
from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile
import torch
import torch.nn.functional as F
import whisper
from whisper.model import ModelDimensions, Whisper
from whisper.tokenizer import get_tokenizer

from ..files import atomic_path, sha256_file
from ..measure.inference import DECODING
from ..measure.text import normalize, wer
from ..models.dims import MICRO_DIMS
from ..models.formats import save_torch
from ..models.micro_checkpoint import CARD, CHECKPOINT, COMPACT_FORMAT, FIXTURE_DIR
from ..stimuli import espeak
from ..stimuli.audio import FRAME_S, SAMPLE_RATE, log_mel, window_samples
from ..stimuli.corpus import synthesize_clip
from ..stimuli.micro_corpus import CORPUS_OPTIONS, SPLIT_SEEDS, TrainOptions, Utterance, plan, word_pool


CTC_CHARS = " 'abcdefghijklmnopqrstuvwxyz"  # index + 1; 0 is the blank


@dataclass(frozen=True)
class MicroClip:
    """A held-out sentence for the encoder claims on micro, with its target words at a known time.

    Speech starts after ``lead_s`` of silence, or, with ``target_at_s``, where the target then starts
    at exactly that time. Only training words are used, but not as any training sentence says them, and
    no more of them than its training sentences have (up to about 12): micro garbles longer sentences.
    """

    name: str  # asset name under fixtures/
    text: str
    target: str  # consecutive words of the text, chopped by enc-chop
    voice: str = "en-us"
    rate: int = 160
    lead_s: float = 0.1
    target_at_s: float | None = None


MICRO_CLIPS = (
    MicroClip("micro/clips/chop-start.wav",
              "Golden cheese and fresh bread sold near the old station.",
              target="golden cheese"),
    MicroClip("micro/clips/chop-mid.wav",
              "The young driver waited near the old bridge while the traffic lights changed.",
              target="traffic lights", target_at_s=3.0),
)


# ----------------------------------------------------------------------------------------------
# corpus


def render(utterance: Utterance, dims: ModelDimensions = MICRO_DIMS) -> tuple[np.ndarray, torch.Tensor] | None:
    """The utterance's 16 kHz audio placed in the window and its log-mel (as inference computes it);
    None when it does not fit the window."""
    clip = synthesize_clip(utterance.text, utterance.voice, utterance.rate)
    window = window_samples(dims)
    lead = int(round(utterance.lead_s * SAMPLE_RATE))
    tail = int(0.2 * SAMPLE_RATE)
    if len(clip.audio) + tail > window:
        return None
    lead = min(lead, window - tail - len(clip.audio))
    audio = np.zeros(lead + len(clip.audio), dtype=np.float32)
    audio[lead:] = clip.audio * utterance.gain
    return audio, log_mel(audio, dims)[0]


def _render_job(job) -> tuple[int, np.ndarray | None]:
    index, utterance = job
    torch.set_num_threads(1)
    rendered = render(utterance)
    return index, None if rendered is None else rendered[1].to(torch.float16).numpy()


def build_split(options: TrainOptions, split: str, n: int, cache: Path | None = None,
                log=print) -> tuple[list[Utterance], np.ndarray]:
    """Synthesize ``n`` utterances of a split: their plans and log-mels ``[n, n_mels, 2 * n_audio_ctx]`` fp16.

    Utterances too long for the window are replaced by the next index, so the result depends only on
    the options. Cached as one ``.npz`` keyed by the options.
    """
    # only what the utterances depend on: changing the training schedule reuses the corpus
    corpus = {name: getattr(options, name) for name in CORPUS_OPTIONS}
    key = hashlib.sha256(json.dumps({"split": split, "n": n, **corpus, "v": 1},
                                    sort_keys=True, default=list).encode()).hexdigest()[:16]
    path = None if cache is None else cache / f"micro-{split}-{key}.npz"
    if path is not None and path.is_file():
        with np.load(path) as stored:
            plans = [Utterance(**p) for p in json.loads(str(stored["plans"]))]
            return plans, stored["mels"]
    pool = word_pool()
    mels = np.zeros((n, MICRO_DIMS.n_mels, 2 * MICRO_DIMS.n_audio_ctx), dtype=np.float16)
    plans: list[Utterance] = []
    index, start = 0, time.time()
    with multiprocessing.get_context("spawn").Pool(options.threads) as workers:
        while len(plans) < n:
            want = n - len(plans)
            jobs = [(index + k, plan(options, split, index + k, pool)) for k in range(want)]
            index += want
            for (i, utterance), (_, mel) in zip(jobs, workers.imap(_render_job, jobs, chunksize=16)):
                if mel is None or len(plans) == n:
                    continue
                mels[len(plans)] = mel
                plans.append(utterance)
                if len(plans) % 2000 == 0:
                    log(f"  {split}: {len(plans)}/{n} utterances, {time.time() - start:.0f} s")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, mels=mels, plans=np.array(json.dumps([asdict(p) for p in plans])))
    return plans, mels


# ----------------------------------------------------------------------------------------------
# model


def text_tokens(tokenizer, text: str) -> list[int]:
    """Whisper's target sequence: sot, en, transcribe, notimestamps, the text (with its leading space), eot."""
    return [*tokenizer.sot_sequence_including_notimestamps, *tokenizer.encode(" " + text.strip()), tokenizer.eot]


def ctc_targets(text: str) -> list[int]:
    kept = " ".join("".join(c for c in text.lower() if c in CTC_CHARS).split())
    return [CTC_CHARS.index(c) + 1 for c in kept]


def vocabulary(tokenizer, sequences: list[list[int]]) -> torch.Tensor:
    """Sorted token ids used by the training targets: the embedding rows micro trains and stores."""
    return torch.tensor(sorted({t for s in sequences for t in s}), dtype=torch.long)


def init_model(dims: ModelDimensions, vocab: torch.Tensor, seed: int) -> Whisper:
    """Whisper with PyTorch's seeded initialisation, small embeddings (N(0, 0.02²); the decoder's
    positional embedding N(0, 0.01²)) and every embedding row outside ``vocab`` at zero."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Whisper(dims)
        torch.nn.init.normal_(model.decoder.positional_embedding, std=0.01)
        torch.nn.init.normal_(model.decoder.token_embedding.weight, std=0.02)
    with torch.no_grad():
        keep = torch.zeros(dims.n_vocab, dtype=torch.bool)
        keep[vocab] = True
        model.decoder.token_embedding.weight[~keep] = 0.0
    return model


def _learning_rate(options: TrainOptions, step: int) -> float:
    if step < options.warmup:
        return options.lr * (step + 1) / options.warmup
    progress = (step - options.warmup) / max(1, options.steps - options.warmup)
    return options.lr * (options.final_lr + (1 - options.final_lr) * 0.5 * (1 + math.cos(math.pi * progress)))


def _batch_tensors(tokenizer, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    sequences = [text_tokens(tokenizer, t) for t in texts]
    width = max(map(len, sequences)) - 1
    inputs = torch.full((len(texts), width), tokenizer.eot, dtype=torch.long)
    targets = torch.full((len(texts), width), -100, dtype=torch.long)
    prefix = len(tokenizer.sot_sequence_including_notimestamps)
    for row, s in enumerate(sequences):
        inputs[row, : len(s) - 1] = torch.tensor(s[:-1])
        targets[row, prefix - 1: len(s) - 1] = torch.tensor(s[prefix:])
    chars = [ctc_targets(t) for t in texts]
    return inputs, targets, torch.tensor([c for cs in chars for c in cs]), torch.tensor(list(map(len, chars)))


def train(options: TrainOptions, out: Path, cache: Path | None = None, log=print) -> dict:
    """Synthesize the corpus, train micro, evaluate it and write the checkpoint and its card to ``out``.

    Returns
    -------
    dict
        The card written beside the checkpoint (``micro.json``).
    """
    torch.set_num_threads(options.threads)
    tokenizer = get_tokenizer(True, language="en", task="transcribe")
    started = time.time()
    plans, mels = build_split(options, "train", options.n_utterances, cache, log)
    synth_s = time.time() - started
    log(f"train corpus: {len(plans)} utterances in {synth_s:.0f} s")
    texts = [p.text for p in plans]
    vocab = vocabulary(tokenizer, [text_tokens(tokenizer, t) for t in texts])
    model = init_model(MICRO_DIMS, vocab, options.seed)
    ctc_head = _ctc_head(MICRO_DIMS, options.seed)
    frozen = torch.ones(MICRO_DIMS.n_vocab, 1, dtype=torch.bool)
    frozen[vocab] = False
    model.decoder.token_embedding.weight.register_hook(lambda g: g.masked_fill(frozen, 0.0))
    parameters = [*model.parameters(), *ctc_head.parameters()]
    decay = [p for p in parameters if p.ndim >= 2]
    no_decay = [p for p in parameters if p.ndim < 2]
    optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": options.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=options.lr, betas=(0.9, 0.98), eps=1e-8)
    order = np.random.default_rng([options.seed, 1]).permutation
    epoch_order, cursor = order(len(plans)), 0
    model.train()
    history = []
    started = time.time()
    for step in range(options.steps):
        if cursor + options.batch > len(epoch_order):
            epoch_order, cursor = order(len(plans)), 0
        rows = np.sort(epoch_order[cursor: cursor + options.batch])
        cursor += options.batch
        for group in optimiser.param_groups:
            group["lr"] = _learning_rate(options, step)
        inputs, targets, chars, char_lengths = _batch_tensors(tokenizer, [texts[r] for r in rows])
        mel = torch.from_numpy(mels[rows]).float()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            audio = model.encoder(mel)
            logits = model.decoder(inputs, audio)
            ctc_logits = ctc_head(audio)
        text_loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=-100)
        log_probs = ctc_logits.float().log_softmax(-1).transpose(0, 1)
        ctc_loss = F.ctc_loss(log_probs, chars, torch.full((len(rows),), log_probs.shape[0], dtype=torch.long),
                              char_lengths, zero_infinity=True)
        loss = text_loss + options.ctc_weight * ctc_loss
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, options.clip_norm)
        optimiser.step()
        if step % 50 == 0 or step == options.steps - 1:
            history.append({"step": step, "loss": round(text_loss.item(), 4), "ctc": round(ctc_loss.item(), 4),
                            "seconds": round(time.time() - started, 1)})
            log(f"step {step}: text loss {text_loss.item():.3f}, ctc {ctc_loss.item():.3f}, "
                f"{time.time() - started:.0f} s")
    train_s = time.time() - started
    model.eval()
    evaluation = {split: evaluate(model, options, split, n, cache, log)
                  for split, n in (("heldout", options.n_heldout), ("unseen", options.n_unseen))}
    card = {
        "command": " ".join(["whisper-claims micro train", *_cli_args(options)]),
        "options": asdict(options),
        "dims": asdict(MICRO_DIMS),
        "corpus": {
            "utterances": len(plans),
            "description": "espeak-ng (whisper_claims.stimuli.corpus, bit-identical across processes) sentences: half "
                           "the phonetic corpus' templates (stimulus_words.tsv), half lists of 3-8 words from "
                           "that list and the decoder corpus' food/number/motion words, a quarter of the items "
                           "being the post's bigrams; one in five ends with a closing such as 'Good luck.'; "
                           f"voices {', '.join(options.voices)}; rates {list(options.rates)} wpm; 0-"
                           f"{options.max_lead_s} s leading silence; gain 0.4-1.0; padded with zero samples to 10 s",
            "sentence_seeds": SPLIT_SEEDS,
            "vocabulary_tokens": len(vocab),
            "synthesis_seconds": round(synth_s, 1),
        },
        "training_seconds": round(train_s, 1),
        "threads": options.threads,
        "torch": torch.__version__,
        "history": history,
        "evaluation": evaluation,
    }
    write_compact(model, vocab, out / CHECKPOINT.name)
    card["sha256"] = sha256_file(out / CHECKPOINT.name)
    with atomic_path(out / CARD.name) as tmp:
        Path(tmp).write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    return card


def _ctc_head(dims: ModelDimensions, seed: int) -> torch.nn.Linear:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        return torch.nn.Linear(dims.n_audio_state, len(CTC_CHARS) + 1)


def _cli_args(options: TrainOptions) -> list[str]:
    default = TrainOptions()
    return [f"--{name.replace('_', '-')}={value}" for name, value in asdict(options).items()
            if value != getattr(default, name) and not isinstance(value, tuple)]


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate of normalised texts (Levenshtein distance / reference length)."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref:
        return 0.0 if not hyp else math.nan
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1] / len(ref)


@torch.inference_mode()
def transcribe_mels(model: Whisper, mels: torch.Tensor, batch: int = 50) -> list[str]:
    """Greedy transcripts (the suite's `inference.DECODING`) of log-mels ``[n, n_mels, 2 * n_audio_ctx]``."""
    texts = []
    for start in range(0, len(mels), batch):
        results = whisper.decode(model, mels[start: start + batch].float(), DECODING)
        texts += [r.text.strip() for r in results]
    return texts


def evaluate(model: Whisper, options: TrainOptions, split: str, n: int, cache: Path | None = None,
             log=print) -> dict:
    """WER, CER and exact-sentence share of greedy transcripts of ``n`` sentences of ``split``."""
    plans, mels = build_split(options, split, n, cache, log)
    hypotheses = transcribe_mels(model, torch.from_numpy(mels))
    errors = [wer(p.text, h) for p, h in zip(plans, hypotheses)]
    words = [len(normalize(p.text).split()) for p in plans]
    result = {
        "sentences": n,
        "voices": list(options.unseen_voices if split == "unseen" else options.voices),
        "wer": round(sum(e * w for e, w in zip(errors, words)) / sum(words), 4),
        "cer": round(float(np.mean([cer(p.text, h) for p, h in zip(plans, hypotheses)])), 4),
        "exact": round(float(np.mean([e == 0 for e in errors])), 4),
        "examples": [{"text": p.text, "transcript": h} for p, h in list(zip(plans, hypotheses))[:5]],
    }
    log(f"{split}: WER {result['wer']:.3f}, CER {result['cer']:.3f}, exact {result['exact']:.2f}")
    return result


# ----------------------------------------------------------------------------------------------
# the committed file and Whisper's own format


def write_compact(model: Whisper, vocab: torch.Tensor, path: Path) -> Path:
    """Write micro's compact checkpoint: every tensor in fp16, the token embedding as its ``vocab`` rows."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    embedding = state.pop("decoder.token_embedding.weight")
    if embedding[~torch.isin(torch.arange(len(embedding)), vocab)].abs().max() != 0:
        raise ValueError("embedding rows outside the vocabulary are not zero; micro's format cannot store them")
    state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    payload = {"format": COMPACT_FORMAT, "dims": asdict(model.dims), "vocabulary": vocab.clone(),
               "token_embedding_rows": embedding[vocab].half(), "model_state_dict": state}
    return save_torch(payload, path)


def clip_audio(clip: MicroClip) -> tuple[np.ndarray, tuple[float, float]]:
    """The clip's 16 kHz samples and the target's (start, end) in seconds, from espeak-ng's word events."""
    words = clip.text.split()
    target = clip.target.lower().split()
    first = next(k for k in range(len(words)) if [w.strip(".,").lower() for w in words[k: k + len(target)]] == target)
    synthesis = espeak.synthesize(clip.text, clip.voice, clip.rate)
    starts = [w.sample / synthesis.sample_rate for w in synthesis.words]
    if len(starts) != len(words):
        raise ValueError(f"{clip.name}: espeak-ng reported {len(starts)} words for {len(words)} in the text")
    speech = synthesize_clip(clip.text, clip.voice, clip.rate).audio
    begin, end = starts[first], starts[first + len(target)]
    lead = clip.lead_s if clip.target_at_s is None else clip.target_at_s - begin
    n_lead = int(round(lead * SAMPLE_RATE))
    audio = np.concatenate([np.zeros(n_lead, dtype=np.float32), speech])
    return audio, (n_lead / SAMPLE_RATE + begin, n_lead / SAMPLE_RATE + end)


def write_clips(folder: Path = FIXTURE_DIR.parent) -> list[dict]:
    """Write `MICRO_CLIPS` as 16-bit WAV files under ``folder`` and their manifest (``micro/clips.tsv``).

    Returns each clip's target span in seconds and in encoder frames (20 ms), as enc-chop takes it.
    """
    rows, spans = [], []
    for clip in MICRO_CLIPS:
        audio, (begin, end) = clip_audio(clip)
        path = folder / clip.name
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            soundfile.write(tmp, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
        frames = (int(math.floor(begin / FRAME_S)), int(math.ceil(end / FRAME_S)))
        spans.append({"name": clip.name, "target": clip.target, "seconds": [round(begin, 3), round(end, 3)],
                      "frames": list(frames), "duration_s": round(len(audio) / SAMPLE_RATE, 3)})
        purpose = (f"micro's held-out clip: '{clip.text}' (espeak-ng {clip.voice}, {clip.rate} wpm); "
                   f"'{clip.target}' spoken {begin:.3f}-{end:.3f} s = encoder frames {frames[0]}-{frames[1]}")
        rows.append("\t".join([clip.name, "", sha256_file(path), str(path.stat().st_size),
                               "written for whisper-claims (synthetic speech, espeak-ng)", purpose]))
    manifest = folder / "micro" / "clips.tsv"
    with atomic_path(manifest) as tmp:
        Path(tmp).write_text("\t".join(["name", "url", "sha256", "bytes", "licence", "purpose"]) + "\n"
                             + "\n".join(rows) + "\n", encoding="utf-8")
    return spans

