"""Task 3 checks: feature engineering."""

from __future__ import annotations

from typing import Any

from grader.checks import CheckFn
from grader.checks import Outcome
from grader.checks import failed
from grader.checks import graded
from grader.checks import passed
from grader.checks.common import candidate_frames
from grader.models import Evidence


def _pipeline_encoded(ev: Evidence, variables: list[str]) -> set[str]:
    """Categoricals a fitted pipeline takes raw and still predicts on (so it encodes them itself)."""
    out: set[str] = set()
    for est in ev.probe.estimators:
        if est.test is not None and est.test.pred is not None:
            out |= {v for v in variables if v in est.feature_names}
    return out


def categoricals_encoded(ev: Evidence, params: dict[str, Any]) -> Outcome:
    variables = params["variables"]
    best: dict[str, list[str]] = {}
    where = ""
    for f in candidate_frames(ev):
        groups = {v: cols for v, cols in f.onehot_groups.items() if v in variables}
        if len(groups) > len(best):
            best, where = groups, f.name
    covered = set(best) | _pipeline_encoded(ev, variables)
    if not covered:
        return failed("none of " + ", ".join(variables) + " was encoded")
    how = f"one-hot columns in '{where}'" if best else "encoded inside a fitted pipeline"
    missing = [v for v in variables if v not in covered]
    return graded(len(covered) / len(variables), f"{len(covered)} of {len(variables)} categoricals encoded ({how})"
                  + (f"; not encoded: {', '.join(missing)}" if missing else ""),
                  encoded=sorted(covered), missing=missing, frame=where or None)


def model_input_numeric(ev: Evidence, params: dict[str, Any]) -> Outcome:
    """The table a fitted model was evaluated on has no string columns (or a pipeline encodes them)."""
    frames = {f.name: f for f in ev.probe.frames}
    seen = []
    for est in ev.probe.estimators:
        if est.test is None or est.test.pred is None:
            continue
        f = frames.get(est.test.x_name)
        if est.is_pipeline or f is None or not f.string_columns:
            return passed(f"'{est.name}' predicts on '{est.test.x_name}' with no raw string columns"
                          + (" (its pipeline encodes them)" if est.is_pipeline else ""), model=est.name)
        seen.append(f"{f.name}: {', '.join(f.string_columns[:5])}")
    if seen:
        return failed("string columns reach the model: " + "; ".join(seen))
    frames_num = [f for f in candidate_frames(ev) if f.onehot_groups and not f.string_columns]
    if frames_num:
        return graded(0.5, f"'{frames_num[0].name}' is numeric, but no fitted model was found that uses it",
                      frame=frames_num[0].name)
    return failed("no model-ready numeric table was found")


def engineered_features(ev: Evidence, params: dict[str, Any]) -> Outcome:
    """Features beyond the encoding and the Task 1 time columns (per-user aggregates, segments...)."""
    need = params.get("min_extra", 1)
    time_cols = {c for f in ev.probe.frames for c in f.hour_columns + f.weekday_columns}
    ignore = set(params.get("ignore", [])) | time_cols
    extra: set[str] = set()
    for f in candidate_frames(ev):
        extra |= {c for c in f.extra_features if c not in ignore}
    if not extra:
        return failed("no engineered feature beyond the encoding and hour/weekday", count=0)
    return graded(len(extra) / need, f"{len(extra)} engineered feature(s): {', '.join(sorted(extra)[:8])}",
                  count=len(extra), features=sorted(extra)[:20])


CHECKS: dict[str, CheckFn] = {
    "categoricals_encoded": categoricals_encoded,
    "model_input_numeric": model_input_numeric,
    "engineered_features": engineered_features,
}
