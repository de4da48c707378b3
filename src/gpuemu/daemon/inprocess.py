"""A Transport without a socket: requests go straight to the daemon's dispatch.

``Client(transport=InProcessTransport(state))`` drives the handlers in this process with
the same bytes a socket would carry (the codec, the routing table, the Error replies),
so the handlers are tested without a daemon process; the end-to-end tests still drive a
real one over NNG.
"""

from __future__ import annotations

from ..protocol import Request
from ..transport import Transport
from .routes import dispatch
from .state import DaemonState


class InProcessTransport(Transport):
    """Answers each request by ``dispatch(state, data)``, as the NNG server does."""

    def __init__(self, state: DaemonState):
        self.state = state

    def exchange(self, data: bytes, request: Request) -> bytes:
        return dispatch(self.state, data)
