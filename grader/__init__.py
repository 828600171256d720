"""Automated grader for the Staff Data Scientist Python Test notebook.

Stages (one module each): load -> execute -> probe -> score -> report.
"""

__version__ = "0.1.0"
PROBE_VERSION = "1"
