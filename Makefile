# MedForge: one binary, one Makefile. CI runs exactly these targets.
SHELL := /bin/bash
GO ?= go
SQLC := $(GO) run github.com/sqlc-dev/sqlc/cmd/sqlc@v1.31.1
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
RUN_DIR ?= $(CURDIR)/.run
# Shared by every user of this host's Docker engine and host ports.
MEDFORGE_DOCKER_LOCK ?= $(if $(wildcard /work/.),/work/.docker.lock,$(RUN_DIR)/docker.lock)
DSN = $(shell ops/dev/mariadb.sh dsn)
export MEDFORGE_RUN_DIR := $(RUN_DIR)
# Scorer modules built from source; never committed.
SCORERS_DIR ?= $(CURDIR)/bin/scorers
export MEDFORGE_SCORERS_DIR := $(SCORERS_DIR)
# go-nvml's cgo preamble calls NVML functions NVIDIA marked deprecated; the
# warnings say nothing about MedForge, so they are not printed on every build.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations

.PHONY: build deps db db-stop gen gen-check openapi lint test test-kubernetes kube-bins bench run scorers clean images stack-up stack-down test-stack

build:
	$(GO) build -o bin/medforge ./cmd/medforge

deps:
	@ops/dev/deps.sh

db: deps
	@ops/dev/mariadb.sh start

db-stop:
	@ops/dev/mariadb.sh stop

gen:
	$(SQLC) generate

gen-check:
	@$(SQLC) diff || { echo "generated sqlc code is stale: run 'make gen'" >&2; exit 1; }

# docs/openapi.json, the API contract, rewritten from the routes serve mounts
# (cmd/medforge's TestOpenAPIGolden fails while it is stale). Run it after
# adding or changing a route, and commit the file.
openapi: db
	MEDFORGE_TEST_DSN='$(DSN)' $(GO) test -count=1 -run '^TestOpenAPIGolden$$' ./cmd/medforge -update

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

scorers: deps
	@scorers/build.sh "$(SCORERS_DIR)"

test: db gen-check scorers build
	@$(GO) build -o bin/testsum ./ops/testsum
	set -o pipefail; MEDFORGE_TEST_STRICT=1 MEDFORGE_TEST_DSN='$(DSN)' MEDFORGE_BIN=$(CURDIR)/bin/medforge \
		$(GO) test -count=1 -json -p 2 -timeout 25m $$($(GO) list ./... | grep -v -x -F -f <(printf '%s\n' $(KUBE_PKGS))) | bin/testsum

# The Kubernetes runtime's tests run against a real kube-apiserver,
# kube-scheduler, etcd and KWOK, built from the Go module proxy and cached by
# version outside the tree (ops/kube/build.sh: about 10 minutes cold on 2
# cores, nothing warm). CI runs this after make test.
KUBE_PKGS := github.com/medforge/medforge/sessions/kubert github.com/medforge/medforge/deploy/kubernetes
kube-bins:
	@nice -n 10 ops/kube/build.sh >/dev/null

test-kubernetes: db gen-check kube-bins
	@$(GO) build -o bin/testsum ./ops/testsum
	set -o pipefail; MEDFORGE_TEST_STRICT=1 MEDFORGE_TEST_DSN='$(DSN)' MEDFORGE_KUBE_BIN=$$(ops/kube/build.sh --dir) \
		$(GO) test -count=1 -json -p 1 -timeout 20m $(KUBE_PKGS) | bin/testsum

bench: db scorers build
	MEDFORGE_TEST_DSN='$(DSN)' MEDFORGE_BIN=$(CURDIR)/bin/medforge ops/bench/run.sh

# The production Compose stack from images built here (README, "Deploy").
images:
	ops/images/build.sh

stack-up:
	ops/stack/stack.sh up

# VOLUMES=1 also wipes every byte of the stack's data.
stack-down:
	ops/stack/stack.sh down $(if $(filter 1 yes true,$(VOLUMES)),--volumes,)

# The whole stack, end to end over HTTPS through Caddy (deploy/stacktest).
# Run by .ci/run after make test. Images are built first (cached by Docker
# and the base key), then the test holds the shared lock
# MEDFORGE_DOCKER_LOCK while it uses host ports 80/443 and the engine.
test-stack: deps build
	@$(GO) build -o bin/testsum ./ops/testsum
	@mkdir -p $(RUN_DIR)
	ops/images/build.sh > $(RUN_DIR)/stack-images.env
	set -o pipefail; flock $(MEDFORGE_DOCKER_LOCK) env MEDFORGE_STACK_TEST=1 MEDFORGE_BIN=$(CURDIR)/bin/medforge \
		MEDFORGE_STACK_IMAGES=$(RUN_DIR)/stack-images.env \
		$(GO) test -tags stack -count=1 -json -timeout 40m ./deploy/stacktest/... | bin/testsum
	@tail -n 4 $(RUN_DIR)/stacktest-figures.txt 2>/dev/null || true

# run.sh starts the private MariaDB itself (and stops it on Ctrl-C when it did).
run: deps scorers build
	ops/dev/run.sh

clean:
	rm -rf bin
