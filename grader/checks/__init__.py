"""Check functions, registered by name; rubric YAML refers to them by that name.

A check is a small pure function ``(evidence, params) -> Outcome``. It reads only the
evidence and its parameters from the rubric (thresholds live in YAML, not here), does
no I/O and imports nothing heavy, so re-scoring a batch stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from grader.models import CheckStatus
from grader.models import Evidence


@dataclass(frozen=True)
class Outcome:
    """What a check found.

    ``fraction`` (0..1) of the check's points is awarded. ``facts`` fill the rubric's
    message templates (``{auc:.3f}``) and are shown as the check's evidence.
    """

    status: CheckStatus
    fraction: float
    detail: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    cell: int | None = None
    applicable: bool = True  # False: the check does not apply to this grade and leaves the maximum


CheckFn = Callable[[Evidence, dict[str, Any]], Outcome]


def passed(detail: str = "", cell: int | None = None, **facts: Any) -> Outcome:
    return Outcome("pass", 1.0, detail, facts, cell)


def failed(detail: str = "", cell: int | None = None, **facts: Any) -> Outcome:
    return Outcome("fail", 0.0, detail, facts, cell)


def graded(fraction: float, detail: str = "", cell: int | None = None, **facts: Any) -> Outcome:
    """Pass at 1, fail at 0, partial in between."""
    fraction = max(0.0, min(1.0, fraction))
    status: CheckStatus = "pass" if fraction >= 0.999 else "fail" if fraction <= 0.0 else "partial"
    return Outcome(status, fraction, detail, facts, cell)


def skipped(detail: str, applicable: bool = True, **facts: Any) -> Outcome:
    """No points; with ``applicable=False`` the check's points also leave the maximum."""
    return Outcome("skipped", 0.0, detail, facts, applicable=applicable)


def _registry() -> dict[str, CheckFn]:
    from grader.checks import data
    from grader.checks import eda
    from grader.checks import features
    from grader.checks import integrity
    from grader.checks import mlops
    from grader.checks import modeling
    from grader.checks import tuning

    merged: dict[str, CheckFn] = {}
    for module in (data, eda, features, modeling, tuning, mlops, integrity):
        for name, fn in module.CHECKS.items():
            if name in merged:
                raise RuntimeError(f"check function '{name}' is registered twice")
            merged[name] = fn
    return merged


REGISTRY: dict[str, CheckFn] = _registry()
