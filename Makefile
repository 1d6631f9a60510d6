# Two entry points do all the set-up on a fresh machine:
#   make demo   - create .venv, install rnnkit, run the demo on bundled data
#   make test   - create .venv, install rnnkit with test extras (and chromium for the page
#                 tests where apt can), run the default test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-all bench clean browser

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/seed_examples.py
	$(VENV)/bin/rnnkit demo --out runs/demo

# The page tests drive Debian's chromium; without it (and without root and apt to install it)
# they skip, saying so.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { timeout 300 apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { timeout 300 apt-get update -q >/dev/null 2>&1 && \
	      timeout 300 apt-get install -y -q chromium >/dev/null 2>&1; }; }; } || \
	echo "make: no chromium (apt-get install chromium): the browser tests will skip"

test: $(STAMP) browser
	$(PY) -m pytest -m "not slow" -q

test-all: $(STAMP) browser
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
