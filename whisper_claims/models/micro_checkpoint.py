"""micro's committed checkpoint (``fixtures/micro/micro.pt``): checked against its card and expanded into
Whisper's own file format. Reading it needs none of micro's training code (`whisper_claims.micro.train`)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..errors import CheckpointError
from ..files import PROJECT, sha256_file
from .formats import save_torch

FIXTURE_DIR = PROJECT / "fixtures" / "micro"
CHECKPOINT = FIXTURE_DIR / "micro.pt"
CARD = FIXTURE_DIR / "micro.json"  # what the checkpoint is: sha256s, command, seed, corpus, WER/CER
COMPACT_FORMAT = "whisper-claims-micro/1"


def expand_checkpoint(compact: Path, path: Path) -> Path:
    """Write the compact file's weights as a Whisper checkpoint (``{"dims", "model_state_dict"}``, fp16).

    Raises
    ------
    CheckpointError
        The compact file is unreadable or not micro's format.
    """
    try:
        payload = torch.load(compact, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != COMPACT_FORMAT:
            raise ValueError(f"format is {payload.get('format') if isinstance(payload, dict) else None!r}")
        dims = payload["dims"]
        rows, vocab = payload["token_embedding_rows"], payload["vocabulary"]
        embedding = torch.zeros(dims["n_vocab"], dims["n_text_state"], dtype=rows.dtype)
        embedding[vocab] = rows
    except Exception as error:
        raise CheckpointError(f"checkpoint {compact}: not micro's compact checkpoint "
                              f"({type(error).__name__}: {error}); expected format {COMPACT_FORMAT!r}") from error
    state = dict(payload["model_state_dict"])
    state["decoder.token_embedding.weight"] = embedding
    return save_torch({"dims": dims, "model_state_dict": state}, path)


def card(path: Path = CARD) -> dict:
    """The committed checkpoint's card (``fixtures/micro/micro.json``)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{path}: cannot read micro's card ({error}); expected the JSON written by "
                              f"'whisper-claims micro train'") from error


def installed_checkpoint(root: str | os.PathLike, compact: Path = CHECKPOINT, card_path: Path = CARD) -> Path:
    """The Whisper-format file of the committed micro checkpoint in ``root``, written there when absent.

    The committed file's sha256 is checked against its card first; the expanded file is named by that
    sha256, so another micro never reuses it.

    Raises
    ------
    CheckpointError
        The committed file is missing, or its sha256 differs from the card's.
    """
    if not compact.is_file():
        raise CheckpointError(f"checkpoint {compact}: no such file; micro's checkpoint is part of the "
                              f"project (fixtures/micro/) — restore it from git")
    expected = card(card_path)["sha256"]
    actual = sha256_file(compact)
    if actual != expected:
        raise CheckpointError(f"checkpoint {compact} has sha256 {actual}, expected {expected} "
                              f"(recorded in {card_path}); it is left untouched")
    path = Path(root) / f"micro-{expected[:16]}.pt"
    if not path.is_file():
        expand_checkpoint(compact, path)
    return path
