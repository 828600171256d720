"""Execution settings: a light module, so that re-scoring never imports the kernel machinery."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any

from grader.sandbox import Limits


@dataclass(frozen=True)
class ExecOptions:
    """How a notebook is executed. Part of the evidence cache key."""

    cell_timeout: float = 120.0
    total_timeout: float = 900.0
    kernel: str | None = None
    isolation: str = "auto"
    limits: Limits = field(default_factory=Limits)
    startup_timeout: float = 60.0
    probe_timeout: float = 120.0
    interrupt_grace: float = 10.0
    max_stream_bytes: int = 1_000_000
    max_images: int = 30
    max_image_bytes: int = 3_000_000

    def key(self) -> dict[str, Any]:
        """The settings that change what execution produces."""
        return {"cell_timeout": self.cell_timeout, "total_timeout": self.total_timeout,
                "kernel": self.kernel or "grader-python", "isolation": self.isolation,
                # not the thread count: it follows -j and the core count, and changes no result
                "memory": self.limits.memory_bytes,
                "max_stream_bytes": self.max_stream_bytes, "max_images": self.max_images}
