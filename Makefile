# quaykey: `make demo` runs the main job, `make test` runs the whole suite.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
OUT     ?= out

.PHONY: demo test bench campaign lint typecheck clean venv docfigures

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# the whole system live with its dashboard (Ctrl-C stops; `quaykey demo --out out` draws the
# plots and map of the earlier demo)
demo: $(STAMP)
	$(BIN)/quaykey up

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	bash scripts/ensure-chromium.sh
	@url=$$(bash scripts/pg-test-server.sh start) || exit 1; \
	mqtt=$$(bash scripts/mqtt-test-broker.sh start) || { bash scripts/pg-test-server.sh stop; exit 1; }; \
	QUAYKEY_TEST_POSTGRES_URL=$$url QUAYKEY_TEST_MQTT_URL=$$mqtt \
	$(BIN)/python -m pytest -n 2 --timeout 600 -q; rc=$$?; \
	bash scripts/mqtt-test-broker.sh stop; bash scripts/pg-test-server.sh stop; exit $$rc

bench: $(STAMP)
	$(BIN)/python benchmarks/link.py
	$(BIN)/python benchmarks/postproc.py
	$(BIN)/python benchmarks/cascade.py
	$(BIN)/python benchmarks/ldpc.py --frames 4
	$(BIN)/python benchmarks/network.py
	$(BIN)/python benchmarks/kms.py

# the reliability campaign at full size (about 40 minutes on 2 cores): rewrites the figures of
# docs/reliability.md; exits 1 if any figure misses what theory or the invariant says
campaign: $(STAMP)
	mkdir -p $(OUT)
	$(BIN)/quaykey campaign run --size full --out $(OUT)/campaign.json --doc docs/reliability.md

# rewrite the figures the docs quote from what the code prints (`--check` only compares)
docfigures: $(STAMP)
	$(BIN)/python scripts/docfigures.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache .ruff_cache
