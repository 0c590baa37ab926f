"""The charts that put several runs side by side: the comparison (forecast panels of one seed,
MAE ratios with error bars and p-values, speed panels), the ratio chart and the backtest's folds."""

import math
import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.dates import date2num
from matplotlib.figure import Figure

from forecast import metrics, plots, plots_summary

from .test_plots import (
    by_title,
    drawn,
    labelled_lines_use_their_colour,
    legends_off_the_data,
    line,
    same_colour,
    series,
    tick_texts,
)


# --- comparison -------------------------------------------------------------------------------------


def comparison(days: int = 200) -> Figure:
    dates, actual, naive, forecasts = series(days)
    return plots_summary.comparison_chart(
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


def test_ratio_chart_alone_and_into_axes():
    ax = Figure().subplots()
    fig = plots_summary.ratio_chart({"GRU": 0.99, "LSTM": 1.01}, {"GRU": None, "LSTM": 0.002}, ax=ax, seeds=1)
    assert fig is ax.figure and "one seed" in ax.get_title()


def test_ratio_chart_says_when_there_is_no_ratio():
    fig = drawn(plots_summary.ratio_chart({"GRU": math.nan, "LSTM": 1.01}))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "n/a (naive's error is 0)" in texts and "nan" not in " ".join(texts)


def test_latency_chart_is_gone():
    assert not hasattr(plots, "latency_chart") and not hasattr(plots_summary, "latency_chart")


# --- backtest ---------------------------------------------------------------------------------------


def test_backtest_chart_folds_spread_and_cumulative_line():
    dates, actual, naive, forecasts = series(120)
    starts = dates[::30]
    ends = starts + pd.Timedelta(days=29)
    ratio = {"GRU": np.array([1.01, 0.99, 1.03, 1.0]), "LSTM": np.array([1.02, 1.0, 0.98, 1.04])}
    low = {k: v - 0.01 for k, v in ratio.items()}
    high = {k: v + np.array([0.02, 0.01, 0.03, 0.01]) for k, v in ratio.items()}
    excess = {k: metrics.cumulative_excess_error(actual, v, naive) for k, v in forecasts.items()}
    fig = plots_summary.backtest_chart(starts, ends, ratio, low, high, dates, excess)
    top, bottom, gap = fig.axes
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
    assert top.get_shared_x_axes().joined(top, bottom) and top.get_shared_x_axes().joined(top, gap)
    # GRU − LSTM: the difference of the two cumulative excess errors (naive's error cancels)
    difference = line(gap, "difference")
    assert difference.get_ydata() == pytest.approx(excess["GRU"] - excess["LSTM"])
    assert difference.get_label() == f"difference: {excess['GRU'][-1] - excess['LSTM'][-1]:+,.0f} USD in total"
    assert gap.get_title() == "cumulative |GRU error| − |LSTM error| (seed means): below 0 = GRU ahead of LSTM"
    assert [c.get_label() for c in gap.collections] == ["GRU ahead of LSTM so far", "LSTM ahead of GRU so far"]
    assert same_colour(gap.collections[0].get_facecolor()[0][:3], plots.COLOURS["gru"])
    assert same_colour(gap.collections[1].get_facecolor()[0][:3], plots.COLOURS["lstm"])
    assert labelled_lines_use_their_colour(fig) >= 4
    legends_off_the_data(fig)
    three = Figure().subplots(3, 1)
    assert plots_summary.backtest_chart(starts, ends, ratio, low, high, dates, excess, ax=three) is three[0].figure
    with pytest.raises(ValueError, match=r"^this chart draws 3 panel\(s\); got 2 axes$"):
        plots_summary.backtest_chart(starts, ends, ratio, low, high, dates, excess, ax=Figure().subplots(2, 1))
    with pytest.raises(ValueError, match="4 folds"):
        plots_summary.backtest_chart(starts, ends, {"GRU": ratio["GRU"][:3]}, low, high, dates, excess)
    with pytest.raises(ValueError, match="consecutive folds"):
        plots_summary.backtest_chart(starts, ends - pd.Timedelta(days=1), ratio, low, high, dates, excess)


def test_backtest_chart_draws_a_shorter_last_fold_as_it_is():
    """--first-test keeps a last fold shorter than --step: its step, marker and boundary end on its
    own last day, not --step days after its start."""
    dates, actual, naive, forecasts = series(72)
    starts = pd.DatetimeIndex([dates[0], dates[30], dates[60]])
    ends = pd.DatetimeIndex([dates[29], dates[59], dates[71]])         # 30, 30 and 12 days
    ratio = {"GRU": np.array([1.01, 0.99, 1.03])}
    excess = {"GRU": metrics.cumulative_excess_error(actual, forecasts["GRU"], naive)}
    fig = plots_summary.backtest_chart(starts, ends, ratio, ratio, ratio, dates, excess)
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


def test_backtest_chart_labels_its_span():
    starts = pd.date_range("2025-01-06", periods=12, freq="30D")
    ends = starts + pd.Timedelta(days=29)                      # up to 2025-12-31
    days = pd.date_range(starts[0], ends[-1])
    ratio = {"GRU": np.full(12, 1.01)}
    fig = drawn(plots_summary.backtest_chart(starts, ends, ratio, ratio, ratio, days, {"GRU": np.zeros(len(days))}))
    for ax in fig.axes:
        labels, shown = tick_texts(ax)
        assert shown == "2025" and "2026" not in labels, labels   # the last fold ends on 2025-12-31


@pytest.mark.parametrize("seeds", [1, 3])
def test_backtest_legend_mentions_seed_bars_only_with_several_seeds(seeds):
    dates, actual, naive, forecasts = series(60)
    starts, ends = dates[::30], dates[::30] + pd.Timedelta(days=29)
    ratio = {"GRU": np.array([1.01, 0.99])}
    low, high = ({"GRU": ratio["GRU"] - 0.01}, {"GRU": ratio["GRU"] + 0.01}) if seeds > 1 else (ratio, ratio)
    fig = plots_summary.backtest_chart(starts, ends, ratio, low, high, dates,
                                       {"GRU": metrics.cumulative_excess_error(actual, forecasts["GRU"], naive)},
                                       seeds=seeds)
    top = fig.axes[0]
    labels = top.get_legend_handles_labels()[1]
    bars = [c for c in top.containers if isinstance(c, ErrorbarContainer)]
    if seeds == 1:
        assert not bars and not any("seed min..max" in x or "bars" in x for x in labels), labels
        assert "GRU: one seed (median fold 1.000)" in labels
    else:
        assert len(bars) == 1 and "GRU: mean over 3 seeds, bars seed min..max\n(median fold 1.000)" in labels


def test_no_pyplot():
    assert "pyplot" not in Path(plots_summary.__file__).read_text()


def yearly_inputs(folds: int, first: str = "2023-06-01"):
    """`folds` consecutive 30-day folds from `first`, two cells, and per calendar year made-up ratios."""
    dates, actual, naive, forecasts = series(30 * folds, start=str(pd.Timestamp(first) - pd.Timedelta(days=1)))
    starts = dates[::30]
    ends = starts + pd.Timedelta(days=29)
    ratio = {"GRU": np.full(folds, 1.01), "LSTM": np.full(folds, 0.99)}
    years = sorted(set(dates.year))
    year_ratio = {"GRU": np.linspace(1.02, 0.99, len(years)), "LSTM": np.linspace(0.98, 1.01, len(years))}
    return dict(fold_starts=starts, fold_ends=ends, ratio=ratio, ratio_low=ratio, ratio_high=ratio, dates=dates,
                excess={k: metrics.cumulative_excess_error(actual, v, naive) for k, v in forecasts.items()},
                close=actual, years=years, year_ratio=year_ratio,
                year_low={k: v - 0.01 for k, v in year_ratio.items()},
                year_high={k: v + 0.02 for k, v in year_ratio.items()}, seeds=2)


def test_backtest_chart_over_many_folds_shows_one_ratio_per_year():
    """34 folds, 2022-03-01..2024-12-14 (1020 days): one marker per year and cell with its seed bars
    and value, no fold steps or fold lines; year lines and year names on every panel; the closes
    behind every panel on a log scale."""
    inputs = yearly_inputs(34, "2022-03-01")
    assert inputs["years"] == [2022, 2023, 2024]
    fig = drawn(plots_summary.backtest_chart(**inputs))
    top, middle, gap, *twins = fig.axes
    assert len(twins) == 3
    assert top.get_title() == ("MAE relative to naive per calendar year (all the year's out-of-sample days): "
                               "below 1 = model ahead of naive")
    assert top.get_ylabel() == "year's MAE / naive MAE"
    assert middle.get_ylabel() == gap.get_ylabel() == "USD, summed over days"
    bars = [c for c in top.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 2
    for container, name in zip(bars, ["GRU", "LSTM"]):
        data_line, _, (segments,) = container.lines
        assert data_line.get_ydata() == pytest.approx(inputs["year_ratio"][name])  # 3 years: 3 points
        assert container.get_label() == f"{name}: year's MAE ratio, mean over 2 seeds, bars seed min..max"
        assert [s[0][1] for s in segments.get_segments()] == pytest.approx(inputs["year_low"][name])
        assert [s[1][1] for s in segments.get_segments()] == pytest.approx(inputs["year_high"][name])
    gru_x, lstm_x = (date2num(c.lines[0].get_xdata()) for c in bars)
    assert (gru_x < lstm_x).all()
    assert gru_x[0] > date2num(pd.Timestamp("2022-03-01")) and lstm_x[-1] < date2num(pd.Timestamp("2025-01-01"))
    assert [t.get_text() for t in top.texts] == ["1.020", "1.005", "0.990", "0.980", "0.995", "1.010"]
    for ax in (top, middle, gap):
        assert not [x for x in ax.get_lines() if x.get_drawstyle() == "steps-post" or x.get_linestyle() == ":"]
        year_lines = [x for x in ax.get_lines() if x.get_color() == "0.45"]
        assert [pd.Timestamp(x.get_xdata()[0]).date() for x in year_lines] == [date(2023, 1, 1), date(2024, 1, 1)]
        assert [t.get_text() for t in ax.get_xticklabels(minor=True)] == ["2022", "2023", "2024"]
        assert not [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        assert [t.get_text() for t in ax.get_legend().get_texts()][-1] == "close (right axis, log scale)"
    for twin in twins:
        assert twin.get_yscale() == "log"
        (backdrop,) = twin.get_lines()
        assert backdrop.get_ydata() == pytest.approx(inputs["close"])
    legends_off_the_data(fig)


@pytest.mark.parametrize(("folds", "by_year"), [(24, False), (25, True)])
def test_backtest_chart_shows_folds_up_to_24_and_years_beyond(folds, by_year):
    inputs = yearly_inputs(folds)
    top = plots_summary.backtest_chart(**inputs).axes[0]
    steps = [x for x in top.get_lines() if x.get_drawstyle() == "steps-post"]
    assert len(steps) == (0 if by_year else 2)
    assert top.get_ylabel() == ("year's MAE / naive MAE" if by_year else "fold MAE / naive MAE")
    points = [len(c.lines[0].get_xdata()) for c in top.containers if isinstance(c, ErrorbarContainer)]
    assert points == [3, 3] if by_year else points == [folds, folds]


def test_backtest_chart_within_one_year_shows_folds_on_a_linear_backdrop():
    inputs = yearly_inputs(12, "2025-01-01")
    assert inputs["years"] == [2025]
    fig = drawn(plots_summary.backtest_chart(**inputs))
    top, middle, gap, *twins = fig.axes
    assert top.get_ylabel() == "fold MAE / naive MAE"
    assert len([x for x in top.get_lines() if x.get_linestyle() == ":"]) == 13  # 12 folds: 13 edges
    assert not [x for x in top.get_lines() if x.get_color() == "0.45"]  # no year boundary inside
    assert [t.get_yscale() for t in twins] == ["linear"] * 3
    assert twins[0].get_lines()[0].get_label() == "close (right axis)"
    labels, shown = tick_texts(top)
    assert shown == "2025" and "Feb" in labels


def test_backtest_chart_refuses_inputs_it_cannot_draw():
    inputs = yearly_inputs(34, "2022-03-01")

    def refused(message, **changed):
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            plots_summary.backtest_chart(**{**inputs, **changed})

    refused("close has 3 values for 1020 dates", close=inputs["close"][:3])
    refused("close must be positive and finite", close=np.where(np.arange(1020) == 5, 0.0, inputs["close"]))
    refused("years must be the calendar years of the dates in order, [2022, 2023, 2024]; got [2022, 2024]",
            years=[2022, 2024])
    refused("year_ratio must hold one array per cell of ratio (GRU, LSTM)",
            year_ratio={"GRU": inputs["year_ratio"]["GRU"]})
    refused("year_low['LSTM'] has 2 values for 3 years", year_low={**inputs["year_low"], "LSTM": np.ones(2)})
    refused("year_ratio, year_low and year_high need years", years=None)
    refused("excess['GRU'] has 3 values for 1020 dates", excess={**inputs["excess"], "GRU": np.zeros(3)})


def test_coins_chart_puts_each_cell_beside_naive_per_coin():
    fig = plots_summary.coins_chart(
        ["BTC-USD", "ETH-USD", "XRP-USD"],
        ratio={"GRU": [1.01, 0.99, 1.02], "LSTM": [1.02, 1.0, 1.03]},
        ratio_low={"GRU": [1.0, 0.98, 1.01], "LSTM": [1.01, 0.99, 1.02]},
        ratio_high={"GRU": [1.02, 1.0, 1.04], "LSTM": [1.03, 1.01, 1.05]}, seeds=3)
    ax = fig.axes[0]
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert [c.get_label() for c in bars] == ["GRU", "LSTM"]
    gru_y = bars[0].lines[0].get_ydata()
    assert list(gru_y) == [1.01, 0.99, 1.02]
    gru_x, lstm_x = (c.lines[0].get_xdata() for c in bars)
    assert list(gru_x) == pytest.approx([-0.15, 0.85, 1.85]) and list(lstm_x) == pytest.approx([0.15, 1.15, 2.15])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["BTC-USD", "ETH-USD", "XRP-USD"]
    assert ax.get_ylim()[0] < 0.98 and ax.get_ylim()[1] > 1.05   # every seed's ratio is inside
    assert "mean over 3 seeds, bars: seed min..max" in ax.get_title()


def test_coins_chart_refuses_a_ratio_list_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"^ratio_high\['LSTM'\] has 1 values for 2 coins$"):
        plots_summary.coins_chart(["A", "B"], ratio={"GRU": [1, 1], "LSTM": [1, 1]},
                                  ratio_low={"GRU": [1, 1], "LSTM": [1, 1]},
                                  ratio_high={"GRU": [1, 1], "LSTM": [1]})
