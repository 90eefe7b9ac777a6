"""What a full run of the claims costs per Whisper size on this machine (a benchmark, not a test).

For each size, one fresh process runs the claims exactly as a user does
(``pytest -m "encoder or decoder" --whisper-models=random:<size>``: random weights of the size's
official dimensions, so every claim runs and fails) and records, per claim test, its wall time and the
peak resident memory of the process while it ran (sampled every 20 ms from /proc), plus the time to
build the model. Prints a Markdown table; ``--json`` also writes the figures.

Usage::

    python benchmarks/cost_per_size.py [--sizes tiny,base,small,medium,large-v3,turbo] [--json out.json]

Claims that share work through ``memo.per_model`` (clip encode, relevance) are charged to the first
test that needs it, in the suite's order.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak resident set size of this process between ``start()`` and ``stop()``, sampled from /proc."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peak = 0
        self._running = False
        self._thread: threading.Thread | None = None

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE

    def _sample(self) -> None:
        while self._running:
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def start(self) -> None:
        self.peak = self.rss()
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> int:
        self._running = False
        self._thread.join()
        return max(self.peak, self.rss())


class CostPlugin:
    """Times each test's setup (model build) and call, with the peak memory during each."""

    def __init__(self):
        self.rows: list[dict] = []
        self.memory = PeakMemory()

    def pytest_runtest_setup(self, item):
        self._begin()

    def pytest_runtest_call(self, item):
        self._end(item, "setup")
        self._begin()

    def pytest_runtest_teardown(self, item):
        self._end(item, "call")

    def _begin(self):
        self.memory.start()
        self._started = time.perf_counter()

    def _end(self, item, phase):
        seconds = time.perf_counter() - self._started
        peak = self.memory.stop()
        marker = item.get_closest_marker("claim")
        self.rows.append({"test": item.name, "claim": marker.args[0] if marker else None, "phase": phase,
                          "seconds": round(seconds, 2), "peak_rss_gib": round(peak / 2**30, 2)})


def child(size: str, out: Path) -> int:
    import pytest

    plugin = CostPlugin()
    code = pytest.main(["-q", "-p", "no:cacheprovider", "-m", "encoder or decoder",
                        f"--whisper-models=random:{size}", str(PROJECT / "claims")], plugins=[plugin])
    out.write_text(json.dumps({"size": size, "exit": int(code), "rows": plugin.rows}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="tiny,base,small,medium,large-v3,turbo")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.child_out)

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            out = Path(tmp) / f"{size}.json"
            started = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--child", size, "--child-out", str(out)],
                           cwd=PROJECT, check=True, stdout=subprocess.DEVNULL)
            result = json.loads(out.read_text())
            result["total_seconds"] = round(time.perf_counter() - started, 1)
            results.append(result)
            print(f"{size}: {result['total_seconds']} s", file=sys.stderr)

    claims = list(dict.fromkeys(r["claim"] for res in results for r in res["rows"] if r["claim"]))
    print("| claim | " + " | ".join(res["size"] for res in results) + " |")
    print("| --- |" + " --- |" * len(results))
    for claim in ["(model build)"] + claims:
        cells = []
        for res in results:
            if claim == "(model build)":
                rows = [r for r in res["rows"] if r["phase"] == "setup"][:1]
            else:
                rows = [r for r in res["rows"] if r["claim"] == claim and r["phase"] == "call"]
            seconds = sum(r["seconds"] for r in rows)
            peak = max((r["peak_rss_gib"] for r in rows), default=0)
            cells.append(f"{seconds:.1f} s, {peak:.1f} GiB" if rows else "–")
        print(f"| {claim} | " + " | ".join(cells) + " |")
    print("| whole run (process) | " + " | ".join(f"{res['total_seconds']:.0f} s" for res in results) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
