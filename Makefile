# leptotwin: `make reproduce` runs the whole in-silico study; `make test` runs lint + tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv reproduce test fuzz lint format bench clean browser

# The last step compiles the numba kernels `reproduce` uses into numba's disk cache (about 30 s of
# one core, once per install), so that the first `make reproduce` does not (leptotwin/_warmup.py).
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	MPLBACKEND=Agg $(BIN)/python -m leptotwin._warmup
	touch $(STAMP)

venv: $(STAMP)

reproduce: $(STAMP)
	$(BIN)/leptotwin reproduce $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts examples
	$(BIN)/ruff format --check src tests benchmarks scripts examples

# tests/study/test_report_browser.py opens the report in headless Chromium: as root with apt-get
# (CI on Debian) install it when missing; elsewhere that test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || \
	  echo "chromium not installed: the report's browser test will skip"

test: lint browser
	MPLBACKEND=Agg $(BIN)/python -m pytest -q

# Nightly-size property tests (not run by CI): every reader and grammar, 10,000 cases each.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz MPLBACKEND=Agg $(BIN)/python -m pytest -q -m fuzz -p no:cacheprovider

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks scripts examples
	$(BIN)/ruff check --fix src tests benchmarks scripts examples

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -r benchmarks/requirements.txt
	for b in benchmarks/*.py; do echo "== $$b"; MPLBACKEND=Agg $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) results build dist src/*.egg-info
