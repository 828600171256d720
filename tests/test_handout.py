"""Handout generation and the candidate distribution."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader.cli import main
from grader.handout import make_handout
from grader.selfcheck import check
from tests.conftest import EXAMPLES
from tests.conftest import ROOT

REFERENCE = ROOT / "reference" / "solution.ipynb"


def test_handout_is_stable_and_matches_the_shipped_example(tmp_path):
    a, b = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    assert main(["handout", str(REFERENCE), "-o", str(a)]) == 0
    assert main(["handout", str(REFERENCE), "-o", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes() == (EXAMPLES / "empty_handout.ipynb").read_bytes()


def test_handout_strips_solutions_and_keeps_the_tasks():
    ref = nbformat.read(REFERENCE, 4)
    nb = make_handout(ref)
    assert not any("solution" in c.metadata.get("tags", []) for c in nb.cells)
    assert any("data-generation" in c.metadata.get("tags", []) for c in nb.cells)
    headings = [c.source.splitlines()[0] for c in nb.cells if c.source.startswith("## Task")]
    assert len(headings) == 6
    assert sum(c.cell_type == "code" and c.source == "" for c in nb.cells) == 5
    assert sum(c.source.startswith("*Your answer to question") for c in nb.cells) == 4
    assert all(c.get("outputs", []) == [] for c in nb.cells)
    # the solution's code never leaks: no solution cell's source appears in the handout
    solution = {c.source for c in ref.cells if "solution" in c.metadata.get("tags", [])}
    assert not solution & {c.source for c in nb.cells}


@pytest.mark.slow
def test_handout_scores_at_most_10_percent_and_reference_100(graded):
    assert graded(EXAMPLES / "empty_handout.ipynb").card.percent <= 10
    assert graded(EXAMPLES / "reference.ipynb").card.percent == 100


def test_self_check_does_nothing_inside_a_grading_kernel(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("GRADER_RUNNING", "1")
    assert check(tmp_path / "whatever.ipynb") == 0
    assert "skipped" in capsys.readouterr().out
    assert main(["check", str(tmp_path / "whatever.ipynb")]) == 0


def test_self_check_without_a_path_explains(monkeypatch, capsys):
    monkeypatch.delenv("GRADER_RUNNING", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert check() == 2
    assert "check('my_notebook.ipynb')" in capsys.readouterr().out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True)
    return next(out.glob("*.whl"))


@pytest.mark.slow
def test_wheel_ships_public_rubric_only(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "grader/rubrics/staff-ds.yaml" in names
    assert "grader/templates/scorecard.html.j2" in names
    assert "grader/kernel_src/probe.py" in names
    assert not [n for n in names if "hidden" in n]
    for n in names:
        assert b"staff-ds-hidden" not in zipfile.ZipFile(wheel).read(n)


def _deps_only_pth(venv: Path) -> None:
    """Make the test environment's third-party packages importable in ``venv``, but not its grader.

    A plain path line in a .pth file is added to sys.path without processing the .pth
    files inside it, so the checkout's editable-install hook never runs: ``grader``
    can only come from the wheel. This saves installing ~400 MB of dependencies again.
    """
    site_dirs = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    target = next((venv / "lib").glob("python*/site-packages"))
    (target / "zz_test_deps.pth").write_text("\n".join(site_dirs) + "\n")


@pytest.mark.slow
def test_fresh_venv_with_only_the_wheel_self_checks(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, capture_output=True)
    _deps_only_pth(venv)
    env = {k: v for k, v in os.environ.items() if k not in ("GRADER_HIDDEN_RUBRIC", "GRADER_RUNNING")}
    site = subprocess.run([str(py), "-c", "import grader, pathlib; print(pathlib.Path(grader.__file__).parent)"],
                          check=True, capture_output=True, text=True, env=env, cwd=tmp_path).stdout.strip()
    assert not [p for p in (venv / "lib").rglob("*hidden*")]
    for name in ("empty_handout", "reference"):
        proc = subprocess.run([str(venv / "bin" / "grade"), "check", str(EXAMPLES / f"{name}.ipynb"),
                               "-o", str(tmp_path / name)], capture_output=True, text=True, env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "checks you cannot see" in proc.stdout
        assert (tmp_path / name / "scorecard.candidate.html").exists()
        assert not (tmp_path / name / "scorecard.html").exists()
    assert site.startswith(str(venv))
