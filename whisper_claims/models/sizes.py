"""The names of Whisper's sizes, free of torch: what a thresholds file and a record may name.

Their dimensions are in ``dims`` (which needs Whisper's ``ModelDimensions``); a test holds the two equal.
"""
from __future__ import annotations

# every name whisper.available_models() lists, aliases included
OFFICIAL_NAMES = ("tiny.en", "tiny", "base.en", "base", "small.en", "small", "medium.en", "medium", "large-v1",
                  "large-v2", "large-v3", "large", "large-v3-turbo", "turbo")
MICRO = "micro"  # trained by this project (whisper_claims.micro.train)

# names that load the same file as another name
ALIASES: dict[str, str] = {"large": "large-v3", "turbo": "large-v3-turbo"}


def canonical_size(name: str) -> str:
    """The canonical size name behind an official name or alias (``turbo`` → ``large-v3-turbo``)."""
    return ALIASES.get(name, name)


# the sizes a claim or a threshold may be restricted to
SIZES = tuple(dict.fromkeys(canonical_size(name) for name in (*OFFICIAL_NAMES, MICRO)))
