"""The extension in a real VS Code (code-server, headless chromium): what a user sees, step by
step on one page (issues 24 and 27). The steps share one editor and run in file order; each
leaves a screenshot in build/editor-test/ when it fails."""

from __future__ import annotations

import re

import pytest

from tests.editor.project import TOML, line_of
from tests.editor.workbench import ACTIVATION_S, RUN_S

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(ACTIVATION_S + 2 * RUN_S)]

SCALE_OFF_LINE = line_of(TOML, 'name = "scale_off"')


def expect(locator):
    from playwright.sync_api import expect as _expect

    return _expect(locator)


def test_1_activates_and_finds_the_projects_cli(workbench):
    """The editor's PATH has no gpuemu: the extension finds the project's .venv/bin/gpuemu and
    says the daemon is down (nothing started it)."""
    expect(workbench.status()).to_contain_text("gpuemu: down", timeout=ACTIVATION_S * 1000)


def test_2_testing_view_runs_every_op(workbench):
    """Test: Run All Tests runs each op; the items read the CLI's verdicts, dtypes none of whose
    cases was checked do not pass, and the status bar shows the run (as bad as its worst op) and
    the daemon the run started, without a poll."""
    workbench.run_command("Test: Run All Tests")
    expect(workbench.status()).to_contain_text("gpuemu: up · last run failed",
                                               timeout=RUN_S * 1000)
    assert workbench.test_states() == {"scale_ok": "Passed", "scale_off": "Failed",
                                       "scale_crash": "Failed"}
    assert workbench.test_states("scale_crash") == {"float32": "Failed", "float16": "Failed"}


def test_3_problems_at_the_op_and_config_errors_while_typing(editor, workbench):
    """Failing ops' diagnostics sit at their `name = ` lines; an unknown key typed into
    gpuemu.toml is flagged at its line before any save; a saved gpuemu.toml that does not parse
    leaves the daemon up in the status bar."""
    _, _, toml = editor
    row = workbench.wait_problem("scale_off: ")
    assert re.search(r"scale_off: \d+ of \d+ cases failed \(ToleranceExceeded", row), row
    assert f"at line {SCALE_OFF_LINE} " in row, row
    crash = workbench.wait_problem("scale_crash: ")
    assert re.search(r"worst case \(case \d+\) shape x=\[[\d, ]+\] Float(16|32): script \S+ raised in run\(\): … "
                     r"RuntimeError: kernel launch failed", crash), crash
    workbench.open_file("gpuemu.toml")
    at = line_of(TOML, 'op_script = "ops/scale_ok.py"')
    workbench.go_to_line(at)
    workbench.type_new_line("op_scirpt = 1")
    row = workbench.wait_problem("op_scirpt: unknown key")
    assert f"at line {at + 1} " in row, row
    workbench.type_new_line("oops =")
    workbench.save()
    status = workbench.status()
    expect(status).to_have_attribute(
        "aria-label", re.compile(r"gpuemu: up .*gpuemu status could not read the project: .*invalid TOML", re.S),
        timeout=RUN_S * 1000)
    workbench.replace_text(TOML)
    workbench.wait_no_problem("op_scirpt: unknown key")
    assert toml.read_text() == TOML


def test_4_failures_tree_reproduce_and_minimize(workbench):
    """The Failures view lists the failing cases of every op of the Run All; clicking one
    reproduces it and shows what the CLI printed, without replacing the run's results; its
    Minimize action opens the minimized case."""
    rows = workbench.failure_rows()
    assert any(r.startswith("scale_off · seed") for r in rows), rows
    assert any(r.startswith("scale_crash · seed") for r in rows), rows
    assert not any("[]" in r for r in rows), rows
    before = workbench.problems()
    row = workbench.failure("scale_off")
    seed = re.search(r"seed (\d+)", row.inner_text()).group(1)
    row.click()
    verdict = f"still fails: seed {seed} (scale_off)"
    workbench.wait_notification(f"gpuemu reproduce: {verdict}")
    assert verdict in workbench.editor_text(f"reproduce-{seed}.md")
    assert workbench.problems() == before
    assert workbench.failure_rows() == rows
    workbench.context_action(workbench.failure("scale_off"), "Minimize Failure")
    page = workbench.editor_text(f"minimize-{seed}.md")
    assert "Still fails the same way" in page, page
    assert workbench.problems() == before


def test_5_quick_fix_adjusts_the_tolerance_and_reruns(editor, workbench):
    """The tolerance quick fix on scale_off's problem writes [ops.tolerances.float32] where the
    user sees it, saves, re-runs the op, and its error goes; the others stay at their ops'
    lines."""
    _, _, toml = editor
    workbench.open_file("gpuemu.toml")
    workbench.go_to_line(SCALE_OFF_LINE)
    workbench.quick_fix("Adjust tolerance so it passes")
    expect(workbench.status()).to_contain_text("last run passed", timeout=RUN_S * 1000)
    text = toml.read_text()
    assert re.search(r"\[ops\.tolerances\.float32\]\natol = [\d.e-]+\nrtol = ", text), text
    assert "[ops.tolerances.float32]" in workbench.editor_text("gpuemu.toml")  # in sight
    assert not [p for p in workbench.problems() if p.startswith("Error: scale_off:")]
    crash = workbench.wait_problem("scale_crash: ")
    crash_line = line_of(text, 'name = "scale_crash"')
    assert f"at line {crash_line} " in crash, crash
    assert workbench.test_states()["scale_off"] == "Passed"


def test_6_a_changed_command_setting_is_used_at_once(workbench):
    """gpuemu.command set in the workspace's settings.json is used by the next CLI call, made
    at once (no polling here): a missing CLI says so; removing the setting finds the project's
    CLI again. Stopping the daemon shows it down and leaves the last run's verdict."""
    # The settings commands open a modal editor; the file opened as a file is an ordinary tab.
    workbench.open_file("settings.json")
    workbench.replace_text('{"gpuemu.command": ["/nonexistent/bin/gpuemu"]}')
    expect(workbench.status()).to_contain_text("gpuemu: CLI not found", timeout=RUN_S * 1000)
    expect(workbench.status()).to_have_attribute(
        "aria-label", re.compile(r"could not run /nonexistent/bin/gpuemu: .*gpuemu\.command"),
        timeout=RUN_S * 1000)
    workbench.replace_text("{}")
    expect(workbench.status()).to_contain_text("gpuemu: up", timeout=RUN_S * 1000)
    # Stopping the daemon is no test run: the status bar keeps the last run's verdict.
    workbench.run_command("gpuemu: Stop Daemon")
    expect(workbench.status()).to_contain_text("gpuemu: down · last run passed",
                                               timeout=RUN_S * 1000)
