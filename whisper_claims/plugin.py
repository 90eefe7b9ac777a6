"""The pytest plugin: options, the per-model fixture and claim checks; a run's options are read once
(`run_options`) and its end is written by `run_report`.

Registered by installing the package (a ``pytest11`` entry point). A claim test is one function marked
with its claim id; the registry entry names the function that measures it and gives the test its markers
(encoder or decoder, slow)::

    @pytest.mark.claim("dec-embed-sound")
    def test_token_embeddings_cluster_by_sound(whisper_model, claim):
        claim.check(whisper_model)
"""
from __future__ import annotations

import gc
import os
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from . import progress
from .claims import distribute
from .claims.registry import MARKERS, ClaimSpec
from .claims.runner import asset_resolver, not_applicable, run_claim
from .claims.verdict import Verdict
from .errors import AssetUnavailable, MethodInvalid, ModelUnavailable, WhisperClaimsError
from .measure import intermediates
from .models.load import LoadedModel, open_model
from .report.record import ClaimsRecord
from .run_options import DEFAULT_MODELS, OptionError, RunOptions, read_options
from .run_report import finish_run, start_run, summary_lines
from .stimuli.assets import AssetLocations, default_locations
from .threads import CLAIM_THREADS

RECORD = pytest.StashKey[ClaimsRecord]()
OPTIONS = pytest.StashKey[RunOptions]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("whisper-claims", "checking the claims of 'Interpreting Whisper'")
    group.addoption("--whisper-models", default=None, metavar="SPECS",
                    help="comma-separated model specs: official names (tiny, base.en, large-v3, turbo…), "
                         "checkpoint paths, CTranslate2 or transformers model folders, random:<size>[:<seed>]; "
                         f"env WHISPER_CLAIMS_MODELS; default {DEFAULT_MODELS}")
    group.addoption("--whisper-device", default=None, metavar="DEVICE",
                    help="torch device the models run on: cpu, cuda or cuda:N; env WHISPER_CLAIMS_DEVICE; "
                         "default cpu (the recorded numbers are the CPU's)")
    group.addoption("--whisper-root", default=None, metavar="DIR",
                    help="folder of official checkpoints; env WHISPER_CLAIMS_ROOT; default Whisper's cache "
                         "(~/.cache/whisper)")
    group.addoption("--whisper-download", action="store_true", default=None,
                    help="allow downloading absent official checkpoints (sha256-checked); "
                         "env WHISPER_CLAIMS_DOWNLOAD=1; default off")
    group.addoption("--require-models", action="store_true", default=False,
                    help="an unavailable model is an error instead of a skip (for CI that has the weights)")
    group.addoption("--assets", default=None, metavar="DIR",
                    help="local folder of reference audio and figures; env WHISPER_CLAIMS_ASSETS")
    group.addoption("--assets-download", action="store_true", default=None,
                    help="allow downloading absent assets into the cache; env WHISPER_CLAIMS_DOWNLOAD=1")
    group.addoption("--claims-cache", default=None, metavar="MODE", choices=intermediates.MODES,
                    help="disk cache of expensive intermediates between runs (corpus passes, SAEs, decodes), "
                         "under <cache>/intermediates: read-write, refresh (recompute and overwrite) or off; "
                         f"env {intermediates.ENV_MODE}; default {intermediates.DEFAULT_MODE}")
    group.addoption("--claims-report", default=None, metavar="DIR",
                    help="write DIR/claims.json (one row per claim × model, with run metadata)")
    group.addoption("--claims-thresholds", default=None, metavar="PATH",
                    help="thresholds file; default claims/thresholds.toml of this checkout")
    group.addoption("--claims-baseline", default=None, metavar="PATH",
                    help="an earlier run's claims.json: report regressions (held → fails, key metric beyond "
                         "its tolerance), improvements, new and removed claims")
    group.addoption("--fail-on-regression", action="store_true", default=False,
                    help="with --claims-baseline: a regression fails the run (exit status 1)")
    group.addoption("--claims-record-only", action="store_true", default=False,
                    help="a claim that does not hold is recorded and reported as xfail instead of failing its "
                         "test (errors still fail); with --claims-baseline --fail-on-regression, only a change "
                         "fails the run")


def pytest_configure(config: pytest.Config) -> None:
    # the markers this plugin gives claim tests, also where no pytest.ini declares them (--strict-markers)
    config.addinivalue_line("markers", "encoder: a claim about Whisper's encoder (the post's sections 1 and 2)")
    config.addinivalue_line("markers", "decoder: a claim about Whisper's decoder (the post's section 3)")
    config.addinivalue_line("markers", "claim(id): the claim checked, by its id in the thresholds file")
    config.addinivalue_line("markers", "slow: takes more than a minute on a 2-core CPU")
    try:
        options = read_options(config.getoption, checked_device)
    except OptionError as error:
        raise pytest.UsageError(str(error)) from None
    if is_worker(config):
        # a worker's share of the cores (a claim runs on one thread: whisper_claims.threads)
        torch.set_num_threads(distribute.threads_per_worker(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
        config.option.loadgroup = True  # xdist's own switch for naming tests by their group
    record = ClaimsRecord(registry=options.registry, specs=options.specs, thresholds_path=options.thresholds,
                          torch_threads=CLAIM_THREADS)
    record.sizes = {spec.text: spec.name if spec.kind in ("official", "micro", "random") else None
                    for spec in options.models}
    record.baseline = options.baseline
    config.stash[OPTIONS] = options
    config.stash[RECORD] = record
    if not is_worker(config):
        start_run(options)


def is_worker(config: pytest.Config) -> bool:
    """Whether this process is a pytest-xdist worker (its controller gathers the rows and writes reports)."""
    return hasattr(config, "workerinput")


def shared_on_disk() -> bool:
    """Whether workers share intermediates through the disk cache (so a model's claims may be spread)."""
    return intermediates.settings().mode == "read-write"


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    if config.getvalue("dist") not in ("load", "loadgroup"):
        return None
    record = config.stash[RECORD]
    return distribute.scheduler(config, log, distribute.group_priorities(record.registry, record.sizes,
                                                                         shared_on_disk()))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """A worker is done: its rows and models join the controller's record."""
    output = getattr(node, "workeroutput", {}).get(distribute.WORKER_OUTPUT)
    record = node.config.stash.get(RECORD, None)
    if output is None or record is None:
        return
    sent = distribute.read_worker_output(output)
    for verdict in sent["rows"]:
        record.add(verdict)
    record.models.update(sent["models"])
    for spec, reason in sent["unavailable"].items():
        record.unavailable.setdefault(spec, reason)


def checked_device(text: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N`` where this machine has it; an error naming the option otherwise."""
    try:
        device = torch.device(text)
    except RuntimeError:
        raise OptionError(f"--whisper-device={text}: not a torch device; expected cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return text
    if device.type != "cuda":
        raise OptionError(f"--whisper-device={text}: expected cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise OptionError(f"--whisper-device={text}: this machine has no CUDA device (torch "
                          f"{torch.__version__}); use cpu")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise OptionError(f"--whisper-device={text}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return text


@pytest.hookimpl(tryfirst=True)  # before -m selects items by the markers given here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    record = config.stash[RECORD]
    for item in items:
        marker = item.get_closest_marker("claim")
        if marker is None:
            continue
        claim_id = marker.args[0] if marker.args else None
        if claim_id not in record.registry:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.claim({claim_id!r}) names no entry of the thresholds file; "
                f"known claims: {', '.join(record.registry)}"
            )
        spec = record.registry[claim_id]
        other = [name for name in MARKERS if name != spec.marker and item.get_closest_marker(name)]
        if other:
            raise pytest.UsageError(f"{item.nodeid}: marked {other[0]}, but its claim {claim_id} has marker = "
                                    f"{spec.marker!r} in the thresholds file, which gives a claim test its markers")
        item.add_marker(spec.marker)
        if spec.slow:
            item.add_marker("slow")
        model = getattr(item, "callspec", None) and item.callspec.params.get("whisper_model")
        if model and is_worker(config):
            name = distribute.group(model, spec, shared_on_disk())
            item.add_marker(pytest.mark.xdist_group(name))
            distribute.name_by_group(item, name)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "whisper_model" in metafunc.fixturenames:
        specs = metafunc.config.stash[RECORD].specs
        metafunc.parametrize("whisper_model", specs, ids=specs, indirect=True, scope="session")


@pytest.fixture(scope="session")
def whisper_model(request: pytest.FixtureRequest):
    """The model named by one ``--whisper-models`` spec; one model is in memory at a time."""
    config = request.config
    spec, options = request.param, config.stash[OPTIONS]
    try:
        loaded = open_model(spec, root=options.root, download=options.download, device=options.device)
    except ModelUnavailable as error:
        config.stash[RECORD].unavailable[spec] = str(error)
        if options.require_models:
            pytest.fail(f"--require-models: {error}", pytrace=False)
        pytest.skip(str(error))
    except WhisperClaimsError as error:
        # an error row per claim; the message names the file, so the traceback is shown only under -v
        reason = f"{type(error).__name__}: {error}"
        config.stash[RECORD].unavailable[spec] = reason
        pytest.fail(reason, pytrace=config.get_verbosity() > 0)
    config.stash[RECORD].models[spec] = loaded.info
    yield loaded
    del loaded
    gc.collect()


@pytest.fixture(scope="session")
def asset_locations(request: pytest.FixtureRequest) -> AssetLocations:
    """Where reference files are looked for: ``--assets``, the cache, and a download when allowed."""
    options = request.config.stash[OPTIONS]
    try:
        return default_locations(folder=options.assets, allow_download=options.assets_download)
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


@pytest.fixture(scope="session")
def asset(asset_locations: AssetLocations):
    """``asset(name)`` → checksum-verified path of a file named in fixtures/assets.tsv (or, for micro's
    own clips, in fixtures/micro/clips.tsv).

    An absent file skips the test with a reason that says where it was looked for; a file whose
    checksum differs is an error, never a skip.
    """
    verified = asset_resolver(asset_locations)

    def resolve(name: str) -> Path:
        try:
            return verified(name)
        except AssetUnavailable as error:
            pytest.skip(str(error))

    return resolve


@dataclass(frozen=True)
class ClaimCheck:
    """What a claim test is handed: ``check(model)`` runs the claim of the test's ``@pytest.mark.claim`` on a
    model, records its verdict, and fails the test with every number when the claim does not hold."""

    spec: ClaimSpec
    request: pytest.FixtureRequest

    def check(self, loaded: LoadedModel, **overrides) -> Verdict:
        """Run, record and judge; ``overrides`` replace the entry's params (never in claims/, where the
        registry's params are the experiment)."""
        config, spec, info = self.request.config, self.spec, loaded.info
        record, options = config.stash[RECORD], config.stash[OPTIONS]
        skipped = not_applicable(spec, loaded)
        if skipped is not None:
            record.add(skipped)
            pytest.skip(skipped.reason)
        try:
            # assets through --assets and the cache; an absent one skips with where it was looked for
            resolve = asset_resolver(self.request.getfixturevalue("asset_locations"))
            with progress.listening(terminal_progress(config, f"[{spec.id} on {info.spec}]")):
                verdict = run_claim(spec, loaded, resolve, options.drawing_dir, **overrides)
        except AssetUnavailable as error:
            record.add(Verdict(spec.id, info.spec, "skipped", reason=str(error)))
            pytest.skip(str(error))
        except MethodInvalid as error:
            # no verdict: the method missed its own bar on this model (a finding, with its numbers)
            reason = f"{type(error).__name__}: {error}"
            record.add(Verdict(spec.id, info.spec, "error", reason=reason, evidence=error.evidence))
            if options.record_only:
                pytest.xfail(reason)
            pytest.fail(reason, pytrace=False)
        except Exception as error:
            record.add(Verdict(spec.id, info.spec, "error", reason=f"{type(error).__name__}: {error}"))
            raise
        record.add(verdict)
        if not verdict.holds:
            if options.record_only:
                pytest.xfail(verdict.describe())
            pytest.fail(verdict.describe(), pytrace=False)
        return verdict


@pytest.fixture
def claim(request: pytest.FixtureRequest) -> ClaimCheck:
    """The claim of the test's ``@pytest.mark.claim('<id>')``: ``claim.check(whisper_model)``."""
    marker = request.node.get_closest_marker("claim")
    if marker is None or not marker.args:
        raise pytest.UsageError(f"{request.node.nodeid}: the claim fixture needs @pytest.mark.claim('<claim id>')")
    return ClaimCheck(request.config.stash[RECORD].registry[marker.args[0]], request)


def terminal_progress(config: pytest.Config, label: str) -> progress.Sink:
    """A progress sink that writes ``label stage done/total`` lines on the terminal, past pytest's
    capture, at most one per stage every few seconds; silent under ``-q`` or without a terminal."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if config.get_verbosity() < 0 or (reporter is None and not is_worker(config)):
        return lambda stage, done, total: None

    def write(line: str) -> None:
        with capture.global_and_fixture_disabled() if capture is not None else nullcontext():
            if is_worker(config):  # a worker's standard error reaches the terminal; its output does not
                sys.stderr.write(f"[{config.workerinput['workerid']}] {label} {line}\n")
                sys.stderr.flush()
                return
            reporter.ensure_newline()
            reporter.write_line(f"{label} {line}")

    return progress.Throttled(write)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    marker = item.get_closest_marker("claim")
    spec = getattr(item, "callspec", None) and item.callspec.params.get("whisper_model")
    if marker and spec and report.when == "setup" and not report.passed:
        # the model fixture skipped or failed before the claim could run: record why, in the error's words
        status = "skipped" if report.skipped else "error"
        if report.skipped:
            reason = report.longrepr[2]
        elif call.excinfo is not None and call.excinfo.errisinstance(pytest.fail.Exception):
            reason = str(call.excinfo.value)  # pytest.fail's message names the error already
        elif call.excinfo is not None:
            reason = f"{call.excinfo.type.__name__}: {call.excinfo.value}"
        else:
            reason = str(report.longrepr).strip().splitlines()[-1]
        item.config.stash[RECORD].add(Verdict(marker.args[0], spec, status, reason=reason.removeprefix("Skipped: ")))
    return report


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    record = config.stash.get(RECORD, None)
    lines = [] if record is None else summary_lines(record)
    if lines:
        terminalreporter.section("whisper-claims: claim × model")
    for line, red in lines:
        terminalreporter.write_line(line, red=red)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    record = config.stash.get(RECORD, None)
    if record is None:
        return
    if is_worker(config):
        # the controller gathers every worker's rows, compares and writes the reports
        config.workeroutput[distribute.WORKER_OUTPUT] = distribute.worker_output(
            record.rows(), record.models, record.unavailable)
        return
    record.interrupted = interruption(session, exitstatus)
    finished = finish_run(record, config.stash[OPTIONS], Path(str(config.rootpath)))
    if finished.regression:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if finished.report_failed and record.interrupted is None:
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR


def interruption(session: pytest.Session, exitstatus: int) -> str | None:
    """Why the run stopped before every selected claim ran, or None when it did not."""
    stopped = session.shouldfail or session.shouldstop
    if isinstance(stopped, str):  # -x or --maxfail, in one process
        return f"the run stopped early ({stopped}) before every selected claim ran"
    if stopped or exitstatus == pytest.ExitCode.INTERRUPTED:
        return "the run was interrupted (Ctrl-C or SIGINT; or -x/--maxfail over workers) before every selected " \
               "claim ran"
    return None
