"""Tiny launcher: set resource limits, then exec the kernel command.

``python -I -m grader.launch --memory B --procs N --fsize B --cpu S [--owner UID:GID
--workdir DIR] -- CMD...``. Imports nothing heavy, so it adds a few milliseconds to
kernel start. In ``strict`` mode CMD is ``bwrap ... setpriv ... python -m
ipykernel_launcher``: the limits set here are inherited through both execs, and
``--owner`` hands the working directory to the kernel's unprivileged uid first (the
connection file only exists once the kernel manager has written it, just before this
runs).
"""

from __future__ import annotations

import argparse
import os
import stat
import sys

KERNEL_DIR = ".kernel"


def give_workdir(workdir: str | os.PathLike[str], uid: int, gid: int) -> None:
    """Let ``uid``/``gid`` work in ``workdir`` without letting it touch the grader's files there.

    ``workdir`` and its ``.kernel`` folder stay root's, group ``gid``, mode 1770 (sticky):
    the kernel creates files and its IPC sockets, but cannot rename or replace what the
    grader put there (the kernel spec, the connection file). Everything else the grader
    wrote (the data file, ``home``) becomes the kernel's, so a notebook may overwrite it.
    The connection file is made group-readable: the kernel needs its key.
    """
    root = os.fspath(workdir)
    os.chown(root, 0, gid)
    os.chmod(root, 0o1770)
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if name == KERNEL_DIR:
            os.chown(path, 0, gid)
            os.chmod(path, 0o1770)
            conn = os.path.join(path, "connection.json")
            if os.path.exists(conn):
                os.chown(conn, 0, gid, follow_symlinks=False)
                os.chmod(conn, 0o640)
            continue
        _chown_tree(path, uid, gid)


def _chown_tree(path: str, uid: int, gid: int) -> None:
    # lchown only: never follow a link out of the working directory.
    os.chown(path, uid, gid, follow_symlinks=False)
    if stat.S_ISDIR(os.lstat(path).st_mode):
        for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
            for name in dirnames + filenames:
                os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="grader.launch")
    parser.add_argument("--memory", type=int, required=True)
    parser.add_argument("--procs", type=int, required=True)
    parser.add_argument("--fsize", type=int, required=True)
    parser.add_argument("--cpu", type=int, required=True)
    parser.add_argument("--owner", help="UID:GID the kernel runs as; needs --workdir")
    parser.add_argument("--workdir")
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if args.owner:
        uid, gid = (int(x) for x in args.owner.split(":"))
        give_workdir(args.workdir, uid, gid)
    import resource

    for which, value in ((resource.RLIMIT_AS, args.memory), (resource.RLIMIT_NPROC, args.procs),
                         (resource.RLIMIT_FSIZE, args.fsize), (resource.RLIMIT_CPU, args.cpu)):
        _, hard = resource.getrlimit(which)
        soft = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (soft, soft if hard == resource.RLIM_INFINITY else hard))
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
