"""Error hierarchy with exit codes (DESIGN decision 7).

Every error the user can see carries a one-line message that names the file and the
problem; the CLI prints it and exits with ``exit_code``. Candidate errors are not
exceptions here: they are evidence (a cell record with status ``error``).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAIL_UNDER = 1
EXIT_BAD_INPUT = 2
EXIT_CANNOT_RUN = 3


class GraderFailure(Exception):
    """Base class: grading could not produce a normal result."""

    exit_code = EXIT_CANNOT_RUN
    kind = "grader_error"


class BadInput(GraderFailure):
    """The submission (or a rubric, or a flag) is not something we can grade."""

    exit_code = EXIT_BAD_INPUT
    kind = "bad_input"


class UsageError(BadInput):
    """The command line itself is wrong."""

    kind = "usage"


class RubricError(BadInput):
    """A rubric file fails its schema; the message names the key and the line."""

    kind = "bad_rubric"


class EnvironmentFailure(GraderFailure):
    """The machine cannot run the grade (kernel fails to start, sandbox missing): not the candidate's fault."""

    kind = "environment_error"


class GraderBug(GraderFailure):
    """A defect in the grader itself."""

    kind = "grader_error"
