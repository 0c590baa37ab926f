"""compare's and bench's reports: the speed notes follow the GRU/LSTM time ratios (the comparison's
record, markdown and chart inputs are checked against a comparison built by hand in test_compare.py)."""

from forecast import report_compare
from forecast.bench import ModelTiming, Percentiles


def timing(params, latency, per_window):
    p = Percentiles(latency, latency * 1.2)
    return ModelTiming(params, p, Percentiles(60.0, 70.0), p, 1e6 / per_window, per_window, 0.0)


def test_speed_notes_follow_the_numbers():
    same = report_compare.speed_notes(timing(929, 0.30, 10.0), timing(1169, 0.29, 10.2), train_ratio=1.3)
    assert same == [
        "At batch 1 GRU and LSTM cost about the same (1.03x): per-call overhead (Python, dispatch, "
        "copying the result back) outweighs the cells' arithmetic.",
        "With a full batch GRU and LSTM cost about the same per window (0.98x).",
        "Training: GRU takes 1.30x LSTM's time per epoch.",
    ]
    apart = report_compare.speed_notes(timing(929, 0.60, 7.0), timing(1169, 0.30, 10.0), train_ratio=None)
    assert apart == [
        "At batch 1 GRU takes 2.00x LSTM's time per call.",
        "With a full batch GRU takes 0.70x LSTM's time per window: the smaller arithmetic "
        "(929 against 1,169 parameters, 3 gate blocks against 4) shows.",
    ]
    slower = report_compare.speed_notes(timing(929, 0.30, 13.0), timing(1169, 0.30, 10.0), train_ratio=0.95)
    assert slower[1:] == ["With a full batch GRU takes 1.30x LSTM's time per window, despite fewer parameters.",
                          "Training: about the same time per epoch (0.95x)."]


def test_speed_notes_name_the_compile_mode_when_both_were_timed():
    notes = report_compare.speed_notes(timing(929, 0.30, 10.0), timing(1169, 0.29, 10.2), train_ratio=1.32, train_ratio_xla=1.0)
    assert notes[-2:] == ["Training without XLA: GRU takes 1.32x LSTM's time per epoch.",
                          "Training with XLA: about the same time per epoch (1.00x)."]
