"""Two texts -> the hunks ``git diff -U0`` shows for them, and line maps between sides.

Pure: no git process. The language server diffs an unsaved buffer against its base
on every edit, and the CLI must report the same findings for the same pair of texts,
so both use this one implementation (tests compare it with git on real file pairs).

Exactness matters more than minimality here: a finding anchored to a hunk must sit on
the lines the user sees in ``git diff``. So ``diff_lines`` reproduces git's default
diff (xdiff's Myers variant, no options) step by step:

1. **Tail trim** (git's ``trim_common_tail``): for zero context lines git cuts the
   common tail of both texts in 1024-byte blocks before xdiff sees them, keeping the
   line that straddles the cut. Later steps (match counts, sliding, the indent
   heuristic's view of the end of file) see only what is left.
2. **Trim ends** (xdiff's ``xdl_trim_ends``): the common prefix and suffix lines are
   unchanged; everything below works on the middle only.
3. **Discard** (``xdl_cleanup_records``): a middle line that occurs nowhere in the
   other text is changed without asking Myers; a line that occurs very often there is
   changed too when it sits in a run dominated by such lines ("multimatch" lines:
   blank lines, ``pass``, ``}`` between rewritten code).
4. **Myers** (Myers 1986, "An O(ND) difference algorithm and its variations", the
   linear-space divide-and-conquer form): on the lines that are left, search from both
   corners for the middle snake, split there and recurse. xdiff bounds the search:
   past a cost limit it splits at the furthest-reaching diagonal instead of the
   optimal one, so a whole-file rewrite costs bounded time (and git's output is then
   not minimal; ours follows the same choices).
5. **Compaction** (``xdl_change_compact``): each group of changed lines slides up and
   down over equal lines, merging with neighbours it touches; it is then placed to
   line up with a change on the other side if it can, else where the indent heuristic
   (default since git 2.14) scores the split points best.
6. **Hunks** (``xdl_build_script`` with no context): runs of changed lines on either
   side that meet at the same unchanged line form one hunk.

Lines are the strings ``split_lines`` returns, compared exactly (endings included).
Steps 1 and 5 look at bytes (block size, whitespace); for them a line is encoded as
UTF-8 (undecodable bytes kept through ``surrogateescape``), which is exact for any
text decoded that way.
"""
from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence


@dataclass(frozen=True, slots=True)
class Hunk:
    """Lines ``base_start:base_end`` of the base replaced by ``head_start:head_end`` of the head
    (0-based, end exclusive; an empty range is a pure insertion or removal at that boundary)."""

    base_start: int
    base_end: int
    head_start: int
    head_end: int

    def header(self) -> str:
        """The ``@@ -a,b +c,d @@`` line git prints for this hunk."""
        return f"@@ -{_side(self.base_start, self.base_end)} +{_side(self.head_start, self.head_end)} @@"


def _side(start: int, end: int) -> str:
    count = end - start
    first = start + 1 if count else start  # git names the line before an empty side
    return f"{first}" if count == 1 else f"{first},{count}"


def split_lines(text: str) -> list[str]:
    """Lines with their endings, as git compares them (only '\\n' ends a line)."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
        return [line + "\n" for line in lines]
    return [line + "\n" for line in lines[:-1]] + [lines[-1]]


def diff_lines(base: Sequence[str], head: Sequence[str]) -> list[Hunk]:
    """Hunks between two lists of lines (each with its line ending), as ``git diff -U0``."""
    base = base if isinstance(base, list) else list(base)  # slices of both must compare
    head = head if isinstance(head, list) else list(head)
    common_tail = _common_run(len(base), len(head), lambda lo, hi: (
        base[len(base) - hi:len(base) - lo] == head[len(head) - hi:len(head) - lo]))
    if common_tail == len(base) == len(head):
        return []
    hidden = _lines_hidden_by_tail_trim(base, head, common_tail)
    base_len, head_len = len(base) - hidden, len(head) - hidden
    prefix = _common_run(base_len, head_len, lambda lo, hi: base[lo:hi] == head[lo:hi])
    suffix = min(common_tail - hidden, min(base_len, head_len) - prefix)
    base_changed = bytearray(base_len + 1)  # the extra last byte is a sentinel, see _compact
    head_changed = bytearray(head_len + 1)
    base_mid_end, head_mid_end = base_len - suffix, head_len - suffix
    if prefix == base_mid_end or prefix == head_mid_end:
        # One middle is empty: all of the other one is inserted or removed.
        base_changed[prefix:base_mid_end] = b"\x01" * (base_mid_end - prefix)
        head_changed[prefix:head_mid_end] = b"\x01" * (head_mid_end - prefix)
    else:
        base_kept = _keep_matchable(base, base_len, prefix, base_mid_end, head, head_len, base_changed)
        head_kept = _keep_matchable(head, head_len, prefix, head_mid_end, base, base_len, head_changed)
        _MyersDiff(base, base_kept, base_changed, head, head_kept, head_changed).run()
    _compact(base, base_len, base_changed, head_changed, head_len)
    _compact(head, head_len, head_changed, base_changed, base_len)
    return _collect_hunks(base_changed, base_len, head_changed, head_len)


# -- step 1 and 2: trimming ------------------------------------------------------------------

TAIL_TRIM_BLOCK = 1024  # git's trim_common_tail compares the tails in blocks of this many bytes


def _common_run(len_a: int, len_b: int, same: Callable[[int, int], bool]) -> int:
    """Length of the longest common run from one end of two sequences.

    ``same(lo, hi)`` says whether positions lo..hi (counted from that end) agree. Gallops
    with doubling slices, then bisects inside the first slice that differs, so a 5,000-line
    file costs a handful of C-level list comparisons instead of a Python loop per line."""
    limit = min(len_a, len_b)
    low, size = 0, 8
    while low < limit:
        high = min(low + size, limit)
        if not same(low, high):
            break
        low, size = high, size * 2
    else:
        return limit
    while high - low > 1:  # the first difference lies in low..high
        middle = (low + high) // 2
        if same(low, middle):
            low = middle
        else:
            high = middle
    return low


def _encoded(line: str) -> bytes:
    try:
        return line.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that did not come from a decoded byte
        return line.encode("utf-8", "surrogatepass")


def _lines_hidden_by_tail_trim(base: Sequence[str], head: Sequence[str], common_tail: int) -> int:
    """How many trailing lines git hides from xdiff when it is asked for no context.

    git's ``trim_common_tail`` (xdiff-interface.c) drops the longest common byte suffix
    that is a whole number of 1024-byte blocks, then gives back bytes up to and including
    the first newline in the dropped part, so the cut falls on a line boundary. In line
    terms: a trailing common line is hidden when it, and everything after it, fits in
    fewer bytes than the dropped blocks. The common byte suffix may reach into the last
    differing lines (their common ending), which can add one more block."""
    if common_tail == 0:
        return 0  # the cut can only fall after a newline inside the common tail
    tail = _encoded("".join(base[len(base) - common_tail:]))
    common_bytes = len(tail)
    if common_tail < len(base) and common_tail < len(head):
        base_line = _encoded(base[len(base) - common_tail - 1])
        head_line = _encoded(head[len(head) - common_tail - 1])
        shorter = min(len(base_line), len(head_line))
        if (common_bytes + shorter) // TAIL_TRIM_BLOCK > common_bytes // TAIL_TRIM_BLOCK:
            same_ending = 0
            while same_ending < shorter and base_line[-1 - same_ending] == head_line[-1 - same_ending]:
                same_ending += 1
            common_bytes += same_ending
    dropped = common_bytes // TAIL_TRIM_BLOCK * TAIL_TRIM_BLOCK
    if dropped == 0:
        return 0
    if dropped > len(tail):
        # The cut starts inside the differing lines; the first newline after it ends the
        # last differing line, so the whole common tail is hidden.
        return common_tail
    first_newline = tail.find(b"\n", len(tail) - dropped)
    if first_newline == -1:
        return 0
    cut = first_newline + 1
    if cut == len(tail):
        return 0
    hidden = tail.count(b"\n", cut)
    return hidden if tail.endswith(b"\n") else hidden + 1


# -- step 3: discarding lines Myers need not see -------------------------------------------------

NO_MATCH, MATCHES, MANY_MATCHES = 0, 1, 2
MULTIMATCH_CAP = 1024  # XDL_MAX_EQLIMIT: "many" never needs more than this many matches
MULTIMATCH_WINDOW = 100  # XDL_SIMSCAN_WINDOW: how far the run around a multimatch line is read
MULTIMATCH_RATIO = 4  # XDL_KPDIS_RUN: discard when multimatch lines are under 1/4 of the run


def _bogo_sqrt(number: int) -> int:
    """xdiff's square-root estimate: a power of two, 2 ** (number of base-4 digits)."""
    root = 1
    while number > 0:
        number >>= 2
        root <<= 1
    return root


def _keep_matchable(lines: Sequence[str], length: int, start: int, end: int,
                    other: Sequence[str], other_length: int, changed: bytearray) -> list[int]:
    """Indexes of middle lines ``start..end`` that Myers must compare; mark the rest changed.

    Follows xdiff's ``xdl_cleanup_records``: a line with no copy anywhere in the other
    (tail-trimmed) text cannot match. A line with "many" copies (at least the estimated
    square root of this text's length) is discarded only when it sits inside a run of
    unmatched and many-matched lines where it is both preceded and followed by unmatched
    ones and many-matched lines are rare (``_is_buried_multimatch``). This keeps Myers
    from aligning rewritten code on blank lines, and makes it fast on rewrites."""
    many = min(_bogo_sqrt(length), MULTIMATCH_CAP)
    middle = lines[start:end]
    others = other[:other_length]
    distinct = set(middle)
    if len(distinct) <= 8:
        copies = {line: others.count(line) for line in distinct}
    else:
        counter = Counter(others)
        copies = {line: counter[line] for line in distinct}
    kinds = [NO_MATCH if not copies[line] else MANY_MATCHES if copies[line] >= many else MATCHES
             for line in middle]
    kept = []
    for offset, kind in enumerate(kinds):
        if kind == MATCHES or (kind == MANY_MATCHES and not _is_buried_multimatch(kinds, offset)):
            kept.append(start + offset)
        else:
            changed[start + offset] = 1
    return kept


def _is_buried_multimatch(kinds: list[int], index: int) -> bool:
    """Whether the many-matched line at ``index`` is noise inside rewritten code
    (xdiff's ``xdl_clean_mmatch``): reading at most 100 lines each way and stopping at
    the first line with a normal match, there must be unmatched lines on both sides and
    fewer than one many-matched line in four."""
    first = max(0, index - MULTIMATCH_WINDOW)
    last = min(len(kinds) - 1, index + MULTIMATCH_WINDOW)
    unmatched_before, many_before = _count_run(kinds, range(index - 1, first - 1, -1))
    if unmatched_before == 0:
        return False
    unmatched_after, many_after = _count_run(kinds, range(index + 1, last + 1))
    if unmatched_after == 0:
        return False
    many = many_before + many_after + 2  # xdiff counts the line itself once on each side
    return many * MULTIMATCH_RATIO < many + unmatched_before + unmatched_after


def _count_run(kinds: list[int], positions: range) -> tuple[int, int]:
    """(unmatched, many-matched) lines at ``positions``, up to the first normally matched one."""
    unmatched = many = 0
    for position in positions:
        kind = kinds[position]
        if kind == NO_MATCH:
            unmatched += 1
        elif kind == MANY_MATCHES:
            many += 1
        else:
            break
    return unmatched, many


# -- step 4: Myers ---------------------------------------------------------------------------

MIN_COST_LIMIT = 256  # XDL_MAX_COST_MIN: never give up on optimality before this edit cost
HEURISTIC_MIN_COST = 256  # XDL_HEUR_MIN_COST: cost above which a long snake may end the search
SNAKE_LENGTH = 20  # XDL_SNAKE_CNT: how many equal lines make a snake "long"
HEURISTIC_FACTOR = 4  # XDL_K_HEUR: how far ahead of the cost a snake must have got


def _next_diagonals(reached: list[int], low: int, high: int, lowest: int, highest: int,
                    sentinel: int) -> tuple[int, int]:
    """The diagonals one search visits at the next cost: one further out on each side, or
    one further in where the box's edge stops it (so the range keeps its parity). A new
    outermost diagonal gets a sentinel neighbour that never wins the comparison."""
    if low > lowest:
        low -= 1
        reached[low - 1] = sentinel
    else:
        low += 1
    if high < highest:
        high += 1
        reached[high + 1] = sentinel
    else:
        high -= 1
    return low, high


class _MyersDiff:
    """Myers' linear-space bidirectional search over the kept lines, as xdiff runs it.

    Lines are replaced by small integers (equal lines, equal numbers) so comparing is
    cheap. ``forward[d]`` / ``backward[d]`` hold the furthest base position reached on
    diagonal ``d = base index - head index``. Diagonals in play run from -(len(b) + 1) to
    len(a) + 1; a negative one uses Python's negative indexing, and with len(a) + len(b) + 3
    slots the two ends never share one."""

    def __init__(self, base: Sequence[str], base_kept: list[int], base_changed: bytearray,
                 head: Sequence[str], head_kept: list[int], head_changed: bytearray) -> None:
        numbers: dict[str, int] = {}
        self.a = [numbers.setdefault(base[i], len(numbers)) for i in base_kept]
        self.b = [numbers.setdefault(head[i], len(numbers)) for i in head_kept]
        self.a_index, self.b_index = base_kept, head_kept
        self.a_changed, self.b_changed = base_changed, head_changed
        diagonals = len(self.a) + len(self.b) + 3
        self.forward = [0] * diagonals
        self.backward = [0] * diagonals
        self.cost_limit = max(_bogo_sqrt(diagonals), MIN_COST_LIMIT)

    def run(self) -> None:
        """Divide and conquer (xdiff's ``xdl_recs_cmp``), with a stack instead of recursion:
        strip equal lines at both ends of a box; if one side is empty, the other is changed;
        else split the box at the snake ``_split`` finds and do both halves."""
        a, b = self.a, self.b
        boxes = [(0, len(a), 0, len(b), False)]
        while boxes:
            a_start, a_end, b_start, b_end, need_minimal = boxes.pop()
            while a_start < a_end and b_start < b_end and a[a_start] == b[b_start]:
                a_start += 1
                b_start += 1
            while a_start < a_end and b_start < b_end and a[a_end - 1] == b[b_end - 1]:
                a_end -= 1
                b_end -= 1
            if a_start == a_end:
                for position in range(b_start, b_end):
                    self.b_changed[self.b_index[position]] = 1
            elif b_start == b_end:
                for position in range(a_start, a_end):
                    self.a_changed[self.a_index[position]] = 1
            else:
                a_split, b_split, low_minimal, high_minimal = self._split(
                    a_start, a_end, b_start, b_end, need_minimal)
                boxes.append((a_split, a_end, b_split, b_end, high_minimal))
                boxes.append((a_start, a_split, b_start, b_split, low_minimal))

    def _split(self, a_start: int, a_end: int, b_start: int, b_end: int,
               need_minimal: bool) -> tuple[int, int, bool, bool]:
        """Where to split a box, and whether each half must still be diffed minimally.

        Rounds of edit cost 1, 2, ... extend the furthest-reaching D-paths from the top-left
        corner (forward) and the bottom-right corner (backward) by one edit and then along
        equal lines; the first diagonal where the two meet is the middle of an optimal path
        (Myers 1986, section 4b). xdiff adds two cut-offs unless minimal output is needed:
        past ``HEURISTIC_MIN_COST`` a diagonal well ahead of the cost that ends in a long
        snake is taken, and at ``cost_limit`` the furthest-reaching point of either search
        is taken. Ties and diagonal order follow xdiff exactly, since they decide which of
        several equally short diffs git prints."""
        a, b = self.a, self.b
        forward, backward = self.forward, self.backward
        lowest, highest = a_start - b_end, a_end - b_start  # the box's diagonal range
        forward_mid, backward_mid = a_start - b_start, a_end - b_end
        odd = (forward_mid - backward_mid) & 1  # which search can detect the overlap
        f_low = f_high = forward_mid
        b_low = b_high = backward_mid
        forward[forward_mid] = a_start
        backward[backward_mid] = a_end
        far_behind = -1  # sentinels just outside the diagonals in play
        far_ahead = 1 << 62
        cost = 0
        while True:
            cost += 1
            long_snake = False

            f_low, f_high = _next_diagonals(forward, f_low, f_high, lowest, highest, far_behind)
            for diagonal in range(f_high, f_low - 1, -2):
                from_left, from_above = forward[diagonal - 1], forward[diagonal + 1]
                i = from_left + 1 if from_left >= from_above else from_above
                j = i - diagonal
                if i < a_end and j < b_end and a[i] == b[j]:  # most diagonals have no snake
                    snake_start = i
                    i += 1
                    j += 1
                    while i < a_end and j < b_end and a[i] == b[j]:
                        i += 1
                        j += 1
                    if i - snake_start > SNAKE_LENGTH:
                        long_snake = True
                forward[diagonal] = i
                if odd and b_low <= diagonal <= b_high and backward[diagonal] <= i:
                    return i, j, True, True

            # Backward, the mirror image from the bottom-right corner.
            b_low, b_high = _next_diagonals(backward, b_low, b_high, lowest, highest, far_ahead)
            for diagonal in range(b_high, b_low - 1, -2):
                from_left, from_above = backward[diagonal - 1], backward[diagonal + 1]
                i = from_left if from_left < from_above else from_above - 1
                j = i - diagonal
                if i > a_start and j > b_start and a[i - 1] == b[j - 1]:
                    snake_start = i
                    i -= 1
                    j -= 1
                    while i > a_start and j > b_start and a[i - 1] == b[j - 1]:
                        i -= 1
                        j -= 1
                    if snake_start - i > SNAKE_LENGTH:
                        long_snake = True
                backward[diagonal] = i
                if not odd and f_low <= diagonal <= f_high and i <= forward[diagonal]:
                    return i, j, True, True

            if need_minimal:
                continue
            if long_snake and cost > HEURISTIC_MIN_COST:
                found = self._good_snake(a_start, a_end, b_start, b_end, f_low, f_high,
                                         b_low, b_high, cost)
                if found is not None:
                    return found
            if cost >= self.cost_limit:
                return self._furthest_reach(a_start, a_end, b_start, b_end, f_low, f_high,
                                            b_low, b_high)

    def _good_snake(self, a_start: int, a_end: int, b_start: int, b_end: int,
                    f_low: int, f_high: int, b_low: int, b_high: int,
                    cost: int) -> tuple[int, int, bool, bool] | None:
        """xdiff's "interesting path" cut-off: a diagonal whose progress, less its distance
        from the search's middle diagonal, exceeds four times the cost and that ends (or,
        backward, starts) in a snake of ``SNAKE_LENGTH`` equal lines. The side already split
        well need not be minimal; the other still does."""
        a, b = self.a, self.b
        forward_mid, backward_mid = a_start - b_start, a_end - b_end
        best, split = 0, None
        for diagonal in range(f_high, f_low - 1, -2):
            i = self.forward[diagonal]
            j = i - diagonal
            progress = (i - a_start) + (j - b_start) - abs(diagonal - forward_mid)
            if (progress > HEURISTIC_FACTOR * cost and progress > best
                    and a_start + SNAKE_LENGTH <= i < a_end and b_start + SNAKE_LENGTH <= j < b_end):
                if a[i - SNAKE_LENGTH:i] == b[j - SNAKE_LENGTH:j]:
                    best, split = progress, (i, j)
        if split is not None:
            return split[0], split[1], True, False
        for diagonal in range(b_high, b_low - 1, -2):
            i = self.backward[diagonal]
            j = i - diagonal
            progress = (a_end - i) + (b_end - j) - abs(diagonal - backward_mid)
            if (progress > HEURISTIC_FACTOR * cost and progress > best
                    and a_start < i <= a_end - SNAKE_LENGTH and b_start < j <= b_end - SNAKE_LENGTH):
                if a[i:i + SNAKE_LENGTH] == b[j:j + SNAKE_LENGTH]:
                    best, split = progress, (i, j)
        if split is not None:
            return split[0], split[1], False, True
        return None

    def _furthest_reach(self, a_start: int, a_end: int, b_start: int, b_end: int,
                        f_low: int, f_high: int, b_low: int,
                        b_high: int) -> tuple[int, int, bool, bool]:
        """xdiff's cost limit: stop searching and split at the point (clamped into the box)
        that got furthest from its corner, forward or backward, counting i + j; the forward
        one wins only when strictly further."""
        forward_best, forward_i = -1, -1
        for diagonal in range(f_high, f_low - 1, -2):
            i = min(self.forward[diagonal], a_end)
            j = i - diagonal
            if b_end < j:
                i, j = b_end + diagonal, b_end
            if forward_best < i + j:
                forward_best, forward_i = i + j, i
        backward_best, backward_i = 1 << 62, 1 << 62
        for diagonal in range(b_high, b_low - 1, -2):
            i = max(a_start, self.backward[diagonal])
            j = i - diagonal
            if j < b_start:
                i, j = b_start + diagonal, b_start
            if i + j < backward_best:
                backward_best, backward_i = i + j, i
        if (a_end + b_end) - backward_best < forward_best - (a_start + b_start):
            return forward_i, forward_best - forward_i, True, False
        return backward_i, backward_best - backward_i, False, True


# -- step 5: sliding groups of changed lines -----------------------------------------------------

MAX_INDENT = 200  # indentation is counted up to this many columns
MAX_BLANKS = 20  # blank lines are counted up to this many around a split
MAX_SLIDING = 100  # INDENT_HEURISTIC_MAX_SLIDING: the heuristic tries this many positions at most
# Weights of git's indent heuristic (tuned by Michael Haggerty on a corpus of real diffs;
# larger is a worse place to split). See _split_score.
START_OF_FILE_PENALTY = 1
END_OF_FILE_PENALTY = 21
TOTAL_BLANK_WEIGHT = -30
POST_BLANK_WEIGHT = 6
RELATIVE_INDENT_PENALTY = -4
RELATIVE_INDENT_WITH_BLANK_PENALTY = 10
RELATIVE_OUTDENT_PENALTY = 24
RELATIVE_OUTDENT_WITH_BLANK_PENALTY = 17
RELATIVE_DEDENT_PENALTY = 23
RELATIVE_DEDENT_WITH_BLANK_PENALTY = 17
INDENT_WEIGHT = 60


class _Group:
    """A run of changed lines in one text as it slides (xdiff's ``struct xdlgroup``):
    ``start..end`` and ``rank``, the number of unchanged lines above it.

    ``changed`` has one byte per line plus a trailing 0, which also answers for index -1,
    so "the line before the first" and "the line after the last" read as unchanged."""

    def __init__(self, lines: Sequence[str], length: int, changed: bytearray, start: int, rank: int) -> None:
        self.lines, self.length, self.changed = lines, length, changed
        self.start, self.end, self.rank = start, changed.find(0, start), rank

    def slide_up(self) -> bool:
        """Move up one line if the line above equals the group's last line, swallowing a
        group it runs into."""
        lines, changed = self.lines, self.changed
        if self.start == 0 or lines[self.start - 1] != lines[self.end - 1]:
            return False
        self.start -= 1
        self.end -= 1
        self.rank -= 1
        changed[self.start] = 1
        changed[self.end] = 0
        while changed[self.start - 1]:
            self.start -= 1
        return True

    def slide_down(self) -> bool:
        """Move down one line if the line below equals the group's first line, swallowing
        a group it runs into."""
        lines, changed = self.lines, self.changed
        if self.end >= self.length or lines[self.start] != lines[self.end]:
            return False
        changed[self.start] = 0
        changed[self.end] = 1
        self.start += 1
        self.end += 1
        self.rank += 1
        while changed[self.end]:
            self.end += 1
        return True


def _compact(lines: Sequence[str], length: int, changed: bytearray,
             other_changed: bytearray, other_length: int) -> None:
    """Slide each group of changed lines to its final place (xdiff's ``xdl_change_compact``).

    Each group is slid all the way up, then all the way down (again while it keeps
    growing by swallowing neighbours). Then, if somewhere along that range it stood
    opposite a change in the other text, it goes back up to the lowest such place (a
    replacement reads better than a removal plus an insertion); otherwise the indent
    heuristic picks the place. The group opposite is the other text's group with the
    same rank; it is non-empty when that rank is one of ``opposite``."""
    opposite = _runs(other_changed, other_length).keys()
    indent_cache: dict[int, int] = {}

    def indent_at(index: int) -> int:
        indent = indent_cache.get(index)
        if indent is None:
            indent = indent_cache[index] = _indent_of(lines[index])
        return indent

    start = rank = changed.find(1, 0, length)  # nothing changed above the first group
    while start != -1:
        group = _Group(lines, length, changed, start, rank)
        while True:
            size = group.end - group.start
            matching_end = -1
            while group.slide_up():
                pass
            earliest_end = group.end
            if group.rank in opposite:
                matching_end = group.end
            while group.slide_down():
                if group.rank in opposite:
                    matching_end = group.end
            if group.end - group.start == size:
                break
        if group.end == earliest_end:
            pass  # it cannot move
        elif matching_end != -1:
            while group.rank not in opposite:
                group.slide_up()
        else:
            best_end = _best_split(indent_at, length, earliest_end, group.end, size)
            while group.end > best_end:
                group.slide_up()
        start = changed.find(1, group.end, length)
        rank = group.rank + start - group.end  # and the unchanged lines up to the next group


def _indent_of(line: str) -> int:
    """Columns of leading whitespace (a tab advances to the next multiple of 8, '\\r'
    counts nothing), capped at MAX_INDENT; -1 for a blank line. Whitespace is git's:
    space, tab, '\\n' and '\\r' only."""
    column = 0
    for char in line:
        if char == " ":
            column += 1
        elif char == "\t":
            column += 8 - column % 8
        elif char != "\n" and char != "\r":
            return column
        if column >= MAX_INDENT:
            return MAX_INDENT
    return -1


def _best_split(indent_at: Callable[[int], int], length: int, earliest_end: int, end: int,
                size: int) -> int:
    """git's indent heuristic: the end position (from ``earliest_end`` to ``end``, at most
    MAX_SLIDING back) whose two split points, above and below the group, score best; on a
    tie the lower position wins. Scores compare by the sign of the effective indents'
    difference (weighted INDENT_WEIGHT) plus the difference of penalties."""
    best_end, best_indent, best_penalty = -1, 0, 0
    for candidate in range(max(earliest_end, end - size - 1, end - MAX_SLIDING), end + 1):
        below_indent, below_penalty = _split_score(indent_at, length, candidate)
        above_indent, above_penalty = _split_score(indent_at, length, candidate - size)
        indent, penalty = below_indent + above_indent, below_penalty + above_penalty
        indent_order = (indent > best_indent) - (indent < best_indent)
        if best_end == -1 or INDENT_WEIGHT * indent_order + penalty - best_penalty <= 0:
            best_end, best_indent, best_penalty = candidate, indent, penalty
    return best_end


def _split_score(indent_at: Callable[[int], int], length: int, split: int) -> tuple[int, int]:
    """(effective indent, penalty) of splitting the text just above line ``split``.

    Measures the line after the split, the blank lines above and below it and the
    nearest non-blank lines around them; a split is good next to blank lines, before a
    line that is not indented more than the code above, and not at the end of the file."""
    at_end = split >= length
    indent = -1 if at_end else indent_at(split)
    blank_above, indent_above = _blanks_then_indent(indent_at, range(split - 1, -1, -1))
    blank_below, indent_below = _blanks_then_indent(indent_at, range(split + 1, length))

    penalty = 0
    if indent_above == -1 and blank_above == 0:
        penalty += START_OF_FILE_PENALTY
    if at_end:
        penalty += END_OF_FILE_PENALTY
    blank_after = 1 + blank_below if indent == -1 else 0  # counting the line after the split
    total_blank = blank_above + blank_after
    penalty += TOTAL_BLANK_WEIGHT * total_blank + POST_BLANK_WEIGHT * blank_after
    effective = indent if indent != -1 else indent_below
    if effective == -1 or indent_above == -1 or effective == indent_above:
        pass
    elif effective > indent_above:
        penalty += RELATIVE_INDENT_WITH_BLANK_PENALTY if total_blank else RELATIVE_INDENT_PENALTY
    elif indent_below != -1 and indent_below > effective:  # likely the start of a new block
        penalty += RELATIVE_OUTDENT_WITH_BLANK_PENALTY if total_blank else RELATIVE_OUTDENT_PENALTY
    else:  # likely the end of a block
        penalty += RELATIVE_DEDENT_WITH_BLANK_PENALTY if total_blank else RELATIVE_DEDENT_PENALTY
    return effective, penalty


def _blanks_then_indent(indent_at: Callable[[int], int], positions: range) -> tuple[int, int]:
    """How many blank lines come first at ``positions``, and the indent of the non-blank
    line after them: -1 if there is none, 0 once MAX_BLANKS blank lines are counted."""
    blanks = 0
    for index in positions:
        indent = indent_at(index)
        if indent != -1:
            return blanks, indent
        blanks += 1
        if blanks == MAX_BLANKS:
            return blanks, 0
    return blanks, -1


# -- step 6: hunks -----------------------------------------------------------------------------

def _runs(changed: bytearray, length: int) -> dict[int, tuple[int, int]]:
    """Runs of changed lines, keyed by how many unchanged lines precede each."""
    runs = {}
    unchanged_before, start = 0, changed.find(1, 0, length)
    while start != -1:
        end = changed.find(0, start)
        runs[start - unchanged_before] = (start, end)
        unchanged_before += end - start
        start = changed.find(1, end, length)
    return runs


def _collect_hunks(base_changed: bytearray, base_len: int,
                   head_changed: bytearray, head_len: int) -> list[Hunk]:
    """One hunk per place where either side has changed lines; both sides of a hunk sit
    after the same number of unchanged lines. With no context lines git never joins
    hunks, since an unchanged line separates any two."""
    base_runs, head_runs = _runs(base_changed, base_len), _runs(head_changed, head_len)
    hunks = []
    base_removed = head_added = 0
    for rank in sorted(base_runs.keys() | head_runs.keys()):
        base_start, base_end = base_runs.get(rank, (rank + base_removed,) * 2)
        head_start, head_end = head_runs.get(rank, (rank + head_added,) * 2)
        hunks.append(Hunk(base_start, base_end, head_start, head_end))
        base_removed += base_end - base_start
        head_added += head_end - head_start
    return hunks


class LineMap:
    """Which lines a diff changed, and where unchanged lines moved to."""

    def __init__(self, hunks: Sequence[Hunk], base_len: int, head_len: int) -> None:
        self.hunks = list(hunks)
        self.base_len = base_len
        self.head_len = head_len
        self._base_starts = [h.base_start for h in self.hunks]
        self._head_starts = [h.head_start for h in self.hunks]

    def base_to_head(self, line: int) -> int | None:
        """Head line of an unchanged base line (0-based), or None if the line changed."""
        i = bisect_right(self._base_starts, line) - 1
        if i >= 0:
            hunk = self.hunks[i]
            if line < hunk.base_end:
                return None
            return line - hunk.base_end + hunk.head_end
        return line

    def head_to_base(self, line: int) -> int | None:
        """Base line of an unchanged head line (0-based), or None if the line is new."""
        i = bisect_right(self._head_starts, line) - 1
        if i >= 0:
            hunk = self.hunks[i]
            if line < hunk.head_end:
                return None
            return line - hunk.head_end + hunk.base_end
        return line

    def hunk_for_head_line(self, line: int) -> Hunk | None:
        """The hunk whose head side holds ``line``, or that removed lines just before it."""
        for hunk in self.hunks:
            if hunk.head_start <= line < hunk.head_end:
                return hunk
            if hunk.head_start == hunk.head_end == line:
                return hunk
        return None


def head_line_of_removed(hunks: Sequence[Hunk], line_map: LineMap, base_line: int, head_len: int) -> int:
    """Where 0-based base line ``base_line`` stands in the head (0-based): the first line of
    its hunk's replacement if it was changed or removed, else where it moved; clamped to
    the head's last line (a removal at the end of the file is anchored there)."""
    hunk = next((h for h in hunks if h.base_start <= base_line < h.base_end), None)
    if hunk is None:
        mapped = line_map.base_to_head(base_line)
        line = mapped if mapped is not None else 0
    else:
        line = hunk.head_start
    return max(min(line, head_len - 1), 0)
