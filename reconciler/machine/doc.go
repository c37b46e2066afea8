// Package machine adapts berth's real subsystems to the reconciler's
// consumer-defined interfaces: the container runtime (reconciler.Containers,
// Pauser, Logger), the image store (reconciler.Images) and netplug
// (reconciler.Networks). Volumes are adapted in cmd/berth
// (reconcilerVolumes).
//
// It owns only translation: names, labels, error kinds (the subsystems'
// not-found errors become reconciler.ErrNotFound) and the composition of
// netplug's sandbox calls (create, attach each network, publish ports)
// into the reconciler's single EnsureSandbox. It holds no state.
package machine
