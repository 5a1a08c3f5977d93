"""The kiosk page in real Chromium, against the API, a worker and the exporter on real Kafka.

Faults come as a shop brings them: the API goes away while a customer presses, a tablet
reloads with presses still waiting, the kiosk's scale changes under queued presses, the
API rate-limits. Screenshots of the page go to docs/images/ (shown in the README).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from aiokafka import TopicPartition
from playwright.sync_api import Browser, Request

from kioskpulse.devices import edit_registry
from kioskpulse.events import FollowupEvent, RatingEvent
from kioskpulse.topics import FOLLOWUPS, RATINGS
from tests.support.browser import (
    LANDSCAPE,
    PORTRAIT,
    KioskPage,
    Shop,
    Site,
    run_async,
    wait_for,
)
from tests.support.kafka import BOOTSTRAP, REPO, end_offsets, events_of, read_until
from tests.support.processes import ApiServer, metric_samples

pytestmark = [pytest.mark.kafka, pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = REPO / "docs" / "images"

#: Reads every event id the page holds in its IndexedDB queue, whatever the layout.
QUEUED_IDS = """async () => {
  const db = await new Promise((ok, fail) => {
    const open = indexedDB.open("kioskpulse");
    open.onsuccess = () => ok(open.result);
    open.onerror = () => fail(open.error);
  });
  const ids = [];
  for (const name of db.objectStoreNames) {
    const all = await new Promise((ok, fail) => {
      const request = db.transaction(name).objectStore(name).getAll();
      request.onsuccess = () => ok(request.result);
      request.onerror = () => fail(request.error);
    });
    for (const item of all) {
      const body = item.body ?? item;
      if (body.event_id) ids.push(body.event_id);
    }
  }
  db.close();
  return ids;
}"""


#: Twice the misuse interval the worker runs with (conftest.PAGE_TIMINGS): presses of one
#: kiosk closer than that count once.
TWO_MISUSE_INTERVALS = 2.0


def _offsets(topic: str) -> dict[TopicPartition, int]:
    return run_async(end_offsets(BOOTSTRAP, topic))


def _keyed(site: Site, records: list[Any]) -> list[Any]:
    """The records of the site's store (other tests write junk on purpose)."""
    return [record for record in records if record.key == site.store.encode()]


def _ratings_of(site: Site, start: dict[TopicPartition, int], want: int) -> list[RatingEvent]:
    def ours(records: list[Any]) -> list[RatingEvent]:
        events = events_of(_keyed(site, records), RatingEvent)
        return [event for event in events if event.kiosk_id == site.kiosk]

    records = run_async(read_until(BOOTSTRAP, start, lambda got: len(ours(got)) >= want, 30))
    # A little longer, so that a duplicate written after the last wanted record shows too.
    time.sleep(1)
    records = run_async(read_until(BOOTSTRAP, start, lambda got: False, 2))
    return ours(records)


def _followups_of(site: Site, start: dict[TopicPartition, int]) -> list[FollowupEvent]:
    def ours(records: list[Any]) -> list[FollowupEvent]:
        events = events_of(_keyed(site, records), FollowupEvent)
        return [event for event in events if event.kiosk_id == site.kiosk]

    records = run_async(read_until(BOOTSTRAP, start, lambda got: bool(ours(got)), 30))
    return ours(records)


def _store_total(shop: Shop, metric: str, store: str, **labels: str) -> float:
    exposition = httpx.get(f"{shop.exporter_url}/metrics", timeout=5).text
    wanted = [f'store="{store}"', *(f'{name}="{value}"' for name, value in labels.items())]
    return sum(
        value
        for sample, value in metric_samples(exposition).items()
        if sample.startswith(metric + "{") and all(label in sample for label in wanted)
    )


def _wait_total(shop: Shop, metric: str, store: str, want: float, **labels: str) -> None:
    seen: list[float] = []

    def reached() -> bool:
        seen.append(_store_total(shop, metric, store, **labels))
        return seen[-1] == want

    try:
        wait_for(f"{metric} of {store} {labels} at {want}", reached, within=60, every=0.5)
    except AssertionError as exc:
        exposition = httpx.get(f"{shop.exporter_url}/metrics", timeout=5).text
        figures = {
            name: value
            for name, value in metric_samples(exposition).items()
            if f'store="{store}"' in name and "_total" in name
        }
        raise AssertionError(
            f"{exc}; seen {sorted(set(seen))}; the store's counters: {figures}; "
            f"worker log: {shop.worker_log()[-3000:]}"
        ) from None
    time.sleep(2)  # and it stays there: nothing counted twice a moment later
    assert _store_total(shop, metric, store, **labels) == want


def _screenshot(tablet: KioskPage, name: str) -> None:
    """Into docs/images/, unless the picture there differs only by a moving bar: so
    that a test run leaves the repository's images alone when the page is unchanged."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"kiosk-{name}.png"
    taken = tablet.page.screenshot()
    if path.exists():
        new = cv2.imdecode(np.frombuffer(taken, np.uint8), cv2.IMREAD_COLOR)
        old = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if old is not None and old.shape == new.shape:
            changed = np.count_nonzero(np.any(old != new, axis=2))
            if changed < 0.005 * old.shape[0] * old.shape[1]:
                return
    path.write_bytes(taken)


def test_a_press_and_its_followup_reach_kafka_and_the_exporter(
    shop: Shop, chromium: Browser
) -> None:
    site = shop.new_site()
    ratings_start, followups_start = _offsets(RATINGS), _offsets(FOLLOWUPS)

    landscape = KioskPage(chromium, shop.api.url, LANDSCAPE)
    landscape.open(site.fragment)
    landscape.wait_screen("question")
    assert site.token not in landscape.page.url, "the token stays in the address bar"
    assert landscape.page.locator("button.rating").count() == 4
    _screenshot(landscape, "question-landscape")
    landscape.press(1)
    first_press = time.monotonic()
    landscape.wait_screen("followup")
    _screenshot(landscape, "followup-landscape")
    landscape.page.click('button.reason[data-reason="queue"]')
    landscape.wait_screen("thanks")
    _screenshot(landscape, "thanks-landscape")
    landscape.wait_queued(0)

    # The same kiosk on a tablet standing upright: a press whose follow-up is skipped.
    portrait = KioskPage(chromium, shop.api.url, PORTRAIT)
    portrait.open(site.fragment)
    portrait.wait_screen("question")
    _screenshot(portrait, "question-portrait")
    # Two tablets of one kiosk: the second press must come after the kiosk's misuse
    # interval, or the aggregator rightly counts it as the same person's (a fast run got
    # there in under a second, and the press was suppressed).
    time.sleep(max(0.0, first_press + TWO_MISUSE_INTERVALS - time.monotonic()))
    portrait.press(2)
    portrait.wait_screen("followup")
    _screenshot(portrait, "followup-portrait")
    portrait.page.click("#followup-skip")
    portrait.wait_screen("thanks")
    _screenshot(portrait, "thanks-portrait")
    portrait.wait_queued(0)

    presses = _ratings_of(site, ratings_start, 2)
    assert sorted(press.rating for press in presses) == [1, 2]
    for press in presses:
        assert (press.store_id, press.kiosk_id, press.scale) == (site.store, site.kiosk, 4)
    [answer] = _followups_of(site, followups_start)
    unhappiest = next(press for press in presses if press.rating == 1)
    assert (answer.rating_event_id, answer.reason) == (unhappiest.event_id, "queue")
    assert answer.store_id == site.store

    _wait_total(shop, "kioskpulse_followup_total", site.store, 1, reason="queue")
    assert _store_total(shop, "kioskpulse_followup_total", site.store) == 1
    # The answer is counted beside the presses, never as one.
    _wait_total(shop, "kioskpulse_ratings_total", site.store, 2)
    assert landscape.errors() == []
    assert portrait.errors() == []
    landscape.close()
    portrait.close()


def test_an_nps_kiosk_shows_the_scores_0_to_10_and_asks_why_after_a_detractors_score(
    shop: Shop, chromium: Browser
) -> None:
    site = shop.new_site(scale=11)
    ratings_start = _offsets(RATINGS)
    for viewport, name in ((LANDSCAPE, "nps-landscape"), (PORTRAIT, "nps-portrait")):
        tablet = KioskPage(chromium, shop.api.url, viewport)
        tablet.open(site.fragment)
        tablet.wait_screen("question")
        buttons = tablet.page.locator("button.rating")
        assert buttons.all_inner_texts() == [str(score) for score in range(11)]
        assert tablet.page.inner_text("#question") == (
            "How likely are you to recommend us to a friend?"
        )
        assert tablet.page.locator(".score-ends").inner_text().split("\n") == [
            "Not likely at all",
            "Extremely likely",
        ]
        assert buttons.first.get_attribute("aria-label") == "0, Not likely at all"
        # One row of buttons, each inside the screen, in landscape and portrait alike.
        boxes = [buttons.nth(i).bounding_box() for i in range(11)]
        assert all(box is not None for box in boxes)
        tops = {round(box["y"]) for box in boxes if box is not None}
        assert len(tops) == 1, tops
        assert all(
            box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
            for box in boxes
            if box is not None
        )
        _screenshot(tablet, name)
        tablet.close()

    tablet = KioskPage(chromium, shop.api.url, LANDSCAPE)
    tablet.open(site.fragment)
    tablet.press(0)  # a detractor: the follow-up question (0..6 by default)
    first_press = time.monotonic()
    tablet.wait_screen("followup")
    tablet.page.click("#followup-skip")
    tablet.wait_screen("thanks")
    time.sleep(max(0.0, first_press + TWO_MISUSE_INTERVALS - time.monotonic()))
    tablet.press(9)  # a promoter: thanks at once
    tablet.wait_screen("thanks")
    tablet.wait_queued(0)
    presses = _ratings_of(site, ratings_start, 2)
    assert sorted((press.rating, press.scale) for press in presses) == [(0, 11), (9, 11)]
    _wait_total(shop, "kioskpulse_ratings_total", site.store, 1, scale="11", rating="0")
    _wait_total(shop, "kioskpulse_ratings_total", site.store, 1, scale="11", rating="9")
    assert tablet.errors() == []
    tablet.close()


def test_presses_while_the_api_is_down_survive_a_reload_and_arrive_once(
    shop: Shop, chromium: Browser
) -> None:
    site = shop.new_site()
    tablet = KioskPage(chromium, shop.api.url)
    tablet.open(site.fragment)
    tablet.wait_service_worker()
    tablet.wait_queued(0)
    start = _offsets(RATINGS)

    shop.api.stop()
    try:
        for n in range(20):
            tablet.press(3 + n % 2)  # above the follow-up level: no question after them
        tablet.wait_queued(20)
        queued = tablet.page.evaluate(QUEUED_IDS)
        assert len(set(queued)) == 20

        tablet.reload()  # the page comes from the service worker: the API is down
        tablet.wait_screen("question")
        assert tablet.queued() == 20
        assert sorted(tablet.page.evaluate(QUEUED_IDS)) == sorted(queued)
    finally:
        shop.api.start()

    tablet.wait_queued(0, within=120)
    presses = _ratings_of(site, start, 20)
    assert Counter(str(press.event_id) for press in presses) == Counter(queued)
    assert [press.rating for press in presses].count(3) == 10
    _wait_total(shop, "kioskpulse_ratings_total", site.store, 20)
    assert tablet.errors() == []
    tablet.close()


def test_a_refused_event_is_dropped_alone(shop: Shop, chromium: Browser) -> None:
    site = shop.new_site(scale=5)
    tablet = KioskPage(chromium, shop.api.url)
    tablet.open(site.fragment)
    tablet.wait_queued(0)
    start = _offsets(RATINGS)

    shop.api.stop()
    try:
        for rating in (5, 4, 3):
            tablet.press(rating)
        tablet.wait_queued(3)
        # The operator makes it a four-button kiosk while the presses wait: the 5 is
        # now outside the kiosk's scale, and the API refuses it (422) when it comes.
        with edit_registry(shop.devices) as registry:
            registry.configure_kiosk(site.kiosk, scale=4)
    finally:
        shop.api.start()

    tablet.wait_queued(0, within=120)
    presses = _ratings_of(site, start, 2)
    assert sorted(press.rating for press in presses) == [3, 4]
    assert any("rating 5" in line for line in tablet.console if line.startswith("warn")), (
        tablet.console
    )
    tablet.close()


def test_a_429_retry_after_is_honoured(shop: Shop, chromium: Browser) -> None:
    site = shop.new_site()
    limited = ApiServer(
        shop.api.bootstrap,
        shop.devices,
        extra_env={
            **shop.api.extra_env,
            # One request every 5 s after a burst of 3: config, heartbeat, one press.
            "KIOSKPULSE_RATE_LIMIT_PER_SECOND": "0.2",
            "KIOSKPULSE_RATE_LIMIT_BURST": "3",
        },
    )
    limited.start()
    finished: list[Request] = []
    try:
        tablet = KioskPage(chromium, limited.url)
        tablet.page.on("requestfinished", lambda request: finished.append(request))
        tablet.open(site.fragment)
        start = _offsets(RATINGS)
        for rating in (3, 4, 3):
            tablet.press(rating)
        tablet.wait_queued(0, within=90)
        assert len(_ratings_of(site, start, 3)) == 3
    finally:
        limited.stop()

    sends = [request for request in finished if request.url.endswith("/ratings")]
    refused = [(n, request) for n, request in enumerate(sends) if request_status(request) == 429]
    assert refused, "the rate limit never answered 429: the test proves nothing"
    for n, request in refused:
        response = request.response()
        assert response is not None
        wait = int(response.headers["retry-after"])
        answered_at = request.timing["startTime"] + request.timing["responseEnd"]
        assert n + 1 < len(sends), "no retry after the 429"
        retried_at = sends[n + 1].timing["startTime"]
        assert retried_at - answered_at >= wait * 1000 - 50, (wait, retried_at - answered_at)
    tablet.close()


def request_status(request: Request) -> int | None:
    response = request.response()
    return None if response is None else response.status


def _pair_command(shop: Shop, kiosk: str, *options: str) -> str:
    printed = subprocess.run(
        [
            sys.executable, "-m", "kioskpulse.cli", "devices", "--devices-file",
            str(shop.devices), "pair", kiosk, "--api", shop.api.url, *options,
        ],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    match = re.search(r"#pair=([A-Z0-9-]+)", printed)
    assert match, printed
    return match.group(1)


def _type_code(tablet: KioskPage, code: str) -> str:
    tablet.wait_screen("pairing")
    tablet.page.fill("#pair-code", code)
    tablet.page.click("#pair-submit")
    message = tablet.page.locator("#pair-message")
    wait_for("a pairing message", lambda: message.inner_text().strip())
    return message.inner_text()


def test_a_pairing_code_works_once_and_expires(shop: Shop, chromium: Browser) -> None:
    site = shop.new_site()
    code = _pair_command(shop, site.kiosk)

    paired = KioskPage(chromium, shop.api.url)
    paired.open(f"#pair={code}")
    paired.wait_screen("question")
    assert code not in paired.page.url
    start = _offsets(RATINGS)
    paired.press(4)
    paired.wait_queued(0)
    assert [press.rating for press in _ratings_of(site, start, 1)] == [4]

    second = KioskPage(chromium, shop.api.url)
    second.open()
    assert "already used" in _type_code(second, code)
    assert second.screen == "pairing"

    expiring = _pair_command(shop, site.kiosk, "--valid-for", "0.02")  # 1.2 s
    time.sleep(2)
    assert "expired" in _type_code(second, expiring)
    assert second.screen == "pairing"
    second.close()

    # Revoked, the paired tablet shows that it is out of service instead of buttons.
    with edit_registry(shop.devices) as registry:
        registry.revoke(site.kiosk)
    paired.reload()
    paired.wait_screen("inactive")
    assert "not active" in paired.page.inner_text("#inactive").lower()
    assert paired.page.locator("button.rating:visible").count() == 0
    paired.close()
