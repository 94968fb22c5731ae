# agent_execution_exporter — the two front-door commands:
#   make demo   throwaway PostgreSQL + schema + data + exporter (foreground)
#   make test   install what is missing, build, run every test (plain and ASan+UBSan)
# Everything else is a helper of these.

JOBS       ?= $(shell nproc)
BUILD      ?= build
ASAN_BUILD ?= build-asan
CMAKE_ARGS ?=
FUZZ_BUILD ?= build-fuzz
# make fuzz: seconds per harness (FUZZ_TARGETS: a subset, e.g. "flags web_config")
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?=

.PHONY: all deps deps-build deps-demo deps-fuzz deps-packaging install package build build-asan test test-plain test-asan test-rules test-e2e test-packaging test-fuzz build-fuzz fuzz rules demo bench clean

all: build

# Debian packages by set (scripts/install-deps.sh): make build needs only the build set;
# deps is every set (the tests and the demo).
deps:
	@scripts/install-deps.sh

deps-build:
	@scripts/install-deps.sh build

deps-demo:
	@scripts/install-deps.sh build demo

deps-fuzz:
	@scripts/install-deps.sh build fuzz

deps-packaging:
	@scripts/install-deps.sh build packaging node

build: deps-build
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAEE_TEST_PG_PORT=22432 $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps-build
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DAEE_SANITIZE=ON -DAEE_TEST_PG_PORT=22442 $(CMAKE_ARGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

test: test-rules test-plain test-asan test-e2e test-packaging test-fuzz

test-rules: deps
	@echo "== rule pack (promtool) =="
	@alerts/check.sh
	@echo "== dashboards (lint, up to date with grafana/*.libsonnet) =="
	@python3 tests/e2e/check_dashboards.py lint grafana/dashboards
	@echo "== dashboards against Grafana's types (@grafana/grafana-foundation-sdk, tsc --strict) =="
	@tests/dashboards_types/check.sh
	@echo "== every dashboard query parses, with recording rules and expanded to raw series (bench phase queries) =="
	@python3 bench/query_targets.py check

rules:
	@jsonnet -S -m alerts alerts/render.jsonnet
	@jsonnet -S -m grafana/dashboards grafana/dashboards.jsonnet
	@deploy/kubernetes/render.sh

test-plain: deps build
	@echo "== tests (RelWithDebInfo) =="
	@ctest --test-dir $(BUILD) --output-on-failure -j 2

test-asan: deps build-asan
	@echo "== tests (AddressSanitizer + UndefinedBehaviorSanitizer) =="
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
	 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	 ctest --test-dir $(ASAN_BUILD) --output-on-failure -j 2

test-e2e: deps build
	@echo "== end to end: demo stack smoke test =="
	@tests/e2e/demo_smoke.sh $(BUILD)
	@echo "== end to end: alerts through Alertmanager, dashboards, quantiles =="
	@tests/e2e/alerts_e2e.sh $(BUILD)
	@echo "== end to end: scale-out layout (shard Prometheus pairs, remote write, central rule pack) =="
	@tests/e2e/scaleout_e2e.sh $(BUILD)

# libFuzzer harnesses (fuzz/), clang with ASan+UBSan; docs/security.md, "Fuzzing".
build-fuzz: deps-fuzz
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAEE_FUZZ=ON \
	 -DAEE_BUILD_TESTS=OFF -DAEE_BUILD_TOOLS=OFF $(CMAKE_ARGS) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)

test-fuzz: build-fuzz
	@echo "== fuzzing: each harness for 25 s (libFuzzer, ASan+UBSan) =="
	@fuzz/run.sh $(FUZZ_BUILD) 25

fuzz: build-fuzz
	@fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

test-packaging: deps-packaging
	@echo "== packaging: image build path, install, systemd unit, .deb, Kubernetes manifests =="
	@tests/packaging_test.sh

demo: deps-demo build
	@scripts/demo.sh $(BUILD)

# Benchmarks against the SQL exporters (not part of test; ~40 min; docs/benchmarks.md).
# BENCH_SIZES, BENCH_QUICK=1 and the other knobs are described in bench/run.sh.
bench: deps
	@bench/run.sh

# make install: the exporter and the rollup writer, their systemd units, examples and
# (with help2man) the man pages under PREFIX (default /usr/local), staged under DESTDIR
# when set.
# make package: the .deb (CPack, prefix /usr) into $(PACKAGE_BUILD)/packages/.
# docs/deploy.md.
PREFIX ?= /usr/local
PACKAGE_BUILD ?= build-release
install: deps-build
	@cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target agent_execution_exporter agent_execution_rollup aee_packaging_files
	@DESTDIR=$(DESTDIR) cmake --install $(BUILD) --component exporter
	@DESTDIR=$(DESTDIR) cmake --install $(BUILD) --component rollup

package: deps-packaging
	@BUILD_DIR=$(PACKAGE_BUILD) packaging/build.sh package

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) build-release .state
