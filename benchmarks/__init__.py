"""hotreload's benchmarks: figures next to IPython's ``%autoreload``, never timed assertions.

Run from the repository root: ``python -m benchmarks.suite`` (every speed target in one table;
``scripts/bench`` runs it in its own environment with the heavy packages) and
``python -m benchmarks.overhead`` (idle cells and one reload, in detail). See ``README.md``.
Neither the installed package nor the test suite imports this package.
"""
