"""Task 5 checks: cross-validated search, best parameters, tuned model, importances."""

from __future__ import annotations

import re
from typing import Any

from grader.checks import CheckFn
from grader.checks import Outcome
from grader.checks import failed
from grader.checks import graded
from grader.checks import passed
from grader.checks.common import all_text
from grader.checks.common import matches
from grader.checks.common import task_cells
from grader.models import Evidence


def _searches(ev: Evidence):
    return [e for e in ev.probe.estimators if e.is_search and e.best_params is not None]


def cv_search(ev: Evidence, params: dict[str, Any]) -> Outcome:
    searches = _searches(ev)
    if not searches:
        return failed("no fitted cross-validated search (GridSearchCV or similar) was found")
    s = searches[0]
    n = len(s.cv_scores)
    return passed(f"{s.cls} tried {n} candidate(s), cv={s.cv}, scoring={s.scoring}", search=s.name,
                  candidates=n, cv=s.cv, scoring=s.scoring)


def best_params_reported(ev: Evidence, params: dict[str, Any]) -> Outcome:
    searches = _searches(ev)
    if not searches:
        return failed("no search, so no best parameters")
    best = searches[0].best_params or {}
    text = all_text(ev)
    lines = text.splitlines()

    def shown(key: str, value: str) -> bool:
        short = key.split("__")[-1]
        return any(short in line and re.search(rf"(?<![\w.]){re.escape(value)}(?![\w.])", line) for line in lines)

    found = [k for k, v in best.items() if shown(k, v)]
    return graded(len(found) / max(1, len(best)), f"{len(found)} of {len(best)} best parameters printed",
                  best_params=best)


def best_model_test_metric(ev: Evidence, params: dict[str, Any]) -> Outcome:
    """The tuned model was evaluated on the held-out rows, and the number was printed."""
    names = {s.name for s in _searches(ev)}
    tuned = [e for e in ev.evals if e.name in names or e.refit_by in names
             or any(e.name.startswith(n + ".") for n in names)]
    if not tuned:
        if names:
            return graded(0.25, "a search ran but its best model was never evaluated on held-out rows")
        return failed("no tuned model was found")
    printed = [p for p in ev.printed_metrics if not p.is_cv and not p.is_train]
    for e in tuned:
        for p in printed:
            value = getattr(e, p.metric)
            if value is not None and matches(p.value, p.decimals, value):
                return passed(f"tuned model's held-out {p.metric} {p.value} printed", cell=p.cell,
                              metric=p.metric, value=p.value, model=e.name)
    return graded(0.5, "the tuned model's held-out metrics were not printed", model=tuned[0].name)


def importance_plot(ev: Evidence, params: dict[str, Any]) -> Outcome:
    word = re.compile(params.get("pattern", r"importan|coef|shap|permutation"), re.I)
    cells = task_cells(ev, params.get("task", 5))
    figs = [f for f in ev.probe.figures if f.cell is None or f.cell in cells]
    named = [f for f in figs if word.search(f.title + " " + f.xlabel + " " + f.ylabel)]
    if named:
        return passed(f"importance plot: '{named[0].title or named[0].xlabel}'", cell=named[0].cell)
    if figs and any(e.has_importances for e in ev.probe.estimators):
        return graded(0.5, "a figure was drawn, but it is not labelled as feature importance", cell=figs[0].cell)
    return failed("no feature-importance plot was drawn")


CHECKS: dict[str, CheckFn] = {
    "cv_search": cv_search,
    "best_params_reported": best_params_reported,
    "best_model_test_metric": best_model_test_metric,
    "importance_plot": importance_plot,
}
