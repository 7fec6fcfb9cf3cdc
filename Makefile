# media-service. `make help` lists the targets.

SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)

VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
WITH      := third_party/with-ffmpeg.sh
DEPS      := third_party/install-deps.sh
BENCHTIME ?= 200x
DEVICESIM_ADDR ?= 127.0.0.1:5600
# staticcheck for lint, pinned: installed with the Go toolchain's own module
# proxy settings into a per-version folder outside the clone.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/media-service/staticcheck-$(STATICCHECK_VERSION)/staticcheck

.PHONY: help deps ffmpeg build run fleet test test-nocgo test-fleet bench-fleet bench lint fmtcheck fmt clean image image-test agent

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-11s %s\n", $$1, $$2}'

deps: ## install Debian packages and Go where missing (root)
	@$(DEPS) test

ffmpeg: ## build the pinned FFmpeg into the cache (reused when present)
	@$(DEPS) build
	@third_party/build-ffmpeg.sh

build: ## build bin/media-service
	@$(DEPS) build
	$(WITH) go build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

run: build ## the demo: adb server, devicesim (unless ADB_DEVICES names real devices) and the service on port 30006
	@$(DEPS) run
	@tokens=$$(./bin/media-service config tokens) || exit 1; \
	if [ -z "$$tokens" ]; then \
		echo "no API_TOKENS configured: running the demo with AUTH_DISABLED=true"; export AUTH_DISABLED=true; \
	else echo "API tokens configured: $$(echo $$tokens | tr '\n' ' ')"; fi; \
	if [ -z "$$(./bin/media-service config get ADB_DEVICES)" ]; then \
		echo "no ADB_DEVICES configured: starting bin/devicesim on $(DEVICESIM_ADDR)"; \
		./bin/devicesim --addr $(DEVICESIM_ADDR) & sim=$$!; \
		trap 'kill $$sim 2>/dev/null; wait $$sim 2>/dev/null' EXIT INT TERM; \
		export ADB_DEVICES=$(DEVICESIM_ADDR); \
	fi; \
	echo "open http://localhost:$${PORT:-30006}/"; \
	./bin/media-service serve

fleet: ## a fleet on this machine: a real kube-apiserver, 3 instances behind a proxy, 6 simulated devices; .fleet/env says where (Ctrl-C stops it)
	@$(DEPS) test
	cd test/fleet && ../../$(WITH) go build -o ../../.fleet/bin/ ./cmd/fleetlab
	.fleet/bin/fleetlab -repo . -instances 3 -devices 6

test: ## install what is missing, then gofmt, vet and every test with -race, the fleet's against a real API server
	@$(DEPS) test
	@$(MAKE) --no-print-directory fmtcheck
	$(WITH) go vet ./...
	$(WITH) go test -race -count=1 ./...
	@$(MAKE) --no-print-directory test-nocgo
	@$(MAKE) --no-print-directory test-fleet

test-fleet: ## the fleet's tests against a real kube-apiserver and etcd (test/fleet, its own module; the first build takes long, later ones reuse Go's build cache)
	cd test/fleet && ../../$(WITH) go vet ./... && ../../$(WITH) go test -count=1 -timeout 30m ./...

bench-fleet: ## the fleet benchmark (not in CI): 100 pass-through sessions over 3 instances and 6 devices through the proxy, FLEET_BENCH_DURATION (10m)
	@$(DEPS) test
	cd test/fleet && ../../$(WITH) go test -run '^$$' -bench Fleet -benchtime 1x -timeout 60m . | tee ../../bench-fleet.out

test-nocgo: ## build and test without cgo (pass-through only)
	CGO_ENABLED=0 go vet ./...
	CGO_ENABLED=0 go build ./...
	CGO_ENABLED=0 go test -count=1 ./...

bench: ## benchmarks side by side: libx264 in-process vs the ffmpeg program, framing, PNG decoders, input, pacing, recovery from a freeze, capacity, device return
	@$(DEPS) test
	$(WITH) go test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./native | tee bench.out
	$(WITH) go test -run '^$$' -bench . -benchmem ./capture/annexb ./capture | tee -a bench.out
	$(WITH) go test -run '^$$' -bench . -benchtime 200x ./encoder | tee -a bench.out
	$(WITH) go test -run '^$$' -bench GlassToGlass -benchtime 1x ./cmd/media-service | tee -a bench.out
	$(WITH) go test -run '^$$' -bench TouchToPhoton -benchtime 1x ./cmd/media-service | tee -a bench.out
	$(WITH) go test -run '^$$' -bench FreezeRecovery -benchtime 8x ./cmd/media-service | tee -a bench.out
	$(WITH) go test -run '^$$' -bench Capacity -benchtime 1x ./cmd/media-service | tee -a bench.out
	$(WITH) go test -run '^$$' -bench DeviceReturn ./service | tee -a bench.out
	@go run ./internal/tools/benchtable < bench.out

image: ## the CPU image with buildah on a debootstrap base, no Docker engine or registry (root; not in CI): localhost/media-service:$(VERSION)
	VERSION=$(VERSION) deploy/image/build.sh

image-test: ## run the image with podman (root; not in CI): version, /health, and a devicesim session to a Pion viewer
	VERSION=$(VERSION) deploy/image/test.sh

fmtcheck: ## fail if gofmt would change a file
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

lint: fmtcheck $(STATICCHECK) ## gofmt, go vet and staticcheck with and without cgo, and the import rules (cgo only in native/)
	$(WITH) go vet ./...
	CGO_ENABLED=0 go vet ./...
	$(WITH) $(STATICCHECK) ./...
	CGO_ENABLED=0 $(STATICCHECK) ./...
	$(WITH) go test -count=1 ./internal/layers # the import rules, the cgo boundary included

$(STATICCHECK):
	CGO_ENABLED=0 GOBIN=$(@D) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

fmt: ## gofmt every Go file
	gofmt -w $$(git ls-files '*.go')

agent: ## rebuild agent/media-agent.dex from agent/smali (needs libsmali-java)
	agent/build.sh

clean: ## remove build outputs (the FFmpeg cache stays)
	rm -rf bin bench.out
