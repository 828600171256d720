"""The grade command: exit codes and one-line errors, without starting a kernel."""

from __future__ import annotations

import subprocess
import sys

import pytest

from grader import __version__
from grader.cli import main


def test_version(capsys):
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"{", "invalid JSON"),
    (b'{"a": 1}', "not a Jupyter notebook"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    assert main([str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(path) in err and message in err and "Traceback" not in err


def test_missing_path_exits_2(tmp_path, capsys):
    assert main([str(tmp_path / "nope.ipynb")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_bad_rubric_exits_2(tmp_path, capsys):
    bad = tmp_path / "r.yaml"
    bad.write_text("name: r\n")
    nb = tmp_path / "n.ipynb"
    nb.write_text('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}')
    assert main([str(nb), "--rubric", str(bad)]) == 2
    assert "r.yaml" in capsys.readouterr().err


def test_usage_error_exits_2(capsys):
    assert main(["grade", "--timeout-cell"]) == 2


def test_console_script_exit_code(tmp_path):
    path = tmp_path / "x.ipynb"
    path.write_text("")
    proc = subprocess.run([sys.executable, "-m", "grader.cli", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "empty file" in proc.stderr


def test_rubric_show_lists_checks(capsys):
    assert main(["rubric", "show"]) == 0
    out = capsys.readouterr().out
    assert "t4_auc" in out and "Task 6" in out


def test_doctor(capsys):
    assert main(["doctor"]) == 0
    assert "isolation:" in capsys.readouterr().out
