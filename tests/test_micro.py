"""micro, the trained positive control: its committed file, its loading through Whisper's loader, its
reproducibility from the training command, its held-out accuracy and its clips."""
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
import whisper

from whisper_claims import cli
from whisper_claims.errors import CheckpointError, UnknownModelError
from whisper_claims.files import sha256_file
from whisper_claims.micro import train as micro
from whisper_claims.models import micro_checkpoint
from whisper_claims.models.dims import MICRO_DIMS, size_of
from whisper_claims.models.load import open_model, parameters_sha256, parse_spec, random_model
from whisper_claims.stimuli import micro_corpus
from whisper_claims.stimuli.assets import BUNDLED_MANIFEST, load_manifest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BOUNDS = tomllib.loads((micro_checkpoint.FIXTURE_DIR / "bounds.toml").read_text(encoding="utf-8"))
# the committed card was trained with the first; trainings since record the second
TRAIN_COMMANDS = ("python -m whisper_claims.micro train", "whisper-claims micro train")


def test_the_committed_checkpoint_is_the_one_its_card_describes():
    card = micro_checkpoint.card()
    assert sha256_file(micro_checkpoint.CHECKPOINT) == card["sha256"]
    assert micro_checkpoint.CHECKPOINT.stat().st_size <= 16 * 2**20
    assert card["dims"] == asdict(MICRO_DIMS)
    assert card["command"].startswith(TRAIN_COMMANDS)
    assert {"heldout", "unseen"} <= set(card["evaluation"])


@pytest.mark.parametrize("options", [None, micro_corpus.TrainOptions(seed=3, steps=5, lr=1e-3)])
def test_the_training_command_gives_back_its_options(options, tmp_path, monkeypatch):
    card = micro_checkpoint.card()
    if options is None:  # the committed card's own command
        command, options = card["command"], micro_corpus.card_options(card)
    else:
        command = " ".join([TRAIN_COMMANDS[1], *micro._cli_args(options)])
    prefix = next(p for p in TRAIN_COMMANDS if command.startswith(p))
    calls = []
    monkeypatch.setattr(micro, "train", lambda *args: calls.append(args) or {"evaluation": {}})
    words = command[len(prefix):].split()
    assert cli.main(["micro", "train", *words, f"--out={tmp_path}", f"--cache={tmp_path / 'cache'}"]) == 0
    assert calls == [(options, tmp_path, tmp_path / "cache")]


def test_python_m_micro_is_whisper_claims_micro():
    result = subprocess.run([sys.executable, "-m", "whisper_claims.micro", "train", "--help"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.startswith("usage: whisper-claims micro train") and "--n-utterances" in result.stdout


def test_micro_is_an_explicit_spec_with_its_own_size():
    assert parse_spec("micro").kind == "micro"
    assert parse_spec("random:micro:3").name == "micro"
    assert size_of(MICRO_DIMS) == "micro"
    assert random_model("micro").dims == MICRO_DIMS
    with pytest.raises(UnknownModelError, match="did you mean micro"):
        parse_spec("mikro")


def test_micro_loads_through_whispers_own_loader(tmp_path, monkeypatch):
    calls = []
    real = whisper.load_model
    monkeypatch.setattr(whisper, "load_model", lambda name, **kw: calls.append(name) or real(name, **kw))
    loaded = open_model("micro", root=str(tmp_path))
    expanded = tmp_path / f"micro-{micro_checkpoint.card()['sha256'][:16]}.pt"
    assert calls == [str(expanded)]
    assert loaded.info.kind == "micro" and loaded.info.size == "micro"
    assert loaded.info.sha256 == micro_checkpoint.card()["sha256"]

    compact = torch.load(micro_checkpoint.CHECKPOINT, map_location="cpu", weights_only=True)
    embedding = loaded.model.decoder.token_embedding.weight
    assert torch.equal(embedding[compact["vocabulary"]], compact["token_embedding_rows"].float())
    outside = ~torch.isin(torch.arange(len(embedding)), compact["vocabulary"])
    assert embedding[outside].abs().max() == 0
    for name, tensor in compact["model_state_dict"].items():
        assert torch.equal(loaded.model.state_dict()[name], tensor.float()), name

    before = sha256_file(expanded)
    open_model("micro", root=str(tmp_path))  # the expanded file is reused as it is
    assert sha256_file(expanded) == before and sorted(p.name for p in tmp_path.iterdir()) == [expanded.name]


def _copy_fixture(tmp_path: Path) -> tuple[Path, Path]:
    compact, card = tmp_path / "micro.pt", tmp_path / "micro.json"
    shutil.copy(micro_checkpoint.CHECKPOINT, compact)
    shutil.copy(micro_checkpoint.CARD, card)
    return compact, card


def test_a_checkpoint_that_differs_from_its_card_is_refused(tmp_path):
    compact, card = _copy_fixture(tmp_path)
    with open(compact, "r+b") as f:
        f.seek(1000)
        f.write(b"\0\0\0\0")
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(CheckpointError, match=rf"{compact}.*has sha256 .*expected {micro_checkpoint.card()['sha256']}"):
        micro_checkpoint.installed_checkpoint(root, compact, card)
    assert list(root.iterdir()) == []


def test_a_missing_or_corrupt_checkpoint_is_a_clear_error(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(CheckpointError, match="no such file.*restore it from git"):
        micro_checkpoint.installed_checkpoint(root, tmp_path / "absent.pt", micro_checkpoint.CARD)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    card = tmp_path / "card.json"
    card.write_text('{"sha256": "%s"}' % sha256_file(garbage))
    with pytest.raises(CheckpointError, match="not micro's compact checkpoint"):
        micro_checkpoint.installed_checkpoint(root, garbage, card)
    assert list(root.iterdir()) == []  # nothing partial left behind
    card.write_text("{not json")
    with pytest.raises(CheckpointError, match="cannot read micro's card"):
        micro_checkpoint.installed_checkpoint(root, garbage, card)


def test_compact_format_round_trips_and_refuses_untrained_rows(tmp_path):
    tokenizer = whisper.tokenizer.get_tokenizer(True, language="en", task="transcribe")
    vocab = micro.vocabulary(tokenizer, [micro.text_tokens(tokenizer, "Very good.")])
    model = micro.init_model(MICRO_DIMS, vocab, seed=5)
    micro.write_compact(model, vocab, tmp_path / "c.pt")
    expanded = micro_checkpoint.expand_checkpoint(tmp_path / "c.pt", tmp_path / "full.pt")
    loaded = whisper.load_model(str(expanded))
    assert parameters_sha256(loaded.float()) == parameters_sha256(model.half().float())
    with torch.no_grad():
        model.decoder.token_embedding.weight[0, 0] = 1.0  # token 0 ("!") is not in the vocabulary
    with pytest.raises(ValueError, match="outside the vocabulary"):
        micro.write_compact(model, vocab, tmp_path / "d.pt")
    assert not (tmp_path / "d.pt").exists()


def test_training_is_deterministic_given_its_seed(tmp_path):
    # as small as training goes (each run trains, decodes and writes a checkpoint): determinism, not quality
    options = micro_corpus.TrainOptions(n_utterances=4, steps=2, batch=2, warmup=1, n_heldout=1, n_unseen=1)
    cache = tmp_path / "cache"
    first = micro.train(options, tmp_path / "a", cache, log=lambda *_: None)
    second = micro.train(options, tmp_path / "b", cache, log=lambda *_: None)
    assert first["sha256"] == second["sha256"]
    assert first["command"] == f"{TRAIN_COMMANDS[1]} --n-utterances=4 --steps=2 --batch=2 --warmup=1 " \
                               f"--n-heldout=1 --n-unseen=1"
    assert micro.train(micro_corpus.TrainOptions(**{**asdict(options), "seed": 1}), tmp_path / "c", cache,
                       log=lambda *_: None)["sha256"] != first["sha256"]


def test_training_sentences_carry_the_posts_bigrams():
    sentences = [micro_corpus.micro_sentence(0, "train", i) for i in range(2000)]
    text = " ".join(sentences).lower()
    for bigram in micro_corpus.BIGRAMS:
        assert text.count(bigram) >= 20, bigram
    assert " Good" in " ".join(sentences)  # " Good" after a full stop, as the dec-bigram prompt has it
    assert sentences == [micro_corpus.micro_sentence(0, "train", i) for i in range(2000)]
    assert not set(sentences) & {micro_corpus.micro_sentence(0, "heldout", i) for i in range(200)}


def test_micro_clips_are_reproduced_from_espeak(tmp_path):
    committed = load_manifest(BUNDLED_MANIFEST)
    spans = micro.write_clips(tmp_path)
    assert [s["name"] for s in spans] == list(committed)
    for span in spans:
        assert sha256_file(tmp_path / span["name"]) == committed[span["name"]].sha256
        assert f"encoder frames {span['frames'][0]}-{span['frames'][1]}" in committed[span["name"]].purpose


@pytest.mark.slow
def test_held_out_character_error_rate_is_within_its_bound():
    bound = BOUNDS["heldout"]
    loaded = open_model("micro")
    result = micro.evaluate(loaded.model, micro_corpus.card_options(), "heldout", bound["sentences"],
                            log=lambda *_: None)
    assert result["cer"] <= bound["max_cer"], (result["cer"], bound["provenance"], result["examples"])
