"""Base run vs change run: per-step loss, final loss, throughput, peak memory, a verdict.

Step 1's loss is computed before any update, so it depends only on the initialization,
the data and the forward pass: equal at step 1 and different later means the change
acts on the updates (learning rate, optimizer, gradients); different at step 1 means it
acts on the model, the data or the loss itself.
"""
from __future__ import annotations

import math
from typing import Any

REL_TOL = 1e-5
NOTABLE = 0.05   # a throughput or memory ratio further than 5% from 1 is worth saying
MIN_TIMED_SECONDS = 0.5   # less measured step time than this on a side: throughput is noise


def losses_equal(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return False
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-8)


def memory_figure(run: dict[str, Any]) -> tuple[str, int | None]:
    memory = run.get("memory") or {}
    if memory.get("cuda_max_allocated_bytes") is not None:
        return "cuda_max_allocated", memory["cuda_max_allocated_bytes"]
    return "peak_rss", memory.get("peak_rss_bytes")


def throughput_figure(run: dict[str, Any]) -> tuple[str, float | None]:
    if run.get("samples_per_second"):
        return "samples/s", run["samples_per_second"]
    return "steps/s", run.get("steps_per_second")


def _quartiles(run: dict[str, Any]) -> tuple[float, float] | None:
    times = sorted((run.get("step_seconds") or [])[run.get("warmup_steps", 0):])
    if len(times) < 4:
        return None
    return times[len(times) // 4], times[(3 * len(times)) // 4]


def speed_separable(base: dict[str, Any], change: dict[str, Any]) -> bool:
    """Whether the two runs' step times really differ: their interquartile ranges do not overlap.
    On a busy machine two runs of the same code can differ by tens of percent in the median."""
    base_range, change_range = _quartiles(base), _quartiles(change)
    if base_range is None or change_range is None:
        return True
    return base_range[1] < change_range[0] or change_range[1] < base_range[0]


def _ratio(base: float | None, change: float | None) -> float | None:
    if not base or change is None:
        return None
    return change / base


def compare(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    base_losses, change_losses = base.get("loss") or [], change.get("loss") or []
    steps = min(len(base_losses), len(change_losses))
    equal = [losses_equal(base_losses[i], change_losses[i]) for i in range(steps)]
    first_difference = next((i + 1 for i, same in enumerate(equal) if not same), None)
    final_base = base_losses[steps - 1] if steps else None
    final_change = change_losses[steps - 1] if steps else None
    delta = None if final_base is None or final_change is None else final_change - final_base
    relative = delta / abs(final_base) if delta is not None and final_base else None
    base_unit, base_speed = throughput_figure(base)
    change_unit, change_speed = throughput_figure(change)
    if base_unit != change_unit:  # one side lacks sample counts: compare steps/s
        base_unit = change_unit = "steps/s"
        base_speed, change_speed = base.get("steps_per_second"), change.get("steps_per_second")
    memory_kind, base_memory = memory_figure(base)
    change_kind, change_memory = memory_figure(change)
    if memory_kind != change_kind:
        memory_kind = "peak_rss"
        base_memory = (base.get("memory") or {}).get("peak_rss_bytes")
        change_memory = (change.get("memory") or {}).get("peak_rss_bytes")
    return {
        "steps": steps,
        "first_step_equal": bool(equal) and equal[0],
        "identical": bool(equal) and all(equal),
        "first_difference_step": first_difference,
        "final_loss": [final_base, final_change],
        "final_loss_delta": delta,
        "final_loss_relative": relative,
        "throughput_unit": base_unit,
        "throughput": [base_speed, change_speed],
        "throughput_ratio": _ratio(base_speed, change_speed),
        "timed_seconds": [base.get("steady_seconds"), change.get("steady_seconds")],
        "throughput_reliable": all((t or 0) >= MIN_TIMED_SECONDS
                                   for t in (base.get("steady_seconds"), change.get("steady_seconds"))),
        "throughput_separable": speed_separable(base, change),
        "memory_kind": memory_kind,
        "memory_bytes": [base_memory, change_memory],
        "memory_ratio": _ratio(base_memory, change_memory),
    }


def verdict(comparison: dict[str, Any]) -> str:
    """A few plain sentences: what the curves say the change does."""
    steps = comparison["steps"]
    if not steps:
        return "No loss was recorded on one side: the runs cannot be compared."
    sentences = []
    if comparison["identical"]:
        sentences.append(f"The loss curves are identical over {steps} steps: the change does not alter training.")
    elif not comparison["first_step_equal"]:
        sentences.append("The losses differ from step 1: the change alters the model, its initialization, "
                         "the data or the loss itself (not only the updates).")
    else:
        sentences.append(f"Step 1 matches (same initialization, data and forward pass); the curves diverge "
                         f"from step {comparison['first_difference_step']}: the change acts on the updates "
                         "(learning rate, optimizer, gradients).")
    relative = comparison["final_loss_relative"]
    if not comparison["identical"] and relative is not None:
        direction = "lower" if relative < 0 else "higher"
        sentences.append(f"After {steps} steps the loss is {abs(relative):.1%} {direction}.")
    speed = comparison["throughput_ratio"]
    if not comparison.get("throughput_reliable", True):
        timed = min(t or 0 for t in comparison["timed_seconds"])
        sentences.append(f"Throughput is not compared: only {timed * 1000:.0f} ms of steps were timed "
                         "(run more or longer steps).")
    elif speed is not None and abs(speed - 1) > NOTABLE and not comparison.get("throughput_separable", True):
        sentences.append(f"No clear throughput difference (x{speed:.2f}, but the step times of the two runs "
                         "overlap: machine noise).")
    elif speed is not None and abs(speed - 1) > NOTABLE:
        sentences.append(f"It runs {'faster' if speed > 1 else 'slower'} (x{speed:.2f} {comparison['throughput_unit']}).")
    memory = comparison["memory_ratio"]
    if memory is not None and abs(memory - 1) > NOTABLE:
        sentences.append(f"Peak memory is {'higher' if memory > 1 else 'lower'} ({memory - 1:+.0%}).")
    return " ".join(sentences)
