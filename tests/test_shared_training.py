"""Train once, score many: the methods that score one network (``ft``, ``ft-svm``, a plugin's that names the same
``shared_training``) share a training job per target, source and seed, on every launcher; a resumed run and a run
into another folder find it in the cache instead of training it again."""

import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import TINY
from fakedata import no_builtin_datasets

from benchmark import testing
from benchmark.data.taskdata import TaskData
from benchmark.presets import Preset
from benchmark.registry.trainedsources import DatasetSource
from benchmark.run.context import ExperimentContext
from benchmark.run.jobs import EXPERIMENT_JOB, SOURCE_JOB, TRAINING_JOB, Job
from benchmark.run.keptmodels import load_model, row_kept_path
from benchmark.run.planner import Experiment, Selection, build_plan
from benchmark.run.runner import _stranded, build_jobs
from benchmark.run.schedule import Scheduler
from benchmark.run.store import Store
from benchmark.run.trainings import TrainedNetworks
from benchmark.settings import RunSettings

BASE = ["-p", "tiny_plugin", "-p", "shared_plugin", *(arg for flag in no_builtin_datasets() for arg in ("-p", flag))]
GRID = ["-d", "tiny_tgt", "-s", "tiny_src", "-m", "ft", "-m", "ft-svm", "-m", "ft-probe", *TINY, "--threads", "1",
        "--no-audit"]


@pytest.fixture
def trainings(monkeypatch):
    """Counts of the networks trained in this process: ``experiment`` (ExperimentContext.train, which every
    method's and shared training's network goes through) and ``source`` (a harness-trained source's model)."""
    counts = {"experiment": 0, "source": 0}
    train, train_source = ExperimentContext.train, DatasetSource._train

    def counted_train(self, model):
        counts["experiment"] += 1
        return train(self, model)

    def counted_source(self, *args):
        counts["source"] += 1
        return train_source(self, *args)

    monkeypatch.setattr(ExperimentContext, "train", counted_train)
    monkeypatch.setattr(DatasetSource, "_train", counted_source)
    return counts


def _rows(out) -> dict:
    return {(row["method"], row["seed"]): row for row in Store(out).rows()}


def test_the_embedded_defaults_grid_trains_each_fine_tuned_network_once(tmp_path):
    catalog = testing.catalog()
    settings = RunSettings.build(device="cpu", data_root=tmp_path / "data", cache_dir=tmp_path / "cache")
    plan = build_plan(catalog, settings, Selection())  # tlbench run --all
    jobs, _ = build_jobs(plan, catalog, settings, None)
    by_id = {job.id: job for job in jobs}
    experiments = [job for job in jobs if job.kind == EXPERIMENT_JOB]
    pairs = {}
    for job in experiments:
        exp = job.experiment
        if exp.method in ("ft", "ft-svm"):
            pairs.setdefault((exp.target, exp.source, exp.seed), {})[exp.method] = job
    assert pairs and all(set(pair) == {"ft", "ft-svm"} for pair in pairs.values())
    for (target, source, seed), pair in pairs.items():
        training = by_id[pair["ft"].needs]
        assert training.kind == TRAINING_JOB and pair["ft-svm"].needs == training.id and training.trains
        assert pair["ft"].training == pair["ft-svm"].training == training.training
        assert (training.experiment.target, training.experiment.source, training.experiment.seed) == (target, source,
                                                                                                      seed)
        assert not pair["ft"].trains and not pair["ft-svm"].trains
    trainings = [job for job in jobs if job.kind == TRAINING_JOB]
    assert len(trainings) == len(pairs) == len({job.training for job in trainings})
    # every other network is trained by its own job: a source's, or an experiment whose method trains its own
    own = [job for job in experiments if catalog.methods[job.experiment.method].trains and not job.training]
    sources = [job for job in jobs if job.kind == SOURCE_JOB]
    assert sum(job.trains for job in jobs) == len(sources) + len(trainings) + len(own)
    # the grid before: a training per source and per experiment whose method trains, ft and ft-svm each their own
    before = len(sources) + sum(catalog.methods[job.experiment.method].trains for job in experiments)
    assert sum(job.trains for job in jobs) == before - len(pairs)


def test_on_the_embedded_default_ft_and_ft_svm_of_a_seed_train_one_network(cli, tmp_path, trainings):
    result = cli("run", "-d", "synth_xray", "-s", "synth_shapes", "-m", "ft", "-m", "ft-svm", "--seeds", "2,5",
                 "--no-audit", "--out", tmp_path / "run", *TINY)
    assert result.exit_code == 0, result.output
    assert trainings == {"experiment": 2, "source": 1}  # before: 4 fine-tunings, one per experiment
    rows = _rows(tmp_path / "run")
    assert len(rows) == 4 and {row["status"] for row in rows.values()} == {"passed"}
    assert all(rows[("ft", seed)]["versions"]["training"] == rows[("ft-svm", seed)]["versions"]["training"]
               for seed in (2, 5))


def _retrain_source_differently(cache) -> None:
    """Replace the cached model of source tiny_src by another one of the same identity, as a training of it again
    on a GPU (not bit-reproducible) would make after its file was damaged."""
    (path,) = (cache / "sources").glob("tiny_src-*.pt")
    state = torch.load(path, weights_only=True)
    torch.save({name: tensor + 0.01 if tensor.is_floating_point() else tensor for name, tensor in state.items()}, path)


def test_a_source_trained_again_retrains_its_fine_tunings_and_the_board_says_while_results_mix_its_models(
        cli, tmp_path, trainings):
    out, args = tmp_path / "run", ["run", "-d", "tiny_tgt", "-s", "tiny_src", "-m", "ft", "-m", "ft-svm",
                                   "-m", "fe-svm", *TINY, "--threads", "1", "--no-audit"]
    assert cli("-p", "tiny_plugin", *args, "--seeds", "2", "--out", out).exit_code == 0
    first = _rows(out)[("ft", 2)]
    _retrain_source_differently(tmp_path / "cache")
    more = cli("-p", "tiny_plugin", *args, "--seeds", "2,5", "--out", out)
    assert more.exit_code == 0, more.output
    rows = _rows(out)
    models = {seed: {rows[(m, seed)]["versions"]["source_model"] for m in ("ft", "ft-svm", "fe-svm")}
              for seed in (2, 5)}
    assert len(models[2]) == len(models[5]) == 1 and models[2] != models[5]
    shown = cli("-p", "tiny_plugin", "show", "--out", out, "--format", "md")
    assert "tiny_src's results of one training come from 2 different models of it" in " ".join(shown.output.split())
    # rerun as the board says: seed 2's fine-tuning, cached from the old source model, is trained again
    trainings.update(experiment=0, source=0)
    again = cli("-p", "tiny_plugin", *args, "--seeds", "2,5", "--out", out, "--rerun", "all")
    assert again.exit_code == 0, again.output
    assert "was trained from another model of its source" in " ".join(again.output.split())
    assert trainings == {"experiment": 1, "source": 0}  # seed 2's; seed 5's was trained from the current model
    rows = _rows(out)
    assert len({row["versions"]["source_model"] for row in rows.values()}) == 1 and len(rows) == 6
    assert rows[("ft", 2)]["versions"]["initial_weights"] != first["versions"]["initial_weights"]
    shown = cli("-p", "tiny_plugin", "show", "--out", out, "--format", "md")
    assert "different models of it" not in shown.output


def test_a_source_trained_per_seed_trains_one_model_for_each_seed_and_the_board_counts_its_variance(
        cli, tmp_path, trainings):
    out, args = tmp_path / "run", ["-p", "tiny_plugin", "run", "-d", "tiny_tgt", "-s", "tiny_src", "-m", "ft",
                                   "-m", "fe-svm", *TINY, "--threads", "1", "--no-audit", "--seeds", "2,5"]
    planned = cli(*args, "--source-training", "per-seed", "--out", out, "--collect-only")
    flat = " ".join(planned.output.split())
    assert "source tiny_src[seed=2]: model to train" in flat and "source tiny_src[seed=5]: model to train" in flat
    result = cli(*args, "--source-training", "per-seed", "--out", out)
    assert result.exit_code == 0, result.output
    assert trainings == {"experiment": 2, "source": 2}
    flat = " ".join(result.output.split())
    assert "SOURCE tiny_src[seed=2] model ready" in flat and "SOURCE tiny_src[seed=5] model ready" in flat
    rows = _rows(out)
    assert {seed: rows[("fe-svm", seed)]["config"]["source"]["seed"] for seed in (2, 5)} == {2: 2, 5: 5}
    assert rows[("ft", 2)]["versions"]["source_model"] == rows[("fe-svm", 2)]["versions"]["source_model"] != \
        rows[("ft", 5)]["versions"]["source_model"]
    assert all(row["config"]["preset"]["source_training"] == "per-seed" for row in rows.values())
    board = " ".join(cli("-p", "tiny_plugin", "show", "--out", out, "--format", "md").output.split())
    assert "anew for each seed, with that seed: tiny_src" in board
    assert "older result" not in board and "different models" not in board  # the seeds are one cell each
    # the study's protocol beside it: one model (seed 0), its own hashes, the per-seed rows left alone
    once = cli(*args, "--out", tmp_path / "once")
    assert once.exit_code == 0, once.output
    assert trainings["source"] == 3
    assert "source_training" not in _rows(tmp_path / "once")[("ft", 2)]["config"]["preset"]


def test_ft_ft_svm_and_a_plugin_method_share_one_training_per_seed_and_score_as_if_trained_alone(cli, tmp_path,
                                                                                                   trainings):
    out = tmp_path / "run"
    result = cli(*BASE, "run", *GRID, "--seeds", "2,5", "--out", out)
    assert result.exit_code == 0, result.output
    assert trainings == {"experiment": 2, "source": 1}  # before: 6 fine-tunings, one per experiment
    rows = _rows(out)
    assert len(rows) == 6 and {row["status"] for row in rows.values()} == {"passed"}
    for seed in (2, 5):
        keys = {rows[(method, seed)]["versions"]["training"] for method in ("ft", "ft-svm", "ft-probe")}
        assert len(keys) == 1
        assert {rows[(method, seed)]["versions"]["initial_weights"] for method in ("ft", "ft-svm")} == \
            {rows[("ft-probe", seed)]["versions"]["initial_weights"]}
        assert rows[("ft", seed)]["history"] == rows[("ft-svm", seed)]["history"] != []
    assert rows[("ft", 2)]["versions"]["training"] != rows[("ft", 5)]["versions"]["training"]
    assert len(list((tmp_path / "cache" / "trained").glob("*.pt"))) == 2
    assert " ".join(result.output.split()).count("TRAINING tiny_tgt::tiny_src::fine-tune[seed=") == 2
    # the kept model is the shared one, once; it rebuilds ft's stored scores
    model, about = load_model(row_kept_path(out, rows[("ft", 5)]))
    assert about["training"] == rows[("ft", 5)]["versions"]["training"]
    assert len(list((out / "models").glob("*.pt"))) == 2

    # trained and scored in one go (Method.run, as every experiment ran before): the very same scores
    row = rows[("ft-svm", 5)]
    torch.set_num_threads(1)
    settings = RunSettings(Preset.from_fields(row["preset"]), torch.device("cpu"), tmp_path, tmp_path / "cache")
    catalog = testing.catalog(["tiny_plugin"])
    dataset, task = catalog.tasks()["tiny_tgt"]
    source = catalog.all_sources()["tiny_src"]
    ctx = ExperimentContext(TaskData(settings).split(dataset, task, 5), settings, 5, source)
    alone = catalog.methods["ft-svm"].run(ctx)
    np.testing.assert_array_equal(alone.scores.round(6), np.array(row["scores"]["scores"]))
    assert ctx.info["initial_weights"] == row["versions"]["initial_weights"]


def test_a_killed_run_resumes_without_retraining_and_another_run_reuses_the_cached_training(cli, tmp_path,
                                                                                             trainings, monkeypatch):
    out = tmp_path / "run"
    probe = type(testing.catalog(["shared_plugin"]).methods["ft-probe"])

    def killed(self, ctx, model):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(probe, "score", killed)
        interrupted = cli(*BASE, "run", *GRID, "--seeds", "2", "--out", out)
    assert interrupted.exit_code != 0
    assert trainings == {"experiment": 1, "source": 1}
    assert ("ft-probe", 2) not in {key for key, row in _rows(out).items() if row["status"] == "passed"}

    resumed = cli(*BASE, "run", *GRID, "--seeds", "2", "--out", out)
    assert resumed.exit_code == 0, resumed.output
    assert trainings == {"experiment": 1, "source": 1}, "the resumed run trained again"
    assert "found in the cache" in resumed.output
    rows = _rows(out)
    assert len(rows) == 3 and {row["status"] for row in rows.values()} == {"passed"}
    assert len({row["versions"]["training"] for row in rows.values()}) == 1

    # another run folder, the same cache: its kept model comes from the cached training, trained by no one
    other = tmp_path / "other"
    again = cli(*BASE, "run", *GRID, "--seeds", "2", "--out", other, "--keep-models", "all")
    assert again.exit_code == 0, again.output
    assert trainings == {"experiment": 1, "source": 1}
    row = _rows(other)[("ft-svm", 2)]
    assert row["versions"]["kept_model"] == f"models/{row['versions']['training']}.pt"
    assert row["metrics"]["auc"] == rows[("ft-svm", 2)]["metrics"]["auc"]
    assert load_model(row_kept_path(other, row))[1]["record"]["history"] == rows[("ft-svm", 2)]["history"]

    # the cache cleared: a rerun restores the training from the model its run folder keeps, trained by no one
    shutil.rmtree(tmp_path / "cache" / "trained")
    rerun = cli(*BASE, "run", *GRID, "--seeds", "2", "--out", other, "--rerun", "all")
    assert rerun.exit_code == 0, rerun.output
    assert trainings == {"experiment": 1, "source": 1} and "restored from its kept model" in rerun.output
    assert _rows(other)[("ft-svm", 2)]["scores"] == row["scores"]


def test_the_dry_run_shows_one_training_job_that_its_scoring_jobs_wait_for(cli, tmp_path):
    result = cli(*BASE, "run", *GRID, "--seeds", "2", "--launcher", "dry-run", "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("5 job(s), 2 of them training a network") for line in lines)
    (training,) = [line.split()[1] for line in lines if line.strip().startswith("training ")]
    assert training == "tiny_tgt::tiny_src::fine-tune[seed=2]"
    waiting = [line for line in lines if line.strip().startswith("experiment ") and ", after training:" in line]
    assert len(waiting) == 3 and not (tmp_path / "run").exists()


def test_a_method_whose_shared_training_contradicts_it_is_refused_with_what_to_change():
    catalog = testing.catalog(["bad_shared_plugin"])
    assert "confused" not in catalog.methods
    (plugin,) = [p for p in catalog.plugins if p.name == "bad_shared_plugin"]
    assert plugin.status == "broken" and "shared_training 'fine-tune' trains a network: set trains = True" in \
        plugin.error


def test_a_failed_source_or_training_strands_the_experiments_waiting_through_it():
    def experiment(method: str, needs: str) -> Job:
        return Job(EXPERIMENT_JOB, method, method, "src", Experiment("t", "src", method, 0), needs=needs, cost=1.0)

    source = Job(SOURCE_JOB, "source:src", "source src", "src", cost=5.0)
    training = Job(TRAINING_JOB, "training:k", "t::src::fine-tune[seed=0]", "src", Experiment("t", "src", "ft", 0),
                   needs=source.id, cost=10.0, training="k")
    scorers = [experiment("ft", training.id), experiment("ft-svm", training.id)]
    own = experiment("lp-ft", source.id)
    scheduler = Scheduler([source, training, *scorers, own])
    assert scheduler.next() is source
    assert {job.id for job in _stranded(scheduler, source)} == {"ft", "ft-svm", "lp-ft"}
    # a training that ran first, costliest first, its scorers counting in its cost; then they get its digest
    scheduler = Scheduler([replace(training, needs=""), *scorers, replace(experiment("x", ""), cost=0.5)])
    first = scheduler.next()
    assert first.kind == TRAINING_JOB
    assert scheduler.finished(first, True, "abc") == []
    assert {(job.id, job.training_digest) for job in (scheduler.next(), scheduler.next())} == {("ft", "abc"),
                                                                                              ("ft-svm", "abc")}


def test_submitits_processes_score_the_network_another_process_trained(cli, tmp_path):
    grid = ["-d", "tiny_tgt", "-s", "tiny_src", "-m", "ft", "-m", "ft-svm", "--seeds", "2", "--no-audit", *TINY]
    local = cli(*BASE, "run", *grid, "--threads", "1", "--out", tmp_path / "local", "--cache-dir", tmp_path / "c1")
    assert local.exit_code == 0, local.output
    slurm = cli(*BASE, "run", *grid, "--out", tmp_path / "slurm", "--cache-dir", tmp_path / "c2", "--launcher",
                "submitit", "--launcher-option", "executor=local", "--cpus-per-job", "1")
    assert slurm.exit_code == 0, slurm.output
    expected, found = _rows(tmp_path / "local"), _rows(tmp_path / "slurm")
    assert set(found) == set(expected) == {("ft", 2), ("ft-svm", 2)}
    for key, row in expected.items():
        assert found[key]["status"] == "passed" and found[key]["metrics"]["auc"] == pytest.approx(
            row["metrics"]["auc"], abs=1e-6)
        assert found[key]["versions"]["training"] == row["versions"]["training"]
    assert len(list((tmp_path / "c2" / "trained").glob("*.pt"))) == 1


def test_a_process_that_cannot_find_the_network_another_trained_without_a_writable_cache_trains_it(cli, tmp_path):
    grid = ["-d", "tiny_tgt", "-s", "tiny_src", "-m", "ft", "-m", "ft-svm", "--seeds", "2", "--no-audit", *TINY]
    local = cli(*BASE, "run", *grid, "--threads", "1", "--out", tmp_path / "local", "--cache-dir", tmp_path / "c1")
    assert local.exit_code == 0, local.output
    (tmp_path / "c2").mkdir()
    (tmp_path / "c2" / "trained").write_text("a file where the trained networks' folder should be")
    slurm = cli(*BASE, "run", *grid, "--out", tmp_path / "slurm", "--cache-dir", tmp_path / "c2", "--launcher",
                "submitit", "--launcher-option", "executor=local", "--cpus-per-job", "1")
    assert slurm.exit_code == 0, slurm.output
    expected, found = _rows(tmp_path / "local"), _rows(tmp_path / "slurm")
    for key, row in expected.items():  # each scoring process trained the network its training job kept to itself
        assert found[key]["status"] == "passed" and found[key]["metrics"]["auc"] == pytest.approx(
            row["metrics"]["auc"], abs=1e-6)
        assert found[key]["versions"]["training"] == row["versions"]["training"]


def test_ray_tasks_score_the_network_another_task_trained(cli, tmp_path, ray_instance):
    grid = [*GRID, "--seeds", "2"]
    local = cli(*BASE, "run", *grid, "--out", tmp_path / "local", "--cache-dir", tmp_path / "c1")
    assert local.exit_code == 0, local.output
    on_ray = cli(*BASE, "run", *grid, "--out", tmp_path / "ray", "--cache-dir", tmp_path / "c2", "--launcher", "ray")
    assert on_ray.exit_code == 0, on_ray.output
    expected, found = _rows(tmp_path / "local"), _rows(tmp_path / "ray")
    assert set(found) == set(expected) and len(expected) == 3
    for key, row in expected.items():
        assert found[key]["status"] == "passed" and found[key]["metrics"]["auc"] == pytest.approx(
            row["metrics"]["auc"], abs=1e-6)
    assert len(list((tmp_path / "c2" / "trained").glob("*.pt"))) == 1


def test_the_cache_trains_a_network_once_retrains_a_damaged_one_and_keeps_an_unwritable_one_in_memory(tmp_path,
                                                                                                        caplog):
    calls = []

    def train():
        calls.append(1)
        return torch.nn.Linear(3, 2).state_dict(), {"history": [{"epoch": 1}], "info": {}, "seconds": 0.5}

    networks = TrainedNetworks(tmp_path / "cache")
    assert networks.ensure("ab12", train) and not networks.ensure("ab12", train) and len(calls) == 1
    state, record = networks.load("ab12")
    assert set(state) == {"weight", "bias"} and record["history"] == [{"epoch": 1}]
    networks.weights_path("ab12").write_bytes(b"torn")
    assert TrainedNetworks(tmp_path / "cache").ensure("ab12", train) and len(calls) == 2
    assert "is damaged" in caplog.text
    assert not networks.ensure("ab12", train, outdated=lambda record: "") and len(calls) == 2
    assert networks.ensure("ab12", train, outdated=lambda record: "was trained from another model")
    assert len(calls) == 3
    assert "was trained from another model; training it again" in caplog.text
    (tmp_path / "file").write_text("")  # a cache folder that cannot be made: kept in this process's memory
    unwritable = TrainedNetworks(tmp_path / "file")
    assert unwritable.ensure("cd34", train) and unwritable.load("cd34")[1]["seconds"] == 0.5
    with pytest.raises(FileNotFoundError, match="its training job must run first"):
        TrainedNetworks(tmp_path / "file").load("cd34")
