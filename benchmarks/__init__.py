"""Benchmark harness for iqlzoo: suites of training runs, their execution, the results store, rliable aggregation.

`benchmarks.suites` defines suites, budgets and run specs; `benchmarks.run` (``python -m benchmarks.run``) plans a
grid and drives it on a backend of `benchmarks.backends` (local processes or Ray), each run executed by
`benchmarks.runner` with checkpoints and resumption. `benchmarks.store` keeps one tidy table of evaluation records
(one CSV per run plus provenance and status), `benchmarks.stats` turns it into score matrices and rliable estimates,
`benchmarks.plots` draws them, `benchmarks.report_claims` holds the numbers quoted from the source report, and
`benchmarks.findings` sets our measurements of the report's claims beside them.
"""
