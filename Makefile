# The two Quick start commands. Each creates the virtual environment it needs,
# so a fresh clone on a fresh machine is enough.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml setup.py src/gpuemu/_rngfast.c src/gpuemu/_cmpfast.c | cksum | cut -d' ' -f1)

.PHONY: demo test bench vscode browser editor editor-test

$(STAMP): pyproject.toml setup.py src/gpuemu/_rngfast.c src/gpuemu/_cmpfast.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,examples,torch,jax,tensorflow,ray]'
	rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	$(BIN)/python examples/quickstart.py

# Two cores: pytest-xdist runs a module per worker (module-scoped daemons stay shared).
# A worker that dies (a native crash in a test's library) ends the run at once, naming the
# test: under --dist loadfile, a replaced worker can wait forever for work.
# The whole suite includes the extension in a real VS Code (tests/editor/): `editor`
# installs code-server once into a cache outside the checkout, and the test fails rather
# than skips when anything it needs is missing.
test: $(STAMP) browser vscode editor
	GPUEMU_EDITOR=1 GPUEMU_EDITOR_REQUIRED=1 $(BIN)/python -m pytest -n 2 --dist loadfile --max-worker-restart=0

# The same e2e tests while busy loops occupy every core: no test may depend on speed.
test-busy: $(STAMP)
	$(BIN)/python -m pytest --busy=auto -n 2 --dist loadfile tests/e2e/test_daemon.py \
	    tests/e2e/test_reliability_client.py tests/e2e/test_reliability_crash.py tests/unit/test_executor.py

# The extension in a real VS Code alone (code-server driven by headless Chromium).
editor-test: $(STAMP) browser vscode editor
	GPUEMU_EDITOR=1 GPUEMU_EDITOR_REQUIRED=1 $(BIN)/python -m pytest tests/editor

# Headless Chromium renders the HTML report in its test (Debian's package).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

# The VS Code extension: its unit tests (against CLI output captured from a real daemon)
# and its .vsix. Node and npm come from Debian's packages when the machine lacks them.
vscode:
	command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm)
	cd vscode-gpuemu && npm ci --no-audit --no-fund --loglevel=error && npm test && npm run package

# code-server (VS Code in the browser) for tests/editor/: installed once into
# ~/.cache/gpuemu-editor (outside the checkout), found there by later runs.
editor:
	scripts/install-editor.sh

bench: $(STAMP)
	$(BIN)/python -m bench
