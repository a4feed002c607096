# newsearch: `make demo` sets up and searches the bundled news; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INDEX ?= index
QUERY ?= Russia stance on DPRK sanctions

.PHONY: setup demo test lint browser serve clean

setup: $(VENV)/.installed

# torch first and pinned: a bare torch requirement would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/newsearch index data --index $(INDEX)
	$(BIN)/newsearch search "$(QUERY)" --index $(INDEX) -k 5

serve: setup
	$(BIN)/newsearch serve --index $(INDEX)

# Debian's Chromium and its driver for the browser test (never a downloaded browser).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

lint: setup
	$(BIN)/ruff check .

test: setup browser
	$(BIN)/ruff check .
	HF_HUB_OFFLINE=1 $(BIN)/pytest -q

clean:
	rm -rf $(VENV) $(INDEX) .pytest_cache
