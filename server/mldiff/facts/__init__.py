"""What a change means, computed once per change on a ``Context``: which calls and bindings
pair up across the two sides, where a finding is anchored, under which conditions a
statement runs, where a value flows, which values changed and what they configure, and
which differences are only formatting, renames or equivalent spellings.

Facts read ``analysis`` (what each side's text says) and ``knowledge`` (what APIs mean);
they know nothing of rules, git or the editor."""
