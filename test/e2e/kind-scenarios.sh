#!/usr/bin/env bash
# The operator scenarios of test/operator/ against a real cluster (kind),
# with kubectl. Run by .github/workflows/operator-e2e.yaml; needs a cluster
# in the current kubectl context and `mailgw operator` running against it.
set -euo pipefail
ns=mailgw-e2e
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -
cleanup() { kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true; }
trap cleanup EXIT

wait_for() { # description, command
  for _ in $(seq 1 60); do if eval "$2" >/dev/null 2>&1; then echo "ok: $1"; return 0; fi; sleep 2; done
  echo "FAILED: $1"; exit 1
}

kubectl -n "$ns" apply --server-side -f - <<YAML
apiVersion: mailgw.io/v1alpha1
kind: MailGateway
metadata: { name: gw }
spec: { integration: BehindEdgeGateway, relayHost: { host: 192.0.2.10 }, replicas: 1 }
---
apiVersion: mailgw.io/v1alpha1
kind: LocalDomain
metadata: { name: example-com }
spec: { gatewayRef: { name: gw }, domain: example.com, routing: { host: 10.1.0.5 } }
---
apiVersion: mailgw.io/v1alpha1
kind: TrustedNetwork
metadata: { name: internal }
spec: { gatewayRef: { name: gw }, cidrs: ["10.1.0.0/24"] }
YAML

wait_for "owned objects" "kubectl -n $ns get configmap gw-config && kubectl -n $ns get statefulset gw-gateway && kubectl -n $ns get service gw-smtp && kubectl -n $ns get pdb gw-gateway"
wait_for "status counts" "[ \"\$(kubectl -n $ns get mailgateway gw -o jsonpath='{.status.domains}/{.status.networks}')\" = 1/1 ]"
wait_for "domain accepted" "[ \"\$(kubectl -n $ns get localdomain example-com -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}')\" = True ]"

hash=$(kubectl -n "$ns" get statefulset gw-gateway -o jsonpath='{.spec.template.metadata.annotations.mailgw\.io/config-hash}')
kubectl -n "$ns" patch localdomain example-com --type merge -p '{"spec":{"routing":{"host":"10.1.0.6"}}}'
wait_for "config follows the edit" "kubectl -n $ns get configmap gw-config -o jsonpath='{.data.gateway\.json}' | grep -q 10.1.0.6"
wait_for "pod template hash changed" "[ \"\$(kubectl -n $ns get statefulset gw-gateway -o jsonpath='{.spec.template.metadata.annotations.mailgw\.io/config-hash}')\" != $hash ]"

kubectl -n "$ns" apply --server-side -f - <<YAML
apiVersion: mailgw.io/v1alpha1
kind: TrustedNetwork
metadata: { name: everyone }
spec: { gatewayRef: { name: gw }, cidrs: ["0.0.0.0/0"] }
YAML
wait_for "degraded on an open relay" "[ \"\$(kubectl -n $ns get mailgateway gw -o jsonpath='{.status.conditions[?(@.type==\"Degraded\")].status}')\" = True ]"
kubectl -n "$ns" delete trustednetwork everyone
wait_for "recovered" "[ \"\$(kubectl -n $ns get mailgateway gw -o jsonpath='{.status.conditions[?(@.type==\"Degraded\")].status}')\" = False ]"

if kubectl -n "$ns" apply -f - 2>/tmp/refused <<YAML
apiVersion: mailgw.io/v1alpha1
kind: LocalDomain
metadata: { name: bad }
spec: { gatewayRef: { name: gw }, domain: "not a domain" }
YAML
then echo "FAILED: an invalid LocalDomain was admitted"; exit 1; fi
grep -q "spec.domain" /tmp/refused && echo "ok: invalid resource refused at admission"

kubectl -n "$ns" delete trustednetwork internal
wait_for "config shrinks" "[ \"\$(kubectl -n $ns get mailgateway gw -o jsonpath='{.status.networks}')\" = 0 ]"
echo "all scenarios passed"
