"""Debian's Chromium driven by Playwright, and the kiosk page as a test sees it."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright

from kioskpulse.devices import edit_registry
from tests.support.processes import ApiServer

__all__ = [
    "CHROMIUM",
    "KioskPage",
    "Shop",
    "Site",
    "launch_chromium",
    "run_async",
    "wait_for",
]

T = TypeVar("T")

#: The system browser (tools/fetch-browser.sh installs Debian's): Playwright's own
#: browser download cannot reach its server from these machines.
CHROMIUM = Path(os.environ.get("KIOSKPULSE_CHROMIUM", "/usr/bin/chromium"))

#: Headless, and quiet on a closed network: without the background-networking flags
#: Chromium keeps trying Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in CI
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

LANDSCAPE = {"width": 1280, "height": 800}
PORTRAIT = {"width": 800, "height": 1280}


def run_async(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from a test that drives Playwright's sync API, whose
    event loop counts as running in this thread: on a thread of its own."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def wait_for(what: str, check: Callable[[], Any], within: float = 30, every: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail saying ``what`` never came."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s (last: {value!r})")
        time.sleep(every)


class KioskPage:
    """One tablet: a browser context of its own (its storage, its service worker)."""

    def __init__(self, browser: Browser, base_url: str, viewport: dict[str, int] = LANDSCAPE):
        self.base_url = base_url
        self.context: BrowserContext = browser.new_context(
            viewport=viewport, locale="en-US", service_workers="allow"
        )
        self.page: Page = self.context.new_page()
        #: What the page said on its console, and uncaught errors: a CSP violation shows here.
        self.console: list[str] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))

    def _on_console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    def open(self, fragment: str = "") -> None:
        self.page.goto(f"{self.base_url}/kiosk{fragment}")
        self.ready()

    def reload(self) -> None:
        self.page.reload()
        self.ready()

    def ready(self) -> None:
        self.page.wait_for_function("() => window.kioskpulseReady !== undefined")
        self.page.evaluate("() => window.kioskpulseReady")

    @property
    def screen(self) -> str:
        screen: str = self.page.evaluate("() => document.body.dataset.screen")
        return screen

    def wait_screen(self, screen: str, within: float = 15) -> None:
        wait_for(f"the {screen} screen (now {self.screen})", lambda: self.screen == screen, within)

    def queued(self) -> int:
        return int(self.page.inner_text("#queue-count"))

    def wait_queued(self, count: int, within: float = 30) -> None:
        wait_for(f"{count} events queued", lambda: self.queued() == count, within)

    def press(self, rating: int) -> None:
        """Press a rating button as soon as the page lets a customer press again."""
        self.wait_screen("question")
        button = self.page.locator(f'button.rating[data-rating="{rating}"]')
        wait_for("the buttons enabled", button.is_enabled)
        button.click()

    def wait_service_worker(self) -> None:
        """Until a service worker controls the page: from then on it opens offline."""
        self.page.wait_for_function("() => navigator.serviceWorker.controller !== null")

    def errors(self) -> list[str]:
        """Console errors other than the failed requests a test provoked on purpose."""
        return [
            line
            for line in self.console
            if line.startswith(("error", "pageerror"))
            and "Failed to load resource" not in line
            and "net::ERR_CONNECTION_REFUSED" not in line
        ]

    def close(self) -> None:
        self.context.close()


@dataclass(frozen=True)
class Site:
    """A store of our own with one kiosk (new ids every run: the broker keeps old data)."""

    store: str
    kiosk: str
    token: str

    @property
    def fragment(self) -> str:
        return f"#id={self.kiosk}&token={self.token}"


@dataclass
class Shop:
    """The running pipeline the tablets talk to."""

    devices: Path
    api: ApiServer
    exporter_url: str
    #: The worker's log so far, for a failing test to show.
    worker_log: Callable[[], str]

    def new_site(self, scale: int = 4) -> Site:
        suffix = uuid.uuid4().hex[:8]
        store, kiosk = f"web-{suffix}", f"tab-{suffix}"
        with edit_registry(self.devices) as registry:
            registry.add_store(store)
            token = registry.add_kiosk(kiosk, store, scale)
        return Site(store, kiosk, token)
