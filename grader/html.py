"""HTML scorecards from Jinja templates: autoescaped, self-contained, no scripts."""

from __future__ import annotations

from typing import Any

import jinja2

from grader.models import Evidence, Scorecard
from grader.paths import template_dir

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'none'; base-uri 'none'; form-action 'none'"
ICONS = {"pass": "\u2714", "partial": "\u25d0", "fail": "\u2718", "error": "\u26a0", "skipped": "\u2013"}


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template_dir())),
                             autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(icons=ICONS, csp=CSP)
    return env


def _context(card: Scorecard, ev: Evidence | None, view: str) -> dict[str, Any]:
    figures: dict[int, list[Any]] = {}
    errors: list[Any] = []
    answers: list[Any] = []
    evals: list[Any] = []
    printed: list[Any] = []
    if ev is not None:
        cell_task = {c.index: c.task for c in ev.submission.cells}
        for fig in ev.run.figures:
            task = cell_task.get(fig.cell, "setup")
            if task in ("2", "5"):
                figures.setdefault(int(task), []).append(fig)
        errors = [r for r in ev.run.cells if r.status in ("error", "timeout")]
        answers = ev.mlops
        evals = ev.evals
        printed = ev.printed_metrics
    return {"card": card, "view": view, "figures": figures, "errors": errors, "answers": answers,
            "evals": evals, "printed": printed}


def render_scorecard(card: Scorecard, ev: Evidence | None, view: str) -> str:
    return environment().get_template("scorecard.html.j2").render(**_context(card, ev, view))
