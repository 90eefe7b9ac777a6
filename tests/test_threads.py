"""A claim's numbers do not depend on the machine's cores: claims are measured on one thread, and the
corpus pass, which keeps the process's threads, gives the same bits on any number of them where torch's kernels are AVX2 (within an ulp on AVX512)."""
import numpy as np
import pytest
import torch

from whisper_claims.measure.hooks import capture
from whisper_claims.measure.mining import clip_mel, layers_activations
from whisper_claims.models.load import random_model
from whisper_claims.threads import CLAIM_THREADS, claim_threads, invariant, torch_threads

LAYERS = ("encoder.blocks.2.mlp.1", "encoder.blocks.3")


# torch's AVX2 kernels (the AMD EPYC machines the records were first written on) split a matrix product the same
# way on any number of threads; its AVX512 kernels (an Intel Xeon, 7 December 2026) do not, and the pass then differs
# by about one unit in the last place (2.4e-7 at 3.2) between thread counts, though never between runs on one count
BIT_IDENTICAL_ACROSS_THREADS = torch.backends.cpu.get_cpu_capability() in ("DEFAULT", "NO AVX", "AVX2")


@pytest.mark.parametrize("size", ["tiny", "base"])
def test_the_corpus_pass_gives_the_same_bits_on_one_to_four_threads(size):
    model = random_model(size, seed=0)
    audio = np.random.default_rng(0).standard_normal(32000).astype(np.float32) * 0.1
    mel = clip_mel(audio, model)
    passes = []
    for n in (1, 2, 3, 4, 2):
        with torch_threads(n):
            passes.append(layers_activations(model, mel, LAYERS, n_keep=100))
    assert all(torch.equal(passes[1][name], passes[4][name]) for name in LAYERS)  # one count: the same bits
    for other in passes[1:4]:
        if BIT_IDENTICAL_ACROSS_THREADS:
            assert all(torch.equal(passes[0][name], other[name]) for name in LAYERS)
        else:
            assert all(torch.allclose(passes[0][name], other[name], rtol=1e-5, atol=1e-6) for name in LAYERS)


def test_a_claim_holds_one_thread_and_its_pass_the_processs():
    with torch_threads(2):
        with claim_threads():
            assert torch.get_num_threads() == CLAIM_THREADS == 1
            with invariant():
                assert torch.get_num_threads() == 2
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2


@pytest.mark.parametrize("size", ["tiny", "base"])
def test_the_pass_one_clip_per_call_gives_the_bits_of_whispers_batched_forward(size):
    """The pass runs whole blocks one clip at a time (faster here: a clip's tensors stay in cache); every
    bit equals Whisper's own encoder run on the whole batch."""
    model = random_model(size, seed=0)
    rng = np.random.default_rng(1)
    mel = torch.cat([clip_mel(rng.standard_normal(n).astype(np.float32) * 0.1, model) for n in (16000, 24000, 8000)])
    layers = ["encoder.blocks.0.mlp.1", "encoder.blocks.1", "encoder.blocks.2.mlp.1", "encoder.blocks.2"]
    with torch.no_grad(), claim_threads(), capture(model, layers) as records:
        model.encoder(mel)
        got = layers_activations(model, mel, layers)
    assert all(torch.equal(got[name], records[name][0]) for name in layers)
