"""Integrity findings: pure functions ``(evidence, params) -> list[Finding]``.

Findings are raised at scoring time, from evidence plus the rubric's parameters, so a
changed threshold re-scores without executing anything. Each costs the penalty the
rubric assigns and is shown to interviewers only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from grader.checks.common import matches
from grader.models import Evidence
from grader.models import Finding

FindingFn = Callable[[Evidence, dict[str, Any]], list[Finding]]


def honest_references(ev: Evidence, metric: str) -> list[tuple[str, float, bool]]:
    """Every value an honest notebook could print for a held-out ``metric``: (label, value, is_model_value).

    The recomputed values of the models found, then what a thoughtful notebook prints
    for context (the Bayes ceilings, trivial baselines, chance level), then CV scores
    printed as if held out. The finding and the scorecard's metric table both use it.
    """
    refs: list[tuple[str, float, bool]] = [(e.name, v, True) for e in ev.evals if (v := getattr(e, metric)) is not None]
    for e in ev.evals:
        n = e.n_pos + e.n_neg
        if metric == "roc_auc":
            refs += [(f"Bayes ceiling ({e.name}'s rows)", v, False)
                     for v in (e.ceiling_auc, e.action_ceiling_auc) if v is not None]
        elif n and metric == "accuracy":
            refs.append(("majority-class baseline", max(e.n_pos, e.n_neg) / n, False))
        elif n and metric in ("precision", "f1"):
            refs.append(("all-positive baseline", e.n_pos / n if metric == "precision" else 2 * e.n_pos / (n + e.n_pos),
                         False))
    if metric == "roc_auc":
        refs.append(("chance level", 0.5, False))
    for est in ev.probe.estimators:  # a search's own CV score printed as if held out
        refs += [(f"CV score of {est.name}", v, False) for v in est.cv_scores]
        if est.best_score is not None:
            refs.append((f"best CV score of {est.name}", est.best_score, False))
    return refs


def printed_metrics_mismatch(ev: Evidence, params: dict[str, Any]) -> list[Finding]:
    """Labelled printed values that match no recomputed value of any model found."""
    if not any(e.labels_source == "grader" for e in ev.evals):
        return []  # nothing verified to compare against: say nothing rather than guess
    out = []
    for p in ev.printed_metrics:
        if p.is_cv or p.is_train:
            continue
        values = [v for _, v, _ in honest_references(ev, p.metric)]
        if any(matches(p.value, p.decimals, v) for v in values):
            continue
        closest = min(values, key=lambda v: abs(v - p.value), default=None)
        out.append(Finding(id="printed_metrics_mismatch", cell=p.cell,
                           message=f"cell {p.cell} prints {p.metric} {p.value} but no model the grader found "
                                   f"reaches it (closest recomputed: {closest:.4f})" if closest is not None else
                                   f"cell {p.cell} prints {p.metric} {p.value}; no model reproduces it",
                           evidence={"metric": p.metric, "printed": p.value, "closest": closest, "line": p.line}))
    return out


def library_patched(ev: Evidence, params: dict[str, Any]) -> list[Finding]:
    names = ev.probe.library_patched
    if not names:
        return []
    return [Finding(id="library_patched", message="replaced at run time: " + ", ".join(names[:8]),
                    evidence={"functions": names})]


def test_rows_in_training(ev: Evidence, params: dict[str, Any]) -> list[Finding]:
    out = []
    for e in ev.evals:
        if e.train_overlap:
            out.append(Finding(id="test_rows_in_training",
                               message=f"'{e.name}' was fitted on {e.train_overlap} of the {e.n_test} rows it "
                                       "is evaluated on",
                               evidence={"model": e.name, "overlap": e.train_overlap, "n_test": e.n_test}))
    for s in ev.probe.splits:
        if s.overlap > 0:
            out.append(Finding(id="test_rows_in_training",
                               message=f"'{s.train_name}' and '{s.test_name}' share {s.overlap} rows",
                               evidence=s.model_dump()))
    return out


def auc_above_ceiling(ev: Evidence, params: dict[str, Any]) -> list[Finding]:
    margin = params.get("margin", 0.02)
    out = []
    for e in ev.evals:
        if e.roc_auc is not None and e.ceiling_auc is not None and e.roc_auc > e.ceiling_auc + margin:
            out.append(Finding(id="auc_above_ceiling",
                               message=f"'{e.name}' reaches held-out AUC {e.roc_auc:.4f}; the best any model can "
                                       f"reach on these rows is {e.ceiling_auc:.4f}",
                               evidence={"model": e.name, "auc": e.roc_auc, "ceiling": e.ceiling_auc,
                                         "margin": margin}))
    return out


def answers_match_handout_samples(ev: Evidence, params: dict[str, Any]) -> list[Finding]:
    threshold = params.get("threshold", 0.6)
    hits = [a for a in ev.mlops if a.sample_similarity >= threshold]
    if not hits:
        return []
    return [Finding(id="answers_match_handout_samples", cell=hits[0].cells[0] if hits[0].cells else None,
                    message="answers to question(s) " + ", ".join(str(a.question) for a in hits)
                            + " match the sample answers shipped in the test notebook",
                    evidence={"similarity": {a.question: round(a.sample_similarity, 3) for a in hits},
                              "threshold": threshold})]


FINDINGS: dict[str, FindingFn] = {
    "printed_metrics_mismatch": printed_metrics_mismatch,
    "library_patched": library_patched,
    "test_rows_in_training": test_rows_in_training,
    "auc_above_ceiling": auc_above_ceiling,
    "answers_match_handout_samples": answers_match_handout_samples,
}
