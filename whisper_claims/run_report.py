"""The end of a claims run: its record becomes one document, compared with the baseline, written as
claims.json and the reports beside it, and summed up on the terminal (the plugin calls these)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import WhisperClaimsError
from .models.redistributions import describe_source
from .report.baseline import baseline_section, compare, differences, tolerances
from .report.claims_json import summary_table, write_claims_json
from .report.publish import build_reports
from .report.record import ClaimsRecord, claims_document
from .run_options import RunOptions
from .stimuli.assets import default_locations


@dataclass(frozen=True)
class Finished:
    """How the run's end went: a regression against the baseline, or reports that could not be written."""

    regression: bool = False
    report_failed: bool = False


def finish_run(record: ClaimsRecord, options: RunOptions, rootdir: Path) -> Finished:
    """Build the run's document (once: the terminal table and claims.json read the same one), compare it
    with the baseline, and write claims.json and the reports into ``--claims-report``."""
    record.document = claims_document(record, rootdir)
    regression = False
    if record.baseline is not None:
        path, baseline = record.baseline
        changes = compare(baseline, record.document, tolerances(record.registry))
        record.document["baseline"] = baseline_section(path, changes, differences(baseline, record.document))
        regression = options.fail_on_regression and any(c.kind == "regression" for c in changes)
    directory = options.report_dir
    if directory is None:
        return Finished(regression=regression)
    try:
        record.written = write_claims_json(record.document, directory)
    except OSError as error:
        # the results are printed anyway (terminal summary); only the file is lost, and the run says so
        record.report_error = f"claims.json could not be written into {directory}: {error.strerror or error}"
        return Finished(regression=regression, report_failed=True)
    try:
        # the post's figures are shown when the asset folder has them; a report never downloads
        locations = default_locations(folder=options.assets, allow_download=False)
        build_reports([(record.written, record.document)], directory, asset_locations=locations)
    except (ValueError, OSError, WhisperClaimsError) as error:
        record.report_error = f"{type(error).__name__}: {error}"
        return Finished(regression=regression, report_failed=True)
    return Finished(regression=regression)


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
    if record.written is not None:
        lines.append((f"whisper-claims: wrote {record.written} and, beside it, claims.md, badges/ and report.html",
                      False))
    if record.report_error is not None:
        what = "the reports beside claims.json failed" if record.written is not None else "no report"
        lines.append((f"whisper-claims: {what}: {record.report_error}", True))
    return lines
