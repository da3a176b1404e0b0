# The two quick-start commands are `make demo` and `make test`; each builds what it needs.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# A stamp per use; each installs the project with these extras of pyproject.toml (the server: none).
EXTRAS_server :=
EXTRAS_bench := [bench]
EXTRAS_replicas := [replicas]
EXTRAS_test := [test]

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test bench install perf replicas clean prometheus-tools

demo: $(VENV)/.installed-bench
	$(VENV)/bin/banditroute demo

test: $(VENV)/.installed-test prometheus-tools
	$(PY) -m pytest -q

# promtool and prometheus for tests/transport/test_prometheus.py: the two binaries of Debian's package, unpacked into
# the venv (nothing installed system-wide, no daemon started). Where that cannot be done (no apt; not root
# and no package lists) it says so and those tests skip; it never fails the target.
prometheus-tools: $(VENV)/.installed-test
	@test -x $(VENV)/bin/promtool -a -x $(VENV)/bin/prometheus || { \
		tmp=$$(mktemp -d) && chmod 755 $$tmp && cd $$tmp && command -v apt-get >/dev/null && \
		{ apt-get download -qq prometheus 2>/dev/null || \
			{ [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get download -qq prometheus; }; } && \
		dpkg-deb --fsys-tarfile prometheus_*.deb | tar -x ./usr/bin/promtool ./usr/bin/prometheus && \
		mv usr/bin/promtool usr/bin/prometheus $(abspath $(VENV))/bin/; \
		status=$$?; rm -rf $$tmp; \
		[ $$status = 0 ] || echo "promtool and prometheus not installed: the tests that need them will skip"; }

# The benchmarks: the simulator's steady scenario, then the replay of the shared real data when it
# sits beside the checkout. JSON, plots and MLflow runs land in runs/ and mlruns/.
bench: $(VENV)/.installed-bench
	$(VENV)/bin/banditroute simulate --scenario steady --requests 10000 --seed 1 --json runs/simulate-steady.json
	@if [ -f ../shared/data/routing_dev.csv ]; then \
		$(VENV)/bin/banditroute replay --data ../shared/data/routing_dev.csv --seed 1 --json runs/replay.json; \
	else echo "replay skipped: ../shared/data/routing_dev.csv is not beside this checkout"; fi

perf: $(VENV)/.installed-bench
	$(VENV)/bin/banditroute perf

# PostgreSQL and three replicas on this machine, driven by the simulator through one round_robin client.
replicas: $(VENV)/.installed-replicas
	$(VENV)/bin/banditroute replicas --replicas 3

# The server alone: none of the packages of the benchmarks, the notebooks or the tests.
install: $(VENV)/.installed-server

# torch goes first and alone: pip then takes the CPU build on this machine instead of a CUDA one. The
# lock constrains versions and the extras choose packages; building the project generates the gRPC
# stubs (setup.py).
$(VENV)/.installed-%: requirements.lock pyproject.toml setup.py protos/router.proto
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c requirements.lock -e ".$(EXTRAS_$*)"
	touch $@

clean:
	rm -rf $(VENV) router/generated
