"""HTML scorecards and the batch index, without a browser.

Most tests build Scorecard and Evidence objects in memory (milliseconds); the ones
marked ``slow`` use the session's graded reference notebook.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import struct
import zlib

import pytest

from grader.html import CSP
from grader.html import INDEX_CSP
from grader.html import MAX_IMAGE_BYTES
from grader.html import SORT_SCRIPT
from grader.html import highlight
from grader.html import metric_rows
from grader.html import render_index
from grader.html import render_scorecard
from grader.html import safe_href
from grader.models import CellInfo
from grader.models import CellRecord
from grader.models import CheckResult
from grader.models import Evidence
from grader.models import Figure
from grader.models import Finding
from grader.models import MLOpsAnswer
from grader.models import ModelEval
from grader.models import PrintedMetric
from grader.models import ProbeFacts
from grader.models import RunInfo
from grader.models import Scorecard
from grader.models import Submission
from grader.models import TaskScore
from grader.report import candidate_view
from grader.rubric import load_rubric
from tests.conftest import EXAMPLES

XSS = "<script>alert(1)</script>"
TWO_MB = 2_000_000


# --- builders ---------------------------------------------------------------------------------------------


def png(n_bytes: int, seed: int = 0) -> str:
    """A valid PNG of about ``n_bytes``, base64-encoded (stored uncompressed, so the size is exact)."""
    side = max(1, int((n_bytes / 3) ** 0.5))
    rows = b"".join(b"\x00" + bytes([seed % 256]) * (3 * side) for _ in range(side))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 0)) + chunk(b"IEND", b"")
    return base64.b64encode(raw).decode()


def evidence(cells: list[tuple[str, str, str]] | None = None, figures: list[Figure] | None = None,
             records: list[CellRecord] | None = None, mlops: list[MLOpsAnswer] | None = None,
             printed: list[PrintedMetric] | None = None, evals: list[ModelEval] | None = None) -> Evidence:
    """Evidence with ``cells`` as (kind, task, source) and whatever else a test needs."""
    cells = cells or [("code", "1", "df = load()"), ("code", "2", "plot()"), ("code", "5", "plot()"),
                      ("markdown", "6", "answers")]
    infos = [CellInfo(index=i, cell_type=k, source=s, task=t) for i, (k, t, s) in enumerate(cells)]
    sub = Submission(path="x.ipynb", name="x", sha256="0" * 64, nbformat="4.5", cells=infos, tasks={})
    run = RunInfo(cells=records or [], seconds=1.0, kernel="python3", isolation="limits",
                  isolation_missing=["network isolation"], figures=figures or [])
    return Evidence(grader_version="t", probe_version="t", submission=sub, run=run, probe=ProbeFacts(ok=True),
                    mlops=mlops or [], printed_metrics=printed or [], evals=evals or [])


def check(cid: str, task: int, status: str = "fail", visibility: str = "public", **kw) -> CheckResult:
    base = {"title": f"title of {cid}", "points": 0.0 if status == "fail" else 1.0, "max_points": 1.0,
            "message": f"message of {cid}", "hint": f"hint of {cid}" if status != "pass" else ""}
    return CheckResult(id=cid, task=task, status=status, visibility=visibility, **{**base, **kw})


def card_of(checks: list[CheckResult], findings: list[Finding] | None = None, candidate: str = "cand") -> Scorecard:
    tasks = []
    for n in sorted({c.task for c in checks}):
        cs = [c for c in checks if c.task == n]
        tasks.append(TaskScore(task=n, title=f"Task title {n}", points=sum(c.points for c in cs),
                               max_points=sum(c.max_points for c in cs), found=True, checks=cs))
    points = sum(t.points for t in tasks)
    max_points = sum(t.max_points for t in tasks)
    return Scorecard(grader_version="t", rubric="staff-ds", rubric_version="1+2", rubric_hash="abc",
                     hidden_rubric=True, candidate=candidate, submission="x.ipynb", sha256="0" * 64, points=points,
                     max_points=max_points, percent=round(100 * points / max_points, 1), status="graded",
                     isolation="limits", isolation_missing=["network isolation"], seconds=1.0, tasks=tasks,
                     findings=findings or [])


def rubric_card() -> Scorecard:
    """Every check of the real rubric (public + hidden), failed, with a secret in its evidence."""
    checks = [check(c.id, t.id, visibility=c.visibility, title=c.title, hint=c.hint or f"hint of {c.id}",
                    message=f"{c.id} failed at threshold 0.8765", cell=3,
                    evidence={"threshold": 0.8765, "secret": f"evidence-of-{c.id}"})
              for t, c in load_rubric().checks()]
    return card_of(checks, findings=[Finding(id="library_patched", title="finding title", penalty=6,
                                             message="finding message: roc_auc_score replaced")])


def text_of(page: str) -> str:
    return html.unescape(page)


# --- candidate view ------------------------------------------------------------------------------------------


def test_candidate_view_shows_no_hidden_check():
    rubric = load_rubric()
    hidden = [c for _, c in rubric.checks() if c.visibility == "hidden"]
    assert hidden, "the rubric under test has hidden checks"
    card = rubric_card()
    page = text_of(render_scorecard(candidate_view(card), evidence(), "candidate"))
    for c in hidden:
        assert c.id not in page
        assert c.title not in page
        assert f"evidence-of-{c.id}" not in page
    for word in ("finding title", "finding message", "library_patched", "(hidden)", "Integrity findings"):
        assert word not in page
    # the public checks are there, with their hints
    for _, c in rubric.checks():
        if c.visibility == "public":
            assert c.title in page
            assert (c.hint or f"hint of {c.id}") in page


def test_candidate_view_is_enforced_by_the_renderer():
    # a caller that forgets candidate_view() still gets a page without hidden checks
    card = rubric_card()
    page = render_scorecard(card, evidence(), "candidate")
    assert "t4_printed_metrics_honest" not in page and "finding message" not in page


def test_candidate_view_never_prints_evidence_or_thresholds():
    card = card_of([check("t1_a", 1, evidence={"tolerance": 0.0314159, "need": 3})])
    page = render_scorecard(card, evidence(), "candidate")
    assert "0.03142" not in page and "tolerance" not in page
    assert "0.03142" in render_scorecard(card, evidence(), "interviewer")


def test_candidate_view_hides_the_hidden_rubric_version_and_hash():
    cand = candidate_view(card_of([check("t1_a", 1)]))
    assert cand.rubric_version == "1" and cand.rubric_hash == ""
    page = render_scorecard(cand, None, "candidate")
    assert "1+2" not in page and "abc" not in page


def test_failed_checks_show_their_hint_in_both_views():
    card = card_of([check("t1_a", 1, hint="do the thing"), check("t1_b", 1, status="pass")])
    for view in ("interviewer", "candidate"):
        assert "do the thing" in render_scorecard(card, None, view)
    assert "What to improve" in render_scorecard(card, None, "candidate")


def test_totals_match_the_scorecard():
    card = card_of([check("t1_a", 1, status="pass", points=2.5, max_points=3),
                    check("t4_h", 4, status="pass", visibility="hidden", points=2, max_points=2)])
    page = render_scorecard(card, None, "interviewer")
    assert f'data-points="{card.points}"' in page
    cand = candidate_view(card)
    assert f'data-points="{cand.points}"' in render_scorecard(card, None, "candidate")


# --- safety ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("view", ["interviewer", "candidate"])
def test_csp_meta_forbids_scripts_and_remote_loads(view):
    page = render_scorecard(card_of([check("t1_a", 1)]), evidence(), view)
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert meta and html.unescape(meta.group(1)) == CSP
    assert "default-src 'none'" in CSP and "script-src 'none'" in CSP and "img-src data:" in CSP
    assert page.index("Content-Security-Policy") < page.index("<style>")


def hostile_inputs() -> tuple[Scorecard, Evidence]:
    records = [CellRecord(index=0, status="error", failure="candidate_error", ename="ValueError", evalue=XSS,
                          traceback=f"ValueError: {XSS}")]
    ev = evidence(cells=[("code", "1", f"print('{XSS}')"), ("markdown", "6", XSS)], records=records,
                  mlops=[MLOpsAnswer(question=1, text=f"Docker {XSS} <img src=x onerror=alert(2)> </mark>",
                                     cells=[1], words=5)])
    card = card_of([check("t1_a", 1, message=XSS, hint=XSS, cell=0, evidence={"x": XSS}),
                    check("t6_a", 6, message="m", evidence={"question": 1, "matched": {"containers": ["docker"]}})],
                   findings=[Finding(id="f", message=XSS, evidence={"line": XSS})], candidate=XSS)
    return card, ev


@pytest.mark.parametrize("view", ["interviewer", "candidate"])
def test_candidate_text_is_escaped(view):
    card, ev = hostile_inputs()
    page = render_scorecard(card, ev, view)
    assert "<script" not in page.lower()
    assert "<img src=x" not in page
    assert not re.search(r"<[a-z][^>]*\son\w+\s*=", page)  # no tag carries an event handler
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<mark") == page.count("</mark>") == 1  # the candidate's own "</mark>" stays text


def test_no_script_element_in_either_view_of_a_full_card():
    for view in ("interviewer", "candidate"):
        assert "<script" not in render_scorecard(rubric_card(), evidence(), view).lower()


def test_highlight_escapes_first_then_marks():
    out = str(highlight("Ship a <b>Docker</b> image; containers scale. dockerfile", {"containers": ["docker", "container*"]}))
    assert out == ('Ship a &lt;b&gt;<mark title="containers">Docker</mark>&lt;/b&gt; image; '
                   '<mark title="containers">containers</mark> scale. dockerfile')
    # stems: "alerting" matches the phrase "alert"; multi-word phrases need consecutive words
    assert str(highlight("Alerting on drift", {"a": ["alert"], "b": ["on drift"]})) == (
        '<mark title="a">Alerting</mark> <mark title="b">on drift</mark>')
    # a group name is escaped too
    assert '<mark title="&lt;x&gt;">' in str(highlight("log", {"<x>": ["log"]}))


def test_highlight_marks_what_the_grader_matched():
    from grader.mlops import coverage

    text = "I'd log the model's predictions to CloudWatch, with autoscaling replicas behind a load balancer."
    groups = {"logging": ["log", "cloudwatch"], "scale": ["autoscal*", "load balanc*"], "none": ["kafka"]}
    matched = {g: p for g, p in coverage(text, groups).items() if p}
    out = str(highlight(text, matched))
    assert out.count("<mark") == 4 and "kafka" not in out


def test_safe_href():
    assert safe_href("a b/scorecard.html") == "a%20b/scorecard.html"
    assert safe_href("javascript:alert(1)").startswith("./")
    assert safe_href("https://x.org/a") == "https://x.org/a"


# --- figures and size ------------------------------------------------------------------------------------------


def figure_evidence(n: int, size: int) -> Evidence:
    figs = [Figure(cell=1 if i % 2 else 2, png_b64=png(size, seed=i)) for i in range(n)]
    return evidence(figures=figs)


@pytest.mark.parametrize("size", [40_000, 250_000])
def test_ten_figures_stay_under_two_megabytes(size):
    ev = figure_evidence(10, size)
    card = card_of([check("t2_a", 2), check("t5_a", 5)])
    for view in ("interviewer", "candidate"):
        page = render_scorecard(card, ev, view).encode()
        assert len(page) < TWO_MB, len(page)
        shown = page.count(b"data:image/png;base64,")
        assert shown >= (10 if size < 100_000 else 3)
        assert shown + page.count(b"left out to keep the page small") == 10


def test_oversized_and_fake_images_are_left_out_with_a_note():
    fake = base64.b64encode(b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>').decode()
    ev = evidence(figures=[Figure(cell=1, png_b64=png(MAX_IMAGE_BYTES + 50_000)), Figure(cell=1, png_b64=fake),
                           Figure(cell=1, png_b64="not base64 <script>")])
    page = render_scorecard(card_of([check("t2_a", 2)]), ev, "interviewer")
    assert "data:image/png" not in page
    assert "over the 300 KB limit per image" in page and page.count("not a valid PNG image") == 2


def test_figures_only_under_tasks_2_and_5():
    ev = evidence(cells=[("code", "1", "a"), ("code", "2", "b"), ("code", "4", "c"), ("code", "5", "d")],
                  figures=[Figure(cell=i, png_b64=png(2_000, seed=i)) for i in range(4)])
    page = render_scorecard(card_of([check(f"t{n}_a", n) for n in (1, 2, 4, 5)]), ev, "interviewer")
    assert page.count("data:image/png") == 2
    assert 'alt="figure from cell 1"' in page and 'alt="figure from cell 3"' in page


# --- errors, metrics, answers ------------------------------------------------------------------------------------


def test_cell_errors_show_failure_class_and_traceback_per_task():
    records = [CellRecord(index=1, status="timeout", failure="timeout", ename="CellTimeoutError", evalue="5 s",
                          traceback="KeyboardInterrupt: tb-of-cell-1"),
               CellRecord(index=0, status="error", failure="memory_limit", ename="MemoryError",
                          traceback="tb-of-cell-0\n\nCell In[1], line 77, in _grader_preamble.<locals>.fit\n\nlast"),
               CellRecord(index=2, status="not-run")]
    ev = evidence(cells=[("code", "1", "a"), ("code", "2", "b"), ("code", "2", "c")], records=records)
    card = card_of([check("t1_a", 1), check("t2_a", 2)])
    page = render_scorecard(card, ev, "interviewer")
    task2 = page[page.index('id="task-2"'):]
    assert "tb-of-cell-1" in task2 and "b-timeout" in task2 and "cell 2" in task2
    assert "memory_limit" in page[page.index('id="task-1"'):page.index('id="task-2"')]
    assert "_grader_preamble" in page
    # the candidate sees their own errors, without the grader's frames
    cand = render_scorecard(card, ev, "candidate")
    assert "tb-of-cell-0" in cand and "last" in cand and "_grader_preamble" not in cand


def test_printed_metrics_side_by_side_with_recomputed():
    evals = [ModelEval(name="rf", cls="RandomForestClassifier", n_test=300, labels_source="grader", verified=True,
                       accuracy=0.96, roc_auc=0.96831, n_pos=169, n_neg=131, ceiling_auc=0.9645)]
    printed = [PrintedMetric(metric="roc_auc", value=0.9683, decimals=4, cell=3, line="AUC 0.9683"),
               PrintedMetric(metric="roc_auc", value=0.9645, decimals=4, cell=3, line="ceiling 0.9645"),
               PrintedMetric(metric="accuracy", value=0.99, decimals=2, cell=4, line="Accuracy 0.99"),
               PrintedMetric(metric="accuracy", value=1.0, decimals=2, cell=4, line="train 1.00", is_train=True)]
    ev = evidence(printed=printed, evals=evals)
    assert [r.status for r in metric_rows(ev)] == ["match", "explained", "mismatch", "not-compared"]
    page = render_scorecard(card_of([check("t4_a", 4)]), ev, "interviewer")
    assert "Printed by the notebook vs recomputed" in page and "0.9683" in page and "+0.0300" in page
    assert "Printed by the notebook" not in render_scorecard(card_of([check("t4_a", 4)]), ev, "candidate")


def test_answers_highlighted_under_their_check():
    ev = evidence(mlops=[MLOpsAnswer(question=1, text="Ship it in Docker.", cells=[3], words=4, sample_similarity=0.12),
                         MLOpsAnswer(question=2, text="", words=0)])
    card = card_of([check("t6_deployment", 6, title="Question 1: deployment",
                          evidence={"question": 1, "matched": {"containers": ["docker"]}, "missing_groups": ["api"]}),
                    check("t6_monitoring", 6, title="Question 2", evidence={"question": 2, "matched": {}})])
    page = render_scorecard(card, ev, "interviewer")
    block = page[page.index('id="c-t6_deployment"'):page.index('id="c-t6_monitoring"')]
    assert '<mark title="containers">Docker</mark>' in block and "api (not covered)" in block
    assert "similarity to the handout sample 0.12" in block
    assert "No answer was found" in page[page.index('id="c-t6_monitoring"'):]
    assert "similarity" not in render_scorecard(card, ev, "candidate")


def test_findings_panel_with_evidence_and_penalty():
    card = card_of([check("t4_a", 4)], findings=[
        Finding(id="printed_metrics_mismatch", title="Printed metric matches no model", penalty=4, cell=0,
                message="cell 0 prints roc_auc 0.99", evidence={"printed": 0.99, "closest": 0.9683})])
    card = card.model_copy(update={"penalties": 4.0})
    page = render_scorecard(card, evidence(), "interviewer")
    panel = page[page.index('id="findings"'):page.index('id="task-4"')]
    assert "printed_metrics_mismatch" in panel and "− 4 points" in panel and "0.9683" in panel


def test_bad_input_card_without_tasks_renders():
    card = card_of([check("t1_a", 1)]).model_copy(update={"tasks": [], "status": "bad_input", "max_points": 0,
                                                          "points": 0, "percent": 0.0})
    for view in ("interviewer", "candidate"):
        assert "bad_input" in render_scorecard(card, None, view)


def test_print_stylesheet():
    page = render_scorecard(card_of([check("t2_a", 2)]), figure_evidence(6, 2_000), "interviewer")
    css = page[page.index("@media print"):]
    for rule in ("break-inside:avoid", ".thumb:nth-child(n+4){display:none}", "box-shadow:none"):
        assert rule in css


# --- batch index -------------------------------------------------------------------------------------------------


def test_index_renders_links_histogram_and_hashed_script():
    cards = [card_of([check("t1_a", 1, status="pass")], candidate="alice"),
             card_of([check("t1_a", 1)], candidate="bob",
                     findings=[Finding(id="library_patched", message="m"), Finding(id="library_patched", message="m")]),
             card_of([check("t1_a", 1)], candidate=XSS)]
    links = {"alice": "alice/scorecard.html", "bob": "bob dir/scorecard.html", XSS: "javascript:alert(1)"}
    page = render_index(cards, links)
    assert 'href="alice/scorecard.html"' in page and 'href="bob%20dir/scorecard.html"' in page
    assert 'href="javascript:' not in page and "<script>alert" not in page
    assert "library_patched" in page and "<svg class=\"hist\"" in page
    # the page's only script is exactly the one the CSP hash allows
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert scripts == [SORT_SCRIPT]
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in INDEX_CSP and html.unescape(page).count(INDEX_CSP) == 1
    assert "'unsafe-inline'" not in INDEX_CSP.split("script-src")[1].split(";")[0]
    # best first, so the table reads well with scripts off
    assert page.index(">alice<") < page.index(">bob<")


def test_index_of_nothing():
    assert "No submissions." in render_index([], {})


# --- on a real graded notebook ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_reference_pages(graded):
    result = graded(EXAMPLES / "reference.ipynb")
    card = result.card
    hidden = [c for t in card.tasks for c in t.checks if c.visibility == "hidden"]
    cand = text_of((result.out / "scorecard.candidate.html").read_text(encoding="utf-8"))
    for c in hidden:
        assert c.id not in cand and c.title not in cand and c.message not in cand
    interviewer = (result.out / "scorecard.html").read_text(encoding="utf-8")
    assert f'data-points="{card.points}"' in interviewer
    assert all(c.id in interviewer for c in hidden)
    assert "<mark" in interviewer and "Printed by the notebook vs recomputed" in interviewer
    for page in (interviewer, cand):
        assert len(page.encode()) < TWO_MB and "<script" not in page.lower()


def test_overrides_and_comments_are_interviewer_only():
    c = check("t1_a", 1, status="pass", points=1.0,
              override={"automatic": 0.0, "automatic_status": "fail", "points": 1.0, "reason": "reason-xyz",
                        "by": "reviewer-ann", "at": "2026-01-01T00:00:00Z"})
    card = card_of([c]).model_copy(update={
        "comments": [{"text": "general-comment", "task": None, "by": "reviewer-ann"}, {"text": "task-comment", "task": 1}],
        "orphaned_overrides": [{"check": "t9_gone", "automatic": 0, "points": 1, "reason": "orphan-reason"}]})
    page = render_scorecard(card, None, "interviewer")
    for text in ("reason-xyz", "general-comment", "orphan-reason", "t9_gone"):
        assert text in page
    assert "task-comment" in page[page.index('id="task-1"'):]
    cand = render_scorecard(card, None, "candidate")
    for text in ("reason-xyz", "general-comment", "task-comment", "orphan-reason", "t9_gone", "reviewer-ann"):
        assert text not in cand
