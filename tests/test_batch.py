"""grade batch / rescore / merge: workers, cache and resume, shards, outputs and exit codes.

Kernel-backed tests use tiny notebooks (a Task 1 heading and a small DataFrame) and a
hidden rubric with no checks, so no hidden-data re-run doubles the kernels.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

import grader.batch
import grader.execute
from grader.batch import Job
from grader.batch import find_notebooks
from grader.batch import folder_names
from grader.batch import parse_shard
from grader.batch import run_job
from grader.batch import shard_slice
from grader.cli import main
from grader.exceptions import UsageError
from grader.outputs import CSV_COLUMNS
from grader.outputs import gradescope_failure
from tests.conftest import ROOT
from tests.conftest import notebook

HEAVY = ("numpy", "pandas", "sklearn", "scipy", "matplotlib", "nbclient", "jupyter_client", "zmq")

# The Gradescope autograder results format (https://gradescope-autograders.readthedocs.io/en/latest/specs/).
VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
GRADESCOPE_SCHEMA = {
    "type": "object",
    "required": ["tests"],
    "additionalProperties": False,
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number"},
        "output": {"type": "string"},
        "output_format": {"type": "string"},
        "test_output_format": {"type": "string"},
        "test_name_format": {"type": "string"},
        "visibility": VISIBILITY,
        "stdout_visibility": VISIBILITY,
        "extra_data": {"type": "object"},
        "leaderboard": {"type": "array"},
        "tests": {"type": "array", "items": {
            "type": "object",
            "required": ["name", "score", "max_score", "status", "visibility"],
            "additionalProperties": False,
            "properties": {
                "score": {"type": "number"}, "max_score": {"type": "number"},
                "status": {"enum": ["passed", "failed"]}, "name": {"type": "string"},
                "name_format": {"type": "string"}, "number": {"type": "string"}, "output": {"type": "string"},
                "output_format": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
                "visibility": VISIBILITY, "extra_data": {"type": "object"},
            }}},
    },
}


def tiny(path: Path, extra: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cells = [("md", "# Task 1: Load the data"),
             ("code", "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3]})\ndf.head()")]
    if extra:
        cells.append(("code", extra))
    return notebook(cells, path)


def rows(out: Path) -> list[dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def comparable(out: Path) -> list[dict[str, str]]:
    return sorted(({k: v for k, v in r.items() if k != "seconds"} for r in rows(out)), key=lambda r: r["folder"])


@pytest.fixture(scope="module")
def nohidden(tmp_path_factory):
    """A hidden rubric with no checks: interviewer batches without the second (re-run) kernel."""
    path = tmp_path_factory.mktemp("rubric") / "nohidden.yaml"
    path.write_text('name: none\nversion: "0"\ntasks: []\n')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADER_HIDDEN_RUBRIC", str(path))
        yield path


@pytest.fixture(scope="module")
def graded_batch(nohidden, tmp_path_factory):
    """Two tiny notebooks with the same stem, a broken file and a text file, graded with -j 2."""
    root = tmp_path_factory.mktemp("batch")
    subs = root / "subs"
    tiny(subs / "alice.ipynb")
    tiny(subs / "team" / "alice.ipynb", extra="import os\nprint('loky', os.environ.get('LOKY_MAX_CPU_COUNT'))")
    (subs / "broken.ipynb").write_text("{")
    (subs / "notes.txt").write_text("not a notebook")
    out = root / "out"
    t0 = time.monotonic()
    rc = main(["batch", str(subs), "-o", str(out), "-j", "2", "--gradescope"])
    return SimpleNamespace(subs=subs, out=out, rc=rc, seconds=time.monotonic() - t0)


# --- no kernel --------------------------------------------------------------------------------------------------


def test_discovery_names_and_exclusions(tmp_path):
    subs = tmp_path / "subs"
    for rel in ("a.ipynb", "x/a.ipynb", "x/A.ipynb", "b.ipynb", ".ipynb_checkpoints/a-checkpoint.ipynb",
                "out/a/executed.ipynb", "grades.csv.ipynb"):
        (subs / rel).parent.mkdir(parents=True, exist_ok=True)
        (subs / rel).write_text("{}")
    (subs / "notes.txt").write_text("")
    paths = find_notebooks([str(subs)], exclude=subs / "out")
    rel = [str(p.relative_to(subs)) for p in paths]
    assert rel == ["a.ipynb", "b.ipynb", "grades.csv.ipynb", "x/A.ipynb", "x/a.ipynb"]
    names = folder_names(paths)
    assert names[subs / "b.ipynb"] == "b"
    # same stem (case-insensitively) or a name the batch folder uses itself: a hash suffix, stable
    for p in (subs / "a.ipynb", subs / "x/a.ipynb", subs / "x/A.ipynb", subs / "grades.csv.ipynb"):
        stem, _, suffix = names[p].rpartition("-")
        assert stem == p.stem and len(suffix) == 8
    assert len(set(names.values())) == len(names) and folder_names(paths) == names
    assert find_notebooks([str(subs / "x" / "*.ipynb")]) == sorted([subs / "x/A.ipynb", subs / "x/a.ipynb"], key=str)


def test_shards_partition_the_sorted_paths():
    paths = [Path(f"n{i:02d}.ipynb") for i in range(11)]
    parts = [shard_slice(paths, (i, 3)) for i in (1, 2, 3)]
    assert sorted(p for part in parts for p in part) == paths
    assert parts[0] == paths[0::3] and parts[2] == paths[2::3]
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/3", "4/3", "x", "1/0", "1-2"):
        with pytest.raises(UsageError):
            parse_shard(bad)


def test_empty_folder_exits_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["batch", str(tmp_path / "empty"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no notebooks" in err and "empty" in err
    assert main(["batch", str(tmp_path / "missing"), "-o", str(tmp_path / "out")]) == 2
    assert main(["batch", str(tmp_path), "--shard", "3/2"]) == 2
    assert main(["rescore", str(tmp_path / "empty")]) == 2


def test_dask_without_distributed_is_a_clear_error(tmp_path, capsys, monkeypatch):
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "x.ipynb").write_text("{")
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
    assert main(["batch", str(tmp_path / "subs"), "-o", str(tmp_path / "out"), "--dask", "tcp://127.0.0.1:1"]) == 3
    err = capsys.readouterr().err
    assert "distributed" in err and "pip install" in err and "Traceback" not in err


def test_worker_timeout_and_death_become_error_rows(tmp_path, public_rubric):
    base = {"file": str(tmp_path / "x.ipynb"), "display": "x.ipynb", "rubric": public_rubric.model_dump(mode="json")}
    done = run_job(Job(**base, folder="slow", out=str(tmp_path / "slow"), timeout=0.2))
    assert done["status"] == "error" and done["error_class"] == "WorkerTimeout"
    # a worker that crashes before grading (here: execution settings it cannot read)
    done = run_job(Job(**base, folder="dies", out=str(tmp_path / "dies"), exec={"no_such_setting": 1}))
    assert done["status"] == "error" and done["error_class"] == "WorkerDied" and "TypeError" in done["message"]
    assert json.loads((tmp_path / "dies" / ".done").read_text())["status"] == "error"


def test_environment_failure_row_and_exit_3(nohidden, tmp_path, capsys):
    tiny(tmp_path / "subs" / "k.ipynb")
    out = tmp_path / "out"
    assert main(["batch", str(tmp_path / "subs"), "-o", str(out), "--kernel", "no-such-kernel"]) == 3
    (row,) = rows(out)
    assert row["status"] == "error" and "no-such-kernel" in row["message"]
    assert "EnvironmentFailure" in capsys.readouterr().err
    assert json.loads((out / "summary.json").read_text())["counts"]["error"] == 1


def test_gradescope_failure_result_is_valid():
    jsonschema = pytest.importorskip("jsonschema")
    result = gradescope_failure("bad_input", "x.ipynb: invalid JSON", 0.2)
    jsonschema.validate(result, GRADESCOPE_SCHEMA)
    assert result["score"] == 0 and "invalid JSON" in result["output"]


# --- kernel-backed --------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_batch_rows_bad_input_and_exit_0(graded_batch):
    assert graded_batch.rc == 0
    got = rows(graded_batch.out)
    assert list(got[0]) == CSV_COLUMNS
    by_status = {r["status"] for r in got}
    assert by_status == {"graded", "bad_input"} and len(got) == 3  # notes.txt is not a submission
    bad = next(r for r in got if r["status"] == "bad_input")
    assert bad["folder"] == "broken" and "invalid JSON" in bad["message"] and "\n" not in bad["message"]
    graded = [r for r in got if r["status"] == "graded"]
    assert sorted(r["file"] for r in graded) == sorted(str(graded_batch.subs / p) for p in ("alice.ipynb", "team/alice.ipynb"))
    assert all(r["folder"].startswith("alice-") for r in graded) and graded[0]["folder"] != graded[1]["folder"]
    for r in graded:
        card = json.loads((graded_batch.out / r["folder"] / "scorecard.json").read_text())
        assert float(r["total"]) == card["points"] and float(r["task1"]) == card["tasks"][0]["points"]
    summary = json.loads((graded_batch.out / "summary.json").read_text())
    assert summary["counts"] == {"total": 3, "graded": 2, "partial": 0, "bad_input": 1, "error": 0}
    assert summary["timings"]["executed"] == 2 and summary["timings"]["threads_per_kernel"] >= 1
    assert all(0 <= c["pass_rate"] <= 1 for c in summary["checks"].values())
    assert summary["checks"]["t1_head_shown"]["pass"] == 2
    # -j 2: each kernel gets its share of the cores, so a candidate's n_jobs=-1 uses that share only
    share = max(1, grader.batch.available_cores() // 2)
    assert summary["timings"]["threads_per_kernel"] == share
    team = next(r["folder"] for r in graded if "team" in r["file"])
    ev = json.loads((graded_batch.out / team / "evidence.json").read_text())
    assert f"loky {share}" in "".join(c["text"] for c in ev["run"]["cells"])
    index = (graded_batch.out / "index.html").read_text()
    assert all(f'{r["folder"]}/' in index for r in got)


@pytest.mark.slow
def test_junit_is_valid(graded_batch):
    junitparser = pytest.importorskip("junitparser")
    xml = junitparser.JUnitXml.fromfile(str(graded_batch.out / "junit.xml"))
    suites = list(xml)
    assert len(suites) == 3
    bad = next(s for s in suites if s.name == "broken")
    (case,) = list(bad)
    assert bad.errors == 1 and isinstance(case.result[0], junitparser.Error)
    for s in suites:
        if s.name == "broken":
            continue
        folder = s.name.split("(")[-1].rstrip(")")
        card = json.loads((graded_batch.out / folder / "scorecard.json").read_text())
        checks = [c for t in card["tasks"] for c in t["checks"]]
        assert s.tests == len(checks) == len([c for c in s if not c.classname.endswith(".findings")])
        assert s.failures == sum(c["status"] in ("fail", "partial") for c in checks)


@pytest.mark.slow
def test_gradescope_results(graded_batch):
    jsonschema = pytest.importorskip("jsonschema")
    for r in rows(graded_batch.out):
        result = json.loads((graded_batch.out / r["folder"] / "results.json").read_text())
        jsonschema.validate(result, GRADESCOPE_SCHEMA)
        if r["status"] == "bad_input":
            assert result["tests"] == [] and result["score"] == 0 and "could not be graded" in result["output"]
            continue
        card = json.loads((graded_batch.out / r["folder"] / "scorecard.json").read_text())
        checks = {c["id"]: c for t in card["tasks"] for c in t["checks"]}
        assert result["score"] == card["points"] and len(result["tests"]) == len(checks)
        assert sum(t["max_score"] for t in result["tests"]) == card["max_points"]
        for t in result["tests"]:
            c = checks[t["tags"][1]]
            assert t["status"] == ("passed" if c["status"] == "pass" else "failed")
            assert t["visibility"] == ("visible" if c["visibility"] == "public" else "hidden")


@pytest.mark.slow
def test_rerun_skips_finished_and_rescore_executes_nothing(graded_batch, tmp_path, monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(graded_batch.out, out)

    def boom(*args, **kwargs):
        raise AssertionError("nothing may execute here")

    monkeypatch.setattr(grader.execute, "execute", boom)
    monkeypatch.setattr(grader.batch, "run_job", boom)  # no worker process either
    before = comparable(out)
    assert main(["batch", str(graded_batch.subs), "-o", str(out), "-j", "2", "--gradescope"]) == 0
    assert comparable(out) == before

    # one point value changes: totals change, and nothing runs (batch re-scores in place, rescore too)
    data = yaml.safe_load((ROOT / "rubrics" / "staff-ds.yaml").read_text())
    check = next(c for t in data["tasks"] for c in t["checks"] if c["id"] == "t1_head_shown")
    check["points"] += 4
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(data))
    assert main(["rescore", str(out), "--rubric", str(changed)]) == 0
    after = {r["folder"]: r for r in comparable(out)}
    for r in before:
        a = after[r["folder"]]
        assert float(a["max"]) == float(r["max"]) + 4
        if r["status"] == "graded":
            assert float(a["total"]) == float(r["total"]) + 4 and float(a["task1"]) == float(r["task1"]) + 4
        card = json.loads((out / r["folder"] / "scorecard.json").read_text()) if r["status"] == "graded" else None
        done = json.loads((out / r["folder"] / ".done").read_text())
        if card:
            assert card["points"] == float(a["total"]) and card["rubric_hash"] == done["rubric_hash"]
    second = tmp_path / "second"
    shutil.copytree(graded_batch.out, second)
    assert main(["batch", str(graded_batch.subs), "-o", str(second), "-j", "2", "--gradescope",
                 "--rubric", str(changed)]) == 0
    assert comparable(second) == comparable(out)
    assert json.loads((second / "summary.json").read_text())["timings"]["rescored"] == 3


@pytest.mark.slow
def test_fail_under(graded_batch, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(graded_batch.out, out)
    scores = [float(r["percent"]) for r in rows(out)]
    assert main(["rescore", str(out), "--fail-under", str(max(scores) + 1)]) == 1
    assert "below --fail-under" in capsys.readouterr().err
    mean = sum(scores) / len(scores)
    assert main(["rescore", str(out), "--fail-under", str(max(scores) - 0.05), "--fail-under-mean"]) == (
        1 if mean < max(scores) - 0.05 else 0)
    assert main(["rescore", str(out), "--fail-under", "0"]) == 0


@pytest.mark.slow
def test_rescore_in_processes_and_unfinished_folders(graded_batch, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(graded_batch.out, out)
    folder = next(r["folder"] for r in rows(out) if r["status"] == "graded")
    (out / folder / ".done").unlink()  # the worker was stopped after the evidence, before the marker
    (out / folder / "scorecard.json").unlink()
    assert main(["rescore", str(out), "-j", "2"]) == 0
    assert comparable(out) == comparable(graded_batch.out)
    assert json.loads((out / folder / ".done").read_text())["status"] == "graded"


@pytest.mark.slow
def test_rescore_imports_no_heavy_modules(graded_batch, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(graded_batch.out, out)
    code = ("import json, sys\nfrom grader.cli import main\nrc = main(['rescore', sys.argv[1]])\n"
            f"print(json.dumps({{'rc': rc, 'heavy': sorted(m for m in {HEAVY!r} if m in sys.modules)}}))")
    proc = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=60)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"rc": 0, "heavy": []}, proc.stderr


@pytest.mark.slow
def test_rescore_writes_what_the_pipeline_writes(graded_batch, tmp_path, rubric):
    from grader.models import Evidence
    from grader.outputs import write_card_reports
    from grader.pipeline import GradeOptions
    from grader.pipeline import finalize
    from grader.pipeline import write_reports
    from grader.score import score

    folder = next(p for p in graded_batch.out.iterdir() if (p / "evidence.json").exists())
    ev = Evidence.model_validate_json((folder / "evidence.json").read_text())
    card = finalize(score(ev, rubric), folder)
    a, b = tmp_path / "pipeline", tmp_path / "batch"
    write_reports(card, ev, GradeOptions(out=a))
    write_card_reports(card, ev, b)
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    for p in a.iterdir():
        assert p.read_bytes() == (b / p.name).read_bytes(), p.name


@pytest.mark.slow
def test_shards_merged_equal_one_batch(graded_batch, tmp_path):
    shards = []
    for i in (1, 2):
        out = tmp_path / f"shard{i}"
        # seed each shard's evidence cache from the full batch, so the shards execute nothing
        for folder in graded_batch.out.iterdir():
            if (folder / "evidence.json").exists():
                (out / folder.name).mkdir(parents=True)
                shutil.copy(folder / "evidence.json", out / folder.name)
        assert main(["batch", str(graded_batch.subs), "-o", str(out), "-j", "2", "--gradescope",
                     "--shard", f"{i}/2"]) == 0
        assert json.loads((out / "summary.json").read_text())["timings"]["executed"] == 0
        shards.append(out)
    sliced = [{r["folder"] for r in rows(o)} for o in shards]
    assert sliced[0] and sliced[1] and not sliced[0] & sliced[1]
    merged = tmp_path / "merged"
    assert main(["merge", *map(str, shards), "-o", str(merged)]) == 0
    assert comparable(merged) == comparable(graded_batch.out)
    for r in rows(merged):
        assert (merged / r["folder"] / ".done").exists()
    full = json.loads((graded_batch.out / "summary.json").read_text())
    got = json.loads((merged / "summary.json").read_text())
    assert got["counts"] == full["counts"] and got["checks"] == full["checks"]
    assert (merged / "junit.xml").read_text().count("<testsuite ") == 3
    assert main(["rescore", str(merged)]) == 0 and comparable(merged) == comparable(graded_batch.out)


@pytest.mark.slow
def test_resume_after_kill(nohidden, tmp_path):
    psutil = pytest.importorskip("psutil")
    subs = tmp_path / "subs"
    for name in ("a1", "a2", "a3"):
        tiny(subs / f"{name}.ipynb", extra=f"print('{name}')")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "grader.cli", "batch", str(subs), "-o", str(out), "-j", "1"],
                            env={**os.environ, "GRADER_HIDDEN_RUBRIC": str(nohidden)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / "a1" / ".done"
    deadline = time.monotonic() + 90
    while not first.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the first submission never finished"
        time.sleep(0.05)
    family = psutil.Process(proc.pid).children(recursive=True)
    proc.kill()
    proc.wait()
    _, alive = psutil.wait_procs(family, timeout=40)
    assert not alive, f"left running after the batch was killed: {[p.pid for p in alive]}"
    assert not (out / "a3" / ".done").exists()
    mtime = (out / "a1" / "evidence.json").stat().st_mtime_ns

    assert main(["batch", str(subs), "-o", str(out), "-j", "1"]) == 0
    got = rows(out)
    assert [r["folder"] for r in got] == ["a1", "a2", "a3"] and {r["status"] for r in got} == {"graded"}
    assert (out / "a1" / "evidence.json").stat().st_mtime_ns == mtime  # finished work was not redone
    assert json.loads((out / "summary.json").read_text())["timings"]["cached"] >= 1


@pytest.mark.slow
def test_dask_local_cluster(nohidden, tmp_path):
    distributed = pytest.importorskip("distributed")
    tiny(tmp_path / "subs" / "d1.ipynb")
    (tmp_path / "subs" / "d2.ipynb").write_text("not json")
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) as cluster:
        rc = main(["batch", str(tmp_path / "subs"), "-o", str(out), "--dask", cluster.scheduler_address])
    assert rc == 0
    got = {r["folder"]: r for r in rows(out)}
    assert got["d1"]["status"] == "graded" and got["d2"]["status"] == "bad_input"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["timings"]["dask"] and summary["timings"]["executed"] == 1


@pytest.mark.slow
def test_near_identical_answers_are_listed(graded, tmp_path):
    """Two candidates who hand in the same ML Ops answers are listed as a pair in summary.json."""
    import shutil

    from grader.batch import write_similar_answers
    from grader.outputs import Entry
    from grader.outputs import Timings
    from grader.outputs import write_batch_outputs
    from tests.conftest import EXAMPLES

    result = graded(EXAMPLES / "baseline.ipynb")
    out = tmp_path / "out"
    entries = []
    for name in ("ann", "bob"):
        shutil.copytree(result.out, out / name)
        card = result.card.model_copy(update={"candidate": name})
        entries.append(Entry(file=f"{name}.ipynb", folder=name, status="graded", card=card))
    assert write_similar_answers(out, entries) is not None
    write_batch_outputs(out, entries, Timings(), "batch")
    pairs = json.loads((out / "summary.json").read_text())["similar_answers"]
    assert {(p["a"], p["b"]) for p in pairs} == {("ann", "bob")} and all(p["similarity"] > 0.99 for p in pairs)
