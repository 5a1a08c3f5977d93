"""What the three dashboards share: the datasource, queries, panel defaults, variables.

Every panel and every query names the Prometheus datasource by its fixed uid (the one
``deploy/grafana/provisioning/datasources/prometheus.yaml`` provisions), never by a
numeric id or a name; every panel has a unit (``fieldConfig.defaults.unit``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

__all__ = [
    "DATASOURCE",
    "DATASOURCE_UID",
    "Override",
    "by_name",
    "custom_variable",
    "fixed_colour",
    "new_dashboard",
    "query",
    "query_variable",
    "stat_panel",
    "store_window_dashboard",
    "table_panel",
    "thresholds",
    "timeseries_panel",
    "transformation",
]

DATASOURCE_UID = "kioskpulse-prometheus"
DATASOURCE = models.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)

#: An override: which fields, and what to set on them.
Override = tuple[models.MatcherConfig, list[models.DynamicConfigValue]]

PanelBuilder = TypeVar("PanelBuilder", bound=cogbuilder.Builder[models.Panel])


def query(
    expr: str, legend: str = "", *, ref: str = "A", instant: bool = False, table: bool = False
) -> prometheus.Dataquery:
    """A PromQL query on the kioskpulse datasource, on one line. ``instant`` queries give
    one value per series (tables, bar gauges, stats); ``table`` formats the result as rows
    with a column per label and a ``Value #<ref>`` column."""
    built = (
        prometheus.Dataquery()
        .expr(" ".join(expr.split()))
        .ref_id(ref)
        .datasource(DATASOURCE)
        .legend_format(legend or "__auto")
    )
    built = built.instant() if instant else built.range()
    if table:
        built.format(PromQueryFormat.TABLE)
    return built


def thresholds(*steps: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    """Absolute thresholds; the first step's value is None (from minus infinity)."""
    return (
        dashboard.ThresholdsConfig()
        .mode(models.ThresholdsMode.ABSOLUTE)
        .steps([models.Threshold(value=value, color=color) for value, color in steps])
    )


def fixed_colour(colour: str) -> dict[str, str]:
    return {"mode": "fixed", "fixedColor": colour}


def by_name(name: str, properties: dict[str, object]) -> Override:
    """An override of the fields (series, columns) displayed as ``name``."""
    return (
        models.MatcherConfig(id_val="byName", options=name),
        [models.DynamicConfigValue(id_val=key, value=value) for key, value in properties.items()],
    )


def transformation(transformation_id: str, **options: object) -> models.DataTransformerConfig:
    return models.DataTransformerConfig(id_val=transformation_id, options=options)


def table_columns(
    rename: dict[str, str], *, merge: bool = False, ordered: bool = False
) -> list[models.DataTransformerConfig]:
    """A table's columns from instant queries: their results merged into one row per label
    set (``merge``: several queries, ``Value #A``, ``Value #B``, ...), the time column
    dropped, the rest renamed (and, ``ordered``, shown in the order of ``rename``)."""
    options: dict[str, object] = {"excludeByName": {"Time": True}, "renameByName": rename}
    if ordered:
        options["indexByName"] = {name: index for index, name in enumerate(rename)}
    organize = transformation("organize", **options)
    return [transformation("merge"), organize] if merge else [organize]


def _panel(
    panel: PanelBuilder,
    title: str,
    description: str,
    unit: str,
    targets: Sequence[prometheus.Dataquery],
    width: int,
    height: int,
    overrides: Sequence[Override],
) -> PanelBuilder:
    # Every panel builder of the SDK has these; the TypeVar keeps the concrete type.
    configured: Any = (
        panel.title(title)  # type: ignore[attr-defined]
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .targets(list(targets))
        .span(width)
        .height(height)
    )
    for matcher, properties in overrides:
        configured.with_override(matcher, properties)
    return panel


def timeseries_panel(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[prometheus.Dataquery],
    *,
    width: int = 12,
    height: int = 8,
    minimum: float | None = None,
    maximum: float | None = None,
    threshold_lines: dashboard.ThresholdsConfig | None = None,
    stacked: bool = False,
    bars: bool = False,
    overrides: Sequence[Override] = (),
) -> timeseries.Panel:
    """A time series panel; ``threshold_lines`` draws its thresholds as dashed lines."""
    panel = _panel(timeseries.Panel(), title, description, unit, targets, width, height, overrides)
    panel.line_width(1).fill_opacity(70 if stacked else 10).legend(
        common_builders.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.LIST)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
    ).tooltip(
        common_builders.VizTooltipOptions()
        .mode(common.TooltipDisplayMode.MULTI)
        .sort(common.SortOrder.DESCENDING)
    )
    if minimum is not None:
        panel.min(minimum)
    if maximum is not None:
        panel.max(maximum)
    if threshold_lines is not None:
        panel.thresholds(threshold_lines).thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(
                common.GraphThresholdsStyleMode.DASHED
            )
        )
    if stacked:
        panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    if bars:
        panel.draw_style(common.GraphDrawStyle.BARS)
    return panel


def table_panel(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[prometheus.Dataquery],
    transformations: Sequence[models.DataTransformerConfig],
    *,
    sort_by: str,
    descending: bool = False,
    width: int = 12,
    height: int = 8,
    overrides: Sequence[Override] = (),
) -> table.Panel:
    """A table of instant queries (``query(..., instant=True, table=True)``)."""
    panel = _panel(table.Panel(), title, description, unit, targets, width, height, overrides)
    return panel.transformations(list(transformations)).sort_by(
        [common_builders.TableSortByFieldState().display_name(sort_by).desc(descending)]
    )


def stat_panel(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[prometheus.Dataquery],
    colours: dashboard.ThresholdsConfig,
    *,
    width: int = 6,
    height: int = 4,
    mappings: Sequence[models.ValueMapping] = (),
) -> stat.Panel:
    """A big number (the last value), coloured by ``colours``."""
    panel = _panel(stat.Panel(), title, description, unit, targets, width, height, ())
    panel.thresholds(colours).color_mode(common.BigValueColorMode.BACKGROUND).graph_mode(
        common.BigValueGraphMode.AREA
    ).reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    if mappings:
        panel.mappings(list(mappings))
    return panel


def query_variable(name: str, label: str, query_text: str) -> dashboard.QueryVariable:
    """A multi-value variable of a label's values. "All" is ``.*`` in the queries (they
    match it with ``=~``), not a regex listing thousands of stores."""
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query_text)
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(models.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(models.VariableOption(selected=True, text=["All"], value=["$__all"]))
    )


def custom_variable(
    name: str, label: str, values: Sequence[str], default: str
) -> dashboard.CustomVariable:
    """A single-value variable with fixed choices."""
    return (
        dashboard.CustomVariable(name)
        .label(label)
        .values(",".join(values))
        .current(models.VariableOption(selected=True, text=default, value=default))
        .options(
            [
                models.VariableOption(selected=value == default, text=value, value=value)
                for value in values
            ]
        )
    )


def new_dashboard(
    uid: str, title: str, description: str, tags: Sequence[str]
) -> dashboard.Dashboard:
    """A dashboard with kioskpulse's defaults: read-only (the JSON is generated), shared
    crosshair, refreshed every minute, the last six hours."""
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["kioskpulse", *tags])
        .timezone("browser")
        .time("now-6h", "now")
        .refresh("1m")
        .readonly()
        .tooltip(models.DashboardCursorSync.CROSSHAIR)
    )


def store_window_dashboard(
    uid: str, title: str, description: str, tags: Sequence[str], store_metric: str
) -> dashboard.Dashboard:
    """``new_dashboard`` with the variables of the per-store figures: the stores that have
    ``store_metric``, and the exporter's window."""
    return (
        new_dashboard(uid, title, description, tags)
        .with_variable(query_variable("store", "Store", f"label_values({store_metric}, store)"))
        .with_variable(custom_variable("window", "Window", ["15m", "1h", "24h"], "1h"))
    )
