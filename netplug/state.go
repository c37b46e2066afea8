package netplug

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/atomicfile"
)

// stateVersion is written into every state file. Readers refuse newer
// versions rather than misread them.
const stateVersion = 1

// networkState is <Root>/<name>/network.json.
type networkState struct {
	Version int `json:"version"`
	Network
}

// sandboxState is <Root>/.sandboxes/<id>.json.
type sandboxState struct {
	Version        int            `json:"version"`
	ID             string         `json:"id"`
	Spec           SandboxSpec    `json:"spec"`
	NetNSPath      string         `json:"netns_path"`
	HostsPath      string         `json:"hosts_path"`
	ResolvConfPath string         `json:"resolv_conf_path"`
	Endpoints      []EndpointInfo `json:"endpoints"`
	Ports          []PortMapping  `json:"ports"`
	Created        time.Time      `json:"created"`
}

func (s *sandboxState) public() Sandbox {
	return Sandbox{
		ID:             s.ID,
		NetNSPath:      s.NetNSPath,
		HostsPath:      s.HostsPath,
		ResolvConfPath: s.ResolvConfPath,
		Hostname:       s.Spec.Hostname,
		Endpoints:      slices.Clone(s.Endpoints),
		Ports:          slices.Clone(s.Ports),
	}
}

// endpoint returns the sandbox's endpoint on network, or nil.
func (s *sandboxState) endpoint(network string) *EndpointInfo {
	for i := range s.Endpoints {
		if s.Endpoints[i].Network == network {
			return &s.Endpoints[i]
		}
	}
	return nil
}

// defaultEndpoint is the endpoint carrying the default route, the target of
// published ports; nil when the sandbox is on no non-internal network.
func (s *sandboxState) defaultEndpoint() *EndpointInfo {
	for i := range s.Endpoints {
		if s.Endpoints[i].DefaultRoute {
			return &s.Endpoints[i]
		}
	}
	return nil
}

func (m *Manager) networkDir(name string) string { return filepath.Join(m.opts.Root, name) }
func (m *Manager) networkFile(name string) string {
	return filepath.Join(m.networkDir(name), "network.json")
}
func (m *Manager) leaseDir(name string) string  { return filepath.Join(m.networkDir(name), "leases") }
func (m *Manager) sandboxDir() string           { return filepath.Join(m.opts.Root, ".sandboxes") }
func (m *Manager) sandboxFile(id string) string { return filepath.Join(m.sandboxDir(), id+".json") }

// NetNSPath is where the network namespace of sandbox id is bind-mounted
// (it exists between CreateSandbox and DeleteSandbox). network_mode
// container:/service: joins this path.
func (m *Manager) NetNSPath(id string) string { return filepath.Join(m.opts.RunDir, "netns", id) }

func (m *Manager) filesDir(id string) string { return filepath.Join(m.opts.RunDir, "netplug", id) }

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o600)
}

func (m *Manager) loadNetwork(name string) (*networkState, error) {
	var n networkState
	if err := readJSON(m.networkFile(name), &n); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("network %s: %w", name, ErrNotFound)
		}
		return nil, fmt.Errorf("network %s: %w", name, err)
	}
	if n.Version > stateVersion {
		return nil, fmt.Errorf("network %s: state version %d is newer than this berth understands (%d)", name, n.Version, stateVersion)
	}
	return &n, nil
}

func (m *Manager) saveNetwork(n *networkState) error {
	n.Version = stateVersion
	n.Endpoints = nil
	return writeJSON(m.networkFile(n.Name), n)
}

// loadNetworks returns every network, sorted by name.
func (m *Manager) loadNetworks() ([]*networkState, error) {
	ents, err := os.ReadDir(m.opts.Root)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("list networks in %s: %w", m.opts.Root, err)
	}
	var out []*networkState
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		n, err := m.loadNetwork(e.Name())
		if errors.Is(err, ErrNotFound) {
			continue // a network being created or removed
		}
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func (m *Manager) loadSandbox(id string) (*sandboxState, error) {
	var s sandboxState
	if err := readJSON(m.sandboxFile(id), &s); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("sandbox %s: %w", id, ErrNotFound)
		}
		return nil, fmt.Errorf("sandbox %s: %w", id, err)
	}
	if s.Version > stateVersion {
		return nil, fmt.Errorf("sandbox %s: state version %d is newer than this berth understands (%d)", id, s.Version, stateVersion)
	}
	return &s, nil
}

func (m *Manager) saveSandbox(s *sandboxState) error {
	s.Version = stateVersion
	return writeJSON(m.sandboxFile(s.ID), s)
}

// loadSandboxes returns every sandbox, sorted by id.
func (m *Manager) loadSandboxes() ([]*sandboxState, error) {
	ents, err := os.ReadDir(m.sandboxDir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	var out []*sandboxState
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		s, err := m.loadSandbox(id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
