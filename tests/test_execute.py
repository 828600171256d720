"""execute: timeouts interrupt and go on; errors do not stop the run; figures come through inline."""

from __future__ import annotations

import time

import pytest

from grader.execute import ExecOptions
from grader.execute import execute
from grader.load import load
from tests.conftest import notebook

pytestmark = pytest.mark.slow


def _run(tmp_path, cells, **opts):
    sub, nb = load(notebook(cells, tmp_path / "n.ipynb"))
    work = tmp_path / "work"
    work.mkdir()
    return execute(nb, sub, ExecOptions(**{"isolation": "limits", **opts}), work)


def test_infinite_loop_times_out_and_next_cell_runs(tmp_path):
    t0 = time.monotonic()
    r = _run(tmp_path, [("code", "while True:\n    pass"), ("code", "print('after')")], cell_timeout=2)
    first, second = r.run.cells
    assert first.status == "timeout" and first.failure == "timeout"
    assert second.status == "ok" and second.text == "after\n"
    assert time.monotonic() - t0 < 30


def test_errors_do_not_stop_the_run(tmp_path):
    r = _run(tmp_path, [("code", "1/0"), ("code", "undefined_name"), ("code", "print('ok')")])
    a, b, c = r.run.cells
    assert (a.status, a.ename) == ("error", "ZeroDivisionError") and "\x1b[" not in (a.traceback or "x")
    assert (b.status, b.ename) == ("error", "NameError")
    assert c.status == "ok"
    assert r.probe.ok


def test_inline_figures_and_environment(tmp_path):
    r = _run(tmp_path, [("code", "import os, matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.title('T')\nplt.show()\n"
                                 "print(os.environ.get('TZ'), os.environ.get('MPLBACKEND', '').split('.')[-1],"
                                 " os.getcwd() == os.environ['HOME'].rsplit('/', 1)[0])")])
    cell = r.run.cells[0]
    assert cell.n_images == 1 and len(r.run.figures) == 1
    assert cell.text.split() == ["UTC", "backend_inline", "True"]
    assert r.probe.figures[0].title == "T"


def test_total_timeout_marks_rest_not_run(tmp_path):
    r = _run(tmp_path, [("code", "import time; time.sleep(3)"), ("code", "import time; time.sleep(3)"),
                        ("code", "print(1)")], cell_timeout=10, total_timeout=4)
    statuses = [c.status for c in r.run.cells]
    assert statuses[-1] == "not-run" and r.run.ended == "total_timeout"


def test_dead_kernel_keeps_earlier_records(tmp_path):
    r = _run(tmp_path, [("code", "print('before')"), ("code", "import os; os._exit(1)"), ("code", "print(2)")])
    a, b, c = r.run.cells
    assert a.status == "ok" and a.text == "before\n"
    assert b.failure == "dead_kernel" and c.status == "not-run"
    assert r.run.ended == "dead_kernel" and not r.probe.ok


def test_missing_package_is_an_environment_error(tmp_path):
    r = _run(tmp_path, [("code", "import a_package_nobody_installed"), ("code", "print(1)")])
    assert r.run.cells[0].failure == "environment_error" and r.run.cells[1].status == "ok"
