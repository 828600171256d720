"""Stage 3, probe: the code sent into the kernel, and the parsing of what it printed.

The preamble runs before the first cell and the probe after the last, both through the
kernel client (never as notebook cells). The probe prints one JSON document; nothing
from the kernel is ever unpickled (DESIGN decision 1).
"""

from __future__ import annotations

import json
from importlib import resources

from grader.models import ProbeFacts

SNAPSHOT_CODE = "import _grader_state as _gs; _gs.take_snapshot(get_ipython().user_ns); del _gs"


def kernel_source(name: str) -> str:
    """The text of ``grader/kernel_src/<name>.py``, sent as code to the kernel."""
    return resources.files("grader").joinpath("kernel_src", f"{name}.py").read_text(encoding="utf-8")


def source_digest() -> str:
    """Hash of the code sent into the kernel: a changed probe never reuses old evidence."""
    import hashlib

    text = kernel_source("preamble") + kernel_source("probe")
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def parse_probe_output(stdout: str) -> ProbeFacts:
    """Pick the probe's JSON document out of its stdout (the last line that parses)."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            return ProbeFacts.model_validate(data)
    tail = stdout.strip()[-300:]
    return ProbeFacts(ok=False, error=f"the probe printed no JSON document{': ' + tail if tail else ''}")
