"""The single-model charts (forecast, history, price, window) and the shared styling: what each
chart must show (naive visible, one colour per forecast, log scales, spans, legends off the data,
drawing into given axes). The several-runs charts: test_plots_summary.py; the series they draw:
test_metrics.py."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.dates import date2num
from matplotlib.figure import Figure

from forecast import metrics, plots

from .conftest import random_walk

# Five hand-checked days: |actual - predicted| = 1 1 2 1 0, |actual - naive| = 1 2 1 4 1.
ACTUAL = np.array([100.0, 102.0, 101.0, 105.0, 104.0])
PREDICTED = np.array([101.0, 101.0, 103.0, 104.0, 104.0])
NAIVE = np.array([99.0, 100.0, 102.0, 101.0, 105.0])


def same_colour(a, b) -> bool:
    return np.allclose(to_rgb(a), to_rgb(b))


def test_one_colour_per_forecast_and_splits_use_others():
    assert plots.colour("GRU") == plots.colour("gru") == plots.colour("GRU seed 43") == "tab:blue"
    assert plots.colour("LSTM seed 43") == plots.colour("lstm") == "tab:orange"
    assert plots.colour("naive (tomorrow = today)") == plots.COLOURS["naive"]
    assert plots.colour("actual close") == plots.COLOURS["actual"] == "black"
    forecast_rgb = {to_rgb(c) for c in plots.COLOURS.values()}
    assert len(forecast_rgb) == len(plots.COLOURS)  # no two forecasts share a colour
    assert not forecast_rgb & {to_rgb(c) for c in plots.SPLIT_COLOURS.values()}
    with pytest.raises(ValueError, match="no colour"):
        plots.colour("ARIMA")


# --- inputs -----------------------------------------------------------------------------------------


def series(days: int, seed: int = 0, start: str = "2021-01-01"):
    """Dates, actual closes, the naive forecast and two fake models close to it."""
    close = random_walk(days + 1, seed, start)
    dates, actual, naive = close.index[1:], close.to_numpy()[1:], close.to_numpy()[:-1]
    rng = np.random.default_rng(seed + 1)
    gru = naive * np.exp(rng.normal(0.0003, 0.003, days))
    lstm = naive * np.exp(rng.normal(-0.0004, 0.004, days))
    return dates, actual, naive, {"GRU": gru, "LSTM": lstm}


def drawn(fig: Figure) -> Figure:
    FigureCanvasAgg(fig).draw()
    return fig


def legends_off_the_data(fig: Figure) -> None:
    """Every legend lies outside its axes (so it covers no data)."""
    drawn(fig)
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None:
            assert not legend.get_window_extent().overlaps(ax.get_window_extent()), ax.get_title()


def labelled_lines_use_their_colour(fig: Figure) -> int:
    """Every line labelled GRU / LSTM / naive / actual has that forecast's colour; returns how many."""
    checked = 0
    for ax in fig.axes:
        for line in ax.get_lines():
            word = line.get_label().split(" ")[0].split(":")[0].lower()
            if word in plots.COLOURS:
                assert same_colour(line.get_color(), plots.COLOURS[word]), (ax.get_title(), line.get_label())
                checked += 1
    return checked


def line(ax: Axes, label_start: str):
    found = [x for x in ax.get_lines() if x.get_label().startswith(label_start)]
    assert len(found) == 1, [x.get_label() for x in ax.get_lines()]
    return found[0]


def by_title(fig: Figure, words: str) -> Axes:
    found = [ax for ax in fig.axes if words in ax.get_title()]
    assert len(found) == 1, [ax.get_title() for ax in fig.axes]
    return found[0]


def span_patches(ax: Axes, split: str):
    return [p for p in ax.patches if same_colour(p.get_facecolor()[:3], plots.SPLIT_COLOURS[split])]


# --- forecast chart -----------------------------------------------------------------------------------


def test_forecast_chart_panels_naive_visible_and_zoomed():
    dates, actual, naive, forecasts = series(200)
    fig = plots.forecast_chart(dates, actual, forecasts, naive, "test period", zoom_days=90)
    zoom, excess, rolling = fig.axes
    # (1) the last 90 days only, naive drawn in its colour under the models, models as points
    for artist in zoom.get_lines():
        assert len(artist.get_xdata()) <= 90
    low, high = zoom.get_xlim()
    assert high - low <= 90 * 1.1
    naive_line = line(zoom, "naive")
    assert same_colour(naive_line.get_color(), plots.COLOURS["naive"])
    assert naive_line.get_ydata() == pytest.approx(naive[-90:])
    for name in forecasts:
        model = line(zoom, name)
        assert model.get_zorder() > naive_line.get_zorder()
        assert model.get_linestyle() == "None"  # points: a line would hide the naive band
        assert naive_line.get_linewidth() > model.get_markersize()  # the band shows around the points
    # (2) cumulative excess over all 200 days, ending at days * (MAE - naive MAE); zero line naive
    for name, predicted in forecasts.items():
        total = 200 * (np.mean(np.abs(actual - predicted)) - np.mean(np.abs(actual - naive)))
        cumulative = line(excess, name)
        assert len(cumulative.get_ydata()) == 200
        assert cumulative.get_ydata()[-1] == pytest.approx(total)
        assert f"{total:+,.0f} USD" in cumulative.get_label()
    assert line(excess, "naive").get_ydata()[0] == 0
    assert "below 0 = model ahead" in excess.get_title()
    # (3) rolling 30-day ratio, NaN until day 30, line at 1 in the naive colour
    ratio = line(rolling, "GRU").get_ydata()
    assert np.isnan(ratio[:29]).all() and np.isfinite(ratio[29:]).all()
    assert ratio == pytest.approx(metrics.rolling_mae_ratio(actual, forecasts["GRU"], naive, 30), nan_ok=True)
    one = line(rolling, "naive")
    assert list(one.get_ydata()) == [1, 1] and same_colour(one.get_color(), plots.COLOURS["naive"])
    assert "30-day" in rolling.get_ylabel()
    assert labelled_lines_use_their_colour(fig) == 10  # 4 in the price panel, 3 in each other
    legends_off_the_data(fig)


def test_forecast_chart_hand_values_in_the_panels():
    dates = pd.date_range("2024-01-01", periods=5)
    fig = plots.forecast_chart(dates, ACTUAL, {"GRU": PREDICTED}, NAIVE, "five days", rolling_days=2)
    _, excess, rolling = fig.axes
    assert line(excess, "GRU").get_ydata() == pytest.approx([0, -1, 0, -3, -4])
    assert line(rolling, "GRU").get_ydata()[1:] == pytest.approx([2 / 3, 1.0, 0.6, 0.2])


def test_forecast_chart_one_cell_with_its_band():
    dates, actual, naive, forecasts = series(120)
    gru = forecasts["GRU"]
    low, high = gru * np.exp(-0.025), gru * np.exp(0.025)
    fig = plots.forecast_chart(dates, actual, {"GRU": gru}, naive, "train", bands={"GRU": (low, high)})
    zoom = fig.axes[0]
    edge = line(zoom, "GRU 80% interval")
    assert same_colour(edge.get_color(), plots.COLOURS["gru"])
    assert edge.get_ydata() == pytest.approx(low[-90:])
    inside = np.mean((actual >= low) & (actual <= high))
    assert f"actual inside on {inside:.0%}" in edge.get_label()
    assert zoom.collections, "one band is shaded"
    assert not any(ax.get_legend_handles_labels()[1].count("LSTM forecast") for ax in fig.axes)
    legends_off_the_data(fig)


def test_evaluate_ranges_no_duplicate_panel_and_log_scale_for_years():
    spans = {"training": ("2020-06-01", "2021-03-01"), "validation": ("2021-03-02", "2021-06-30")}
    dates, actual, naive, forecasts = series(90, start="2021-01-01")
    fig = plots.forecast_chart(dates, actual, forecasts, naive, "90 days", spans=spans, full_range=True)
    assert len(fig.axes) == 3  # no full-range copy of the zoom panel
    assert span_patches(fig.axes[0], "train") and span_patches(fig.axes[0], "validation")

    dates, actual, naive, forecasts = series(200, start="2021-01-01")
    fig = plots.forecast_chart(dates, actual, forecasts, naive, "200 days", spans=spans, full_range=True)
    full = fig.axes[0]
    assert len(fig.axes) == 4 and full.get_yscale() == "linear"
    assert len(line(full, "actual").get_xdata()) == 200
    training = span_patches(full, "train")
    assert len(training) == 1 and "training days 2020-06-01..2021-03-01" in training[0].get_label()
    # shaded only where it overlaps the range: from the range's first day, not from 2020-06-01
    x0 = training[0].get_x()
    assert date2num(dates[0]) - 1 <= x0 <= date2num(dates[0])
    assert span_patches(full, "validation")
    for panel in fig.axes[2:]:  # in-sample days are shaded in the difference panels too
        assert span_patches(panel, "train")

    dates, actual, naive, forecasts = series(900, start="2019-01-01")
    fig = plots.forecast_chart(dates, actual, forecasts, naive, "900 days", full_range=True)
    assert len(fig.axes) == 4 and fig.axes[0].get_yscale() == "log"
    assert all(ax.get_yscale() == "linear" for ax in fig.axes[1:])
    legends_off_the_data(fig)


def test_forecast_chart_draws_into_given_axes():
    dates, actual, naive, forecasts = series(100)
    fig = Figure()
    axes = fig.subplots(3, 1)
    assert plots.forecast_chart(dates, actual, forecasts, naive, "mine", ax=axes) is fig
    assert all(ax.get_lines() for ax in axes) and fig.axes == list(axes)
    assert "mine" in axes[0].get_title()
    with pytest.raises(ValueError, match="4 panel"):
        long_dates, long_actual, long_naive, long_forecasts = series(200)
        plots.forecast_chart(long_dates, long_actual, long_forecasts, long_naive, "mine", full_range=True, ax=axes)
    with pytest.raises(ValueError, match="aligned"):
        plots.forecast_chart(dates[1:], actual, forecasts, naive, "misaligned")


# --- history ----------------------------------------------------------------------------------------


HISTORY = {"loss": [0.45, 0.43, 0.41, 0.405, 0.402, 0.401],
           "val_loss": [0.331, 0.325, 0.3205, 0.3199, 0.3203, 0.3212]}


def test_history_chart_log_scales_best_epoch_and_units():
    fig = plots.history_chart(HISTORY, "GRU training")
    training, validation = fig.axes
    for ax in fig.axes:
        assert ax.get_yscale() == "linear"  # each panel spans less than a factor of 10
        assert "Huber loss" in ax.get_ylabel() and "scaled daily log return" in ax.get_ylabel()
        fig.canvas.draw()
        labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        assert len(labels) == len(set(labels)) > 2, labels  # ticks tell the small changes apart
        best = line(ax, "best epoch")
        assert list(best.get_xdata()) == [4, 4]  # argmin of val_loss, 1-based
    assert line(validation, "validation loss").get_ydata() == pytest.approx(HISTORY["val_loss"])
    star = [x for x in validation.get_lines() if x.get_marker() == "*"]
    assert len(star) == 1 and star[0].get_xdata()[0] == 4 and star[0].get_ydata()[0] == 0.3199
    cells = {to_rgb(plots.COLOURS["gru"]), to_rgb(plots.COLOURS["lstm"])}
    for ax in fig.axes:
        for artist in ax.get_lines():
            assert to_rgb(artist.get_color()) not in cells
    assert same_colour(line(training, "training loss").get_color(), plots.SPLIT_COLOURS["train"])
    legends_off_the_data(fig)


def test_history_chart_options():
    mse = plots.history_chart(HISTORY, loss="mse", best_epoch=2)
    assert "squared" in mse.axes[0].get_ylabel()
    assert list(line(mse.axes[1], "best epoch").get_xdata()) == [2, 2]
    alone = plots.history_chart({"loss": [1.0, 0.5, 0.4]})
    assert len(alone.axes) == 1 and alone.axes[0].get_yscale() == "linear"
    wide = plots.history_chart({"loss": [50.0, 2.0, 0.4], "val_loss": [40.0, 1.0, 0.5]})
    assert [a.get_yscale() for a in wide.axes] == ["log", "log"]  # early epochs would flatten the rest
    fig = Figure()
    ax = fig.subplots()
    assert plots.history_chart(HISTORY, ax=ax) is fig
    assert ax.get_yscale() == "linear" and len([x for x in ax.get_lines() if "loss" in x.get_label()]) == 2
    pair = Figure().subplots(2, 1)
    plots.history_chart(HISTORY, ax=pair)
    assert all(a.get_lines() for a in pair)


# --- data charts ------------------------------------------------------------------------------------


def test_price_chart_splits_shaded_in_split_colours():
    close = random_walk(400)
    split = {"train": {"first": "2021-01-01", "last": "2021-09-30", "days": 273},
             "val": {"first": "2021-10-01", "last": "2021-12-31", "days": 92},
             "test": {"first": "2022-01-01", "last": "2022-02-04", "days": 35}}
    fig = plots.price_chart(close, split)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    for name in ("train", "validation", "test"):
        assert len(span_patches(ax, name)) == 1
    cells = {to_rgb(plots.COLOURS["gru"]), to_rgb(plots.COLOURS["lstm"])}
    assert not [p for p in ax.patches if to_rgb(p.get_facecolor()[:3]) in cells]
    legends_off_the_data(fig)
    mine = Figure().subplots()
    assert plots.price_chart(close, ax=mine) is mine.figure and mine.get_lines()


def test_window_chart_colours_and_axes():
    days = pd.date_range("2024-01-01", periods=31)
    window, scaled = np.linspace(40_000, 42_000, 30), np.linspace(-1, 1, 30)
    fig = plots.window_chart(days, window, 42_500.0, scaled, 0.7)
    usd, _ = fig.axes
    assert same_colour(usd.get_lines()[0].get_color(), plots.COLOURS["actual"])
    assert same_colour(usd.get_lines()[1].get_color(), plots.TARGET_COLOUR)
    cells = {to_rgb(plots.COLOURS["gru"]), to_rgb(plots.COLOURS["lstm"])}
    assert not [x for ax in fig.axes for x in ax.get_lines() if to_rgb(x.get_color()) in cells]
    legends_off_the_data(fig)
    pair = Figure().subplots(1, 2)
    assert plots.window_chart(days, window, 42_500.0, scaled, 0.7, ax=pair) is pair[0].figure


def test_no_pyplot():
    source = Path(plots.__file__).read_text()
    assert "pyplot" not in source.replace("no global pyplot state", "")


# --- issue 17: axes that label their span, readable long ranges, legends that say what is drawn ------


def tick_texts(ax: Axes) -> tuple[list[str], str]:
    """The x tick labels drawn (ticks inside the view only) and the offset text under the axis."""
    return [t.get_text() for t in ax.get_xticklabels() if t.get_text()], ax.xaxis.get_offset_text().get_text()


@pytest.mark.parametrize(("first", "days", "offset"), [
    ("2025-10-01", 92, "2025"),          # Oct-Dec: was labelled "2026-Jan", with a "Jan" tick past the data
    ("2025-11-15", 80, "2025–2026"),     # across New Year: both years
    ("2025-12-03", 20, "2025-Dec"),      # within one month: the ticks are day numbers
    ("2019-01-01", 1500, "2019–2023"),   # half-years on the ticks: "Jul" needs its years
    ("2012-01-01", 5000, ""),            # only years on the ticks: they say it all
])
def test_every_date_axis_labels_the_span_it_shows(first, days, offset):
    dates, actual, naive, forecasts = series(days, start=f"{pd.Timestamp(first) - pd.Timedelta(days=1):%Y-%m-%d}")
    last = dates[-1]
    assert dates[0] == pd.Timestamp(first) and len(dates) == days
    fig = drawn(plots.forecast_chart(dates, actual, forecasts, naive, "range", full_range=True))
    for ax in fig.axes:
        labels, shown = tick_texts(ax)
        first_shown = dates[-90] if ax.get_title().startswith("last 90 of") else dates[0]
        if first_shown == dates[0]:
            assert shown == offset, (ax.get_title(), shown)
        else:  # the zoom on the last 90 days: their own year(s)
            assert shown and set(re.findall(r"\d{4}", shown)) <= {f"{first_shown:%Y}", f"{last:%Y}"}, shown
        years = {int(x) for x in labels if x.isdigit() and len(x) == 4}
        assert years <= set(range(first_shown.year, last.year + 1)), (ax.get_title(), labels)
        low, high = ax.get_xlim()  # no room for a tick on a day without data
        assert date2num(first_shown) - 1 < low and high < date2num(last) + 1
    if (first, days) == ("2025-10-01", 92):
        assert all("Jan" not in x for ax in fig.axes for x in tick_texts(ax)[0])


def test_price_chart_labels_its_span():
    close = random_walk(92, start="2025-10-01")
    assert tick_texts(drawn(plots.price_chart(close)).axes[0])[1] == "2025"


@pytest.mark.parametrize(("days", "period", "values"), [(900, "month", 30), (2000, "quarter", 22), (4000, "year", 11)])
def test_long_ranges_get_one_ratio_per_calendar_period(days, period, values):
    """A rolling 30-day ratio over years is a band of noise: one ratio per month, quarter or year."""
    dates, actual, naive, forecasts = series(days, start="2015-01-01")
    fig = plots.forecast_chart(dates, actual, forecasts, naive, "years", full_range=True)
    ratio_panel = fig.axes[-1]
    assert f"per calendar {period}" in ratio_panel.get_title() and "rolling 30-day" not in ratio_panel.get_title()
    step = line(ratio_panel, "GRU")
    assert step.get_drawstyle() == "steps-post" and len(step.get_ydata()) == values + 1
    freq = {"month": "M", "quarter": "Q", "year": "Y"}[period]
    expected = metrics.period_mae_ratio(dates, actual, forecasts["GRU"], naive, freq)[2]
    assert step.get_ydata()[:-1] == pytest.approx(expected)
    short = plots.forecast_chart(*series(700)[:2], series(700)[3], series(700)[2], "two years", full_range=True)
    assert "rolling 30-day" in short.axes[-1].get_title()  # two years or less: still rolling


def test_whole_range_chart_draws_nothing_under_the_actual_line():
    """Over years a forecast lies under the actual close: the whole-range panel draws the actual
    close alone and says where the forecasts are; the zoom shows naive, models and actual apart."""
    dates, actual, naive, forecasts = series(1500, start="2019-01-01")
    fig = plots.forecast_chart(dates, actual, forecasts, naive, "all", full_range=True)
    full, zoom = fig.axes[:2]
    assert [x.get_label() for x in full.get_lines()] == ["actual close"]
    assert "the panels below tell them apart" in full.get_title()
    naive_band, actual_line = line(zoom, "naive"), line(zoom, "actual")
    for name in forecasts:
        points = line(zoom, name)
        assert points.get_linestyle() == "None" and points.get_marker() not in ("", "None", None)
        assert naive_band.get_zorder() < points.get_zorder() < actual_line.get_zorder()
    assert naive_band.get_linewidth() > actual_line.get_linewidth()
    # A range only a little longer than the zoom gets no whole-range copy of it: the zoom shows all.
    fig = plots.forecast_chart(*series(92)[:2], series(92)[3], series(92)[2], "92", full_range=True)
    assert len(fig.axes) == 3 and fig.axes[0].get_title().startswith("all 92 days")


def test_history_chart_integer_epochs_and_linear_loss_axes_from_zero():
    """Epochs are whole numbers; a linear loss axis starts at 0, so noise in the 4th digit stays flat."""
    flat = {"loss": [0.9, 0.55, 0.33], "val_loss": [0.20121, 0.20119, 0.20133]}
    fig = drawn(plots.history_chart(flat))
    for ax in fig.axes:
        assert ax.get_ylim()[0] == 0 and ax.get_yscale() == "linear"
        shown = [x for x in ax.get_xticks() if ax.get_xlim()[0] <= x <= ax.get_xlim()[1]]
        assert shown and all(float(x).is_integer() for x in shown), shown
        low, high = ax.get_xlim()
        assert [t.get_text() for t in ax.get_xticklabels() if low <= t.get_position()[0] <= high] == ["1", "2", "3"]
    wide = plots.history_chart({"loss": [50.0, 2.0, 0.4], "val_loss": [40.0, 1.0, 0.5]})
    assert all(ax.get_yscale() == "log" and ax.get_ylim()[0] > 0 for ax in wide.axes)
    drawn(wide)
    for ax in wide.axes:  # minor labels only at 2, 3 and 5 (all eight ran into each other)
        low, high = ax.get_ylim()
        minor = [t.get_text() for t in ax.get_yticklabels(minor=True) if low <= t.get_position()[1] <= high]
        assert [x for x in minor if x] and all(x.lstrip("0.")[0] in "235" for x in minor if x), minor


@pytest.mark.parametrize("ticks, signed, labels", [
    ([80_000, 90_000, 100_000], False, ["$80,000", "$90,000", "$100,000"]),      # BTC: as before
    ([0.5, 0.55, 0.6], False, ["$0.50", "$0.55", "$0.60"]),                      # XRP: never "$1" three times
    ([-0.02, 0.0, 0.02], True, ["−$0.02", "$0", "+$0.02"]),
    ([-2000, 0, 2000], True, ["−$2,000", "$0", "+$2,000"]),
])
def test_money_ticks_show_every_tick_apart_at_any_price(ticks, signed, labels):
    money = plots.Money(signed=signed)
    money.set_locs(ticks)
    assert [money(t) for t in ticks] == labels
