export PATH := /usr/local/go/bin:$(PATH)
DATA_DIR ?= /var/lib/gantry
# The built-in kubectl reports this version; unset, `kubectl version` fails to parse its own.
KUBE_VERSION := v1.37.2
LDFLAGS := -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37

.PHONY: build run example test lint bench clean

build:
	go build -ldflags '$(LDFLAGS)' -o bin/gantry ./cmd/gantry

# Installs the system packages, builds, and starts a single-node cluster in the foreground.
run: build
	./scripts/setup.sh
	./bin/gantry server --data-dir $(DATA_DIR)

# With `make run` going in another shell: builds the test image, pushes it to the cluster's
# registry and deploys examples/web.yaml (three replicas behind a Service).
example: build
	go run ./test/images/push --registry 127.0.0.1:5000
	./bin/gantry kubectl apply -f examples/web.yaml
	./bin/gantry kubectl rollout status deployment/web --timeout=120s
	./bin/gantry kubectl get pods -o wide

lint:
	@test -z "$$(gofmt -l cmd internal test)" || { gofmt -l cmd internal test; echo "gofmt: files above need formatting"; exit 1; }
	go vet ./...

# Every test: unit, integration (in-process server) and kubectl tests.
test: lint
	go test -ldflags '$(LDFLAGS)' -count=1 -timeout 40m ./...

bench: build
	go test -run '^$$' -bench . -benchtime 1x ./test/bench/...

clean:
	rm -rf bin
