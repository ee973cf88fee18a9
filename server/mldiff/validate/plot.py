"""``--plot out.png|out.svg``: base and change loss curves (matplotlib, the optional "plot" extra)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from mldiff.errors import MldiffError

FORMATS = (".png", ".svg", ".pdf")


def plot_losses(result: dict[str, Any], path: Path | str) -> Path:
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise MldiffError(f"--plot: {path.name} must end in {', '.join(FORMATS)}")
    try:
        import matplotlib
    except ImportError:
        raise MldiffError("--plot needs matplotlib: pip install 'mldiff[plot]'") from None
    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 4))
    for side, label, style in (("base", f"base {result['base_commit'][:7]}", "-"), ("change", "change", "--")):
        losses = result[side].get("loss") or []
        points = [(step + 1, loss) for step, loss in enumerate(losses) if loss is not None]
        axes.plot([p[0] for p in points], [p[1] for p in points], style, marker=".", label=label)
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("loss")
    axes.set_title(f"mldiff validate: {result['steps']} steps, seed {result['seed']}")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    try:
        figure.savefig(path)
    except OSError as exc:
        raise MldiffError(f"--plot: cannot write {path}: {exc.strerror}") from None
    finally:
        pyplot.close(figure)
    return path
