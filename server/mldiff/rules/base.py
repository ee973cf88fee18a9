"""What a rule is: one class, one kind of ML-semantic change, with its own docs and examples.

The class docstring is the rule's documentation (why it matters, what to check);
``examples`` are before/after pairs that the generic test module runs, including
near misses that must stay silent. ``docs/rules.md`` is generated from these classes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Iterable, Iterator, Sequence, TypeVar

from mldiff.families import FAMILIES
from mldiff.findings import Finding, Fix, Related, Span

if TYPE_CHECKING:
    from mldiff.facts.context import Context

# The context a rule reads: ``Rule[PythonContext]`` for Python files (and notebooks' code
# cells), ``Rule[TextContext]`` for the other kinds, ``Rule[Context]`` for rules of both.
C = TypeVar("C", bound="Context")


@dataclass(frozen=True)
class Expect:
    """A finding an example must produce: its head line (1-based) and a message fragment."""

    line: int
    message: str
    code: str | None = None   # defaults to the rule's own code
    column: int | None = None  # 1-based, in code points, when the example pins it
    fix: str | None = None     # the whole file after applying the finding's first quick fix


@dataclass(frozen=True)
class Example:
    """``before`` -> ``after`` of one file (``before`` None: the file is new); no ``expect`` means
    nothing may be reported at all."""

    before: str | None
    after: str
    expect: tuple[Expect, ...] = ()
    path: str = "train.py"
    note: str = ""


class Rule(Generic[C]):
    code: ClassVar[str]
    family: ClassVar[str]
    severity: ClassVar[str] = "warning"
    name: ClassVar[str]                       # kebab-case, e.g. "normalize-removed"
    summary: ClassVar[str]                    # one line for tables and SARIF
    file_kinds: ClassVar[tuple[str, ...]] = ("python",)
    examples: ClassVar[tuple[Example, ...]] = ()
    # In a file the change adds, everything is "added": only rules that find a problem in
    # the code itself (a cross-check such as float16 without a GradScaler) report there.
    reports_new_files: ClassVar[bool] = False
    # The generic rule runs after all others and reads their findings (see rules/generic.py).
    runs_after_others: ClassVar[bool] = False

    def check(self, ctx: C) -> Iterable[Finding]:  # pragma: no cover - abstract
        raise NotImplementedError

    def check_after(self, ctx: C, earlier: Sequence[Finding]) -> Iterable[Finding]:
        """For ``runs_after_others`` rules: findings given what the other rules found."""
        return ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            assert cls.family in FAMILIES, f"{cls.__name__}: unknown family {cls.family!r}"

    @classmethod
    def documentation(cls) -> str:
        import inspect
        return inspect.cleandoc(cls.__doc__ or "")

    def report(self, ctx: Context, span: Span, message: str, *, base_line: int | None = None,
               before: str | None = None, after: str | None = None,
               related: Iterable[Related] = (), fixes: Iterable[Fix] = (),
               severity: str | None = None, base_text: str | None = None) -> Finding:
        return Finding(
            path=ctx.path, code=self.code, family=self.family,
            severity=severity or self.severity, message=message, span=span,
            base_line=base_line, before=before, after=after,
            related=tuple(related), fixes=tuple(fixes), base_text=base_text,
        )


def all_rules() -> list[type[Rule[Any]]]:
    """Every rule class, sorted by code."""
    from mldiff import rules as package  # noqa: F401 - importing registers the family modules
    found: dict[str, type[Rule[Any]]] = {}

    def walk(cls: type[Rule[Any]]) -> Iterator[type[Rule[Any]]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from walk(sub)

    for cls in walk(Rule):
        if "code" in cls.__dict__:
            assert cls.code not in found, f"duplicate rule code {cls.code}"
            found[cls.code] = cls
    return [found[code] for code in sorted(found, key=_code_order)]


def _code_order(code: str) -> tuple[int, int]:
    digits = code[2:]
    return int(digits[:-2]), int(digits[-2:])
