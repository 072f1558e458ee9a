"""The ``runbench`` command line: parse, call one library function, render what it returns.

``app`` holds the commands and ``main`` turns every error into one line and an exit code; the
commands live by topic (``run``, ``store``, ``results``, ``catalog``), their shared options in
``options``, their tables in ``tables`` and their output helpers in ``output``.
"""

from runbench.cli.app import app, main

__all__ = ["app", "main"]
