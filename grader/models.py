"""Typed values passed between stages: Submission -> Run -> Evidence -> Scorecard.

Every model here is plain data (pydantic), serializable to JSON and back, so that each
stage can be cached and re-run on its own (DESIGN decisions 1 and 5).
"""

from __future__ import annotations

from typing import Any
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field

CellStatus = Literal["ok", "error", "timeout", "not-run", "skipped"]
CheckStatus = Literal["pass", "partial", "fail", "error", "skipped"]
FailureClass = Literal[
    "candidate_error", "timeout", "memory_limit", "dead_kernel", "environment_error", "bad_input", "grader_error"
]

EVIDENCE_SCHEMA_VERSION = "1"
SCORECARD_SCHEMA_VERSION = "1"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- load -------------------------------------------------------------------------------------------------


class CellInfo(Model):
    """One cell of the submission as written (before execution)."""

    index: int
    cell_type: Literal["code", "markdown", "raw"]
    source: str
    task: str = Field(description="'setup' or the task number as a string ('1'..'6')")
    tags: list[str] = []


class TaskSegment(Model):
    """The cells of one task, found by its heading."""

    task: int
    title: str = ""
    heading_cell: int | None = None
    heading_style: str = ""
    cells: list[int] = []


class Submission(Model):
    """A validated notebook, segmented into tasks."""

    path: str
    name: str
    sha256: str
    nbformat: str
    kernelspec: str | None = None
    cells: list[CellInfo]
    tasks: dict[int, TaskSegment]
    missing_tasks: list[int] = []
    data_cell: int | None = Field(None, description="index of the data-generation cell, if found")
    notes: list[str] = []


# --- execute ----------------------------------------------------------------------------------------------


class Figure(Model):
    """An image/png output of a cell, base64-encoded."""

    cell: int
    png_b64: str
    width: int | None = None
    height: int | None = None


class CellRecord(Model):
    """What happened when one code cell ran."""

    index: int
    status: CellStatus
    seconds: float = 0.0
    failure: FailureClass | None = None
    ename: str | None = None
    evalue: str | None = None
    traceback: str | None = Field(None, description="plain text, ANSI codes stripped")
    text: str = Field("", description="stdout, execute_result text/plain and display text, capped")
    html: str = Field("", description="text/html outputs concatenated (tables), capped; never rendered")
    stderr: str = ""
    n_images: int = 0
    truncated: bool = False


class RunInfo(Model):
    """The whole execution: per-cell records plus how it ended."""

    cells: list[CellRecord]
    seconds: float
    kernel: str
    isolation: str
    isolation_missing: list[str] = []
    ended: Literal["complete", "dead_kernel", "total_timeout", "kernel_failed"] = "complete"
    message: str = ""
    figures: list[Figure] = []


# --- probe ------------------------------------------------------------------------------------------------


class FrameFacts(Model):
    """A pandas DataFrame found in the kernel namespace."""

    model_config = ConfigDict(extra="allow")

    name: str
    shape: tuple[int, int]
    columns: list[str]
    dtypes: dict[str, str]
    from_generator: bool = False
    source_columns: list[str] = []
    timestamp_is_datetime: bool = False
    hour_columns: list[str] = []
    weekday_columns: list[str] = []
    string_columns: list[str] = []
    onehot_groups: dict[str, list[str]] = {}
    extra_features: list[str] = []
    has_target: bool = False


class TestRows(Model):
    """The held-out rows a model was evaluated on, with what identifies them."""

    __test__ = False  # not a pytest class
    x_name: str
    n_rows: int
    index: list[int] | None = None
    session_ids: list[int] | None = None
    time_spent: list[float] | None = None
    y_candidate: list[int] | None = None
    proba: list[float] | None = None
    pred: list[int] | None = None
    uses_action: bool | None = None


class EstimatorFacts(Model):
    """A fitted estimator (or search) found in the kernel namespace."""

    model_config = ConfigDict(extra="allow")

    name: str
    cls: str
    module: str
    is_classifier: bool = True
    is_pipeline: bool = False
    is_search: bool = False
    final_estimator: str | None = None
    params: dict[str, str] = {}
    best_params: dict[str, str] | None = None
    best_score: float | None = None
    cv_scores: list[float] = []
    cv: str | None = None
    scoring: str | None = None
    n_features_in: int | None = None
    feature_names: list[str] = []
    uses_action: bool | None = None
    fit_rows: int | None = None
    fit_index: list[int] | None = None
    has_importances: bool = False
    test: TestRows | None = None


class SplitFacts(Model):
    train_name: str
    test_name: str
    n_train: int
    n_test: int
    overlap: int


class FigureFacts(Model):
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    kind: str = ""
    count: int | None = Field(None, description="the kernel's execution count when it was drawn")
    cell: int | None = None


class ProbeFacts(Model):
    """Raw facts printed by the in-kernel probe as one JSON document."""

    model_config = ConfigDict(extra="allow")

    ok: bool = False
    error: str | None = None
    frames: list[FrameFacts] = []
    estimators: list[EstimatorFacts] = []
    splits: list[SplitFacts] = []
    figures: list[FigureFacts] = []
    library_patched: list[str] = []
    calls: dict[str, int] = {}
    notes: list[str] = []


# --- evidence (grader-side analysis on top of probe facts) -----------------------------------------------


class PrintedMetric(Model):
    metric: Literal["accuracy", "roc_auc", "precision", "recall", "f1"]
    value: float
    decimals: int
    cell: int
    line: str
    is_cv: bool = False
    is_train: bool = False


class ModelEval(Model):
    """Metrics the grader recomputed itself for one fitted model on its held-out rows."""

    name: str
    cls: str
    n_test: int
    labels_source: Literal["grader", "candidate", "none"]
    verified: bool
    accuracy: float | None = None
    roc_auc: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    ceiling_auc: float | None = Field(None, description="Bayes-optimal AUC on the same rows for the model's features")
    action_ceiling_auc: float | None = Field(None, description="Bayes-optimal AUC on the same rows with 'action'")
    n_pos: int = 0
    n_neg: int = 0
    uses_action: bool | None = None
    is_search: bool = False
    refit_by: str | None = None
    train_overlap: int | None = Field(None, description="held-out rows also seen at fit, when known")
    fit_rows: int | None = None
    note: str = ""


class Finding(Model):
    """An integrity signal for the interviewer (never shown to candidates)."""

    id: str
    message: str
    title: str = ""
    penalty: float = Field(0.0, description="points taken off the total (once per finding id)")
    cell: int | None = None
    evidence: dict[str, Any] = {}


class MLOpsAnswer(Model):
    question: int
    text: str
    cells: list[int] = []
    words: int = 0
    sample_similarity: float = 0.0


class VariantRun(Model):
    """The hidden-data re-run: the notebook on a variant of the data (interviewer grades only)."""

    ran: bool
    reason: str = ""
    seconds: float = 0.0
    ended: str = ""
    n_cells: int = 0
    failed_cells: list[int] = Field(default_factory=list, description="cells that failed on the variant")
    new_failures: list[int] = Field(default_factory=list, description="of those, cells that ran fine on the real data")
    evals: list[ModelEval] = []


class Evidence(Model):
    """Everything the scorer may look at. Stored as ``evidence.json``."""

    schema_version: str = EVIDENCE_SCHEMA_VERSION
    grader_version: str
    probe_version: str
    settings: dict[str, Any] = {}
    submission: Submission
    run: RunInfo
    probe: ProbeFacts
    printed_metrics: list[PrintedMetric] = []
    evals: list[ModelEval] = []
    outputs: dict[str, Any] = Field(default_factory=dict, description="facts parsed from cell outputs")
    mlops: list[MLOpsAnswer] = []
    variant: VariantRun | None = None
    extra: dict[str, Any] = {}


# --- score ------------------------------------------------------------------------------------------------


class CheckResult(Model):
    id: str
    task: int
    title: str
    status: CheckStatus
    points: float
    max_points: float
    message: str
    hint: str = ""
    visibility: Literal["public", "hidden"] = "public"
    evidence: dict[str, Any] = {}
    cell: int | None = None
    override: dict[str, Any] | None = Field(None, description="automatic value, new value, reason, who, when")


class TaskScore(Model):
    task: int
    title: str
    points: float
    max_points: float
    found: bool
    heading_cell: int | None = None
    cell_failures: list[dict[str, Any]] = []
    checks: list[CheckResult]


class Scorecard(Model):
    schema_version: str = SCORECARD_SCHEMA_VERSION
    grader_version: str
    rubric: str
    rubric_version: str
    rubric_hash: str
    hidden_rubric: bool
    candidate: str
    submission: str
    sha256: str
    points: float
    max_points: float
    percent: float
    penalties: float = 0.0
    status: Literal["graded", "partial", "bad_input", "error"]
    isolation: str
    isolation_missing: list[str] = []
    seconds: float
    tasks: list[TaskScore]
    findings: list[Finding] = []
    notes: list[str] = []
    orphaned_overrides: list[dict[str, Any]] = Field(default_factory=list,
                                                     description="overrides whose check the rubric no longer has")
    comments: list[dict[str, Any]] = Field(default_factory=list, description="interviewer comments (never shown "
                                                                             "to candidates)")
