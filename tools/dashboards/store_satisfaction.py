"""The store satisfaction dashboard: what the pressers say (the raw Happy Index), what all
visitors would have said (the bias-corrected index and its interval), shares per level,
response rate and propensity, footfall, the mood of the floor, and when in the week."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, dashboard, table, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as models

from tools.dashboards.common import (
    DATASOURCE,
    by_name,
    fixed_colour,
    query,
    store_window_dashboard,
    table_columns,
    table_panel,
    thresholds,
    timeseries_panel,
    transformation,
)

__all__ = ["UID", "build"]

UID = "kioskpulse-store-satisfaction"

#: The selected stores, and the selected window of the per-window figures.
STORE = 'store=~"$store"'
SW = f'{STORE}, window="$window"'

#: A Happy Index read as a traffic light (HappyOrNot's usual reading of 0–100).
INDEX_COLOURS = thresholds((None, "red"), (50, "orange"), (70, "green"))


def availability_table(
    title: str, description: str, metric: str, *, width: int, height: int = 8
) -> table.Panel:
    """Per store: 1 (yes) or 0 (no) with its reason, from a ``..._available`` gauge."""
    panel = table_panel(
        title,
        description,
        "none",
        [query(f"max by (store, reason) ({metric}{{{SW}}})", instant=True, table=True)],
        table_columns({"store": "Store", "reason": "Reason", "Value": "Corrected"}),
        sort_by="Store",
        width=width,
        height=height,
    )
    return panel.mappings(
        [
            models.ValueMap(
                options={
                    "1": models.ValueMappingResult(text="yes", color="green", index=0),
                    "0": models.ValueMappingResult(text="no", color="orange", index=1),
                }
            )
        ]
    ).cell_options(common.TableColorTextCellOptions())


def by_hour_and_weekday(expr: str) -> str:
    """The average of ``expr`` (one series, no labels, a figure over the last 15 minutes)
    per hour of the day and weekday over the panel's range (28 days), as series labelled
    ``hour`` (UTC, "00".."23") and ``weekday`` (day_of_week(): 0 = Sunday).

    PromQL cannot group by the hour of the day: ``hour()`` and ``day_of_week()`` give the
    time of the evaluation as a *value*. ``count_values`` turns that value into a label
    (a single series of value 1) and multiplying by it ``on ()`` copies the label onto
    ``expr``. In a subquery every step of the range is thus a sample of the series of
    its (hour, weekday) cell, and ``avg_over_time`` averages each cell. The step is
    Grafana's interval, 15 minutes (``QUARTER_HOURS``): steps fall on full quarter
    hours, and a figure over the last 15 minutes at 13:00 belongs to 12:45-13:00,
    hence the hour of ``time() - 450``, the middle of the quarter measured. The hour is
    zero-padded (``label_replace``) so that the rows sort as text.
    """
    hour = (
        'label_replace(count_values("hour", hour(vector(time() - 450))),'
        ' "hour", "0$1", "hour", "([0-9])")'
    )
    weekday = 'count_values("weekday", day_of_week(vector(time() - 450)))'
    return (
        f"avg_over_time(({expr} * on () group_left (hour) {hour}"
        f" * on () group_left (weekday) {weekday})[$__range:$__interval])"
    )


#: The heatmaps' range, and as many data points as it has quarter hours: Grafana's
#: $__interval is then the 15 minutes that the figures cover.
HEATMAP_RANGE = "28d"
QUARTER_HOURS = 28 * 24 * 4


#: groupingToMatrix names its first column "<row field>\<column field>" and the others
#: after the weekday numbers; this orders and names them.
MATRIX_COLUMNS = {
    "hour\\weekday": "Hour (UTC)",
    "1": "Mon",
    "2": "Tue",
    "3": "Wed",
    "4": "Thu",
    "5": "Fri",
    "6": "Sat",
    "0": "Sun",
}


def heatmap_table(
    title: str, description: str, unit: str, expr: str, colours: models.FieldColorModeId
) -> table.Panel:
    """An hour-of-day × weekday heatmap of ``expr`` over the last 28 days.

    It is a table, not Grafana's heatmap panel: that panel buckets values along *time*
    (or numeric bucket labels), while these cells are two label dimensions of one
    instant query. ``groupingToMatrix`` turns the series into rows (hours) and columns
    (weekdays) and a continuous colour scale on the cells makes it a heatmap that shows
    each cell's figure too.
    """
    panel = table_panel(
        title,
        description,
        unit,
        [query(by_hour_and_weekday(expr), instant=True, table=True).interval("15m")],
        [
            transformation(
                "groupingToMatrix", columnField="weekday", rowField="hour", valueField="Value"
            ),
            transformation(
                "organize",
                renameByName=MATRIX_COLUMNS,
                indexByName={name: i for i, name in enumerate(MATRIX_COLUMNS)},
            ),
        ],
        sort_by="Hour (UTC)",
        height=16,
    )
    return (
        panel.time_from(HEATMAP_RANGE)
        .max_data_points(QUARTER_HOURS)
        .decimals(1)
        .cell_options(
            common.TableColoredBackgroundCellOptions(
                mode=common.TableCellBackgroundDisplayMode.GRADIENT
            )
        )
        .color_scheme(dashboard.FieldColor().mode(colours))
    )


def band_panel(
    title: str,
    description: str,
    metric: str,
    colour: str,
    *,
    width: int,
    minimum: float,
    maximum: float,
    per_row: int,
) -> timeseries.Panel:
    """One panel per store: ``metric`` raw and corrected, with the corrected figure's 95 %
    interval (``{metric}_lower``, ``_upper``) as a band."""
    panel = timeseries_panel(
        title,
        description,
        "none",
        [
            query(f'{metric}{{{SW}, method="raw"}}', "raw (presses)", ref="A"),
            query(f'{metric}{{{SW}, method="corrected"}}', "corrected (all visitors)", ref="B"),
            query(f"{metric}_lower{{{SW}}}", "95 % lower", ref="C"),
            query(f"{metric}_upper{{{SW}}}", "95 % upper", ref="D"),
        ],
        width=width,
        height=9,
        minimum=minimum,
        maximum=maximum,
        overrides=[
            # The band: the upper bound filled down to the lower one, no line for either.
            by_name(
                "95 % upper",
                {
                    "custom.fillBelowTo": "95 % lower",
                    "custom.lineWidth": 0,
                    "custom.fillOpacity": 25,
                    "color": fixed_colour(colour),
                },
            ),
            by_name(
                "95 % lower",
                {"custom.lineWidth": 0, "custom.fillOpacity": 0, "color": fixed_colour(colour)},
            ),
            by_name(
                "corrected (all visitors)",
                {"custom.lineWidth": 2, "color": fixed_colour(f"dark-{colour}")},
            ),
            by_name("raw (presses)", {"custom.lineWidth": 2, "color": fixed_colour("orange")}),
        ],
    )
    return panel.decimals(1).repeat("store").repeat_direction("h").max_per_row(per_row)


def nps_panels() -> tuple[timeseries.Panel, timeseries.Panel, table.Panel]:
    """The NPS kiosks' figures: the NPS raw and corrected, its groups, and whether the
    corrected NPS is available (stores without NPS kiosks have none of these series)."""
    nps = band_panel(
        "NPS of $store: raw and corrected",
        "Net Promoter Score of the NPS kiosks (scale 11: 'how likely are you to recommend "
        "us?', 0-10): the share of promoters (9-10) minus that of detractors (0-6), -100..100. "
        "Raw: of the presses. Corrected: of all visitors, the three groups bias-corrected with "
        "the faces the cameras see, with its 95 % interval as a band (docs/bias-correction.md, "
        '"NPS kiosks"). Only stores with NPS kiosks. One panel per store.',
        "kioskpulse_nps",
        "blue",
        width=12,
        minimum=-100,
        maximum=100,
        per_row=2,
    )
    groups = timeseries_panel(
        "Promoters, passives, detractors",
        "Shares of the NPS groups: promoters (9-10), passives (7-8), detractors (0-6), of the "
        "presses (raw) and of all visitors (corrected), in the window.",
        "percentunit",
        [
            query(
                f"kioskpulse_nps_group_share{{{SW}}}",
                "{{store}} {{group}} ({{method}})",
            )
        ],
        width=8,
        height=9,
        minimum=0,
        maximum=1,
    )
    correction = availability_table(
        "Corrected NPS: available, or why not ($window)",
        "Per store with NPS presses: whether the window has a corrected NPS (reason ok) or why "
        "not, with the reasons of the Happy Index's correction (docs/exporter.md).",
        "kioskpulse_nps_correction_available",
        width=4,
        height=9,
    )
    return nps, groups, correction


def build() -> dashboard.Dashboard:
    index = band_panel(
        "Happy Index of $store: raw and corrected",
        "Raw: the HappyOrNot index of the presses (0-100, 100 · mean of i/(k-1), i = 0 for "
        "the worst button). Corrected: the index of all visitors, bias-corrected with the "
        "faces the cameras see, and its 95 % interval as a band (docs/bias-correction.md); "
        'absent while kioskpulse_correction_available{reason="ok"} is 0. One panel per store.',
        "kioskpulse_happy_index",
        "green",
        width=24,
        minimum=0,
        maximum=100,
        per_row=3,
    )

    ranking = table_panel(
        "Stores ranked by corrected Happy Index ($window)",
        "The selected stores over the chosen window: the corrected index of all visitors "
        "with its 95 % interval, the raw index of the presses, presses and visitors. Sorted "
        "by the corrected index (click a header to sort by another column).",
        "none",
        [
            query(
                f'sort_desc(max by (store) (kioskpulse_happy_index{{{SW}, method="corrected"}}))',
                ref="A",
                instant=True,
                table=True,
            ),
            query(
                f"max by (store) (kioskpulse_happy_index_lower{{{SW}}})",
                ref="B",
                instant=True,
                table=True,
            ),
            query(
                f"max by (store) (kioskpulse_happy_index_upper{{{SW}}})",
                ref="C",
                instant=True,
                table=True,
            ),
            query(
                f'max by (store) (kioskpulse_happy_index{{{SW}, method="raw"}})',
                ref="D",
                instant=True,
                table=True,
            ),
            query(
                f"sum by (store) (increase(kioskpulse_ratings_total{{{STORE}}}[$window]))",
                ref="E",
                instant=True,
                table=True,
            ),
            query(
                f"max by (store) (kioskpulse_window_visitors{{{SW}}})",
                ref="F",
                instant=True,
                table=True,
            ),
        ],
        table_columns(
            {
                "store": "Store",
                "Value #A": "Corrected",
                "Value #B": "95 % lower",
                "Value #C": "95 % upper",
                "Value #D": "Raw",
                "Value #E": "Presses",
                "Value #F": "Visitors",
            },
            merge=True,
            ordered=True,
        ),
        sort_by="Corrected",
        descending=True,
        height=9,
        overrides=[
            by_name("Corrected", {"custom.cellOptions": {"type": "color-background"}}),
            by_name("Raw", {"custom.cellOptions": {"type": "color-text"}}),
            by_name("Presses", {"unit": "short", "decimals": 0}),
            by_name("Visitors", {"unit": "short", "decimals": 0}),
        ],
    )
    ranking.decimals(1).thresholds(INDEX_COLOURS)

    negative = timeseries_panel(
        "Negative share of the presses, last 15 min",
        "Share of the presses on the negative buttons (the two worst of a 4- or 5-button "
        "kiosk, the worst of 2 or 3) over 15 minutes: the recording rule "
        "store:kioskpulse_negative_share:ratio15m, on which KioskPulseUnhappyShareHigh fires "
        "above 50 % (the line) with at least 4 presses.",
        "percentunit",
        [query(f"store:kioskpulse_negative_share:ratio15m{{{STORE}}}", "{{store}}")],
        height=9,
        minimum=0,
        maximum=1,
        threshold_lines=thresholds((None, "green"), (0.5, "red")),
    )

    shares = (
        bargauge.Panel()
        .title("Share per level ($window)")
        .description(
            "Presses: the share of each button among the presses on kiosks of a scale "
            "(level 1 = the worst button). All visitors: the estimated share of all visitors "
            "at each level of the store's main scale (bias-corrected; absent until the "
            "correction is available)."
        )
        .datasource(DATASOURCE)
        .unit("percentunit")
        .min(0)
        .max(1)
        .decimals(0)
        .span(12)
        .height(10)
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .targets(
            [
                query(
                    f"kioskpulse_rating_share{{{SW}}}",
                    "{{store}} presses on {{scale}} buttons: level {{rating}}",
                    ref="A",
                    instant=True,
                ),
                query(
                    f'kioskpulse_satisfaction_share{{{SW}, method="corrected"}}',
                    "{{store}} all visitors: level {{rating}}",
                    ref="B",
                    instant=True,
                ),
            ]
        )
    )

    footfall = timeseries_panel(
        "Footfall: visitors in the window",
        "Visits the floor cameras closed in the window (one visitor = one track), per store.",
        "short",
        [query(f"kioskpulse_window_visitors{{{SW}}}", "{{store}}")],
        height=10,
        minimum=0,
    ).decimals(0)

    response_rate = timeseries_panel(
        "Response rate",
        "Counted presses per floor-camera visitor in the window.",
        "percentunit",
        [query(f"kioskpulse_response_rate{{{SW}}}", "{{store}}")],
        minimum=0,
    )
    linked = timeseries_panel(
        "Presses linked to a kiosk-camera face",
        "Presses in the window linked to a face the kiosk's own camera saw: the estimator's "
        "calibration data. The corrected index needs a few per level.",
        "short",
        [query(f"kioskpulse_linked_presses{{{SW}}}", "{{store}}")],
        minimum=0,
    ).decimals(0)

    reasons = timeseries_panel(
        "Why unhappy: follow-up answers ($window)",
        'Answers to the kiosk page\'s follow-up question ("What went wrong?", asked after '
        "an unhappy press) in the window, by reason, over the selected stores.",
        "short",
        [
            query(
                f"sum by (reason) (increase(kioskpulse_followup_total{{{STORE}}}[$window]))",
                "{{reason}}",
            )
        ],
        minimum=0,
    ).decimals(0)

    correction = availability_table(
        "Bias correction: available, or why not ($window)",
        "Per store: whether the window has corrected figures (reason ok) or why not: "
        "no_presses, too_few_visitors, presses_exceed_visitors, no_linked_presses, "
        "too_few_linked_presses, ill_conditioned, label_shift_misfit (docs/exporter.md).",
        "kioskpulse_correction_available",
        width=8,
    )
    propensity = timeseries_panel(
        "Response propensity per level",
        "Presses per visitor among the visitors at each level (presses ÷ (visitors · share)): "
        "how willing the unhappy and the happy are to press. Bias-corrected figures.",
        "percentunit",
        [query(f"kioskpulse_response_propensity{{{SW}}}", "{{store}} level {{rating}}")],
        width=8,
        minimum=0,
    )
    bias = timeseries_panel(
        "Negative-bias factor",
        "Response propensity of the worst level ÷ that of the best: 3 means the unhappiest "
        "visitors press three times as often as the happiest; 1 (the line) means no bias.",
        "suffix:×",
        [query(f"kioskpulse_negative_bias_factor{{{SW}}}", "{{store}}")],
        width=8,
        minimum=0,
        threshold_lines=thresholds((None, "green"), (1, "orange")),
    ).decimals(1)

    def mix(family: str, label: str, what: str) -> timeseries.Panel:
        # All selected stores together: each store's shares weighted by its visitors. The
        # max by () keeps one series per store when several exporter replicas are scraped.
        weighted = (
            f"sum by ({label}) (max by (store, window, {label}) ({family}{{{SW}}})"
            f" * on (store, window) group_left max by (store, window)"
            f" (kioskpulse_window_visitors{{{SW}}}))"
            f" / on () group_left sum(max by (store) (kioskpulse_window_visitors{{{SW}}}))"
        )
        return timeseries_panel(
            f"{what} of the visitors",
            f"Visitors of the selected stores by {what.lower()}, from the expressions the "
            "floor cameras see, over the window; each store's shares weighted by its "
            "visitors.",
            "percentunit",
            [query(weighted, f"{{{{{label}}}}}")],
            height=9,
            minimum=0,
            maximum=1,
            stacked=True,
        )

    nps, nps_groups, nps_correction = nps_panels()

    by_hour_index = heatmap_table(
        "Happy Index (raw) by hour and weekday",
        "The raw Happy Index of every quarter hour of the last 28 days, averaged per hour of "
        "the day (UTC) and weekday over the selected stores: when visitors are least happy.",
        "none",
        f'avg(kioskpulse_happy_index{{{STORE}, window="15m", method="raw"}})',
        models.FieldColorModeId.CONTINUOUS_RD_YL_GR,
    )
    by_hour_index.min(0).max(100)
    by_hour_presses = heatmap_table(
        "Presses per hour by hour and weekday",
        "Presses on the selected stores' kiosks per hour, averaged per hour of the day (UTC) "
        "and weekday over the last 28 days: when visitors answer.",
        "short",
        # Presses of the quarter hour, times 4: the average of a cell is then per hour.
        f"sum(increase(kioskpulse_ratings_total{{{STORE}}}[15m])) * 4",
        models.FieldColorModeId.CONTINUOUS_BLUES,
    )

    return (
        store_window_dashboard(
            UID,
            "kioskpulse · Store satisfaction",
            "Per store: the Happy Index of the presses and, bias-corrected, of all visitors; "
            "shares per level, response rate and propensity, footfall, the mood of the "
            "floor, and the hours and weekdays.",
            ["satisfaction"],
            "kioskpulse_happy_index",
        )
        .with_row(dashboard.Row("Happy Index"))
        .with_panel(index)
        .with_panel(ranking)
        .with_panel(negative)
        .with_row(dashboard.Row("Answers and visitors"))
        .with_panel(shares)
        .with_panel(footfall)
        .with_panel(response_rate)
        .with_panel(linked)
        .with_panel(reasons)
        .with_row(dashboard.Row("Net Promoter Score (NPS kiosks, 0-10)"))
        .with_panel(nps)
        .with_panel(nps_groups)
        .with_panel(nps_correction)
        .with_row(dashboard.Row("Bias correction"))
        .with_panel(correction)
        .with_panel(propensity)
        .with_panel(bias)
        .with_row(dashboard.Row("Mood of the floor"))
        .with_panel(mix("kioskpulse_expression_share", "expression", "Expressions"))
        .with_panel(mix("kioskpulse_tone_share", "tone", "Tone"))
        .with_row(dashboard.Row("Hour of the day × weekday (UTC, last 28 days)"))
        .with_panel(by_hour_index)
        .with_panel(by_hour_presses)
    )
