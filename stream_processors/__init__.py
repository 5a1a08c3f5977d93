"""Stream processors: pure stage logic, the estimator, the faust app and the exporter.

Built on the contracts of ``kioskpulse.events``; see the stream-processors issue.
"""
