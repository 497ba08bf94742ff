# Two commands: `make serve` and `make test`. Each sets up .venv itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
STORE  ?= var

.PHONY: serve test build lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The graph is (re)built when the ontology or the data changed since the last build.
$(STORE)/.built: $(STAMP) $(wildcard ontology/*.ttl) $(wildcard data/studies/*.yaml) $(wildcard data/cards/*.txt)
	$(BIN)/tkg build --store $(STORE)
	touch $@

build: $(STORE)/.built

serve: $(STORE)/.built
	$(BIN)/tkg serve --store $(STORE)

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check kg web tests benchmarks

clean:
	rm -rf $(VENV) $(STORE) *.egg-info
