#!/usr/bin/env bash
# Requests per second and latency through a Service's cluster IP versus straight to one of its
# pods, measured with wrk from this machine (the node). Run it next to a cluster with the
# example deployed (`make run`, then `make example`); it needs wrk (apt-get install wrk).
#
#   scripts/bench-service.sh [duration, default 20s] [connections, default 32]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-20s}
connections=${2:-32}
kubectl() { ./bin/gantry kubectl "$@"; }
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
kubectl rollout status deployment/web --timeout=60s >/dev/null
cluster_ip=$(kubectl get service web -o jsonpath='{.spec.clusterIP}')
pod_ip=$(kubectl get pods -l app=web -o jsonpath='{.items[0].status.podIP}')
for target in "pod $pod_ip:8080" "clusterIP $cluster_ip:80"; do
	set -- $target
	echo "== $1 http://$2/ ($duration, $connections connections, 2 threads)"
	wrk -t2 -c"$connections" -d"$duration" --latency "http://$2/" | grep -E 'Requests/sec|Latency|50%|99%|Socket errors|Non-2xx'
done
