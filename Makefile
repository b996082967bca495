# Belay — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint typecheck pytest clean chromium

# The lock files (requirements/*.txt, every package pinned with its hashes) are what
# a fresh clone installs: a new release of a dependency cannot change it. `make lock`
# refreshes them from pyproject.toml (and requirements/build.in) with uv; the project
# itself is then installed without resolving anything (--no-deps), built by the locked
# setuptools (--no-build-isolation). -qq: errors only.
PIP_INSTALL := $(BIN)/python -m pip install -qq --disable-pip-version-check
UV_VERSION  := 0.13.10
LOCK        := $(BIN)/uv pip compile -q $(if $(UPGRADE),--upgrade) --universal --python-version 3.11 --generate-hashes \
               --custom-compile-command "make lock" pyproject.toml requirements/build.in

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV)

$(STAMP): requirements/run.txt pyproject.toml setup.py | $(BIN)/python
	@echo "Installing Belay into .venv (requirements/run.txt: pinned, with hashes)"
	@$(PIP_INSTALL) --require-hashes -r requirements/run.txt
	@$(PIP_INSTALL) --no-deps --no-build-isolation -e .
	@touch $@

$(TEST_STAMP): requirements/test.txt pyproject.toml setup.py | $(BIN)/python
	$(PIP_INSTALL) --require-hashes -r requirements/test.txt
	$(PIP_INSTALL) --no-deps --no-build-isolation -e .
	touch $@ $(STAMP)

## make lock: re-resolve the dependencies of pyproject.toml (after changing them) into
## requirements/run.txt (with the postgres extra) and requirements/test.txt (test and
## postgres extras), pinned with hashes; commit both. Versions already pinned stay
## unless `make lock UPGRADE=1`. tests/test_lock_files.py fails
## while they disagree with pyproject.toml.
.PHONY: lock
lock: | $(BIN)/python
	$(PIP_INSTALL) uv==$(UV_VERSION)
	$(LOCK) --extra postgres -o requirements/run.txt
	$(LOCK) --extra postgres --extra test -c requirements/run.txt -o requirements/test.txt

## make run: install, migrate, seed the demo, then serve the OP on http://localhost:5000
## and the demo bank (examples/bank) on http://localhost:5001, and print the logins last.
## Quiet: BELAY_LOG_LEVEL=warning (no request or audit lines; set it to info to see
## them) and, from examples/bank/launch.py, BELAY_DEV_OUTBOX=on (codes by email and SMS
## printed and listed at http://localhost:5000/dev/outbox).
run: export BELAY_LOG_LEVEL ?= warning
run: $(STAMP)
	@$(BIN)/belay init
	@$(BIN)/belay demo --quiet
	@$(BIN)/python -m examples.bank.launch

## make test: install with test extras, then ruff, import-linter's layer contracts, mypy
## and the whole pytest suite
test: $(TEST_STAMP) chromium lint typecheck pytest

# The browser tests drive Debian's Chromium; install it when missing and we may.
chromium:
	@if [ ! -x "$${BELAY_CHROMIUM:-/usr/bin/chromium}" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing chromium from Debian's packages"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "The browser tests need Chromium: sudo apt-get install chromium (or set BELAY_CHROMIUM)"; exit 1; \
	  fi; \
	fi

lint: $(TEST_STAMP)
	$(BIN)/ruff check provider examples tests conformance bench
	$(BIN)/ruff format --check provider examples tests conformance bench
	$(BIN)/lint-imports

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

pytest: $(TEST_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

## make translations: collect every text for people (babel.cfg) into
## translations/messages.pot, merge it into each language's .po (translate the new
## entries there), then compile the .mo files the app loads (committed with the .po)
.PHONY: translations
translations: $(TEST_STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k _ -k ngettext_:1,2 --no-location \
	  --sort-output --omit-header -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching \
	  --ignore-obsolete --ignore-pot-creation-date
	$(BIN)/pybabel compile -d translations --statistics

## make fuzz: the attacker-model state machine (docs/security.md case 46) with a long
## budget, not run in CI: BELAY_FUZZ_EXAMPLES (default 2000) examples of
## BELAY_FUZZ_STEPS (default 40) steps each
.PHONY: fuzz
fuzz: $(TEST_STAMP)
	BELAY_FUZZ_EXAMPLES=$${BELAY_FUZZ_EXAMPLES:-2000} BELAY_FUZZ_STEPS=$${BELAY_FUZZ_STEPS:-40} \
	  $(BIN)/pytest tests/test_attacker_model.py::test_attacker_model -q -p no:cacheprovider \
	  --timeout=0 --hypothesis-show-statistics $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache tests/artifacts

## make conformance: run the conformance suite (conformance/) against ISSUER=URL with
## CONFIG=FILE, or, without ISSUER, against a Belay it starts on a temporary database
.PHONY: conformance
conformance: $(TEST_STAMP)
	$(BIN)/python -m conformance $(if $(ISSUER),--issuer $(ISSUER)) $(if $(CONFIG),--config $(CONFIG))

## make bench: the benchmarks (bench/README.md) side by side with node oidc-provider
## (installed into bench/oidc_provider by npm), on SQLite and on PostgreSQL
## (BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/belay_bench,
## dropped and recreated); writes bench/RESULTS.md. About 17 minutes.
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)
