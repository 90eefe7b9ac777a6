"""The claims registry: every claim's statement, metrics, thresholds and their provenance, from one TOML file.

Validated when it is read, so that a typo is an error naming the entry, never a silently ignored key.
"""
from __future__ import annotations

import collections.abc
import datetime
import inspect
import math
import re
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ThresholdsError, did_you_mean
from ..files import PROJECT
from ..models.sizes import SIZES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SCHEMA_VERSION = 1
COMPARATORS = ("<", "<=", ">", ">=")
MARKERS = ("encoder", "decoder")
# arguments a claim function gets from the runner, never from its entry: the model, and the asset resolver
RUNNER_ARGUMENTS = ("model", "resolve")
_FUNCTION = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
# the first measurement of a real checkpoint (tiny.en and base: commit 69f9b74, its record 31f0bd1); a
# threshold fixed on a later day was fixed after real measurement, one fixed on an earlier day before it
FIRST_REAL_MEASUREMENT = datetime.date(2026, 12, 2)
_COMMIT = re.compile(r"[0-9a-f]{7,40}")

_CLAIM_KEYS = {
    "statement": True,  # key -> required
    "section": True,
    "marker": True,
    "function": True,
    "key_metric": True,
    "metrics": True,
    "applies_to": False,
    "slow": False,
    "params": False,
    "size_params": False,
    "post_figures": False,
    "post_transcripts": False,
    "experiment": False,
}
# an experiment holds what its claims share (one measurement, several statements about it); a claim that
# names it writes none of these keys again
_EXPERIMENT_KEYS = {key: _CLAIM_KEYS[key] for key in ("function", "marker", "section", "applies_to", "slow", "params",
                                                       "size_params", "post_figures", "post_transcripts")}
_METRIC_KEYS = {
    "description": True,
    "comparator": True,
    "threshold": True,
    "provenance": True,
    "applies_to": False,
    "overrides": False,
    "tolerance": False,
    "fixed": True,
}
_FIXED_KEYS = {"commit": True, "date": True, "after_real": True, "note": False}


@dataclass(frozen=True)
class Fixed:
    """When a metric's comparator and threshold (and the params that change what its number means) took
    their current form, and whether that was after a real checkpoint had been measured."""

    commit: str  # abbreviated hash
    date: str  # ISO date of the commit
    after_real: bool  # True: fixed at or after the first measurement of a real checkpoint
    note: str = ""  # what changed when, or what is ambiguous

    def text(self) -> str:
        """``fixed after real measurement (commit abc1234, 2026-12-02)``, for reports."""
        when = "after" if self.after_real else "before"
        return f"fixed {when} real measurement (commit {self.commit}, {self.date})"

    def to_json(self) -> dict[str, Any]:
        return {"commit": self.commit, "date": self.date, "after_real": self.after_real, "note": self.note}


@dataclass(frozen=True)
class MetricSpec:
    name: str
    description: str
    comparator: str  # one of COMPARATORS: the claim holds when `value comparator threshold`
    threshold: float
    provenance: str  # where the number comes from
    applies_to: tuple[str, ...] | None = None  # sizes; None = every model
    overrides: dict[str, float] = field(default_factory=dict)  # size -> threshold
    tolerance: float | None = None  # metric drift allowed against a baseline run
    # when the comparator and threshold took their current form: commit, date, after_real, note (``Fixed``)
    fixed: Fixed | None = None

    def applies(self, size: str | None) -> bool:
        return self.applies_to is None or size in self.applies_to

    def threshold_for(self, size: str | None) -> float:
        return self.overrides.get(size, self.threshold) if size else self.threshold

    def passes(self, value: float, size: str | None) -> bool:
        """``value comparator threshold``; NaN never passes."""
        if value is None or math.isnan(value):
            return False
        threshold = self.threshold_for(size)
        return {
            "<": value < threshold,
            "<=": value <= threshold,
            ">": value > threshold,
            ">=": value >= threshold,
        }[self.comparator]


@dataclass(frozen=True)
class ClaimSpec:
    id: str
    statement: str
    section: str  # the post's section the claim comes from
    marker: str  # "encoder" or "decoder"
    function: str  # "module:name" of the function that measures it (``runner.claim_function``)
    key_metric: str  # the metric shown in summaries and badges
    metrics: dict[str, MetricSpec]
    applies_to: tuple[str, ...] | None = None  # sizes; None = every model
    params: dict[str, Any] = field(default_factory=dict)  # keyword arguments of the claim function
    post_figures: tuple[str, ...] = ()  # asset names of the post's figures for this claim
    post_transcripts: dict[str, str] = field(default_factory=dict)  # label -> the post's published transcript
    size_params: dict[str, dict[str, Any]] = field(default_factory=dict)  # size -> params replaced for it
    slow: bool = False  # over a minute on a 2-core CPU: marked ``slow``, so ``-m "not slow"`` leaves it out
    experiment: str | None = None  # the [experiments.<name>] entry that gives its shared keys
    # dotted keys written elsewhere ("params.clip" -> "experiments.chop-mid.params.clip"), for messages
    sources: dict[str, str] = field(default_factory=dict)

    def source(self, dotted: str) -> str:
        """Where a key of this claim is written: in an experiment, a clip set, or ``claims.<id>.<key>``."""
        return self.sources.get(dotted, f"claims.{self.id}.{dotted}")

    def applies(self, size: str | None) -> bool:
        return self.applies_to is None or size in self.applies_to

    def params_for(self, size: str | None) -> dict[str, Any]:
        """The claim function's keyword arguments for a model of ``size`` (e.g. micro's own clip)."""
        return {**self.params, **self.size_params.get(size, {})}


def check_params(registry: dict[str, ClaimSpec], functions: dict[str, Any], path: str | Path) -> None:
    """Check every claim's ``params`` (and ``size_params``) against the keyword arguments of the function
    that measures it (``functions``: claim id → function): a name the function does not take, a value of
    another type than the argument's default, or an argument without a default that the entry does not
    give, is an error naming the entry.

    Raises
    ------
    ThresholdsError
    """
    for claim_id, spec in registry.items():
        function = functions[claim_id]
        signature = inspect.signature(function)
        keywords = {name: p for name, p in signature.parameters.items()
                    if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and name not in RUNNER_ARGUMENTS}
        hints = _type_hints(function)
        for table, params in _param_tables(spec):
            for key, value in params.items():
                where = f"thresholds file {path}: {spec.source(f'{table}.{key}')}"
                if key not in keywords:
                    hint = did_you_mean(key, keywords)
                    raise ThresholdsError(f"{where}: {function.__name__}() takes no argument {key!r}{hint}; "
                                          f"it takes {', '.join(keywords)}")
                expected = _expected_type(keywords[key].default)
                if expected is not None and not _is_a(value, expected):
                    raise ThresholdsError(f"{where}: {value!r} is a {_toml_type(value)}, expected "
                                          f"{_TYPE_NAMES.get(expected, expected.__name__)} "
                                          f"(the default is {keywords[key].default!r})")
                problem = _nonconforming(value, hints.get(key), "")
                if problem is not None:
                    inner, found, wanted = problem
                    raise ThresholdsError(f"{where}{inner}: {found}, expected {wanted}")
        missing = [name for name, p in keywords.items() if p.default is p.empty and name not in spec.params]
        if missing:
            raise ThresholdsError(f"thresholds file {path}: {spec.source('params')}: {function.__name__}() needs "
                                  f"{', '.join(missing)}, which the entry does not give")


def _type_hints(function: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except (NameError, TypeError):  # an annotation this Python cannot evaluate: no nested checks
        return {}


def _nonconforming(value: Any, hint: Any, where: str) -> tuple[str, str, str] | None:
    """Where in ``value`` (``[0].top``) it does not match the annotation ``hint`` (lists, tables of a
    TypedDict, numbers, strings), with what is there and what was expected; None when it matches.
    Integers are never negative: every integer argument is a count, an index, a size or a seed."""
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return where, f"{value!r} is negative", "an integer ≥ 0 (a count, index, size or seed)"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in _TYPE_NAMES:
        if not _is_a(value, hint):
            return where, f"{value!r} is a {_toml_type(value)}", _TYPE_NAMES[hint]
        return None
    if origin in (list, tuple, collections.abc.Sequence) and args:
        if not isinstance(value, list):
            return where, f"{value!r} is a {_toml_type(value)}", "a list"
        for i, item in enumerate(value):
            problem = _nonconforming(item, args[0], f"{where}[{i}]")
            if problem is not None:
                return problem
        return None
    if typing.is_typeddict(hint):
        fields = typing.get_type_hints(hint)
        if not isinstance(value, dict):
            return where, f"{value!r} is a {_toml_type(value)}", f"a table of {', '.join(fields)}"
        unknown = sorted(set(value) - set(fields))
        missing = sorted(hint.__required_keys__ - set(value))
        if unknown or missing:
            found = f"has {', '.join(unknown)}" if unknown else f"lacks {', '.join(missing)}"
            return where, f"the table {found}", f"a table of {', '.join(fields)}"
        for name, item in value.items():
            problem = _nonconforming(item, fields[name], f"{where}.{name}")
            if problem is not None:
                return problem
        return None
    if isinstance(value, (list, dict)):  # not described by the annotation: its integers are still checked
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for name, item in items:
            problem = _nonconforming(item, None, f"{where}.{name}" if isinstance(value, dict) else f"{where}[{name}]")
            if problem is not None:
                return problem
    return None


def _param_tables(spec: ClaimSpec) -> list[tuple[str, dict[str, Any]]]:
    """``("params", params)`` and ``("size_params.<size>", replaced)`` of a claim: every table of arguments."""
    return [("params", spec.params)] + [(f"size_params.{size}", params) for size, params in spec.size_params.items()]


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false", list: "a list",
               dict: "a table"}


def _expected_type(default: Any) -> type | None:
    if default is inspect.Parameter.empty or default is None:
        return None
    if isinstance(default, bool):
        return bool
    if isinstance(default, (int, float, str, dict)):
        return type(default)
    if isinstance(default, (list, tuple)):
        return list
    return None


def _is_a(value: Any, expected: type) -> bool:
    if expected is bool:
        return isinstance(value, bool)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _toml_type(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "list",
            dict: "table"}.get(type(value), type(value).__name__)


ASSET_SUFFIXES = (".wav", ".flac", ".TextGrid", ".lab", ".tsv")


def check_clips(registry: dict[str, ClaimSpec], assets: set[str], path: str | Path) -> None:
    """Every ``clip`` a claim names (``params`` and ``size_params``), and every file of its clip set's
    ``recordings``, must be an asset of the manifests.

    Raises
    ------
    ThresholdsError
        Naming the entry, the clip and close matches.
    """
    for claim_id, spec in registry.items():
        for table, params in _param_tables(spec):
            named = [("clip", params["clip"])] if "clip" in params else []
            # a clip set's recordings: [audio, alignment or transcript]; the files among them are assets
            for i, entry in enumerate(params.get("recordings", [])):
                entry = entry if isinstance(entry, list) else [entry]
                named += [(f"recordings[{i}]", x) for k, x in enumerate(entry)
                          if k == 0 or str(x).endswith(ASSET_SUFFIXES)]
            for key, clip in named:
                if not isinstance(clip, str) or clip not in assets:
                    hint = did_you_mean(clip, sorted(assets), n=2, quote=False)
                    name, bracket, index = key.partition("[")  # recordings[3] is written where recordings is
                    raise ThresholdsError(f"thresholds file {path}: {spec.source(f'{table}.{name}')}{bracket}{index}: "
                                          f"{clip!r} names no asset of fixtures/assets.tsv or fixtures/micro/clips.tsv"
                                          f"{hint}")


def default_thresholds_path() -> Path:
    """``claims/thresholds.toml`` of the checkout this package lives in."""
    return PROJECT / "claims" / "thresholds.toml"


def load_registry(path: str | Path | None = None) -> dict[str, ClaimSpec]:
    """Read and validate the thresholds file.

    Raises
    ------
    ThresholdsError
        Naming the file and the entry (``claims.<id>.metrics.<name>``) with what was expected.
    """
    path = Path(path) if path is not None else default_thresholds_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ThresholdsError(f"thresholds file {path}: no such file (set it with --claims-thresholds)") from None
    except IsADirectoryError:
        raise ThresholdsError(f"thresholds file {path}: a folder; expected a TOML file "
                              f"(set it with --claims-thresholds=PATH)") from None
    except UnicodeDecodeError as error:
        raise ThresholdsError(f"thresholds file {path}: not UTF-8 text ({error}); expected a TOML file") from None
    except OSError as error:
        raise ThresholdsError(f"thresholds file {path}: cannot be read ({error.strerror or error})") from None
    except tomllib.TOMLDecodeError as error:
        raise ThresholdsError(f"thresholds file {path}: not valid TOML: {error}") from None
    where = f"thresholds file {path}"
    _check_keys(data, {"schema_version": True, "clip_sets": False, "experiments": False, "claims": True}, where)
    if type(data["schema_version"]) is not int or data["schema_version"] != SCHEMA_VERSION:
        raise ThresholdsError(f"{where}: schema_version is {data['schema_version']!r}, expected {SCHEMA_VERSION}")
    clip_sets = _table(data.get("clip_sets", {}), f"{where}: clip_sets")
    for name, clip_set in clip_sets.items():
        _check_keys(_table(clip_set, f"{where}: clip_sets.{name}"), {"recordings": True, "sentences": True},
                    f"{where}: clip_sets.{name}")
    experiments = _table(data.get("experiments", {}), f"{where}: experiments")
    for name, experiment in experiments.items():
        at = f"{where}: experiments.{name}"
        _check_keys(_table(experiment, at), _EXPERIMENT_KEYS, at)
    claims = _table(data["claims"], f"{where}: claims")
    unused = set(experiments) - {_table(e, f"{where}: claims.{c}").get("experiment") for c, e in claims.items()}
    if unused:
        raise ThresholdsError(f"{where}: experiments.{sorted(unused)[0]}: no claim names it (experiment = "
                              f"\"{sorted(unused)[0]}\")")
    registry = {}
    for claim_id, entry in claims.items():
        entry, experiment, sources = _with_experiment(claim_id, entry, experiments, where)
        entry, named = _with_clip_sets(claim_id, entry, clip_sets, sources, where)
        registry[claim_id] = _claim(claim_id, entry, experiment, named, f"{where}: claims.{claim_id}")
    used = {source.split(".")[1] for spec in registry.values() for source in spec.sources.values()
            if source.startswith("clip_sets.")}
    unused = sorted(set(clip_sets) - used)
    if unused:
        raise ThresholdsError(f"{where}: clip_sets.{unused[0]}: no params name it (clip_set = \"{unused[0]}\")")
    return registry


def _with_experiment(claim_id: str, entry: dict, experiments: dict, where: str) -> tuple[dict, str | None, dict]:
    """The claim's entry with its experiment's keys put in (``params`` and ``size_params`` merged key by
    key), the experiment's name, and where each key it gave is written. A key written in both is an error."""
    name = entry.get("experiment")
    if name is None:
        return entry, None, {}
    at = f"{where}: claims.{claim_id}.experiment"
    if not isinstance(name, str) or name not in experiments:
        hint = did_you_mean(name, experiments, form=" ({})") if isinstance(name, str) else ""
        raise ThresholdsError(f"{at}: {name!r} names no [experiments.…] entry{hint}; experiments: "
                              f"{', '.join(experiments) or 'none'}")
    experiment = experiments[name]
    merged = {key: value for key, value in entry.items() if key != "experiment"}
    shared = []
    for key, value in experiment.items():
        if key == "params":
            own = _table(merged.get("params", {}), f"{where}: claims.{claim_id}.params")
            merged["params"] = _merged(value, own, f"experiments.{name}.params", f"claims.{claim_id}.params", where)
            shared += [f"params.{k}" for k in value]
        elif key == "size_params":
            own_sizes = _table(merged.get("size_params", {}), f"{where}: claims.{claim_id}.size_params")
            sizes = dict(own_sizes)
            for size, replaced in _table(value, f"{where}: experiments.{name}.size_params").items():
                own = _table(own_sizes.get(size, {}), f"{where}: claims.{claim_id}.size_params.{size}")
                sizes[size] = _merged(replaced, own, f"experiments.{name}.size_params.{size}",
                                      f"claims.{claim_id}.size_params.{size}", where)
                shared += [f"size_params.{size}.{k}" for k in replaced]
            merged["size_params"] = sizes
        elif key in merged:
            raise ThresholdsError(f"{where}: claims.{claim_id}.{key}: written twice; experiments.{name}.{key} gives it")
        else:
            merged[key] = value
            shared.append(key)
    return merged, name, {key: f"experiments.{name}.{key}" for key in shared}


def _with_clip_sets(claim_id: str, entry: dict, clip_sets: dict, sources: dict, where: str) -> tuple[dict, dict]:
    """``clip_set = "<name>"`` in ``params`` or a ``size_params`` table replaced by that clip set's
    ``recordings`` and ``sentences`` (written once, in ``[clip_sets.<name>]``)."""
    sources = dict(sources)
    sizes = entry.get("size_params", {})
    if not isinstance(sizes, dict) or not isinstance(entry.get("params", {}), dict):
        return entry, sources  # not tables: `_claim` says so
    tables = [("params", entry.get("params"))] + [(f"size_params.{size}", table) for size, table in sizes.items()]
    expanded = {}
    for dotted, table in tables:
        if not isinstance(table, dict) or "clip_set" not in table:
            expanded[dotted] = table
            continue
        at = sources.get(f"{dotted}.clip_set", f"claims.{claim_id}.{dotted}.clip_set")
        name = table["clip_set"]
        if not isinstance(name, str) or name not in clip_sets:
            hint = did_you_mean(name, clip_sets, form=" ({})") if isinstance(name, str) else ""
            raise ThresholdsError(f"{where}: {at}: {name!r} names no [clip_sets.…] entry{hint}; clip sets: "
                                  f"{', '.join(clip_sets) or 'none'}")
        twice = sorted(set(table) & set(clip_sets[name]))
        if twice:
            raise ThresholdsError(f"{where}: {at.rsplit('.', 1)[0]}.{twice[0]}: written twice; "
                                  f"clip_sets.{name}.{twice[0]} gives it")
        expanded[dotted] = {**{k: v for k, v in table.items() if k != "clip_set"}, **clip_sets[name]}
        sources.pop(f"{dotted}.clip_set", None)
        sources.update({f"{dotted}.{key}": f"clip_sets.{name}.{key}" for key in clip_sets[name]})
    entry = dict(entry)
    if "params" in entry:
        entry["params"] = expanded["params"]
    entry["size_params"] = {d.split(".", 1)[1]: t for d, t in expanded.items() if d != "params"}
    return entry, sources


def _merged(shared: Any, own: dict, shared_where: str, own_where: str, where: str) -> dict:
    shared = _table(shared, f"{where}: {shared_where}")
    twice = sorted(set(shared) & set(own))
    if twice:
        raise ThresholdsError(f"{where}: {own_where}.{twice[0]}: written twice; {shared_where}.{twice[0]} gives it")
    return {**shared, **own}


def _claim(claim_id: str, entry: Any, experiment: str | None, sources: dict, where: str) -> ClaimSpec:
    entry = _table(entry, where)
    _check_keys(entry, _CLAIM_KEYS, where)
    for key in ("statement", "section", "marker", "function", "key_metric"):
        _string(entry[key], f"{where}.{key}")
    if entry["marker"] not in MARKERS:
        raise ThresholdsError(f"{where}.marker: {entry['marker']!r}, expected one of {', '.join(MARKERS)}")
    if not _FUNCTION.fullmatch(entry["function"]):
        raise ThresholdsError(f"{where}.function: {entry['function']!r}, expected \"module:function\" "
                              f"(e.g. \"whisper_claims.claims.encoder:enc_chop\")")
    if not isinstance(entry.get("slow", False), bool):
        raise ThresholdsError(f"{where}.slow: {entry['slow']!r}, expected true or false")
    metrics = {
        name: _metric(name, spec, f"{where}.metrics.{name}")
        for name, spec in _table(entry["metrics"], f"{where}.metrics").items()
    }
    if not metrics:
        raise ThresholdsError(f"{where}.metrics: a claim needs at least one metric")
    if entry["key_metric"] not in metrics:
        raise ThresholdsError(
            f"{where}.key_metric: {entry['key_metric']!r} is not one of its metrics ({', '.join(metrics)})"
        )
    size_params = _table(entry.get("size_params", {}), f"{where}.size_params")
    for size, replaced in size_params.items():
        _sizes([size], f"{where}.size_params")
        for key in _table(replaced, f"{where}.size_params.{size}"):
            if key not in entry.get("params", {}):
                raise ThresholdsError(f"{where}.size_params.{size}.{key}: replaces no key of {where}.params")
    figures = entry.get("post_figures", [])
    if not isinstance(figures, list) or not all(isinstance(f, str) for f in figures):
        raise ThresholdsError(f"{where}.post_figures: expected a list of asset names")
    transcripts = _table(entry.get("post_transcripts", {}), f"{where}.post_transcripts")
    for label, text in transcripts.items():
        if not isinstance(text, str):  # may be empty: the post's k = 10 transcript is
            raise ThresholdsError(f"{where}.post_transcripts.{label}: expected a string, got {text!r}")
    return ClaimSpec(
        id=claim_id,
        statement=entry["statement"],
        section=entry["section"],
        marker=entry["marker"],
        function=entry["function"],
        key_metric=entry["key_metric"],
        metrics=metrics,
        applies_to=_sizes(entry.get("applies_to", "all"), f"{where}.applies_to"),
        params=dict(_table(entry.get("params", {}), f"{where}.params")),
        post_figures=tuple(figures),
        post_transcripts=dict(transcripts),
        size_params={size: dict(replaced) for size, replaced in size_params.items()},
        slow=entry.get("slow", False),
        experiment=experiment,
        sources=sources,
    )


def _metric(name: str, entry: Any, where: str) -> MetricSpec:
    entry = _table(entry, where)
    if "fixed" not in entry:  # every metric says when its bar was fixed, so that a new one must too
        raise ThresholdsError(f'{where}: missing \'fixed\': when the threshold was fixed, {{commit = "abc1234", '
                              f'date = "YYYY-MM-DD", after_real = true|false}} (see the header of the thresholds file)')
    _check_keys(entry, _METRIC_KEYS, where)
    _string(entry["description"], f"{where}.description")
    _string(entry["provenance"], f"{where}.provenance")
    if entry["comparator"] not in COMPARATORS:
        raise ThresholdsError(
            f"{where}.comparator: {entry['comparator']!r}, expected one of {' '.join(COMPARATORS)}"
        )
    overrides = _table(entry.get("overrides", {}), f"{where}.overrides")
    for size, value in overrides.items():
        _sizes([size], f"{where}.overrides")
        _number(value, f"{where}.overrides.{size}")
    tolerance = entry.get("tolerance")
    if tolerance is not None and _number(tolerance, f"{where}.tolerance") < 0:
        raise ThresholdsError(f"{where}.tolerance: {tolerance!r}, expected a number >= 0")
    return MetricSpec(
        name=name,
        description=entry["description"],
        comparator=entry["comparator"],
        threshold=_number(entry["threshold"], f"{where}.threshold"),
        provenance=entry["provenance"],
        applies_to=_sizes(entry.get("applies_to", "all"), f"{where}.applies_to"),
        overrides={size: float(value) for size, value in overrides.items()},
        tolerance=None if tolerance is None else float(tolerance),
        fixed=_fixed(entry["fixed"], f"{where}.fixed"),
    )


def _fixed(entry: Any, where: str) -> Fixed:
    """A metric's ``fixed`` table, checked: a hash, an ISO date, after_real that agrees with the date."""
    expected = ('expected {commit = "abc1234", date = "YYYY-MM-DD", after_real = true|false, note = "..."} '
                "(when the threshold was fixed; see the header of the thresholds file)")
    if not isinstance(entry, dict):
        raise ThresholdsError(f"{where}: {entry!r}, {expected}")
    _check_keys(entry, _FIXED_KEYS, where)
    commit, date, after_real = entry["commit"], entry["date"], entry["after_real"]
    if not isinstance(commit, str) or not _COMMIT.fullmatch(commit):
        raise ThresholdsError(f"{where}.commit: {commit!r}, expected a commit hash (7 to 40 lowercase hex digits)")
    try:
        day = datetime.date.fromisoformat(date) if isinstance(date, str) and len(date) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise ThresholdsError(f"{where}.date: {date!r}, expected the commit's date as a string \"YYYY-MM-DD\"")
    if not isinstance(after_real, bool):
        raise ThresholdsError(f"{where}.after_real: {after_real!r}, expected true or false")
    # on the day itself either can be true: the first real measurement came mid-day
    if day != FIRST_REAL_MEASUREMENT and after_real != (day > FIRST_REAL_MEASUREMENT):
        side = "after" if day > FIRST_REAL_MEASUREMENT else "before"
        raise ThresholdsError(f"{where}.after_real: {str(after_real).lower()}, but {date} is {side} the first "
                              f"measurement of a real checkpoint ({FIRST_REAL_MEASUREMENT.isoformat()}): expected "
                              f"after_real = {str(not after_real).lower()}")
    note = entry.get("note", "")
    if "note" in entry:
        _string(note, f"{where}.note")
    return Fixed(commit=commit, date=date, after_real=after_real, note=note)


def _check_keys(entry: dict, allowed: dict[str, bool], where: str) -> None:
    for key in entry:
        if key not in allowed:
            hint = did_you_mean(key, allowed, form=" ({})")
            raise ThresholdsError(f"{where}: unknown key {key!r}{hint}; allowed: {', '.join(allowed)}")
    missing = [key for key, required in allowed.items() if required and key not in entry]
    if missing:
        raise ThresholdsError(f"{where}: missing {', '.join(repr(k) for k in missing)}")


def _table(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise ThresholdsError(f"{where}: expected a table, got {type(value).__name__}")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ThresholdsError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ThresholdsError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _sizes(value: Any, where: str) -> tuple[str, ...] | None:
    if value == "all":
        return None
    if not isinstance(value, list) or not value:
        raise ThresholdsError(f"{where}: expected \"all\" or a non-empty list of sizes, got {value!r}")
    for size in value:
        if size not in SIZES:
            hint = did_you_mean(size, SIZES, form=" ({})")
            raise ThresholdsError(f"{where}: unknown size {size!r}{hint}; sizes are {', '.join(SIZES)}")
    return tuple(value)
