"""Small helpers shared by check functions: which cells belong to a task, which values count."""

from __future__ import annotations

from grader.models import CellRecord
from grader.models import Evidence
from grader.models import FrameFacts
from grader.models import ModelEval


def task_cells(ev: Evidence, task: int) -> set[int]:
    """Cell indices of ``task``; the whole notebook when the notebook has no task headings."""
    seg = ev.submission.tasks.get(task)
    if seg is None:
        return {c.index for c in ev.submission.cells} if not ev.submission.tasks else set()
    return set(seg.cells)


def records(ev: Evidence, task: int | None = None) -> list[CellRecord]:
    """Cell records that ran, optionally only those of ``task``."""
    cells = task_cells(ev, task) if task is not None else None
    return [r for r in ev.run.cells if cells is None or r.index in cells]


def candidate_frames(ev: Evidence) -> list[FrameFacts]:
    """DataFrames the candidate made (the data-generation cell's own values excluded)."""
    return [f for f in ev.probe.frames if not f.from_generator]


def first(cells: list[int] | set[int]) -> int | None:
    return min(cells) if cells else None


def best_eval(ev: Evidence, verified_first: bool = True) -> ModelEval | None:
    """The model with the highest recomputed AUC (verified labels preferred)."""
    pool = [e for e in ev.evals if e.roc_auc is not None]
    if verified_first and any(e.verified for e in pool):
        pool = [e for e in pool if e.verified]
    return max(pool, key=lambda e: e.roc_auc or 0.0, default=None)


def all_text(ev: Evidence, task: int | None = None) -> str:
    return "\n".join(r.text for r in records(ev, task))


def matches(printed_value: float, decimals: int, value: float) -> bool:
    """Whether a number printed with ``decimals`` digits is ``value`` rounded or truncated.

    >>> matches(0.968, 3, 0.96831)
    True
    >>> matches(0.97, 2, 0.9583)
    False
    """
    return abs(printed_value - value) <= 10.0 ** -decimals + 1e-9


def hanley_mcneil_se(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an AUC estimate on ``n_pos`` positives and ``n_neg`` negatives."""
    if n_pos < 1 or n_neg < 1:
        return 1.0
    q1 = auc / (2 - auc)
    q2 = 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    return max(var, 0.0) ** 0.5
