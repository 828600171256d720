"""Tiny launcher: set resource limits, then exec the kernel command.

``python -m grader.launch --memory B --procs N --fsize B --cpu S -- CMD...``. Imports
nothing heavy, so it adds a few milliseconds to kernel start.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="grader.launch")
    parser.add_argument("--memory", type=int, required=True)
    parser.add_argument("--procs", type=int, required=True)
    parser.add_argument("--fsize", type=int, required=True)
    parser.add_argument("--cpu", type=int, required=True)
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    import resource

    for which, value in ((resource.RLIMIT_AS, args.memory), (resource.RLIMIT_NPROC, args.procs),
                         (resource.RLIMIT_FSIZE, args.fsize), (resource.RLIMIT_CPU, args.cpu)):
        _, hard = resource.getrlimit(which)
        soft = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (soft, soft if hard == resource.RLIM_INFINITY else hard))
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
