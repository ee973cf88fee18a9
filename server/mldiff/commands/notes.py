"""``mldiff notes [REV]``: the validation result of a commit already made, as a git note."""
from __future__ import annotations


def add_parser(sub) -> None:
    parser = sub.add_parser("notes", help="write the matching validation result as a git note (refs/notes/mldiff)")
    parser.add_argument("rev", nargs="?", default="HEAD", help="commit (default HEAD)")
    parser.add_argument("--repo", default=".", help="repository (default: the current directory)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from mldiff import commit
    from mldiff.validate.gitcmd import toplevel

    root = toplevel(args.repo)
    sha = commit.write_note(root, args.rev)
    print(f"wrote the validation result of {sha[:7]} to {commit.NOTES_REF} "
          f"(`git log --notes=mldiff` shows it)")
    return 0
