"""kioskpulse's Grafana dashboards as code (grafana-foundation-sdk).

``python -m tools.dashboards`` writes ``deploy/grafana/dashboards/*.json``; ``--check``
compares them with what the code builds instead. The tests
(``tests/deploy/test_dashboards.py``) regenerate them in memory, parse every PromQL
expression and check every metric name against a live scrape of ``kioskpulse demo``.
"""

from tools.dashboards.render import DASHBOARDS_DIR, render_all

__all__ = ["DASHBOARDS_DIR", "render_all"]
