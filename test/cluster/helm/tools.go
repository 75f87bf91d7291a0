//go:build tools

// Package helm pins the helm command that ../build.sh builds.
package helm

import _ "helm.sh/helm/v4/pkg/cmd"
