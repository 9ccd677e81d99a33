# One entry point per user action. Every target sets up what it needs (tools/setup.sh is
# idempotent), so `make lab` and `make test` work on a fresh Debian 12 machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ENV := source tools/env.sh &&

.PHONY: help setup image lab lab-down test lint sanity unit molecule integration vm-image vm-test fault-test bench bench-count bench-monitor self-heal-test ee docs core-matrix clean

help:
	@echo "make lab       - bring up the local arm64 board lab and converge playbooks/site.yml on it"
	@echo "make lab-down  - remove the lab boards"
	@echo "make test      - lint, ansible-test sanity, unit tests, molecule arm64 scenario"
	@echo "make vm-test   - real-kernel arm64 VM scenario (slow; cgroup v2 and v1)"
	@echo "make fault-test - a board losing power mid-rollout and SSH cut mid-run (lab); power cuts, full disk, read-only root (arm64 VM); docs/faults.md"
	@echo "make bench     - fleet benchmark: site.yml vs naive, ssh/pipelining/mitogen, 1-25 boards (prints a table)"
	@echo "make bench-monitor - rock5b-oom-monitor vs the seed's bash loop vs earlyoom in the arm64 VM (prints a table)"
	@echo "make self-heal-test - the pull timer corrects drift on a board by itself (amd64 board)"
	@echo "make core-matrix - ansible-test sanity + unit tests on ansible-core 2.21 (Python 3.13); make test covers 2.19"
	@echo "make docs      - build the docs site (antsibull-docs + Sphinx) into .cache/docsite/build/html and check it"
	@echo "make ee        - build the execution environment (AWX) and converge the lab from inside it, twice"

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
	$(ENV) python -m pytest -n auto tests/unit

molecule: image
	$(ENV) molecule test -s default

# The drift test, the bad-input corpus and the fleet report (in a headless browser) on the lab. A lab this target started is removed afterwards (pass or fail), so
# `make test` leaves no emulated boards running; one that was already up (make lab) is kept.
integration: image
	$(ENV) was_up=$$(podman ps -q --filter label=rock5b-oom-lab=1); \
	bash tools/lab.sh up && python -m pytest -s tests/integration/test_fleet_drift.py tests/integration/test_bad_input_corpus.py tests/integration/test_report.py tests/integration/test_report_page_browser.py tests/integration/test_lab_recovery.py; rc=$$?; \
	[ -n "$$was_up" ] || bash tools/lab.sh down; exit $$rc

test:
	@bash tools/phases.sh lint sanity unit molecule integration

vm-image: setup
	$(ENV) bash tools/vm/build.sh

vm-test: vm-image
	$(ENV) bash tools/vm/test.sh

# Issue #20: kill -9 of qemu mid site.yml (FAULT_POWER_CUTS, FAULT_SEED), a full root file
# system and a read-only root, in one bookworm VM; prints fault x repetition x outcome.
fault-test: image vm-image
	$(ENV) bash tools/fault/test.sh

bench: image
	$(ENV) bash bench/fleet_bench.sh run

bench-count: image
	$(ENV) bash bench/fleet_bench.sh count

bench-monitor: vm-image
	$(ENV) bash bench/monitor/run-vm.sh

self-heal-test: image
	$(ENV) bash bench/build_amd64_image.sh >/dev/null && SELF_HEAL_TEST_ARCH=amd64 python -m pytest tests/integration/test_self_heal.py -v

# The execution environment AWX runs jobs in (execution-environment.yml, docs/awx.md): built
# with ansible-builder, then the main job run from inside it on the lab, twice (changed=0 on
# the second pass). A lab this target started is removed afterwards, as in `integration`.
ee: image
	$(ENV) was_up=$$(podman ps -q --filter label=rock5b-oom-lab=1); \
	bash tools/ee/build.sh && bash tools/lab.sh up && bash tools/ee/run.sh; rc=$$?; \
	[ -n "$$was_up" ] || bash tools/lab.sh down; exit $$rc

# meta/runtime.yml allows ansible-core 2.19-2.21: `make test` runs sanity and unit tests on
# 2.19 (Python 3.11), this on 2.21 (Python 3.13 from pyenv; fails if it is missing).
core-matrix: setup
	$(ENV) bash tools/core_matrix.sh 2.21

# The docs site: modules, roles, filters and the guides in docs/ (tools/docs.sh build), checked
# page by page and link by link.
docs: setup
	$(ENV) python -m pytest -s tests/docs/test_docsite_build.py

clean:
	rm -rf .cache tests/output rock5b-oom-*.tar.gz
