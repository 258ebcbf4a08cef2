"""Learning-to-learn end to end on tiny networks: the outer loops learn, Brian2 with frozen weights does what the twin does,
the episodes become Neo, and the figure recipes draw from real run folders."""

import importlib.util
import json
import re

import numpy as np
import pytest
import torch
from l2l_runs import NAVIGATION, REGRESSION, ROOT, experiment, regression_run, trainer

from lsnn_bio.errors import LsnnBioError
from lsnn_bio.learning_to_learn import (
    navigation_episodes,
    regression_episodes,
    validate_navigation,
    validate_regression,
)
from lsnn_bio.neo.episodes import navigation_block, regression_block
from lsnn_bio.tasks.regression_scores import linear_baseline_mse
from lsnn_bio.training import Trainer
from lsnn_bio.training.actor_critic import ActorCriticTrainer, a2c_loss, advantages
from lsnn_bio.training.dispatch import trainer_class
from lsnn_bio.training.regression import RegressionTrainer


def recipe(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "analysis" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lines(run):
    return [
        {k: v for k, v in json.loads(line).items() if "seconds" not in k}
        for line in (run / "metrics.jsonl").read_text().splitlines()
    ]


# ------------------------------------------------------------------------------------------ regression


def test_each_document_gets_its_outer_loop():
    assert trainer_class(experiment("l2l_sine_lif.yaml", ())) is RegressionTrainer
    assert trainer_class(experiment("meta_rl_navigation_lif.yaml", ())) is ActorCriticTrainer
    assert trainer_class(experiment("store_recall.yaml", ())) is Trainer


def test_the_outer_loop_lowers_the_episode_mse(l2l_regression_run):
    run, before, summary = l2l_regression_run
    assert summary["validation_mse_all_examples"] < 0.85 * before, (before, summary["validation_mse_all_examples"])
    train = [r["mse"] for r in lines(run) if r["split"] == "train"]
    assert np.mean(train[-10:]) < np.mean(train[:10])


def test_regression_summary_scores_the_test_functions(l2l_regression_run):
    run, _, summary = l2l_regression_run
    by_example = np.array(summary["test_mse_by_example"])
    assert by_example.shape == (8,) and summary["test_functions"] == 16
    assert summary["test_mse"] == pytest.approx(by_example[4:].mean(), rel=1e-12)  # every function has every example
    task = experiment("l2l_regression.yaml", REGRESSION).task()
    batch = next(task.batches("test", 16))  # the linear baseline, recomputed here from the test functions
    assert summary["linear_baseline_mse"] == pytest.approx(linear_baseline_mse(batch.x, batch.targets), rel=1e-12)
    assert len(summary["validation_linear_baseline_mse_by_example"]) == 8
    assert [r["split"] for r in lines(run)].count("test") == 1


def test_brian2_with_frozen_weights_scores_what_the_twin_scores(l2l_regression_run):
    run, _, summary = l2l_regression_run
    report = validate_regression(run / "checkpoint.safetensors", functions=5, engine="numpy", progress=False)
    assert report["spike_agreement"] == 1.0 and report["max_prediction_difference"] < 1e-9
    np.testing.assert_allclose(report["brian_mse"], report["twin_mse"], rtol=1e-9)
    assert len(report["brian_mse"]) == 8 and report["functions"] == 5
    # and the twin here is the trained network the summary scored: the first 5 test functions' MSE
    assert report["twin_mse_second_half"] == pytest.approx(np.mean(report["twin_mse"][4:]))


@pytest.mark.slow
def test_brian2_cpp_standalone_runs_many_functions_from_one_build(l2l_regression_run, tmp_path):
    run, _, summary = l2l_regression_run
    report = validate_regression(
        run / "checkpoint.safetensors", engine="cpp_standalone", directory=tmp_path / "build", progress=False
    )
    assert report["functions"] == 16 and report["spike_agreement"] == 1.0
    np.testing.assert_allclose(report["brian_mse"], summary["test_mse_by_example"], rtol=1e-9)


def test_regression_episodes_become_neo_with_examples_and_targets(l2l_regression_run):
    run, _, _ = l2l_regression_run
    trained, batches, results = regression_episodes(
        run / "checkpoint.safetensors", functions=2, engine="numpy", record={"ALIF": ["b"]}
    )
    block = regression_block(trained.spec, results, batches)
    assert len(block.segments) == 2
    segment = block.segments[1]
    epoch = segment.epochs[0]
    assert list(epoch.labels) == [f"example:{k}" for k in range(8)]
    np.testing.assert_allclose(epoch.times.rescale("ms").magnitude, np.arange(8) * 10.0)
    target = next(s for s in segment.analogsignals if s.name == "target")
    np.testing.assert_allclose(target.magnitude[::10, 0], batches[0].targets[1, :, 0])
    b = next(s for s in segment.analogsignals if s.name == "b")
    assert b.shape == (80, 10) and b.annotations["source_population"] == "ALIF"
    assert sum(len(t) for t in segment.spiketrains) == sum(int(r.sum()) for r in results[1].spikes.values())


# ------------------------------------------------------------------------------------------ navigation


def test_the_actor_critic_loss_falls_on_replayed_episodes(tmp_path):
    """Replaying fixed episodes (same arenas, same actions), a few updates lower the A2C loss through BPTT in closed loop."""
    run = trainer("meta_rl_navigation.yaml", NAVIGATION + ["seed=3"], tmp_path / "run", 1)
    seeds = list(range(8))
    noise = np.random.default_rng(0).standard_normal((run.decisions, 8, 2))
    first = run.play(run.twin, run.log_std, seeds, noise)
    assert first.goals.sum() > 0  # there is something to learn from
    advantage, returns = run.advantages(first)
    losses = []
    for _ in range(4):
        episode = run.play(run.twin, run.log_std, seeds, noise, actions=first.actions)
        np.testing.assert_array_equal(episode.goals, first.goals)  # the same arenas, the same moves
        loss, _ = a2c_loss(episode, advantage, returns, run.log_std, run.settings, 0.0)
        losses.append(float(loss.detach()))
        run.optimizer.zero_grad()
        loss.backward()
        run.optimizer.step()
    assert losses[-1] < losses[0] - 0.05, losses


def test_advantages_are_discounted_lambda_returns():
    rewards = torch.tensor([[0.0], [1.0], [0.0]])
    values = torch.tensor([[0.5], [0.2], [0.1]])
    advantage, returns = advantages(rewards, values, discount=0.9, gae_lambda=1.0)
    expected = [0.9 * 1.0, 1.0, 0.0]  # lambda = 1: Monte-Carlo returns, nothing after the episode
    np.testing.assert_allclose(returns[:, 0].numpy(), expected, rtol=1e-6)
    _, td = advantages(rewards, values, discount=0.9, gae_lambda=0.0)
    np.testing.assert_allclose(td[:, 0].numpy(), [0.9 * 0.2, 1.0 + 0.9 * 0.1, 0.0], rtol=1e-6)


def test_navigation_run_folder_summary_and_baselines(l2l_navigation_run):
    summary = json.loads((l2l_navigation_run / "summary.json").read_text())
    for key in (
        "test_goals_per_episode",
        "random_policy_goals_per_episode",
        "random_held_policy_goals_per_episode",
        "untrained_test_goals_per_episode",
        "oracle_goals_per_episode",
        "validation_goals_per_episode",
    ):
        assert key in summary and summary[key] >= 0
    assert summary["oracle_goals_per_episode"] > summary["random_policy_goals_per_episode"]
    records = lines(l2l_navigation_run)
    assert [r["iteration"] for r in records if r["split"] == "validation"] == [0, 2, 4]
    assert [r["split"] for r in records].count("test") == 1 and summary["test_episodes"] == 8


def test_navigation_resumes_bit_identically(tmp_path):
    straight = trainer("meta_rl_navigation.yaml", NAVIGATION, tmp_path / "a", 4)
    with straight.folder.session():
        for _ in range(4):
            straight.train_step()
        straight.save()
    interrupted = trainer("meta_rl_navigation.yaml", NAVIGATION, tmp_path / "c", 4)
    with interrupted.folder.session():
        for _ in range(3):
            interrupted.train_step()
            if interrupted.iteration == 2:
                interrupted.save()  # the third step is lost with the process
    resumed = trainer("meta_rl_navigation.yaml", NAVIGATION, tmp_path / "c", 4, resume=True)
    assert resumed.iteration == 2
    with resumed.folder.session():
        for _ in range(2):
            resumed.train_step()
    for name, value in straight.twin.state_dict().items():
        assert torch.equal(value, resumed.twin.state_dict()[name]), name
    assert torch.equal(straight.log_std, resumed.log_std)
    train = [r for r in lines(tmp_path / "a") if r["split"] == "train"]
    assert train == [r for r in lines(tmp_path / "c") if r["split"] == "train"]


def test_brian2_plays_the_trained_agent_in_closed_loop_like_the_twin(l2l_navigation_run):
    report = validate_navigation(l2l_navigation_run / "checkpoint.safetensors", episodes=6, progress=False)
    assert report["action_agreement"] == 1.0 and report["max_action_difference"] < 1e-9
    assert report["brian_goals"] == report["twin_goals"] and sum(report["brian_goals"]) > 0  # teleports happened


def test_navigation_episodes_become_neo_with_goals_and_positions(l2l_navigation_run):
    trained, played = navigation_episodes(
        l2l_navigation_run / "checkpoint.safetensors", episodes=3, record={"ALIF": ["b"]}
    )
    seeds = trained.task.episode_seeds("test", 3)
    block = navigation_block(trained.spec, played, seeds)
    for segment, episode in zip(block.segments, played):
        position = next(s for s in segment.analogsignals if s.name == "position")
        assert position.shape == (150, 2) and 0 <= position.magnitude.min() and position.magnitude.max() <= 1
        goals = [e for e in segment.events if e.name == "task"]
        assert (len(goals[0]) if goals else 0) == episode.goals == segment.annotations["goals"]
        for time, step in zip(goals[0].times if goals else [], episode.goal_steps):
            assert (
                float(time.rescale("ms")) == step and np.hypot(*(episode.positions[step] - episode.goal)) < 0.45 + 0.01
            )
    assert sum(e.goals for e in played) > 0


# ------------------------------------------------------------------------------------------ documents and errors


def test_a_closed_loop_trainer_refuses_an_open_loop_task(tmp_path):
    built = experiment("store_recall.yaml", ["compile=false"])
    with pytest.raises(LsnnBioError, match="not a closed-loop task"):
        ActorCriticTrainer(built, tmp_path / "run")


@pytest.mark.parametrize(
    "setting, message",
    [
        (
            "actor_critic.discount=1.5",
            r"key 'actor_critic.discount': 1.5 is out of range \(accepted: a number in \[0, 1\]",
        ),
        ("actor_critic.decision_ms=0", r"key 'actor_critic.decision_ms': 0 is out of range"),
        ("actor_critic.value=policy", "needs 1 there"),
    ],
)
def test_bad_actor_critic_settings_are_one_line_errors(tmp_path, setting, message):
    with pytest.raises(LsnnBioError, match=message):
        trainer("meta_rl_navigation.yaml", NAVIGATION + [setting], tmp_path / "run", 1)


def test_validators_refuse_the_other_kind_of_checkpoint(l2l_navigation_run):
    with pytest.raises(LsnnBioError, match="needs a checkpoint of a 'function_regression' experiment"):
        validate_regression(l2l_navigation_run / "checkpoint.safetensors", engine="numpy", progress=False)


# ------------------------------------------------------------------------------------------ figures


def test_recipes_draw_their_figures_from_tiny_runs(l2l_regression_run, l2l_navigation_run, tmp_path):
    run, _, _ = l2l_regression_run
    sine = tmp_path / "sine"
    regression_run(sine, iterations=2, settings=["task.family=sine", "task.n_inputs=30"])
    drawn = [
        recipe("l2l_mse_by_example").draw([run, run], tmp_path / "mse.png", labels=["LSNN", "LIF"], backprop=True),
        recipe("l2l_predictions").draw(
            run / "checkpoint.safetensors", tmp_path / "maps.png", functions=2, after=(0, 3), points=9
        ),
        recipe("l2l_predictions").draw(
            sine, tmp_path / "curves.png", functions=2, after=(0, 3), points=21, split="validation"
        ),
        recipe("l2l_adaptation").draw(run, tmp_path / "adaptation.png", episode=3, split="validation"),
        recipe("navigation_trajectories").draw(
            l2l_navigation_run / "checkpoint.safetensors", tmp_path / "paths.png", episodes=2
        ),
        recipe("navigation_learning_curve").draw([l2l_navigation_run], tmp_path / "curve.png"),
    ]
    for path in drawn:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000, path


def test_recipe_predictions_branch_from_the_state_after_k_examples(l2l_regression_run):
    """Asked example k's own x with example k's own spikes, the branch from the state after k examples answers exactly
    what the network answered in the episode; the query's rates are the task's rates for that example."""
    from lsnn_bio.learning_to_learn import regression_batches, trained_twin
    from lsnn_bio.trained import load_trained
    from lsnn_bio.training.regression import window_predictions

    run, _, _ = l2l_regression_run
    trained = load_trained(run / "checkpoint.safetensors")
    twin = trained_twin(trained)
    task = trained.task
    batch = regression_batches(task, "test", 2)[0]
    predictions = recipe("l2l_predictions")
    with torch.no_grad():
        result = twin({trained.input: torch.as_tensor(batch.inputs, dtype=twin.dtype)})
    episode = window_predictions(result.outputs[trained.readout], torch.as_tensor(batch.windows)).numpy()
    rates = task.input_rates(batch.x, batch.targets)
    for k in (0, 1, 5):
        grid = batch.x[1, k][None]
        np.testing.assert_allclose(predictions.query_rates(task, batch, 1, k, grid)[0], rates[1, k])
        spikes = batch.inputs[k * task.example_steps : (k + 1) * task.example_steps, 1:2]
        answer = predictions.query(trained, twin, batch, 1, k, spikes)
        assert answer[0] == pytest.approx(episode[1, k, 0], rel=1e-12, abs=1e-12)


def test_recipe_paired_scores_each_function_as_the_summary_does(l2l_regression_run):
    """The paired comparison's per-function MSE averages to the summary's test_mse; its statistics see a shift."""
    run, _, summary = l2l_regression_run
    paired = recipe("l2l_paired")
    per_function = paired.per_function_mse(paired.load(run / "checkpoint.safetensors"), twin_dtype="checkpoint")
    assert len(per_function) == summary["test_functions"]
    assert per_function.mean() == pytest.approx(summary["test_mse"], rel=1e-5)
    shifted = paired.paired(per_function, per_function + np.linspace(-0.1, 0.3, len(per_function)))
    assert shifted["mean_difference"] == pytest.approx(0.1)
    assert shifted["first_better"] > shifted["second_better"] > 0
    assert paired.paired(per_function, per_function)["t_test_p"] == 1.0


def test_recipe_planes_splits_the_runs_test_mse_and_refuses_other_tasks(l2l_regression_run, l2l_navigation_run, capsys):
    """The plane diagnostic scores the run's own predictions (its MSE is the summary's test_mse) and refuses a
    checkpoint of another task in one line."""
    from lsnn_bio.learning_to_learn import twin_predictions

    run, _, summary = l2l_regression_run
    planes = recipe("l2l_planes")
    trained = planes.load(run)  # a run folder stands for its checkpoint
    result = planes.planes(trained, "test", redraws=2)
    assert result["mse"] == pytest.approx(summary["test_mse"], rel=1e-9)
    assert result["plane_mse"] + result["off_plane_mse"] == pytest.approx(result["mse"], rel=1e-12)
    assert len(result["slopes"]) == 2
    spikes = result["spike_timing"]  # the run's own spikes and two other draws of the same examples
    assert spikes["draws"] == 3 and spikes["spread_mse"] > 0
    assert spikes["spread_mse"] + spikes["systematic_mse"] == pytest.approx(spikes["mse"], rel=1e-12)
    first, again, own = (twin_predictions(trained, "test", redraw=r) for r in (0, 0, None))
    assert np.array_equal(first[0], again[0]) and not np.array_equal(first[0], own[0])  # seeded, and other spikes
    assert np.array_equal(first[1], own[1]) and np.array_equal(first[2], own[2])  # of the same targets and x
    with pytest.raises(
        SystemExit, match=r"^l2l_planes: .*l2l_planes needs a checkpoint of a 'function_regression' experiment"
    ):
        planes.main([str(l2l_navigation_run / "checkpoint.safetensors")])
    planes.main([str(run / "checkpoint.safetensors"), "--json"])
    assert json.loads(capsys.readouterr().out)["split"] == "validation"


def test_recipes_refuse_bad_arguments_in_one_line_before_drawing(
    l2l_regression_run, l2l_navigation_run, tmp_path, capsys
):
    """What a user mistypes reaches the recipes' own checks and ends in one line naming what is accepted, never a
    traceback or a figure of another function than the one asked for; run folders stand for their checkpoints."""
    run, nav, png = str(l2l_regression_run[0]), str(l2l_navigation_run), str(tmp_path / "f.png")
    other = tmp_path / "validate.json"  # a validate report of another checkpoint
    other.write_text(json.dumps({"brian_mse": [1.0], "functions": 1, "checkpoint_sha256": "0" * 64}))
    refused = [
        (
            "l2l_adaptation",
            [run, "--out", png, "--episode", "100000"],
            r"--episode 100000: no such test function \(accepted: 0 to \d+\)",
        ),
        ("l2l_adaptation", [run, "--out", png, "--episode", "-1"], r"--episode -1: no such test function"),
        (
            "l2l_adaptation",
            [run, "--out", png, "--population", "LIFF"],
            r"--population LIFF: not in .* \(accepted: .*ALIF",
        ),
        ("l2l_adaptation", [nav, "--out", png], r"needs a checkpoint of a 'function_regression' experiment"),
        ("l2l_predictions", [run, "--out", png, "--functions", "0"], r"--functions 0: accepted 1 to \d+"),
        ("l2l_predictions", [run, "--out", png, "--after", "100000"], r"--after: no example count below"),
        ("l2l_predictions", [run, "--out", png, "--points", "1"], r"--points 1: accepted 2 or more"),
        ("navigation_trajectories", [run, "--out", png], r"needs a checkpoint of a 'meta_rl_navigation' experiment"),
        ("navigation_trajectories", [nav, "--out", png, "--episodes", "0"], r"--episodes 0: accepted 1 to \d+"),
        ("l2l_paired", [str(tmp_path), run], r"a folder without checkpoint.safetensors"),
        ("learning_curve", [run, "--out", png], r"its metrics have no accuracy \(accepted: classification runs"),
        ("paper_table", [run], r"its summary has no test_accuracy \(accepted: classification runs"),
        ("l2l_mse_by_example", [run, "--out", str(tmp_path / "missing" / "f.png")], r"missing/f.png: No such file"),
        ("l2l_mse_by_example", [run, "--out", png, "--brian", f"{run}/summary.json"], r"--brian .*: no brian_mse"),
        (
            "l2l_mse_by_example",
            [run, "--out", png, "--brian", f"{run}/checkpoint.safetensors"],
            r"not a lsnn-bio validate",
        ),
        ("l2l_mse_by_example", [run, "--out", png, "--brian", str(other)], r"--brian .*: validates another checkpoint"),
    ]
    for name, argv, message in refused:
        with pytest.raises(SystemExit, match=f"^{name}: .*{message}") as stop:
            recipe(name).main(argv)
        assert "\n" not in str(stop.value.code), stop.value.code
    for argv in (["--after", "0,x"], ["--after", "-2"]):
        with pytest.raises(SystemExit) as stop:
            recipe("l2l_predictions").main([run, "--out", png, *argv])
        assert stop.value.code == 2 and "--after" in capsys.readouterr().err
    assert not (tmp_path / "f.png").exists()
    drawn = recipe("l2l_mse_by_example").main([f"{run}/checkpoint.safetensors", "--out", str(tmp_path / "g.png")])
    assert drawn is None and (tmp_path / "g.png").is_file()  # a checkpoint stands for its run folder


def test_recipe_horizon_scores_the_trained_length_as_the_run_did_and_runs_past_it(
    l2l_regression_run, l2l_navigation_run, tmp_path, capsys
):
    """At the trained number of examples, one per block, the horizon recipe's network and linear MSE are the run's
    validation scores per example; past it the episode simply runs on, and what it cannot score is refused."""
    run, _, summary = l2l_regression_run
    horizon = recipe("l2l_horizon")
    trained = len(summary["validation_mse_by_example"])
    result = horizon.horizon(run, trained, functions=summary["validation_functions"], block=1)
    assert result["trained_examples"] == trained and result["functions"] == summary["validation_functions"]
    assert [b["mse"] for b in result["blocks"]] == pytest.approx(summary["validation_mse_by_example"], rel=1e-5)
    assert [b["linear_mse"] for b in result["blocks"]] == pytest.approx(
        summary["validation_linear_baseline_mse_by_example"], rel=1e-9
    )
    horizon.main([str(run), "--examples", str(3 * trained), "--block", str(trained), "--functions", "3", "--json",
                  "--out", str(tmp_path / "horizon.png")])  # fmt: skip
    longer = json.loads(capsys.readouterr().out)
    assert [b["examples"] for b in longer["blocks"]] == [[k * trained, (k + 1) * trained - 1] for k in range(3)]
    assert all(np.isfinite(b["mse"]) and set(b["rates_hz"]) == {"LIF", "ALIF"} for b in longer["blocks"])
    assert longer["unit"] == "mV" and all(b["A"] > 1 for b in longer["blocks"])  # thresholds of ~10 mV, not 0.01 V
    assert (tmp_path / "horizon.png").read_bytes()[:4] == b"\x89PNG"
    for argv, message in (
        ([str(run), "--examples", "1"], r"--examples 1, .*accepted 2 to \d+ examples"),
        (
            [str(run), "--examples", str(20 * trained + 1)],
            rf"--examples {20 * trained + 1}, .*accepted 2 to {20 * trained} ",
        ),
        ([str(run), "--examples", "4", "--population", "prediction"], r"--population prediction: not in .*LIF, ALIF"),
        ([str(l2l_navigation_run), "--examples", "4"], r"needs a checkpoint of a 'function_regression'"),
    ):
        with pytest.raises(SystemExit, match=f"^l2l_horizon: .*{message}"):
            horizon.main(argv)


@pytest.mark.parametrize("per_example", [True, False])
def test_recipe_lstm_learns_the_documents_task_and_reads_test_once(per_example, l2l_regression_run, tmp_path):
    """The LSTM comparison trains on the document's task (its batches, windows and schedule), its validation
    MSE falls, its test scores sit beside the linear baseline of the same test functions, and its JSON draws
    beside a run in the per-example figure."""
    lstm = recipe("l2l_lstm")
    settings = [*REGRESSION, "validation.every=30"]
    scores = lstm.lstm_scores(ROOT / "training" / "l2l_regression.yaml", settings, 60, per_example, 32, log=lambda _: 0)
    curve = [point["validation_mse"] for point in scores["validation"]]
    assert [point["iteration"] for point in scores["validation"]] == [30, 60]
    assert curve[-1] < curve[0] < 5
    run, _, summary = l2l_regression_run  # the same document and settings: the same test functions
    assert scores["linear_baseline_mse"] == pytest.approx(summary["linear_baseline_mse"])
    assert len(scores["test_mse_by_example"]) == len(summary["test_mse_by_example"]) and scores["test_mse"] > 0
    (tmp_path / "lstm.json").write_text(json.dumps(scores))
    drawn = recipe("l2l_mse_by_example").draw([run, tmp_path / "lstm.json"], tmp_path / "mse.png")
    assert drawn.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_recipe_lstm_refuses_bad_arguments_and_an_interrupt_leaves_no_file(monkeypatch, tmp_path, capsys):
    lstm = recipe("l2l_lstm")
    document = str(ROOT / "training" / "l2l_regression.yaml")
    for argv, words in [
        (["--hidden", "0"], "0 is not a count"),
        (["--out", str(tmp_path / "missing" / "x.json")], "not a file in an existing folder"),
    ]:
        with pytest.raises(SystemExit):
            lstm.main([document, *argv])
        assert words in capsys.readouterr().err
    monkeypatch.setattr(lstm, "lstm_scores", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(SystemExit) as stop:
        lstm.main([document, "--out", str(tmp_path / "x.json")])
    assert stop.value.code == 130 and "interrupted: nothing written" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------ the command line


def test_cli_validate_and_simulate_an_l2l_checkpoint(l2l_regression_run, tmp_path, capsys):
    """As a user runs them: validate --json reports Brian2's and the twin's MSE per example, and without --json a
    table of the second half's; simulate writes Neo with one epoch per example and the target as a signal."""
    from lsnn_bio.cli import main
    from lsnn_bio.neo import read_block
    from lsnn_bio.validation import report_lines

    run, _, _ = l2l_regression_run
    checkpoint = str(run / "checkpoint.safetensors")
    assert main(["validate", checkpoint, "--engine", "numpy", "--trials", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["brian_mse"]) == len(report["twin_mse"]) == 8 and report["functions"] == 3
    np.testing.assert_allclose(report["brian_mse"], report["twin_mse"], rtol=1e-9)
    printed = "\n".join(report_lines(report))  # what validate prints without --json
    assert printed.startswith("3 test functions of 8 examples on numpy") and "{" not in printed
    assert re.search(rf"\n  Brian2 MSE +{report['brian_mse_second_half']:.4f}\n", printed), printed
    out = tmp_path / "episodes.nix"
    assert main(["simulate", checkpoint, "--trials", "2", "--engine", "numpy", "--out", str(out), "--record", "b"]) == 0
    block = read_block(out)
    assert len(block.segments) == 2
    assert [s.name for s in block.segments[0].analogsignals if s.name in ("target", "input_x")] == ["target", "input_x"]
    assert len(block.segments[0].epochs[0]) == 8


def test_cli_validate_and_simulate_a_navigation_checkpoint(l2l_navigation_run, tmp_path, capsys):
    from lsnn_bio.cli import main
    from lsnn_bio.neo import read_block
    from lsnn_bio.validation import report_lines

    checkpoint = str(l2l_navigation_run / "checkpoint.safetensors")
    assert main(["validate", checkpoint, "--trials", "4", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["episodes"] == 4 and report["action_agreement"] == 1.0
    assert report["brian_goals"] == report["twin_goals"]
    printed = "\n".join(report_lines(report))
    assert printed.startswith("4 test episodes on") and re.search(r"\n  action agreement +1.0000\n", printed), printed
    out = tmp_path / "episodes.nix"
    raster = tmp_path / "raster.png"
    assert main(["simulate", checkpoint, "--trials", "2", "--out", str(out), "--raster", str(raster)]) == 0
    printed = json.loads(capsys.readouterr().out)
    block = read_block(out)
    positions = [next(s for s in segment.analogsignals if s.name == "position") for segment in block.segments]
    assert [p.shape for p in positions] == [(150, 2), (150, 2)]
    assert [segment.annotations["goals"] for segment in block.segments] == printed["goals"]
    assert raster.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
