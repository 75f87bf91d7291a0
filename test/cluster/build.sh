#!/usr/bin/env bash
# Builds the real control plane and Helm for the tests from Go modules:
# etcd, kube-apiserver, kube-controller-manager, kubectl (go.mod here) and
# helm (helm/go.mod), into a cache directory keyed by the two go.sum files.
# Idempotent: nothing is rebuilt when the cache holds them. Prints the
# directory. Needs Go and the Go module proxy; nothing else is fetched.
#
#   MAILGW_CLUSTER_CACHE   where caches live (default ~/.cache/mailgw-cluster)
set -euo pipefail
cd "$(dirname "$0")"
key=$(cat go.mod go.sum helm/go.mod helm/go.sum | sha256sum | cut -c1-16)
dir="${MAILGW_CLUSTER_CACHE:-$HOME/.cache/mailgw-cluster}/$key"
bins=(etcd kube-apiserver kube-controller-manager kubectl helm)
complete=1
for b in "${bins[@]}"; do [ -x "$dir/$b" ] || complete=0; done
if [ "$complete" = 1 ]; then echo "$dir"; exit 0; fi
tmp="$dir.partial.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
export GOFLAGS=-mod=mod CGO_ENABLED=0
# One build per binary keeps peak memory moderate on 2 cores.
go build -trimpath -ldflags=-s -o "$tmp/etcd" go.etcd.io/etcd/server/v3 >&2
go build -trimpath -ldflags=-s -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
go build -trimpath -ldflags=-s -o "$tmp/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager >&2
go build -trimpath -ldflags=-s -o "$tmp/kubectl" k8s.io/kubernetes/cmd/kubectl >&2
(cd helm && go build -trimpath -ldflags=-s -o "$tmp/helm" helm.sh/helm/v4/cmd/helm) >&2
echo "built in $(( $(date +%s) - start )) s" > "$tmp/BUILD-TIME"
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "$dir"
