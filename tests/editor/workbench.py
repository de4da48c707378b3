"""A real VS Code (code-server) with the extension installed, driven through Playwright.

code-server comes from ``scripts/install-editor.sh`` (``make editor``), cached outside the
checkout; the browser is Debian's chromium (``make browser``), launched by Playwright without a
browser download of its own. Everything here waits on what the page shows, never on a clock: the
timeouts are ceilings for a loaded 2-core machine, not delays.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VSIX = ROOT / "vscode-gpuemu" / "vscode-gpuemu.vsix"
CODE_SERVER_VERSION = "4.139.1"
CACHE = Path(os.environ.get("GPUEMU_EDITOR_CACHE")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gpuemu-editor")
LAUNCHER = CACHE / f"code-server-{CODE_SERVER_VERSION}" / "bin" / "code-server"
# Where screenshots of failed steps land (build/ is ignored by git).
ARTIFACTS = ROOT / "build" / "editor-test"

#: Ceiling for the extension's first activation on a loaded machine.
ACTIVATION_S = 300
#: Ceiling for one CLI round trip shown by the editor (a test run of a few small ops).
RUN_S = 180


def require_tools() -> None:
    """Skip unless asked for (GPUEMU_EDITOR=1, as ``make test`` and ``make editor-test`` do,
    after installing what it needs): a bare ``pytest`` has no code-server. Then skip (or, with
    GPUEMU_EDITOR_REQUIRED=1, fail) when code-server, chromium or the .vsix is missing."""
    if os.environ.get("GPUEMU_EDITOR") != "1":
        pytest.skip("the editor test runs under `make test` or `make editor-test` (they set"
                    " GPUEMU_EDITOR=1 after installing code-server, chromium and the .vsix)")
    missing = [what for what, ok in (
        (f"code-server ({LAUNCHER}; run `make editor`)", LAUNCHER.exists()),
        ("chromium (run `make browser`)", shutil.which("chromium") is not None),
        (f"the extension's package {VSIX} (run `make vscode`)", VSIX.exists()),
    ) if not ok]
    if missing:
        message = "the editor test needs " + ", ".join(missing)
        if os.environ.get("GPUEMU_EDITOR_REQUIRED") == "1":
            pytest.fail(message)
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli_wrapper(path: Path, env: dict[str, str]) -> Path:
    """An executable ``gpuemu`` that runs this checkout's CLI with this Python."""
    path.parent.mkdir(parents=True, exist_ok=True)
    exports = "".join(f"export {k}='{v}'\n" for k, v in env.items())
    path.write_text(f"#!/bin/sh\n{exports}exec '{sys.executable}' -m gpuemu \"$@\"\n")
    path.chmod(0o755)
    return path


@dataclass
class CodeServer:
    """One code-server process on a private profile, serving ``folder``."""

    folder: Path
    profile: Path
    env: dict[str, str]
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def settings_file(self) -> Path:
        return self.profile / "data" / "User" / "settings.json"

    def write_settings(self, settings: dict) -> None:
        self.settings_file.parent.mkdir(parents=True, exist_ok=True)
        self.settings_file.write_text(json.dumps(settings, indent=2))

    def _args(self) -> list[str]:
        return [str(LAUNCHER), "--user-data-dir", str(self.profile / "data"),
                "--extensions-dir", str(self.profile / "extensions")]

    def install(self, vsix: Path) -> None:
        done = subprocess.run([*self._args(), "--install-extension", str(vsix)], env=self.env,
                              capture_output=True, text=True, timeout=RUN_S)
        assert done.returncode == 0, f"--install-extension failed: {done.stdout}{done.stderr}"

    def start(self) -> str:
        self.port = free_port()
        log = open(self.profile / "code-server.log", "w")  # noqa: SIM115 (the process keeps it)
        self.proc = subprocess.Popen(
            [*self._args(), "--auth", "none", "--bind-addr", f"127.0.0.1:{self.port}",
             "--disable-telemetry", "--disable-update-check", "--reconnection-grace-time", "5",
             str(self.folder)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{self.port}/"
        wait_until(lambda: self._answers(url), ACTIVATION_S, "code-server answering on " + url)
        return url

    def _answers(self, url: str) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"code-server exited {self.proc.returncode}: "
                               + (self.profile / "code-server.log").read_text()[-2000:])
        try:
            with urllib.request.urlopen(url + "healthz", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def wait_until(ready, seconds: float, what: str) -> None:
    """Poll ``ready()`` (a condition on another process) until true; fail naming ``what``."""
    import time

    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:.0f} s for {what}")
        time.sleep(0.2)


class Workbench:
    """The parts of the VS Code page the test reads and drives (selectors of VS Code 1.139)."""

    def __init__(self, page):
        self.page = page

    def status(self):
        """The extension's status bar item; its aria-label carries the tooltip too."""
        return self.page.locator("#workbench\\.parts\\.statusbar .statusbar-item",
                                 has_text="gpuemu:").first

    def run_command(self, title: str) -> None:
        """Run a command by its palette title (F1, type it, click the row with that title)."""
        page = self.page
        page.keyboard.press("Escape")
        page.keyboard.press("F1")
        page.locator(".quick-input-widget input").first.fill(">" + title)
        page.locator(".quick-input-list").get_by_role(
            "option", name=re.compile("^" + re.escape(title) + "(,|$)")).first.click()

    def open_file(self, name: str) -> None:
        """Quick Open (Ctrl+P) ``name`` and wait for its tab (a row's accessible name also
        carries its folder, e.g. "settings.json .vscode", so the row is matched by its text)."""
        page = self.page
        page.keyboard.press("Escape")
        page.keyboard.press("Control+p")
        page.locator(".quick-input-widget input").first.fill(name)
        page.locator(".quick-input-list .monaco-list-row", has_text=name).first.click()
        page.locator(".tabs-container .tab.active", has_text=name).wait_for()
        self.focus_editor()

    def focus_editor(self) -> None:
        """Keys to the active editor: a newly opened one may leave the focus where the closing
        Quick Open restored it (say, the Testing view's filter). Focusing Monaco's input keeps
        the cursor where it is."""
        group = self.page.locator(".editor-group-container.active")
        # Monaco's input: an EditContext element in Chromium, a textarea elsewhere.
        group.locator(".monaco-editor").first.locator(".native-edit-context, textarea").first.focus()
        group.locator(".monaco-editor.focused").first.wait_for()

    def go_to_line(self, line: int) -> None:
        page = self.page
        page.keyboard.press("Control+g")
        page.locator(".quick-input-widget input").first.fill(f":{line}")
        page.keyboard.press("Enter")
        page.locator(".quick-input-widget").first.wait_for(state="hidden")

    def type_new_line(self, text: str) -> None:
        """At the end of the cursor's line, a new line with ``text`` typed key by key."""
        self.page.keyboard.press("End")
        self.page.keyboard.press("Enter")
        self.page.keyboard.type(text)

    def replace_text(self, text: str) -> None:
        """Replace the active editor's text with ``text`` in one edit (as a paste would: no
        auto-closing, no thousand change events for the extension host to catch up on), and
        save it."""
        self.focus_editor()
        self.page.keyboard.press("Control+a")
        self.page.keyboard.press("Delete")  # a "[" typed over a selection would surround it
        self.page.keyboard.insert_text(text)
        self.save()

    def save(self) -> None:
        self.page.keyboard.press("Control+s")
        self.page.locator(".tabs-container .tab.active.dirty").wait_for(state="detached")

    def _labels(self, rows) -> list[str]:
        return rows.evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")

    def _show_problems(self) -> None:
        """Open the Problems panel unless it is shown (then the focus stays where it is, e.g. in
        the editor being typed into)."""
        if not self.page.locator(".markers-panel").first.is_visible():
            self.run_command("Problems: Focus on Problems View")

    def problems(self) -> list[str]:
        """The Problems panel's shown rows as "Error: message" (severity kept, location cut)."""
        self._show_problems()
        rows = self.page.locator(".markers-panel .monaco-list-row")
        return [re.sub(r" at line .*$", "", label)
                for label in self._labels(rows) if re.match(r"^(Error|Warning|Info): ", label)]

    def wait_problem(self, text: str, seconds: float = RUN_S) -> str:
        """The Problems row containing ``text`` (its aria-label, with 'at line N'), once shown."""
        self._show_problems()
        row = self.page.locator(".markers-panel .monaco-list-row", has_text=text).first
        row.wait_for(timeout=seconds * 1000)
        return row.get_attribute("aria-label")

    def wait_no_problem(self, text: str, seconds: float = RUN_S) -> None:
        self.page.locator(".markers-panel .monaco-list-row", has_text=text).first.wait_for(
            state="detached", timeout=seconds * 1000)

    def test_states(self, parent: str | None = None) -> dict[str, str]:
        """{label: state} of the Test explorer's top rows, or of ``parent``'s children."""
        self.run_command("Testing: Focus on Test Explorer View")
        rows = self.page.locator(".test-explorer .monaco-list-row")
        if parent is not None:
            row = rows.filter(has_text=re.compile("^" + re.escape(parent))).first
            if row.get_attribute("aria-expanded") == "false":
                row.click()
                self.page.keyboard.press("ArrowRight")
            rows = self.page.locator(".test-explorer .monaco-list-row[aria-level='2']")
            rows.first.wait_for()
        else:
            rows = self.page.locator(".test-explorer .monaco-list-row[aria-level='1']")
        return dict(re.match(r"^(\S+) \((\w+)\)", label).groups() for label in self._labels(rows))

    def failures(self):
        """The Failures view's rows (the view opened in the Explorer unless it is shown)."""
        pane = self.page.locator(".pane", has=self.page.locator(".pane-header",
                                                                 has_text=re.compile("gpuemu Failures", re.I)))
        if not pane.locator(".pane-body").first.is_visible():
            self.run_command("Explorer: Focus on gpuemu Failures View")
        return pane.locator(".monaco-list-row")

    def failure_rows(self) -> list[str]:
        rows = self.failures()
        rows.first.wait_for()
        return self._labels(rows)

    def failure(self, op: str):
        return self.failures().filter(has_text=f"{op} · seed").first

    def editor_text(self, tab: str, seconds: float = RUN_S) -> str:
        """The text of the editor tab ``tab`` once it is the active one."""
        self.page.locator(".tabs-container .tab.active", has_text=tab).wait_for(timeout=seconds * 1000)
        text = self.page.locator(".editor-group-container.active .view-lines").first.inner_text()
        return text.replace("\xa0", " ")  # Monaco renders spaces as no-break spaces

    def wait_notification(self, text: str, seconds: float = RUN_S) -> None:
        self.page.locator(".notifications-toasts", has_text=text).first.wait_for(timeout=seconds * 1000)

    def context_action(self, row, action: str) -> None:
        row.click(button="right")
        self.page.locator(".monaco-menu .action-item", has_text=action).first.click()

    def quick_fix(self, title: str) -> None:
        """Ctrl+. until the Quick Fix menu lists ``title``, then pick it: the keys can reach
        Monaco before its code actions for the cursor's problem are computed (the menu then
        says there are none), or before it has the focus."""
        row = self.page.locator(".action-widget .monaco-list-row", has_text=title).first

        def listed() -> bool:
            if row.is_visible():
                return True
            if not self.page.locator(".action-widget").first.is_visible():
                self.focus_editor()
                self.page.keyboard.press("Control+.")
            return False

        wait_until(listed, RUN_S, f"the Quick Fix menu to list {title!r}")
        row.click()
