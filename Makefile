# The two Quick start commands. Each creates the virtual environment it needs,
# so a fresh clone on a fresh machine is enough.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml setup.py src/gpuemu/_rngfast.c src/gpuemu/_cmpfast.c | cksum | cut -d' ' -f1)

.PHONY: demo test bench vscode browser

$(STAMP): pyproject.toml setup.py src/gpuemu/_rngfast.c src/gpuemu/_cmpfast.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,examples,torch,jax,tensorflow,ray]'
	rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	$(BIN)/python examples/quickstart.py

test: $(STAMP) browser
	$(BIN)/python -m pytest
	$(MAKE) vscode

# Headless Chromium renders the HTML report in its test (Debian's package).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

# The VS Code extension: its unit tests (against CLI output captured from a real daemon)
# and its .vsix. Node and npm come from Debian's packages when the machine lacks them.
vscode:
	command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm)
	cd vscode-gpuemu && npm ci --no-audit --no-fund --loglevel=error && npm test && npm run package

bench: $(STAMP)
	$(BIN)/python -m bench
