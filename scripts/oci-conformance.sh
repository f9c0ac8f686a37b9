#!/usr/bin/env bash
# Runs the OCI distribution-spec conformance suite against the embedded registry of a
# `gantry server` started for the purpose (control plane only, temporary data directory).
# Not part of `make test`: it fetches the suite with `go get`.
#
#   scripts/oci-conformance.sh            # suite version: latest
#   OCI_CONFORMANCE_VERSION=v1.1.1 scripts/oci-conformance.sh
#
# Results (junit.xml, report.html) are left in the work directory it prints.
set -euo pipefail
export PATH=/usr/local/go/bin:$PATH
repo=$(cd "$(dirname "$0")/.." && pwd)
version=${OCI_CONFORMANCE_VERSION:-latest}
work=$(mktemp -d /tmp/gantry-oci-conformance.XXXXXX)
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work/data"
}
trap cleanup EXIT

ldflags='-X k8s.io/component-base/version.gitVersion=v1.37.2 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37'
echo "building gantry and the conformance suite ($version) in $work"
(cd "$repo" && go build -ldflags "$ldflags" -o "$work/gantry" ./cmd/gantry)
# The suite is built outside the repository, so that it never enters go.mod.
mkdir -p "$work/suite"
(cd "$work/suite" && go mod init conformance-run >/dev/null 2>&1 &&
	go get "github.com/opencontainers/distribution-spec/conformance@$version" &&
	go test -c -o "$work/conformance.test" github.com/opencontainers/distribution-spec/conformance)

# A free port: the kernel picks one for a socket we close at once.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
"$work/gantry" server --data-dir "$work/data" --bind-address 127.0.0.1 --https-port 0 \
	--registry-port "$port" --disable-agent --disable-controllers --disable-scheduler \
	>"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do
	if curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then
		break
	fi
	if ! kill -0 "$server_pid" 2>/dev/null; then
		echo "gantry server exited; its log:" >&2
		cat "$work/server.log" >&2
		exit 1
	fi
	sleep 0.5
done

cd "$work"
OCI_ROOT_URL="http://127.0.0.1:$port" \
	OCI_NAMESPACE=myorg/myrepo \
	OCI_CROSSMOUNT_NAMESPACE=myorg/other \
	OCI_TEST_PULL=1 OCI_TEST_PUSH=1 OCI_TEST_CONTENT_DISCOVERY=1 OCI_TEST_CONTENT_MANAGEMENT=1 \
	OCI_API_BLOBS_UPLOAD_CANCEL=1 OCI_API_BLOBS_MOUNT_ANONYMOUS=1 OCI_API_MANIFESTS_TAG_PARAM=1 \
	OCI_DEBUG=0 \
	./conformance.test
echo "results: $work"
