"""Stage 5, report: Scorecard -> HTML (Jinja), JSON, JUnit XML and a terminal summary.

Rendering only formats; every number comes from the Scorecard (DESIGN: scoring is
never mixed with rendering). The candidate view is derived from the same Scorecard by
removing hidden checks and findings before rendering.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from importlib import resources
from typing import Any
from typing import Literal

from grader.models import Evidence
from grader.models import Scorecard
from grader.models import TaskScore

View = Literal["interviewer", "candidate"]


def candidate_view(card: Scorecard) -> Scorecard:
    """The scorecard with hidden checks, findings, penalties and interviewer notes removed, totals recomputed."""
    tasks = []
    for t in card.tasks:
        # Override reasons are interviewer notes: the candidate sees the points only.
        checks = [c.model_copy(update={"override": None}) for c in t.checks if c.visibility == "public"]
        tasks.append(t.model_copy(update={"checks": checks, "points": round(sum(c.points for c in checks), 2),
                                          "max_points": sum(c.max_points for c in checks)}))
    points = round(sum(t.points for t in tasks), 2)
    max_points = sum(t.max_points for t in tasks)
    update: dict[str, Any] = {
        "tasks": tasks, "findings": [], "penalties": 0.0, "points": points, "max_points": max_points,
        "percent": round(100 * points / max_points, 1) if max_points else 0.0, "hidden_rubric": False,
        "comments": [], "orphaned_overrides": []}
    if card.hidden_rubric:
        # A merged rubric is versioned "public+hidden" and hashed with the hidden checks in:
        # the candidate sees the public version only, and no hash that changes with them.
        update.update(rubric_version=card.rubric_version.split("+", 1)[0], rubric_hash="")
    return card.model_copy(update=update)


def scorecard_json(card: Scorecard) -> dict[str, Any]:
    return card.model_dump(mode="json")


def scorecard_schema() -> dict[str, Any]:
    """JSON Schema of scorecard.json (also shipped as grader/schemas/scorecard.schema.json)."""
    return Scorecard.model_json_schema()


def render_html(card: Scorecard, ev: Evidence | None, view: View) -> str:
    """One self-contained HTML page (inline CSS and images, no scripts, CSP forbids them)."""
    from grader.html import render_scorecard

    return render_scorecard(card, ev, view)


def junit_xml(cards: list[Scorecard]) -> str:
    """A testsuite per submission, a testcase per check; fail/error become failures/errors."""
    root = ET.Element("testsuites", name="grade")
    for card in cards:
        checks = [c for t in card.tasks for c in t.checks]
        suite = ET.SubElement(root, "testsuite", name=card.candidate, tests=str(len(checks)),
                              failures=str(sum(c.status in ("fail", "partial") for c in checks)),
                              errors=str(sum(c.status == "error" for c in checks)),
                              skipped=str(sum(c.status == "skipped" for c in checks)),
                              time=f"{card.seconds:.3f}")
        props = ET.SubElement(suite, "properties")
        for k, v in (("points", card.points), ("max_points", card.max_points), ("percent", card.percent),
                     ("rubric", f"{card.rubric} {card.rubric_version}"), ("isolation", card.isolation)):
            ET.SubElement(props, "property", name=k, value=str(v))
        for c in checks:
            case = ET.SubElement(suite, "testcase", classname=f"{card.candidate}.task{c.task}", name=c.id, time="0")
            text = f"{c.points:g}/{c.max_points:g} points: {c.message}"
            if c.status in ("fail", "partial"):
                ET.SubElement(case, "failure", message=text, type=c.status).text = c.hint or c.message
            elif c.status == "error":
                ET.SubElement(case, "error", message=text, type="grader_error").text = c.message
            elif c.status == "skipped":
                ET.SubElement(case, "skipped", message=c.message)
            else:
                ET.SubElement(case, "system-out").text = text
        for f in card.findings:
            case = ET.SubElement(suite, "testcase", classname=f"{card.candidate}.findings", name=f.id, time="0")
            ET.SubElement(case, "failure", message=f.message, type="finding").text = f.message
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def not_passed(task: TaskScore) -> list[str]:
    """Ids of the task's checks that did not pass (checks that did not apply are left out)."""
    return [c.id for c in task.checks if c.status != "pass" and c.max_points]


def summary_lines(card: Scorecard) -> list[str]:
    lines = [f"{card.candidate}: {card.points:g}/{card.max_points:g} ({card.percent:.1f}%)  "
             f"isolation={card.isolation}  {card.seconds:.1f}s"]
    for t in card.tasks:
        fails = not_passed(t)
        lines.append(f"  Task {t.task} {t.title[:38]:<38} {t.points:>5g}/{t.max_points:<4g}"
                     + (f"  not passed: {', '.join(fails)}" if fails else ""))
    for f in card.findings:
        lines.append(f"  FINDING {f.id}: {f.message}")
    for n in card.notes:
        lines.append(f"  note: {n}")
    return lines


def print_summary(card: Scorecard, files: list[str], stream: Any = None) -> None:
    """A small rich table on a terminal; plain text lines otherwise."""
    stream = stream or sys.stdout
    if not stream.isatty():
        stream.write("\n".join(summary_lines(card)) + "\n")
        for f in files:
            stream.write(f"  wrote {f}\n")
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(file=stream)
    table = Table(title=f"{card.candidate}: {card.points:g}/{card.max_points:g} ({card.percent:.1f}%)",
                  caption=f"isolation {card.isolation}, rubric {card.rubric} {card.rubric_version}, {card.seconds:.1f}s")
    table.add_column("Task")
    table.add_column("Points", justify="right")
    table.add_column("Not passed")
    for t in card.tasks:
        table.add_row(f"{t.task} {t.title}", f"{t.points:g}/{t.max_points:g}",
                      ", ".join(not_passed(t)))
    console.print(table)
    for f in card.findings:
        console.print(f"[bold red]finding[/] {f.id}: {f.message}", markup=True, highlight=False)
    for n in card.notes:
        console.print(f"note: {n}", markup=False, highlight=False)
    for f in files:
        console.print(f"wrote {f}", markup=False, highlight=False)


def write_schema_file() -> str:
    """The JSON Schema text as shipped (used by a test to keep the shipped copy current)."""
    return json.dumps(scorecard_schema(), indent=1, sort_keys=True) + "\n"


def shipped_schema() -> dict[str, Any]:
    return json.loads(resources.files("grader").joinpath("schemas", "scorecard.schema.json").read_text())
