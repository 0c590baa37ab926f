"""The rules that decide what the numbers say, at and around each threshold, with hand-made inputs
(their wording: test_report*.py)."""

import math

import pytest

from forecast import verdicts
from forecast.interval_methods import MethodMetrics
from forecast.intervals import IntervalMetrics
from forecast.metrics import DMTest
from forecast.verdicts import (Folds, LevelFindings, Miss, Pace, Standing, Verdict, Versus, choose_default, choose_method,
                               long_horizon_verdict, tercile_tolerance)


def dm(statistic, p):
    return DMTest(statistic=statistic, p_value=p, days=100)


def interval(coverage, p, by_volatility=(0.8, 0.8, 0.8), unbounded=False, level=80.0):
    return IntervalMetrics(level, coverage, p, 100.0, 1.0, 150.0, by_volatility, unbounded)


def test_the_thresholds():
    assert (verdicts.ALPHA, verdicts.SAME_SPEED, verdicts.NARROW_GAP) == (0.05, 0.1, 0.05)


@pytest.mark.parametrize(("p", "said"), [(0.0, True), (0.049999, True), (0.05, False), (0.050001, False),
                                         (1.0, False), (math.nan, False)])
def test_significant_below_alpha_only(p, said):
    assert verdicts.significant(p) is said


@pytest.mark.parametrize(("statistic", "first"), [(-0.001, True), (0.0, False), (0.001, False), (math.nan, False)])
def test_a_negative_dm_statistic_favours_the_first_forecast(statistic, first):
    assert verdicts.favours_first(dm(statistic, 0.01)) is first


@pytest.mark.parametrize(("ratio", "versus"), [(0.9999, Versus.BETTER), (1.0, Versus.SAME), (1.0001, Versus.WORSE),
                                               (math.nan, Versus.NO_RATIO)])
def test_versus_naive(ratio, versus):
    assert verdicts.versus_naive(ratio) is versus


@pytest.mark.parametrize(("ratio", "test", "standing"), [
    (0.95, dm(-2.0, 0.0499), Standing.BEATS),
    (0.95, dm(-2.0, 0.05), Standing.SLIGHTLY_LOWER),           # at ALPHA: not significant
    (1.05, dm(2.0, 0.0499), Standing.WORSE),
    (1.05, dm(2.0, 0.05), Standing.DOES_NOT_BEAT),
    (1.05, dm(-2.0, 0.01), Standing.BEATS),                    # the DM test decides, not the ratio
    (0.95, dm(0.0, 0.01), Standing.WORSE),                     # a statistic of 0 favours neither: not "beats"
    (0.9999, dm(math.nan, math.nan), Standing.SLIGHTLY_LOWER),  # identical losses: no test
    (1.0, dm(math.nan, math.nan), Standing.DOES_NOT_BEAT),
    (math.nan, dm(-2.0, 0.001), Standing.NO_RATIO),
])
def test_standing_against_naive(ratio, test, standing):
    assert verdicts.standing(ratio, test) is standing


@pytest.mark.parametrize(("between", "ahead"), [
    (dm(-1.0, 0.0499), ("gru", "lstm")), (dm(1.0, 0.0499), ("lstm", "gru")), (dm(0.0, 0.01), ("lstm", "gru")),
    (dm(-1.0, 0.05), None), (dm(math.nan, math.nan), None),
])
def test_which_cell_is_ahead(between, ahead):
    assert verdicts.ahead("gru", "lstm", between) == ahead


@pytest.mark.parametrize(("ratios", "said"), [([1.0, 1.0], True), ([1.0, 1.2], True), ([0.9999, 1.2], False),
                                              ([math.nan, 1.2], False), ([], True)])
def test_neither_beats_naive_when_every_ratio_is_at_least_one(ratios, said):
    assert verdicts.neither_beats_naive(ratios) is said


def test_verdict_gathers_the_facts_in_cell_order():
    said = verdicts.verdict({"lstm": 1.0, "gru": 0.98}, {"gru": dm(-2.0, 0.01), "lstm": dm(0.5, 0.6)}, dm(1.5, 0.04))
    assert said == Verdict(standings={"lstm": Standing.DOES_NOT_BEAT, "gru": Standing.BEATS},
                           ahead=("gru", "lstm"), neither_beats_naive=False)
    assert list(said.standings) == ["lstm", "gru"]
    flat = verdicts.verdict({"gru": 1.0, "lstm": 1.01}, {"gru": dm(0.1, 0.9), "lstm": dm(0.2, 0.8)}, dm(-0.1, 0.05))
    assert flat == Verdict(standings={"gru": Standing.DOES_NOT_BEAT, "lstm": Standing.DOES_NOT_BEAT},
                           ahead=None, neither_beats_naive=True)


@pytest.mark.parametrize(("seeds", "measured"), [(0, False), (1, False), (2, True), (5, True)])
def test_the_seed_spread_is_measured_with_two_seeds_or_more(seeds, measured):
    assert verdicts.seeds_measured(seeds) is measured


@pytest.mark.parametrize(("m", "level", "off"), [
    (interval(0.79, 0.0499), 80.0, "under"),
    (interval(0.79, 0.05), 80.0, None),        # at ALPHA: Kupiec does not reject
    (interval(0.81, 0.0499), 80.0, "over"),
    (interval(0.80, 0.001), 80.0, "over"),     # exactly the level, rejected: reads as over
    (interval(0.94, 0.01, level=95.0), 95.0, "under"),
    (interval(0.50, math.nan), 80.0, None),
])
def test_coverage_off(m, level, off):
    assert verdicts.coverage_off(m, level) == off


@pytest.mark.parametrize(("by_volatility", "narrow"), [
    ((0.05, 0.5, 0.0), False),          # calm - volatile exactly NARROW_GAP: not more than it
    ((0.0500001, 0.5, 0.0), True),
    ((0.5, 0.5, 0.5), False),
    ((0.5, 0.5, 0.75), False),          # the volatile third covered more: never too narrow
    ((1.0, 0.9, 0.5), True),
])
def test_too_narrow_when_markets_move(by_volatility, narrow):
    assert verdicts.too_narrow_when_volatile(interval(0.8, 0.5, by_volatility)) is narrow


def test_interval_findings_per_level_naming_every_forecast():
    gru80 = interval(0.70, 0.01, (0.80, 0.70, 0.60))
    lstm80 = interval(0.90, 0.01)
    naive80 = interval(0.88, 0.02)
    unbounded = interval(1.0, 0.0, (1.0, 1.0, 1.0), unbounded=True, level=95.0)
    lstm95 = interval(0.95, 0.9, (0.99, 0.95, 0.90), level=95.0)
    rows = {"GRU": {80.0: gru80, 95.0: unbounded}, "LSTM": {95.0: lstm95, 80.0: lstm80}, "naive": {80.0: naive80}}
    found = verdicts.interval_findings(rows)
    assert [f.level for f in found] == [80.0, 95.0]
    assert found[0] == LevelFindings(80.0, unbounded=[], off={"under": {"GRU": gru80},
                                                              "over": {"LSTM": lstm80, "naive": naive80}},
                                     narrow={"GRU": gru80})
    assert found[1] == LevelFindings(95.0, unbounded=["GRU"], off={"under": {}, "over": {}}, narrow={"LSTM": lstm95})
    assert list(found[0].off["over"]) == ["LSTM", "naive"]
    # an unbounded interval is only reported as unbounded, whatever its coverage and Kupiec p
    lone = verdicts.interval_findings({"GRU": {80.0: interval(0.5, 0.0, (1.0, 0.5, 0.0), unbounded=True)}})
    assert lone == [LevelFindings(80.0, unbounded=["GRU"], off={"under": {}, "over": {}}, narrow={})]
    assert verdicts.interval_findings({}) == []


def test_times():
    assert verdicts.times(3.0, 2.0) == 1.5 and verdicts.times(1.0, 4.0) == 0.25


@pytest.mark.parametrize(("ratio", "same"), [(1.0, True), (1.0999, True), (1.1001, False), (0.9001, True),
                                             (0.8999, False), (2.0, False), (0.5, False)])
def test_about_the_same_speed(ratio, same):
    assert verdicts.about_same_speed(ratio) is same


@pytest.mark.parametrize(("ratio", "pace"), [(0.8999, Pace.FASTER), (0.9, Pace.SAME), (1.0, Pace.SAME),
                                             (1.1, Pace.SAME), (1.1001, Pace.SLOWER), (0.5, Pace.FASTER)])
def test_full_batch_pace(ratio, pace):
    assert verdicts.full_batch_pace(ratio) is pace


@pytest.mark.parametrize(("gain", "faster"), [(1.0, True), (0.9999, False), (1.5, True)])
def test_xla_speeds_up_from_a_gain_of_one(gain, faster):
    assert verdicts.speeds_up(gain) is faster


@pytest.mark.parametrize(("ahead", "folds", "said"), [(0, 4, Folds.NONE), (1, 4, Folds.SOME), (3, 4, Folds.SOME),
                                                      (4, 4, Folds.ALL), (1, 1, Folds.ALL), (0, 1, Folds.NONE)])
def test_folds_ahead(ahead, folds, said):
    assert verdicts.folds_ahead(ahead, folds) is said


@pytest.mark.parametrize(("p_values", "unsettled"), [
    ([0.01, 0.2, 0.04], (0.01, 0.2)),
    ([0.0499, 0.05], (0.0499, 0.05)),   # one seed just below ALPHA, one at it
    ([0.01, 0.0499], None),             # every seed significant
    ([0.05, 0.3], None),                # none
    ([0.001], None),
])
def test_a_test_depends_on_the_seed_where_the_seeds_disagree(p_values, unsettled):
    assert verdicts.seed_dependent(p_values) == unsettled


# --- which interval method -----------------------------------------------------------------------

def _held(thirds: tuple, kupiec: float = 0.5, score: float = 10.0) -> MethodMetrics:
    """Only what choose_method reads is meaningful: coverage per third, Kupiec p, interval score."""
    return MethodMetrics(level=0.0, days=300, coverage=sum(thirds) / 3, wilson=(0.0, 1.0), kupiec_p_value=kupiec,
                         christoffersen_p_value=0.5, mean_width_pct=1.0, interval_score_pct=score, pinball_pct=0.1,
                         coverage_by_volatility=thirds, unbounded=False)


def _overall(rows: dict[str, dict[float, MethodMetrics]]) -> dict:
    return {(method, cell, lv): m for method, by in rows.items() for lv, m in by.items() for cell in ("gru", "lstm")}


def test_the_method_meeting_the_bar_with_the_lowest_score_is_chosen():
    rows = {
        "fixed": {80.0: _held((0.90, 0.80, 0.70)), 95.0: _held((0.99, 0.95, 0.90))},
        # within 3 and 2 points in every third, Kupiec fine, scores 0.9 and 0.8 of fixed's: meets
        "scaled": {80.0: _held((0.78, 0.80, 0.829), score=9.0), 95.0: _held((0.94, 0.95, 0.969), score=8.0)},
        # within the bar too, with a lower score, but Kupiec rejects its 95%
        "mondrian": {80.0: _held((0.80, 0.80, 0.80), score=5.0), 95.0: _held((0.95, 0.95, 0.95), 0.01, 5.0)},
        # the best score, but its volatile third is 3.1 points under 80%
        "gauss": {80.0: _held((0.80, 0.80, 0.769), score=4.0), 95.0: _held((0.95, 0.95, 0.95), score=4.0)},
    }
    choice = choose_method(_overall(rows), rows, ("gru", "lstm"), (80.0, 95.0))
    assert (choice.chosen, choice.met) == ("scaled", True)
    v = {x.method: x for x in choice.verdicts}
    assert v["scaled"].worst_gap == pytest.approx(0.029 / 0.03) and v["scaled"].score_vs_fixed == pytest.approx(0.85)
    assert v["fixed"].worst_gap == pytest.approx(0.10 / 0.03) and not v["fixed"].beats_fixed
    assert v["mondrian"].worst_gap == 0 and not v["mondrian"].kupiec_ok and not v["mondrian"].meets
    assert v["gauss"].worst_gap == pytest.approx(0.031 / 0.03) and not v["gauss"].meets


def test_without_a_method_meeting_the_bar_the_closest_to_nominal_is_chosen():
    nan = float("nan")
    rows = {
        "fixed": {80.0: _held((0.90, 0.80, 0.70))},
        "scaled": {80.0: _held((0.84, 0.80, 0.76), score=9.0)},       # 4 points off: 1.33 tolerances
        "mondrian": {80.0: _held((0.80, nan, 0.80), score=1.0)},       # an empty third counts as the worst
    }
    choice = choose_method(_overall(rows), rows, ("gru", "lstm"), (80.0,))
    assert (choice.chosen, choice.met) == ("scaled", False)
    assert {x.method: x.worst_gap for x in choice.verdicts}["mondrian"] == float("inf")
    assert tercile_tolerance(80) == 0.03 and tercile_tolerance(95) == 0.02


# --- which interval method, also for a model used long after its calibration (issue 31) ---------

def _case(cov80: float, thirds80: tuple, cov95: float) -> dict:
    """One long-horizon case of one method: (level -> metrics); only coverage and thirds are read."""
    return {80.0: _cov(cov80, thirds80),
            95.0: _cov(cov95, (0.95, 0.95, 0.95))}


def _cov(coverage: float, thirds: tuple) -> MethodMetrics:
    return MethodMetrics(level=0.0, days=700, coverage=coverage, wilson=(0.0, 1.0), kupiec_p_value=0.5,
                         christoffersen_p_value=0.5, mean_width_pct=1.0, interval_score_pct=1.0, pinball_pct=0.1,
                         coverage_by_volatility=thirds, unbounded=False)


def _cases(rows: dict[str, dict[str, dict]]) -> dict:
    """case -> method -> level -> metrics, as (case -> (method, level) -> metrics)."""
    return {case: {(method, lv): m for method, by in methods.items() for lv, m in by.items()}
            for case, methods in rows.items()}


BACKTEST = _overall({
    "fixed": {80.0: _held((0.90, 0.80, 0.70)), 95.0: _held((0.99, 0.95, 0.90))},
    # 80%: 3 points off in its calm third (1.0 tolerance, within); 95%: 2.2 points over in its volatile third
    # (1.1 tolerances): short of the bar, with Kupiec fine and scores 0.9 and 0.8 of fixed's
    "scaled": {80.0: _held((0.77, 0.80, 0.83), score=9.0), 95.0: _held((0.93, 0.95, 0.972), score=8.0)},
    # 1 point over everywhere (0.33 and 0.5 tolerances), but Kupiec rejects it
    "mondrian": {80.0: _held((0.81, 0.81, 0.81), 0.01, 9.5), 95.0: _held((0.96, 0.96, 0.96), 0.01, 9.5)},
    # the backtest's bar met: nominal in every third, score 0.8 of fixed's
    "gauss": {80.0: _held((0.80, 0.80, 0.80), score=8.0), 95.0: _held((0.95, 0.95, 0.95), score=8.0)},
})


def _long(scaled_b95: float = 0.93) -> dict:
    return _cases({
        "A": {"fixed": _case(0.92, (0.93, 0.92, 0.91), 0.99),                  # 8 points over at 80%
              "scaled": _case(0.76, (0.73, 0.76, 0.87), 0.97),                 # every bound's end: holds
              "mondrian": _case(0.80, (0.80, 0.80, 0.80), 0.95),
              "gauss": _case(0.80, (0.75, 0.779, 0.871), 0.925)},              # volatile third 0.1 over, 95% 0.5 under
        "B": {"fixed": _case(0.80, (0.80, 0.80, 0.80), 0.95),
              "scaled": _case(0.84, (0.80, 0.84, 0.86), scaled_b95),
              "mondrian": _case(0.845, (0.84, 0.84, 0.855), 0.99),             # 0.5 points over at 80%, 2 at 95%
              "gauss": _case(0.80, (0.80, 0.80, 0.80), 0.95)},
    })


def test_the_long_horizon_bounds_hold_at_their_ends_and_every_miss_is_named():
    cases = _long()
    scaled, mondrian, gauss = (long_horizon_verdict(m, cases) for m in ("scaled", "mondrian", "gauss"))
    assert scaled.holds and scaled.cases == 2 and scaled.worst is None
    assert mondrian.misses == (Miss("B", 80.0, "all days", 0.845, (0.76, 0.84)),
                               Miss("B", 95.0, "all days", 0.99, (0.93, 0.97)))
    assert mondrian.failing_cases == ("B",) and mondrian.worst.by == pytest.approx(0.02)
    assert [(m.part, round(m.by, 6)) for m in gauss.misses] == [("volatile", 0.001), ("all days", 0.005)]
    assert gauss.failing_cases == ("A",) and not gauss.holds
    empty = long_horizon_verdict("x", {"C": {("x", 80.0): _cov(0.80, (0.80, math.nan, 0.80)),
                                             ("x", 95.0): _cov(0.95, (0.95, 0.95, 0.95))}})
    assert [(m.part, m.by) for m in empty.misses] == [("middle", math.inf)]   # an empty third misses


def test_the_default_holds_the_long_horizon_before_the_backtest_ranks():
    """gauss alone meets the backtest's bar, but only scaled holds every long-horizon case: scaled."""
    methods = ("fixed", "scaled", "mondrian", "gauss")
    assert choose_method(BACKTEST, methods, ("gru", "lstm"), (80.0, 95.0)).chosen == "gauss"
    choice = choose_default(BACKTEST, _long(), methods, ("gru", "lstm"), (80.0, 95.0))
    assert (choice.chosen, choice.holds_long, choice.meets_backtest) == ("scaled", True, False)
    assert [v.method for v in choice.backtest.verdicts] == ["scaled"]
    assert choice.backtest.verdicts[0].worst_gap == pytest.approx(1.1)
    assert [len(v.failing_cases) for v in choice.long_horizon] == [1, 0, 1, 1]


def test_without_a_method_holding_the_long_horizon_the_backtest_alone_picks_and_says_so():
    methods = ("fixed", "scaled", "mondrian", "gauss")
    choice = choose_default(BACKTEST, _long(scaled_b95=0.9299), methods, ("gru", "lstm"), (80.0, 95.0))
    assert (choice.chosen, choice.holds_long, choice.meets_backtest) == ("gauss", False, True)
    assert [v.method for v in choice.backtest.verdicts] == list(methods)
    scaled = choice.long_horizon[1]
    assert scaled.misses == (Miss("B", 95.0, "all days", 0.9299, (0.93, 0.97)),)
    assert scaled.worst.by == pytest.approx(0.0001)



def test_the_default_holds_the_same_bounds_on_the_backtest_too():
    """scaled holds every long-horizon case, but over the backtest's days its 95% covers 97.4% (0.4 points
    over 93-97%): it does not hold both, none does, and the backtest alone picks gauss."""
    methods = ("fixed", "scaled", "mondrian", "gauss")
    backtest = {**BACKTEST, **_overall({"scaled": {95.0: _held((0.95, 0.97, 1.0), score=8.0)}})}  # mean 0.9733
    choice = choose_default(backtest, _long(), methods, ("gru", "lstm"), (80.0, 95.0))
    assert (choice.chosen, choice.holds_long) == ("gauss", False)
    scaled = choice.backtest_bounds[1]
    assert [(m.case, m.part, round(m.by, 6)) for m in scaled.misses] == [("backtest gru", "all days", 0.003333),
                                                                         ("backtest lstm", "all days", 0.003333)]
    assert choice.long_horizon[1].holds
    assert [v.holds for v in choice.backtest_bounds] == [False, False, True, True]  # fixed: 80% thirds 70-90%
