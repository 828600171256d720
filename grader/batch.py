"""Grade many notebooks: ``grade batch``, ``grade rescore`` and ``grade merge``.

Each submission is graded in its own worker process (``python -m grader.worker``) with
its own kernel, so a crash, hang or bad file costs that submission only. The parent
plans, runs up to ``-j`` workers at once (or hands them to a Dask scheduler), shows
progress, and builds the batch outputs from what the workers left on disk.

On disk, per submission, ``OUT/<folder>/`` holds the single-notebook outputs plus
``.done``: a small JSON marker written atomically *last*, after every other file. It
records the evidence key (content hash + grader/probe version + execution settings) and
the rubric hash, so:

- a re-run skips submissions whose ``.done`` matches (``--force`` re-grades, ``--no-cache``
  re-executes);
- a changed rubric re-scores from ``evidence.json`` without executing anything;
- a batch killed at any moment loses nothing: a folder without ``.done`` is simply graded
  again, re-using its evidence when that was already written;
- rows with status ``error`` (the grader or the machine failed, not the notebook) are
  retried on every re-run; ``bad_input`` rows stand until the file changes.

The rescore path (``rescore_folder``, ``rescore``) imports no kernel machinery, numpy,
scikit-learn or matplotlib: heavy imports live inside the functions that execute.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import Literal
from typing import TextIO

from pydantic import BaseModel
from pydantic import ConfigDict

from grader import __version__
from grader.anonymize import card_for_folder
from grader.exceptions import BadInput
from grader.exceptions import EnvironmentFailure
from grader.exceptions import GraderFailure
from grader.exceptions import UsageError
from grader.fileio import write_json
from grader.models import Evidence
from grader.models import Scorecard
from grader.outputs import Entry
from grader.outputs import RubricInfo
from grader.outputs import Timings
from grader.outputs import gradescope_failure
from grader.outputs import gradescope_results
from grader.outputs import stub_card
from grader.outputs import write_batch_outputs
from grader.outputs import write_card_reports
from grader.rubric import Rubric

DONE = ".done"
MANIFEST = "batch.json"
LOCK = ".lock"
WORKER_LOG = "worker.log"
PARENT_ENV = "GRADER_BATCH_PARENT"
# Names the batch folder itself uses: a notebook stem equal to one gets a hash suffix.
RESERVED = {"grades.csv", "junit.xml", "summary.json", "index.html", "stats.json", "anonymization.csv", MANIFEST,
            LOCK}
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "LOKY_MAX_CPU_COUNT")
Status = Literal["graded", "partial", "bad_input", "error"]


# --- values passed between parent, workers and later runs ------------------------------------------------------


class Job(BaseModel):
    """Everything a worker needs to grade one submission (JSON on its stdin, or a Dask task argument)."""

    model_config = ConfigDict(extra="forbid")

    file: str = ""
    display: str = ""
    folder: str = ""
    out: str = ""
    rubric: dict[str, Any] = {}
    hidden_included: bool = False
    exec: dict[str, Any] = {}
    use_cache: bool = True
    keep_workdir: bool = False
    max_bytes: int = 50 * 1024**2
    hidden_rerun: bool = False
    gradescope: bool = False
    threads: int = 1
    timeout: float = 1200.0
    anonymize_id: str = ""  # blind grading: the candidate id the folder is marked with ("" = off)


class Done(BaseModel):
    """The ``.done`` marker: what happened to one submission, and the keys it was produced under."""

    model_config = ConfigDict(extra="ignore")

    version: int = 1
    file: str
    folder: str
    status: Status
    candidate: str = ""
    message: str = ""
    error_class: str | None = None
    sha256: str = ""
    evidence_key: str = ""
    rubric_hash: str = ""
    corrections_hash: str = ""
    rubric: dict[str, Any] = {}
    gradescope: bool = False
    seconds: float = 0.0
    executed: bool = False
    cpu_seconds: float = 0.0
    worker_maxrss_mb: float = 0.0
    finished: str = ""


class Manifest(BaseModel):
    """``OUT/batch.json``: how the batch was run, so rescore and merge can repeat it."""

    model_config = ConfigDict(extra="ignore")

    version: int = 1
    grader_version: str = __version__
    command: str = "batch"
    inputs: list[str] = []
    shard: str | None = None
    rubric_path: str | None = None
    hidden_rubric_path: str | None = None
    hidden: bool | None = None
    gradescope: bool = False
    jobs: int = 1
    threads: int = 1
    exec: dict[str, Any] = {}
    folders: dict[str, str] = {}  # folder -> file as given (``<id>.ipynb`` when anonymized)
    anonymize: bool = False


@dataclass(frozen=True)
class BatchOptions:
    """Settings of one ``grade batch`` run.

    Parameters
    ----------
    inputs : tuple of str
        Folders (searched recursively for ``*.ipynb``), glob patterns or files.
    out : Path
        The batch folder.
    jobs : int
        Submissions graded at once (``-j``); each kernel gets ``max(1, cores // jobs)`` threads.
    exec : ExecOptions or None
        Execution settings (``grader.execute.ExecOptions``); None means the defaults.
    anonymize : bool
        Blind grading (``grader.anonymize``): folders, rows and reports carry candidate ids;
        the mapping goes to ``OUT/anonymization.csv``.
    """

    inputs: tuple[str, ...]
    out: Path
    jobs: int = 1
    exec: Any = None
    use_cache: bool = True
    force: bool = False
    keep_workdir: bool = False
    max_bytes: int = 50 * 1024**2
    hidden_rerun: bool = False
    gradescope: bool = False
    shard: tuple[int, int] | None = None
    dask: str | None = None
    rubric_path: Path | None = None
    hidden_rubric_path: Path | None = None
    hidden: bool | None = None
    anonymize: bool = False


@dataclass
class BatchReport:
    """What a batch (or rescore, or merge) produced."""

    entries: list[Entry]
    files: list[Path]
    counts: dict[str, int]
    wall_seconds: float

    @property
    def errors(self) -> list[Entry]:
        return [e for e in self.entries if e.status == "error"]


# --- discovery, names, shards ---------------------------------------------------------------------------------


def _is_hidden(path: Path, root: Path) -> bool:
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        parts = path.parts
    return any(p.startswith(".") for p in parts)


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def find_notebooks(inputs: list[str] | tuple[str, ...], exclude: Path | None = None) -> list[Path]:
    """The notebooks named by ``inputs``, sorted by path, each once.

    A folder is searched recursively for ``*.ipynb`` (hidden folders such as
    ``.ipynb_checkpoints`` skipped); a pattern with ``*``, ``?`` or ``[`` is a glob
    (``**`` recursive) of which the ``.ipynb`` files count; a file named outright is
    taken as is, whatever its extension (it becomes a bad-input row if it is not a
    notebook). Anything under
    ``exclude`` (the batch's own output folder) is left out.

    Raises
    ------
    UsageError
        An input names nothing that exists, or nothing at all was found.
    """
    found: dict[Path, Path] = {}
    for text in inputs:
        p = Path(text)
        if p.is_dir():
            cands = [q for q in p.rglob("*.ipynb") if q.is_file() and not _is_hidden(q, p)]
        elif any(ch in text for ch in "*?["):
            cands = [Path(q) for q in glob.glob(text, recursive=True) if Path(q).is_file() and q.endswith(".ipynb")]
        elif p.is_file():
            cands = [p]
        else:
            raise UsageError(f"{text}: no such file or directory")
        for q in cands:
            if not _inside(q, exclude):
                found.setdefault(q.resolve(), q)
    paths = sorted(found.values(), key=str)
    if not paths:
        raise UsageError(f"no notebooks (*.ipynb) found in {', '.join(map(str, inputs))}")
    return paths


def folder_names(paths: list[Path]) -> dict[Path, str]:
    """Output folder per notebook: its stem, or ``<stem>-<hash8>`` when stems collide.

    The hash is of the resolved path, so names are stable across runs and shards (shards
    compute names over the full list before slicing). Collisions are case-insensitive.
    """
    stems = Counter(p.stem.casefold() for p in paths)
    names = {}
    for p in paths:
        if stems[p.stem.casefold()] == 1 and p.stem not in RESERVED and not p.stem.startswith("."):
            names[p] = p.stem
        else:
            names[p] = f"{p.stem}-{hashlib.sha256(str(p.resolve()).encode()).hexdigest()[:8]}"
    return names


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``1 <= I <= N``."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard {text!r}: expected I/N, e.g. 1/4") from None
    if n < 1 or not 1 <= i <= n:
        raise UsageError(f"--shard {text!r}: need 1 <= I <= N, e.g. 1/4")
    return i, n


def shard_slice(paths: list[Path], shard: tuple[int, int] | None) -> list[Path]:
    """The I-th of every N sorted paths (1-based); all of them without a shard."""
    if shard is None:
        return list(paths)
    i, n = shard
    return list(paths[i - 1::n])


def available_cores() -> int:
    """CPUs this process may run on (affinity-aware where the platform tells)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def threads_per_kernel(cores: int, jobs: int) -> int:
    return max(1, cores // max(1, jobs))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def one_line(e: object) -> str:
    lines = str(e).strip().splitlines()
    return lines[0][:300] if lines else type(e).__name__


# --- markers ------------------------------------------------------------------------------------------------------


def read_done(folder: Path) -> Done | None:
    try:
        return Done.model_validate_json((folder / DONE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_done(folder: Path, done: Done) -> None:
    write_json(folder / DONE, done.model_dump(mode="json"))


def corrections_hash(folder: Path) -> str:
    """Hash of the interviewers' ``overrides.yaml`` beside the scorecard ("" when there is none).

    Part of the scorecard key with the evidence key and the rubric hash: an override
    added later re-scores (cheaply) instead of leaving a stale scorecard.
    """
    from grader.overrides import FILENAME

    try:
        return hashlib.sha256((folder / FILENAME).read_bytes()).hexdigest()[:16]
    except OSError:
        return ""


def finalize(card: Scorecard, folder: Path) -> Scorecard:
    """The scorecard with the interviewers' overrides and comments applied (as the pipeline does)."""
    from grader import overrides

    return overrides.finalize(card, folder)


def read_manifest(out: Path) -> Manifest | None:
    try:
        return Manifest.model_validate_json((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def rubric_info(rubric: Rubric) -> RubricInfo:
    return RubricInfo(name=rubric.name, version=rubric.version, hash=rubric.digest(), max_points=rubric.max_points(),
                      hidden=rubric.hidden_included)


def _rss_mb(who: int) -> float:
    rss = resource.getrusage(who).ru_maxrss
    return rss / 1024**2 if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB on Linux


def _cpu_seconds() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@contextlib.contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """One batch at a time per output folder (the lock goes away with the process, even on SIGKILL)."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock, carry on
        yield
        return
    with open(out / LOCK, "a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UsageError(f"{out}: another grade batch/rescore/merge is writing to this folder") from None
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


# --- entries from folders -------------------------------------------------------------------------------------


def entry_from_folder(folder: Path, done: Done | None = None) -> Entry | None:
    """The result row of one submission folder, or None when it has not finished."""
    done = done or read_done(folder)
    if done is None:
        return None
    info = RubricInfo(**{k: done.rubric[k] for k in ("name", "version", "hash", "max_points", "hidden")
                         if k in done.rubric})
    common = {"file": done.file, "folder": done.folder, "executed": done.executed, "cpu_seconds": done.cpu_seconds,
              "worker_maxrss_mb": done.worker_maxrss_mb, "error_class": done.error_class}
    if done.status in ("graded", "partial"):
        try:
            card = Scorecard.model_validate_json((folder / "scorecard.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            msg = f"scorecard.json is missing or unreadable ({type(e).__name__}); run grade rescore"
            return Entry(status="error", message=msg, seconds=done.seconds,
                         card=stub_card(done.file, done.candidate or folder.name, "error", msg, done.seconds, info),
                         **{**common, "error_class": "MissingScorecard"})
        return Entry(status=card.status, card=card, message=done.message, seconds=card.seconds, **common)
    card = stub_card(done.file, done.candidate or Path(done.file).stem, done.status, done.message, done.seconds, info,
                     sha256=done.sha256)
    return Entry(status=done.status, card=card, message=done.message, seconds=done.seconds, **common)


def batch_folders(out: Path) -> list[Path]:
    """The submission folders of a batch folder: those its manifest lists, else every one with results."""
    manifest = read_manifest(out)
    if manifest and manifest.folders:
        return [out / f for f in sorted(manifest.folders)]
    return sorted(p for p in out.iterdir() if p.is_dir() and ((p / DONE).exists() or (p / "evidence.json").exists()))


# --- one submission, inside a worker process ----------------------------------------------------------------------


def exec_to_dict(opts: Any) -> dict[str, Any]:
    return dataclasses.asdict(opts)


def exec_from_dict(d: dict[str, Any]) -> Any:
    from grader.execute import ExecOptions
    from grader.sandbox import Limits

    d = dict(d)
    if isinstance(d.get("limits"), dict):
        d["limits"] = Limits(**d["limits"])
    return ExecOptions(**d)


def rubric_from_job(job: Job) -> Rubric:
    return Rubric.model_validate({**job.rubric, "hidden_included": job.hidden_included})


def _clear_stale(folder: Path) -> None:
    # A notebook that was graded before and is now unreadable must not keep its old scorecard.
    for name in ("scorecard.json", "scorecard.html", "scorecard.candidate.html", "junit.xml", "results.json"):
        (folder / name).unlink(missing_ok=True)


def grade_job(job: Job) -> Done:
    """Grade one submission in this process and write its folder, ``.done`` last.

    Never raises for a submission's own problems: bad input, environment failures and
    grader bugs all become a ``Done`` with that status and a one-line message.
    """
    from grader import anonymize
    from grader.fileio import write_atomic
    from grader.pipeline import GradeOptions
    from grader.pipeline import evidence_key
    from grader.pipeline import grade_notebook

    t0 = time.monotonic()
    folder = Path(job.out)
    folder.mkdir(parents=True, exist_ok=True)
    rubric = rubric_from_job(job)
    exec_opts = exec_from_dict(job.exec)
    opts = GradeOptions(out=folder, exec=exec_opts, use_cache=job.use_cache, keep_workdir=job.keep_workdir,
                        max_bytes=job.max_bytes, hidden_rerun=job.hidden_rerun)
    try:
        sha = file_sha256(Path(job.file))
    except OSError:
        sha = ""
    base = {"file": job.display, "folder": job.folder, "sha256": sha,
            "evidence_key": evidence_key(sha, exec_opts, job.hidden_rerun), "rubric_hash": rubric.digest(),
            "rubric": rubric_info(rubric).as_dict(), "gradescope": job.gradescope}
    status: Status
    scrubber = None
    if job.anonymize_id:
        anonymize.mark(folder, job.anonymize_id)  # before any report is written: every one is anonymous
        scrubber = anonymize.Scrubber(job.anonymize_id, anonymize.candidate_name(Path(job.file)), [job.file])
    try:
        result = grade_notebook(Path(job.file), rubric, opts)
        card = result.card
        if scrubber is not None:
            scrubber = anonymize.Scrubber(job.anonymize_id, card.candidate, [job.file, card.submission])
            card = anonymize.anonymize_card(card, scrubber)
            anonymize.scrub_files(folder, scrubber)
        status, message, error_class = card.status, result.evidence.run.message if card.status == "partial" else "", None
        message = scrubber.text(message) if scrubber is not None else message
        candidate, executed = card.candidate, not result.cached
        if job.gradescope:
            write_json(folder / "results.json", gradescope_results(card))
    except BadInput as e:
        status, message, error_class = "bad_input", one_line(e), type(e).__name__
    except GraderFailure as e:  # environment failure or grader bug: not the candidate's doing
        status, message, error_class = "error", f"{e.kind.replace('_', ' ')}: {one_line(e)}", type(e).__name__
    except Exception as e:  # a grader bug must cost this submission only
        status, message, error_class = "error", f"grader error: {type(e).__name__}: {one_line(e)}", type(e).__name__
    if status in ("bad_input", "error"):
        message = message.replace(job.file, job.display)  # the path as the user gave it
        if scrubber is not None:
            message = scrubber.text(message)
        candidate, executed = Path(job.display).stem, False
        _clear_stale(folder)
        write_atomic(folder / "grade.log", f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {job.display}: {status}: {message}\n")
        if job.gradescope:
            write_json(folder / "results.json", gradescope_failure(status, message, time.monotonic() - t0))
    done = Done(**base, status=status, message=message, error_class=error_class, candidate=candidate,
                executed=executed, corrections_hash=corrections_hash(folder), seconds=round(time.monotonic() - t0, 3), cpu_seconds=round(_cpu_seconds(), 3),
                worker_maxrss_mb=round(_rss_mb(resource.RUSAGE_SELF), 1), finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    write_done(folder, done)
    return done


# --- one submission, from the parent (or a Dask worker) -----------------------------------------------------------


class ProcessSet:
    """Live worker processes, so an interrupted batch can stop them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen] = set()
        self.stopping = False

    def add(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.add(proc)
        if self.stopping:
            _stop(proc)

    def discard(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(proc)

    def stop_all(self) -> None:
        self.stopping = True
        with self._lock:
            procs = list(self._procs)
        for p in procs:
            _stop(p)


def _stop(proc: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM (the worker shuts its kernel down), then SIGKILL after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(OSError):
        proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            proc.kill()
        proc.wait()


def worker_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({k: str(threads) for k in THREAD_VARS})  # the grader's own numpy, too
    env[PARENT_ENV] = str(os.getpid())
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:200] if lines else ""


def _describe_exit(rc: int) -> str:
    if rc < 0:
        try:
            return f"signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"signal {-rc}"
    return f"exit code {rc}"


def run_job(job: Job | dict[str, Any], procs: ProcessSet | None = None) -> dict[str, Any]:
    """Grade one submission in a fresh worker process; return its ``Done`` as a dict.

    Used by the local thread pool and, unchanged, as the Dask task. A worker that dies,
    hangs past ``job.timeout`` or never writes ``.done`` yields an ``error`` row.
    """
    job = job if isinstance(job, Job) else Job.model_validate(job)
    folder = Path(job.out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DONE).unlink(missing_ok=True)  # a stale marker must not stand for this run
    t0 = time.monotonic()
    timed_out = False
    with open(folder / WORKER_LOG, "wb") as log:
        # Output to a file, not a pipe: a kernel that outlives its worker would hold a pipe open.
        proc = subprocess.Popen([sys.executable, "-m", "grader.worker"], stdin=subprocess.PIPE, stdout=log,
                                stderr=subprocess.STDOUT, env=worker_env(job.threads))
        if procs is not None:
            procs.add(proc)
        try:
            with contextlib.suppress(BrokenPipeError):
                assert proc.stdin is not None
                proc.stdin.write(job.model_dump_json().encode())
                proc.stdin.close()
            try:
                rc = proc.wait(timeout=job.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _stop(proc)
                rc = proc.returncode
        finally:
            if procs is not None:
                procs.discard(proc)
    if job.anonymize_id:  # whatever the worker printed (a traceback, a warning) may name the file
        from grader import anonymize

        scrubber = anonymize.Scrubber(job.anonymize_id, anonymize.candidate_name(Path(job.file)), [job.file])
        anonymize.scrub_files(folder, scrubber, names=(WORKER_LOG,), notebook=False)
    done = read_done(folder)
    if done is not None:
        return done.model_dump(mode="json")
    if procs is not None and procs.stopping:
        raise KeyboardInterrupt
    if timed_out:
        message, cls = f"worker timed out after {job.timeout:.0f}s and was stopped", "WorkerTimeout"
    else:
        tail = _last_line(folder / WORKER_LOG)
        message, cls = f"worker died ({_describe_exit(rc)})" + (f": {tail}" if tail else ""), "WorkerDied"
    rubric = rubric_from_job(job)
    done = Done(file=job.display, folder=job.folder, status="error", message=message, error_class=cls,
                candidate=Path(job.display).stem, rubric_hash=rubric.digest(), rubric=rubric_info(rubric).as_dict(),
                gradescope=job.gradescope, seconds=round(time.monotonic() - t0, 3),
                finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    if job.gradescope:
        write_json(folder / "results.json", gradescope_failure("error", message, done.seconds))
    write_done(folder, done)
    return done.model_dump(mode="json")


# --- runners: local processes or a Dask cluster -------------------------------------------------------------------


class LocalRunner:
    """Up to ``jobs`` worker processes at once on this machine."""

    def __init__(self, jobs: int) -> None:
        self.jobs = max(1, jobs)
        self.procs = ProcessSet()

    def threads(self, kernels: int = 1) -> int:
        return threads_per_kernel(available_cores(), self.jobs * kernels)

    def cores(self) -> int:
        return available_cores()

    def run(self, jobs: list[Job]) -> Iterator[tuple[Job, Done]]:
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="grade-worker")
        futures: dict[Future, Job] = {pool.submit(run_job, j, self.procs): j for j in jobs}
        pending = set(futures)
        try:
            while pending:
                finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for f in finished:
                    job = futures[f]
                    try:
                        done = Done.model_validate(f.result())
                    except KeyboardInterrupt:
                        raise
                    except Exception as e:  # a bug in run_job itself: this row only
                        done = _error_done(job, f"grader error: {type(e).__name__}: {one_line(e)}", type(e).__name__)
                        write_done(Path(job.out), done)
                    yield job, done
        except BaseException:
            self.procs.stop_all()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)

    def close(self) -> None:
        pass


class DaskRunner:
    """The same per-submission task (:func:`run_job`) on an existing Dask ``distributed`` scheduler.

    Workers must see the same paths (a shared filesystem) and have the grader installed.
    """

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise EnvironmentFailure("--dask needs the optional dependency 'distributed': "
                                     "pip install 'nbgrade-staffds[dask]'") from None
        try:
            self.client = Client(address, timeout="30s")
        except Exception as e:  # OSError, TimeoutError, ValueError for a malformed address
            raise EnvironmentFailure(f"--dask {address}: cannot reach the scheduler: {one_line(e)}") from None
        self._threads, self._cores = self._shares()

    def _shares(self) -> tuple[int, int]:
        # Per host: its cores shared by every task slot (worker thread) on it.
        info = self.client.scheduler_info(n_workers=-1) if _accepts_n_workers(self.client) else self.client.scheduler_info()
        workers = info.get("workers", {})
        if not workers:
            return 1, 1
        cores = self.client.run(available_cores)
        slots: dict[str, int] = {}
        host_cores: dict[str, int] = {}
        for addr, w in workers.items():
            host = w.get("host", addr)
            slots[host] = slots.get(host, 0) + int(w.get("nthreads", 1))
            host_cores[host] = int(cores.get(addr, 1))
        return min(threads_per_kernel(host_cores[h], slots[h]) for h in slots), sum(host_cores.values())

    def threads(self, kernels: int = 1) -> int:
        return max(1, self._threads // kernels)

    def cores(self) -> int:
        return self._cores

    def run(self, jobs: list[Job]) -> Iterator[tuple[Job, Done]]:
        from distributed import as_completed

        futures = {self.client.submit(run_job, j.model_dump(), pure=False, key=f"grade-{j.folder}-{os.urandom(4).hex()}"): j
                   for j in jobs}
        try:
            for fut in as_completed(list(futures)):
                job = futures[fut]
                try:
                    done = Done.model_validate(fut.result())
                except Exception as e:  # a lost worker, KilledWorker, a pickling problem
                    done = _error_done(job, f"dask task failed: {type(e).__name__}: {one_line(e)}", "DaskTaskFailed")
                    write_done(Path(job.out), done)
                yield job, done
        except BaseException:
            self.client.cancel(list(futures))
            raise

    def close(self) -> None:
        self.client.close()


def _accepts_n_workers(client: Any) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def _error_done(job: Job, message: str, cls: str) -> Done:
    rubric = rubric_from_job(job)
    return Done(file=job.display, folder=job.folder, status="error", message=message, error_class=cls,
                candidate=Path(job.display).stem, rubric_hash=rubric.digest(), rubric=rubric_info(rubric).as_dict(),
                gradescope=job.gradescope, finished=time.strftime("%Y-%m-%dT%H:%M:%S"))


# --- progress ------------------------------------------------------------------------------------------------------


class Progress:
    """A rich progress bar (counts, ETA, failures) on a terminal; plain log lines otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None, label: str = "grading") -> None:
        self.total = total
        self.stream = stream or sys.stdout
        self.label = label
        self.done = 0
        self.instant = 0  # rows taken from the cache: left out of the rate the ETA uses
        self.failures: list[str] = []
        self.t0 = time.monotonic()
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if self.total and self.stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn
            from rich.progress import MofNCompleteColumn
            from rich.progress import Progress as RichProgress
            from rich.progress import TextColumn
            from rich.progress import TimeElapsedColumn
            from rich.progress import TimeRemainingColumn

            self._bar = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("[red]{task.fields[failed]} failed"), TimeElapsedColumn(),
                                     TextColumn("eta"), TimeRemainingColumn(),
                                     console=Console(file=self.stream), transient=False)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, failed=0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def _eta(self) -> str:
        worked = self.done - self.instant
        if worked <= 0 or self.done >= self.total:
            return ""
        left = (time.monotonic() - self.t0) / worked * (self.total - self.done)
        return f", eta {int(left // 60)}m{int(left % 60):02d}s"

    def log(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def advance(self, entry: Entry | None, done: Done, how: str = "") -> None:
        self.done += 1
        if how in ("cached", "re-scored"):
            self.instant += 1
        card = entry.card if entry else None
        score = f"{card.points:g}/{card.max_points:g} ({card.percent:.1f}%)" if card and entry and entry.scored else ""
        failed = done.status in ("bad_input", "error", "partial")
        if failed:
            self.failures.append(f"{done.folder}: {done.status}" + (f": {done.message}" if done.message else ""))
        if self._bar is not None:
            self._bar.update(self._task, advance=1, failed=len(self.failures))
            if failed:
                self._bar.console.print(f"[red]✗[/] {self.failures[-1]}", highlight=False)
            return
        line = f"[{self.done}/{self.total}] {done.folder}: {done.status}" + (f" {score}" if score else "")
        line += f" {done.seconds:.1f}s" + (f" ({how})" if how else "") + self._eta()
        if failed and done.message:
            line += f" - {done.message}"
        self.log(line)


# --- grade batch ---------------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    path: Path
    display: str
    folder: str
    sha256: str
    key: str
    action: Literal["skip", "rescore", "run"]


def _plan(paths: list[Path], names: dict[Path, str], opts: BatchOptions, exec_opts: Any, rubric_hash: str,
          displays: dict[Path, str] | None = None) -> list[_Plan]:
    from grader.pipeline import evidence_key

    plans = []
    for p in paths:
        folder = opts.out / names[p]
        try:
            sha = file_sha256(p)
        except OSError:
            sha = ""
        key = evidence_key(sha, exec_opts, opts.hidden_rerun)
        done = read_done(folder)
        action: Literal["skip", "rescore", "run"] = "run"
        reusable = (done is not None and not opts.force and opts.use_cache and done.status != "error" and sha
                    and done.sha256 == sha and done.evidence_key == key)
        if reusable and done is not None:
            fresh = (done.rubric_hash == rubric_hash and done.corrections_hash == corrections_hash(folder)
                     and (not opts.gradescope or (folder / "results.json").exists()))
            action = "skip" if fresh else "rescore"
        plans.append(_Plan(p, displays[p] if displays else str(p), names[p], sha, key, action))
    return plans


def _parent_rss() -> float:
    return _rss_mb(resource.RUSAGE_SELF)


def run_batch(opts: BatchOptions, rubric: Rubric, stream: TextIO | None = None,
              runner_factory: Callable[[BatchOptions], Any] | None = None) -> BatchReport:
    """Grade every notebook of ``opts.inputs`` (this shard of them) into ``opts.out``.

    Returns
    -------
    BatchReport
        One entry per selected notebook (bad-input and error rows included).

    Raises
    ------
    UsageError
        No notebooks, a bad ``--shard``, or another batch writing to the same folder.
    """
    from grader.execute import ExecOptions

    t0 = time.monotonic()
    paths = find_notebooks(opts.inputs, exclude=opts.out)
    names = folder_names(paths)
    displays = {p: str(p) for p in paths}
    if opts.anonymize:  # blind grading: folders and rows are named by candidate id (over all shards)
        names = anonymize_names(paths)
        displays = {p: f"{names[p]}.ipynb" for p in paths}
    selected = shard_slice(paths, opts.shard)
    stream = stream or sys.stdout
    runner = (runner_factory or _default_runner)(opts)
    try:
        # The hidden-data re-run runs a second kernel beside the first: both share the slot's cores.
        threads = runner.threads(2 if opts.hidden_rerun else 1)
        base = opts.exec or ExecOptions()
        exec_opts = dataclasses.replace(base, limits=dataclasses.replace(base.limits, threads=threads))
        with folder_lock(opts.out):
            previous = read_manifest(opts.out)
            if previous is not None and previous.anonymize != opts.anonymize:
                how = "anonymized" if previous.anonymize else "not anonymized"
                raise UsageError(f"{opts.out} holds a batch graded {how}: "
                                 f"{'pass' if previous.anonymize else 'leave out'} --anonymize, or use another folder")
            info = rubric_info(rubric)
            # anonymized, the inputs are left out: a path named on the command line may name the candidate
            manifest = Manifest(inputs=[] if opts.anonymize else list(opts.inputs), shard=f"{opts.shard[0]}/{opts.shard[1]}" if opts.shard else None,
                                rubric_path=str(opts.rubric_path.resolve()) if opts.rubric_path else None,
                                hidden_rubric_path=str(opts.hidden_rubric_path.resolve()) if opts.hidden_rubric_path else None,
                                hidden=opts.hidden, gradescope=opts.gradescope, jobs=opts.jobs, threads=threads,
                                exec=exec_opts.key(), folders={names[p]: displays[p] for p in selected},
                                anonymize=opts.anonymize)
            write_json(opts.out / MANIFEST, manifest.model_dump(mode="json"))
            if opts.anonymize:
                write_anonymization(opts.out, selected, names)
            plans = _plan(selected, names, opts, exec_opts, info.hash, displays)
            counts = Counter(p.action for p in plans)
            if opts.shard and not selected:
                print(f"shard {manifest.shard}: no notebooks in this slice", file=stream)
            timeout = exec_opts.total_timeout + exec_opts.startup_timeout + exec_opts.probe_timeout + 120
            jobs = [Job(file=str(p.path.resolve()), display=p.display, folder=p.folder, out=str((opts.out / p.folder).resolve()),
                        rubric=rubric.model_dump(mode="json"), hidden_included=rubric.hidden_included,
                        exec=exec_to_dict(exec_opts), use_cache=opts.use_cache, keep_workdir=opts.keep_workdir,
                        max_bytes=opts.max_bytes, hidden_rerun=opts.hidden_rerun, gradescope=opts.gradescope,
                        threads=threads, timeout=timeout, anonymize_id=p.folder if opts.anonymize else "")
                    for p in plans if p.action == "run"]
            entries: dict[str, Entry] = {}
            with Progress(len(plans), stream) as progress:
                if counts["skip"] or counts["rescore"]:
                    progress.log(f"{counts['skip']} already graded, {counts['rescore']} to re-score, "
                                 f"{len(jobs)} to grade with -j {opts.jobs} ({threads} thread(s) per kernel)")
                for p in plans:
                    if p.action == "run":
                        continue
                    folder = opts.out / p.folder
                    done = rescore_folder(folder, rubric, opts.gradescope) if p.action == "rescore" else read_done(folder)
                    entry = entry_from_folder(folder, done) if done else None
                    if entry is not None and done is not None:
                        entries[p.folder] = entry
                        progress.advance(entry, done, "cached" if p.action == "skip" else "re-scored")
                for job, done in runner.run(jobs):
                    entry = entry_from_folder(Path(job.out), done)
                    if entry is not None:
                        entries[job.folder] = entry
                    progress.advance(entry, done)
            wall = time.monotonic() - t0
            ordered = [entries[p.folder] for p in plans if p.folder in entries]
            timings = Timings(wall_seconds=wall, jobs=opts.jobs, threads_per_kernel=threads, cores=runner.cores(),
                              parent_maxrss_mb=_parent_rss(),
                              counts={"cached": counts["skip"], "rescored": counts["rescore"], "ran": len(jobs)},
                              extra={"dask": opts.dask} if opts.dask else {})
            write_similar_answers(opts.out, ordered)
            files = write_batch_outputs(opts.out, ordered, timings, "batch")
    finally:
        runner.close()
    return BatchReport(entries=ordered, files=files, counts=dict(counts), wall_seconds=wall)


# answers this close (TF-IDF cosine) to another candidate's are worth a human look
SIMILAR_ANSWERS = 0.9


def write_similar_answers(out: Path, entries: list[Entry]) -> Path | None:
    """Pairs of candidates with near-identical ML Ops answers, as ``OUT/similar_answers.json``.

    They depend on the evidence only, so rescore keeps the file as it is; summary.json
    lists them.
    """
    from grader.mlops import similar_pairs

    answers = {}
    for e in entries:
        if not e.scored:
            continue
        try:
            ev = Evidence.model_validate_json((out / e.folder / "evidence.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        answers[e.card.candidate] = ev.mlops
    if len(answers) < 2:
        return None
    pairs = [{"a": a, "b": b, "question": q, "similarity": round(sim, 3)}
             for a, b, q, sim in similar_pairs(answers, threshold=SIMILAR_ANSWERS)]
    path = out / "similar_answers.json"
    write_json(path, {"threshold": SIMILAR_ANSWERS, "pairs": pairs})
    return path


def anonymize_names(paths: list[Path]) -> dict[Path, str]:
    """Blind grading: the candidate id of each notebook (``grader.anonymize.unique_ids``), its folder name."""
    from grader.anonymize import unique_ids

    def sha(p: Path) -> str:
        try:
            return file_sha256(p)
        except OSError:
            return ""

    return unique_ids((p, sha(p)) for p in paths)


def write_anonymization(out: Path, paths: list[Path], names: dict[Path, str]) -> Path:
    """Add these notebooks to ``OUT/anonymization.csv`` (id, folder, candidate name, file as given, sha256).

    The only file of a blind batch that names candidates; nothing links to it.
    """
    from grader import anonymize

    rows = []
    for p in paths:
        try:
            sha = file_sha256(p)
        except OSError:
            sha = ""
        rows.append({"id": names[p], "folder": names[p], "candidate": anonymize.candidate_name(p), "file": str(p),
                     "sha256": sha})
    return anonymize.update_mapping(out / anonymize.MAPPING, rows)


def _default_runner(opts: BatchOptions) -> Any:
    return DaskRunner(opts.dask) if opts.dask else LocalRunner(opts.jobs)


# --- grade rescore -------------------------------------------------------------------------------------------------


def rescore_folder(folder: Path, rubric: Rubric, gradescope: bool | None = None, file: str | None = None) -> Done | None:
    """Re-score one submission folder from its ``evidence.json``; nothing is executed.

    Rewrites the scorecards (and ``results.json`` when Gradescope output is on), then
    ``.done`` last. Rows with no evidence (bad input, errors) keep their status; only
    their rubric fields are updated. A folder whose worker was stopped after writing the
    evidence but before ``.done`` is finished here (``file``: the notebook path as given).
    Returns the new marker, or None when the folder has nothing to re-score.
    """
    done = read_done(folder)
    gradescope = done.gradescope if gradescope is None and done is not None else bool(gradescope)
    info = rubric_info(rubric)
    ev_path = folder / "evidence.json"
    if done is None or done.status in ("graded", "partial") or (done.status == "error" and ev_path.exists()):
        from grader.score import score

        try:
            ev = Evidence.model_validate_json(ev_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return done
        card = finalize(score(ev, rubric), folder)
        write_card_reports(card, ev, folder)
        card = card_for_folder(card, folder)  # blind grading: the id, not the name, from here on
        if gradescope:
            write_json(folder / "results.json", gradescope_results(card))
        if done is None:  # evidence written, the worker killed before .done: finish it here
            done = Done(file=file or card.submission, folder=folder.name, status=card.status, sha256=ev.submission.sha256,
                        evidence_key=str(ev.settings.get("key", "")), seconds=ev.run.seconds)
        done = done.model_copy(update={"status": card.status, "candidate": card.candidate, "rubric_hash": info.hash,
                                       "corrections_hash": corrections_hash(folder),
                                       "rubric": info.as_dict(), "gradescope": gradescope,
                                       "message": ev.run.message if card.status == "partial" else "",
                                       "error_class": None})
    else:
        done = done.model_copy(update={"rubric_hash": info.hash, "rubric": info.as_dict(), "gradescope": gradescope})
        if gradescope and not (folder / "results.json").exists():
            write_json(folder / "results.json", gradescope_failure(done.status, done.message, done.seconds))
    write_done(folder, done)
    return done


def _rescore_task(folder: str, rubric: dict[str, Any], hidden: bool, gradescope: bool | None,
                  file: str | None) -> dict[str, Any] | None:
    # Runs in a fresh (spawned) process: the rubric travels as plain data.
    done = rescore_folder(Path(folder), Rubric.model_validate({**rubric, "hidden_included": hidden}), gradescope, file)
    return done.model_dump(mode="json") if done else None


def _rescore_all(folders: list[Path], rubric: Rubric, gradescope: bool | None, jobs: int,
                 files: dict[str, str]) -> list[Done | None]:
    if jobs <= 1:
        return [rescore_folder(f, rubric, gradescope, files.get(f.name)) for f in folders]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    dump = rubric.model_dump(mode="json")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = pool.map(_rescore_task, [str(f) for f in folders], [dump] * len(folders),
                           [rubric.hidden_included] * len(folders), [gradescope] * len(folders),
                           [files.get(f.name) for f in folders], chunksize=max(1, len(folders) // (4 * jobs)))
        return [Done.model_validate(d) if d else None for d in results]


def rescore(out: Path, rubric: Rubric, stream: TextIO | None = None, gradescope: bool | None = None,
            jobs: int | None = None) -> BatchReport:
    """Re-score every cached submission of the batch folder ``out`` with ``rubric`` and rewrite its outputs.

    Parameters
    ----------
    jobs : int or None
        Processes to re-score in; None picks one per core for large batches (a process
        costs a fraction of a second to start, so small batches stay in this one).
    """
    t0 = time.monotonic()
    if not out.is_dir():
        raise UsageError(f"{out}: no such batch folder")
    stream = stream or sys.stdout
    with folder_lock(out):
        folders = batch_folders(out)
        if not folders:
            raise UsageError(f"{out}: no graded submissions to re-score (no */.done or */evidence.json)")
        manifest = read_manifest(out)
        gs = gradescope if gradescope is not None else (manifest.gradescope if manifest else None)
        n = min(available_cores(), len(folders) // 8) if jobs is None else min(jobs, len(folders))
        before = {f.name: read_done(f) for f in folders}
        entries = []
        changed = 0
        files = manifest.folders if manifest else {}
        for folder, done in zip(folders, _rescore_all(folders, rubric, gs, n, files), strict=True):
            entry = entry_from_folder(folder, done) if done else None
            if entry is None or done is None:
                print(f"{folder.name}: not finished, nothing to re-score (run grade batch again)", file=stream)
                continue
            old = before[folder.name]
            changed += old is None or old.rubric_hash != done.rubric_hash
            entries.append(entry)
        wall = time.monotonic() - t0
        timings = Timings(wall_seconds=wall, jobs=max(1, n), parent_maxrss_mb=_parent_rss(),
                          counts={"rescored": len(entries)})
        files = write_batch_outputs(out, entries, timings, "rescore")
    print(f"re-scored {len(entries)} submissions with {rubric.name} {rubric.version} in {wall:.2f}s "
          f"(rubric changed for {changed}); nothing was executed", file=stream)
    return BatchReport(entries=entries, files=files, counts={"rescored": len(entries)}, wall_seconds=wall)


# --- grade merge ---------------------------------------------------------------------------------------------------


def merge(outs: list[Path], dest: Path, stream: TextIO | None = None) -> BatchReport:
    """Join shard batch folders into ``dest``: submission folders copied, one CSV/JUnit/summary/index.

    Raises
    ------
    UsageError
        A folder is not a batch folder, two shards hold the same submission folder with
        different notebooks, or the shards were scored with different rubrics.
    """
    import shutil

    t0 = time.monotonic()
    stream = stream or sys.stdout
    seen: dict[str, tuple[Path, Entry]] = {}
    manifests: list[Manifest] = []
    for out in outs:
        if not out.is_dir():
            raise UsageError(f"{out}: no such batch folder")
        manifest = read_manifest(out)
        if manifest:
            manifests.append(manifest)
        folders = batch_folders(out)
        if not folders:
            raise UsageError(f"{out}: not a batch folder (no batch.json and no */.done)")
        for folder in folders:
            entry = entry_from_folder(folder)
            if entry is None:
                print(f"{out}/{folder.name}: not finished, left out (run its grade batch again)", file=stream)
                continue
            if entry.folder in seen and seen[entry.folder][1].card.sha256 != entry.card.sha256:
                raise UsageError(f"{entry.folder} is in both {seen[entry.folder][0]} and {out} with different notebooks")
            seen[entry.folder] = (folder, entry)
    if len({m.anonymize for m in manifests}) > 1:
        raise UsageError("some shards were graded with --anonymize and some without: grade them the same way")
    hashes = {e.card.rubric_hash for _, e in seen.values() if e.scored}
    if len(hashes) > 1:
        raise UsageError(f"the shards were scored with different rubrics ({', '.join(sorted(hashes))}): "
                         "run grade rescore on each with the same rubric first")
    dest.mkdir(parents=True, exist_ok=True)
    with folder_lock(dest):
        for name, (src, _) in seen.items():
            if src.resolve() != (dest / name).resolve():
                shutil.copytree(src, dest / name, dirs_exist_ok=True)
        first = manifests[0] if manifests else Manifest()
        merged = first.model_copy(update={"command": "merge", "shard": None,
                                          "inputs": sorted({i for m in manifests for i in m.inputs}),
                                          "gradescope": any(m.gradescope for m in manifests),
                                          "anonymize": any(m.anonymize for m in manifests),
                                          "folders": {n: e.file for n, (_, e) in sorted(seen.items())}})
        write_json(dest / MANIFEST, merged.model_dump(mode="json"))
        if merged.anonymize:
            from grader import anonymize

            rows = [r for out in outs if out.resolve() != dest.resolve()
                    for r in anonymize.read_mapping(out / anonymize.MAPPING)]
            anonymize.update_mapping(dest / anonymize.MAPPING, rows)
        entries = [e for _, e in seen.values()]
        shard_walls = []
        for out in outs:
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                shard_walls.append(json.loads((out / "summary.json").read_text())["timings"]["wall_seconds"])
        wall = time.monotonic() - t0
        timings = Timings(wall_seconds=wall, parent_maxrss_mb=_parent_rss(),
                          counts={"shards": len(outs)}, extra={"shard_wall_seconds": shard_walls})
        files = write_batch_outputs(dest, entries, timings, "merge")
    print(f"merged {len(entries)} submissions from {len(outs)} folders into {dest}", file=stream)
    return BatchReport(entries=entries, files=files, counts={"merged": len(entries)}, wall_seconds=wall)
