"""diffview benchmarks: ``python -m benchmarks [NAME ...]``.

Each ``benchmarks/bench_<name>.py`` exposes ``run() -> str``, a markdown section that starts
with a ``## `` heading. The runner prints it and puts it into ``docs/BENCHMARKS.md``, replacing
the section with the same heading.
"""
