"""``mldiff validate``: a few training steps of the base and of the working tree, compared.

Runs the project's command (``[tool.mldiff.validate]``) only on this explicit call.
"""
from __future__ import annotations

import json
import signal
import sys
from pathlib import Path


def add_parser(sub) -> None:
    parser = sub.add_parser("validate", help="run a few training steps of the base and of the change, compare",
                            description="Run the training command configured under [tool.mldiff.validate] for N "
                                        "optimizer steps on the base revision and on the working tree, compare "
                                        "loss, throughput and peak memory, hold each static finding of the change "
                                        "against what the runs observed (confirmed, contradicted, not observed), "
                                        "and store the result for the commit.")
    parser.add_argument("--repo", default=".", help="repository (default: the current directory)")
    parser.add_argument("--base", help="base revision (default HEAD)")
    parser.add_argument("--steps", type=int, help="optimizer steps per side (default: config, else 20)")
    parser.add_argument("--runner", help="auto | local | devcontainer | docker:NAME | slurm (default: config, else auto)")
    parser.add_argument("--timeout", type=float, help="seconds per side (default: config, else 600)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--show", action="store_true", help="list stored results instead of running")
    parser.add_argument("--plot", metavar="FILE", help="draw both loss curves to FILE (.png, .svg, .pdf)")
    parser.set_defaults(run=run)


def _progress(stage: str, step: int, total: int) -> None:
    """A live counter on a terminal; a line per side and stage otherwise (logs, CI)."""
    if stage in ("base", "change"):
        if sys.stderr.isatty():
            print(f"\r{stage:>6}: step {step}/{total}", end="\n" if step == total else "", file=sys.stderr, flush=True)
        elif step in (0, total):
            print(f"{stage}: {'started' if step == 0 else f'{total} steps done'}", file=sys.stderr, flush=True)
    elif stage == "prepare":
        print("preparing the base checkout", file=sys.stderr, flush=True)


def _show(repo: str, as_json: bool) -> int:
    from mldiff.validate import content, gitcmd, store
    from mldiff.validate.report import format_list

    root = gitcmd.toplevel(repo)
    results = store.list_results(gitcmd.common_dir(root))
    if as_json:
        print(json.dumps(results, indent=1, sort_keys=True))
        return 0
    print(format_list(results, content.index_key(root), content.worktree_key(root)))
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run(args) -> int:
    if args.show:
        return _show(args.repo, args.json)
    from mldiff.errors import MldiffError
    from mldiff.validate.plot import FORMATS, plot_losses
    from mldiff.validate.report import format_text
    from mldiff.validate.validation import run_validation

    if args.plot and Path(args.plot).suffix.lower() not in FORMATS:
        raise MldiffError(f"--plot: {args.plot} must end in {', '.join(FORMATS)}")
    if args.timeout is not None and args.timeout <= 0:
        raise MldiffError("--timeout must be positive")
    signal.signal(signal.SIGTERM, _interrupt)  # cleaned up like Ctrl-C
    result = run_validation(args.repo, base=args.base, steps=args.steps, runner=args.runner,
                            timeout=args.timeout, progress=None if args.json else _progress).to_json()
    if args.plot:
        plot_losses(result, args.plot)
    if args.json:
        print(json.dumps(result, indent=1, sort_keys=True))
    else:
        from mldiff.commands.terminal import use_color
        print(format_text(result, color=use_color(sys.stdout)))
        if args.plot:
            print(f"plot: {args.plot}")
    return 0
