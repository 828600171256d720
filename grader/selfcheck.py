"""Self-check from inside Jupyter: ``from grader.selfcheck import check; check()``.

Grades the saved copy of the running notebook with the public checks (``grade check``)
in a separate process. When the notebook is itself being graded (the grader's kernel
sets ``GRADER_RUNNING``), it does nothing, so grading never recurses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RUNNING_ENV = "GRADER_RUNNING"


def this_notebook() -> Path | None:
    """The running notebook's file: Jupyter's ``JPY_SESSION_NAME`` or VS Code's ``__vsc_ipynb_file__``."""
    name = os.environ.get("JPY_SESSION_NAME")
    if name and name.endswith(".ipynb") and Path(name).exists():
        return Path(name)
    try:
        from IPython import get_ipython

        ip = get_ipython()
        vsc = ip.user_ns.get("__vsc_ipynb_file__") if ip is not None else None
    except ImportError:
        vsc = None
    return Path(vsc) if vsc and Path(vsc).exists() else None


def check(path: str | Path | None = None, *extra: str) -> int:
    """Run ``grade check`` on ``path`` (default: this notebook, as last saved); return its exit code."""
    if os.environ.get(RUNNING_ENV):
        print("self-check skipped: this notebook is being graded right now")
        return 0
    target = Path(path) if path else this_notebook()
    if target is None:
        print("self-check: cannot tell which file this notebook is; call check('my_notebook.ipynb')")
        return 2
    print(f"self-check of {target} (save the notebook first: the saved file is what gets checked)")
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "check", str(target), *extra], check=False)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(check(*sys.argv[1:]))
