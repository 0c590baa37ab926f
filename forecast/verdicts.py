"""What the numbers say: the rules every report follows, as small pure functions returning typed
facts, never sentences (the report modules word them). A rule lives here once, so that the text,
the markdown and the JSON verdict of compare and backtest can never disagree on a threshold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from .interval_methods import MethodMetrics
from .intervals import IntervalMetrics
from .metrics import DMTest

ALPHA = 0.05       # significance level of every test reported
SAME_SPEED = 0.1   # GRU/LSTM time ratios within 1 +- this read as "about the same"
NARROW_GAP = 0.05  # calm third's coverage above the volatile third's by more than this: too narrow when markets move


# --- one forecast against naive ------------------------------------------------------------

class Versus(Enum):
    """An MAE (or RMSE) ratio to the naive forecast's."""

    NO_RATIO = "no ratio"  # naive was exact on every day (flat prices): the ratio is NaN
    WORSE = "worse"
    BETTER = "better"
    SAME = "same"


def versus_naive(ratio: float) -> Versus:
    if math.isnan(ratio):
        return Versus.NO_RATIO
    if ratio > 1:
        return Versus.WORSE
    if ratio < 1:
        return Versus.BETTER
    return Versus.SAME


def significant(p: float) -> bool:
    """p below ALPHA; False for NaN (a DM test on identical losses has no p-value)."""
    return p < ALPHA


def favours_first(test: DMTest) -> bool:
    """The side a DM test favours: a negative statistic, the first forecast's smaller loss."""
    return test.statistic < 0


class Standing(Enum):
    """A cell against the naive forecast, from its MAE ratio and the DM test between them."""

    NO_RATIO = "no ratio"              # naive's error is 0: nothing to measure against
    BEATS = "beats"                    # significantly more accurate than naive
    WORSE = "worse"                    # significantly less accurate
    SLIGHTLY_LOWER = "slightly lower"  # a lower MAE, not significant
    DOES_NOT_BEAT = "does not beat"    # an MAE at least naive's, not significant


def standing(ratio: float, test: DMTest) -> Standing:
    if math.isnan(ratio):
        return Standing.NO_RATIO
    if significant(test.p_value):
        return Standing.BEATS if favours_first(test) else Standing.WORSE
    return Standing.SLIGHTLY_LOWER if ratio < 1 else Standing.DOES_NOT_BEAT


def ahead(first: str, second: str, between: DMTest) -> tuple[str, str] | None:
    """(more accurate, less accurate) of two cells where the DM test between them (first against
    second) is significant; None where it is not."""
    if not significant(between.p_value):
        return None
    return (first, second) if favours_first(between) else (second, first)


def neither_beats_naive(ratios: Iterable[float]) -> bool:
    """Every MAE ratio at least 1 (a NaN ratio does not count as one)."""
    return all(r >= 1 for r in ratios)


@dataclass(frozen=True)
class Verdict:
    """What compare and backtest say about their cells: each against naive, the two against each other."""

    standings: dict[str, Standing]          # by cell, in the order of the ratios given
    ahead: tuple[str, str] | None           # (more accurate, less accurate) cell, if significant
    neither_beats_naive: bool


def verdict(mae_ratio: dict[str, float], vs_naive: dict[str, DMTest], between: DMTest) -> Verdict:
    """`mae_ratio` and `vs_naive` are keyed by cell; `between` tests the first cell against the second."""
    first, second = mae_ratio
    return Verdict(standings={cell: standing(r, vs_naive[cell]) for cell, r in mae_ratio.items()},
                   ahead=ahead(first, second, between),
                   neither_beats_naive=neither_beats_naive(mae_ratio.values()))


def seeds_measured(seeds: int) -> bool:
    """Several seeds: how much the numbers move with the seed is measured (the seeds table exists)."""
    return seeds > 1


# --- prediction intervals ---------------------------------------------------------------------

def coverage_off(m: IntervalMetrics, level: float) -> str | None:
    """"under" or "over" where Kupiec's test rejects the interval's coverage at ALPHA; None where it
    does not. Under: the days covered are fewer than the level."""
    if not significant(m.kupiec_p_value):
        return None
    return "under" if m.coverage < level / 100 else "over"


def too_narrow_when_volatile(m: IntervalMetrics) -> bool:
    """The calmest third of the days covered by more than NARROW_GAP over the most volatile third."""
    calm, _, volatile = m.coverage_by_volatility
    return calm - volatile > NARROW_GAP


@dataclass(frozen=True)
class LevelFindings:
    """What the intervals of one level call for, each finding naming the forecasts it holds for."""

    level: float
    unbounded: list[str]                                # too few validation days to calibrate them
    off: dict[str, dict[str, IntervalMetrics]]          # "under" / "over" -> rejected coverage, by name
    narrow: dict[str, IntervalMetrics]                  # too narrow when markets move, by name


def interval_findings(rows: dict[str, dict[float, IntervalMetrics]]) -> list[LevelFindings]:
    """Per level (in the order the rows first name them), among the forecasts holding that level
    (in row order): unbounded intervals, then among the bounded ones rejected coverage and intervals
    too narrow when markets move."""
    findings = []
    for lv in dict.fromkeys(lv for by_level in rows.values() for lv in by_level):
        found = {name: by_level[lv] for name, by_level in rows.items() if lv in by_level}
        bounded = {name: m for name, m in found.items() if not m.unbounded}
        findings.append(LevelFindings(
            level=lv,
            unbounded=[name for name, m in found.items() if m.unbounded],
            off={side: {name: m for name, m in bounded.items() if coverage_off(m, lv) == side}
                 for side in ("under", "over")},
            narrow={name: m for name, m in bounded.items() if too_narrow_when_volatile(m)},
        ))
    return findings


# --- speed ------------------------------------------------------------------------------------

def times(a: float, b: float) -> float:
    """a as a multiple of b: GRU's time over LSTM's, or a path's time over another's."""
    return a / b


def about_same_speed(ratio: float) -> bool:
    """A time ratio within SAME_SPEED of 1 (batch 1, training)."""
    return abs(ratio - 1) < SAME_SPEED


class Pace(Enum):
    """GRU's time per window at full batch against LSTM's."""

    FASTER = "faster"  # below 1 - SAME_SPEED
    SLOWER = "slower"  # above 1 + SAME_SPEED
    SAME = "same"


def full_batch_pace(ratio: float) -> Pace:
    if ratio < 1 - SAME_SPEED:
        return Pace.FASTER
    if ratio > 1 + SAME_SPEED:
        return Pace.SLOWER
    return Pace.SAME


def speeds_up(gain: float) -> bool:
    """A time without something over the time with it (XLA): at least 1 reads as faster."""
    return gain >= 1


# --- backtest ---------------------------------------------------------------------------------

class Folds(Enum):
    """In how many folds a cell was ahead of naive."""

    NONE = "none"
    ALL = "all"
    SOME = "some"


def folds_ahead(ahead: int, folds: int) -> Folds:
    if ahead == 0:
        return Folds.NONE
    if ahead == folds:
        return Folds.ALL
    return Folds.SOME


def seed_dependent(p_values: list[float]) -> tuple[float, float] | None:
    """(lowest, highest) p-value of one test over the seeds where some seeds find it significant and
    others do not: the test is not settled. None where all seeds agree."""
    said = [significant(p) for p in p_values]
    if any(said) and not all(said):
        return min(p_values), max(p_values)
    return None


# --- which interval method (issue 20) ---------------------------------------------------------------

def tercile_tolerance(level: float) -> float:
    """How far a volatility third's coverage may sit from nominal: 3 points at 80%, 2 at 95% (the
    tails are where a miss costs most, so the bar tightens above 90%)."""
    return 0.02 if level >= 90 else 0.03


@dataclass(frozen=True)
class MethodVerdict:
    method: str
    worst_gap: float        # largest |tercile coverage - nominal| / its tolerance, over levels and forecasts
    kupiec_ok: bool         # Kupiec p >= ALPHA at every level and forecast
    beats_fixed: bool       # interval score below fixed-width conformal's at every level and forecast
    score_vs_fixed: float   # mean interval score / fixed's, over levels and forecasts

    @property
    def meets(self) -> bool:
        return self.worst_gap <= 1 and self.kupiec_ok and self.beats_fixed


@dataclass(frozen=True)
class MethodChoice:
    verdicts: tuple[MethodVerdict, ...]   # every candidate, in the order given
    chosen: str                           # the one meeting the bar with the lowest score; else the closest to nominal
    met: bool                             # whether the chosen one meets the bar


def _or_inf(x: float) -> float:
    """NaN (an empty third, or unbounded against unbounded) counts as the worst there is."""
    return math.inf if math.isnan(x) else float(x)


def choose_method(overall: dict[tuple[str, str, float], MethodMetrics], methods: Iterable[str],
                  forecasts: Iterable[str], levels: Iterable[float], baseline: str = "fixed") -> MethodChoice:
    """The interval method to show by default, from how each held over all days of a backtest
    (`overall`: (method, forecast, level) -> its metrics): among those whose every volatility third
    is within tolerance at every level, whose Kupiec p is at least ALPHA and whose interval score is
    below the baseline's, the lowest mean interval score relative to the baseline; if none, the one
    closest to nominal in its worst third."""
    forecasts, levels = tuple(forecasts), tuple(levels)
    verdicts = []
    for method in methods:
        keys = [(f, lv) for f in forecasts for lv in levels]
        gaps = [abs(c - lv / 100) / tercile_tolerance(lv)
                for f, lv in keys for c in overall[method, f, lv].coverage_by_volatility]
        ratios = [overall[method, f, lv].interval_score_pct / overall[baseline, f, lv].interval_score_pct
                  for f, lv in keys]
        verdicts.append(MethodVerdict(
            method=method, worst_gap=max(_or_inf(g) for g in gaps),
            kupiec_ok=all(overall[method, f, lv].kupiec_p_value >= ALPHA for f, lv in keys),
            beats_fixed=all(r < 1 for r in ratios), score_vs_fixed=_or_inf(sum(ratios) / len(ratios))))
    meeting = [v for v in verdicts if v.meets]
    chosen = (min(meeting, key=lambda v: v.score_vs_fixed) if meeting
              else min(verdicts, key=lambda v: (v.worst_gap, v.score_vs_fixed)))
    return MethodChoice(tuple(verdicts), chosen.method, chosen.meets)


# --- which interval method, for models used long after their calibration (issue 31) ---------------

# level -> ((low, high) of the coverage over all days, (low, high) of each volatility third's or None):
# what a method must hold on every case of a model used for years after its validation days
LONG_HORIZON_BOUNDS = {80.0: ((0.76, 0.84), (0.73, 0.87)), 95.0: ((0.93, 0.97), None)}
THIRD_NAMES = ("calm", "middle", "volatile")


@dataclass(frozen=True)
class Miss:
    """One coverage outside its long-horizon bounds."""

    case: str
    level: float
    part: str                    # "all days", or "calm" / "middle" / "volatile" third
    coverage: float              # NaN: an empty third
    bounds: tuple[float, float]

    @property
    def by(self) -> float:
        """How far outside the bounds, as a share (0.021: 2.1 points); inf for an empty third."""
        low, high = self.bounds
        return math.inf if math.isnan(self.coverage) else max(low - self.coverage, self.coverage - high)


@dataclass(frozen=True)
class LongHorizonVerdict:
    method: str
    cases: int                   # cases judged
    misses: tuple[Miss, ...]     # every coverage outside its bounds, case by case in the order given

    @property
    def holds(self) -> bool:
        return not self.misses

    @property
    def failing_cases(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.case for m in self.misses))

    @property
    def worst(self) -> Miss | None:
        return max(self.misses, key=lambda m: m.by, default=None)


def long_horizon_verdict(method: str, cases: dict[str, dict[tuple[str, float], MethodMetrics]],
                         bounds: dict[float, tuple] = LONG_HORIZON_BOUNDS) -> LongHorizonVerdict:
    """How `method` held on every long-horizon case (`cases`: case name -> (method, level) -> its
    metrics over the days after the model's data): each coverage in `bounds`, ends included."""
    misses = []
    for case, metrics in cases.items():
        for lv, (overall, third) in bounds.items():
            m = metrics[method, lv]
            parts = [("all days", m.coverage, overall)]
            if third is not None:
                parts += [(name, c, third) for name, c in zip(THIRD_NAMES, m.coverage_by_volatility)]
            misses += [Miss(case, lv, part, float(c), b) for part, c, b in parts
                       if math.isnan(c) or not b[0] <= c <= b[1]]
    return LongHorizonVerdict(method, len(cases), tuple(misses))


@dataclass(frozen=True)
class DefaultChoice:
    long_horizon: tuple[LongHorizonVerdict, ...]  # every candidate, in the order given
    backtest: MethodChoice   # choose_method on the backtest, among the candidates holding both (all, if none)
    chosen: str
    backtest_bounds: tuple[LongHorizonVerdict, ...] = ()  # every candidate on the backtest's days, by the same bounds

    @property
    def holds_long(self) -> bool:
        """The chosen method holds on every long-horizon case and, by the same bounds, on the backtest."""
        return all(v.holds for v in (*self.long_horizon, *self.backtest_bounds) if v.method == self.chosen)

    @property
    def meets_backtest(self) -> bool:
        """The chosen method meets choose_method's whole bar on the backtest."""
        return self.backtest.met


def choose_default(backtest: dict[tuple[str, str, float], MethodMetrics],
                   cases: dict[str, dict[tuple[str, float], MethodMetrics]], methods: Iterable[str],
                   forecasts: Iterable[str], levels: Iterable[float], baseline: str = "fixed") -> DefaultChoice:
    """The interval method to show by default, held on both kinds of use: a model refitted every month
    (`backtest`, as choose_method reads it) and a model trained once and used for years (`cases`, as
    long_horizon_verdict reads them). A method holds both where every long-horizon case and the
    backtest's days of each forecast are within LONG_HORIZON_BOUNDS; among those, choose_method's pick
    on the backtest; if none holds both, choose_method's pick among all (and holds_long says so)."""
    methods, forecasts = tuple(methods), tuple(forecasts)
    long = tuple(long_horizon_verdict(m, cases) for m in methods)
    on_backtest = tuple(long_horizon_verdict(m, {f"backtest {f}": {(m, lv): backtest[m, f, lv] for lv in levels}
                                                  for f in forecasts}) for m in methods)
    holding = [a.method for a, b in zip(long, on_backtest) if a.holds and b.holds]
    choice = choose_method(backtest, holding or methods, forecasts, levels, baseline)
    return DefaultChoice(long, choice, choice.chosen, on_backtest)
