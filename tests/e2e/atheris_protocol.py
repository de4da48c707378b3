"""Coverage-guided fuzzing of the daemon's request path with atheris (libFuzzer)::

    python tests/e2e/atheris_protocol.py [CORPUS_DIR] [-runs=N] [-max_total_time=S] ...

Each input goes to ``routes.dispatch`` of an in-process daemon (a temporary project,
database and executor), which must answer it -- never raise -- with a reply that decodes
and is no InternalError. Coverage
feedback needs the daemon's code in this process; test_reliability_protocol.py fuzzes the
same requests through a real daemon's socket. Seeded with that module's valid requests.
"""

from __future__ import annotations

import json
import logging
import resource
import sys
import tempfile
from pathlib import Path

import atheris
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

with atheris.instrument_imports(include=["gpuemu"]):
    from gpuemu.engine.executor import Executor
    from gpuemu.daemon.routes import dispatch  # its table imports every handler
    from gpuemu.daemon.state import ConfigSource, DaemonState
    from gpuemu.daemon.storage import Storage
    from gpuemu.protocol import decode_response

from tests.conftest import write  # noqa: E402
from tests.e2e.test_reliability_protocol import CONFIG, DOUBLE, VALID  # noqa: E402

MEMORY_LIMIT = 4 << 30  # a request for a huge case must fail here, not take the machine


def main() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, resource.RLIM_INFINITY))
    work = Path(tempfile.mkdtemp(prefix="ge-atheris-"))
    write(work / "gpuemu.toml", CONFIG)
    write(work / "refs" / "double.py", DOUBLE)
    state = DaemonState(config=ConfigSource(work / "gpuemu.toml"),
                        storage=Storage.open(work / "db.sqlite3"), executor=Executor())
    args = [a for a in sys.argv if a.startswith("-")]
    corpus = next((a for a in sys.argv[1:] if not a.startswith("-")), str(work / "corpus"))
    Path(corpus).mkdir(parents=True, exist_ok=True)
    for i, msg in enumerate(VALID):
        (Path(corpus) / f"valid-{i}.json").write_text(json.dumps(msg))
        (Path(corpus) / f"valid-{i}.msgpack").write_bytes(msgspec.msgpack.encode(msg))
    logging.getLogger("gpuemu").addHandler(logging.NullHandler())  # quiet, libFuzzer reports
    logging.getLogger("gpuemu").propagate = False

    def one_input(data: bytes) -> None:
        if not data:
            return
        reply = decode_response(dispatch(state, data))  # raises if not a valid reply
        if getattr(reply, "code", None) == "InternalError":
            raise AssertionError(f"InternalError for {data[:200]!r}: {reply.message}")

    atheris.Setup([sys.argv[0], *args, corpus], one_input)
    try:
        atheris.Fuzz()
    finally:
        state.executor.close()


if __name__ == "__main__":
    main()
