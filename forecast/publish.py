"""Every file a command leaves for its user, written whole or not at all (files.py): a run's
folder (the saved model with its metrics and charts), comparison.{json,md,png},
backtest.{json,md,png} and evaluate's chart. The stages before this one compute and return;
this one renders their results with report and plots and writes them.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from . import (backtest, compare, plots, plots_summary, report, report_backtest, report_coins, report_compare,
               report_inputs, report_intervals, report_use_model, report_windows, saved_model)
from .errors import ForecastError
from .files import replace_folder, write_atomic, write_together
from .jsonio import dumps
from .model_info import TrainedModel
from .use_model import RangeEvaluation

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
DPI = 110


def _png(fig):
    """A writer of the figure as PNG, cropped to what is drawn."""
    return lambda tmp: fig.savefig(tmp, dpi=DPI, bbox_inches="tight")


def save_figure(path: Path, fig) -> None:
    write_atomic(path, _png(fig))


def save_run(directory: Path, trained: TrainedModel) -> Path:
    """The whole run, swapped in at once: the model pair, metrics.json (the held-out test result)
    and the charts."""

    def fill(tmp: Path) -> None:
        saved_model.write_model(tmp, trained)
        if trained.test is not None:
            (tmp / METRICS_FILE).write_text(dumps(report.test_record(trained)))
            _png(plots.forecast_chart(**report.train_chart_inputs(trained)))(tmp / "forecast.png")
        if trained.history is not None:
            _png(plots.history_chart(**report.history_chart_inputs(trained)))(tmp / "history.png")

    replace_folder(Path(directory), fill)
    return Path(directory)


def save_trained(out: Path, trained: TrainedModel) -> Path:
    """A trained model's run, in <out>/<cell>/."""
    return save_run(saved_model.run_dir(out, trained.info.cell), trained)


def with_evaluate_chart(out: Path, result: RangeEvaluation) -> RangeEvaluation:
    """The chart goes to <out>/reports/, never into the model's folder (which may be read-only);
    if it cannot be written, the numbers still stand and a warning says why."""
    m = result.evaluation.metrics
    path = Path(out) / "reports" / f"evaluate_{result.cell}_{m.first_date}_{m.last_date}.png"
    try:
        save_figure(path, plots.forecast_chart(**report_use_model.evaluate_chart_inputs(result)))
    except (ForecastError, OSError) as e:
        log.warning("chart not written: %s", e)
        return result
    return replace(result, chart=path)


def _write_report(out: Path, name: str, record: dict, markdown: str, charts: list) -> list[Path]:
    """<out>/<name>.json, <name>.md and every (path, figure) chart, replaced together: never one of
    them from another run. Returns the charts' paths."""
    write_together([
        (out / f"{name}.json", lambda tmp: tmp.write_text(dumps(record))),
        (out / f"{name}.md", lambda tmp: tmp.write_text(markdown)),
        *((path, _png(fig)) for path, fig in charts),
    ])
    return [path for path, _ in charts]


def run_compare(cfg, seeds: int = 1, calls: int = 200, command: str = "compare()") -> compare.Comparison:
    """compare (each model it trains saved as train's are), then comparison.json, .md and .png."""
    result = compare.compare(cfg, seeds, calls, command, save=save_run)
    out = Path(cfg.out)
    chart = plots_summary.comparison_chart(**report_compare.comparison_chart_inputs(result))
    _write_report(out, "comparison", report_compare.comparison_record(result),
                  report_compare.comparison_markdown(result), [(out / "comparison.png", chart)])
    return result


def run_compare_inputs(cfg, input_sets: list[tuple[str, ...]], seeds: int = 1, calls: int = 200,
                       command: str = "compare()") -> tuple[compare.InputsComparison, list[Path]]:
    """compare over sets of inputs (each set's models saved in <out>/<inputs>/ as train's are), then
    comparison.json and .md (the table across sets and cells, then every set's comparison),
    comparison.png (the MAE ratios side by side) and comparison-<inputs>.png (each set's comparison
    chart), replaced together; returns the result and the charts' paths."""
    result = compare.compare_inputs(cfg, input_sets, seeds, calls, command, save=save_run)
    out = Path(cfg.out)
    charts = [(out / "comparison.png", plots_summary.coins_chart(**report_inputs.compare_inputs_chart_inputs(result)))]
    charts += [(out / report_inputs.compare_chart_name(i),
                plots_summary.comparison_chart(**report_inputs.set_chart_inputs(result, i))) for i in result.input_sets]
    return result, _write_report(out, "comparison", report_inputs.compare_inputs_record(result),
                                 report_inputs.compare_inputs_markdown(result), charts)


def run_backtest(cfg, s, command: str = "backtest()") -> tuple[backtest.Backtest, dict]:
    """backtest, then backtest.json, .md, .png and intervals.png (the interval methods); returns the
    result and its JSON record."""
    result = backtest.backtest(cfg, s, command)
    record = report_backtest.backtest_record(result)
    out = Path(cfg.out)
    chart = plots_summary.backtest_chart(**report_backtest.backtest_chart_inputs(result))
    methods = plots_summary.interval_methods_chart(**report_intervals.intervals_chart_inputs(
        result.intervals, report_backtest.band_level(list(result.intervals.levels))))
    _write_report(out, "backtest", record, report_backtest.backtest_markdown(result),
                  [(out / "backtest.png", chart), (out / "intervals.png", methods)])
    return result, record


def coin_chart_name(name: str) -> str:
    return f"backtest-{name}.png"


def run_backtest_coins(cfg, s, sources: dict[str, Path],
                       command: str = "backtest()") -> tuple[backtest.CoinsBacktest, dict, list[Path]]:
    """The multi-coin backtest, then backtest.json and .md (the summary, then every coin), backtest.png
    (the summary chart) and backtest-<coin>.png (each coin's backtest chart), replaced together;
    returns the result, its JSON record and the charts' paths."""
    result = backtest.backtest_coins(cfg, s, sources, command)
    record = report_coins.coins_record(result)
    out = Path(cfg.out)
    charts = [(out / "backtest.png", plots_summary.coins_chart(**report_coins.coins_chart_inputs(result)))]
    charts += [(out / coin_chart_name(name), plots_summary.backtest_chart(**report_backtest.backtest_chart_inputs(b, name)))
               for name, b in result.coins.items()]
    return result, record, _write_report(out, "backtest", record, report_coins.coins_markdown(result), charts)


def run_backtest_windows(cfg, s, sources: dict[str, Path | None],
                         command: str = "backtest()") -> tuple[backtest.WindowsBacktest, dict, list[Path]]:
    """The backtest over training windows, then backtest.json and .md (the table across coins and
    windows, then every run), backtest.png (the summary chart) and one backtest chart per coin and
    window, replaced together; returns the result, its JSON record and the charts' paths."""
    result = backtest.backtest_windows(cfg, s, sources, command)
    record = report_windows.windows_record(result)
    return result, record, _write_grid(Path(cfg.out), result, record, report_windows.windows_markdown(result),
                                       report_windows.windows_chart_inputs(result), report_windows)


def _write_grid(out: Path, result, record: dict, markdown: str, summary: dict, words) -> list[Path]:
    """A grid run's files, replaced together: backtest.json and .md, backtest.png (plots_summary.coins_chart
    of `summary`) and one backtest chart per coin and variant, named and titled by `words`
    (report_windows or report_inputs: chart_name, section_name)."""
    charts = [(out / "backtest.png", plots_summary.coins_chart(**summary))]
    charts += [(out / words.chart_name(result, coin, key),
                plots_summary.backtest_chart(**report_backtest.backtest_chart_inputs(b, words.section_name(result, coin, key))))
               for coin, by_key in result.runs.items() for key, b in by_key.items()]
    return _write_report(out, "backtest", record, markdown, charts)


def run_backtest_inputs(cfg, s, sources: dict[str, Path | None], input_sets: list[tuple[str, ...]],
                        command: str = "backtest()") -> tuple[backtest.InputsBacktest, dict, list[Path]]:
    """The backtest over sets of inputs, then backtest.json and .md (the table across coins, inputs
    and cells, then every run), backtest.png (the summary chart) and one backtest chart per coin and
    set, replaced together; returns the result, its JSON record and the charts' paths."""
    result = backtest.backtest_inputs(cfg, s, sources, input_sets, command)
    record = report_inputs.inputs_record(result)
    return result, record, _write_grid(Path(cfg.out), result, record, report_inputs.inputs_markdown(result),
                                       report_inputs.inputs_chart_inputs(result), report_inputs)
