//go:build !linux

package netplug

import (
	"fmt"
	"net/netip"
)

// otherDataplane is the stub for systems without Linux networking: state
// can be read, nothing can be changed.
type otherDataplane struct{}

func newDataplane(*Manager) dataplane { return otherDataplane{} }

var errOS = fmt.Errorf("netplug needs Linux: %w", ErrNotSupported)

func (otherDataplane) ensureBridge(*Network) error                       { return errOS }
func (otherDataplane) deleteBridge(string) error                         { return errOS }
func (otherDataplane) routes() ([]netip.Prefix, error)                   { return nil, errOS }
func (otherDataplane) createNetNS(string) error                          { return errOS }
func (otherDataplane) netnsAlive(string) bool                            { return false }
func (otherDataplane) deleteNetNS(string) error                          { return errOS }
func (otherDataplane) addEndpoint(string, *Network, *EndpointInfo) error { return errOS }
func (otherDataplane) setDefaultRoute(string, *EndpointInfo) error       { return errOS }
func (otherDataplane) deleteLink(string) error                           { return errOS }
func (otherDataplane) deleteVeth(string) error                           { return errOS }
func (otherDataplane) syncRules(ruleset) error                           { return errOS }
func (otherDataplane) enableForwarding() (bool, error)                   { return false, errOS }
func (otherDataplane) portFree(string, netip.Addr, uint16) error         { return errOS }
func (otherDataplane) freePort(string, netip.Addr) (uint16, error)       { return 0, errOS }
