"""Sandbox tests: what each isolation level promises, checked from inside a real kernel.

The kernel-backed tests (``slow``) run the hostile notebooks of ``submissions/hostile``
with small timeouts, one kernel at a time. Strict tests are skipped where bwrap cannot
run (not Linux, not installed, or its smoke test fails in this container).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell
from nbformat.v4 import new_markdown_cell
from nbformat.v4 import new_notebook

import grader
from grader import bwrap
from grader import sandbox
from grader.execute import ExecOptions
from grader.execute import ExecResult
from grader.execute import execute
from grader.launch import give_workdir
from grader.load import load
from grader.sandbox import Limits
from grader.sandbox import build_launch

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ROOT / "submissions" / "hostile"
REPO = Path(grader.__file__).resolve().parent.parent
MiB = 1024**2

STRICT_OK, STRICT_WHY = bwrap.smoke_test() if sandbox.has_bwrap() else (False, "bwrap is not installed")
strict_only = pytest.mark.skipif(not STRICT_OK, reason=f"strict isolation unavailable: {STRICT_WHY}")
posix_only = pytest.mark.skipif(not sandbox.has_rlimits(), reason="no POSIX resource limits")

FAST = ExecOptions(isolation="strict", cell_timeout=3, total_timeout=60, interrupt_grace=3, probe_timeout=20)


def run(nb_or_name: str | nbformat.NotebookNode, workdir: Path, opts: ExecOptions = FAST,
        tmp: Path | None = None) -> tuple[ExecResult, float]:
    """Execute a hostile notebook (by name) or a notebook object in ``workdir``; return result and seconds."""
    if isinstance(nb_or_name, str):
        path = HOSTILE / f"{nb_or_name}.ipynb"
    else:
        path = (tmp or workdir.parent) / "probe.ipynb"
        nbformat.write(nb_or_name, path)
    sub, nb = load(path)
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    result = execute(nb, sub, opts, workdir)
    return result, time.monotonic() - t0


def statuses(result: ExecResult) -> list[str]:
    return [c.status for c in result.run.cells]


def notebook(*sources: str) -> nbformat.NotebookNode:
    return new_notebook(cells=[new_markdown_cell("## Task 1: sandbox probe")] + [new_code_cell(s) for s in sources])


def processes_in(workdir: Path, wait: float = 3.0) -> list[int]:
    """Live processes whose current directory is ``workdir`` (kernel leftovers), after up to ``wait`` s."""
    deadline = time.monotonic() + wait
    while (found := _cwd_in(workdir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def _cwd_in(workdir: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd") == str(workdir):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class PeakRSS:
    """Samples this process's resident size in a thread (Linux): the peak above the start."""

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = self._rss()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    @property
    def grew(self) -> int:
        return self.peak - self.start

    def _sample(self) -> None:
        while not self.stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# --- no kernel ----------------------------------------------------------------------------------------------


def test_hostile_notebooks_are_built_and_segment():
    names = {p.stem for p in HOSTILE.glob("*.ipynb")}
    assert {"infinite_loop", "sys_exit", "os_exit", "big_alloc", "fork_bomb", "output_spam", "escape_write",
            "network", "swallow_interrupt", "monkeypatch", "html_js"} <= names
    for name in names:
        sub, _ = load(HOSTILE / f"{name}.ipynb")
        assert 1 in sub.tasks, name


def test_hostile_builder_is_reproducible():
    spec = importlib.util.spec_from_file_location("hostile_build", HOSTILE / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    for name, cells in build.NOTEBOOKS.items():
        committed = nbformat.read(HOSTILE / f"{name}.ipynb", as_version=4)
        assert [c.source for c in build.build(name, cells).cells] == [c.source for c in committed.cells], name


@pytest.mark.skipif(not sandbox.has_bwrap(), reason="bwrap is not installed")
def test_bwrap_argv_shape(tmp_path):
    env = {"JPY_PARENT_PID": "123", "HOME": str(tmp_path / "home")}
    argv = bwrap.bwrap_argv(tmp_path, env, uid=650_001, gid=650_001)
    pairs = list(zip(argv, argv[1:], argv[2:], strict=False))
    for flag in ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--new-session"):
        assert flag in argv
    assert ("--ro-bind", "/", "/") not in pairs, "strict must not expose the whole filesystem"
    assert ("--setenv", "JPY_PARENT_PID", "1") in pairs and "JPY_PARENT_PID" not in env
    assert ("--bind", str(tmp_path), str(tmp_path)) in pairs and ("--chdir", str(tmp_path)) in zip(argv, argv[1:], strict=False)
    tmpfs = argv.index("/tmp", argv.index("--tmpfs"))
    for root in bwrap.python_roots():  # re-bound after the private /tmp, so a venv under /tmp still works
        assert argv.index(str(root)) > tmpfs
    home = Path.home().resolve()
    sources = {argv[i + 1] for i, a in enumerate(argv) if a in ("--bind", "--ro-bind")}
    assert str(home) not in sources and "/" not in sources and str(REPO) not in sources
    if bwrap.is_root():  # root is exempt from RLIMIT_NPROC: the kernel must run as its own uid
        tail = argv[argv.index("--") + 1:]
        assert tail[0].endswith("setpriv") and "650001" in tail and tail[-1] == "--"
        assert ("--cap-drop", "ALL") in zip(argv, argv[1:], strict=False)


def test_python_roots_are_just_the_interpreter():
    roots = bwrap.python_roots()
    assert Path(sys.prefix).resolve() in [r.resolve() for r in roots] or Path(sys.prefix).resolve().is_relative_to("/usr")
    for root in roots:
        assert root != Path("/") and root != Path.home().resolve()
        assert not any(other != root and other in root.parents for other in roots)


def test_levels_promise_only_what_they_give(tmp_path):
    limits = build_launch("limits", tmp_path, Limits())
    assert sandbox.NETWORK in limits.missing and sandbox.FILESYSTEM in limits.missing
    assert limits.interrupt_mode == "signal" and "grader.launch" in limits.argv
    assert (sandbox.PROCESSES in limits.missing) == bwrap.is_root()  # root ignores RLIMIT_NPROC
    none = build_launch("none", tmp_path, Limits())
    assert sandbox.MEMORY in none.missing and sandbox.NETWORK in none.missing
    assert sandbox.missing_for("strict") == []


@strict_only
def test_strict_launch_runs_launcher_outside_bwrap(tmp_path):
    launch = build_launch("strict", tmp_path, Limits())
    assert launch.interrupt_mode == "message" and launch.missing == []
    assert launch.argv.index("grader.launch") < launch.argv.index(bwrap.shutil.which("bwrap"))
    assert launch.env["MPLCONFIGDIR"].startswith(str(tmp_path)), "the grader's home stays hidden"


def test_auto_falls_back_without_working_bwrap(monkeypatch):
    monkeypatch.setattr(bwrap, "smoke_test", lambda: (False, "bwrap is installed but the sandbox does not start"))
    monkeypatch.setattr(sandbox, "has_bwrap", lambda: True)
    if sandbox.has_rlimits():
        assert sandbox.resolve_level("auto") == "limits"
        with pytest.raises(sandbox.EnvironmentFailure, match="not available"):
            sandbox.resolve_level("strict")
    lines = sandbox.doctor()
    assert lines[0].startswith("isolation: ") and "does not start" in lines[0]
    assert any(line.strip().startswith("strict unavailable") for line in lines)


@pytest.mark.skipif(not bwrap.is_root(), reason="ownership hand-over only happens as root")
def test_give_workdir_keeps_grader_files_safe(tmp_path):
    (tmp_path / ".kernel" / "kernels").mkdir(parents=True)
    (tmp_path / ".kernel" / "connection.json").write_text("{}")
    (tmp_path / "data.csv").write_text("a\n")
    give_workdir(tmp_path, 650_002, 650_002)
    top, kdir, conn = (os.stat(p) for p in (tmp_path, tmp_path / ".kernel", tmp_path / ".kernel" / "connection.json"))
    assert (top.st_uid, top.st_gid, top.st_mode & 0o7777) == (0, 650_002, 0o1770)
    assert (kdir.st_uid, kdir.st_mode & 0o7777) == (0, 0o1770)
    assert (conn.st_uid, conn.st_gid, conn.st_mode & 0o777) == (0, 650_002, 0o640)
    assert os.stat(tmp_path / "data.csv").st_uid == 650_002  # a notebook may overwrite the data file
    assert os.stat(tmp_path / ".kernel" / "kernels").st_uid == 0


@posix_only
def test_launcher_limits_cpu_and_memory():
    base = [sys.executable, "-I", "-m", "grader.launch", "--procs", "512", "--fsize", str(64 * MiB)]
    cpu = subprocess.run(base + ["--memory", str(4 << 30), "--cpu", "1", "--", sys.executable, "-c", "while True: pass"],
                         capture_output=True, timeout=30)
    assert cpu.returncode < 0 or cpu.returncode > 128, "RLIMIT_CPU ends a busy loop"
    mem = subprocess.run(base + ["--memory", str(512 * MiB), "--cpu", "60", "--", sys.executable, "-c",
                                 "bytearray(1 << 30)"], capture_output=True, text=True, timeout=30)
    assert "MemoryError" in mem.stderr


# --- strict, in a kernel --------------------------------------------------------------------------------------


def _allowed_children(folder: Path) -> set[str]:
    """The entries of ``folder`` the sandbox must show: only the path to a bound Python root."""
    out = set()
    for root in bwrap.python_roots():
        if folder in root.parents:
            out.add(root.relative_to(folder).parts[0])
    return out


@pytest.mark.slow
@strict_only
def test_strict_hides_the_host(tmp_path):
    home = Path(os.path.expanduser("~")).resolve()
    out = tmp_path / "out"  # an output folder and another submission, next to this one's workdir
    out.mkdir()
    (out / "scorecard.json").write_text("{}")
    other = tmp_path / "other-submission"
    other.mkdir()
    (other / "candidate.ipynb").write_text("{}")
    token = uuid.uuid4().hex
    hidden = REPO / "rubrics" / "staff-ds.hidden.yaml"
    look = [str(p) for p in (home, home / ".ssh", REPO, REPO / "rubrics", hidden, REPO / "submissions",
                             REPO / "grading", REPO / "grader", out, other, tmp_path)]
    targets = ["../outside.txt", f"/tmp/escape-{token}.txt", str(home / f"escape-{token}.txt"),
               str(REPO / f"escape-{token}.txt"), str(tmp_path / f"escape-{token}.txt")]
    code = f"""
import json, os, socket
seen = {{}}
for p in {look!r}:
    try:
        seen[p] = sorted(os.listdir(p)) if os.path.isdir(p) else open(p).read(100)
    except OSError as e:
        seen[p] = type(e).__name__
wrote = {{}}
for p in {targets!r}:
    try:
        open(p, 'w').write('x'); wrote[p] = 'written'
    except OSError as e:
        wrote[p] = type(e).__name__
try:
    socket.create_connection(('1.1.1.1', 53), timeout=2); net = 'connected'
except OSError as e:
    net = e.errno
print(json.dumps({{'seen': seen, 'wrote': wrote, 'net': net, 'root': sorted(os.listdir('/')), 'uid': os.getuid()}}))
"""
    result, _ = run(notebook(code), tmp_path / "work")
    facts = json.loads(result.run.cells[0].text)
    for p in look:
        allowed = _allowed_children(Path(p))
        if allowed:  # a folder on the way to the interpreter: an empty skeleton
            assert set(facts["seen"][p]) <= allowed, (p, facts["seen"][p])
        elif Path(p) == tmp_path:
            assert facts["seen"][p] == ["work"], "siblings of the workdir are invisible"
        else:
            assert facts["seen"][p] == "FileNotFoundError", (p, facts["seen"][p])
    assert facts["seen"][str(hidden)] == "FileNotFoundError"
    assert facts["net"] == 101, "network unreachable (ENETUNREACH)"
    assert set(facts["root"]) <= {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "dev", "proc",
                                  "tmp", *(Path(r).parts[1] for r in bwrap.python_roots()),
                                  tmp_path.parts[1]}
    if bwrap.is_root():
        assert facts["uid"] >= bwrap.UID_BASE
    # Each write fails, or lands on the sandbox's own tmpfs (its /tmp, the empty skeleton folders): never on the host.
    assert facts["wrote"][f"/tmp/escape-{token}.txt"] == "written" and not Path(f"/tmp/escape-{token}.txt").exists()
    if bwrap.is_root():
        assert facts["wrote"][str(REPO / f"escape-{token}.txt")] != "written"
    assert not (tmp_path / "outside.txt").exists() and not list(tmp_path.glob("escape-*"))
    assert not list(home.glob(f"escape-{token}*")) and not list(REPO.glob(f"escape-{token}*"))


@pytest.mark.slow
@strict_only
@pytest.mark.parametrize("name", ["escape_write", "network"])
def test_strict_hostile_probes_find_nothing(tmp_path, name):
    started = time.time()
    result, seconds = run(name, tmp_path / "work")
    text = "".join(c.text for c in result.run.cells)
    assert result.run.ended == "complete" and seconds < 20
    if name == "network":
        assert "CONNECTED" not in text and "errno 101" in text
        return
    said = dict(line.split(" -> ", 1) for line in text.splitlines() if " -> " in line)
    for path in ("/root/.ssh", "/root/.ssh/id_rsa", "/work/main/rubrics", "/work/main/rubrics/staff-ds.hidden.yaml",
                 "/work/main/submissions", "/etc/shadow", "/etc/passwd"):
        assert said[path].startswith("FileNotFoundError"), (path, said[path])
    for path in ("/root/grader_escape_test.txt", "/work/grader_escape_test.txt", "/tmp/grader_escape_test.txt"):
        host = Path(path)  # written or not inside, nothing new on the host
        assert not host.exists() or host.stat().st_mtime < started, path


@pytest.mark.slow
@strict_only
def test_strict_process_limit_stops_fork_bomb(tmp_path):
    # 245 forks of a kernel take ~3 s on a 2-core machine: a longer cell timeout for this one.
    opts = ExecOptions(isolation="strict", cell_timeout=15, total_timeout=60, interrupt_grace=3, probe_timeout=20)
    work = tmp_path / "work"
    result, seconds = run("fork_bomb", work, opts)
    assert statuses(result) == ["ok", "ok", "ok"], result.run.cells[1]
    text = result.run.cells[1].text
    forked = int(text.split("forked ")[1].split()[0])
    assert forked < Limits().processes and "Resource temporarily unavailable" in text
    assert result.run.cells[2].text == "after\n"
    assert processes_in(work) == [], "no child outlives the run"


@pytest.mark.slow
@strict_only
def test_strict_memory_limit(tmp_path):
    result, _ = run("big_alloc", tmp_path / "work")
    assert statuses(result) == ["ok", "error", "ok"]
    assert result.run.cells[1].ename == "MemoryError" and result.run.cells[1].failure == "memory_limit"


@pytest.mark.slow
@strict_only
def test_strict_infinite_loop_is_interrupted(tmp_path):
    result, seconds = run("infinite_loop", tmp_path / "work")
    assert statuses(result) == ["ok", "timeout", "ok"] and result.run.cells[2].text == "after\n"
    assert seconds < 15


@pytest.mark.slow
@strict_only
def test_strict_swallowed_interrupt_kills_kernel(tmp_path):
    work = tmp_path / "work"
    result, seconds = run("swallow_interrupt", work)
    assert statuses(result) == ["ok", "timeout", "not-run"]
    assert result.run.ended == "dead_kernel" and "killed" in result.run.message
    # cell timeout + nbclient's iopub wait (4 s) + grace + kill margin
    assert seconds < FAST.cell_timeout + 4 + FAST.interrupt_grace + 8
    assert processes_in(work) == []


@pytest.mark.slow
@strict_only
def test_strict_os_exit_is_a_dead_kernel(tmp_path):
    result, _ = run("os_exit", tmp_path / "work")
    assert statuses(result) == ["ok", "error", "not-run"]
    assert result.run.cells[0].text == "before\n" and result.run.cells[1].failure == "dead_kernel"
    assert result.run.ended == "dead_kernel"


@pytest.mark.slow
@strict_only
def test_strict_output_spam_is_capped(tmp_path):
    with PeakRSS() as rss:
        result, _ = run("output_spam", tmp_path / "work")
    cell = result.run.cells[1]
    assert cell.truncated and "[output truncated by the grader]" in cell.stderr
    assert len(cell.text) <= ExecOptions().max_stream_bytes
    assert statuses(result) == ["ok", "ok", "ok"]
    assert rss.grew < 100 * MiB, f"the grader grew by {rss.grew / MiB:.0f} MiB"


@pytest.mark.slow
@strict_only
def test_one_huge_message_never_reaches_the_grader(tmp_path):
    # A single 100 MB print is one message: refused by zmq, the run ends instead of the grader swelling.
    with PeakRSS() as rss:
        result, seconds = run(notebook("print('before')", "print('x' * 100_000_000)", "print('after')"),
                              tmp_path / "work", tmp=tmp_path)
    assert rss.grew < 100 * MiB, f"the grader grew by {rss.grew / MiB:.0f} MiB"
    assert statuses(result) == ["ok", "error", "not-run"] and result.run.ended == "dead_kernel"
    assert seconds < 20


# --- limits only ------------------------------------------------------------------------------------------


@pytest.mark.slow
@posix_only
def test_limits_mode_memory_and_file_size(tmp_path):
    opts = ExecOptions(isolation="limits", cell_timeout=3, total_timeout=60, interrupt_grace=3, probe_timeout=20,
                       limits=Limits(file_bytes=1 * MiB))
    code = """
try:
    with open('big.bin', 'wb') as f:
        f.write(b'x' * (2 * 1024 * 1024))
    print('wrote 2 MiB')
except OSError as e:
    print('errno', e.errno)
"""
    result, _ = run(notebook("block = bytearray(40 * 1024**3)", code, "print('after')"), tmp_path / "work",
                    opts, tmp=tmp_path)
    assert statuses(result) == ["error", "ok", "ok"]
    assert result.run.cells[0].ename == "MemoryError"
    assert result.run.cells[1].text.strip() == "errno 27", "RLIMIT_FSIZE: EFBIG"
    assert result.run.isolation == "limits"
    assert sandbox.NETWORK in result.run.isolation_missing and sandbox.FILESYSTEM in result.run.isolation_missing
