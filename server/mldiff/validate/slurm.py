"""The slurm runner: each side of a validation is one ``srun`` job.

Both jobs ask for the same partition, gres, time and account (``[tool.mldiff.validate.slurm]``);
with ``same_gpu_type`` (the default) a gres without a GPU type (``gpu:1``) is pinned, for the
change job, to the type the base job's node has (``gpu:a100:1``), so that the two sides run
on the same kind of GPU. Each job gets a name unique to this validation, so ``scancel
--name`` stops it whether it is queued or running: on Ctrl-C, on an editor's cancel, on a
timeout. Output streams back through srun as it does locally; the probe's first line names
the job and its node. srun, scancel and scontrol come from PATH or ``MLDIFF_SRUN`` (the other
two beside it): environment only, never the repository's configuration.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mldiff.errors import MldiffError
from mldiff.validate.command import SlurmConfig

# A job's allocation (JOB_GRES=, or per node GRES= while it runs) or a node's (Gres=).
_GRES = re.compile(r"(?:^|\s)(?:JOB_GRES|GRES|Gres)=(\S+)")
_REFUSED = ("Unable to allocate resources", "Invalid partition", "Invalid account", "invalid partition",
            "Requested node configuration is not available", "Invalid generic resource", "Job violates",
            "Invalid qos", "Batch job submission failed", "AssocMaxJobsLimit", "Invalid job")


def srun_program() -> list[str]:
    """srun from ``MLDIFF_SRUN`` or PATH; a clear error when there is none."""
    configured = os.environ.get("MLDIFF_SRUN")
    found = configured if configured and os.path.isfile(configured) else shutil.which(configured or "srun")
    if not found:
        raise MldiffError(f"{configured or 'srun'} not found: the slurm runner submits each side with Slurm's "
                          "srun, which must be on PATH (or named by MLDIFF_SRUN); run mldiff where you "
                          "submit jobs (a login node), or use another --runner")
    return [found]


def _beside(srun: str, name: str) -> str:
    candidate = Path(srun).with_name(name)
    return str(candidate) if candidate.is_file() else name


def _gres_parts(gres: str) -> tuple[str, str | None, str] | None:
    """``gpu:1`` -> (gpu, None, 1); ``gpu:a100:2`` -> (gpu, a100, 2); other resources: None."""
    first = gres.split(",", 1)[0].split("(", 1)[0]
    parts = first.split(":")
    if parts[0] != "gpu":
        return None
    if len(parts) == 1:
        return "gpu", None, "1"
    if len(parts) == 2:
        return ("gpu", None, parts[1]) if parts[1].isdigit() else ("gpu", parts[1], "1")
    return "gpu", parts[1], parts[2]


@dataclass
class SlurmJobs:
    """The two jobs of one validation: their names, options and what the scheduler gave them."""

    config: SlurmConfig
    token: str
    srun: list[str] = field(default_factory=srun_program)
    change_gres: str | None = None
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def name(self, side: str) -> str:
        return f"mldiff-{self.token}-{side}"

    def options(self, side: str) -> list[str]:
        return self.config.options(self.change_gres if side == "change" else None)

    def argv(self, side: str, command: list[str], cwd: str) -> list[str]:
        self.jobs[side] = {"name": self.name(side), "options": self.options(side), "job_id": None, "node": None}
        return [*self.srun, f"--job-name={self.name(side)}", *self.options(side), "--nodes=1", "--ntasks=1",
                "--kill-on-bad-exit=1", f"--chdir={cwd}", "--", *command]

    def started(self, side: str, job_id: str | None, node: str | None) -> None:
        entry = self.jobs.setdefault(side, {"name": self.name(side)})
        entry["job_id"], entry["node"] = job_id, node

    def cancel(self, side: str) -> None:
        """``scancel`` the side's job by its unique name (queued or running)."""
        scancel = _beside(self.srun[0], "scancel")
        try:
            subprocess.run([scancel, f"--name={self.name(side)}"], capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            pass

    def pin_gpu_type(self, node: str | None, job_id: str | None = None) -> None:
        """The change job asks for the GPU type the base job got, when the configured gres names
        none (``gpu:1``): the type its allocation shows (``scontrol show job -d``:
        ``JOB_GRES=gpu:a100:1``), else the one its node has (``Gres=gpu:a100:4``)."""
        if not self.config.same_gpu_type or not self.config.gres:
            return
        wanted = _gres_parts(self.config.gres)
        if wanted is None or wanted[1] is not None:
            return
        scontrol = _beside(self.srun[0], "scontrol")
        queries = ([["show", "job", "--details", "--oneliner", job_id]] if job_id else []) + \
            ([["show", "node", "--oneliner", node]] if node else [])
        for query in queries:
            try:
                shown = subprocess.run([scontrol, *query], capture_output=True, text=True, timeout=30,
                                       stdin=subprocess.DEVNULL).stdout or ""
            except (OSError, subprocess.TimeoutExpired):
                continue
            for match in _GRES.finditer(shown):
                for entry in match.group(1).split(","):
                    parts = _gres_parts(entry)
                    if parts is not None and parts[1] is not None:
                        rest = self.config.gres.split(",", 1)
                        self.change_gres = ",".join([f"gpu:{parts[1]}:{wanted[2]}", *rest[1:]])
                        return

    def failure(self, side: str, where: str, tail: list[str], steps: int, last_step: int,
                paths: list[str]) -> str | None:
        """A clear message for what the scheduler said, or None to leave it to the generic one."""
        text = "\n".join(tail)
        job = (self.jobs.get(side) or {}).get("job_id")
        job_text = f"job {job}" if job else "job"
        options = " ".join(self.options(side)) or "no options"
        refusals = [line for line in tail if any(reason in line for reason in _REFUSED)]
        if refusals:  # srun's last word is the summary: "Unable to allocate resources: ..."
            reason = refusals[-1].split("error:", 1)[-1].strip()
            return f"Slurm refused the {side} {job_text} ({options}): {reason}"
        if "DUE TO TIME LIMIT" in text:
            return (f"{where}: Slurm {job_text} hit its time limit ({self.config.time or 'the partition default'}) "
                    f"at step {last_step}/{steps}; raise [tool.mldiff.validate.slurm] time or lower steps")
        if "CANCELLED" in text and "DUE TO" not in text:
            return f"{where}: Slurm {job_text} was cancelled outside mldiff (scancel?) at step {last_step}/{steps}"
        for path in paths:
            if path in text and ("No such file" in text or "can't open file" in text or "chdir" in text):
                node = (self.jobs.get(side) or {}).get("node") or "the compute node"
                return (f"{where}: the {job_text} cannot see {path} on {node}: set "
                        "[tool.mldiff.validate.slurm] shared_dir to a directory that the compute nodes mount")
        return None

    def summary(self) -> dict[str, Any]:
        return {"kind": "slurm", **{side: dict(entry) for side, entry in self.jobs.items()}}
