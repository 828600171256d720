"""Task 2 checks: exploratory data analysis."""

from __future__ import annotations

from typing import Any

from grader.checks import CheckFn
from grader.checks import Outcome
from grader.checks import failed
from grader.checks import graded
from grader.checks.common import first
from grader.checks.common import task_cells
from grader.models import Evidence


def descriptive_stats(ev: Evidence, params: dict[str, Any]) -> Outcome:
    """Statistics for numeric columns (describe) and categorical ones (value counts, describe(include=...))."""
    numeric = ev.outputs.get("describe_cells", [])
    categorical = ev.outputs.get("categorical_stats_cells", [])
    calls = ev.probe.calls
    has_num = bool(numeric) or calls.get("describe", 0) > 0
    has_cat = bool(categorical) or calls.get("value_counts", 0) > 0
    parts = [name for name, ok in (("numeric", has_num), ("categorical", has_cat)) if ok]
    if not parts:
        return failed("no descriptive statistics were shown (describe(), value_counts())")
    return graded(len(parts) / 2, "statistics shown for " + " and ".join(parts) + " columns",
                  cell=first(numeric + categorical), numeric=has_num, categorical=has_cat)


def labelled_figures(ev: Evidence, params: dict[str, Any]) -> Outcome:
    """At least ``min_figures`` figures with a title or axis labels, drawn in the task's cells."""
    task = params.get("task", 2)
    need = params.get("min_figures", 3)
    cells = task_cells(ev, task)
    figs = [f for f in ev.probe.figures if f.cell is None or f.cell in cells]
    labelled = [f for f in figs if f.title or (f.xlabel and f.ylabel)]
    titles = [f.title or f"{f.ylabel} vs {f.xlabel}" for f in labelled]
    return graded(len(labelled) / need, f"{len(labelled)} labelled figure(s) of {len(figs)} drawn",
                  cell=first([f.cell for f in labelled if f.cell is not None]), figures=len(figs),
                  labelled=len(labelled), titles=titles[:10], need=need)


CHECKS: dict[str, CheckFn] = {
    "descriptive_stats": descriptive_stats,
    "labelled_figures": labelled_figures,
}
