"""The charts: the two difference helpers against hand-computed values, and what each chart
must show (naive visible, one colour per forecast, log scales, spans, error bars, p-values,
legends off the data, drawing into given axes)."""

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.container import ErrorbarContainer
from matplotlib.dates import date2num
from matplotlib.figure import Figure

from forecast import plots

from .conftest import random_walk

# Five hand-checked days: |actual - predicted| = 1 1 2 1 0, |actual - naive| = 1 2 1 4 1.
ACTUAL = np.array([100.0, 102.0, 101.0, 105.0, 104.0])
PREDICTED = np.array([101.0, 101.0, 103.0, 104.0, 104.0])
NAIVE = np.array([99.0, 100.0, 102.0, 101.0, 105.0])


def same_colour(a, b) -> bool:
    return np.allclose(to_rgb(a), to_rgb(b))


def test_cumulative_excess_error_by_hand():
    # differences 0 -1 +1 -3 -1
    assert plots.cumulative_excess_error(ACTUAL, PREDICTED, NAIVE) == pytest.approx([0, -1, 0, -3, -4])
    # the total is days * (model MAE - naive MAE)
    assert plots.cumulative_excess_error(ACTUAL, PREDICTED, NAIVE)[-1] == pytest.approx(5 * (1.0 - 1.8))


def test_rolling_mae_ratio_by_hand():
    # 2-day means: model 1, 1.5, 1.5, 0.5; naive 1.5, 1.5, 2.5, 2.5
    ratio = plots.rolling_mae_ratio(ACTUAL, PREDICTED, NAIVE, days=2)
    assert math.isnan(ratio[0])
    assert ratio[1:] == pytest.approx([2 / 3, 1.0, 0.6, 0.2])
    assert np.isnan(plots.rolling_mae_ratio(ACTUAL, PREDICTED, NAIVE, days=3)[:2]).all()
    assert plots.rolling_mae_ratio(ACTUAL, PREDICTED, NAIVE, days=1) == pytest.approx([1, 0.5, 2, 0.25, 0])


def test_rolling_mae_ratio_is_nan_where_naive_is_exact():
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    naive = np.array([1.0, 2.0, 3.0, 5.0])       # exact on the first three days
    predicted = np.array([2.0, 2.0, 3.0, 4.0])
    ratio = plots.rolling_mae_ratio(actual, predicted, naive, days=2)
    assert np.isnan(ratio[:3]).all()
    assert ratio[3] == 0.0


def test_helpers_reject_misaligned_arrays():
    with pytest.raises(ValueError, match="same length"):
        plots.cumulative_excess_error(ACTUAL, PREDICTED[:4], NAIVE)
    with pytest.raises(ValueError, match="same length"):
        plots.rolling_mae_ratio(ACTUAL, PREDICTED, NAIVE[:3], days=2)


def test_one_colour_per_forecast_and_splits_use_others():
    assert plots.colour("GRU") == plots.colour("gru") == plots.colour("GRU seed 43") == "tab:blue"
    assert plots.colour("LSTM seed 43") == plots.colour("lstm") == "tab:orange"
    assert plots.colour("naive (tomorrow = today)") == plots.COLOURS["naive"]
    assert plots.colour("actual close") == plots.COLOURS["actual"] == "black"
    forecast_rgb = {to_rgb(c) for c in plots.COLOURS.values()}
    assert len(forecast_rgb) == len(plots.COLOURS)  # no two forecasts share a colour
    assert not forecast_rgb & {to_rgb(c) for c in plots.SPLIT_COLOURS.values()}
    assert plots.split_colour("val") == plots.split_colour("validation") == plots.SPLIT_COLOURS["validation"]
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
    assert ratio == pytest.approx(plots.rolling_mae_ratio(actual, forecasts["GRU"], naive, 30), nan_ok=True)
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


# --- comparison -------------------------------------------------------------------------------------


def comparison(days: int = 200) -> Figure:
    dates, actual, naive, forecasts = series(days)
    return plots.comparison_chart(
        dates, actual, forecasts, naive,
        mae_ratio={"GRU": 1.0042, "LSTM": 1.0113}, mae_ratio_std={"GRU": 0.0021, "LSTM": 0.0035},
        seeds=3, seed_shown=42, dm_p_vs_naive={"GRU": 0.412, "LSTM": 0.0383}, dm_p_between=0.221,
        us_per_window={"GRU": 41.3, "LSTM": 52.8}, train_s_per_epoch={"GRU": 1.84, "LSTM": 2.27})


def test_comparison_ratio_panel_error_bars_and_p_values():
    fig = comparison()
    ratio = by_title(fig, "relative to naive (below 1")
    assert "std over 3 seeds" in ratio.get_title() and "GRU vs LSTM: DM p = 0.221" in ratio.get_title()
    bars = [c for c in ratio.containers if isinstance(c, ErrorbarContainer)]
    for container, (name, mean, std) in zip(bars, [("GRU", 1.0042, 0.0021), ("LSTM", 1.0113, 0.0035)]):
        data_line, _, (segments,) = container.lines
        assert same_colour(data_line.get_color(), plots.COLOURS[name.lower()])
        ((_, y_low), (_, y_high)), = segments.get_segments()
        assert (y_low, y_high) == pytest.approx((mean - std, mean + std))
    texts = " ".join(t.get_text() for t in ratio.texts)
    assert "p = 0.412" in texts and "p = 0.038" in texts and "naive = 1" in texts
    assert any(list(x.get_ydata()) == [1, 1] for x in ratio.get_lines())
    lo, hi = ratio.get_ylim()
    assert lo < 1 - 0.0021 and hi > 1.0113 + 0.0035


def test_comparison_says_which_seed_the_forecast_panels_show():
    fig = comparison()
    zoom = by_title(fig, "next-day forecasts")
    assert zoom.get_title() == ("last 90 of 200 days: next-day forecasts of seed 42 (as in the two panels below); "
                                "the bottom-left MAE ratios are the mean of 3 seeds")


def test_comparison_speed_panels_show_the_numbers():
    fig = comparison()
    for words, values, text in (("per window", (41.3, 52.8), ("41.3 µs", "52.8 µs")),
                                ("per epoch", (1.84, 2.27), ("1.84 s", "2.27 s"))):
        ax = by_title(fig, words)
        assert [p.get_height() for p in ax.patches] == pytest.approx(values)
        assert [same_colour(p.get_facecolor()[:3], c) for p, c in zip(ax.patches, ("tab:blue", "tab:orange"))] \
            == [True, True]
        labels = [t.get_text() for t in ax.texts]
        assert all(t in labels for t in text)
    assert "GRU / LSTM = 0.78×" in by_title(fig, "per window").get_xlabel()


def test_comparison_forecast_panels_name_the_seed_and_keep_legends_off():
    fig = comparison()
    zoom = by_title(fig, "next-day forecasts")
    assert "seed 42" in zoom.get_title() and "3 seeds" in zoom.get_title()
    assert line(zoom, "naive") and line(by_title(fig, "cumulative"), "LSTM")
    assert by_title(fig, "rolling 30-day")
    assert not [ax for ax in fig.axes if "latency" in ax.get_title().lower()]
    assert labelled_lines_use_their_colour(fig) >= 10
    legends_off_the_data(fig)


def test_latency_chart_is_gone():
    assert not hasattr(plots, "latency_chart")


# --- backtest ---------------------------------------------------------------------------------------


def test_backtest_chart_folds_spread_and_cumulative_line():
    dates, actual, naive, forecasts = series(120)
    starts = dates[::30]
    ends = starts + pd.Timedelta(days=29)
    ratio = {"GRU": np.array([1.01, 0.99, 1.03, 1.0]), "LSTM": np.array([1.02, 1.0, 0.98, 1.04])}
    low = {k: v - 0.01 for k, v in ratio.items()}
    high = {k: v + np.array([0.02, 0.01, 0.03, 0.01]) for k, v in ratio.items()}
    excess = {k: plots.cumulative_excess_error(actual, v, naive) for k, v in forecasts.items()}
    fig = plots.backtest_chart(starts, ends, ratio, low, high, dates, excess)
    top, bottom = fig.axes
    for container, name in zip([c for c in top.containers if isinstance(c, ErrorbarContainer)], ratio):
        data_line, _, (segments,) = container.lines
        assert data_line.get_ydata() == pytest.approx(ratio[name])
        assert same_colour(data_line.get_color(), plots.COLOURS[name.lower()])
        assert [s[0][1] for s in segments.get_segments()] == pytest.approx(low[name])
        assert [s[1][1] for s in segments.get_segments()] == pytest.approx(high[name])
    assert any(list(x.get_ydata()) == [1, 1] for x in top.get_lines())
    for name, values in excess.items():
        assert line(bottom, name).get_ydata()[-1] == pytest.approx(values[-1])
    boundaries = [x for x in bottom.get_lines() if x.get_linestyle() == ":"]
    assert len(boundaries) == 5  # 4 folds: 5 edges
    assert top.get_shared_x_axes().joined(top, bottom)
    assert labelled_lines_use_their_colour(fig) >= 4
    legends_off_the_data(fig)
    pair = Figure().subplots(2, 1)
    assert plots.backtest_chart(starts, ends, ratio, low, high, dates, excess, ax=pair) is pair[0].figure
    with pytest.raises(ValueError, match="4 folds"):
        plots.backtest_chart(starts, ends, {"GRU": ratio["GRU"][:3]}, low, high, dates, excess)
    with pytest.raises(ValueError, match="consecutive folds"):
        plots.backtest_chart(starts, ends - pd.Timedelta(days=1), ratio, low, high, dates, excess)


def test_backtest_chart_draws_a_shorter_last_fold_as_it_is():
    """--first-test keeps a last fold shorter than --step: its step, marker and boundary end on its
    own last day, not --step days after its start."""
    dates, actual, naive, forecasts = series(72)
    starts = pd.DatetimeIndex([dates[0], dates[30], dates[60]])
    ends = pd.DatetimeIndex([dates[29], dates[59], dates[71]])         # 30, 30 and 12 days
    ratio = {"GRU": np.array([1.01, 0.99, 1.03])}
    excess = {"GRU": plots.cumulative_excess_error(actual, forecasts["GRU"], naive)}
    fig = plots.backtest_chart(starts, ends, ratio, ratio, ratio, dates, excess)
    top, bottom = fig.axes
    end = date2num(dates[71] + pd.Timedelta(days=1))
    boundaries = [date2num(x.get_xdata()[0]) for x in bottom.get_lines() if x.get_linestyle() == ":"]
    assert boundaries[-1] == pytest.approx(end)
    (step,) = [x for x in top.get_lines() if x.get_drawstyle() == "steps-post"]
    assert date2num(step.get_xdata()[-1]) == pytest.approx(end)
    marker = line(top, "GRU: one seed")  # one seed: a marker mid-fold, no error bars
    assert date2num(marker.get_xdata()[-1]) == pytest.approx(date2num(dates[60] + pd.Timedelta(days=6)))
    assert fig.get_suptitle() == "walk-forward backtest: 3 folds of 30 days (the last 12), 2021-01-02..2021-03-14"
    assert top.get_title() == "MAE relative to naive per fold: below 1 = model ahead of naive"


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


def test_ratio_chart_alone_and_into_axes():
    ax = Figure().subplots()
    fig = plots.ratio_chart({"GRU": 0.99, "LSTM": 1.01}, {"GRU": None, "LSTM": 0.002}, ax=ax, seeds=1)
    assert fig is ax.figure and "one seed" in ax.get_title()


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


def test_backtest_and_data_charts_label_their_span():
    starts = pd.date_range("2025-01-06", periods=12, freq="30D")
    ends = starts + pd.Timedelta(days=29)                      # up to 2025-12-31
    days = pd.date_range(starts[0], ends[-1])
    ratio = {"GRU": np.full(12, 1.01)}
    fig = drawn(plots.backtest_chart(starts, ends, ratio, ratio, ratio, days, {"GRU": np.zeros(len(days))}))
    for ax in fig.axes:
        labels, shown = tick_texts(ax)
        assert shown == "2025" and "2026" not in labels, labels   # the last fold ends on 2025-12-31
    close = random_walk(92, start="2025-10-01")
    assert tick_texts(drawn(plots.price_chart(close)).axes[0])[1] == "2025"


def test_period_mae_ratio_by_hand():
    # 2024-12-30..2025-01-03; |actual - predicted| = 1 1 | 2 1 0, |actual - naive| = 1 2 | 1 4 1.
    dates = pd.date_range("2024-12-30", periods=5)
    first, last, ratio = plots.period_mae_ratio(dates, ACTUAL, PREDICTED, NAIVE, "Y")
    assert list(first) == [pd.Timestamp("2024-12-30"), pd.Timestamp("2025-01-01")]
    assert list(last) == [pd.Timestamp("2024-12-31"), pd.Timestamp("2025-01-03")]
    assert ratio == pytest.approx([1 / 1.5, 1 / 2])
    _, _, flat = plots.period_mae_ratio(dates, ACTUAL, PREDICTED, ACTUAL, "M")  # naive exact: no ratio
    assert np.isnan(flat).all()


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
    expected = plots.period_mae_ratio(dates, actual, forecasts["GRU"], naive, freq)[2]
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


@pytest.mark.parametrize("seeds", [1, 3])
def test_backtest_legend_mentions_seed_bars_only_with_several_seeds(seeds):
    dates, actual, naive, forecasts = series(60)
    starts, ends = dates[::30], dates[::30] + pd.Timedelta(days=29)
    ratio = {"GRU": np.array([1.01, 0.99])}
    low, high = ({"GRU": ratio["GRU"] - 0.01}, {"GRU": ratio["GRU"] + 0.01}) if seeds > 1 else (ratio, ratio)
    fig = plots.backtest_chart(starts, ends, ratio, low, high, dates,
                               {"GRU": plots.cumulative_excess_error(actual, forecasts["GRU"], naive)}, seeds=seeds)
    top = fig.axes[0]
    labels = top.get_legend_handles_labels()[1]
    bars = [c for c in top.containers if isinstance(c, ErrorbarContainer)]
    if seeds == 1:
        assert not bars and not any("seed min..max" in x or "bars" in x for x in labels), labels
        assert "GRU: one seed (median fold 1.000)" in labels
    else:
        assert len(bars) == 1 and "GRU: mean over 3 seeds, bars seed min..max\n(median fold 1.000)" in labels


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


def test_ratio_chart_says_when_there_is_no_ratio():
    fig = drawn(plots.ratio_chart({"GRU": math.nan, "LSTM": 1.01}))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "n/a (naive's error is 0)" in texts and "nan" not in " ".join(texts)
