"""load: validation errors name the file and the problem; task headings are found in their variants."""

from __future__ import annotations

import json

import nbformat
import pytest

from grader.exceptions import BadInput
from grader.load import load
from grader.load import parse_heading
from tests.conftest import notebook


@pytest.mark.parametrize("line, num, title", [
    ("## Task 4: Model Building", 4, "Model Building"),
    ("### Task 4 - Modeling", 4, "Modeling"),
    ("**Task 4**", 4, ""),
    ("Task 4)", 4, ""),
    ("# TASK 2. EDA", 2, "EDA"),
    ("## Task 6 \u2013 ML Ops", 6, "ML Ops"),
])
def test_heading_variants(line, num, title):
    assert parse_heading(line + "\nbody") [:2] == (num, title)


@pytest.mark.parametrize("line", ["In Task 3 we saw", "## Task 7: bonus", "## Tasks", "Task 12: no", ""])
def test_not_headings(line):
    assert parse_heading(line) is None


def test_segments_and_missing_tasks(tmp_path):
    path = notebook([("md", "# Title"), ("code", "x = 1"), ("md", "## Task 1: Load"), ("code", "a = 1"),
                     ("md", "### Task 3 - Features"), ("code", "b = 2"), ("md", "## Task 3: again"),
                     ("code", "c = 3")], tmp_path / "n.ipynb")
    sub, _ = load(path)
    assert [c.task for c in sub.cells] == ["setup", "setup", "1", "1", "3", "3", "3", "3"]
    assert sub.missing_tasks == [2, 4, 5, 6]
    assert any("second heading" in n for n in sub.notes)
    assert sub.tasks[3].heading_cell == 4


def test_no_headings_is_not_an_error(tmp_path):
    sub, _ = load(notebook([("code", "x = 1")], tmp_path / "n.ipynb"))
    assert sub.tasks == {} and sub.missing_tasks == [1, 2, 3, 4, 5, 6]
    assert any("no task headings" in n for n in sub.notes)


def test_data_cell_found_by_what_it_writes(tmp_path):
    sub, _ = load(notebook([("code", "import pandas"), ("code", "df.to_csv('facebook_data.csv', index=False)")],
                           tmp_path / "n.ipynb"))
    assert sub.data_cell == 1


def test_unknown_kernelspec_is_noted(tmp_path):
    path = notebook([("code", "1")], tmp_path / "n.ipynb")
    nb = nbformat.read(path, 4)
    nb.metadata["kernelspec"] = {"name": "julia-1.9", "display_name": "Julia", "language": "julia"}
    nbformat.write(nb, path)
    sub, _ = load(path)
    assert sub.kernelspec == "julia-1.9" and any("julia-1.9" in n for n in sub.notes)


def test_nbformat3_is_upgraded(tmp_path):
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": [
        {"cell_type": "code", "input": "x = 1", "language": "python", "outputs": [], "metadata": {}}]}]}
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(v3))
    sub, nb = load(path)
    assert sub.nbformat.startswith("4.") and nb.cells[0].source == "x = 1"


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    (b"", "empty file"),
    (b"{not json", "invalid JSON at line 1"),
    (b'{"cells": []}', "not a Jupyter notebook"),
    (b'{"nbformat": 5, "cells": []}', "nbformat 5 is not supported"),
    (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "bogus"}]}', "validation"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "binary content"),
    ('{"nbformat": 4, "x": "\u00e9"}'.encode("latin-1"), "not UTF-8"),
])
def test_bad_input_messages(tmp_path, content, message):
    path = tmp_path / "bad.ipynb"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BadInput) as err:
        load(path)
    text = str(err.value)
    assert str(path) in text and message in text and "\n" not in text


def test_directory_and_size_limit(tmp_path):
    with pytest.raises(BadInput, match="is a directory"):
        load(tmp_path)
    path = notebook([("code", "x = '" + "a" * 5000 + "'")], tmp_path / "big.ipynb")
    with pytest.raises(BadInput, match="over the size limit"):
        load(path, max_bytes=1000)
