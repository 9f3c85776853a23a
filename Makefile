# Thin wrappers around scripts/; the scripts are the source of truth.
#   make run  [ARGS="batch list -u tech1"]   scripts/run
#   make test [ARGS="-k units -x"]  scripts/test (ruff, lint-imports, pytest on SQLite + PostgreSQL)
#   make lint                       scripts/test --lint-only
#   make bench [ARGS=...]           scripts/bench.py in .venv
ARGS ?=

.PHONY: run test lint bench venv

run:
	scripts/run $(ARGS)

test:
	scripts/test $(ARGS)

lint:
	scripts/test --lint-only

venv:
	scripts/test --setup-only

bench: venv
	.venv/bin/python scripts/bench.py $(ARGS)
