"""The kiosk page in Debian's Chromium against the real pipeline: the API, a worker and the
exporter as their own processes on the real broker, as in production."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from kioskpulse.devices import edit_registry
from tests.support.browser import CHROMIUM, Shop, launch_chromium
from tests.support.processes import ApiServer, Worker, exporter_process, unique_app_id

#: Short timings, so that 20 presses take seconds: the aggregator's misuse interval (the
#: page's press interval), the thank-you screen, heartbeats, registry reloads.
PAGE_TIMINGS = {
    "KIOSKPULSE_MISUSE_INTERVAL_SECONDS": "1",
    "KIOSKPULSE_KIOSK_THANKS_SECONDS": "1.5",
    "KIOSKPULSE_KIOSK_FOLLOWUP_TIMEOUT_SECONDS": "30",
    "KIOSKPULSE_KIOSK_HEARTBEAT_SECONDS": "5",
    "KIOSKPULSE_DEVICES_RELOAD_SECONDS": "0",
}


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: `make tools` installs Debian's (as root), or set "
            "KIOSKPULSE_CHROMIUM",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shop(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    directory = tmp_path_factory.mktemp("browser")
    devices = directory / "devices.yaml"
    with edit_registry(devices) as registry:
        registry.add_store("web-none")  # the processes start with a registry
    worker = Worker(directory, kafka_bootstrap, unique_app_id("browser"), extra_env=PAGE_TIMINGS)
    api = ApiServer(kafka_bootstrap, devices, extra_env=PAGE_TIMINGS)
    worker.start()
    try:
        with exporter_process(kafka_bootstrap, directory, devices) as exporter_url:
            api.start()
            try:
                yield Shop(devices, api, exporter_url, worker.read_text)
            finally:
                api.stop()
    finally:
        worker.stop()
