"""Stage 2, execute: run the notebook cell by cell in a sandboxed kernel.

One :class:`Executor` per submission. It wraps nbclient's ``NotebookClient`` with an
``AsyncKernelManager`` (the synchronous one hangs on interrupt, see DESIGN), runs the
probe's preamble before the first cell and the probe after the last through the kernel
client, and turns what happened into per-cell records. Candidate errors never stop the
run; a dead kernel ends it and keeps everything already collected.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import Any

import nbformat
import zmq
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from grader import probe as probe_code
from grader.exceptions import EnvironmentFailure
from grader.models import CellRecord
from grader.models import Figure
from grader.models import ProbeFacts
from grader.models import RunInfo
from grader.models import Submission
from grader.options import ExecOptions
from grader.sandbox import MAX_MESSAGE_BYTES
from grader.sandbox import build_launch
from grader.sandbox import capped_client_class
from grader.sandbox import resolve_level

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
TIMEOUT_ENAME = "CellTimeoutError"
MAX_FIGURES = 40
TRUNCATED_NOTE = "\n[output truncated by the grader]\n"


@dataclass
class ExecResult:
    run: RunInfo
    probe: ProbeFacts
    notebook: nbformat.NotebookNode
    exec_counts: dict[int, int]
    log: list[str]


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


class CappedClient(NotebookClient):
    """NotebookClient that caps each cell's outputs while messages arrive (nbclient has no cap)."""

    def __init__(self, *args: Any, caps: ExecOptions, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.caps = caps
        self.sizes: dict[int, list[int]] = {}
        self.truncated: set[int] = set()
        self.replies: dict[int, dict[str, Any]] = {}
        self.on_cell_executed = self._keep_reply

    def _keep_reply(self, cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
        self.replies[cell_index] = execute_reply

    def output(self, outs: list, msg: dict[str, Any], display_id: str | None, cell_index: int) -> Any:
        size = self.sizes.setdefault(cell_index, [0, 0])
        content = msg.get("content", {})
        if msg["msg_type"] == "stream":
            text = content.get("text", "")
            if size[0] >= self.caps.max_stream_bytes:
                self._truncate(outs, cell_index)
                return None
            size[0] += len(text)
            if size[0] > self.caps.max_stream_bytes:
                content["text"] = text[: max(0, len(text) - (size[0] - self.caps.max_stream_bytes))]
                self._truncate(outs, cell_index)
        elif msg["msg_type"] in ("display_data", "execute_result", "update_display_data"):
            data = content.get("data", {})
            if "image/png" in data:
                size[1] += 1
                if size[1] > self.caps.max_images or len(data["image/png"]) > self.caps.max_image_bytes:
                    self._truncate(outs, cell_index)
                    return None
            for mime in ("text/html", "text/plain"):
                if len(data.get(mime, "")) > self.caps.max_stream_bytes:
                    data[mime] = data[mime][: self.caps.max_stream_bytes]
                    self._truncate(outs, cell_index)
        return super().output(outs, msg, display_id, cell_index)

    def _truncate(self, outs: list, cell_index: int) -> None:
        if cell_index not in self.truncated:
            self.truncated.add(cell_index)
            outs.append(nbformat.v4.new_output("stream", name="stderr", text=TRUNCATED_NOTE))


async def run_code(kc: Any, code: str, timeout: float) -> tuple[str, dict[str, Any] | None]:
    """Execute ``code`` through the kernel client; return (stdout, error content or None).

    Messages are picked out by the request's message id, so the candidate's leftover
    output cannot mix in. Raises TimeoutError when the kernel does not finish in time.
    """
    msg_id = kc.execute(code, silent=False, store_history=False, allow_stdin=False)
    deadline = time.monotonic() + timeout
    chunks: list[str] = []
    error = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no reply within {timeout:.0f} s")
        try:
            msg = await kc.get_iopub_msg(timeout=min(remaining, 1.0))
        except Empty:
            if not await kc.is_alive():
                raise DeadKernelError("Kernel died") from None
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and content.get("name") == "stdout":
            chunks.append(content.get("text", ""))
        elif kind == "error":
            error = content
        elif kind == "status" and content.get("execution_state") == "idle":
            return "".join(chunks), error


def _kernel_manager(workdir: Path, opts: ExecOptions, level: str) -> tuple[AsyncKernelManager, dict[str, str], list[str]]:
    kdir = workdir / ".kernel"
    kdir.mkdir(parents=True, exist_ok=True)
    launch = build_launch(level, workdir, opts.limits, mpl_cache=_mpl_cache())
    transport = "tcp" if sys.platform == "win32" else "ipc"
    if opts.kernel:
        ksm = KernelSpecManager()
        name = opts.kernel
        try:
            ksm.get_kernel_spec(name)
        except Exception:
            raise EnvironmentFailure(f"kernel '{name}' is not installed (jupyter kernelspec list)") from None
    else:
        name = "grader-python"
        spec_dir = kdir / "kernels" / name
        spec_dir.mkdir(parents=True, exist_ok=True)
        (spec_dir / "kernel.json").write_text(json.dumps({
            "argv": launch.argv, "display_name": "grader python", "language": "python",
            "interrupt_mode": launch.interrupt_mode, "metadata": {"debugger": False},
        }))
        ksm = KernelSpecManager(kernel_dirs=[str(kdir / "kernels")], ensure_native_kernel=False)
    kwargs: dict[str, Any] = {"kernel_name": name, "kernel_spec_manager": ksm, "transport": transport}
    if transport == "ipc":
        kwargs["ip"] = str(kdir / "ipc")
    km = AsyncKernelManager(**kwargs)
    km.client_factory = capped_client_class()
    km.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
    km.connection_file = str(kdir / "connection.json")
    return km, launch.env, launch.missing


def _mpl_cache() -> Path | None:
    # A shared font cache keeps matplotlib's first import fast in a fresh HOME.
    try:
        path = Path.home() / ".cache" / "nbgrade-staffds" / "matplotlib"
        path.mkdir(parents=True, exist_ok=True)
        return path
    except OSError:
        return None


def _record(index: int, cell: nbformat.NotebookNode, reply: dict[str, Any] | None, seconds: float,
            truncated: bool, figures: list[Figure]) -> CellRecord:
    text, html, stderr, n_images = [], [], [], 0
    ename = evalue = tb = None
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream":
            (text if out.get("name") == "stdout" else stderr).append(out.get("text", ""))
        elif kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            if "image/png" in data:
                n_images += 1
                if len(figures) < MAX_FIGURES:
                    png = data["image/png"]
                    figures.append(Figure(cell=index, png_b64=png if isinstance(png, str) else "".join(png)))
            if "text/html" in data:
                html.append(str(data["text/html"]))
            if "text/plain" in data and "image/png" not in data:
                text.append(str(data["text/plain"]) + "\n")
        elif kind == "error":
            ename, evalue = out.get("ename"), out.get("evalue")
            # the preamble's fit wrapper is the grader's frame, not the candidate's: leave it out
            tb = strip_ansi("\n".join(f for f in out.get("traceback", []) if "_grader_preamble" not in f
                                       and "_grader_orig" not in f))
    content = (reply or {}).get("content", {})
    status = "ok"
    failure = None
    if content.get("status") == "error" or ename:
        ename = ename or content.get("ename")
        evalue = evalue if evalue is not None else content.get("evalue")
        if content.get("ename") == TIMEOUT_ENAME:
            status, failure, ename = "timeout", "timeout", TIMEOUT_ENAME
            evalue = content.get("evalue")
        else:
            status = "error"
            # a package the kernel lacks is the environment's fault, not the candidate's
            failure = "memory_limit" if ename == "MemoryError" else \
                "environment_error" if ename in ("ModuleNotFoundError", "ImportError") else "candidate_error"
    elif content.get("status") == "aborted":
        status = "not-run"
    return CellRecord(index=index, status=status, seconds=round(seconds, 3), failure=failure, ename=ename,
                      evalue=strip_ansi(evalue or "")[:2000] if evalue else evalue,
                      traceback=tb[:20000] if tb else None, text=strip_ansi("".join(text))[:200_000],
                      html="".join(html)[:200_000], stderr=strip_ansi("".join(stderr))[:20_000],
                      n_images=n_images, truncated=truncated)


async def _execute(nb: nbformat.NotebookNode, sub: Submission, opts: ExecOptions, workdir: Path) -> ExecResult:
    log: list[str] = []
    level = resolve_level(opts.isolation)
    km, env, missing = _kernel_manager(workdir, opts, level)
    client = CappedClient(
        nb, km=km, caps=opts, timeout=opts.cell_timeout, interrupt_on_timeout=True, allow_errors=True,
        error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": "", "traceback": []},
        startup_timeout=int(opts.startup_timeout), record_timing=False, iopub_timeout=4,
        resources={"metadata": {"path": str(workdir)}}, shutdown_kernel="immediate",
    )
    records: dict[int, CellRecord] = {}
    figures: list[Figure] = []
    exec_counts: dict[int, int] = {}
    ended, message = "complete", ""
    probe = ProbeFacts(ok=False, error="the probe did not run")
    start = time.monotonic()
    deadline = start + opts.total_timeout
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    try:
        async with client.async_setup_kernel(env=env, cleanup_kc=True):
            kc = client.kc
            _, err = await run_code(kc, probe_code.kernel_source("preamble"), opts.probe_timeout)
            if err:
                log.append(f"preamble error: {err.get('ename')}: {err.get('evalue')}")
            for index in code_cells:
                cell = nb.cells[index]
                if not cell.source.strip():
                    records[index] = CellRecord(index=index, status="skipped")
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 1:
                    ended, message = "total_timeout", f"total timeout of {opts.total_timeout:.0f} s reached"
                    break
                client.timeout = max(1, int(min(opts.cell_timeout, remaining)))
                t0 = time.monotonic()
                try:
                    await client.async_execute_cell(cell, index, store_history=True)
                except DeadKernelError:
                    rec = _record(index, cell, None, time.monotonic() - t0, index in client.truncated, figures)
                    records[index] = rec.model_copy(update={
                        "status": "error", "failure": "dead_kernel", "ename": rec.ename or "DeadKernelError",
                        "evalue": rec.evalue or "the kernel died while running this cell"})
                    ended, message = "dead_kernel", f"the kernel died in cell {index}"
                    break
                rec = _record(index, cell, client.replies.get(index), time.monotonic() - t0,
                              index in client.truncated, figures)
                if cell.get("execution_count"):
                    exec_counts[int(cell["execution_count"])] = index
                if rec.status == "timeout":
                    rec = rec.model_copy(update={"evalue": f"cell did not finish within {client.timeout} s"})
                    records[index] = rec
                    if not await _responsive(kc, opts.interrupt_grace):
                        await km.shutdown_kernel(now=True)
                        ended = "dead_kernel"
                        message = (f"cell {index} ignored the interrupt for {opts.interrupt_grace:.0f} s; "
                                   "the kernel was killed")
                        break
                    continue
                records[index] = rec
                if index == sub.data_cell:
                    await run_code(kc, probe_code.SNAPSHOT_CODE, opts.probe_timeout)
            if ended == "complete" or (ended == "total_timeout" and await _responsive(kc, 5)):
                try:
                    stdout, err = await run_code(kc, probe_code.kernel_source("probe"), opts.probe_timeout)
                    probe = probe_code.parse_probe_output(stdout)
                    if err:
                        probe.notes.append(f"probe error: {err.get('ename')}: {err.get('evalue')}")
                except (TimeoutError, DeadKernelError) as e:
                    probe = ProbeFacts(ok=False, error=f"the probe could not finish: {e}")
            else:
                probe = ProbeFacts(ok=False, error=f"the probe did not run: {message}")
    except DeadKernelError:
        ended, message = "dead_kernel", message or "the kernel died"
    except (RuntimeError, TimeoutError, OSError) as e:
        if not records:
            raise EnvironmentFailure(f"{sub.path}: the kernel could not start: {e}") from None
        ended, message = "dead_kernel", f"kernel failure: {e}"
    for index in code_cells:
        if index not in records:
            records[index] = CellRecord(index=index, status="not-run")
    run = RunInfo(cells=[records[i] for i in code_cells], seconds=round(time.monotonic() - start, 3),
                  kernel=opts.kernel or "grader-python", isolation=level, isolation_missing=missing,
                  ended=ended, message=message, figures=figures)
    return ExecResult(run=run, probe=probe, notebook=nb, exec_counts=exec_counts, log=log)


async def _responsive(kc: Any, grace: float) -> bool:
    try:
        await run_code(kc, "pass", grace)
        return True
    except (TimeoutError, DeadKernelError):
        return False


def execute(nb: nbformat.NotebookNode, sub: Submission, opts: ExecOptions, workdir: Path) -> ExecResult:
    """Execute ``nb`` in ``workdir`` (which must exist and be empty) and probe it.

    Returns
    -------
    ExecResult
        The run (one record per code cell, in order), the probe's facts, the executed
        notebook, a map of execution counts to cell indices, and log lines.
    """
    return asyncio.run(_execute(nb, sub, opts, workdir))
