"""The start and end of a claims run: a run draws into a folder of its own inside ``--claims-report``; at its
end its record becomes one document, compared with the baseline, written as claims.json with the reports
beside it (all or nothing), and summed up on the terminal (the plugin calls these). An interrupted run
writes into ``--claims-report/interrupted/`` and leaves the earlier report as it was."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import WhisperClaimsError
from .models.redistributions import describe_source
from .report.baseline import baseline_section, compare, differences, tolerances
from .report.claims_json import CLAIMS_JSON, summary_table, write_claims_json
from .report.publish import build_reports
from .report.record import ClaimsRecord, claims_document
from .run_options import RunOptions
from .stimuli.assets import default_locations

INTERRUPTED = "interrupted"  # inside --claims-report: the record and reports of the last interrupted run


@dataclass(frozen=True)
class Finished:
    """How the run's end went: a regression against the baseline, or reports that could not be written."""

    regression: bool = False
    report_failed: bool = False


def start_run(options: RunOptions) -> None:
    """Clear what a run that was killed outright left in ``--claims-report`` (its drawings in progress)."""
    if options.drawing_dir is not None:
        shutil.rmtree(options.drawing_dir, ignore_errors=True)


def finish_run(record: ClaimsRecord, options: RunOptions, rootdir: Path) -> Finished:
    """Build the run's document (once: the terminal table and claims.json read the same one), compare it
    with the baseline, and write claims.json and the reports into ``--claims-report`` (an interrupted run:
    into its ``interrupted/`` folder)."""
    record.document = claims_document(record, rootdir)
    regression = False
    if record.baseline is not None and record.interrupted is None:
        path, baseline = record.baseline
        changes = compare(baseline, record.document, tolerances(record.registry))
        record.document["baseline"] = baseline_section(path, changes, differences(baseline, record.document))
        regression = options.fail_on_regression and any(c.kind == "regression" for c in changes)
    if options.report_dir is None:
        return Finished(regression=regression)
    directory = options.report_dir
    if record.interrupted is not None:
        directory = options.report_dir / INTERRUPTED
        shutil.rmtree(directory, ignore_errors=True)  # the last interrupted run's: this one replaces it
    try:
        _move_drawings(options.drawing_dir, directory)
    except OSError as error:
        record.report_error = f"the run's figures and audio stay in {options.drawing_dir}: {error}"
    return Finished(regression=regression, report_failed=not _write(record, directory, options))


def _move_drawings(drawing_dir: Path, directory: Path) -> None:
    """Move every file the run drew into ``directory`` at the same relative path (renames: no space needed)."""
    if not drawing_dir.is_dir():
        return
    for source in sorted(p for p in drawing_dir.rglob("*") if p.is_file()):
        target = directory / source.relative_to(drawing_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
    shutil.rmtree(drawing_dir)


def _write(record: ClaimsRecord, directory: Path, options: RunOptions) -> bool:
    """claims.json and its reports, all or nothing; when the reports cannot be built or written, claims.json
    alone (the results are never lost). Whether both were written."""
    # the post's figures are shown when the asset folder has them; a report never downloads
    locations = default_locations(folder=options.assets, allow_download=False)
    try:
        build_reports([(directory / CLAIMS_JSON, record.document)], directory, asset_locations=locations,
                      write_record=True)
        record.written = directory / CLAIMS_JSON
        return record.report_error is None
    except (ValueError, OSError, WhisperClaimsError) as error:
        failure = f"{type(error).__name__}: {error}"
    try:
        record.written = write_claims_json(record.document, directory)
        record.report_error = (f"{failure}; claims.md, badges/ and report.html in {directory} are an earlier "
                               "run's or absent")
    except OSError as error:
        record.report_error = (f"{failure}; claims.json could not be written into {directory} either: "
                               f"{error.strerror or error}; nothing there was replaced")
    return False


def summary_lines(record: ClaimsRecord) -> list[tuple[str, bool]]:
    """The terminal's closing section, ``(line, in red)``: the claim × model table, whose weights each
    model ran, and what was written (or why not)."""
    if record.document is None or not record.verdicts:
        return []
    lines = [(line, False) for line in summary_table(record.document)]
    loaded = [info for info in record.document["run"]["models"] if "unavailable" not in info]
    if loaded:
        lines.append(("whisper-claims: the models' weights", False))
    lines += [(f"  {info['spec']}: {describe_source(info)}", False) for info in loaded]
    if record.interrupted is not None:
        lines.append((f"whisper-claims: {record.interrupted}", True))
        if record.written is not None:
            earlier = record.written.parent.parent / CLAIMS_JSON
            kept = (f"{earlier}, an earlier run's, was left as it was" if earlier.is_file()
                    else f"there is no earlier {earlier}")
            lines.append((f"whisper-claims: this run's {len(record.verdicts)} row(s) are in {record.written}, "
                          f"marked interrupted; {kept}", True))
    if record.written is not None and record.report_error is None:
        lines.append((f"whisper-claims: wrote {record.written} and, beside it, claims.md, badges/ and report.html",
                      False))
    elif record.written is not None:
        lines.append((f"whisper-claims: wrote {record.written}; the reports beside it failed: {record.report_error}",
                      True))
    elif record.report_error is not None:
        lines.append((f"whisper-claims: no report: {record.report_error}", True))
    return lines
