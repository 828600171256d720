"""Review outputs: overrides in every format, comments, rubric health (``grade stats``), blind grading.

Fast tests build scorecards in memory. Kernel-backed ones (``slow``) grade one small
anonymized batch of tiny notebooks once per module and otherwise work on copies of
output folders the session has already graded (``graded`` fixture), so that overrides,
re-scores and re-runs execute nothing.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import statistics
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from grader import stats
from grader.anonymize import MAPPING
from grader.anonymize import Scrubber
from grader.anonymize import candidate_id
from grader.anonymize import unique_ids
from grader.batch import file_sha256
from grader.cli import main
from grader.models import CheckResult
from grader.models import Scorecard
from grader.models import TaskScore
from grader.outputs import Entry
from grader.outputs import card_junit_xml
from grader.outputs import csv_rows
from grader.outputs import gradescope_results
from grader.overrides import Corrections
from grader.overrides import Override
from grader.overrides import apply
from tests.conftest import EXAMPLES
from tests.conftest import ROOT
from tests.conftest import notebook

HEAVY = ("numpy", "pandas", "sklearn", "scipy", "matplotlib", "nbclient", "jupyter_client", "zmq")
# What a blind batch must never show outside anonymization.csv and evidence.json.
SECRETS = ("zelda", "quintero", "bartholomew")
REASON = "reads the CSV in a helper the probe missed"


# --- builders -----------------------------------------------------------------------------------------------------


def check(cid: str, status: str, points: float, max_points: float = 2.0, task: int = 1) -> CheckResult:
    return CheckResult(id=cid, task=task, title=cid, status=status, points=points, max_points=max_points, message="m")


def card(name: str, checks: list[CheckResult], status: str = "graded") -> Scorecard:
    tasks: dict[int, list[CheckResult]] = {}
    for c in checks:
        tasks.setdefault(c.task, []).append(c)
    points = sum(c.points for c in checks)
    max_points = sum(c.max_points for c in checks)
    return Scorecard(grader_version="t", rubric="r", rubric_version="1", rubric_hash="h", hidden_rubric=True,
                     candidate=name, submission=f"{name}.ipynb", sha256="0" * 64, points=points,
                     max_points=max_points, percent=round(100 * points / max_points, 1) if max_points else 0.0, status=status,
                     isolation="none", seconds=1.0,
                     tasks=[TaskScore(task=k, title=f"Task {k}", points=sum(c.points for c in v),
                                      max_points=sum(c.max_points for c in v), found=True, checks=v)
                            for k, v in sorted(tasks.items())])


def overridden(c: Scorecard, cid: str, points: float, reason: str = REASON) -> Scorecard:
    auto = next(x for t in c.tasks for x in t.checks if x.id == cid).points
    return apply(c, Corrections(overrides=[Override(check=cid, automatic=auto, points=points, reason=reason,
                                                    by="dana", at="2026-01-01T00:00:00Z")]))


def all_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def leaks(folder: Path, secrets: tuple[str, ...] = SECRETS) -> list[str]:
    """Files (names or contents) of ``folder`` that mention a secret, anonymization.csv and evidence.json aside."""
    found = []
    for p in all_files(folder):
        rel = str(p.relative_to(folder))
        if p.name in (MAPPING, "evidence.json"):
            continue
        text = (rel + "\n" + p.read_bytes().decode("utf-8", errors="replace")).casefold()
        found += [f"{rel}: {s}" for s in secrets if s in text]
    return found


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def csv_rows_of(out: Path) -> dict[str, dict[str, str]]:
    return {r["folder"]: r for r in read_csv(out / "grades.csv")}


def junit_case(path: Path, cid: str, candidate: str = "") -> ET.Element:
    return next(c for c in ET.parse(path).getroot().iter("testcase")
                if c.get("name") == cid and c.get("classname", "").startswith(candidate))


def renamed_rubric(tmp_path: Path, old: str, new: str) -> Path:
    """The shipped public rubric with check ``old`` renamed to ``new`` (a rubric change)."""
    text = (ROOT / "rubrics" / "staff-ds.yaml").read_text(encoding="utf-8")
    assert f"id: {old}\n" in text
    path = tmp_path / "renamed.yaml"
    path.write_text(text.replace(f"id: {old}\n", f"id: {new}\n"), encoding="utf-8")
    return path


# --- no kernel ----------------------------------------------------------------------------------------------------


def test_override_shows_in_csv_junit_and_gradescope():
    base = card("ann", [check("a", "fail", 0.0), check("b", "pass", 2.0)])
    c = overridden(base, "a", 1.5)
    assert c.points == 3.5 and c.tasks[0].checks[0].status == "partial"
    (row,) = csv_rows([Entry(file="ann.ipynb", folder="ann", status="graded", card=c)])
    assert row["total"] == "3.5" and row["overrides"] == "a:0->1.5"
    root = ET.fromstring(card_junit_xml([c]))
    case = next(x for x in root.iter("testcase") if x.get("name") == "a")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["override.automatic"] == "0.0" and props["override.points"] == "1.5"
    assert props["override.reason"] == REASON and props["override.automatic_status"] == "fail"
    assert case.find("failure").get("type") == "partial"  # the final status, not the automatic one
    assert "override: automatic 0/2 (fail) -> 1.5/2 points" in case.find("system-out").text
    untouched = next(x for x in root.iter("testcase") if x.get("name") == "b")
    assert untouched.find("properties") is None
    result = gradescope_results(c)
    assert result["score"] == 3.5
    test = next(t for t in result["tests"] if "a" in t["tags"])
    assert test["score"] == 1.5 and "adjusted by a reviewer: 0/2 -> 1.5/2" in test["output"]
    assert REASON not in json.dumps(result["tests"]) + result["output"]  # reasons are interviewer notes
    assert result["extra_data"]["overrides"][0]["reason"] == REASON


def test_stats_rates_discrimination_and_flags():
    # six submissions: "easy" always passes, "hard" never, "odd" is passed by the weak ones only,
    # "good" follows the rest of the total, "fixed" is overridden (up twice, down once)
    rows = [(2, 2, 0, 2), (2, 2, 0, 2), (2, 2, 0, 1), (2, 0, 0, 0), (0, 0, 2, 0), (0, 1, 2, 0)]
    cards = []
    for i, (good, mid, odd, extra) in enumerate(rows):
        cards.append(card(f"c{i}", [
            check("easy", "pass", 2.0), check("hard", "fail", 0.0),
            check("good", "pass" if good == 2 else "fail", good, task=2),
            check("mid", {2: "pass", 1: "partial", 0: "fail"}[mid], mid, task=2),
            check("odd", "pass" if odd else "fail", odd, task=3),
            check("extra", {2: "pass", 1: "partial", 0: "fail"}[extra], extra, task=3),
            check("fixed", "fail", 0.0, task=3),
        ]))
    cards[0] = overridden(cards[0], "fixed", 2.0)
    cards[1] = overridden(cards[1], "fixed", 1.0)
    cards.append(card("bad", [], status="bad_input"))  # no checks: left out of every rate
    health = stats.rubric_health(cards)
    assert health.n_submissions == 7 and health.n_scored == 6
    by = {h.id: h for h in health.checks}
    assert [h.id for h in health.checks] == ["easy", "hard", "good", "mid", "odd", "extra", "fixed"]
    assert by["easy"].rates["pass"] == 1.0 and by["hard"].rates["fail"] == 1.0
    assert by["mid"].counts == {"pass": 3, "partial": 1, "fail": 2, "error": 0, "skipped": 0}
    # discrimination: Pearson r of the check's points with the total of every other check
    totals = [sum(x.points for t in c.tasks for x in t.checks) for c in cards[:6]]
    good = [float(r[0]) for r in rows]
    expected = statistics.correlation(good, [t - g for t, g in zip(totals, good, strict=True)])
    assert by["good"].discrimination == pytest.approx(expected, abs=1e-4) and expected > 0
    assert by["odd"].discrimination < stats.NEGATIVE_DISCRIMINATION
    assert by["easy"].discrimination is None and by["hard"].discrimination is None  # constant: undefined
    assert (by["fixed"].overridden, by["fixed"].overrides_up, by["fixed"].overrides_down) == (2, 2, 0)
    assert health.flagged == {stats.FLAG_NOBODY: ["hard"], stats.FLAG_EVERYBODY: ["easy"],
                              stats.FLAG_NEGATIVE: ["odd"], stats.FLAG_OVERRIDDEN: ["fixed"]}
    task3 = next(t for t in health.tasks if t.task == 3)
    assert task3.n == 6 and task3.max_points == 6.0 and task3.min <= task3.q1 <= task3.median <= task3.q3 <= task3.max
    # too few submissions: rates are reported, nothing is flagged for them
    small = stats.rubric_health(cards[:3])
    assert small.flagged[stats.FLAG_NOBODY] == [] and small.flagged[stats.FLAG_EVERYBODY] == []
    assert stats.correlation([1.0, 2.0], [2.0, 4.0]) is None
    data = stats.as_json(health)
    assert json.loads(json.dumps(data))["flagged"] == health.flagged and data["thresholds"]["min_submissions"] == 5
    text = "\n".join(stats.table_lines(health))
    assert "negative discrimination: odd" in text and "often overridden: fixed" in text


def test_index_page_has_the_rubric_health_section():
    from grader.outputs import index_html

    cards = [card(f"c{i}", [check("easy", "pass", 2.0), check("hard", "fail", 0.0, task=2)]) for i in range(5)]
    page = index_html([Entry(file=f"{c.candidate}.ipynb", folder=c.candidate, status="graded", card=c) for c in cards])
    rest = page[page.index('id="rubric-health"'):]
    assert page.count('id="rubric-health"') == 1 and rest.index("</section>") < rest.index("</main>")
    section = rest[:rest.index("</section>")]
    assert "everybody passes" in section and "nobody passes" in section
    assert '<svg class="boxes"' in section and section.count("<circle") == 10  # one dot per submission and task
    assert "<script" not in section and page.count("<script") == 1  # the sort script only, allowed by its hash


def test_scrubber_and_ids():
    s = Scrubber("cand-00000001", "Zelda Quintero", ["/home/x/subs/zelda_q.ipynb", "subs/zelda_q.ipynb"])
    assert s.text("Submitted by ZELDA QUINTERO (zelda_q.ipynb), see /home/x/subs/zelda_q.ipynb") == (
        "Submitted by cand-00000001 (cand-00000001.ipynb), see cand-00000001.ipynb")
    assert s.text("Zelda wrote it; Zeldas and quinteros are not her") == "cand-00000001 wrote it; Zeldas and quinteros are not her"
    data = {"png_b64": "zelda_q", "image/png": "Zelda", "text": ["zelda_q was here"], "zelda_q": 1}
    assert s.data(data) == {"png_b64": "zelda_q", "image/png": "Zelda", "text": ["cand-00000001 was here"],
                            "cand-00000001": 1}
    assert Scrubber("cand-1", "Al", ["x/al.ipynb"]).text("all algorithms") == "all algorithms"  # too short to scrub
    ids = unique_ids([(Path("b.ipynb"), "f" * 64), (Path("a.ipynb"), "f" * 64), (Path("c.ipynb"), "e" * 64)])
    assert ids[Path("a.ipynb")] == candidate_id("f" * 64) and ids[Path("c.ipynb")] == candidate_id("e" * 64)
    assert ids[Path("b.ipynb")].startswith(candidate_id("f" * 64) + "-") and len(set(ids.values())) == 3
    assert re.fullmatch(r"cand-[0-9a-f]{8}", candidate_id("abc"))


# --- copies of graded examples ---------------------------------------------------------------------------------------


@pytest.fixture
def example(graded, tmp_path):
    """A copy of the session's graded baseline folder."""
    out = tmp_path / "baseline"
    shutil.copytree(graded(EXAMPLES / "baseline.ipynb").out, out)
    return out


def first_failing(folder: Path) -> dict:
    data = json.loads((folder / "scorecard.json").read_text())
    return next(c for t in data["tasks"] for c in t["checks"] if c["status"] != "pass" and c["max_points"] > 0)


@pytest.mark.slow
def test_override_and_comment_in_every_view_of_a_graded_example(example, capsys):
    target = first_failing(example)
    before = json.loads((example / "scorecard.json").read_text())["points"]
    # refused: outside 0..max, and a check the scorecard does not have
    assert main(["override", str(example), target["id"], "--points", str(target["max_points"] + 1),
                 "--reason", "r"]) == 2
    err = capsys.readouterr().err
    assert f"outside 0..{target['max_points']:g}" in err and target["id"] in err and err.count("\n") == 1
    assert main(["override", str(example), target["id"], "--points", "-1", "--reason", "r"]) == 2
    assert main(["override", str(example), "t9_nope", "--points", "1", "--reason", "r"]) == 2
    assert not (example / "overrides.yaml").exists()
    assert main(["override", str(example), target["id"], "--points", str(target["max_points"]), "--reason", REASON,
                 "--by", "dana.reviewer"]) == 0
    assert main(["comment", str(example), "Confidential: strong EDA", "--task", "2", "--by", "dana.reviewer"]) == 0
    assert main(["comment", str(example), "Confidential: overall a hire"]) == 0
    data = json.loads((example / "scorecard.json").read_text())
    got = next(c for t in data["tasks"] for c in t["checks"] if c["id"] == target["id"])
    assert got["status"] == "pass" and got["override"]["automatic"] == target["points"]
    assert data["points"] == pytest.approx(before + target["max_points"] - target["points"], abs=0.01)
    assert [c["text"] for c in data["comments"]] == ["Confidential: strong EDA", "Confidential: overall a hire"]
    interviewer = (example / "scorecard.html").read_text()
    candidate = (example / "scorecard.candidate.html").read_text()
    assert REASON in interviewer and "Confidential: strong EDA" in interviewer and "overall a hire" in interviewer
    assert REASON not in candidate and "Confidential" not in candidate and "dana.reviewer" not in candidate
    case = junit_case(example / "junit.xml", target["id"])
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["override.reason"] == REASON and case.find("failure") is None  # final status: pass
    assert "override: automatic" in case.find("system-out").text


@pytest.mark.slow
def test_stats_on_a_batch_of_graded_examples(graded, tmp_path):
    out = tmp_path / "batch"
    names = ("reference", "baseline", "empty_handout")
    for name in names:
        shutil.copytree(graded(EXAMPLES / f"{name}.ipynb").out, out / name)
    assert main(["rescore", str(out)]) == 0  # finishes the folders as batch rows (.done), executes nothing
    cards = {n: json.loads((out / n / "scorecard.json").read_text()) for n in names}
    points = {n: {c["id"]: c for t in cards[n]["tasks"] for c in t["checks"]} for n in names}
    target = first_failing(out / "baseline")
    new = {"baseline": target["max_points"], "empty_handout": 0.0, "reference": 0.0}
    for name, value in new.items():
        assert main(["override", str(out / name), target["id"], "--points", f"{value:g}", "--reason", "r"]) == 0
    autos = [points[n][target["id"]]["points"] for n in new]
    assert main(["rescore", str(out)]) == 0
    # `grade stats` reads the cached scorecards: no numpy, pandas, scikit-learn or kernel machinery
    code = ("import json, sys\nfrom grader.cli import main\nrc = main(['stats', sys.argv[1]])\n"
            f"print(json.dumps({{'rc': rc, 'heavy': sorted(m for m in {HEAVY!r} if m in sys.modules)}}))")
    proc = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=60)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"rc": 0, "heavy": []}, proc.stderr
    assert "pass%" in proc.stdout and target["id"] in proc.stdout and "wrote" in proc.stdout
    data = json.loads((out / "stats.json").read_text())
    assert data["n_scored"] == 3 and set(data["flagged"]) == set(stats.FLAGS)
    by = {c["id"]: c for c in data["checks"]}
    assert set(by) == set(points["reference"])
    for cid, h in by.items():
        if cid == target["id"]:
            continue
        statuses = [points[n][cid]["status"] for n in names]
        assert h["rates"] == {s: round(statuses.count(s) / 3, 3) for s in stats.STATUSES}, cid
    o = by[target["id"]]
    up = sum(v > a for v, a in zip(new.values(), autos, strict=True))
    down = sum(v < a for v, a in zip(new.values(), autos, strict=True))
    assert (o["overridden"], o["overrides_up"], o["overrides_down"]) == (3, up, down) and up >= 1
    assert target["id"] in data["flagged"][stats.FLAG_OVERRIDDEN]
    assert any(c["discrimination"] is not None for c in data["checks"])
    index = (out / "index.html").read_text()
    assert 'id="rubric-health"' in index and '<svg class="boxes"' in index and "often overridden" in index
    summary = json.loads((out / "summary.json").read_text())
    assert {(o["folder"], o["check"]) for o in summary["overrides"]} == {(n, target["id"]) for n in names}
    assert summary["checks"][target["id"]]["overridden"] == 3
    assert main(["stats", str(tmp_path / "missing")]) == 2


# --- one small anonymized batch ------------------------------------------------------------------------------------


def tiny(path: Path, name: str | None = None, extra: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cells = [("md", "# Task 1: Load the data" + (f"\n\nSubmitted by {name}" if name else "")),
             ("code", "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3]})\ndf.head()")]
    if extra:
        cells.append(("code", extra))
    notebook(cells, path)
    if name:
        nb = nbformat.read(path, as_version=4)
        nb.metadata["candidate"] = {"name": name}
        nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def nohidden(tmp_path_factory):
    """A hidden rubric with no checks: interviewer batches without the second (re-run) kernel."""
    path = tmp_path_factory.mktemp("rubric") / "nohidden.yaml"
    path.write_text('name: none\nversion: "0"\ntasks: []\n')
    return path


@pytest.fixture(scope="module")
def blind(nohidden, tmp_path_factory):
    """Two named tiny notebooks and a broken one, graded with --anonymize -j 2 --gradescope."""
    root = tmp_path_factory.mktemp("blind")
    subs = root / "subs"
    zelda = tiny(subs / "zelda_quintero.ipynb", "Zelda Quintero", extra="print('zelda_quintero says hi')")
    other = tiny(subs / "team" / "quintero_zelda.ipynb", extra="print(1)")
    (subs / "bartholomew.ipynb").write_text("{")
    out = root / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADER_HIDDEN_RUBRIC", str(nohidden))
        rc = main(["batch", str(subs), "-o", str(out), "-j", "2", "--gradescope", "--anonymize"])
    return SimpleNamespace(subs=subs, out=out, rc=rc, zelda=zelda, other=other)


@pytest.fixture
def blind_copy(blind, tmp_path, monkeypatch, nohidden):
    """A copy of the blind batch folder to change, with the batch's rubric in the environment."""
    monkeypatch.setenv("GRADER_HIDDEN_RUBRIC", str(nohidden))
    out = tmp_path / "out"
    shutil.copytree(blind.out, out)
    return out


@pytest.mark.slow
def test_blind_batch_names_no_candidate_anywhere(blind):
    assert blind.rc == 0
    assert leaks(blind.out) == []
    ids = {p: candidate_id(file_sha256(p)) for p in (blind.zelda, blind.other)}
    rows = csv_rows_of(blind.out)
    assert set(rows) >= set(ids.values()) and all(re.fullmatch(r"cand-[0-9a-f]{8}", f) for f in rows)
    for ident in ids.values():
        assert rows[ident]["candidate"] == ident and rows[ident]["file"] == f"{ident}.ipynb"
        assert (blind.out / ident / "scorecard.html").read_text().count(f"<title>{ident}:") == 1
    mapping = {r["id"]: r for r in read_csv(blind.out / MAPPING)}
    assert mapping[ids[blind.zelda]]["candidate"] == "Zelda Quintero"
    assert mapping[ids[blind.zelda]]["file"] == str(blind.zelda)
    assert mapping[ids[blind.other]]["candidate"] == "quintero_zelda" and len(mapping) == 3
    assert MAPPING not in (blind.out / "index.html").read_text()
    bad = next(r for r in rows.values() if r["status"] == "bad_input")
    assert "invalid JSON" in bad["message"] and bad["file"] == f"{bad['folder']}.ipynb"
    # interviewer-side raw data keeps the truth
    ev = json.loads((blind.out / ids[blind.zelda] / "evidence.json").read_text())
    assert ev["submission"]["name"] == "Zelda Quintero"


@pytest.mark.slow
def test_override_kept_through_rescore_and_rerun_then_orphaned(blind, blind_copy, tmp_path):
    out = blind_copy
    ident = candidate_id(file_sha256(blind.zelda))
    folder = out / ident
    target = first_failing(folder)
    new = target["max_points"]
    assert main(["override", str(folder), target["id"], "--points", f"{new:g}", "--reason", REASON,
                 "--by", "dana"]) == 0
    assert main(["comment", str(folder), "Clear and careful"]) == 0

    def assert_applied() -> None:
        data = json.loads((folder / "scorecard.json").read_text())
        assert data["candidate"] == ident and data["orphaned_overrides"] == []
        got = next(c for t in data["tasks"] for c in t["checks"] if c["id"] == target["id"])
        assert got["points"] == new and got["override"]["reason"] == REASON
        row = csv_rows_of(out)[ident]
        assert float(row["total"]) == data["points"]
        assert row["overrides"] == f"{target['id']}:{target['points']:g}->{new:g}"
        case = junit_case(out / "junit.xml", target["id"], f"{ident}.")
        assert {p.get("name"): p.get("value") for p in case.iter("property")}["override.reason"] == REASON
        assert junit_case(folder / "junit.xml", target["id"]).find("properties") is not None
        result = json.loads((folder / "results.json").read_text())
        assert result["score"] == data["points"]
        test = next(t for t in result["tests"] if target["id"] in t["tags"])
        assert test["score"] == new and "adjusted by a reviewer" in test["output"]
        summary = json.loads((out / "summary.json").read_text())
        assert [(o["folder"], o["check"]) for o in summary["overrides"]] == [(ident, target["id"])]
        assert REASON in (folder / "scorecard.html").read_text()
        assert REASON not in (folder / "scorecard.candidate.html").read_text()
        assert leaks(out) == []

    assert main(["rescore", str(out)]) == 0
    assert_applied()
    # a re-run of the batch: the override changed the scorecard key, so the row is re-scored, not executed
    assert main(["batch", str(blind.subs), "-o", str(out), "--gradescope", "--anonymize"]) == 0
    assert json.loads((out / "summary.json").read_text())["timings"]["ran"] == 0
    assert_applied()
    # the same folder without --anonymize would mix names in: refused
    assert main(["batch", str(blind.subs), "-o", str(out)]) == 2
    # a rubric change renames the check: the override is orphaned, not dropped, not moved
    rubric = renamed_rubric(tmp_path, target["id"], target["id"] + "_v2")
    assert main(["rescore", str(out), "--rubric", str(rubric)]) == 0
    data = json.loads((folder / "scorecard.json").read_text())
    assert [o["check"] for o in data["orphaned_overrides"]] == [target["id"]]
    assert all(c["override"] is None for t in data["tasks"] for c in t["checks"])
    renamed = next(c for t in data["tasks"] for c in t["checks"] if c["id"] == target["id"] + "_v2")
    assert renamed["points"] == target["points"]
    summary = json.loads((out / "summary.json").read_text())
    assert [(o["folder"], o["check"]) for o in summary["orphaned_overrides"]] == [(ident, target["id"])]
    assert summary["overrides"] == [] and csv_rows_of(out)[ident]["overrides"] == ""
    html = (folder / "scorecard.html").read_text()
    assert "Override not applied" in html and target["id"] in html
    assert "Override not applied" not in (folder / "scorecard.candidate.html").read_text()
    assert leaks(out) == []


@pytest.mark.slow
def test_single_blind_grade(nohidden, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRADER_HIDDEN_RUBRIC", str(nohidden))
    monkeypatch.chdir(tmp_path)
    path = tiny(tmp_path / "subs" / "bartholomew_zelda.ipynb", "Bartholomew Zelda")
    assert main([str(path), "--anonymize", "--isolation", "none"]) == 0
    ident = candidate_id(file_sha256(path))
    out = tmp_path / "grading" / ident
    assert (out / "scorecard.html").exists() and ident in capsys.readouterr().out
    assert leaks(tmp_path / "grading") == []
    mapping = read_csv(tmp_path / "grading" / MAPPING)
    assert [(r["id"], r["candidate"]) for r in mapping] == [(ident, "Bartholomew Zelda")]
    # grading the folder again without the flag keeps it blind (the folder is marked)
    assert main([str(path), "-o", str(out), "--isolation", "none"]) == 0
    assert leaks(tmp_path / "grading") == [] and ident in capsys.readouterr().out
