"""Interviewer corrections: overrides with reasons and free-text comments.

Both live in ``overrides.yaml`` beside the scorecard and are applied after scoring, so
they survive every rescore and re-run. An override whose check no longer exists in the
rubric is reported as orphaned, never dropped and never applied to another check.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import ValidationError

from grader.exceptions import BadInput
from grader.fileio import write_atomic
from grader.models import Scorecard

FILENAME = "overrides.yaml"


class Override(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check: str
    automatic: float
    points: float
    reason: str
    by: str = ""
    at: str = ""


class Comment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    task: int | None = None
    by: str = ""
    at: str = ""


class Corrections(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overrides: list[Override] = []
    comments: list[Comment] = []


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_corrections(folder: Path) -> Corrections:
    path = folder / FILENAME
    if not path.exists():
        return Corrections()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return Corrections.model_validate(data)
    except (yaml.YAMLError, ValidationError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BadInput(f"{path}: not a valid overrides file: {first}") from None


def save_corrections(folder: Path, corrections: Corrections) -> Path:
    path = folder / FILENAME
    text = yaml.safe_dump(corrections.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    write_atomic(path, text)
    return path


def apply(card: Scorecard, corrections: Corrections) -> Scorecard:
    """The scorecard with overrides applied (latest per check wins) and comments attached."""
    latest = {o.check: o for o in corrections.overrides}
    found: set[str] = set()
    tasks = []
    for task in card.tasks:
        checks = []
        for c in task.checks:
            o = latest.get(c.id)
            if o is None:
                checks.append(c)
                continue
            found.add(c.id)
            points = max(0.0, min(c.max_points, o.points))
            status = "pass" if points >= c.max_points else "fail" if points <= 0 else "partial"
            checks.append(c.model_copy(update={
                "points": points, "status": status,
                "override": {"automatic": c.points, "automatic_status": c.status, "points": points,
                             "reason": o.reason, "by": o.by, "at": o.at}}))
        tasks.append(task.model_copy(update={"checks": checks, "points": round(sum(c.points for c in checks), 2)}))
    orphaned = [o.model_dump() for o in latest.values() if o.check not in found]
    earned = sum(t.points for t in tasks)
    total = max(0.0, round(earned - card.penalties, 2))
    return card.model_copy(update={
        "tasks": tasks, "points": total,
        "percent": round(100 * total / card.max_points, 1) if card.max_points else 0.0,
        "orphaned_overrides": orphaned, "comments": [c.model_dump() for c in corrections.comments]})


def finalize(card: Scorecard, folder: Path) -> Scorecard:
    """Apply the interviewers' overrides and comments kept in ``folder``."""
    return apply(card, load_corrections(folder))


def add_override(folder: Path, card: Scorecard, check: str, points: float, reason: str, by: str) -> Override:
    """Validate and record an override of ``check`` against the automatic ``card``."""
    result = next((c for t in card.tasks for c in t.checks if c.id == check), None)
    if result is None:
        known = ", ".join(c.id for t in card.tasks for c in t.checks)
        raise BadInput(f"{folder}: no check '{check}' in this scorecard (checks: {known})")
    if not 0 <= points <= result.max_points:
        raise BadInput(f"{folder}: {points:g} points is outside 0..{result.max_points:g} for check '{check}'")
    if not reason.strip():
        raise BadInput(f"{folder}: an override needs a reason (--reason)")
    corrections = load_corrections(folder)
    o = Override(check=check, automatic=result.points, points=points, reason=reason.strip(), by=by, at=now())
    corrections.overrides.append(o)
    save_corrections(folder, corrections)
    return o


def add_comment(folder: Path, text: str, task: int | None, by: str) -> Comment:
    if not text.strip():
        raise BadInput(f"{folder}: empty comment")
    if task is not None and not 1 <= task <= 6:
        raise BadInput(f"{folder}: task must be 1..6, got {task}")
    corrections = load_corrections(folder)
    c = Comment(text=text.strip(), task=task, by=by, at=now())
    corrections.comments.append(c)
    save_corrections(folder, corrections)
    return c


def strip_for_candidate(card: Scorecard) -> Scorecard:
    """Interviewer notes never reach candidates: comments, orphans and override reasons go."""
    tasks = [t.model_copy(update={"checks": [c.model_copy(update={"override": None}) for c in t.checks]})
             for t in card.tasks]
    return card.model_copy(update={"tasks": tasks, "comments": [], "orphaned_overrides": []})
