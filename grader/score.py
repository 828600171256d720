"""Stage 4, score: a pure function Evidence + Rubric -> Scorecard.

No I/O, no kernel, no heavy imports: re-scoring a cached batch under a changed rubric
takes milliseconds per submission (DESIGN decision 5).
"""

from __future__ import annotations

import re
from typing import Any

from grader import __version__
from grader.checks import REGISTRY
from grader.checks import Outcome
from grader.findings import FINDINGS
from grader.models import CheckResult
from grader.models import Evidence
from grader.models import Finding
from grader.models import Scorecard
from grader.models import TaskScore
from grader.rubric import CheckSpec
from grader.rubric import Rubric


def run_check(spec: CheckSpec, ev: Evidence) -> Outcome:
    """Run one check; a bug in it becomes an ``error`` result, never a crash (DESIGN decision 7)."""
    try:
        return REGISTRY[spec.check](ev, spec.params)
    except Exception as e:  # a defect in a check must not cost the other checks
        return Outcome("error", 0.0, f"grader error in check '{spec.check}': {type(e).__name__}: {e}")


def message_for(spec: CheckSpec, out: Outcome) -> str:
    template = spec.messages.get(out.status)
    if not template:
        return out.detail
    try:
        return template.format(**out.facts)
    except (KeyError, IndexError, ValueError, TypeError):
        return out.detail


def _cell_failures(ev: Evidence, cells: set[int]) -> list[dict[str, Any]]:
    return [{"cell": r.index, "status": r.status, "failure": r.failure, "ename": r.ename, "evalue": r.evalue}
            for r in ev.run.cells if r.index in cells and r.status in ("error", "timeout", "not-run")]


def score(ev: Evidence, rubric: Rubric) -> Scorecard:
    """Score ``ev`` against ``rubric``.

    Returns
    -------
    Scorecard
        Per task, every check's status, points, message and evidence; findings with
        their penalties; totals. Points are rounded to 2 decimals.
    """
    sub = ev.submission
    tasks: list[TaskScore] = []
    for task in rubric.tasks:
        seg = sub.tasks.get(task.id)
        results = []
        for spec in task.checks:
            out = run_check(spec, ev)
            points = round(spec.points * out.fraction, 2) if out.status != "error" else 0.0
            results.append(CheckResult(
                id=spec.id, task=task.id, title=spec.title, status=out.status, points=points,
                max_points=spec.points if out.applicable else 0.0, message=message_for(spec, out), hint=spec.hint if out.status != "pass" else "",
                visibility=spec.visibility, evidence=_jsonable(out.facts), cell=out.cell))
        cells = set(seg.cells) if seg else set()
        tasks.append(TaskScore(task=task.id, title=task.title or (seg.title if seg else ""),
                               points=round(sum(r.points for r in results), 2),
                               max_points=sum(r.max_points for r in results), found=seg is not None,
                               heading_cell=seg.heading_cell if seg else None,
                               cell_failures=_cell_failures(ev, cells), checks=results))
    findings: list[Finding] = []
    penalties = 0.0
    for fid, fspec in rubric.findings.items():
        raised = FINDINGS[fid](ev, fspec.params) if fid in FINDINGS else []
        for i, f in enumerate(raised):
            findings.append(f.model_copy(update={"title": fspec.title, "penalty": fspec.penalty if i == 0 else 0.0}))
        if raised:
            penalties += fspec.penalty
    earned = sum(t.points for t in tasks)
    max_points = sum(t.max_points for t in tasks)
    total = max(0.0, round(earned - penalties, 2))
    notes = list(sub.notes)
    if ev.run.message:
        notes.append(ev.run.message)
    if not ev.probe.ok and ev.probe.error:
        notes.append(ev.probe.error)
    notes += chance_notes(ev)
    notes += [f"cell {r.index}: {r.ename}: {r.evalue} is an environment error (a package the grading kernel "
              "lacks), not the candidate's fault; review the affected checks by hand"
              for r in ev.run.cells if r.failure == "environment_error"]
    return Scorecard(
        grader_version=__version__, rubric=rubric.name, rubric_version=rubric.version, rubric_hash=rubric.digest(),
        hidden_rubric=rubric.hidden_included, candidate=sub.name, submission=sub.path, sha256=sub.sha256,
        points=total, max_points=max_points, percent=round(100 * total / max_points, 1) if max_points else 0.0,
        penalties=penalties, status="graded" if ev.run.ended == "complete" else "partial",
        isolation=ev.run.isolation, isolation_missing=ev.run.isolation_missing, seconds=ev.run.seconds,
        tasks=tasks, findings=findings, notes=notes)


# estimators whose fit draws random numbers (lbfgs logistic regression, for one, does not)
_RANDOMIZED = re.compile(r"Forest|Tree|Boost|XGB|LGBM|CatBoost|Bagging|SGD|MLP|Perceptron|KMeans")


def chance_notes(ev: Evidence) -> list[str]:
    """Models whose fit draws random numbers with no seed of the candidate's: their checks could vary."""
    unseeded = sorted({e.name for e in ev.probe.estimators
                       if "None" in (e.params.get("random_state"), getattr(e, "final_random_state", None))
                       and _RANDOMIZED.search(e.final_estimator or e.cls)})
    if not unseeded:
        return []
    return [f"outcome could depend on chance: {', '.join(unseeded[:5])} ha{'s' if len(unseeded) == 1 else 've'} "
            "random_state=None (the grader fixes numpy's seeds, so re-grades here agree; other runs may differ)"]


def _jsonable(facts: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in facts.items():
        out[k] = v if isinstance(v, (str, int, float, bool, type(None), list, dict)) else str(v)
    return out
