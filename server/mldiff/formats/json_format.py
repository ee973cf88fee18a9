"""``--format json``: exactly the contract object of DESIGN.md, on stdout only."""
from __future__ import annotations

import json
from typing import TextIO


def write(result, out: TextIO, err: TextIO, *, color: bool = False, err_color: bool = False,
          source=None) -> None:
    json.dump(result.to_json(), out, indent=2, ensure_ascii=False)
    out.write("\n")
