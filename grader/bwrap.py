"""The ``strict`` sandbox: a bubblewrap (``bwrap``) command line around the kernel.

What the kernel sees (nothing else of the host exists inside):

- no network: a new network namespace with only its own loopback;
- read-only: ``/usr`` (and the ``/bin``, ``/lib``... links into it), a few files of
  ``/etc`` the loader and the C library read, and the Python installation the kernel runs
  (``sys.prefix``, ``sys.base_prefix`` and their real paths). Only those folders: a
  virtual environment or interpreter that lives under the grader's home or a checkout
  shows up as that one folder, never its siblings (the rubrics, other submissions, the
  output folder, ``~/.ssh``);
- writable: the working directory (also its ``HOME``), a private ``/tmp`` and
  ``/dev/shm`` (size-capped tmpfs);
- its own PID, IPC and UTS namespaces, a new session (so an interrupt never reaches
  bwrap, DESIGN pitfall 1) and ``--die-with-parent``.

As root, ``RLIMIT_NPROC`` is not enforced and bwrap keeps every capability, so the
kernel is started through ``setpriv`` as an unprivileged uid/gid of its own (one per
kernel, so parallel kernels do not share a process budget), with no capabilities, an
empty bounding set and ``no_new_privs``. The launcher (``grader.launch``, run *outside*
bwrap, then exec'ing it) sets the rlimits, which bwrap and setpriv inherit, and hands
the working directory to that uid. Running the launcher outside keeps the ``grader``
package (and with it the repository) out of the sandbox.

As an ordinary user, bwrap makes an unprivileged user namespace and the kernel keeps the
grader's uid, where ``RLIMIT_NPROC`` applies anyway.
"""

from __future__ import annotations

import functools
import itertools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from grader.exceptions import EnvironmentFailure

# First uid/gid handed to sandboxed kernels when the grader runs as root; far above the
# ranges distributions give to people and services, so no file on the host belongs to it.
UID_BASE = 640_000
UID_SPAN = 60_000
MiB = 1024**2
TMP_BYTES = 512 * MiB
SHM_BYTES = 256 * MiB

# Host folders bound read-only when they are real directories, recreated as links when
# they are links (merged /usr: /bin -> usr/bin).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Files from /etc: the loader cache and configuration, the timezone. No passwd, hosts or
# certificates: the kernel has no network and no need to know the host's users.
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
             "/etc/alternatives")

_counter = itertools.count()


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def sandbox_ids() -> tuple[int, int]:
    """A uid/gid for the next kernel: distinct per process and per kernel in that process."""
    uid = UID_BASE + (os.getpid() * 16 + next(_counter)) % UID_SPAN
    return uid, uid


def python_roots() -> list[Path]:
    """The folders the kernel's interpreter needs: its prefixes and their real paths.

    A folder is dropped when another in the list contains it. ``/`` and the system
    folders bound anyway are never listed (a system Python lives in ``/usr``).
    """
    found: list[Path] = []
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  str(stdlib.parent.parent), str(Path(os.path.realpath(sys.executable)).parent.parent)]
    for raw in candidates:
        for path in (Path(os.path.abspath(raw)), Path(raw).resolve()):
            if path not in found:
                found.append(path)
    system = [Path(d) for d in SYSTEM_DIRS]
    keep = []
    for path in found:
        if path == Path("/") or any(path == s or s in path.parents for s in system):
            continue
        if any(other != path and other in path.parents for other in found):
            continue
        keep.append(path)
    return keep


def _parents(path: str, made: set[str]) -> list[str]:
    # bwrap creates missing parents of a mount point with mode 0700, which the unprivileged
    # kernel cannot traverse: create them first, world-searchable and empty.
    out: list[str] = []
    for parent in reversed(Path(path).parents):
        p = str(parent)
        if p not in made:
            made.add(p)
            out += ["--perms", "0755", "--dir", p]
    return out


def _refuse_home(root: Path) -> None:
    # A Python "prefix" that is the grader's home (or holds it) would show the whole home.
    home = Path(os.path.expanduser("~")).resolve()
    if root == home or root in home.parents:
        raise EnvironmentFailure(f"strict isolation would expose {home}: the kernel's Python lives in {root}; "
                                 "install it in its own folder")


def setpriv_path() -> str | None:
    return shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin")


def bwrap_argv(workdir: Path, env: dict[str, str], *, uid: int | None = None, gid: int | None = None,
               tmp_bytes: int = TMP_BYTES) -> list[str]:
    """The command prefix that runs the kernel command inside bwrap.

    Parameters
    ----------
    workdir
        The submission's fresh working directory: bound read-write, the kernel's cwd.
    env
        The kernel's environment. Edited in place: ``JPY_PARENT_PID`` is removed
        (bwrap sets it to 1, see below) and ``USER``/``LOGNAME`` name the sandbox user.
    uid, gid
        The unprivileged ids the kernel runs as when the grader is root (default: a fresh
        pair from :func:`sandbox_ids`). Ignored when the grader is not root.
    tmp_bytes
        Size of the private ``/tmp`` (a tmpfs lives in RAM, so it is capped).

    Returns
    -------
    list of str
        ``bwrap OPTIONS -- [setpriv OPTIONS --]``; append the kernel command.
    """
    bwrap = shutil.which("bwrap") or "bwrap"
    workdir = Path(os.path.abspath(workdir))
    argv = [bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--hostname", "sandbox", "--die-with-parent", "--new-session"]
    made = {"/", "/dev", "/proc", "/tmp", "/dev/shm"}
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            argv += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            argv += ["--ro-bind", d, d]
    for f in ETC_FILES:
        if os.path.exists(f):
            argv += _parents(f, made) + ["--ro-bind", f, f]
    argv += ["--dev", "/dev", "--proc", "/proc",
             "--perms", "1777", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm",
             # /tmp before the binds below, so a venv or workdir under /tmp stays visible (DESIGN pitfall 2).
             "--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", "/tmp"]
    for root in python_roots():
        _refuse_home(root)
        argv += _parents(str(root), made) + ["--ro-bind", str(root), str(root)]
    argv += _parents(str(workdir), made)
    argv += ["--bind", str(workdir), str(workdir), "--chdir", str(workdir),
             # With --unshare-pid the kernel's parent is pid 1; JPY_PARENT_PID=1 turns ipykernel's
             # parent poller off instead of letting it exit at once (DESIGN pitfall 3).
             "--setenv", "JPY_PARENT_PID", "1"]
    env.pop("JPY_PARENT_PID", None)
    env.setdefault("HOME", str(workdir / "home"))
    env["USER"] = env["LOGNAME"] = "candidate"
    if not is_root():
        return argv + ["--unshare-user", "--"]
    if uid is None or gid is None:
        uid, gid = sandbox_ids()
    setpriv = setpriv_path() or "/usr/bin/setpriv"
    # bwrap as root keeps every capability: keep only what setpriv needs to drop to uid/gid.
    argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP",
             "--", setpriv, "--reuid", str(uid), "--regid", str(gid), "--clear-groups",
             "--inh-caps=-all", "--bounding-set=-all", "--nnp", "--"]
    return argv


@functools.lru_cache(maxsize=1)
def smoke_test() -> tuple[bool, str]:
    """Run a trivial command with the strict recipe once per process: does bwrap work here?

    Returns
    -------
    tuple of (bool, str)
        Whether it worked, and why not (or what was tried).
    """
    if not sys.platform.startswith("linux"):
        return False, f"{sys.platform} has no bwrap"
    if shutil.which("bwrap") is None:
        return False, "bwrap is not installed (Debian: apt-get install bubblewrap)"
    if is_root() and setpriv_path() is None:
        return False, "running as root needs setpriv (util-linux) to drop to an unprivileged user"
    from grader.launch import give_workdir

    with tempfile.TemporaryDirectory(prefix="grader-bwrap-smoke-") as tmp:
        work = Path(tmp)
        uid, gid = sandbox_ids()
        code = "import os, socket; open('ok', 'w').write(str(os.getuid()))"
        try:
            argv = bwrap_argv(work, {}, uid=uid, gid=gid)
        except EnvironmentFailure as e:
            return False, str(e)
        if is_root():
            give_workdir(work, uid, gid)
        try:
            proc = subprocess.run(argv + [sys.executable, "-I", "-c", code], capture_output=True, text=True,
                                  timeout=30, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        except (OSError, subprocess.TimeoutExpired) as e:
            return False, f"bwrap failed to run: {e}"
        if proc.returncode != 0 or not (work / "ok").exists():
            err = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            return False, f"bwrap is installed but the sandbox does not start here: {err}"
    return True, "bwrap works: no network, private filesystem view, unprivileged user, resource limits"
