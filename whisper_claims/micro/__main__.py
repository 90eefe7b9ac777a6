"""``python -m whisper_claims.micro train ...``: the form micro.json records; ``whisper-claims micro`` is the same
command."""
import sys

from ..cli import main

sys.exit(main(["micro", *sys.argv[1:]]))
