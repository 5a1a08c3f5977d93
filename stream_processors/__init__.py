"""Stream processors: pure stage logic, the estimator, the faust app and the exporter.

Built on the contracts of ``kioskpulse.events``; docs/architecture.md says what each
sub-package owns.
"""
