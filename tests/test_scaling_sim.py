"""The scheduler's simulation that perf/scaling_sim.py and docs/scaling.md rest on."""

from benchmark.run.jobs import EXPERIMENT_JOB, SOURCE_JOB, Job
from benchmark.run.planner import Experiment
from benchmark.run.schedule import simulate


def experiment(name: str, cost: float, needs: str = "") -> Job:
    return Job(EXPERIMENT_JOB, name, name, "src" if needs else "none", Experiment("t", "src", name, 0), needs=needs,
               cost=cost)


def test_longest_first_on_two_slots_is_grahams_worst_case():
    # LPT puts 3 and 3 on the two slots, then 2, 2 and a last 2 alone: 7, where 3+3 | 2+2+2 would take 6
    jobs = [experiment(f"e{i}", cost) for i, cost in enumerate((2, 3, 2, 3, 2))]
    run = simulate(jobs, 2)
    assert run.wall == 7
    assert sorted(run.busy) == [5, 7]


def test_an_experiment_never_starts_before_its_source_ends():
    source = Job(SOURCE_JOB, "source:src", "source src", "src", cost=5.0)
    dependents = [experiment(f"d{i}", 1.0, needs=source.id) for i in range(3)]
    free = [experiment(f"f{i}", 2.0) for i in range(4)]
    run = simulate([*free, *dependents, source], 3)
    spans = {job_id: (start, end) for job_id, _, start, end in run.timeline}
    assert spans[source.id] == (0.0, 5.0)  # sources go first
    assert all(spans[job.id][0] >= 5.0 for job in dependents)
    assert run.wall == 6.0  # the free jobs fill the other two slots meanwhile: 2+2 | 2+2, then 1 | 1 | 1


def test_durations_override_the_costs_that_order_the_queue():
    # the scheduler orders by cost (b first), but the jobs last what durations say
    jobs = [experiment("a", 1.0), experiment("b", 9.0)]
    run = simulate(jobs, 1, {"a": 4.0, "b": 0.5})
    assert [job_id for job_id, *_ in run.timeline] == ["b", "a"]
    assert run.wall == 4.5
