"""The Displays dashboard (issue 16): what the display cameras see, per display label.

Watchers, dwell and attention (quantiles from the cumulative ``le`` counts, and means),
interest against the store's floor, the watchers' tone, and the labels side by side.
The intervals of a label comparison come from the JSON API (docs/displays.md).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, prometheus

from tools.dashboards.common import (
    by_name,
    query,
    store_window_dashboard,
    table_columns,
    table_panel,
    thresholds,
    timeseries_panel,
)

__all__ = ["UID", "build"]

UID = "kioskpulse-displays"

STORE = 'store=~"$store"'
SW = f'{STORE}, window="$window"'
BY = "{{store}} · {{display}}"


def _quantiles(metric: str) -> list[prometheus.Dataquery]:
    return [
        query(
            f"histogram_quantile({q}, sum by (store, display, le) "
            f'(label_replace({metric}{{{SW}}}, "le", "$1", "bound", "(.*)")))',
            f"{BY} p{round(q * 100)}",
            ref=ref,
        )
        for q, ref in ((0.5, "A"), (0.9, "B"))
    ]


def build() -> dashboard.Dashboard:
    watchers = timeseries_panel(
        "Watchers per display ($window)",
        "People seen at each display (display cameras' tracks closed) in the window ending "
        "at each point; a relabel starts a new series under the new label.",
        "short",
        [query(f"kioskpulse_display_watchers{{{SW}}}", BY)],
        minimum=0,
    ).decimals(0)
    dwell = timeseries_panel(
        "Dwell: median and 90th percentile ($window)",
        "How long watchers stayed (first to last sighting), from the cumulative counts by "
        "bound (kioskpulse_display_dwell_watchers) read as a histogram: interpolated between "
        "the bounds 1, 2, 5, 10, 20, 30, 60 and 120 s.",
        "s",
        _quantiles("kioskpulse_display_dwell_watchers"),
        minimum=0,
    )
    attention = timeseries_panel(
        "Attention: median and 90th percentile ($window)",
        "How long watchers faced the camera (the display): the gaps between frontal "
        "sightings (docs/displays.md).",
        "s",
        _quantiles("kioskpulse_display_attention_watchers"),
        minimum=0,
    )
    means = timeseries_panel(
        "Mean dwell and attention ($window)",
        "Means per watcher; their ratio between two labels, with an interval, is the JSON "
        "API's comparison (GET /v1/stores/{store}/displays/compare).",
        "s",
        [
            query(f"kioskpulse_display_dwell_mean_seconds{{{SW}}}", f"{BY} dwell", ref="A"),
            query(f"kioskpulse_display_attention_mean_seconds{{{SW}}}", f"{BY} attention", ref="B"),
        ],
        minimum=0,
    )
    interest = timeseries_panel(
        "Interest share against the floor ($window)",
        "Share of each display's watchers whose dominant tone was interest or satisfaction, "
        "and the same share of the store's floor-camera visitors over the same window: a "
        "display that lifts interest shows above its store's floor line.",
        "percentunit",
        [
            query(f"kioskpulse_display_interest_share{{{SW}}}", BY, ref="A"),
            query(f"kioskpulse_display_floor_interest_share{{{SW}}}", "{{store}} · floor", ref="B"),
        ],
        minimum=0,
        maximum=1,
    )
    lift = timeseries_panel(
        "Interest lift over the floor ($window)",
        "The display's interest share over the floor's (1: as interested as the floor at large).",
        "none",
        [query(f"kioskpulse_display_interest_lift_ratio{{{SW}}}", BY)],
        minimum=0,
        threshold_lines=thresholds((None, "text"), (1, "green")),
    )
    tone = timeseries_panel(
        "Tone of the watchers ($window)",
        "The watchers whose expression was read, by tone of their dominant expression.",
        "percentunit",
        [query(f"kioskpulse_display_tone_share{{{SW}}}", "{{display}} · {{tone}}")],
        minimum=0,
        maximum=1,
    )
    labels = table_panel(
        "Display labels side by side ($window)",
        "Every label with watchers in the window: the figures a comparison sets against "
        "each other. For the difference with its 95 % interval ask the JSON API "
        "(docs/displays.md).",
        "short",
        [
            query(f"max by (store, display) ({metric}{{{SW}}})", ref=ref, instant=True, table=True)
            for metric, ref in (
                ("kioskpulse_display_watchers", "A"),
                ("kioskpulse_display_dwell_mean_seconds", "B"),
                ("kioskpulse_display_attention_mean_seconds", "C"),
                ("kioskpulse_display_interest_share", "D"),
                ("kioskpulse_display_interest_lift_ratio", "E"),
            )
        ],
        table_columns(
            {
                "store": "Store",
                "display": "Display",
                "Value #A": "Watchers",
                "Value #B": "Mean dwell",
                "Value #C": "Mean attention",
                "Value #D": "Interest share",
                "Value #E": "Lift over floor",
            },
            merge=True,
            ordered=True,
        ),
        sort_by="Watchers",
        descending=True,
        width=24,
        overrides=[
            by_name("Watchers", {"decimals": 0}),
            by_name("Mean dwell", {"unit": "s"}),
            by_name("Mean attention", {"unit": "s"}),
            by_name("Interest share", {"unit": "percentunit"}),
            by_name("Lift over floor", {"unit": "none", "decimals": 2}),
        ],
    )
    return (
        store_window_dashboard(
            UID,
            "kioskpulse · Displays",
            "What the display cameras see, per display label: watchers, dwell and attention, "
            "interest against the store's floor, and the labels side by side.",
            ["displays"],
            "kioskpulse_display_watchers",
        )
        .with_row(dashboard.Row("Watchers"))
        .with_panel(watchers)
        .with_panel(means)
        .with_panel(dwell)
        .with_panel(attention)
        .with_row(dashboard.Row("Interest and tone"))
        .with_panel(interest)
        .with_panel(lift)
        .with_panel(tone)
        .with_row(dashboard.Row("Labels compared"))
        .with_panel(labels)
    )
