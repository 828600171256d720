"""Scorecards in a real headless browser (the system Chromium, driven by Playwright).

Each page is opened from disk (file:// URL) with every console message, page error,
dialog and network request recorded. A page passes when it loads cleanly, requests
nothing but file: and data: URLs, shows the same total as scorecard.json, and none of
the candidate's HTML or JavaScript ran (the document title is unchanged, no dialog).
Graded notebooks: the reference, a crashed one, and a tiny hostile one built here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from grader.html import render_index
from grader.report import candidate_view
from tests.conftest import EXAMPLES
from tests.conftest import notebook

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no system Chromium at /usr/bin/chromium"),
]

# A file name is candidate input too: it becomes the candidate's name on the page.
HOSTILE_NAME = "hostile<img src=x onerror=alert(4)>.ipynb"
# Markup and script in every place candidate text reaches the page: headings, markdown,
# HTML and JavaScript outputs, stdout, a traceback, a fake PNG, the ML Ops answers (with
# a stray </mark>). Small on purpose: no pandas, it runs in 2-3 s.
HOSTILE_CELLS = [
    ("md", "# Staff DS test <script>alert('h1')</script>\n\n<img src=x onerror=\"document.title='pwned img'\">\n\n"
           "<link rel=stylesheet href=\"https://example.com/x.css\">"
           "<style>@import url(https://example.com/y.css);</style>\n\n![remote](https://example.com/pixel.png)"),
    ("md", "## Task 1: Data <b onmouseover=alert(1)>loading</b>"),
    ("code", "from IPython.display import HTML, Javascript, display\n"
             "display(HTML(\"<script>document.title='pwned html'; alert('html')</script>"
             "<img src=x onerror=\\\"document.title='pwned onerror'\\\">\"))\n"
             "display(Javascript(\"document.title='pwned js'\"))\n"
             "print('<script>alert(\"stdout\")</script>')"),
    ("md", "## Task 2: Exploratory data analysis"),
    ("code", "from IPython.display import display\n"
             "display({'image/png': 'PHN2ZyBvbmxvYWQ9ImFsZXJ0KDEpIi8+'}, raw=True)  # an SVG posing as a PNG"),
    ("md", "## Task 4: Model building"),
    ("code", "raise ValueError(\"<script>document.title='pwned traceback'</script>\")"),
    ("md", "## Task 6: ML Ops and production readiness"),
    ("md", "1. **Deployment:** I would save the pipeline with joblib <script>alert('answer')</script> and serve it "
           "from a <img src=x onerror=alert(2)> Docker container behind a REST API on Kubernetes, because the "
           "model is small.\n\n"
           "2. **Monitoring:** log every prediction and alert on drift <iframe src=\"https://example.com\"></iframe> "
           "with a PSI test.\n\n"
           "3. **CI/CD:** GitHub Actions runs unit tests </mark><mark>on every change</mark> and MLflow keeps "
           "versions.\n\n"
           "4. **Scalability:** several replicas behind a load balancer with autoscaling; retrain monthly."),
]

VIEWS = {"interviewer": "scorecard.html", "candidate": "scorecard.candidate.html"}


@pytest.fixture(scope="session")
def hostile_notebook(tmp_path_factory) -> Path:
    return notebook(HOSTILE_CELLS, tmp_path_factory.mktemp("hostile") / HOSTILE_NAME)


@pytest.fixture(scope="session")
def submissions(graded, hostile_notebook):
    """name -> GradeResult. Graded before any browser starts: Playwright's sync API runs an
    event loop in this thread, and nbclient cannot start its own inside one."""
    return {"reference": graded(EXAMPLES / "reference.ipynb"),
            "crash_task4": graded(EXAMPLES / "crash_task4.ipynb"),
            "hostile": graded(hostile_notebook)}


@pytest.fixture(scope="module")
def browser(submissions):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


class Visit:
    """A page opened with everything it does recorded."""

    def __init__(self, browser, url: str) -> None:
        self.console: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": 1100, "height": 900})
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

        def on_dialog(d) -> None:
            self.dialogs.append(d.message)
            d.dismiss()

        self.page.on("dialog", on_dialog)
        self.page.goto(url, wait_until="load")
        self.page.wait_for_timeout(200)  # let any (forbidden) timer or onerror handler fire

    def remote_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(("file:", "data:"))]

    def close(self) -> None:
        self.page.close()


def expected_title(page_html: str) -> str:
    import html

    return html.unescape(re.search(r"<title>(.*?)</title>", page_html, re.S).group(1))


@pytest.mark.parametrize("view", sorted(VIEWS))
@pytest.mark.parametrize("name", ["reference", "crash_task4", "hostile"])
def test_scorecard_in_browser(browser, submissions, tmp_path, name, view):
    result = submissions[name]
    path = result.out / VIEWS[view]
    visit = Visit(browser, path.as_uri())
    try:
        assert visit.errors == []
        assert visit.console == []
        assert visit.dialogs == []
        assert visit.remote_requests() == []
        # the title is the template's, so no candidate script rewrote it
        title = visit.page.title()
        assert "pwned" not in title and title == expected_title(path.read_text(encoding="utf-8"))
        assert visit.page.evaluate("document.scripts.length") == 0
        assert visit.page.evaluate("document.querySelectorAll('iframe, object, embed, link, base').length") == 0
        # the total shown is the scorecard's (the candidate's own, without hidden checks)
        card = json.loads((result.out / "scorecard.json").read_text())
        points = card["points"] if view == "interviewer" else candidate_view(result.card).points
        shown = visit.page.locator("#total")
        assert float(shown.get_attribute("data-points")) == pytest.approx(points)
        assert float(shown.inner_text()) == pytest.approx(points)
        visit.page.screenshot(path=str(tmp_path / f"{name}-{view}.png"), full_page=True)
        assert (tmp_path / f"{name}-{view}.png").stat().st_size > 10_000
    finally:
        visit.close()


def test_hostile_text_is_shown_as_text(browser, submissions):
    result = submissions["hostile"]
    visit = Visit(browser, (result.out / "scorecard.html").as_uri())
    try:
        text = visit.page.inner_text("body")
        # the candidate's markup is visible as characters, not interpreted
        assert "hostile<img src=x onerror=alert(4)>" in text
        assert "<script>alert('answer')</script>" in text
        assert "<iframe" in text
        # only the grader's own marks: the stray </mark><mark> of question 3 is text
        marks = visit.page.evaluate("Array.from(document.querySelectorAll('mark')).map(m => m.textContent)")
        assert marks and "on every change" not in marks
        assert visit.page.evaluate("document.querySelectorAll('img').length") == 0  # the fake PNG is left out
        assert "not a valid PNG image" in text
    finally:
        visit.close()


def test_crashed_cells_listed_with_failure_class(browser, submissions):
    result = submissions["crash_task4"]
    visit = Visit(browser, (result.out / "scorecard.html").as_uri())
    try:
        task4 = visit.page.inner_text("#task-4")
        assert "candidate_error" in task4 and "ValueError" in task4
        assert "\x1b[" not in task4  # ANSI codes were stripped
    finally:
        visit.close()


def test_figures_display_and_enlarge(browser, submissions):
    result = submissions["reference"]
    visit = Visit(browser, (result.out / "scorecard.html").as_uri())
    try:
        imgs = visit.page.locator("#task-2 .thumb img")
        assert imgs.count() >= 3
        assert visit.page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        before = imgs.first.bounding_box()["width"]
        imgs.first.click()  # the CSS-only zoom: a checkbox inside the label
        assert imgs.first.bounding_box()["width"] > before * 1.5
    finally:
        visit.close()


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_reference_prints_on_two_pages(browser, submissions, view):
    result = submissions["reference"]
    visit = Visit(browser, (result.out / VIEWS[view]).as_uri())
    try:
        pdf = visit.page.pdf(format="A4", print_background=True)
        pages = len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))
        assert 1 <= pages <= 2
    finally:
        visit.close()


def test_index_sorts_with_its_hashed_script(browser, submissions, tmp_path):
    results = [submissions[n] for n in ("reference", "crash_task4", "hostile")]
    links = {r.card.candidate: (r.out / "scorecard.html").as_uri() for r in results}
    index = tmp_path / "index.html"
    index.write_text(render_index([r.card for r in results], links), encoding="utf-8")
    visit = Visit(browser, index.as_uri())
    try:
        # a CSP violation (script hash out of date) would show up as a console error
        assert visit.console == [] and visit.errors == [] and visit.dialogs == []
        assert visit.remote_requests() == []
        names = visit.page.locator("#grades tbody tr td:first-child")
        assert names.nth(0).inner_text() == "reference"
        visit.page.click("#grades thead th:nth-child(3) button")  # points, ascending now
        assert names.nth(0).inner_text() != "reference"
        assert names.nth(2).inner_text() == "reference"
        hrefs = visit.page.eval_on_selector_all("#grades a", "els => els.map(e => e.href)")
        assert sorted(hrefs) == sorted(links.values())
        visit.page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
    finally:
        visit.close()
