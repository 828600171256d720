"""Batch outputs built from per-submission results: grades.csv, junit.xml, summary.json, index.html,
and Gradescope ``results.json``.

Everything here is formatting over already-computed values (``Entry`` rows holding a
``Scorecard`` or a failure message), so ``grade batch``, ``grade rescore`` and ``grade merge``
produce identical files from the same results. Import-light on purpose: no kernel, no
numpy, no nbclient (the rescore path must stay fast, DESIGN decision 5).
"""

from __future__ import annotations

import csv
import html
import io
import json
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from grader import __version__
from grader.fileio import write_atomic
from grader.fileio import write_json
from grader.models import CheckResult
from grader.models import Evidence
from grader.models import Scorecard
from grader.stats import rubric_health

N_TASKS = 6
CSV_COLUMNS = ["file", "candidate", "total", "max", "percent", *[f"task{i}" for i in range(1, N_TASKS + 1)],
               "findings", "status", "message", "seconds", "folder", "overrides"]
SCORED = ("graded", "partial")
FAILED = ("partial", "bad_input", "error")


@dataclass(frozen=True)
class Entry:
    """One submission's result row: a scorecard, or the reason there is none.

    Parameters
    ----------
    file : str
        The notebook path as it was given (the CSV's ``file`` column).
    folder : str
        The submission's output folder name inside the batch folder.
    status : {"graded", "partial", "bad_input", "error"}
    card : Scorecard
        The interviewer scorecard; for bad_input/error rows a stub with no tasks,
        0 points and the message in ``notes`` (so index pages can list them too).
    message : str
        One line: why a row is bad_input/error/partial; empty otherwise.
    seconds : float
        Execution seconds for scored rows (from the evidence), wall seconds otherwise.
    """

    file: str
    folder: str
    status: str
    card: Scorecard
    message: str = ""
    error_class: str | None = None
    seconds: float = 0.0
    executed: bool = False
    cpu_seconds: float = 0.0
    worker_maxrss_mb: float = 0.0

    @property
    def scored(self) -> bool:
        return self.status in SCORED


@dataclass(frozen=True)
class RubricInfo:
    """What a stub scorecard needs to know about the rubric."""

    name: str = ""
    version: str = ""
    hash: str = ""
    max_points: float = 0.0
    hidden: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "hash": self.hash, "max_points": self.max_points,
                "hidden": self.hidden}


@dataclass
class Timings:
    """Batch-level timing and memory facts for summary.json."""

    wall_seconds: float = 0.0
    jobs: int = 1
    threads_per_kernel: int = 1
    cores: int = 1
    parent_maxrss_mb: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)  # executed / cached / rescored / skipped
    extra: dict[str, Any] = field(default_factory=dict)


def stub_card(file: str, candidate: str, status: str, message: str, seconds: float, rubric: RubricInfo,
              sha256: str = "") -> Scorecard:
    """A scorecard for a row with no grade (bad input, grading could not run)."""
    return Scorecard(grader_version=__version__, rubric=rubric.name, rubric_version=rubric.version,
                     rubric_hash=rubric.hash, hidden_rubric=rubric.hidden, candidate=candidate, submission=file,
                     sha256=sha256, points=0.0, max_points=rubric.max_points, percent=0.0, status=status,
                     isolation="", seconds=round(seconds, 3), tasks=[], notes=[message] if message else [])


def finding_ids(card: Scorecard) -> list[str]:
    return list(dict.fromkeys(f.id for f in card.findings))


def _num(x: float) -> str:
    return f"{x:g}"


def overridden_checks(card: Scorecard) -> list[CheckResult]:
    """The checks of ``card`` an interviewer overrode (rubric order)."""
    return [c for t in card.tasks for c in t.checks if c.override is not None]


def override_text(c: CheckResult) -> str:
    """``check:automatic->new`` (the grades.csv form), e.g. ``t4_leakage:1->2``."""
    o = c.override or {}
    return f"{c.id}:{_num(float(o.get('automatic', 0.0)))}->{_num(c.points)}"


# --- grades.csv -----------------------------------------------------------------------------------------------


def csv_rows(entries: list[Entry]) -> list[dict[str, str]]:
    """One dict per entry with the :data:`CSV_COLUMNS` keys, sorted by file."""
    rows = []
    for e in sorted(entries, key=lambda e: (e.file, e.folder)):
        card = e.card
        tasks = {t.task: t.points for t in card.tasks}
        row = {"file": e.file, "candidate": card.candidate, "total": _num(card.points) if e.scored else "0",
               "max": _num(card.max_points), "percent": f"{card.percent:.1f}", "findings": ";".join(finding_ids(card)),
               "status": e.status, "message": e.message, "seconds": f"{e.seconds:.1f}", "folder": e.folder,
               "overrides": ";".join(override_text(c) for c in overridden_checks(card))}
        for i in range(1, N_TASKS + 1):
            row[f"task{i}"] = _num(tasks[i]) if i in tasks else ""
        rows.append(row)
    return rows


def csv_text(entries: list[Entry]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(entries))
    return buf.getvalue()


# --- junit.xml ------------------------------------------------------------------------------------------------


def _unique_names(entries: list[Entry]) -> list[Scorecard]:
    """Cards with candidate names made unique (two notebooks may carry the same name)."""
    counts = Counter(e.card.candidate for e in entries)
    return [e.card if counts[e.card.candidate] == 1 else e.card.model_copy(update={"candidate": f"{e.card.candidate} ({e.folder})"})
            for e in entries]


def override_line(c: CheckResult) -> str:
    """One line for an overridden check: automatic value, new value, who and why."""
    o = c.override or {}
    auto = f"{_num(float(o.get('automatic', 0.0)))}/{_num(c.max_points)}"
    if o.get("automatic_status"):
        auto += f" ({o['automatic_status']})"
    who = (f" by {o['by']}" if o.get("by") else "") + (f" on {o['at']}" if o.get("at") else "")
    reason = f": {o['reason']}" if o.get("reason") else ""
    return f"override: automatic {auto} -> {_num(c.points)}/{_num(c.max_points)} points ({c.status}){who}{reason}"


def annotate_overrides(suite: ET.Element, card: Scorecard) -> None:
    """Mark the overridden checks' testcases of ``card``'s testsuite (as ``report.junit_xml`` builds it).

    The testcase already carries the final status; it gains ``override.*`` properties
    (automatic points and status, new points, reason, by, at) and a system-out line.
    """
    cases = {(case.get("classname"), case.get("name")): case for case in suite.findall("testcase")}
    for c in overridden_checks(card):
        case = cases.get((f"{card.candidate}.task{c.task}", c.id))
        if case is None:
            continue
        o = c.override or {}
        props = ET.Element("properties")
        for key in ("automatic", "automatic_status", "points", "reason", "by", "at"):
            if o.get(key) not in (None, ""):
                ET.SubElement(props, "property", name=f"override.{key}", value=str(o[key]))
        case.insert(0, props)
        out = case.find("system-out")
        if out is None:
            out = ET.SubElement(case, "system-out")
            out.text = override_line(c)
        else:
            out.text = f"{out.text or ''}\n{override_line(c)}".lstrip("\n")


def card_junit_xml(cards: list[Scorecard]) -> str:
    """``report.junit_xml`` with the overridden checks annotated (:func:`annotate_overrides`)."""
    from grader.report import junit_xml

    root = ET.fromstring(junit_xml(cards))
    for suite, card in zip(root.findall("testsuite"), cards, strict=True):
        annotate_overrides(suite, card)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def junit_text(entries: list[Entry]) -> str:
    """A testsuite per submission (report.junit_xml), a one-error testsuite per row with no grade."""
    cards = _unique_names(entries)
    scored = [c for e, c in zip(entries, cards, strict=True) if e.scored]
    parsed = iter(ET.fromstring(card_junit_xml(scored)).findall("testsuite"))
    root = ET.Element("testsuites", name="grade")
    for e, card in zip(entries, cards, strict=True):
        if e.scored:
            root.append(next(parsed))
            continue
        suite = ET.SubElement(root, "testsuite", name=card.candidate, tests="1", failures="0", errors="1",
                              skipped="0", time=f"{e.seconds:.3f}")
        props = ET.SubElement(suite, "properties")
        for k, v in (("status", e.status), ("file", e.file), ("error_class", e.error_class or "")):
            ET.SubElement(props, "property", name=k, value=v)
        case = ET.SubElement(suite, "testcase", classname=f"{card.candidate}.submission", name="graded", time="0")
        ET.SubElement(case, "error", message=e.message or e.status, type=e.status).text = e.message
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# --- Gradescope results.json ----------------------------------------------------------------------------------


def gradescope_results(card: Scorecard) -> dict[str, Any]:
    """Gradescope autograder ``results.json`` for one graded submission.

    Follows https://gradescope-autograders.readthedocs.io/en/latest/specs/: a top-level
    ``score`` (the total after penalties, which overrides the sum of tests), ``execution_time``
    in seconds, ``output``, and one test per check with ``name``, ``number``, ``score``,
    ``max_score``, ``status`` ("passed"/"failed") and ``visibility`` ("visible" for public
    checks, "hidden" for hidden ones). Findings are interviewer-only: they go to
    ``extra_data`` (stored, never shown to students) and never into a test or the output.
    An overridden check's test has the final score and says in its output that a reviewer
    adjusted it (automatic and new points); the reason and who go to ``extra_data``.
    """
    tests = []
    for t in card.tasks:
        for i, c in enumerate(t.checks, 1):
            text = c.message if c.status == "pass" or not c.hint else f"{c.message}\nHint: {c.hint}"
            if c.override is not None:
                # the points a reviewer set, never their reason (interviewer notes stay in extra_data)
                auto = _num(float(c.override.get("automatic", 0.0)))
                text += (f"\nScore adjusted by a reviewer: {auto}/{_num(c.max_points)} -> "
                         f"{_num(c.points)}/{_num(c.max_points)} points.")
            tests.append({"name": f"Task {t.task}: {c.title}", "number": f"{t.task}.{i}", "score": c.points,
                          "max_score": c.max_points, "status": "passed" if c.status == "pass" else "failed",
                          "output": text, "visibility": "visible" if c.visibility == "public" else "hidden",
                          "tags": [f"task{t.task}", c.id]})
    public = [c for t in card.tasks for c in t.checks if c.visibility == "public"]
    output = (f"Public checks: {sum(c.points for c in public):g}/{sum(c.max_points for c in public):g} points. "
              "Some checks are hidden until grades are released.")
    if card.status == "partial":
        output += " Your notebook did not run to the end, so later checks may have had nothing to look at."
    return {"score": card.points, "execution_time": round(card.seconds), "output": output,
            "stdout_visibility": "hidden", "tests": tests,
            "extra_data": {"status": card.status, "percent": card.percent, "max_points": card.max_points,
                           "penalties": card.penalties, "findings": finding_ids(card),
                           "overrides": [{"check": c.id, **(c.override or {})} for c in overridden_checks(card)],
                           "orphaned_overrides": card.orphaned_overrides,
                           "rubric": f"{card.rubric} {card.rubric_version}", "grader_version": card.grader_version}}


def gradescope_failure(status: str, message: str, seconds: float) -> dict[str, Any]:
    """``results.json`` for a submission that could not be graded (no tests, the reason in ``output``)."""
    if status == "bad_input":
        output = f"Your submission could not be graded: {message}"
    else:
        output = f"Grading could not run (not a problem with your notebook; staff have been told): {message}"
    return {"score": 0.0, "execution_time": round(seconds), "output": output, "stdout_visibility": "hidden",
            "tests": [], "extra_data": {"status": status}}


# --- summary.json ---------------------------------------------------------------------------------------------


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "mean": None, "median": None, "min": None, "max": None}
    return {"n": len(values), "mean": round(statistics.fmean(values), 2), "median": round(statistics.median(values), 2),
            "min": round(min(values), 2), "max": round(max(values), 2)}


def summary(entries: list[Entry], timings: Timings, command: str) -> dict[str, Any]:
    """Counts, mean/median percent, per-check pass rates, overrides (orphaned ones too) and timings of a batch."""
    scored = [e for e in entries if e.scored]
    status_counts = Counter(e.status for e in entries)
    checks: dict[str, dict[str, Any]] = {}
    for e in scored:
        for t in e.card.tasks:
            for c in t.checks:
                s = checks.setdefault(c.id, {"task": t.task, "title": c.title, "visibility": c.visibility,
                                             "max_points": c.max_points, "n": 0, "pass": 0, "partial": 0,
                                             "fail": 0, "error": 0, "skipped": 0, "mean_points": 0.0,
                                             "overridden": 0})
                s["n"] += 1
                s[c.status] += 1
                s["mean_points"] += c.points
                s["overridden"] += c.override is not None
    for s in checks.values():
        s["pass_rate"] = round(s["pass"] / s["n"], 3) if s["n"] else None
        s["mean_points"] = round(s["mean_points"] / s["n"], 2) if s["n"] else None
    findings = Counter(fid for e in scored for fid in finding_ids(e.card))
    rubrics = sorted({(e.card.rubric, e.card.rubric_version, e.card.rubric_hash) for e in scored})
    secs = [e.seconds for e in entries]
    return {
        "grader_version": __version__,
        "command": command,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rubric": [{"name": n, "version": v, "hash": h} for n, v, h in rubrics],
        "counts": {"total": len(entries), **{s: status_counts.get(s, 0) for s in ("graded", "partial", "bad_input", "error")}},
        "percent": _stats([e.card.percent for e in scored]),
        "points": _stats([e.card.points for e in scored]),
        "checks": dict(sorted(checks.items(), key=lambda kv: (kv[1]["task"], kv[0]))),
        "findings": dict(sorted(findings.items())),
        "failures": [{"folder": e.folder, "file": e.file, "status": e.status, "error_class": e.error_class,
                      "message": e.message} for e in entries if e.status in FAILED],
        "overrides": [{"folder": e.folder, "check": c.id, "final_points": c.points, **(c.override or {})}
                      for e in scored for c in overridden_checks(e.card)],
        # overrides whose check the rubric no longer has: listed, never dropped or moved to another check
        "orphaned_overrides": [{"folder": e.folder, **o} for e in scored for o in e.card.orphaned_overrides],
        "timings": {
            "wall_seconds": round(timings.wall_seconds, 2), "jobs": timings.jobs,
            "threads_per_kernel": timings.threads_per_kernel, "cores": timings.cores,
            "seconds_per_submission": _stats(secs), "seconds_total": round(sum(secs), 2),
            "cpu_seconds_total": round(sum(e.cpu_seconds for e in entries), 2),
            "executed": sum(e.executed for e in entries), **timings.counts,
            "parent_maxrss_mb": round(timings.parent_maxrss_mb, 1),
            "worker_maxrss_mb_max": round(max((e.worker_maxrss_mb for e in entries), default=0.0), 1),
            **timings.extra,
        },
    }


# --- index.html -----------------------------------------------------------------------------------------------


def _fallback_index(entries: list[Entry], links: dict[str, str]) -> str:
    """A minimal index page, used only while grader.html has no render_index."""
    rows = []
    for e in sorted(entries, key=lambda e: (-e.card.percent, e.card.candidate)):
        name = html.escape(e.card.candidate)
        link = links.get(e.card.submission, "")
        cell = f'<a href="{html.escape(link)}">{name}</a>' if link else name
        rows.append(f"<tr><td>{cell}</td><td>{e.card.points:g}/{e.card.max_points:g}</td><td>{e.card.percent:.1f}%</td>"
                    f"<td>{html.escape(e.status)}</td><td>{html.escape(', '.join(finding_ids(e.card)))}</td>"
                    f"<td>{html.escape(e.message)}</td></tr>")
    csp = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\"><title>Batch grades</title></head>"
            "<body><h1>Batch grades</h1><table><thead><tr><th>Candidate</th><th>Points</th><th>Percent</th>"
            "<th>Status</th><th>Findings</th><th>Message</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></body></html>\n")


def index_html(entries: list[Entry], base: Path | None = None) -> str:
    """The batch index page: ``grader.html.render_index`` when present, else a minimal fallback.

    Links point at each submission's ``scorecard.html`` (``grade.log`` for rows with no grade),
    relative to the batch folder, keyed by ``card.submission``.
    """
    from grader import html as html_mod

    cards = _unique_names(entries)
    links = {c.submission: f"{e.folder}/{'scorecard.html' if e.scored else 'grade.log'}"
             for e, c in zip(entries, cards, strict=True)}
    try:
        health = rubric_health(cards)
    except Exception as e:  # the rubric-health section must not cost the batch its index
        print(f"grade: warning: index page has no rubric-health section ({type(e).__name__}: {e})", file=sys.stderr)
        health = None
    try:
        return html_mod.render_index(cards, links, health)
    except Exception as e:  # the index page must not cost a batch its other outputs
        print(f"grade: warning: index page fell back to a plain table ({type(e).__name__}: {e})", file=sys.stderr)
        return _fallback_index(entries, links)


# --- writing --------------------------------------------------------------------------------------------------


def write_batch_outputs(out: Path, entries: list[Entry], timings: Timings, command: str) -> list[Path]:
    """Write grades.csv, junit.xml, summary.json and index.html into ``out`` (atomically, each)."""
    entries = sorted(entries, key=lambda e: (e.file, e.folder))
    files = {"grades.csv": csv_text(entries), "junit.xml": junit_text(entries), "index.html": index_html(entries)}
    for name, text in files.items():
        write_atomic(out / name, text)
    report = summary(entries, timings, command)
    similar = out / "similar_answers.json"
    if similar.exists():  # computed once per batch from the evidence; rescore keeps it
        report["similar_answers"] = json.loads(similar.read_text(encoding="utf-8"))["pairs"]
    write_json(out / "summary.json", report)
    return [out / n for n in ("grades.csv", "junit.xml", "summary.json", "index.html")]


def write_card_reports(card: Scorecard, ev: Evidence, out: Path,
                       views: tuple[str, ...] = ("interviewer", "candidate")) -> list[Path]:
    """The per-submission report files, as ``grader.pipeline.write_reports`` writes them.

    Kept here so that re-scoring does not import the pipeline (which pulls in the kernel
    machinery); tests check that both write the same files. In a folder marked for blind
    grading (``grader.anonymize``) every file shows the candidate id instead of the name.
    """
    from grader import report
    from grader.anonymize import for_folder
    from grader.overrides import strip_for_candidate

    card, shown = for_folder(card, ev, out)
    ev = shown if shown is not None else ev
    files: list[Path] = []
    if "interviewer" in views:
        write_json(out / "scorecard.json", report.scorecard_json(card))
        write_atomic(out / "scorecard.html", report.render_html(card, ev, "interviewer"))
        write_atomic(out / "junit.xml", card_junit_xml([card]))
        files += [out / n for n in ("scorecard.html", "scorecard.json", "junit.xml")]
    if "candidate" in views:
        cand = strip_for_candidate(report.candidate_view(card))
        write_atomic(out / "scorecard.candidate.html", report.render_html(cand, ev, "candidate"))
        files.append(out / "scorecard.candidate.html")
        if "interviewer" not in views:
            write_json(out / "scorecard.json", report.scorecard_json(cand))
            files.append(out / "scorecard.json")
    return files


def below_threshold(entries: list[Entry], threshold: float, mean: bool) -> str | None:
    """The ``--fail-under`` message when it is not met, else None.

    Rows with no grade count as 0 % (a bad notebook is not a pass); error rows are left
    out (they already make the command exit 3).
    """
    rated = [e for e in entries if e.status != "error"]
    if not rated:
        return None
    if mean:
        value = statistics.fmean(e.card.percent for e in rated)
        return f"mean score {value:.1f}% is below --fail-under {threshold:g}%" if value < threshold else None
    low = [e for e in rated if e.card.percent < threshold]
    if not low:
        return None
    names = ", ".join(f"{e.folder} ({e.card.percent:.1f}%)" for e in low[:5]) + (" ..." if len(low) > 5 else "")
    return f"{len(low)} of {len(rated)} scores are below --fail-under {threshold:g}%: {names}"
