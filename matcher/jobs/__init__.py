"""The nightly matching job: candidate funnel or Bulk Data export, persistent runs, run-to-run diff."""
