"""Build the hostile example notebooks in this folder (``python submissions/hostile/build.py``).

Each notebook attacks one promise of the sandbox and is tiny: under the test timeouts
(3 s per cell) it runs in a few seconds. They live apart from ``examples/`` so no one
batch-grades them by accident. ``tests/test_sandbox.py`` runs them and says what must
happen to each.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell
from nbformat.v4 import new_markdown_cell
from nbformat.v4 import new_notebook

HERE = Path(__file__).resolve().parent

# Paths a notebook might guess: it cannot know the grader's, it can only try the usual ones.
GUESSES = ["/root", "/root/.ssh", "/root/.ssh/id_rsa", "/root/.cache", "/home", "/work", "/work/main",
           "/work/main/rubrics", "/work/main/rubrics/staff-ds.hidden.yaml", "/work/main/submissions",
           "/work/main/grading", "/work/main/grader", "/etc/passwd", "/etc/shadow", "/etc/hostname"]

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "infinite_loop": [
        ("code", "print('before')"),
        ("code", "while True:\n    pass"),
        ("code", "print('after')"),
    ],
    "sys_exit": [
        ("code", "import sys\nprint('before')"),
        ("code", "sys.exit()"),
        ("code", "print('after')"),
    ],
    "os_exit": [
        ("code", "import os\nprint('before')"),
        ("code", "os._exit(1)"),
        ("code", "print('after')"),
    ],
    "big_alloc": [
        ("code", "print('before')"),
        ("code", "block = bytearray(40 * 1024**3)  # 40 GiB: over any sane address-space limit"),
        ("code", "print('after')"),
    ],
    "fork_bomb": [
        ("code", "print('before')"),
        ("code", """\
# Bounded: at most 2000 children. Each waits on a pipe and exits once the parent stops
# forking, so they all hold a process slot together; the process limit stops the loop.
import os
import signal

read_end, write_end = os.pipe()
children, error = [], None
for _ in range(2000):
    try:
        pid = os.fork()
    except OSError as e:
        error = e
        break
    if pid == 0:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # an interrupt ends a child, never runs the kernel in it
        os.close(write_end)
        os.read(read_end, 1)
        os._exit(0)
    children.append(pid)
os.close(write_end)
for pid in children:
    os.waitpid(pid, 0)
print(f"forked {len(children)} children; stopped by: {error!r}")"""),
        ("code", "print('after')"),
    ],
    "output_spam": [
        ("code", "print('before')"),
        ("code", """\
# 100 MB of output in 1 MB chunks.
import sys

chunk = 'x' * 1_000_000
for _ in range(100):
    sys.stdout.write(chunk)
    sys.stdout.flush()"""),
        ("code", "print('after')"),
    ],
    "escape_write": [
        ("code", f"""\
import os

GUESSES = {GUESSES!r}
found = {{}}
for path in GUESSES:
    try:
        found[path] = sorted(os.listdir(path)) if os.path.isdir(path) else open(path).read(200)
    except OSError as e:
        found[path] = f"{{type(e).__name__}}: {{e.strerror}}"
for path, what in found.items():
    print(path, '->', what)"""),
        ("code", """\
written = {}
# New files only: run unsandboxed, this must not damage anything.
for path in ['../outside.txt', '/tmp/grader_escape_test.txt', '/root/grader_escape_test.txt',
             '/work/grader_escape_test.txt', '/work/main/rubrics/grader_escape_test.txt']:
    try:
        with open(path, 'a') as f:
            f.write('escaped\\n')
        written[path] = 'WRITTEN'
    except OSError as e:
        written[path] = f"{type(e).__name__}: {e.strerror}"
for path, what in written.items():
    print(path, '->', what)
print('root entries:', sorted(os.listdir('/')))"""),
    ],
    "network": [
        ("code", """\
import socket

for target in [("1.1.1.1", 53), ("8.8.8.8", 443), ("127.0.0.1", 22)]:
    try:
        socket.create_connection(target, timeout=2).close()
        print(target, 'CONNECTED')
    except OSError as e:
        print(target, 'errno', e.errno, type(e).__name__, e)"""),
        ("code", "print('after')"),
    ],
    "swallow_interrupt": [
        ("code", "print('before')"),
        ("code", """\
# Ignores the grader's interrupt: must be killed after the grace period.
while True:
    try:
        while True:
            pass
    except KeyboardInterrupt:
        continue"""),
        ("code", "print('after')"),
    ],
    "monkeypatch": [
        ("code", """\
import sklearn.metrics

# Tamper with the metric the grader might trust.
sklearn.metrics.roc_auc_score = lambda *a, **k: 1.0
from sklearn.metrics import roc_auc_score
print('auc', roc_auc_score([0, 1], [1, 0]))"""),
    ],
    "html_js": [
        ("markdown", "<script>alert(1)</script>\n\n<img src=x onerror=\"alert('img')\">\n\n"
                     "<script>document.title = 'pwned by markdown'</script>"),
        ("code", """\
from IPython.display import HTML, Javascript, display

display(HTML("<b>bold</b><script>alert('html'); document.title = 'pwned by html'</script>"
             "<img src=x onerror=\\"document.title='pwned by img'\\">"))"""),
        ("code", "display(Javascript(\"document.title = 'pwned by js'; alert('js')\"))"),
    ],
}


def build(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    title = name.replace("_", " ")
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells.append(new_markdown_cell(f"## Task 1: Hostile example ({title})"))
    for kind, source in cells:
        nb.cells.append(new_code_cell(source) if kind == "code" else new_markdown_cell(source))
    nbformat.validate(nb)
    return nb


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nbformat.write(build(name, cells), HERE / f"{name}.ipynb")
        print(f"wrote {name}.ipynb")


if __name__ == "__main__":
    main()
