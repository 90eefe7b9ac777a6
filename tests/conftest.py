"""Fixtures shared by the toolkit's tests."""
import functools
import gc
import http.server
import os
import threading

import matplotlib
import pytest

import toyproject
from hypothesis import settings
from whisper_claims.measure import intermediates

# the same examples on every run: CI's verdict must not depend on the day's random draw
settings.register_profile("deterministic", derandomize=True, print_blob=True)
settings.load_profile("deterministic")

# The toolkit's tests never read or write the disk cache of intermediates (nor does a pytest they start):
# a test that replaces a function must see it called. Tests of the cache configure their own, and tests
# that run claims unchanged, as `pytest -m …` does, take `run_cache`.
# (kept in the environment too: xdist's workers start after the controller has turned it off)
RUN_CACHE_MODE = os.environ.setdefault("WHISPER_CLAIMS_TESTS_RUN_CACHE_MODE",
                                       os.environ.get(intermediates.ENV_MODE) or intermediates.DEFAULT_MODE)
os.environ[intermediates.ENV_MODE] = "off"
intermediates.configure("off")

# pytester's in-process runs remove the modules first imported inside them; a matplotlib half removed that way
# can fail a later figure in the same worker (once: "Single argument to subplot must be a three-digit integer,
# not GridSpec"), so the figure modules are imported before any of those runs
matplotlib.use("Agg")
import matplotlib.pyplot  # noqa: E402,F401


@pytest.fixture
def run_cache():
    """The disk cache as the environment chose it before the tests turned it off (CI: the run's fresh
    cache, which its claim steps filled)."""
    previous = intermediates._settings
    intermediates.configure(RUN_CACHE_MODE)
    yield intermediates.settings()
    intermediates._settings = previous


class _Handler(http.server.SimpleHTTPRequestHandler):
    stall = threading.Event()

    def do_GET(self):
        if self.path.startswith("/interrupted/"):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"only part of the body")
        elif self.path.startswith("/stalled/"):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"a first chunk")
            self.wfile.flush()
            self.stall.wait(5)
        else:
            super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """A local HTTP server on 127.0.0.1 over tmp_path/served; yields (folder, base URL).

    Paths under /interrupted/ announce more bytes than they send; /stalled/ sends a chunk and waits.
    """
    root = tmp_path / "served"
    root.mkdir()
    handler = type("Handler", (_Handler,), {"stall": threading.Event()})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(root))
    )
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    handler.stall.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def project(pytester, monkeypatch):
    """A pytester folder laid out like the project: pytest.ini, conftest loading the plugin, claims/."""
    for name in ("WHISPER_CLAIMS_MODELS", "WHISPER_CLAIMS_ROOT", "WHISPER_CLAIMS_DOWNLOAD",
                 "WHISPER_CLAIMS_ASSETS"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeini((toyproject.PROJECT / "pytest.ini").read_text())
    pytester.makeconftest('pytest_plugins = ("whisper_claims.plugin",)\n')
    (pytester.path / "claims").mkdir()
    (pytester.path / "empty-root").mkdir()
    pytester.syspathinsert()  # the toy claim's function module (toyclaims.py), as a project's own package
    toyproject.write_thresholds(pytester)
    toyproject.write_claim(pytester)
    return pytester


@pytest.fixture(scope="module")
def registry():
    """The project's claims registry (claims/thresholds.toml)."""
    from whisper_claims.claims.registry import load_registry

    return load_registry()


@pytest.fixture(scope="module")
def tiny():
    """Random weights with tiny's dimensions: the negative control of every claim."""
    from whisper_claims.models.load import open_model

    loaded = open_model("random:tiny")
    yield loaded
    del loaded
    gc.collect()


@pytest.fixture(scope="session")
def small_random():
    """``small_random(seed)``: random weights with Whisper's 30 s window, a narrow 2-layer model and a
    64-token text context, so that its garbage transcripts (at most 32 tokens) decode fast."""
    from whisper.model import ModelDimensions

    from whisper_claims.models.load import random_model

    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
                           n_vocab=51864, n_text_ctx=64, n_text_state=64, n_text_head=2, n_text_layer=2)
    return lambda seed=0: random_model("tiny.en", seed, dims=dims)


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread for a module of small-matrix tests: on a busy 2-core machine a second thread costs
    more than it gives."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
