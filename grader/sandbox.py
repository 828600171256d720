"""How the kernel process is started: its argv, environment and protections.

Levels (``--isolation``):

- ``none``: the kernel runs as a plain child process (self-checks, any OS).
- ``limits``: resource limits (address space, processes, file size, CPU time) set by a tiny
  launcher before it execs the kernel (POSIX only).
- ``strict``: ``limits`` inside a ``bwrap`` sandbox (Linux).
- ``auto``: the strongest level this machine supports.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from grader.exceptions import EnvironmentFailure

LEVELS = ("auto", "strict", "limits", "none")
GiB = 1024**3

# Variables the kernel may inherit from the grader; everything else is dropped.
ENV_ALLOW = ("PATH", "SYSTEMROOT", "COMSPEC", "WINDIR", "TMPDIR", "OPENBLAS_CORETYPE", "LD_LIBRARY_PATH")


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


def supported_level() -> tuple[str, str]:
    """The strongest level this machine supports, with the reason."""
    if has_bwrap():
        return "strict", "Linux with bwrap: no network, private filesystem view, resource limits"
    if has_rlimits():
        why = "bwrap is not installed (Debian: apt-get install bubblewrap)" if sys.platform.startswith("linux") \
            else f"{sys.platform} has no bwrap"
        return "limits", f"resource limits only; {why}"
    return "none", f"{sys.platform} has no POSIX resource limits; no isolation"


def resolve_level(requested: str) -> str:
    """Map ``auto`` to a real level; refuse ``strict`` where it cannot be had."""
    if requested not in LEVELS:
        raise EnvironmentFailure(f"unknown isolation level {requested!r}; choose from {', '.join(LEVELS)}")
    best, why = supported_level()
    if requested == "auto":
        return best
    if requested == "strict" and best != "strict":
        raise EnvironmentFailure(f"--isolation strict is not available here: {why}")
    if requested == "limits" and not has_rlimits():
        raise EnvironmentFailure(f"--isolation limits is not available here: {why}")
    return requested


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


def build_launch(level: str, workdir: Path, limits: Limits, mpl_cache: Path | None = None) -> KernelLaunch:
    """The kernel command for ``level`` (already resolved, never ``auto``)."""
    env = kernel_env(workdir, limits, mpl_cache)
    base = ipykernel_argv()
    if level == "none":
        return KernelLaunch(base, env, level, missing=["resource limits", "network isolation", "filesystem isolation"])
    launcher = [sys.executable, "-m", "grader.launch",
                "--memory", str(limits.memory_bytes), "--procs", str(limits.processes),
                "--fsize", str(limits.file_bytes), "--cpu", str(limits.cpu_seconds), "--"]
    if level == "limits":
        return KernelLaunch(launcher + base, env, level, missing=["network isolation", "filesystem isolation"])
    if level == "strict":
        from grader.bwrap import bwrap_argv

        return KernelLaunch(bwrap_argv(workdir, env) + launcher + base, env, level, interrupt_mode="message")
    raise EnvironmentFailure(f"unknown isolation level {level!r}")
