"""`kafkalab bench bottleneck --quick` on the session's real cluster: a processor slowed on purpose falls
behind a fixed-rate feed with one instance, and catches up once a second instance joins the group,
losing nothing. The checks are about the shape of the run, not its speed."""

from __future__ import annotations

import pandas as pd
import pytest

from kafkalab import config as lab_config
from kafkalab.bench import bottleneck

pytestmark = pytest.mark.slow


@pytest.fixture
def lab(bootstrap, tmp_path):
    return lab_config.load(bootstrap_servers=bootstrap, results_dir=tmp_path)


@pytest.mark.timeout(240)
def test_the_lag_grows_with_one_slowed_instance_and_drains_with_two(lab):
    bottleneck.run(lab, quick=True)  # raises on a failed run (lag never back, a candle wrong, a record lost)
    rows = pd.read_csv(lab.bench_dir / "bottleneck.csv")
    timeline = pd.read_csv(lab.bench_dir / "bottleneck_timeline.csv")
    assert len(rows) == 1
    row = rows.iloc[0]
    assert row["errors"] == 0, row["error_detail"]

    alone = timeline[timeline["phase"] == "1 instance"]
    both = timeline[timeline["phase"] == "2 instances"]
    assert (alone["instances"] == 1).all() and (both["members"] == 2).all()
    # one instance falls behind: the lag grew by more than a second of input while it was alone
    assert alone["lag"].iloc[-1] > alone["lag"].iloc[0] + bottleneck.CAUGHT_UP_LAG
    assert row["lag_growth_per_s"] > 0 and row["capacity_per_instance"] < row["feed_rate_per_s"]
    # two catch up: from the lag at the join down to under a second of input, while the feed still ran
    assert both["lag"].iloc[0] > bottleneck.CAUGHT_UP_LAG >= both["lag"].min()
    assert row["drain_per_s"] > 0 and row["time_to_caught_up_s"] > 0
    # nothing lost: every acknowledged trade processed, each once in the candles the processors wrote
    assert row["produced"] > 0 and row["processed"] == row["produced"] and row["lost"] == 0
    assert timeline["lag"].iloc[-1] == 0 and timeline["produced"].iloc[-1] == row["produced"]
    assert row["candles"] == row["candles_expected"] > 0 and row["candle_mismatches"] == 0
    assert row["consumed"] >= row["produced"] and row["late"] == 0 and row["dead_letters"] == 0
