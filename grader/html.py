"""HTML scorecards and the batch index, rendered from Jinja templates.

Safe by construction: autoescaping is on for every template, candidate text (markdown,
answers, cell sources, tracebacks) only ever reaches the page as escaped text, and a
Content-Security-Policy meta tag forbids scripts and every request to another host. The
one piece of markup built in Python, the highlighted ML Ops answer, escapes the text
first and wraps matches in ``<mark>`` afterwards (:func:`highlight`).

A page is self-contained: inline CSS, figures as ``data:`` URIs under a per-image and a
per-page size cap, inline SVG charts, so it works offline and as a mailed attachment.
This module only prepares what the templates show (view models); every number comes from
the Scorecard or the Evidence.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup
from markupsafe import escape

from grader.checks.common import matches
from grader.findings import honest_references
from grader.mlops import compile_phrase
from grader.mlops import find_phrase
from grader.mlops import phrase_index
from grader.mlops import stem
from grader.mlops import tokens
from grader.models import CellRecord
from grader.models import CheckResult
from grader.models import Evidence
from grader.models import PrintedMetric
from grader.models import Scorecard
from grader.paths import template_dir
from grader.report import candidate_view

# ``img-src data:`` lets the inline figures show; nothing else may load, run or submit.
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'none'; "
       "base-uri 'none'; form-action 'none'")
ICONS = {"pass": "\u2714", "partial": "\u25d0", "fail": "\u2718", "error": "\u26a0", "skipped": "\u2013"}
STATUS_LABELS = {"pass": "passed", "partial": "partly passed", "fail": "failed", "error": "grader error",
                 "skipped": "skipped"}
FAILURE_LABELS = {
    "candidate_error": "exception raised by the notebook's code",
    "timeout": "the cell did not finish within the time limit",
    "memory_limit": "the cell ran out of its memory allowance",
    "dead_kernel": "the kernel died while running the cell",
    "environment_error": "the grading environment failed (not the candidate's fault)",
    "bad_input": "the file could not be read as a notebook",
    "grader_error": "a defect in the grader",
    "not-run": "not run: execution had already stopped",
}

# Evidence keys of an ML Ops check that the highlighted answer shows better.
ANSWER_EVIDENCE_KEYS = frozenset({"matched", "covered", "missing", "missing_groups", "question", "words"})
# Figures are shown under these tasks (the EDA plots and the importance plot).
FIGURE_TASKS = (2, 5)
# One figure over this many bytes is left out with a note (a 2-3x retina plot is ~150 KB).
MAX_IMAGE_BYTES = 300_000
# All figures of one page together; base64 adds a third, so 1 MB of PNG is ~1.34 MB of
# page and a scorecard with many figures stays under 2 MB.
MAX_PAGE_IMAGE_BYTES = 1_000_000
# Long tracebacks (a GridSearch where every fit failed) keep their head and their tail.
MAX_TRACEBACK_CHARS = 6_000
MAX_SOURCE_LINES = 25
MAX_SOURCE_CHARS = 2_500

_B64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# The same word tokens as grader.mlops.tokens, with their positions in the original text
# (an apostrophe between letters joins a word: "model's" is one token "models").
_WORD = re.compile(r"[A-Za-z0-9]+(?:['\u2019][A-Za-z][A-Za-z0-9]*)*")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
# Frames of the grader's preamble (it wraps ``fit`` to record rows) are interviewer-only.
_GRADER_FRAME = re.compile(r"_grader_\w*")


# --- view models ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FigureView:
    """One figure as the page shows it: a data URI, or the reason it was left out."""

    cell: int
    task: int
    kb: float
    src: str = ""
    omitted: str = ""


@dataclass(frozen=True)
class CellErrorView:
    """A cell that failed (or never ran), with its failure class and traceback."""

    index: int
    task: str
    status: str
    failure: str
    failure_label: str
    ename: str
    evalue: str
    traceback: str
    seconds: float


@dataclass(frozen=True)
class MetricRow:
    """A printed metric next to the value the grader recomputed for it."""

    printed: PrintedMetric
    status: str  # "match", "explained", "mismatch", "not-compared"
    source: str = ""
    recomputed: float | None = None
    delta: float | None = None


@dataclass(frozen=True)
class AnswerView:
    """One ML Ops answer with its concept phrases marked."""

    question: int
    title: str
    words: int
    similarity: float
    cells: list[int]
    text: Markup
    groups: dict[str, list[str]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


# --- formatting helpers (also Jinja filters) ----------------------------------------------------------------


def num(value: Any, digits: int = 4) -> str:
    """A number for the page: integers bare, floats with ``digits`` significant digits.

    >>> num(2.0), num(0.968136), num(None), num(12.5)
    ('2', '0.9681', '\u2014', '12.5')
    """
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def pts(value: float | None) -> str:
    """Points as the scorecard holds them (2 decimals at most), without trailing zeros.

    >>> pts(2.0), pts(34.71), pts(123.45), pts(2.5)
    ('2', '34.71', '123.45', '2.5')
    """
    if value is None:
        return "\u2014"
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def compact(value: Any, limit: int = 240) -> str:
    """An evidence value as one short line of plain text (escaped later by Jinja).

    >>> compact({"a": [1, 2.5], "b": None})
    'a: 1, 2.5; b: \u2014'
    >>> compact([])
    'none'
    """
    if isinstance(value, Mapping):
        text = "; ".join(f"{k}: {compact(v, limit)}" for k, v in value.items()) or "none"
    elif isinstance(value, (list, tuple, set)):
        items = list(value)
        shown = [compact(v, limit) for v in items[:12]]
        text = ", ".join(shown) + (f", \u2026 (+{len(items) - 12})" if len(items) > 12 else "") if items else "none"
    else:
        text = num(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def clip(text: str | None, limit: int = MAX_TRACEBACK_CHARS) -> str:
    """``text`` cut to about ``limit`` characters, keeping its head and its tail."""
    if not text:
        return ""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n\n\u2026 [{len(text) - limit} characters left out] \u2026\n\n{text[-half:]}"


def source_excerpt(source: str) -> str:
    """The first lines of a cell's source, capped, for the "cell it came from" panels."""
    lines = source.splitlines()
    head = "\n".join(lines[:MAX_SOURCE_LINES])
    if len(head) > MAX_SOURCE_CHARS:
        head = head[:MAX_SOURCE_CHARS]
    if len(lines) > MAX_SOURCE_LINES or len(head) < len("\n".join(lines)):
        head += "\n\u2026"
    return head


def strip_grader_frames(traceback: str) -> str:
    """A traceback without the frames of the grader's preamble (for the candidate view).

    IPython separates frames with a blank line; the frames that name the preamble say
    how the grader watches ``fit``, which the candidate has no use for.
    """
    blocks = traceback.split("\n\n")
    kept = [b for b in blocks if not _GRADER_FRAME.search(b)]
    return "\n\n".join(kept)


def safe_href(link: str) -> str:
    """A link from the batch as an ``href``: relative or http(s)/file only, percent-encoded.

    A file called ``javascript:x.ipynb`` would otherwise give a link with a scheme.

    >>> safe_href("alice/scorecard.html"), safe_href("javascript:alert(1)/s.html")
    ('alice/scorecard.html', './javascript%3Aalert%281%29/s.html')
    """
    if _SCHEME.match(link) and not link.lower().startswith(("http:", "https:", "file:")):
        return "./" + quote(link, safe="/")
    return quote(link, safe="/:#?&=%@+,;~")


# --- ML Ops highlighting -----------------------------------------------------------------------------------


def highlight(text: str, groups: Mapping[str, Iterable[str]]) -> Markup:
    """``text`` escaped, with each occurrence of a matched phrase wrapped in ``<mark>``.

    Matching follows the grader's own (stems, whole words, ``*`` as a word prefix), so
    what is marked is what earned the credit. The text is escaped piece by piece and
    only the ``<mark>`` tags are markup: candidate text never becomes HTML.

    Parameters
    ----------
    text : str
        The candidate's answer, as written.
    groups : mapping of str to iterable of str
        Concept group -> the phrases that matched (``CheckResult.evidence["matched"]``).

    Returns
    -------
    Markup

    >>> str(highlight("Use <b>Docker</b> containers.", {"containers": ["docker", "container*"]}))
    'Use &lt;b&gt;<mark title="containers">Docker</mark>&lt;/b&gt; <mark title="containers">containers</mark>.'
    """
    spans = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    words = [re.sub(r"['\u2019]", "", text[a:b].lower()) for a, b in spans]
    if words != tokens(text):
        return Markup(escape(text))  # the two tokenisers disagree (rare unicode): show it plain
    seq = [stem(w) for w in words]
    index = phrase_index(seq)
    marks: list[tuple[int, int, str]] = []
    for group, phrases in groups.items():
        for phrase in phrases:
            pattern = compile_phrase(str(phrase))
            for i in find_phrase(pattern, seq, index):
                marks.append((spans[i][0], spans[i + len(pattern) - 1][1], str(group)))
    # Longest first at each start; a mark overlapping an earlier one is dropped.
    marks.sort(key=lambda m: (m[0], -(m[1] - m[0])))
    out: list[str] = []
    pos = 0
    for start, end, group in marks:
        if start < pos:
            continue
        out.append(str(escape(text[pos:start])))
        out.append(f'<mark title="{escape(group)}">{escape(text[start:end])}</mark>')
        pos = end
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))


# --- context ------------------------------------------------------------------------------------------------


def _figures(ev: Evidence) -> tuple[dict[int, list[FigureView]], int]:
    """Figures per task (Tasks 2 and 5), capped per image and per page; and the count elsewhere."""
    cell_task = {c.index: c.task for c in ev.submission.cells}
    out: dict[int, list[FigureView]] = {}
    budget = MAX_PAGE_IMAGE_BYTES
    elsewhere = 0
    for fig in ev.run.figures:
        task = cell_task.get(fig.cell, "setup")
        if not task.isdigit() or int(task) not in FIGURE_TASKS:
            elsewhere += 1
            continue
        data = "".join(fig.png_b64.split())
        try:
            raw = base64.b64decode(data, validate=True) if _B64.fullmatch(data) else b""
        except (binascii.Error, ValueError):
            raw = b""
        size = len(raw)
        view = FigureView(cell=fig.cell, task=int(task), kb=round(size / 1000, 1))
        if not raw.startswith(_PNG_MAGIC):
            view = FigureView(cell=fig.cell, task=int(task), kb=view.kb, omitted="not a valid PNG image")
        elif size > MAX_IMAGE_BYTES:
            view = FigureView(cell=fig.cell, task=int(task), kb=view.kb,
                              omitted=f"{view.kb:g} KB, over the {MAX_IMAGE_BYTES // 1000} KB limit per image")
        elif size > budget:
            view = FigureView(cell=fig.cell, task=int(task), kb=view.kb,
                              omitted="left out to keep the page small (see executed.ipynb)")
        else:
            budget -= size
            view = FigureView(cell=fig.cell, task=int(task), kb=view.kb, src="data:image/png;base64," + data)
        out.setdefault(int(task), []).append(view)
    return out, elsewhere


def _cell_errors(ev: Evidence, view: str) -> dict[str, list[CellErrorView]]:
    """Failed, timed-out and never-run cells, keyed by task ('1'..'6' or 'setup')."""
    cell_task = {c.index: c.task for c in ev.submission.cells}
    out: dict[str, list[CellErrorView]] = {}
    for r in ev.run.cells:
        if r.status not in ("error", "timeout", "not-run"):
            continue
        out.setdefault(cell_task.get(r.index, "setup"), []).append(_error_view(r, cell_task, view))
    return out


def _error_view(r: CellRecord, cell_task: Mapping[int, str], view: str) -> CellErrorView:
    failure = r.failure or ("not-run" if r.status == "not-run" else "candidate_error")
    tb = r.traceback or ""
    if view == "candidate":
        tb = strip_grader_frames(tb)
    return CellErrorView(index=r.index, task=cell_task.get(r.index, "setup"), status=r.status, failure=failure,
                         failure_label=FAILURE_LABELS.get(failure, failure), ename=r.ename or "",
                         evalue=clip(r.evalue, 1_000), traceback=clip(tb), seconds=r.seconds)


def _references(ev: Evidence, metric: str, cv: bool) -> list[tuple[str, float, bool]]:
    """Values a printed ``metric`` may honestly be: (label, value, is_model_value)."""
    if cv:
        refs: list[tuple[str, float, bool]] = []
        for est in ev.probe.estimators:
            refs += [(f"CV fold of {est.name}", v, True) for v in est.cv_scores]
            if est.best_score is not None:
                refs.append((f"best CV score of {est.name}", est.best_score, True))
        return refs
    return honest_references(ev, metric)


def _delta(printed: float, value: float) -> float:
    """Printed minus recomputed, with rounding noise shown as 0 rather than -0.0000."""
    d = printed - value
    return 0.0 if abs(d) < 5e-5 else d


def metric_rows(ev: Evidence) -> list[MetricRow]:
    """Each printed metric with the recomputed value that reproduces it, or the closest one.

    Parameters
    ----------
    ev : Evidence

    Returns
    -------
    list of MetricRow
        ``status`` is ``match`` (a model's recomputed value), ``explained`` (a ceiling,
        a trivial baseline or a CV score), ``mismatch`` (nothing reproduces it; the
        closest model value is shown) or ``not-compared`` (a training-set metric, which
        the grader cannot recompute).
    """
    rows: list[MetricRow] = []
    for p in ev.printed_metrics:
        if p.is_train:
            rows.append(MetricRow(printed=p, status="not-compared", source="training rows"))
            continue
        refs = _references(ev, p.metric, p.is_cv)
        hits = [r for r in refs if r[2] and matches(p.value, p.decimals, r[1])]
        hits = hits or [r for r in refs if matches(p.value, p.decimals, r[1])][:1]
        if hits:
            # Several models often share a value (accuracy 0.96): name them all, so the
            # reader does not take the first one for the model the line is about.
            names = list(dict.fromkeys(r[0] for r in hits))
            rows.append(MetricRow(printed=p, status="match" if hits[0][2] else "explained",
                                  source=", ".join(names[:4]) + (f" (+{len(names) - 4})" if len(names) > 4 else ""),
                                  recomputed=hits[0][1], delta=_delta(p.value, hits[0][1])))
            continue
        models = [r for r in refs if r[2]]
        if not models:
            rows.append(MetricRow(printed=p, status="not-compared", source="no recomputed value"))
            continue
        label, value, _ = min(models, key=lambda r: abs(r[1] - p.value))
        rows.append(MetricRow(printed=p, status="mismatch", source=f"none (closest: {label})", recomputed=value,
                              delta=_delta(p.value, value)))
    return rows


def _answers(ev: Evidence, checks: list[CheckResult], view: str) -> tuple[dict[str, AnswerView], list[AnswerView]]:
    """The ML Ops answers: by the id of the check that graded each, and those no check graded."""
    by_question: dict[int, CheckResult] = {}
    for c in checks:
        q = c.evidence.get("question")
        if isinstance(q, int) and (view == "interviewer" or c.visibility == "public"):
            by_question.setdefault(q, c)
    by_check: dict[str, AnswerView] = {}
    loose: list[AnswerView] = []
    for a in ev.mlops:
        check = by_question.get(a.question)
        matched = check.evidence.get("matched") if check else None
        groups = {str(g): [str(p) for p in ps] for g, ps in matched.items()
                  if isinstance(ps, list)} if isinstance(matched, dict) else {}
        missing = check.evidence.get("missing_groups") if check else None
        answer = AnswerView(question=a.question, title=check.title if check else f"Question {a.question}",
                            words=a.words, similarity=a.sample_similarity, cells=a.cells,
                            text=highlight(a.text, groups), groups=groups,
                            missing=[str(m) for m in missing] if isinstance(missing, list) else [])
        if check is not None:
            by_check[check.id] = answer
        else:
            loose.append(answer)
    return by_check, loose


def _bar_color(points: float, max_points: float) -> str:
    share = points / max_points if max_points else 0.0
    return "good" if share >= 0.8 else "mid" if share >= 0.5 else "low"


def _context(card: Scorecard, ev: Evidence | None, view: str) -> dict[str, Any]:
    if view == "candidate":
        # Idempotent: whatever the caller passed, the candidate page is built from the
        # public checks only, without findings or penalties.
        card = candidate_view(card)
    figures: dict[int, list[FigureView]] = {}
    other_figures = 0
    errors: dict[str, list[CellErrorView]] = {}
    answer_for: dict[str, AnswerView] = {}
    answers: list[AnswerView] = []
    rows: list[MetricRow] = []
    sources: dict[int, str] = {}
    run = None
    notes = list(card.notes)
    if ev is not None:
        figures, other_figures = _figures(ev)
        errors = _cell_errors(ev, view)
        task6 = [c for t in card.tasks if t.task == 6 for c in t.checks]
        answer_for, answers = _answers(ev, task6, view)
        sources = {c.index: source_excerpt(c.source) for c in ev.submission.cells}
        run = ev.run
        if view == "interviewer":
            rows = metric_rows(ev)
        elif ev.probe.error:
            # The probe's own failure message is about the grader, not the notebook.
            notes = [n for n in notes if n != ev.probe.error]
    improve = sorted((c for t in card.tasks for c in t.checks if c.status in ("fail", "partial") and c.hint),
                     key=lambda c: c.points - c.max_points)
    return {"card": card, "view": view, "figures": figures, "other_figures": other_figures, "errors": errors,
            "answers": answers, "answer_for": answer_for,
            "answer_keys": ANSWER_EVIDENCE_KEYS, "metric_rows": rows, "evals": ev.evals if ev is not None and view == "interviewer"
            else [], "sources": sources, "run": run, "notes": notes, "improve": improve,
            "earned": round(sum(t.points for t in card.tasks), 2)}


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The Jinja environment: autoescape always on (``.j2`` files included), strict undefined."""
    # auto_reload off: templates are compiled once per process, not re-checked on every render
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template_dir())), auto_reload=False,
                             autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(icons=ICONS, status_labels=STATUS_LABELS, csp=CSP, failure_labels=FAILURE_LABELS,
                       bar_color=_bar_color, figure_tasks=FIGURE_TASKS)
    env.filters.update(num=num, pts=pts, compact=compact)
    return env


def render_scorecard(card: Scorecard, ev: Evidence | None, view: str) -> str:
    """One self-contained scorecard page.

    Parameters
    ----------
    card : Scorecard
        The full scorecard; for ``view="candidate"`` hidden checks, findings and
        penalties are removed here whatever was passed.
    ev : Evidence or None
        Adds figures, cell errors, ML Ops answers and printed-versus-recomputed metrics.
    view : {"interviewer", "candidate"}

    Returns
    -------
    str
        The HTML document.
    """
    if view not in ("interviewer", "candidate"):
        raise ValueError(f"view must be 'interviewer' or 'candidate', got {view!r}")
    return environment().get_template("scorecard.html.j2").render(**_context(card, ev, view))


# --- batch index --------------------------------------------------------------------------------------------

# The index's only script: sorts the table when a column header is clicked. It is allowed
# by its hash alone (no 'unsafe-inline'), so no other script can run on the page.
SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, col) {
    var button = th.querySelector("button");
    if (!button) { return; }
    button.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
        var nx = parseFloat(x), ny = parseFloat(y);
        var d = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
        return asc ? d : -d;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def script_hash(script: str) -> str:
    """The CSP source expression (``'sha256-...'``) that allows exactly ``script``."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


INDEX_CSP = (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src {script_hash(SORT_SCRIPT)}; "
             "base-uri 'none'; form-action 'none'")


@dataclass(frozen=True)
class IndexRow:
    card: Scorecard
    href: str
    tasks: dict[int, tuple[float, float]]
    finding_ids: list[str]


def histogram(percents: list[float], bins: int = 10) -> list[int]:
    """Counts of ``percents`` in ``bins`` equal bins over 0-100 (100 falls in the last).

    >>> histogram([0, 9.9, 10, 100], bins=10)
    [2, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    """
    counts = [0] * bins
    for p in percents:
        counts[min(bins - 1, max(0, int(p * bins // 100)))] += 1
    return counts


def render_index(cards: list[Scorecard], links: dict[str, str], health: Any = None) -> str:
    """The batch index page: every candidate in one sortable table, and a score histogram.

    Parameters
    ----------
    cards : list of Scorecard
        Interviewer scorecards of the batch, in any order (shown best first).
    links : dict of str to str
        ``card.candidate`` (or ``card.submission``) -> the scorecard's URL relative to
        the index page.
    health : grader.stats.RubricHealth or None
        The rubric-health section's data; None leaves the section out.

    Returns
    -------
    str
        The HTML document.
    """
    titles: dict[int, str] = {}
    for card in cards:
        for t in card.tasks:
            titles.setdefault(t.task, t.title)
    rows = []
    for card in sorted(cards, key=lambda c: (-c.percent, c.candidate)):
        link = links.get(card.candidate) or links.get(card.submission) or ""
        ids = list(dict.fromkeys(f.id for f in card.findings))
        rows.append(IndexRow(card=card, href=safe_href(link) if link else "",
                             tasks={t.task: (t.points, t.max_points) for t in card.tasks}, finding_ids=ids))
    percents = [c.percent for c in cards if c.status in ("graded", "partial")]
    return environment().get_template("index.html.j2").render(
        rows=rows, titles=dict(sorted(titles.items())), hist=histogram(percents), n_scored=len(percents),
        mean=sum(percents) / len(percents) if percents else None, csp=INDEX_CSP, script=Markup(SORT_SCRIPT),
        health=health)


__all__ = ["CSP", "INDEX_CSP", "highlight", "metric_rows", "render_index", "render_scorecard"]
