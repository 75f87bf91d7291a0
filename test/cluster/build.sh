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
# The key covers this script too: a change in how the binaries are built rebuilds them.
key=$(cat go.mod go.sum helm/go.mod helm/go.sum build.sh | sha256sum | cut -c1-16)
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
# The versions the binaries report, as the projects' own release builds stamp them (hack/lib/version.sh,
# Helm's Makefile): without them kube-apiserver says v0.0.0-master and Helm refuses any chart with a kubeVersion.
kube=$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' go.mod)
helmv=$(awk '$1 == "require" && $2 == "helm.sh/helm/v4" { print $3; exit } $1 == "helm.sh/helm/v4" { print $2; exit }' helm/go.mod)
major=${kube#v}; major=${major%%.*}
minor=${kube#v*.}; minor=${minor%%.*}
kube_ldflags="-s"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$kube -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
# One build per binary keeps peak memory moderate on 2 cores.
go build -trimpath -ldflags=-s -o "$tmp/etcd" go.etcd.io/etcd/server/v3 >&2
go build -trimpath -ldflags="$kube_ldflags" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
go build -trimpath -ldflags="$kube_ldflags" -o "$tmp/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager >&2
go build -trimpath -ldflags="$kube_ldflags" -o "$tmp/kubectl" k8s.io/kubernetes/cmd/kubectl >&2
(cd helm && go build -trimpath -ldflags="-s -X helm.sh/helm/v4/internal/version.version=$helmv -X helm.sh/helm/v4/internal/version.metadata= -X helm.sh/helm/v4/internal/version.gitTreeState=clean" -o "$tmp/helm" helm.sh/helm/v4/cmd/helm) >&2
echo "built in $(( $(date +%s) - start )) s" > "$tmp/BUILD-TIME"
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "$dir"
