"""Stage 1, load: read and validate a notebook, then segment it into tasks by heading.

Every problem with the file is a :class:`~grader.exceptions.BadInput` whose message is
one line naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import nbformat
from nbformat.validator import ValidationError

from grader.exceptions import BadInput
from grader.models import CellInfo
from grader.models import Submission
from grader.models import TaskSegment

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
N_TASKS = 6

# A task heading is the first non-empty line of a markdown cell: "## Task 4: Model Building",
# "### Task 4 - Modeling", "**Task 4**", "Task 4)", "Task 4." ... The number must stand alone.
_HEADING = re.compile(
    r"""^\s*(?P<hashes>\#{1,6})?\s*(?P<bold>\*\*|__)?\s*task\s*(?P<num>[1-9])\b\s*(?:\*\*|__)?
        \s*(?P<sep>[:.)\-\u2013\u2014]?)\s*(?P<title>.*?)\s*(?:\*\*|__)?\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_DATA_CELL = re.compile(r"to_csv\s*\(\s*['\"]facebook_data\.csv")


def read_notebook(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> nbformat.NotebookNode:
    """Read ``path`` as a v4 notebook (v3 and older v4 minors are upgraded).

    Raises
    ------
    BadInput
        With a one-line message naming ``path`` and what is wrong with it.
    """
    if not path.exists():
        raise BadInput(f"{path}: no such file")
    if path.is_dir():
        raise BadInput(f"{path}: is a directory, not a notebook (use 'grade batch' for folders)")
    size = path.stat().st_size
    if size == 0:
        raise BadInput(f"{path}: empty file")
    if size > max_bytes:
        raise BadInput(f"{path}: {size / 1e6:.1f} MB is over the size limit of {max_bytes / 1e6:.0f} MB (--max-size)")
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise BadInput(f"{path}: binary content, not a notebook")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadInput(f"{path}: not UTF-8 text (byte {e.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadInput(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    if not isinstance(data, dict) or "nbformat" not in data or not isinstance(data.get("nbformat"), int):
        raise BadInput(f"{path}: JSON but not a Jupyter notebook (no 'nbformat' field)")
    major = data["nbformat"]
    if major < 3 or major > 4:
        raise BadInput(f"{path}: nbformat {major} is not supported (only 3 and 4)")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as e:  # nbformat raises many types for broken files
        raise BadInput(f"{path}: fails nbformat validation: {_one_line(e)}") from None
    try:
        nbformat.validate(nb)
    except ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "top level"
        raise BadInput(f"{path}: fails nbformat {nb.nbformat}.{nb.nbformat_minor} validation at {where}: "
                       f"{_one_line(e.message)}") from None
    return nb


def parse_heading(cell_source: str) -> tuple[int, str, str] | None:
    """Return ``(task_number, title, style)`` if the cell's first line is a task heading.

    >>> parse_heading("### Task 4 - Modeling\\nsome text")
    (4, 'Modeling', '###')
    >>> parse_heading("**Task 2**")
    (2, '', 'bold')
    >>> parse_heading("In Task 3 we saw") is None
    True
    """
    for line in cell_source.splitlines():
        if line.strip():
            m = _HEADING.match(line)
            if not m:
                return None
            num = int(m.group("num"))
            if num > N_TASKS:
                return None
            style = m.group("hashes") or ("bold" if m.group("bold") else "plain")
            return num, m.group("title").strip(" *_"), style
    return None


def segment(cells: list[nbformat.NotebookNode]) -> tuple[list[CellInfo], dict[int, TaskSegment], list[str]]:
    """Assign each cell to 'setup' or a task; the first heading of a task number wins."""
    infos: list[CellInfo] = []
    tasks: dict[int, TaskSegment] = {}
    notes: list[str] = []
    current = "setup"
    for i, cell in enumerate(cells):
        source = cell.get("source", "")
        if cell.cell_type == "markdown" and (h := parse_heading(source)):
            num, title, style = h
            if num in tasks:
                notes.append(f"Task {num} has a second heading at cell {i}; the first (cell "
                             f"{tasks[num].heading_cell}) is used and these cells stay in Task {num}")
            else:
                tasks[num] = TaskSegment(task=num, title=title, heading_cell=i, heading_style=style)
            current = str(num)
        infos.append(CellInfo(index=i, cell_type=cell.cell_type, source=source, task=current,
                              tags=list(cell.get("metadata", {}).get("tags", []))))
        if current != "setup":
            tasks[int(current)].cells.append(i)
    return infos, tasks, notes


def find_data_cell(cells: list[CellInfo]) -> int | None:
    """The candidate's data-generation cell: tagged, else the first code cell writing the csv."""
    code = [c for c in cells if c.cell_type == "code"]
    for c in code:
        if "data-generation" in c.tags:
            return c.index
    for c in code:
        if _DATA_CELL.search(c.source):
            return c.index
    return None


def load(path: Path, max_bytes: int = DEFAULT_MAX_BYTES, name: str | None = None) -> tuple[Submission, nbformat.NotebookNode]:
    """Read, validate and segment ``path``; return the Submission and the notebook to execute."""
    nb = read_notebook(path, max_bytes)
    infos, tasks, notes = segment(nb.cells)
    missing = [n for n in range(1, N_TASKS + 1) if n not in tasks]
    if not tasks:
        notes.append("no task headings found: every cell is treated as setup and checks look at the whole notebook")
    elif missing:
        notes.append("tasks with no heading: " + ", ".join(str(n) for n in missing))
    kernelspec = nb.metadata.get("kernelspec", {}).get("name")
    if kernelspec and kernelspec not in ("python3", "python"):
        notes.append(f"the notebook asks for kernel '{kernelspec}'; it ran in the grader's own Python kernel")
    sub = Submission(
        path=str(path),
        name=name or _candidate_name(path, nb),
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        nbformat=f"{nb.nbformat}.{nb.nbformat_minor}",
        kernelspec=kernelspec,
        cells=infos,
        tasks=tasks,
        missing_tasks=missing,
        data_cell=find_data_cell(infos),
        notes=notes,
    )
    return sub, nb


def _candidate_name(path: Path, nb: nbformat.NotebookNode) -> str:
    meta = nb.metadata.get("candidate") or {}
    if isinstance(meta, dict) and isinstance(meta.get("name"), str) and meta["name"].strip():
        return meta["name"].strip()
    return path.stem


def _one_line(e: object) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__
