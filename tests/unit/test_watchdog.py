"""The daemon's watchdog: a silent Ping path is logged and recorded for `gpuemu daemon
status` (which must work when the daemon cannot answer), and so is its recovery."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from gpuemu import paths
from gpuemu.daemon.watchdog import Watchdog, read_report


def test_a_silence_and_its_end_are_logged_and_recorded(tmp_path, caplog):
    answers = iter([True, False, False, True])
    dog = Watchdog(lambda: next(answers), tmp_path / "daemon.watchdog", interval_s=3600)
    dog.start()
    with caplog.at_level(logging.INFO, logger="gpuemu.daemon"):
        dog.check()
        assert read_report(dog.report_path).deaf_since is None
        dog.check()
        report = read_report(dog.report_path)
        assert report.deaf_since is not None and report.silences == 1
        assert report.pid == os.getpid()
        dog.check()  # still silent: logged once
        dog.check()
    errors = [r.message for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "did not answer its own Ping" in errors[0]
    assert any("answers its own Ping again" in r.message for r in caplog.records)
    report = read_report(dog.report_path)
    assert report.deaf_since is None and report.silences == 1 and report.last_silence_s >= 0
    dog.stop()
    assert not dog.report_path.exists()


def test_status_names_a_deaf_daemon_from_its_watchdog_report(gpuemu_home):
    gpuemu_home.mkdir(parents=True)
    dog = Watchdog(lambda: False, paths.watchdog_file(gpuemu_home), interval_s=3600).start()
    dog.check()
    status = subprocess.run([sys.executable, "-m", "gpuemu", "daemon", "status"],
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 3
    assert f"daemon pid {os.getpid()} runs but does not answer" in status.stderr
    assert f"kill pid {os.getpid()}" in status.stderr
    dog.stop()
