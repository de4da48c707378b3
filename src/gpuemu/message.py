"""The bases of every typed message: a msgspec Struct tagged by ``type`` (its class name).

They live below both the wire layer (gpuemu.protocol) and the domain, because some domain
results travel as replies just as they are (FuzzResults, LintResult, ArtifactDiff): the
domain defines them on these bases and the protocol imports them, never the reverse.
"""

from __future__ import annotations

import msgspec

from .readable import KeyAccess


class Message(msgspec.Struct, tag_field="type", tag=True, kw_only=True, omit_defaults=True,
              forbid_unknown_fields=True):
    """Base of every request and response; the tag is the class name."""


class Response(Message, KeyAccess, forbid_unknown_fields=False):
    """A client ignores response fields it does not know, so a newer daemon's optional
    additions do not break an older client; requests stay strict, so a misspelt field
    is an error rather than a silently ignored option."""
