"""The fleet dashboard: the devices in the stores. Kiosks and cameras last seen, presses
waiting on the kiosks, presses counted and suppressed, faces seen and visitors counted."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from tools.dashboards.common import (
    by_name,
    new_dashboard,
    query,
    query_variable,
    stat_panel,
    table_columns,
    table_panel,
    thresholds,
    timeseries_panel,
)

__all__ = ["UID", "build"]

UID = "kioskpulse-fleet"

STORE = 'store=~"$store"'

#: The alerts' limits (deploy/prometheus/rules/fleet.yml): a kiosk heartbeats every 10 s
#: and is silent after 10 min; a camera after 30 min without a face.
KIOSK_SILENT = 600
CAMERA_SILENT = 1800

KIOSK_AGE = f"time() - kioskpulse_kiosk_last_seen_timestamp_seconds{{{STORE}}}"
CAMERA_AGE = f"time() - kioskpulse_camera_last_seen_timestamp_seconds{{{STORE}}}"


def build() -> dashboard.Dashboard:
    silent_kiosks = stat_panel(
        "Kiosks silent for 10 min",
        "Kiosks of the selected stores without a heartbeat for 10 minutes (at night, when "
        "the stores are closed, this is expected; the alert fires only in opening hours).",
        "short",
        [query(f"count(({KIOSK_AGE}) > {KIOSK_SILENT}) or vector(0)", "kiosks", instant=True)],
        thresholds((None, "green"), (1, "red")),
    )
    silent_cameras = stat_panel(
        "Cameras without a face for 30 min",
        "Cameras of the selected stores whose newest observation is older than 30 minutes.",
        "short",
        [query(f"count(({CAMERA_AGE}) > {CAMERA_SILENT}) or vector(0)", "cameras", instant=True)],
        thresholds((None, "green"), (1, "orange")),
    )
    waiting = stat_panel(
        "Presses waiting on kiosks",
        "Events the kiosks hold in their offline buffers, as of their last heartbeats.",
        "short",
        [
            query(
                f"sum(kioskpulse_kiosk_buffered_events{{{STORE}}}) or vector(0)",
                "buffered",
                instant=True,
            )
        ],
        thresholds((None, "green"), (20, "orange")),
    )
    presses = stat_panel(
        "Presses in the last 15 min",
        "Counted presses of the selected stores over 15 minutes (the recording rule "
        "store:kioskpulse_ratings:increase15m).",
        "short",
        [
            query(
                f"sum(store:kioskpulse_ratings:increase15m{{{STORE}}}) or vector(0)",
                "presses",
                instant=True,
            )
        ],
        thresholds((None, "blue")),
    )

    kiosks = table_panel(
        "Kiosks",
        "Every kiosk of the selected stores: time since its last heartbeat (its own clock) "
        "and the events waiting in its offline buffer.",
        "s",
        [
            query(f"max by (store, kiosk) ({KIOSK_AGE})", ref="A", instant=True, table=True),
            query(
                f"max by (store, kiosk) (kioskpulse_kiosk_buffered_events{{{STORE}}})",
                ref="B",
                instant=True,
                table=True,
            ),
        ],
        table_columns(
            {
                "store": "Store",
                "kiosk": "Kiosk",
                "Value #A": "Since last heartbeat",
                "Value #B": "Buffered events",
            },
            merge=True,
        ),
        sort_by="Since last heartbeat",
        descending=True,
        height=9,
        overrides=[
            by_name("Since last heartbeat", {"custom.cellOptions": {"type": "color-text"}}),
            by_name("Buffered events", {"unit": "short"}),
        ],
    )
    kiosks.decimals(0).thresholds(
        thresholds((None, "green"), (KIOSK_SILENT / 2, "orange"), (KIOSK_SILENT, "red"))
    )
    kiosk_age = timeseries_panel(
        "Time since each kiosk's last heartbeat",
        "A kiosk sends a heartbeat every 10 s; above the line (10 min) it counts as silent.",
        "s",
        [query(KIOSK_AGE, "{{store}}/{{kiosk}}")],
        height=9,
        minimum=0,
        threshold_lines=thresholds((None, "green"), (KIOSK_SILENT, "red")),
    )
    buffered = timeseries_panel(
        "Events buffered on each kiosk",
        "Events waiting on the kiosk at its last heartbeat: a buffer that keeps growing "
        "means heartbeats arrive but uploads fail (a revoked token, a wrong clock).",
        "short",
        [query(f"kioskpulse_kiosk_buffered_events{{{STORE}}}", "{{store}}/{{kiosk}}")],
        minimum=0,
    ).decimals(0)
    press_rate = timeseries_panel(
        "Presses and suppressed presses per minute",
        "Counted presses and the presses the misuse filter dropped (closer than the misuse "
        "interval on one kiosk), per store.",
        "cpm",
        [
            query(
                f"sum by (store) (rate(kioskpulse_ratings_total{{{STORE}}}[$__rate_interval]))"
                " * 60",
                "{{store}} counted",
                ref="A",
            ),
            query(
                "sum by (store) (rate(kioskpulse_ratings_suppressed_total"
                f"{{{STORE}}}[$__rate_interval])) * 60",
                "{{store}} suppressed",
                ref="B",
            ),
        ],
        minimum=0,
    )

    cameras = table_panel(
        "Cameras",
        "Every camera of the selected stores: time since the capture of its newest "
        "observation (a face it saw).",
        "s",
        [query(f"max by (store, camera) ({CAMERA_AGE})", instant=True, table=True)],
        table_columns({"store": "Store", "camera": "Camera", "Value": "Since last face"}),
        sort_by="Since last face",
        descending=True,
        height=9,
        overrides=[by_name("Since last face", {"custom.cellOptions": {"type": "color-text"}})],
    )
    cameras.decimals(0).thresholds(
        thresholds((None, "green"), (CAMERA_SILENT / 2, "orange"), (CAMERA_SILENT, "red"))
    )
    camera_age = timeseries_panel(
        "Time since each camera's newest face",
        "Capture time of the camera's newest observation, as an age; above the line (30 min) "
        "it counts as silent.",
        "s",
        [query(CAMERA_AGE, "{{store}}/{{camera}}")],
        height=9,
        minimum=0,
        threshold_lines=thresholds((None, "green"), (CAMERA_SILENT, "red")),
    )
    faces = timeseries_panel(
        "Faces seen and visitors counted per minute",
        "Faces the vision stage found and classified in camera frames (all cameras that send "
        "frames; edge agents send observations instead), and visitors the floor cameras "
        "counted per store (closed visits).",
        "cpm",
        [
            query(
                "sum(rate(kioskpulse_vision_faces_total[$__rate_interval])) * 60",
                "faces classified (vision stage)",
                ref="A",
            ),
            query(
                f"sum by (store) (rate(kioskpulse_visitors_total{{{STORE}}}[$__rate_interval]))"
                " * 60",
                "{{store}} visitors",
                ref="B",
            ),
        ],
        width=24,
        minimum=0,
    )

    return (
        new_dashboard(
            UID,
            "kioskpulse · Fleet",
            "The kiosks and cameras in the stores: when each was last seen, what waits on "
            "the kiosks, presses counted and suppressed, faces seen and visitors counted.",
            ["fleet"],
        )
        .with_variable(
            query_variable(
                "store",
                "Store",
                "label_values(kioskpulse_kiosk_last_seen_timestamp_seconds, store)",
            )
        )
        .with_row(dashboard.Row("Now"))
        .with_panel(silent_kiosks)
        .with_panel(silent_cameras)
        .with_panel(waiting)
        .with_panel(presses)
        .with_row(dashboard.Row("Kiosks"))
        .with_panel(kiosks)
        .with_panel(kiosk_age)
        .with_panel(buffered)
        .with_panel(press_rate)
        .with_row(dashboard.Row("Cameras"))
        .with_panel(cameras)
        .with_panel(camera_age)
        .with_panel(faces)
    )
