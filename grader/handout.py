"""Derive the candidate handout from the reference solution.

Cells tagged ``solution`` are removed; everything else (the title, the data-generation
cell, each task's heading and text) is kept. Each of Tasks 1-5 gets one empty code
cell to answer in, Task 6 one placeholder markdown cell per ML Ops question. Outputs
are cleared and cell ids are derived from position, so regenerating from the same
reference is byte-for-byte stable.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from grader.load import parse_heading
from grader.load import read_notebook

SOLUTION_TAG = "solution"
N_QUESTIONS = 4
PLACEHOLDER = "*Your answer to question {n} here.*"
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def _answer_cells(task: int | None) -> list[nbformat.NotebookNode]:
    if task is None:
        return []
    if task == 6:
        return [nbformat.v4.new_markdown_cell(PLACEHOLDER.format(n=n)) for n in range(1, N_QUESTIONS + 1)]
    return [nbformat.v4.new_code_cell("")]


def make_handout(reference: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The handout notebook for ``reference`` (which is not modified)."""
    cells: list[nbformat.NotebookNode] = []
    task: int | None = None
    for cell in reference.cells:
        heading = parse_heading(cell.source) if cell.cell_type == "markdown" else None
        if heading:
            cells += _answer_cells(task)
            task = heading[0]
        if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        kept = nbformat.v4.new_code_cell(cell.source) if cell.cell_type == "code" else \
            nbformat.v4.new_markdown_cell(cell.source)
        tags = [t for t in cell.get("metadata", {}).get("tags", []) if t != SOLUTION_TAG]
        if tags:
            kept.metadata["tags"] = tags
        cells.append(kept)
    cells += _answer_cells(task)
    for i, cell in enumerate(cells):
        cell.id = f"handout-{i:03d}"
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    nbformat.validate(nb)
    return nb


def write_handout(source: Path, out: Path) -> nbformat.NotebookNode:
    """Read the reference at ``source`` and write its handout to ``out``."""
    from grader.fileio import write_atomic

    nb = make_handout(read_notebook(source))
    write_atomic(out, nbformat.writes(nb) + "\n")
    return nb
