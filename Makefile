# One entry point per user action. Every target sets up what it needs (tools/setup.sh is
# idempotent), so `make lab` and `make test` work on a fresh Debian 12 machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ENV := source tools/env.sh &&

.PHONY: help setup image lab lab-down test lint sanity unit molecule integration vm-image vm-test bench bench-count bench-monitor self-heal-test clean

help:
	@echo "make lab       - bring up the local arm64 board lab and converge playbooks/site.yml on it"
	@echo "make lab-down  - remove the lab boards"
	@echo "make test      - lint, ansible-test sanity, unit tests, molecule arm64 scenario"
	@echo "make vm-test   - real-kernel arm64 VM scenario (slow; cgroup v2 and v1)"
	@echo "make bench     - fleet benchmark: site.yml vs naive, ssh/pipelining/mitogen, 1-25 boards (prints a table)"
	@echo "make bench-monitor - rock5b-oom-monitor vs the seed's bash loop vs earlyoom in the arm64 VM (prints a table)"
	@echo "make self-heal-test - the pull timer corrects drift on a board by itself (amd64 board)"

setup:
	bash tools/setup.sh

image: setup
	$(ENV) bash tools/image/build.sh

lab: image
	$(ENV) bash tools/lab.sh up

lab-down:
	$(ENV) bash tools/lab.sh down

lint: setup
	$(ENV) bash tools/lint.sh

sanity: setup
	$(ENV) bash tools/sanity.sh

unit: setup
	$(ENV) python -m pytest tests/unit

molecule: image
	$(ENV) molecule test -s default

# The drift test, the bad-input corpus and the fleet report (in a headless browser) on the lab. A lab this target started is removed afterwards (pass or fail), so
# `make test` leaves no emulated boards running; one that was already up (make lab) is kept.
integration: image
	$(ENV) was_up=$$(podman ps -q --filter label=rock5b-oom-lab=1); \
	bash tools/lab.sh up && python -m pytest -s tests/integration/test_fleet_drift.py tests/integration/test_bad_input_corpus.py tests/integration/test_report.py tests/integration/test_report_page_browser.py tests/integration/test_lab_recovery.py; rc=$$?; \
	[ -n "$$was_up" ] || bash tools/lab.sh down; exit $$rc

test: lint sanity unit molecule integration

vm-image: setup
	$(ENV) bash tools/vm/build.sh

vm-test: vm-image
	$(ENV) bash tools/vm/test.sh

bench: image
	$(ENV) bash bench/fleet_bench.sh run

bench-count: image
	$(ENV) bash bench/fleet_bench.sh count

bench-monitor: vm-image
	$(ENV) bash bench/monitor/run-vm.sh

self-heal-test: image
	$(ENV) bash bench/build_amd64_image.sh >/dev/null && SELF_HEAL_TEST_ARCH=amd64 python -m pytest tests/integration/test_self_heal.py -v

clean:
	rm -rf .cache tests/output rock5b-oom-*.tar.gz
