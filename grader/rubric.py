"""Rubric files: schema, loading, validation and the public/hidden merge.

A rubric is YAML. The public rubric stands alone; a hidden rubric names it in
``extends`` and may only add checks and findings, never change public ones. Errors
name the file, the key path and the line, like ``staff-ds.yaml:42: tasks[3].checks[1].points: ...``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any
from typing import Literal

import yaml
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import ValidationError
from pydantic import field_validator

from grader.exceptions import RubricError
from grader.paths import shipped

HIDDEN_ENV = "GRADER_HIDDEN_RUBRIC"
Status = Literal["pass", "partial", "fail", "error", "skipped"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckSpec(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    check: str = Field(description="name of a registered check function")
    points: float = Field(gt=0)
    visibility: Literal["public", "hidden"] = "public"
    params: dict[str, Any] = {}
    messages: dict[Status, str] = {}
    hint: str = ""


class TaskSpec(Strict):
    id: int = Field(ge=1, le=6)
    title: str = ""
    checks: list[CheckSpec] = []


class FindingSpec(Strict):
    title: str
    penalty: float = Field(0, ge=0, description="points taken off the total when raised")
    message: str = ""
    params: dict[str, Any] = {}


class Rubric(Strict):
    name: str
    version: str
    extends: str | None = None
    description: str = ""
    tasks: list[TaskSpec]
    findings: dict[str, FindingSpec] = {}
    source: str = Field("", exclude=True)
    hidden_included: bool = Field(False, exclude=True)

    @field_validator("tasks")
    @classmethod
    def _unique_ids(cls, tasks: list[TaskSpec]) -> list[TaskSpec]:
        seen: set[str] = set()
        for t in tasks:
            for c in t.checks:
                if c.id in seen:
                    raise ValueError(f"check id '{c.id}' appears twice")
                seen.add(c.id)
        return tasks

    def checks(self) -> list[tuple[TaskSpec, CheckSpec]]:
        return [(t, c) for t in self.tasks for c in t.checks]

    def max_points(self) -> float:
        return sum(c.points for _, c in self.checks())

    def digest(self) -> str:
        """Content hash: part of the scorecard cache key (DESIGN decision 5)."""
        body = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:16]


# --- files ----------------------------------------------------------------------------------------------------


def default_public_path() -> Path:
    """The public rubric: in the checkout's rubrics/, or inside the package when installed."""
    return shipped("rubrics", "staff-ds.yaml")


def default_hidden_path() -> Path | None:
    """The hidden rubric, if this machine has it: $GRADER_HIDDEN_RUBRIC or the checkout's file."""
    env = os.environ.get(HIDDEN_ENV)
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parent.parent / "rubrics" / "staff-ds.hidden.yaml"
    return repo if repo.exists() else None


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number of a key path inside the YAML text."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next(((k, v) for k, v in node.value if k.value == str(key)), None)
            if nxt is None:
                break
            line, node = nxt[0].start_mark.line + 1, nxt[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def parse_rubric(path: Path) -> Rubric:
    """Parse and validate one rubric file (no merging)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise RubricError(f"{path}: cannot read rubric: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise RubricError(f"{path}{where}: not valid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise RubricError(f"{path}: a rubric must be a mapping with 'name', 'version' and 'tasks'")
    try:
        rubric = Rubric.model_validate({**data, "source": str(path)})
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(err["loc"])
        line = _line_of(text, loc)
        dotted = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[")
        extra = f" (and {len(e.errors()) - 1} more)" if len(e.errors()) > 1 else ""
        raise RubricError(f"{path}{f':{line}' if line else ''}: {dotted or 'rubric'}: {err['msg']}{extra}") from None
    from grader.checks import REGISTRY

    for task, check in rubric.checks():
        if check.check not in REGISTRY:
            loc = ("tasks", rubric.tasks.index(task), "checks", task.checks.index(check), "check")
            line = _line_of(text, loc)
            raise RubricError(f"{path}{f':{line}' if line else ''}: check '{check.id}' names unknown check "
                              f"function '{check.check}' (known: {', '.join(sorted(REGISTRY))})")
    return rubric


def merge(public: Rubric, hidden: Rubric) -> Rubric:
    """The public rubric plus the hidden one's extra checks and findings."""
    public_ids = {c.id for _, c in public.checks()}
    tasks = {t.id: list(t.checks) for t in public.tasks}
    titles = {t.id: t.title for t in public.tasks}
    for t in hidden.tasks:
        for c in t.checks:
            if c.id in public_ids:
                raise RubricError(f"{hidden.source}: hidden check '{c.id}' would replace a public check; "
                                  "a hidden rubric may only add checks")
            tasks.setdefault(t.id, []).append(c)
            titles.setdefault(t.id, t.title)
    for fid in hidden.findings:
        if fid in public.findings:
            raise RubricError(f"{hidden.source}: finding '{fid}' is already defined by the public rubric")
    merged = [TaskSpec(id=i, title=titles[i], checks=tasks[i]) for i in sorted(tasks)]
    return Rubric(name=public.name, version=f"{public.version}+{hidden.version}", description=public.description,
                  tasks=merged, findings={**public.findings, **hidden.findings}, source=public.source,
                  hidden_included=True)


def load_rubric(path: Path | None = None, hidden: Path | None | Literal[False] = None) -> Rubric:
    """Load the rubric to grade with.

    Parameters
    ----------
    path : Path or None
        A rubric file. If it ``extends`` another, that one is loaded first and merged.
        None means the shipped public rubric.
    hidden : Path, None or False
        An extra hidden rubric to merge; None looks in the default places; False never
        merges one (candidate self-checks).
    """
    rubric = parse_rubric(path or default_public_path())
    if rubric.extends:
        base_path = (Path(rubric.source).parent / rubric.extends)
        return merge(parse_rubric(base_path), rubric)
    if hidden is False:
        return rubric
    hidden_path = hidden or default_hidden_path()
    if hidden_path is None:
        return rubric
    if not hidden_path.exists():
        raise RubricError(f"{hidden_path}: hidden rubric not found (from ${HIDDEN_ENV} or --hidden-rubric)")
    return merge(rubric, parse_rubric(hidden_path))
