"""Fixtures of the editor test: one code-server and one page for the whole module, and a
screenshot of the page for every step that fails."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.editor.project import make_project
from tests.editor.workbench import (ACTIVATION_S, ARTIFACTS, ROOT, VSIX, CodeServer, Workbench,
                                    cli_wrapper, require_tools)

SETTINGS = {
    # A fresh profile opens folders in Restricted Mode, where no extension activates.
    "security.workspace.trust.enabled": False,
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "extensions.ignoreRecommendations": True,
    "chat.disableAIFeatures": True,
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "files.autoSave": "off",
    # Typed text lands as typed (the test types a settings.json and a gpuemu.toml).
    "editor.autoClosingBrackets": "never",
    "editor.autoClosingQuotes": "never",
    "editor.autoSurround": "never",
    "editor.autoIndent": "none",
    "editor.quickSuggestions": {"other": "off", "comments": "off", "strings": "off"},
    "editor.suggestOnTriggerCharacters": False,
    "editor.acceptSuggestionOnEnter": "off",
    # No polling: every status change the test sees comes from a run, a save or a setting.
    "gpuemu.statusPollSeconds": 0,
}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and "workbench" in item.fixturenames:
        page = item.funcargs.get("workbench").page if "workbench" in item.funcargs else None
        if page is not None:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / f"{item.name}.png"
            try:
                page.screenshot(path=str(shot))
                report.sections.append(("editor screenshot", str(shot)))
            except Exception as e:  # the page may be gone; the failure itself says more
                report.sections.append(("editor screenshot", f"none: {e}"))


@pytest.fixture(scope="module")
def editor():
    """code-server with the extension installed, serving the test project (a private profile,
    GPUEMU_HOME and PATH without gpuemu); stopped, with the daemon, at the end."""
    require_tools()
    root = Path(tempfile.mkdtemp(prefix="ge-ed-", dir="/tmp"))  # short: the daemon's socket
    project = root / "proj"
    toml = make_project(project)
    home = root / "h"
    gpuemu = cli_wrapper(project / ".venv" / "bin" / "gpuemu",
                         {"PYTHONPATH": str(ROOT / "src"), "GPUEMU_HOME": str(home)})
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(root / "home"),
           "LANG": "C.UTF-8", "GPUEMU_HOME": str(home)}
    server = CodeServer(folder=project, profile=root / "profile", env=env)
    server.write_settings(SETTINGS)
    server.install(VSIX)
    url = server.start()
    yield server, url, toml
    server.stop()
    subprocess.run([str(gpuemu), "daemon", "stop"], capture_output=True, timeout=60)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def workbench(editor):
    from playwright.sync_api import sync_playwright

    server, url, _ = editor
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(ACTIVATION_S * 1000)
        page.goto(url)
        yield Workbench(page)
        browser.close()
