"""Task 4 checks: split, model, metrics recomputed by the grader, leakage awareness."""

from __future__ import annotations

import re
from typing import Any

from grader.checks import CheckFn
from grader.checks import Outcome
from grader.checks import failed
from grader.checks import graded
from grader.checks import passed
from grader.checks import skipped
from grader.checks.common import best_eval
from grader.checks.common import first
from grader.checks.common import hanley_mcneil_se
from grader.checks.common import task_cells
from grader.models import Evidence

METRICS = ("accuracy", "roc_auc", "precision", "recall", "f1")


def holdout_split(ev: Evidence, params: dict[str, Any]) -> Outcome:
    lo, hi = params.get("min_fraction", 0.1), params.get("max_fraction", 0.4)
    sizes = [(s.n_train, s.n_test, s.overlap) for s in ev.probe.splits]
    sizes += [(e.fit_rows, e.n_test, e.train_overlap or 0) for e in ev.evals if e.fit_rows]
    if not sizes:
        return failed("no train/test split was found")
    n_train, n_test, overlap = max(sizes, key=lambda s: (lo <= s[1] / (s[0] + s[1]) <= hi, s[2] == 0))
    frac = n_test / (n_train + n_test)
    facts = {"n_train": n_train, "n_test": n_test, "test_fraction": round(frac, 3)}
    if not lo <= frac <= hi:
        return graded(0.5, f"held-out share {frac:.0%} is outside {lo:.0%}-{hi:.0%}", **facts)
    if overlap > 0:
        return graded(0.5, f"{overlap} held-out rows also appear in training", **facts)
    return passed(f"{n_train} training and {n_test} held-out rows ({frac:.0%})", **facts)


def fitted_classifier(ev: Evidence, params: dict[str, Any]) -> Outcome:
    models = [e for e in ev.probe.estimators if e.is_classifier and not e.is_search]
    if not models:
        models = [e for e in ev.probe.estimators if e.is_classifier]
    if not models:
        return failed("no fitted classifier was found after the run")
    names = sorted({m.final_estimator or m.cls for m in models})
    return passed(f"fitted: {', '.join(names)}", models=names)


def auc_vs_ceiling(ev: Evidence, params: dict[str, Any]) -> Outcome:
    """Held-out ROC AUC, recomputed by the grader, judged against the ceiling of the model's own features."""
    best = best_eval(ev)
    if best is None or best.roc_auc is None:
        return failed("no held-out probability scores to recompute ROC AUC from")
    ceiling = best.ceiling_auc
    verified = ceiling is not None
    if ceiling is None:
        ceiling = params["ceiling_with_action"] if best.uses_action is not False else params["ceiling_without_action"]
    se = hanley_mcneil_se(ceiling, best.n_pos, best.n_neg)
    tol = max(params.get("tolerance", 0.03), params.get("se_multiplier", 2.0) * se)
    gap = ceiling - best.roc_auc
    facts = {"auc": round(best.roc_auc, 4), "ceiling": round(ceiling, 4), "model": best.name,
             "uses_action": best.uses_action, "verified": verified, "labels": best.labels_source,
             "tolerance": round(tol, 4)}
    where = "" if verified else " (rows unverifiable: the ceiling is the data's typical value)"
    facts["where"] = where
    if gap <= tol:
        return passed(f"ROC AUC {best.roc_auc:.3f} against a ceiling of {ceiling:.3f}{where}", **facts)
    if gap <= params.get("partial_tolerance", 0.1) + tol:
        return graded(0.5, f"ROC AUC {best.roc_auc:.3f} is {gap:.3f} below the ceiling of {ceiling:.3f}{where}",
                      **facts)
    return failed(f"ROC AUC {best.roc_auc:.3f} is far below the ceiling of {ceiling:.3f}{where}", **facts)


def metrics_reported(ev: Evidence, params: dict[str, Any]) -> Outcome:
    """The five metrics were printed (a classification report covers precision, recall and F1)."""
    wanted = params.get("metrics", list(METRICS))
    printed = {m.metric for m in ev.printed_metrics if not m.is_train}
    if params.get("report_counts", True) and ev.outputs.get("report_cells"):
        printed |= {"precision", "recall", "f1"}
    have = [m for m in wanted if m in printed]
    missing = [m for m in wanted if m not in printed]
    cells = [m.cell for m in ev.printed_metrics]
    if not have:
        return failed("no labelled metric was printed")
    return graded(len(have) / len(wanted), f"reported: {', '.join(have)}"
                  + (f"; missing: {', '.join(missing)}" if missing else ""),
                  cell=first(cells), reported=have, missing=missing)


def confusion_matrix_shown(ev: Evidence, params: dict[str, Any]) -> Outcome:
    cells = ev.outputs.get("confusion_cells", [])
    figs = [f for f in ev.probe.figures if "confusion" in (f.title + f.xlabel + f.ylabel).lower()]
    if cells or figs:
        return passed("a confusion matrix was shown", cell=first(cells) if cells else figs[0].cell)
    return failed("no confusion matrix was shown")


def classification_report_shown(ev: Evidence, params: dict[str, Any]) -> Outcome:
    cells = ev.outputs.get("report_cells", [])
    if cells:
        return passed("a classification report was printed", cell=first(cells))
    return failed("no classification report was printed")


def leakage_awareness(ev: Evidence, params: dict[str, Any]) -> Outcome:
    """Credit for noticing that ``action`` almost is the label, in words or by comparing models."""
    phrases = [re.compile(p, re.I) for p in params["phrases"]]
    subject = re.compile(params.get("subject", r"\baction\b"), re.I)
    headings = {t.heading_cell for t in ev.submission.tasks.values()}
    for cell in ev.submission.cells:
        if cell.task == "setup" or cell.index in headings:
            continue
        text = cell.source if cell.cell_type == "markdown" else "\n".join(
            line.split("#", 1)[1] for line in cell.source.splitlines() if "#" in line)
        hits = [p.pattern for p in phrases if p.search(text)]
        if hits and subject.search(text):
            return passed("the notebook discusses the leakage through 'action'", cell=cell.index, matched=hits[:5])
    with_action = [e for e in ev.evals if e.uses_action is True and e.roc_auc is not None]
    without = [e for e in ev.evals if e.uses_action is False and e.roc_auc is not None]
    if with_action and without:
        return passed("models with and without 'action' were compared",
                      models=[with_action[0].name, without[0].name])
    if not ev.evals and not ev.submission.cells:
        return skipped("nothing to look at")
    return failed("the notebook does not remark that 'action' almost determines engagement")


def task_ran(ev: Evidence, params: dict[str, Any]) -> Outcome:
    """The task's code cells ran without errors."""
    cells = task_cells(ev, params["task"])
    recs = [r for r in ev.run.cells if r.index in cells and r.status != "skipped"]
    if not recs:
        return failed("the task has no code")
    bad = [r for r in recs if r.status != "ok"]
    return graded(1 - len(bad) / len(recs), f"{len(recs) - len(bad)} of {len(recs)} code cells ran cleanly",
                  cell=first([r.index for r in bad]), failed_cells=[r.index for r in bad])


CHECKS: dict[str, CheckFn] = {
    "holdout_split": holdout_split,
    "fitted_classifier": fitted_classifier,
    "auc_vs_ceiling": auc_vs_ceiling,
    "metrics_reported": metrics_reported,
    "confusion_matrix_shown": confusion_matrix_shown,
    "classification_report_shown": classification_report_shown,
    "leakage_awareness": leakage_awareness,
    "task_ran": task_ran,
}
