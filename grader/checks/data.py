"""Task 1 checks: loading and preprocessing."""

from __future__ import annotations

from typing import Any

from grader.checks import CheckFn
from grader.checks import Outcome
from grader.checks import failed
from grader.checks import graded
from grader.checks import passed
from grader.checks.common import candidate_frames
from grader.checks.common import first
from grader.checks.common import records
from grader.models import Evidence


def data_loaded(ev: Evidence, params: dict[str, Any]) -> Outcome:
    """A DataFrame of the candidate's own with the source columns and (about) all rows."""
    want = params["columns"]
    min_rows = params.get("min_rows", 1400)
    best = max(candidate_frames(ev), key=lambda f: (len(set(want) & set(f.source_columns)), f.shape[0]),
               default=None)
    if best is None:
        return failed("no DataFrame of your own was found after the run", n_frames=0)
    have = [c for c in want if c in best.source_columns]
    missing = [c for c in want if c not in best.source_columns]
    if not missing and best.shape[0] >= min_rows:
        return passed(f"'{best.name}' holds {best.shape[0]} rows with all {len(want)} source columns",
                      frame=best.name, rows=best.shape[0])
    frac = 0.5 if len(have) >= len(want) - 2 else 0.0
    return graded(frac, f"closest DataFrame '{best.name}' has {best.shape[0]} rows; missing columns: "
                  f"{', '.join(missing) or 'none'}", frame=best.name, rows=best.shape[0], missing=missing)


def timestamp_parsed(ev: Evidence, params: dict[str, Any]) -> Outcome:
    frames = [f for f in candidate_frames(ev) if f.timestamp_is_datetime]
    if frames:
        return passed(f"'timestamp' is a datetime column in '{frames[0].name}'", frame=frames[0].name)
    return failed("no DataFrame of yours has 'timestamp' as a datetime column")


def time_features(ev: Evidence, params: dict[str, Any]) -> Outcome:
    """Integer columns equal to the hour (0-23) and weekday (0-6) recomputed from the timestamp."""
    frames = candidate_frames(ev)
    hour = next((f for f in frames if f.hour_columns), None)
    week = next((f for f in frames if f.weekday_columns), None)
    facts = {"hour": hour.hour_columns[0] if hour else None, "weekday": week.weekday_columns[0] if week else None}
    found = [k for k in ("hour", "weekday") if facts[k]]
    detail = ("columns matching the timestamp: " + ", ".join(f"{k} = '{facts[k]}'" for k in found)) if found \
        else "no integer column equals the hour or weekday of the timestamp"
    return graded(len(found) / 2, detail, **facts)


def missing_values_checked(ev: Evidence, params: dict[str, Any]) -> Outcome:
    calls = {k: v for k, v in ev.probe.calls.items() if k in params.get("calls", ["isna", "isnull", "info"])}
    if calls:
        return passed("missing values were checked: " + ", ".join(f"{k}() x{v}" for k, v in sorted(calls.items())),
                      calls=calls)
    return failed("no missing-value check ran (for example df.isna().sum())")


def head_shown(ev: Evidence, params: dict[str, Any]) -> Outcome:
    cells = [r.index for r in records(ev) if r.index in ev.outputs.get("head_cells", [])]
    if ev.probe.calls.get("head") or cells:
        return passed("the first rows were displayed", cell=first(cells))
    return failed("the first rows of the data were not displayed")


CHECKS: dict[str, CheckFn] = {
    "data_loaded": data_loaded,
    "timestamp_parsed": timestamp_parsed,
    "time_features": time_features,
    "missing_values_checked": missing_values_checked,
    "head_shown": head_shown,
}
