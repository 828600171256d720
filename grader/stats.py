"""Rubric health of a batch: how each check behaves across the submissions.

Per check: the share of pass / partial / fail / error / skipped, how often interviewers
overrode it and in which direction, and its discrimination: the Pearson correlation of
the check's points with the rest of the total (the sum of every other check's points;
for a pass/fail check this is the point-biserial correlation). A check that nobody passes,
that everybody passes, that good submissions do worse on than weak ones, or that
interviewers keep correcting is flagged. Per task: the distribution of task points (five
numbers and every value), drawn as box plots on the batch index page.

Pure Python (``statistics``), no numpy: it runs on cached scorecards in milliseconds, like
``grade rescore``. Totals here are check points after overrides and before penalties:
findings are not checks, and a penalty would make every check look correlated with it.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from grader import __version__
from grader.fileio import write_json
from grader.models import CheckResult
from grader.models import Scorecard

STATUSES = ("pass", "partial", "fail", "error", "skipped")
SCORED = ("graded", "partial")
FILENAME = "stats.json"

# Reporting settings, not rubric content: they decide what the stats page points out.
# Below this many applicable submissions a rate or a correlation says little: no flags.
MIN_SUBMISSIONS = 5
# "Nobody passes" / "everybody passes": a check passed by at most 5 % (or at least 95 %)
# of the submissions it applied to tells candidates apart no better than a constant.
NOBODY_PASSES = 0.05
EVERYBODY_PASSES = 0.95
# Correlations between -0.1 and 0 are noise at batch sizes of tens; below it, stronger
# submissions really do worse on the check than weaker ones.
NEGATIVE_DISCRIMINATION = -0.1
# Interviewers corrected the check on at least a fifth of the submissions (and at least
# twice, so one correction in a small batch is not a pattern).
OFTEN_OVERRIDDEN = 0.2
MIN_OVERRIDES = 2
# Fewer points than this give no correlation (two points always lie on a line).
MIN_CORRELATION_N = 3

FLAG_NOBODY = "nobody passes"
FLAG_EVERYBODY = "everybody passes"
FLAG_NEGATIVE = "negative discrimination"
FLAG_OVERRIDDEN = "often overridden"
FLAGS = (FLAG_NOBODY, FLAG_EVERYBODY, FLAG_NEGATIVE, FLAG_OVERRIDDEN)


@dataclass
class CheckHealth:
    """How one check behaved across the scored submissions of a batch."""

    id: str
    task: int
    title: str
    visibility: str
    max_points: float
    n: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    rates: dict[str, float] = field(default_factory=dict)
    pass_rate_applicable: float | None = None
    mean_points: float | None = None
    overridden: int = 0
    overrides_up: int = 0
    overrides_down: int = 0
    override_rate: float = 0.0
    discrimination: float | None = None
    flags: list[str] = field(default_factory=list)


@dataclass
class TaskDistribution:
    """Task points across the scored submissions (the values and their five-number summary)."""

    task: int
    title: str
    max_points: float
    n: int
    points: list[float]
    min: float | None = None
    q1: float | None = None
    median: float | None = None
    q3: float | None = None
    max: float | None = None
    mean: float | None = None


@dataclass
class RubricHealth:
    """The rubric-health report of one batch (``stats.json``)."""

    n_submissions: int
    n_scored: int
    rubrics: list[str]
    checks: list[CheckHealth]
    tasks: list[TaskDistribution]
    orphaned_overrides: list[dict[str, Any]]
    thresholds: dict[str, float] = field(default_factory=lambda: {
        "min_submissions": MIN_SUBMISSIONS, "nobody_passes": NOBODY_PASSES, "everybody_passes": EVERYBODY_PASSES,
        "negative_discrimination": NEGATIVE_DISCRIMINATION, "often_overridden": OFTEN_OVERRIDDEN,
        "min_overrides": MIN_OVERRIDES})

    @property
    def flagged(self) -> dict[str, list[str]]:
        """Check ids per flag (every flag present, possibly empty)."""
        return {f: [c.id for c in self.checks if f in c.flags] for f in FLAGS}


def correlation(xs: list[float], ys: list[float]) -> float | None:
    """Pearson's r of ``xs`` and ``ys``; None when undefined (too few points, or either constant).

    >>> correlation([0, 1, 1, 0], [1, 3, 4, 2])
    0.8944
    >>> correlation([1, 1, 1], [1, 2, 3]) is None
    True
    """
    if len(xs) < MIN_CORRELATION_N or len(xs) != len(ys):
        return None
    try:
        return round(statistics.correlation(xs, ys), 4)
    except statistics.StatisticsError:  # a constant series: no correlation is defined
        return None


def discrimination(card_checks: list[dict[str, float]], check: str) -> float | None:
    """Correlation of ``check``'s points with the rest of the total, over the cards that have it.

    ``card_checks`` holds one ``{check id: points}`` per scored submission.
    """
    pairs = [(points[check], sum(points.values()) - points[check]) for points in card_checks if check in points]
    return correlation([x for x, _ in pairs], [y for _, y in pairs])


def _five(values: list[float]) -> dict[str, float | None]:
    if not values:
        return dict.fromkeys(("min", "q1", "median", "q3", "max", "mean"))
    if len(values) == 1:
        q1 = q3 = values[0]
    else:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return {"min": min(values), "q1": round(q1, 3), "median": round(statistics.median(values), 3),
            "q3": round(q3, 3), "max": max(values), "mean": round(statistics.fmean(values), 3)}


def _direction(c: CheckResult) -> int:
    o = c.override or {}
    try:
        new, auto = float(o.get("points", 0.0)), float(o.get("automatic", 0.0))
    except (TypeError, ValueError):
        return 0
    return (new > auto) - (new < auto)


def _flags(h: CheckHealth) -> list[str]:
    flags = []
    applicable = h.n - h.counts["skipped"]
    if applicable >= MIN_SUBMISSIONS and h.pass_rate_applicable is not None:
        if h.pass_rate_applicable <= NOBODY_PASSES:
            flags.append(FLAG_NOBODY)
        elif h.pass_rate_applicable >= EVERYBODY_PASSES:
            flags.append(FLAG_EVERYBODY)
    if h.n >= MIN_SUBMISSIONS and h.discrimination is not None and h.discrimination <= NEGATIVE_DISCRIMINATION:
        flags.append(FLAG_NEGATIVE)
    if h.overridden >= MIN_OVERRIDES and h.override_rate >= OFTEN_OVERRIDDEN:
        flags.append(FLAG_OVERRIDDEN)
    return flags


def rubric_health(cards: list[Scorecard]) -> RubricHealth:
    """The rubric health of a batch from its interviewer scorecards.

    Parameters
    ----------
    cards : list of Scorecard
        Every row of the batch; only ``graded`` and ``partial`` ones count (bad input and
        errors have no checks).

    Returns
    -------
    RubricHealth
        Checks in rubric order (task, then first appearance), tasks by number.
    """
    scored = [c for c in cards if c.status in SCORED]
    checks: dict[str, CheckHealth] = {}
    per_card: list[dict[str, float]] = []
    task_points: dict[int, list[float]] = {}
    task_info: dict[int, tuple[str, float]] = {}
    for card in scored:
        points: dict[str, float] = {}
        for t in card.tasks:
            title, top = task_info.get(t.task, (t.title, 0.0))
            task_info[t.task] = (title, max(top, t.max_points))
            task_points.setdefault(t.task, []).append(round(sum(c.points for c in t.checks), 3))
            for c in t.checks:
                h = checks.setdefault(c.id, CheckHealth(id=c.id, task=t.task, title=c.title, visibility=c.visibility,
                                                        max_points=c.max_points))
                h.max_points = max(h.max_points, c.max_points)
                h.n += 1
                h.counts[c.status] += 1
                h.mean_points = (h.mean_points or 0.0) + c.points
                if c.override is not None:
                    h.overridden += 1
                    direction = _direction(c)
                    h.overrides_up += direction > 0
                    h.overrides_down += direction < 0
                points[c.id] = c.points
        per_card.append(points)
    for h in checks.values():
        h.rates = {s: round(h.counts[s] / h.n, 3) for s in STATUSES}
        applicable = h.n - h.counts["skipped"]
        h.pass_rate_applicable = round(h.counts["pass"] / applicable, 3) if applicable else None
        h.mean_points = round((h.mean_points or 0.0) / h.n, 3)
        h.override_rate = round(h.overridden / h.n, 3)
        h.discrimination = discrimination(per_card, h.id)
        h.flags = _flags(h)
    tasks = [TaskDistribution(task=k, title=task_info[k][0], max_points=task_info[k][1], n=len(v), points=sorted(v),
                              **_five(v))
             for k, v in sorted(task_points.items())]
    orphans = [{"candidate": card.candidate, **o} for card in scored for o in card.orphaned_overrides]
    rubrics = sorted({f"{c.rubric} {c.rubric_version}" for c in scored})
    return RubricHealth(n_submissions=len(cards), n_scored=len(scored), rubrics=rubrics,
                        checks=sorted(checks.values(), key=lambda h: h.task),  # stable: rubric order within a task
                        tasks=tasks, orphaned_overrides=orphans)


def as_json(health: RubricHealth) -> dict[str, Any]:
    """``stats.json``: the report, the flagged check ids per flag, and when it was made."""
    return {"grader_version": __version__, "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **asdict(health),
            "flagged": health.flagged}


def write_stats(out: Path, health: RubricHealth) -> Path:
    path = out / FILENAME
    write_json(path, as_json(health))
    return path


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}"


def table_lines(health: RubricHealth) -> list[str]:
    """The report as a plain-text table (``grade stats``)."""
    lines = [f"{health.n_scored} scored of {health.n_submissions} submissions"
             + (f"; rubric {', '.join(health.rubrics)}" if health.rubrics else "")]
    if health.n_scored < MIN_SUBMISSIONS:
        lines.append(f"(fewer than {MIN_SUBMISSIONS} scored submissions: rates and correlations are not flagged)")
    width = max([len(c.id) for c in health.checks] + [5])
    lines.append(f"{'check':<{width}}  task    n  pass% part% fail%  err% skip%  overridden (up/down)      r  flags")
    for c in health.checks:
        r = "-" if c.discrimination is None else f"{c.discrimination:+.2f}"
        ovr = f"{c.overridden} ({c.overrides_up}/{c.overrides_down})" if c.overridden else "0"
        lines.append(f"{c.id:<{width}}  {c.task:>4} {c.n:>4}  " + " ".join(f"{_pct(c.rates.get(s)):>5}" for s in STATUSES)
                     + f"  {ovr:<20} {r:>6}  {', '.join(c.flags)}")
    lines.append("")
    lines.append("task points: min / q1 / median / q3 / max (of the task's maximum)")
    for t in health.tasks:
        five = " / ".join("-" if v is None else f"{v:g}" for v in (t.min, t.q1, t.median, t.q3, t.max))
        lines.append(f"  Task {t.task} {t.title[:40]:<40} {five}  (max {t.max_points:g}, n={t.n})")
    for flag, ids in health.flagged.items():
        if ids:
            lines.append(f"{flag}: {', '.join(ids)}")
    for o in health.orphaned_overrides:
        lines.append(f"orphaned override: {o.get('candidate')}: {o.get('check')} (the rubric no longer has it)")
    return lines
