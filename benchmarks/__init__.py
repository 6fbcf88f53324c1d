"""Benchmark harness for iqlzoo: suites of training runs, their execution, the results store, rliable aggregation.

`benchmarks.suites` defines suites, budgets and run specs; `benchmarks.run` (``python -m benchmarks.run``) plans a
grid and drives it on a backend of `benchmarks.backends` (local processes or Ray), each run executed by
`benchmarks.runner` with checkpoints and resumption. `benchmarks.store` keeps one tidy table of evaluation records
(one CSV per run plus provenance and status), and `benchmarks.stats` turns it into score matrices and rliable
estimates. `benchmarks.reference_iql` is an independent IQL to check iqlzoo's against.

Dependencies point down only: `leaderboard` (the generator, its plots and the source report's claims) imports from
here, never the other way (`benchmarks.run` starts ``python -m leaderboard`` as a process).
"""
