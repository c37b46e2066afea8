package netplug

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
)

// fakeDataplane records kernel objects in memory. It does not model
// traffic, MTUs, sysctls other than ip_forward, or the asynchronous death of
// namespaces. Fault injection: set fail[op] to make that operation fail.
type fakeDataplane struct {
	mu         sync.Mutex
	bridges    map[string]bool
	links      map[string]bool // host veth ends
	netns      map[string]bool
	defaults   map[string]string // netns path -> interface with the default route
	rules      ruleset
	forwarding bool
	hostRoutes []netip.Prefix
	busyPorts  map[string]bool // "tcp/8080" taken by "programs"
	nextPort   uint16
	fail       map[string]error
	// onDeleteBridge, when set, sees each bridge deletion first.
	onDeleteBridge func(name string)
}

func newFakeDataplane() *fakeDataplane {
	return &fakeDataplane{
		bridges: map[string]bool{}, links: map[string]bool{}, netns: map[string]bool{},
		defaults: map[string]string{}, busyPorts: map[string]bool{}, nextPort: 40000, fail: map[string]error{},
	}
}

func (f *fakeDataplane) err(op string) error {
	if e := f.fail[op]; e != nil {
		return e
	}
	return nil
}

func (f *fakeDataplane) ensureBridge(n *Network) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err("ensureBridge"); err != nil {
		return err
	}
	f.bridges[n.Bridge] = true
	return nil
}

func (f *fakeDataplane) deleteBridge(name string) error {
	if f.onDeleteBridge != nil {
		f.onDeleteBridge(name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.bridges, name)
	return nil
}

func (f *fakeDataplane) routes() ([]netip.Prefix, error) { return f.hostRoutes, nil }

func (f *fakeDataplane) createNetNS(path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err("createNetNS"); err != nil {
		return err
	}
	if f.netns[path] {
		return fmt.Errorf("create %s: %w", path, os.ErrExist)
	}
	f.netns[path] = true
	return nil
}

func (f *fakeDataplane) netnsAlive(path string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.netns[path]
}

func (f *fakeDataplane) deleteNetNS(path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err("deleteNetNS"); err != nil {
		return err
	}
	delete(f.netns, path)
	delete(f.defaults, path)
	return nil
}

func (f *fakeDataplane) addEndpoint(nsPath string, n *Network, ep *EndpointInfo) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.netns[nsPath] {
		return errors.New("no such namespace")
	}
	if !f.bridges[n.Bridge] {
		return errors.New("no such bridge")
	}
	f.links[ep.HostVeth] = true
	if err := f.err("addEndpoint"); err != nil {
		delete(f.links, ep.HostVeth)
		return err
	}
	if ep.MacAddress == "" {
		ep.MacAddress = "02:00:00:00:00:01"
	}
	return nil
}

func (f *fakeDataplane) setDefaultRoute(nsPath string, ep *EndpointInfo) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err("setDefaultRoute"); err != nil {
		return err
	}
	f.defaults[nsPath] = ep.Interface
	return nil
}

func (f *fakeDataplane) deleteLink(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.links, name)
	return nil
}

func (f *fakeDataplane) deleteVeth(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.links, name)
	return nil
}

func (f *fakeDataplane) syncRules(rs ruleset) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err("syncRules"); err != nil {
		return err
	}
	f.rules = rs
	return nil
}

func (f *fakeDataplane) enableForwarding() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	changed := !f.forwarding
	f.forwarding = true
	return changed, nil
}

func (f *fakeDataplane) portFree(proto string, ip netip.Addr, port uint16) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busyPorts[fmt.Sprintf("%s/%d", proto, port)] {
		return fmt.Errorf("in use by another program on the host: %w", ErrPortInUse)
	}
	return nil
}

func (f *fakeDataplane) freePort(proto string, ip netip.Addr) (uint16, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextPort++
	return f.nextPort, nil
}
