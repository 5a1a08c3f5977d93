"""The kiosk API: devices post ratings, heartbeats, frames and observations here.

It authenticates each device, validates what it sends, stamps the device's store
and role from the registry and answers 2xx only once the broker has acknowledged.
"""

from kiosk_api.app import create_app

__all__ = ["create_app"]
