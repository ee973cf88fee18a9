"""A real single-node Slurm for the slurm runner's tests: munged, slurmctld and slurmd started
here (Debian's slurm-wlm and munge), with one counted fake GPU of type ``testgpu``.

Everything lives in a temp dir: its own munge key and socket, state, spool, logs and two free
ports, so nothing of a system Slurm or munge (or another test run) is touched. ``stop`` ends
the daemons by the pids in their pid files.
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DAEMONS = ("slurmctld", "slurmd", "munged", "srun", "scancel", "scontrol", "sinfo")
GPU_TYPE = "testgpu"


def missing_programs() -> list[str]:
    return [name for name in DAEMONS if shutil.which(name) is None and not Path(f"/usr/sbin/{name}").exists()]


def _program(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SlurmCluster:
    def __init__(self) -> None:
        # Under /tmp, not pytest's 0700 temp dirs: the munge user must reach its socket.
        self.dir = Path(tempfile.mkdtemp(prefix="mldiff-slurm-"))
        self.dir.chmod(0o755)
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.dir / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        munge = self.dir / "munge"
        munge.mkdir(mode=0o755)
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        user = pwd.getpwnam("munge")
        for path in (munge, key):
            os.chown(path, user.pw_uid, user.pw_gid)
        key.chmod(0o400)
        self.socket = munge / "munge.socket"
        subprocess.run(["runuser", "-u", "munge", "--", _program("munged"), f"--socket={self.socket}",
                        f"--key-file={key}", f"--pid-file={munge / 'munged.pid'}",
                        f"--log-file={munge / 'munged.log'}", f"--seed-file={munge / 'munged.seed'}"],
                       check=True, capture_output=True, timeout=30)
        for name in ("state", "spool"):
            (self.dir / name).mkdir()
        self.conf.write_text(self._config(), encoding="utf-8")
        (self.dir / "gres.conf").write_text(
            f"NodeName={self.host} Name=gpu Type={GPU_TYPE} Count=1 File=/dev/null\n", encoding="utf-8")
        for daemon in ("slurmctld", "slurmd"):
            subprocess.run([_program(daemon), "-f", str(self.conf)], check=True, capture_output=True,
                           env=self.env, timeout=30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = self.run("sinfo", "-h", "-o", "%t", check=False).stdout.strip()
            if state == "idle":
                return
            time.sleep(0.5)
        raise AssertionError(f"slurm did not become idle: {self.log('slurmctld')[-2000:]}\n"
                             f"{self.log('slurmd')[-2000:]}")

    def _config(self) -> str:
        d = self.dir
        return "\n".join([
            "ClusterName=mldifftest",
            f"SlurmctldHost={self.host}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "AuthType=auth/munge",
            f"AuthInfo=socket={self.socket}",
            "CredType=cred/munge",
            "SlurmUser=root",
            "SlurmdUser=root",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "MpiDefault=none",
            f"StateSaveLocation={d / 'state'}",
            f"SlurmdSpoolDir={d / 'spool'}",
            f"SlurmctldPidFile={d / 'slurmctld.pid'}",
            f"SlurmdPidFile={d / 'slurmd.pid'}",
            f"SlurmctldLogFile={d / 'slurmctld.log'}",
            f"SlurmdLogFile={d / 'slurmd.log'}",
            "GresTypes=gpu",
            "SelectType=select/cons_tres",
            "ReturnToService=2",
            "KillWait=2",
            "MinJobAge=600",
            f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs=2 RealMemory=8000 Gres=gpu:{GPU_TYPE}:1 State=UNKNOWN",
            f"PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP",
            "",
        ])

    def stop(self) -> None:
        for pid_file in (self.dir / "slurmd.pid", self.dir / "slurmctld.pid", self.dir / "munge" / "munged.pid"):
            try:
                pid = int(pid_file.read_text().strip())
            except (OSError, ValueError):
                continue
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- asking it -------------------------------------------------------------------------------
    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([_program(args[0]), *args[1:]], capture_output=True, text=True, env=self.env,
                              timeout=60, check=check)

    def log(self, daemon: str) -> str:
        try:
            return (self.dir / f"{daemon}.log").read_text(errors="replace")
        except OSError:
            return ""

    def jobs(self) -> list[dict[str, str]]:
        """Every job the controller still knows (finished ones for MinJobAge), as key=value fields."""
        shown = self.run("scontrol", "show", "jobs", "--oneliner", check=False).stdout
        jobs = []
        for line in shown.splitlines():
            fields = {}
            for part in line.split():
                key, _, value = part.partition("=")
                fields.setdefault(key, value)
            if "JobId" in fields:
                jobs.append(fields)
        return jobs

    def job(self, job_id: str) -> dict[str, str]:
        (found,) = [job for job in self.jobs() if job["JobId"] == str(job_id)]
        return found

    def jobs_named(self, prefix: str) -> list[dict[str, str]]:
        return [job for job in self.jobs() if job.get("JobName", "").startswith(prefix)]
