"""`kafkalab bench reliability --scenario NAME[,NAME]`: which scenarios run, and the one-line refusal."""

from __future__ import annotations

import pytest

from kafkalab import cli
from kafkalab import config as lab_config
from kafkalab.bench import run_experiment
from kafkalab.bench.reliability import experiment
from kafkalab.bench.reliability.scenarios import SCENARIOS, select
from kafkalab.errors import ConfigError


def test_no_choice_is_every_scenario_in_the_experiments_order():
    assert select(None) == select("") == list(SCENARIOS)


def test_the_chosen_scenarios_in_the_order_given_once_each():
    assert select("two-down") == ["two-down"]
    assert select(" latency-100ms,kill-one ,latency-100ms") == ["latency-100ms", "kill-one"]


@pytest.mark.parametrize("text", ["kill-two", "kill-one,nope", ",", "KILL-ONE"])
def test_an_unknown_name_is_refused_with_the_valid_ones(text):
    with pytest.raises(ConfigError) as caught:
        select(text)
    message = str(caught.value)
    assert "\n" not in message
    assert all(name in message for name in SCENARIOS)


def test_the_cli_refuses_an_unknown_scenario_in_one_line_before_anything_starts(capsys, tmp_path, monkeypatch):
    # a results folder of its own: a refusal must not have created or written anything there
    monkeypatch.setenv(lab_config.ENV_RESULTS_DIR, str(tmp_path / "results"))
    assert cli.main(["bench", "reliability", "--scenario", "kill-one,partition-three"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown reliability scenario(s) partition-three")
    assert "kill-one, two-down" in err[0]
    assert not (tmp_path / "results").exists()


def test_scenario_belongs_to_the_reliability_experiment_only(capsys):
    assert cli.main(["bench", "pipeline", "--scenario", "kill-one"]) == 1
    assert "--scenario belongs to `kafkalab bench reliability`" in capsys.readouterr().err


def test_the_experiment_refuses_an_unknown_scenario_before_its_cluster_starts(tmp_path):
    config = lab_config.load(results_dir=str(tmp_path / "results"))
    with pytest.raises(ConfigError, match="choose from: kill-one"):
        experiment.run(config, quick=True, scenarios="two-up")


def test_options_go_to_one_experiment_only(tmp_path):
    config = lab_config.load(results_dir=str(tmp_path / "results"))
    with pytest.raises(ConfigError, match="apply to one experiment"):
        run_experiment(config, "all", options={"scenarios": "kill-one"})
