"""The torch thread default: CPUs this process may use (SLURM, affinity) // launcher jobs."""
import pytest
import torch

from sde_diffusion import threads
from sde_diffusion.threads import LAUNCHER_JOBS_ENV, apply_num_threads, resolve_num_threads


@pytest.fixture
def affinity(monkeypatch):
    def set_cpus(n):
        monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(n)))
    return set_cpus


def test_affinity_divided_by_launcher_jobs(affinity):
    affinity(16)
    assert resolve_num_threads(env={}).threads == 16
    assert resolve_num_threads(env={}).source == "affinity"
    assert resolve_num_threads(jobs=4, env={}).threads == 4
    assert resolve_num_threads(jobs=3, env={}).threads == 5  # floor(16 / 3)
    assert resolve_num_threads(jobs=32, env={}).threads == 1  # never 0
    assert resolve_num_threads(jobs=-1, env={}).threads == 1  # joblib n_jobs=-1: one per CPU
    assert resolve_num_threads(env={LAUNCHER_JOBS_ENV: "8"}).threads == 2


def test_slurm_allocation_wins_over_the_affinity_mask(affinity):
    affinity(64)
    plan = resolve_num_threads(env={"SLURM_CPUS_PER_TASK": "6"}, jobs=2)
    assert (plan.threads, plan.cpus, plan.source) == (3, 6, "SLURM_CPUS_PER_TASK")


def test_explicit_setting_wins_and_bad_values_are_named(affinity):
    affinity(4)
    assert resolve_num_threads(3, env={}).threads == 3 and resolve_num_threads(3, env={}).source == "setting"
    assert resolve_num_threads(0, env={}).threads == 4  # 0 = automatic
    with pytest.raises(ValueError, match=r"num_threads must be a positive integer, got -2"):
        resolve_num_threads(-2, env={})
    with pytest.raises(ValueError, match=r"SLURM_CPUS_PER_TASK must be a positive integer, got 'x'"):
        resolve_num_threads(env={"SLURM_CPUS_PER_TASK": "x"})
    with pytest.raises(ValueError, match="launcher jobs must be >= 1"):
        resolve_num_threads(jobs=0, env={})
    with pytest.raises(TypeError, match="num_threads"):
        resolve_num_threads(True, env={})


def test_apply_sets_torch_logs_and_warns_when_oversubscribed(affinity, caplog):
    affinity(2)
    before = torch.get_num_threads()
    try:
        with caplog.at_level("INFO", logger="sde_diffusion.threads"):
            plan = apply_num_threads(env={}, load=0.5)
        assert torch.get_num_threads() == 2 == plan.threads
        assert "torch threads: 2 = 2 CPUs (affinity) // 1 concurrent job(s)" in caplog.text
        apply_num_threads(4, env={}, load=0.0)
        assert "4 threads x 1 job(s) > 2 CPUs" in caplog.text
        apply_num_threads(env={}, load=7.0)
        assert "load average 7.0 exceeds the 2 CPUs" in caplog.text
    finally:
        torch.set_num_threads(before)


def test_omp_num_threads_is_respected_unless_set_explicitly(affinity):
    affinity(8)
    plan = resolve_num_threads(env={"OMP_NUM_THREADS": "1"})
    assert (plan.threads, plan.source) == (1, "OMP_NUM_THREADS")
    assert resolve_num_threads(3, env={"OMP_NUM_THREADS": "1"}).threads == 3
    with pytest.raises(ValueError, match=r"OMP_NUM_THREADS must be a positive integer, got 'many'"):
        resolve_num_threads(env={"OMP_NUM_THREADS": "many"})


def test_automatic_count_leaves_the_cpus_other_processes_use(affinity, caplog):
    """2 threads on a loaded 2-core machine ran 8x slower than 1; the automatic count
    takes only the CPUs the start-up load average leaves free (never fewer than 1)."""
    affinity(8)
    assert resolve_num_threads(env={}, load=0.3).threads == 8          # quiet machine: all
    plan = resolve_num_threads(env={}, load=5.6)                       # 5 busy -> 3 free
    assert (plan.threads, plan.load) == (3, 5.6)
    assert "lowered because the load average 5.6 leaves only 3 CPU(s) free" in plan.describe()
    assert resolve_num_threads(env={}, load=40.0).threads == 1         # never 0
    assert resolve_num_threads(jobs=4, env={}, load=1.0).threads == 2  # min(8 // 4, 8 - 1)
    assert resolve_num_threads(5, env={}, load=40.0).threads == 5      # an explicit count wins
    assert resolve_num_threads(env={"OMP_NUM_THREADS": "4"}, load=40.0).threads == 4
    assert resolve_num_threads(env={}, load=float("nan")).threads == 8  # unknown load: ignored


@pytest.fixture
def fresh_plan(monkeypatch):
    """No plan applied yet in this process; torch's count restored afterwards."""
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_plan", None)
    monkeypatch.setattr(threads, "_AT_IMPORT", before)
    yield
    torch.set_num_threads(before)


def test_the_plan_is_decided_once_and_logged_once(affinity, fresh_plan, monkeypatch, caplog):
    affinity(2)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (2.0, 2.0, 2.0))  # two busy CPUs
    with caplog.at_level("INFO", logger="sde_diffusion.threads"):
        plan = threads.use_thread_plan()
        again = threads.use_thread_plan()
    assert again is plan and torch.get_num_threads() == 1 == plan.threads
    assert caplog.text.count("torch threads:") == 1
    assert threads.use_thread_plan(2).threads == 2 == torch.get_num_threads()  # explicit wins


def test_a_users_torch_set_num_threads_is_kept(affinity, fresh_plan, monkeypatch):
    affinity(8)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "_AT_IMPORT", 5)  # torch's count at import differed
    torch.set_num_threads(3)
    plan = threads.use_thread_plan()
    assert (plan.threads, plan.source) == (3, "torch.set_num_threads") and torch.get_num_threads() == 3


@pytest.mark.parametrize("entry", ["sample", "log_likelihood", "trainer"])
def test_every_entry_point_applies_the_plan(fresh_plan, monkeypatch, entry, tmp_path):
    """sample, log_likelihood and Trainer apply the plan (here: OMP_NUM_THREADS=1)."""
    from sde_diffusion.analytic import GaussianMixture
    from sde_diffusion.sdes import VPSDE
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(2)
    sde = VPSDE()
    gm = GaussianMixture(torch.zeros(1, 2), torch.ones(1), torch.ones(1))
    if entry == "sample":
        from sde_diffusion.solvers import sample
        sample(sde, gm.score_fn(sde), (4, 2), sampler="euler", steps=2)
    elif entry == "log_likelihood":
        from sde_diffusion.likelihood import log_likelihood
        log_likelihood(sde, gm.score_fn(sde), torch.zeros(3, 2), method="euler", steps=2)
    else:
        from sde_diffusion.models import MLP, ScoreModel
        from sde_diffusion.training import Trainer, TrainOptions
        Trainer(ScoreModel(MLP(dim=2, hidden=8, depth=1), sde), data=torch.randn(16, 2),
                options=TrainOptions(steps=1, batch_size=8), run_dir=tmp_path / "r")
    assert threads.current_plan() is not None and threads.current_plan().source == "OMP_NUM_THREADS"
    assert torch.get_num_threads() == 1
