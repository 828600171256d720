"""``python -m grader.worker``: grade one batch submission (a :class:`grader.batch.Job` as JSON on stdin).

Started by :func:`grader.batch.run_job`, one process per submission. It stops cleanly
(shutting its kernel down) on SIGTERM, and on its own when the process that started it
goes away, so a killed batch leaves no graders behind.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from types import FrameType


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds through the pipeline's finally blocks: the kernel is shut down.
    raise SystemExit(128 + signum)


def _watch_parent(parent: int, poll: float = 0.5, grace: float = 20.0) -> None:
    while os.getppid() == parent:
        time.sleep(poll)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace)
    os._exit(1)  # the clean exit did not happen in time


def main() -> int:
    signal.signal(signal.SIGTERM, _terminate)
    parent = int(os.environ.get("GRADER_BATCH_PARENT", "0") or 0)
    if parent and parent == os.getppid():
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="parent-watch").start()
    from grader.batch import Job
    from grader.batch import grade_job

    job = Job.model_validate_json(sys.stdin.read())
    done = grade_job(job)
    print(f"{done.folder}: {done.status} {done.message}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
