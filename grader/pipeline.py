"""One submission through every stage: load -> execute -> probe -> score -> report.

``grade_notebook`` is what the CLI and the batch workers call. Evidence is cached by
the notebook's content hash plus grader/probe version and execution settings; a
scorecard is always recomputed from evidence + rubric (cheap and pure).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from grader import PROBE_VERSION
from grader import __version__
from grader.exceptions import GraderFailure
from grader.fileio import write_atomic
from grader.load import DEFAULT_MAX_BYTES
from grader.load import load
from grader.models import Evidence
from grader.models import Scorecard
from grader.options import ExecOptions
from grader.overrides import finalize
from grader.rubric import Rubric
from grader.score import score

log = logging.getLogger("grader")


@dataclass(frozen=True)
class GradeOptions:
    """Settings for grading one notebook."""

    out: Path
    exec: ExecOptions = field(default_factory=ExecOptions)
    views: tuple[str, ...] = ("interviewer", "candidate")
    use_cache: bool = True
    keep_workdir: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES
    name: str | None = None
    hidden_rerun: bool = False


@dataclass
class GradeResult:
    card: Scorecard
    evidence: Evidence
    out: Path
    files: list[Path]
    cached: bool


def evidence_key(sha256: str, opts: ExecOptions, hidden_rerun: bool = False) -> str:
    """Cache key of the evidence: content hash + grader/probe version + execution settings."""
    from grader.probe import source_digest

    body = json.dumps({"sha256": sha256, "grader": __version__, "probe": PROBE_VERSION,
                       "probe_source": source_digest(), "exec": opts.key(), "rerun": hidden_rerun}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:20]


def cached_evidence(path: Path, key: str) -> Evidence | None:
    try:
        ev = Evidence.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return ev if ev.settings.get("key") == key else None


def collect_evidence(path: Path, opts: GradeOptions) -> tuple[Evidence, bool]:
    """Load and execute ``path`` (or reuse cached evidence); write evidence, executed notebook and log."""
    from grader.evidence import build_evidence
    from grader.execute import execute

    sub, nb = load(path, opts.max_bytes, name=opts.name)
    key = evidence_key(sub.sha256, opts.exec, opts.hidden_rerun)
    ev_path = opts.out / "evidence.json"
    if opts.use_cache and (ev := cached_evidence(ev_path, key)) is not None:
        if opts.name:
            ev.submission.name = opts.name
        return ev, True
    _prewarm()
    workdir = Path(tempfile.mkdtemp(prefix="grade-"))
    variant_dir = Path(tempfile.mkdtemp(prefix="grade-variant-")) if opts.hidden_rerun else None
    lines = [f"{time.strftime('%Y-%m-%dT%H:%M:%S')} grading {path} (sha256 {sub.sha256[:12]})"]
    try:
        if variant_dir is not None:
            result, variant = _run_with_variant(nb, sub, opts.exec, workdir, variant_dir)
        else:
            result, variant = execute(nb, sub, opts.exec, workdir), None
        settings = {"key": key, "hidden_rerun": opts.hidden_rerun, **opts.exec.key()}
        ev = build_evidence(sub, result, settings, variant)
        lines += result.log
        lines += [f"cell {r.index}: {r.status} {r.seconds:.2f}s" + (f" {r.ename}: {r.evalue}" if r.ename else "")
                  for r in result.run.cells]
        lines.append(f"run ended: {result.run.ended} {result.run.message}".rstrip())
        lines += [f"probe note: {n}" for n in ev.probe.notes]
        if ev.probe.error:
            lines.append(f"probe error: {ev.probe.error}")
        import nbformat

        write_atomic(opts.out / "executed.ipynb", nbformat.writes(result.notebook))
        write_atomic(ev_path, ev.model_dump_json(indent=1))
        write_atomic(opts.out / "grade.log", "\n".join(lines) + "\n")
    finally:
        for d in (workdir, variant_dir):
            if d is None:
                continue
            if opts.keep_workdir:
                log.info("kept working directory %s", d)
            else:
                shutil.rmtree(d, ignore_errors=True)
    return ev, False


def _run_with_variant(nb, sub, exec_opts: ExecOptions, workdir: Path, variant_dir: Path):
    """Execute the notebook and its hidden-data variant concurrently (two kernels, two threads)."""
    from concurrent.futures import ThreadPoolExecutor

    from grader import variant as variant_mod
    from grader.evidence import variant_evidence
    from grader.execute import execute
    from grader.models import VariantRun

    if sub.data_cell is None:
        return execute(nb, sub, exec_opts, workdir), VariantRun(ran=False, reason="no data-generation cell found")
    variant_nb = variant_mod.prepare(nb, sub.data_cell, variant_dir)
    with ThreadPoolExecutor(max_workers=2) as pool:
        main_f = pool.submit(execute, nb, sub, exec_opts, workdir)
        var_f = pool.submit(execute, variant_nb, sub, exec_opts, variant_dir)
        main = main_f.result()
        try:
            var = var_f.result()
        except GraderFailure as e:
            return main, VariantRun(ran=False, reason=str(e))
    data, _ = variant_mod.variant_sessions()
    return main, variant_evidence(main, var, data)


def _prewarm() -> None:
    """Import what evidence building needs in a thread while the kernel runs (hides ~1 s of imports)."""
    import threading

    def work() -> None:
        import sklearn.metrics  # noqa: F401

        from grader import dataset

        dataset.reference()

    threading.Thread(target=work, name="grader-prewarm", daemon=True).start()


def write_reports(card: Scorecard, ev: Evidence, opts: GradeOptions) -> list[Path]:
    from grader.outputs import write_card_reports

    return write_card_reports(card, ev, opts.out, opts.views)


def needs_rerun(rubric: Rubric) -> bool:
    """Whether the rubric has a check that reads the hidden-data re-run."""
    return any(c.check == "hidden_data_rerun" for _, c in rubric.checks())


def grade_notebook(path: Path, rubric: Rubric, opts: GradeOptions) -> GradeResult:
    """Grade one notebook and write its outputs to ``opts.out``.

    Raises
    ------
    BadInput
        The file is not a gradable notebook (exit code 2).
    EnvironmentFailure
        The kernel or sandbox could not start (exit code 3).
    """
    opts.out.mkdir(parents=True, exist_ok=True)
    ev, cached = collect_evidence(path, opts)
    card = finalize(score(ev, rubric), opts.out)
    files = write_reports(card, ev, opts)
    return GradeResult(card=card, evidence=ev, out=opts.out, files=files, cached=cached)


def rescore_folder(folder: Path, rubric: Rubric, views: tuple[str, ...] = ("interviewer", "candidate")) -> Scorecard:
    """Re-score one output folder from its evidence.json, without executing anything."""
    from grader.exceptions import BadInput

    path = folder / "evidence.json"
    try:
        ev = Evidence.model_validate_json(path.read_text(encoding="utf-8"))
    except OSError:
        raise BadInput(f"{path}: no evidence to re-score (grade the notebook first)") from None
    except ValueError as e:
        raise BadInput(f"{path}: unreadable evidence: {str(e).splitlines()[0]}") from None
    card = finalize(score(ev, rubric), folder)
    write_reports(card, ev, GradeOptions(out=folder, views=views))
    return card
