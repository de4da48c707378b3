"""Which inputs a script reads, for ``[[ops]]`` entries that do not declare ``input_names``.

The FAQ's snippets declare an op by its name and reference alone; the daemon still has to
name the inputs of the cases it generates. Scripts written the way the seeds write them
read each input by a literal name -- ``request["inputs"]["a"]``, ``inputs["x"]``,
``inputs.get("x")`` -- so those names, in the order they first appear, are the op's
inputs. A script that reads its inputs any other way needs ``input_names`` in the config
(case generation says so, naming the op).
"""

from __future__ import annotations

import re
from pathlib import Path

_READ = re.compile(r"""inputs(?:["']\s*\])?\s*(?:\[\s*|\.get\(\s*)["']([A-Za-z_][\w.-]*)["']""")


def input_names_read_by(script: Path) -> tuple[str, ...]:
    """The input names ``script`` reads by a literal key, in order of first use."""
    try:
        text = script.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    return tuple(dict.fromkeys(m.group(1) for m in _READ.finditer(text)))
