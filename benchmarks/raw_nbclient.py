"""Execute a notebook with plain nbclient and nothing else: the baseline of the overhead benchmark.

    python benchmarks/raw_nbclient.py NOTEBOOK

Runs in a fresh temporary working directory (as the grader does), errors allowed (as the
grader allows them), the installed ``python3`` kernel.
"""

from __future__ import annotations

import sys
import tempfile

import nbformat
from nbclient import NotebookClient


def main() -> int:
    nb = nbformat.read(sys.argv[1], as_version=4)
    with tempfile.TemporaryDirectory(prefix="raw-nbclient-") as workdir:
        client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": workdir}})
        client.execute()
    return 0


if __name__ == "__main__":
    sys.exit(main())
