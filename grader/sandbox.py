"""How the kernel process is started: its argv, environment and protections.

Levels (``--isolation``):

- ``none``: the kernel runs as a plain child process (self-checks, any OS).
- ``limits``: resource limits (address space, processes, file size, CPU time) set by a tiny
  launcher before it execs the kernel (POSIX only).
- ``strict``: ``limits`` plus a ``bwrap`` sandbox (Linux): no network, a private view of
  the filesystem, an unprivileged user (see :mod:`grader.bwrap`).
- ``auto``: the strongest level this machine supports; ``strict`` only when a quick
  bwrap smoke test passes here.

Each :class:`KernelLaunch` lists in ``missing`` the protections its level does not give,
so a scorecard never claims more than the run had.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from grader.exceptions import EnvironmentFailure

LEVELS = ("auto", "strict", "limits", "none")
GiB = 1024**3

# Variables the kernel may inherit from the grader; everything else is dropped.
ENV_ALLOW = ("PATH", "SYSTEMROOT", "COMSPEC", "WINDIR", "TMPDIR", "OPENBLAS_CORETYPE", "LD_LIBRARY_PATH")

# The protections a level can give, named as scorecards show them.
MEMORY = "memory limit"
PROCESSES = "process limit"
FILE_SIZE = "file size limit"
CPU_TIME = "cpu time limit"
NETWORK = "network isolation"
FILESYSTEM = "filesystem isolation"
USER = "unprivileged user"
PROTECTIONS = (MEMORY, PROCESSES, FILE_SIZE, CPU_TIME, NETWORK, FILESYSTEM, USER)


@dataclass(frozen=True)
class Limits:
    """Resource limits for the kernel process and its children."""

    memory_bytes: int = 4 * GiB
    processes: int = 256
    file_bytes: int = 1 * GiB
    cpu_seconds: int = 3600
    threads: int = 2


@dataclass(frozen=True)
class KernelLaunch:
    """Everything needed to start one sandboxed kernel."""

    argv: list[str]
    env: dict[str, str]
    level: str
    interrupt_mode: str = "signal"
    missing: list[str] = field(default_factory=list)


def has_rlimits() -> bool:
    try:
        import resource  # noqa: F401
    except ImportError:
        return False
    return True


def has_bwrap() -> bool:
    return sys.platform.startswith("linux") and shutil.which("bwrap") is not None


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def supported_level() -> tuple[str, str]:
    """The strongest level this machine supports, with the reason.

    ``strict`` needs bwrap installed *and* a trivial sandboxed command to succeed (bwrap
    fails in some containers); the smoke test runs once per process.
    """
    if has_bwrap():
        from grader.bwrap import smoke_test

        ok, why = smoke_test()
        if ok:
            return "strict", why
    else:
        why = "bwrap is not installed (Debian: apt-get install bubblewrap)" if sys.platform.startswith("linux") \
            else f"{sys.platform} has no bwrap"
    if has_rlimits():
        return "limits", f"resource limits only; {why}"
    return "none", f"{sys.platform} has no POSIX resource limits; no isolation"


def resolve_level(requested: str) -> str:
    """Map ``auto`` to a real level; refuse ``strict`` where it cannot be had."""
    if requested not in LEVELS:
        raise EnvironmentFailure(f"unknown isolation level {requested!r}; choose from {', '.join(LEVELS)}")
    if requested == "none":
        return requested
    best, why = supported_level()
    if requested == "auto":
        return best
    if requested == "strict" and best != "strict":
        raise EnvironmentFailure(f"--isolation strict is not available here: {why}")
    if requested == "limits" and not has_rlimits():
        raise EnvironmentFailure(f"--isolation limits is not available here: {why}")
    return requested


def missing_for(level: str) -> list[str]:
    """The protections ``level`` does not give on this machine."""
    root = [USER] if _is_root() else []
    if level == "none":
        return [p for p in PROTECTIONS if p != USER] + root
    if level == "limits":
        # Root is exempt from RLIMIT_NPROC: there, a fork bomb is not stopped.
        return ([PROCESSES] if _is_root() else []) + [NETWORK, FILESYSTEM] + root
    if level == "strict":
        return []
    raise EnvironmentFailure(f"unknown isolation level {level!r}")


def doctor() -> list[str]:
    """Lines for ``grade doctor``: the level this machine supports, why, and what each level gives."""
    best, why = supported_level()
    lines = [f"isolation: {best} ({why})"]
    if has_bwrap():
        lines.append(f"bwrap: {shutil.which('bwrap')}")
    if _is_root():
        lines.append("running as root: strict runs the kernel as an unprivileged uid of its own; "
                     "limits cannot cap processes (root is exempt from RLIMIT_NPROC)")
    for level in ("strict", "limits", "none"):
        usable = LEVELS.index(level) >= LEVELS.index(best)
        lacks = missing_for(level)
        gives = [p for p in PROTECTIONS if p not in lacks]
        lines.append(f"  {level:<6} {'available' if usable else 'unavailable'}: "
                     f"gives {', '.join(gives) or 'nothing'}"
                     + (f"; lacks {', '.join(lacks)}" if lacks else ""))
    return lines


def kernel_env(workdir: Path, limits: Limits, mpl_cache: Path | None) -> dict[str, str]:
    """A clean environment from an allow-list, with fixed TZ/locale and capped thread pools."""
    env = {k: os.environ[k] for k in ENV_ALLOW if k in os.environ}
    home = workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    threads = str(limits.threads)
    env.update({
        "HOME": str(home),
        "TZ": "UTC",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "NUMEXPR_NUM_THREADS": threads,
        "LOKY_MAX_CPU_COUNT": threads,
        "GRADER_RUNNING": "1",
    })
    if mpl_cache is not None:
        env["MPLCONFIGDIR"] = str(mpl_cache)
    return env


def ipykernel_argv(python: str = sys.executable) -> list[str]:
    return [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]


def _private_mpl_config(workdir: Path, mpl_cache: Path | None) -> Path:
    # The shared font cache lives in the grader's home, which strict hides: copy its font
    # list into the workdir so matplotlib's first import stays fast.
    target = workdir / "home" / ".config" / "matplotlib"
    target.mkdir(parents=True, exist_ok=True)
    if mpl_cache is not None and mpl_cache.is_dir() and not any(mpl_cache.glob("fontlist-*.json")):
        # Build the shared cache once with the grader's own matplotlib, outside the sandbox;
        # never copied back from a kernel, so one candidate cannot poison it for the next.
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run([sys.executable, "-I", "-c", "import matplotlib.font_manager"], timeout=120,
                           env={"MPLCONFIGDIR": str(mpl_cache), "PATH": os.environ.get("PATH", "")},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if mpl_cache is not None and mpl_cache.is_dir():
        for src in mpl_cache.glob("fontlist-*.json"):
            with contextlib.suppress(OSError):
                shutil.copyfile(src, target / src.name)
    return target


def build_launch(level: str, workdir: Path, limits: Limits, mpl_cache: Path | None = None) -> KernelLaunch:
    """The kernel command for ``level`` (already resolved, never ``auto``)."""
    workdir = Path(os.path.abspath(workdir))
    if level == "strict":
        mpl_cache = _private_mpl_config(workdir, mpl_cache)
    env = kernel_env(workdir, limits, mpl_cache)
    base = ipykernel_argv()
    if level == "none":
        return KernelLaunch(base, env, level, missing=missing_for(level))
    # -I: the launcher imports only the installed grader, never a file in the workdir (its cwd).
    launcher = [sys.executable, "-I", "-m", "grader.launch",
                "--memory", str(limits.memory_bytes), "--procs", str(limits.processes),
                "--fsize", str(limits.file_bytes), "--cpu", str(limits.cpu_seconds)]
    if level == "limits":
        return KernelLaunch(launcher + ["--"] + base, env, level, missing=missing_for(level))
    if level == "strict":
        from grader.bwrap import bwrap_argv
        from grader.bwrap import is_root
        from grader.bwrap import sandbox_ids

        if is_root():
            uid, gid = sandbox_ids()
            launcher += ["--owner", f"{uid}:{gid}", "--workdir", str(workdir)]
            box = bwrap_argv(workdir, env, uid=uid, gid=gid)
        else:
            box = bwrap_argv(workdir, env)
        # The launcher runs outside bwrap and execs it: the grader package stays out of the sandbox.
        # Message-mode interrupts: a SIGINT to bwrap's group would kill bwrap (DESIGN pitfall 1).
        return KernelLaunch(launcher + ["--"] + box + base, env, level, interrupt_mode="message",
                            missing=missing_for(level))
    raise EnvironmentFailure(f"unknown isolation level {level!r}")


# A kernel holds the session key, so it can send any message; the grader must not read an
# unbounded one into memory. Over this size zmq drops the message before Python sees a
# byte, and closes that connection for good (libzmq does not reconnect after a protocol
# error). It is above the largest output kept (images are capped at a few MB, streams at
# 1 MB per cell).
MAX_MESSAGE_BYTES = 32 * 1024**2
OUTPUT_LOST = (f"the kernel's output channel closed: a message over {MAX_MESSAGE_BYTES // 1024**2} MiB "
               "was refused, or the kernel died")


def capped_client_class() -> type:
    """An ``AsyncKernelClient`` that refuses messages over :data:`MAX_MESSAGE_BYTES`.

    Its iopub channel watches its own connection: once it is gone (an oversized message,
    or the kernel died) ``get_msg`` raises ``DeadKernelError`` instead of waiting for
    output that can no longer arrive, so the run ends like a dead kernel rather than
    marking later cells "ok" with their output silently lost.
    """
    from queue import Empty

    import zmq
    import zmq.asyncio
    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_client.channels import AsyncZMQSocketChannel
    from nbclient.exceptions import DeadKernelError
    from traitlets import Type
    from traitlets import default
    from zmq.utils.monitor import parse_monitor_message

    class WatchedChannel(AsyncZMQSocketChannel):
        def __init__(self, socket: zmq.asyncio.Socket, session: object, loop: object = None) -> None:
            super().__init__(socket, session, loop)
            self.monitor = socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
            self.lost = False

        async def get_msg(self, timeout: float | None = None) -> dict:
            if self.lost:
                raise DeadKernelError(OUTPUT_LOST)
            poller = zmq.asyncio.Poller()
            poller.register(self.socket, zmq.POLLIN)
            poller.register(self.monitor, zmq.POLLIN)
            ready = dict(await poller.poll(None if timeout is None else int(timeout * 1000)))
            if self.socket in ready:  # what arrived before the connection went is still delivered
                return await self._recv()
            if self.monitor in ready:
                event = parse_monitor_message(await self.monitor.recv_multipart())
                if event["event"] == zmq.EVENT_DISCONNECTED:
                    self.lost = True
                    raise DeadKernelError(OUTPUT_LOST)
            raise Empty

        def close(self) -> None:
            if self.socket is not None and not self.socket.closed:
                self.socket.disable_monitor()
            self.monitor.close(linger=0)
            super().close()

    class CappedKernelClient(AsyncKernelClient):
        iopub_channel_class = Type(WatchedChannel)

        @default("context")
        def _context_default(self) -> zmq.asyncio.Context:
            ctx = super()._context_default()
            ctx.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)  # every socket made from it after this
            return ctx

    return CappedKernelClient
