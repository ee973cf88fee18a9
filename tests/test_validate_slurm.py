"""The slurm runner against a real single-node Slurm (slurmctld, slurmd, munged started here):
both sides as srun jobs, job ids in the result and the trailer, the change job on the GPU type
the base job got, and scancel on Ctrl-C, on a timeout, on a job left in the queue and on the
editor's cancel; clear messages when srun is missing or the job is refused."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import mldiff
from lsp_session import session, uri_of
from slurm_cluster import GPU_TYPE, SlurmCluster, missing_programs
from validation_support import (RUN_ENV, assert_unchanged, edit, hanging_repo, leftover_worktrees,
                                processes_mentioning, take, tiny_train_repo)

pytest.importorskip("torch")
pytestmark = pytest.mark.slow

SLURM_TABLE = '\n[tool.mldiff.validate.slurm]\npartition = "debug"\ngres = "gpu:1"\ntime = "00:10:00"\n{extra}'


@pytest.fixture(scope="module")
def cluster():
    missing = missing_programs()
    if missing:
        message = f"missing {', '.join(missing)}: run scripts/install-test-tools.sh (slurm-wlm, munge)"
        if os.environ.get("MLDIFF_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    if os.geteuid() != 0:
        pytest.skip("the single-node Slurm of these tests runs its daemons as root")
    started = SlurmCluster()
    try:
        started.start()
        yield started
    finally:
        started.stop()


def slurm_repo(tmp_path, cluster, extra: str = "", hanging: bool = False):
    repo = hanging_repo(tmp_path) if hanging else tiny_train_repo(tmp_path)
    if hanging:
        repo.git("stash", "-q")
    pyproject = repo.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + SLURM_TABLE.format(extra=extra))
    repo.commit("validate on slurm")
    if hanging:
        repo.git("stash", "pop", "-q")
    return repo


def env_for(cluster, **extra: str) -> dict[str, str]:
    return {**RUN_ENV, "SLURM_CONF": str(cluster.conf), **extra}


def test_both_sides_run_as_jobs_on_the_same_gpu_type(tmp_path, cluster):
    shared = tmp_path / "scratch"
    repo = slurm_repo(tmp_path, cluster, extra=f'shared_dir = "{shared}"\n')
    edit(repo, "train.py", "default=0.05", "default=0.2")
    before = take(repo.path)
    completed = mldiff("validate", "--json", "--steps", "3", "--runner", "slurm", cwd=repo.path,
                       env=env_for(cluster))
    assert completed.returncode == 0, completed.stderr + cluster.log("slurmctld")[-2000:]
    result = json.loads(completed.stdout)
    assert result["runner"] == "slurm"
    jobs = result["jobs"]
    base_id, change_id = jobs["base"]["job_id"], jobs["change"]["job_id"]
    assert base_id and change_id and base_id != change_id
    assert jobs["base"]["node"] == jobs["change"]["node"] == cluster.host
    # The job ids the probe saw inside the jobs are the ones recorded.
    assert result["base"]["environment"]["scheduler"]["job_id"] == base_id
    assert result["change"]["environment"]["scheduler"]["job_id"] == change_id
    assert result["change"]["environment"]["scheduler"]["partition"] == "debug"
    # The same partition for both; the change job asks for the GPU type the base job's node has.
    assert jobs["base"]["options"] == ["--partition=debug", "--gres=gpu:1", "--time=00:10:00"]
    assert jobs["change"]["options"] == ["--partition=debug", f"--gres=gpu:{GPU_TYPE}:1", "--time=00:10:00"]
    base_job, change_job = cluster.job(base_id), cluster.job(change_id)
    assert base_job["JobState"] == change_job["JobState"] == "COMPLETED"
    assert base_job["Partition"] == change_job["Partition"] == "debug"
    assert change_job["TresPerNode"].endswith(f"gpu:{GPU_TYPE}:1")
    # The base checkout the job ran in lay under shared_dir (and is gone).
    assert base_job["WorkDir"].startswith(str(shared)), base_job["WorkDir"]
    assert not any(path.name == "worktrees" and any(path.iterdir()) for path in shared.rglob("worktrees"))
    (confirmation,) = result["confirmations"]
    assert confirmation["status"] == "confirmed" and (confirmation["before"], confirmation["after"]) == ("0.05", "0.2")
    assert leftover_worktrees(repo) == []
    assert_unchanged(before, take(repo.path))
    # The commit records the jobs.
    repo.git("add", "-A")
    attached = mldiff("attach", cwd=repo.path)
    assert attached.returncode == 0, attached.stderr
    trailers = dict(line.split(": ", 1) for line in attached.stdout.splitlines())
    assert trailers["ML-Slurm-Jobs"] == (
        f"base {base_id} on {cluster.host}, change {change_id} on {cluster.host} "
        f"(--partition=debug --gres=gpu:1 --time=00:10:00; --partition=debug --gres=gpu:{GPU_TYPE}:1 --time=00:10:00)")


def test_a_refused_job_is_one_clear_line(tmp_path, cluster):
    repo = slurm_repo(tmp_path, cluster)
    edit(repo, "pyproject.toml", 'partition = "debug"', 'partition = "nope"')
    completed = mldiff("validate", "--steps", "3", "--runner", "slurm", cwd=repo.path, env=env_for(cluster))
    assert completed.returncode == 2
    (line,) = [line for line in completed.stderr.splitlines() if line.startswith("mldiff:")]
    assert line == ("mldiff: Slurm refused the base job (--partition=nope --gres=gpu:1 --time=00:10:00): "
                    "Unable to allocate resources: Invalid partition name specified"), completed.stderr
    assert "Traceback" not in completed.stderr
    assert leftover_worktrees(repo) == []


def test_srun_missing_is_one_clear_line(tmp_path):
    repo = tiny_train_repo(tmp_path)
    completed = mldiff("validate", "--runner", "slurm", cwd=repo.path,
                       env={**RUN_ENV, "MLDIFF_SRUN": str(tmp_path / "no-srun")})
    assert completed.returncode == 2
    assert completed.stderr.strip() == (
        f"mldiff: {tmp_path / 'no-srun'} not found: the slurm runner submits each side with Slurm's srun, which "
        "must be on PATH (or named by MLDIFF_SRUN); run mldiff where you submit jobs (a login node), or use "
        "another --runner")
    assert leftover_worktrees(repo) == []


def test_a_job_left_in_the_queue_is_cancelled(tmp_path, cluster):
    repo = slurm_repo(tmp_path, cluster, extra="queue_timeout = 4\n")
    edit(repo, "train.py", "default=0.05", "default=0.2")
    # The only GPU is taken: the base job stays pending.
    blocker = subprocess.Popen(["srun", "--job-name=blocker", "--gres=gpu:1", "sleep", "300"], env=cluster.env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not any(job["JobState"] == "RUNNING" for job in cluster.jobs_named("blocker")):
            assert time.monotonic() < deadline, "the blocking job did not start"
            time.sleep(0.2)
        completed = mldiff("validate", "--steps", "3", "--runner", "slurm", cwd=repo.path, env=env_for(cluster))
    finally:
        cluster.run("scancel", "--name=blocker", check=False)
        blocker.wait(timeout=30)
    assert completed.returncode == 2
    assert [line for line in completed.stderr.splitlines() if line.startswith("mldiff:")] == [
        "mldiff: the base job waited 4 s in the Slurm queue without starting (--partition=debug --gres=gpu:1 "
        "--time=00:10:00) and was cancelled; raise [tool.mldiff.validate.slurm] queue_timeout or ask for another "
        "partition"], completed.stderr
    (job,) = jobs_of(cluster, repo)
    assert job["JobName"].endswith("-base") and job["JobState"] == "CANCELLED"
    assert leftover_worktrees(repo) == []


def wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def jobs_of(cluster, repo) -> list[dict[str, str]]:
    """mldiff's jobs for ``repo`` (the change runs in it, the base in a checkout under its git dir)."""
    return [job for job in cluster.jobs_named("mldiff-") if job.get("WorkDir", "").startswith(str(repo.path))]


def change_job(cluster, repo) -> dict[str, str]:
    (job,) = [job for job in jobs_of(cluster, repo) if job["JobName"].endswith("-change")]
    return job


def test_ctrl_c_and_timeout_cancel_the_running_job(tmp_path, cluster):
    repo = slurm_repo(tmp_path / "interrupt", cluster, hanging=True)
    marker = tmp_path / "hanging"
    before = take(repo.path)
    process = subprocess.Popen([sys.executable, "-m", "mldiff", "validate", "--steps", "6", "--runner", "slurm"],
                               cwd=repo.path, env={**os.environ, **env_for(cluster, HANG_MARKER=str(marker))},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(marker.exists, 240, "the change job to hang")
        assert change_job(cluster, repo)["JobState"] == "RUNNING"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert change_job(cluster, repo)["JobState"] in ("CANCELLED", "COMPLETING"), change_job(cluster, repo)
    wait_for(lambda: not processes_mentioning(str(repo.path)), 30, "the job's processes to end")
    assert leftover_worktrees(repo) == []
    assert_unchanged(before, take(repo.path))

    timed = slurm_repo(tmp_path / "timeout", cluster, hanging=True)
    marker.unlink()
    completed = mldiff("validate", "--steps", "6", "--runner", "slurm", "--timeout", "20", cwd=timed.path,
                       env=env_for(cluster, HANG_MARKER=str(marker)))
    assert completed.returncode == 2
    job = change_job(cluster, timed)
    assert [line for line in completed.stderr.splitlines() if line.startswith("mldiff:")] == [
        f"mldiff: the change run (working tree) timed out after 20 s at step 3/6 (Slurm job {job['JobId']}, "
        "cancelled); raise [tool.mldiff.validate] timeout or lower steps"], completed.stderr
    assert job["JobState"] in ("CANCELLED", "COMPLETING")
    wait_for(lambda: not processes_mentioning(str(timed.path)), 30, "the job's processes to end")


async def test_the_editors_cancel_cancels_the_job(tmp_path, cluster):
    repo = slurm_repo(tmp_path, cluster, hanging=True)
    marker = tmp_path / "hanging"
    settings = {"": {"mldiff": {"validate": {"steps": 6, "runner": "slurm"}}}}
    env = {**os.environ, **env_for(cluster, HANG_MARKER=str(marker))}
    async with session(repo.path, configuration=settings, env=env) as lsp:
        lsp.answer = "Run"
        answer = lsp.send_command("validate-1", "mldiff.validate", uri_of(repo.path / "train.py"), token="p-1")
        await lsp.until(marker.exists, timeout=240)
        assert change_job(cluster, repo)["JobState"] == "RUNNING"
        lsp.cancel_request("validate-1")
        with pytest.raises(Exception, match="(?i)cancel"):
            await asyncio.wait_for(asyncio.wrap_future(answer), 30)
        await poll(lambda: change_job(cluster, repo)["JobState"] in ("CANCELLED", "COMPLETING"), 30)
    await poll(lambda: not processes_mentioning(str(repo.path)) and not leftover_worktrees(repo), 30)


async def poll(predicate, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {predicate}"
        await asyncio.sleep(0.5)
