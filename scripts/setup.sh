#!/usr/bin/env bash
# Installs what Gantry needs on a fresh Debian machine: Go (if missing) is expected at
# /usr/local/go; the container runtime pieces come from Debian's packages.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in containerd runc containernetworking-plugins nftables iproute2 make; do
	dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${need[@]}"
fi
if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
	echo "Go is required: install Go 1.26 or newer to /usr/local/go" >&2
	exit 1
fi
