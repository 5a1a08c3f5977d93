"""The exporter's routers: operations (health, readiness, metrics) and stores (JSON API)."""
