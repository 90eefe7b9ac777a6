"""Positive controls on micro: each claim check that holds on micro, the only trained model these machines
can have, must also fail on random weights of micro's dimensions — so the check can pass and can fail on
the same architecture, window and clip. Which claims hold on micro, and with what numbers, is in the
README ("Claims on micro"); the claims that do not hold there are findings, not controls."""
import gc

import pytest

from whisper_claims.claims.registry import load_registry
from whisper_claims.claims.runner import run_claim
from whisper_claims.models.load import open_model
from whisper_claims.stimuli.assets import all_assets

# the claims run as `pytest -m …` runs them: through the run's disk cache (in CI, filled by its micro step)
pytestmark = [pytest.mark.control, pytest.mark.usefixtures("run_cache")]

# the claims that hold on micro and fail on random:micro (measured: README, "Claims on micro"). Not here:
# enc-polysemantic holds on micro but also on random:micro (3 neurons), so it is no control at this size;
# enc-relevance-local-general is inconclusive on micro since it must beat relevance spread evenly over each
# clip's speech (#30): micro's 10 short sentences (6 independent units) leave that margin's interval straddling 0;
# enc-neuron-phoneme is inconclusive on micro since its neurons must beat 20 random bases of the layer, not one
# (#30): 0.88 selective against a median of 0.82 over the bases (seed 0's basis, the old control, drew 0.74), a
# margin of 0.06 whose interval [-0.04, 0.14] straddles 0
# dec-cross-attention-window holds on micro, but random:micro transcribes too few of the words spoken for it to be
# judged (no verdict, not a failure), so it is no control either
HOLD_ON_MICRO = ("enc-relevance-local", "enc-chop-start", "enc-chop-mid", "enc-chop-mid-keeps", "dec-embed-semantic")


@pytest.fixture(scope="module", params=["micro", "random:micro"])
def loaded(request):
    model = open_model(request.param)
    yield model
    del model
    gc.collect()


@pytest.mark.parametrize("claim", [pytest.param(c, marks=pytest.mark.slow) if load_registry()[c].slow else c
                                   for c in HOLD_ON_MICRO])
def test_holds_on_micro_and_fails_on_its_random_weights(registry, loaded, asset, claim):
    verdict = run_claim(registry[claim], loaded, asset)
    expected = "holds" if loaded.info.spec == "micro" else "fails"
    assert verdict.status == expected, verdict.describe()


def test_micro_clips_are_micro_only(registry):
    """The Hot Ones clip stays the clip of every official size; micro's clips replace it for micro only."""
    for claim in ("enc-relevance-local", "enc-end-sink", "enc-window-k75", "enc-window-narrow", "enc-chop-start",
                  "enc-chop-start-keeps", "enc-chop-start-adds-none", "enc-chop-mid", "enc-chop-mid-keeps",
                  "enc-chop-mid-adds-none"):
        assert registry[claim].params_for("tiny")["clip"] == "blog/encoder/Hot_ones.wav"
        assert registry[claim].params_for("micro")["clip"].startswith("micro/clips/")
        assert registry[claim].params_for("micro")["clip"] in all_assets()
