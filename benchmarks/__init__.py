"""Benchmark harness for iqlzoo: a results store of evaluation records, rliable aggregation and plots.

`benchmarks.store` keeps one tidy table of evaluation records (one CSV per run plus provenance and status),
`benchmarks.stats` turns it into score matrices and rliable estimates, `benchmarks.plots` draws them, and
`benchmarks.report_claims` holds the numbers quoted from the source report.
"""
