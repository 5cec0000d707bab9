# claw.mk: claw targets for an existing repository's Makefile.
#
#   include path/to/claw.mk          # in your Makefile
#   make claw-pull claw-build claw-up
#
# Settings (set them before the include, or on the make command line):
#   CLAW        the claw command            (default: claw; or: python path/to/claw.py)
#   CLAW_POD    the pod file                (default: claw-pod.yml)
#   CLAW_FLAGS  global options for claw     (e.g. --config ci/claw.toml -q)
#   CLAW_CONTEXTS  docker contexts to drive (e.g. host-a,host-b; default: the
#               environment's engine). Several: each verb runs on every engine.
#
# Each target runs one claw command and fails the make run with claw's exit
# status: 1 failed, 2 bad input, 3 not ready (claw-check, claw-up) or behind
# (claw-outdated: a pull would change something).
#
# With claw.lock (beside the pod, committed): a scheduled job runs claw-lock and
# proposes the change; CI and deploy run claw-locked, then claw-build and claw-up.

CLAW       ?= claw
CLAW_POD   ?= claw-pod.yml
CLAW_FLAGS ?=
CLAW_CONTEXTS ?=

# --context once, with every name (claw splits it on commas and spaces)
override CLAW_FLAGS += $(if $(strip $(CLAW_CONTEXTS)),--context '$(strip $(CLAW_CONTEXTS))')

.PHONY: claw-pull claw-build claw-up claw-down claw-check claw-outdated claw-lock claw-locked

claw-pull: ## claw: pull infra and registry images, refresh the pod's runner bases
	$(CLAW) $(CLAW_FLAGS) pull -f $(CLAW_POD)

claw-outdated: ## claw: what a pull would change, upstream included; changes nothing (exit 3: behind)
	$(CLAW) $(CLAW_FLAGS) pull --check -f $(CLAW_POD)

claw-lock: ## claw: ask upstream, refresh what moved and write claw.lock (review and commit it)
	$(CLAW) $(CLAW_FLAGS) pull --update-lock -f $(CLAW_POD)

claw-locked: ## claw: build exactly what claw.lock names; never asks upstream (fails if it does not cover the pod)
	$(CLAW) $(CLAW_FLAGS) pull --locked -f $(CLAW_POD)

claw-build: ## claw: build the pod's services against their runner's version
	$(CLAW) $(CLAW_FLAGS) build -f $(CLAW_POD)

claw-check: ## claw: readiness checks and drift hints, nothing started (exit 3: not ready)
	$(CLAW) $(CLAW_FLAGS) up --check -f $(CLAW_POD)

claw-up: ## claw: start the pod in the background
	$(CLAW) $(CLAW_FLAGS) up -d -f $(CLAW_POD)

claw-down: ## claw: stop the pod (volumes stay)
	$(CLAW) $(CLAW_FLAGS) down -f $(CLAW_POD)
