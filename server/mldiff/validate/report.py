"""Human-readable output of a validation: the comparison table, figures, verdict, confirmations,
stored results."""
from __future__ import annotations

import time
from typing import Any

from mldiff.validate.compare import losses_equal

_MAX_ROWS = 30


def format_bytes(count: float | None) -> str:
    if count is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit in ("B", "KiB") else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


def format_loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def format_speed(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def percent(relative: float | None) -> str:
    return "" if relative is None else f" ({relative:+.1%})"


def device_summary(run: dict[str, Any]) -> str:
    env = run.get("environment") or {}
    return f"{env.get('device_name') or env.get('device') or 'unknown device'}, torch {env.get('torch', '?')}"


def gpu_summary(run: dict[str, Any]) -> str:
    env = run.get("environment") or {}
    if not env.get("cuda_available"):
        return "no GPU visible to the run"
    return f"{env.get('gpu_count')} GPU(s) visible, CUDA {env.get('cuda')}, cuDNN {env.get('cudnn')}"


def _rows(count: int) -> list[int]:
    if count <= _MAX_ROWS:
        return list(range(count))
    every = max(1, count // (_MAX_ROWS - 6))
    return sorted(set(range(5)) | set(range(0, count, every)) | {count - 1})


STATUS_WORDS = {"confirmed": "confirmed", "contradicted": "CONTRADICTED", "not_observed": "not observed"}
_RED, _GREEN, _BOLD, _RESET = "\033[31m", "\033[32m", "\033[1m", "\033[0m"


def confirmation_lines(result: dict[str, Any], color: bool = False) -> list[str]:
    """Each static finding and what the runs made of it; contradictions said loudly."""
    confirmations = result.get("confirmations") or []
    if not confirmations:
        return []
    lines = ["", "static findings against the runs:"]
    for entry in confirmations:
        word = STATUS_WORDS.get(entry["status"], entry["status"])
        text = f"  {word:<13} {entry['code']} [{entry['family']}] {entry['path']}:{entry['line']}: {entry['detail']}"
        if color and entry["status"] == "contradicted":
            text = f"{_BOLD}{_RED}{text}{_RESET}"
        elif color and entry["status"] == "confirmed":
            text = f"{_GREEN}{text}{_RESET}"
        lines.append(text)
    contradicted = [entry for entry in confirmations if entry["status"] == "contradicted"]
    if contradicted:
        loud = (f"CONTRADICTED: {len(contradicted)} finding{'s' if len(contradicted) > 1 else ''} of the change "
                f"{'say' if len(contradicted) > 1 else 'says'} something changed that the runs did not see: "
                + "; ".join(f"{e['code']} at {e['path']}:{e['line']}" for e in contradicted))
        lines += ["", f"{_BOLD}{_RED}{loud}{_RESET}" if color else loud]
    return lines


def rank_lines(result: dict[str, Any], limit: int = 6) -> list[str]:
    """Under torchrun: what the ranks of each run saw differently (rank 0's is the run's)."""
    lines = []
    for side in ("base", "change"):
        differences = (result.get(side) or {}).get("rank_differences") or {}
        ranks = len((result.get(side) or {}).get("ranks") or []) + 1
        if not differences:
            continue
        lines.append(f"{side} run, {ranks} ranks differ in:")
        for name, texts in list(differences.items())[:limit]:
            lines.append(f"  {name}: " + "; ".join(f"rank {rank} {text}" for rank, text in enumerate(texts)))
    return [""] + lines if lines else []


def jobs_line(result: dict[str, Any]) -> str | None:
    """``slurm jobs: base 12 on node1, change 13 on node1 (--partition=gpu --gres=gpu:a100:1)``."""
    jobs = result.get("jobs") or {}
    sides = [(side, jobs[side]) for side in ("base", "change") if isinstance(jobs.get(side), dict)]
    if not sides:
        return None
    parts = [f"{side} {entry.get('job_id') or '?'} on {entry.get('node') or '?'}" for side, entry in sides]
    options = sorted({" ".join(entry.get("options") or []) for _, entry in sides})
    return f"{', '.join(parts)} ({'; '.join(o for o in options if o) or 'no options'})"


def format_text(result: dict[str, Any], color: bool = False) -> str:
    """The report ``mldiff validate`` prints."""
    base, change, comparison = result["base"], result["change"], result["comparison"]
    launcher = f", {result['launcher']}" if result.get("launcher") else ""
    lines = [
        f"base {result['base_commit'][:7]} ({result['base_rev']}) vs working tree: {result['steps']} steps, "
        f"seed {result['seed']}, runner {result['runner']}{launcher}",
        f"device: {device_summary(change)}; {gpu_summary(change)}",
    ]
    jobs = jobs_line(result)
    if jobs:
        lines.append(f"slurm jobs: {jobs}")
    lines += [
        "",
        f"{'step':>5}  {'base loss':>10}  {'change loss':>11}",
    ]
    base_losses, change_losses = base.get("loss") or [], change.get("loss") or []
    previous = -1
    for index in _rows(max(len(base_losses), len(change_losses))):
        if index != previous + 1:
            lines.append(f"{'...':>5}")
        previous = index
        b = base_losses[index] if index < len(base_losses) else None
        c = change_losses[index] if index < len(change_losses) else None
        mark = "  =" if losses_equal(b, c) else ""
        lines.append(f"{index + 1:>5}  {format_loss(b):>10}  {format_loss(c):>11}{mark}")
    final_base, final_change = comparison["final_loss"]
    lines += [
        "",
        f"final loss:  {format_loss(final_base)} -> {format_loss(final_change)} at step {comparison['steps']}"
        f"{percent(comparison['final_loss_relative'])}",
        f"throughput:  {format_speed(comparison['throughput'][0])} -> {format_speed(comparison['throughput'][1])} "
        f"{comparison['throughput_unit']}" + (f" (x{comparison['throughput_ratio']:.2f})"
                                              if comparison["throughput_ratio"] else "")
        + ("" if comparison.get("throughput_reliable", True) else "  (too little time measured to compare)")
        + ("" if comparison.get("throughput_separable", True) else "  (step times overlap: within noise)"),
        f"peak memory: {format_bytes(comparison['memory_bytes'][0])} -> {format_bytes(comparison['memory_bytes'][1])}"
        f" ({'CUDA max allocated' if comparison['memory_kind'] == 'cuda_max_allocated' else 'peak RSS of the process'})"
        + (percent(comparison["memory_ratio"] - 1) if comparison["memory_ratio"] else ""),
        "",
        f"verdict: {result['verdict']}",
    ]
    lines += confirmation_lines(result, color)
    lines += rank_lines(result)
    for warning in result.get("warnings") or []:
        lines.append(f"WARNING: {warning}")
    lines.append("stored: the result will be attached to a commit of exactly this content"
                 if result.get("stored") else "not stored")
    return "\n".join(lines)


def format_list(results: list[dict[str, Any]], staged_key: str | None, worktree_key: str | None) -> str:
    """``mldiff validate --show``: one line per stored result, newest first."""
    if not results:
        return "no stored validation results (run `mldiff validate`)"
    lines = []
    for result in results:
        key = result.get("content_key", "")
        marks = [name for name, wanted in (("staged", staged_key), ("working tree", worktree_key)) if key == wanted]
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(result.get("finished", 0)))
        comparison = result.get("comparison") or {}
        final = comparison.get("final_loss") or [None, None]
        lines.append(
            f"{when}  base {result.get('base_commit', '?')[:7]}  content {key[:12]}  {result.get('steps')} steps  "
            f"{device_summary(result.get('change') or {})}  loss {format_loss(final[0])} -> {format_loss(final[1])}"
            + (f"  [matches {' and '.join(marks)}]" if marks else ""))
    return "\n".join(lines)
