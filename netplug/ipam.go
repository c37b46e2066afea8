package netplug

import (
	"fmt"
	"net/netip"
)

// Store keeps the leases of one network. Implementations must make Reserve
// atomic (two processes never both get true for one address); the Allocator
// brackets its work with Lock/Unlock.
type Store interface {
	Lock() error
	Unlock() error
	// Reserve records ip for owner; false if ip already has an owner.
	Reserve(owner string, ip netip.Addr) (bool, error)
	// LastReserved is the most recently reserved address (zero if none), so
	// allocation moves on instead of handing a just-released address
	// straight back (a recreated container gets a new address and stale
	// name caches fail loudly rather than reaching the wrong peer).
	LastReserved() (netip.Addr, error)
	// Leases maps every reserved address to its owner.
	Leases() (map[netip.Addr]string, error)
	// ReleaseOwner frees every address of owner; none is not an error.
	ReleaseOwner(owner string) error
}

// Allocator hands out IPv4 addresses of one subnet. It is pure logic over a
// Store: the gateway, the network and broadcast addresses are never given
// out; dynamic addresses come from Range (the subnet when zero), static ones
// may be anywhere in the subnet (as Docker allows).
type Allocator struct {
	Network string // for error messages
	Subnet  netip.Prefix
	Range   netip.Prefix
	Gateway netip.Addr
	Store   Store
}

// Allocate returns owner's address: want when given, else the next free
// one. An owner that already holds a lease gets it back (idempotent), unless
// it asks for a different address.
func (a *Allocator) Allocate(owner string, want netip.Addr) (ip netip.Addr, err error) {
	if err := a.Store.Lock(); err != nil {
		return netip.Addr{}, err
	}
	defer func() {
		if uerr := a.Store.Unlock(); uerr != nil && err == nil {
			err = uerr
		}
	}()
	leases, err := a.Store.Leases()
	if err != nil {
		return netip.Addr{}, err
	}
	for ip, o := range leases {
		if o == owner {
			if want.IsValid() && want != ip {
				return netip.Addr{}, fmt.Errorf("network %s: sandbox %s already has address %s, not %s: %w", a.Network, owner, ip, want, ErrAlreadyExists)
			}
			return ip, nil
		}
	}
	if want.IsValid() {
		if err := a.checkStatic(want); err != nil {
			return netip.Addr{}, err
		}
		ok, err := a.Store.Reserve(owner, want)
		if err != nil {
			return netip.Addr{}, err
		}
		if !ok {
			return netip.Addr{}, fmt.Errorf("network %s: address %s is already in use by %s: %w", a.Network, want, leases[want], ErrInUse)
		}
		return want, nil
	}
	rng := a.Range
	if !rng.IsValid() {
		rng = a.Subnet
	}
	first, last := span(rng)
	last0, err := a.Store.LastReserved()
	if err != nil {
		return netip.Addr{}, err
	}
	cur := first
	if last0.IsValid() && rng.Contains(last0) && last0 != last {
		cur = last0.Next()
	}
	for n := uint64(1) << (32 - rng.Bits()); n > 0; n-- {
		if _, taken := leases[cur]; !taken && a.usable(cur) {
			ok, err := a.Store.Reserve(owner, cur)
			if err != nil {
				return netip.Addr{}, err
			}
			if ok {
				return cur, nil
			}
		}
		if cur == last {
			cur = first
		} else {
			cur = cur.Next()
		}
	}
	return netip.Addr{}, fmt.Errorf("network %s: no free address in %s: %w", a.Network, rng, ErrInUse)
}

// Release frees owner's addresses.
func (a *Allocator) Release(owner string) (err error) {
	if err := a.Store.Lock(); err != nil {
		return err
	}
	defer func() {
		if uerr := a.Store.Unlock(); uerr != nil && err == nil {
			err = uerr
		}
	}()
	return a.Store.ReleaseOwner(owner)
}

func (a *Allocator) checkStatic(ip netip.Addr) error {
	if !ip.Is4() {
		return fmt.Errorf("network %s: address %s: only IPv4 is supported: %w", a.Network, ip, ErrNotSupported)
	}
	if !a.Subnet.Contains(ip) {
		return fmt.Errorf("network %s: address %s is outside the subnet %s: %w", a.Network, ip, a.Subnet, ErrInvalidArgument)
	}
	if !a.usable(ip) {
		return fmt.Errorf("network %s: address %s is reserved (network, broadcast or gateway address): %w", a.Network, ip, ErrInvalidArgument)
	}
	return nil
}

func (a *Allocator) usable(ip netip.Addr) bool {
	network, bcast := span(a.Subnet)
	return a.Subnet.Contains(ip) && ip != network && ip != bcast && ip != a.Gateway
}

// span is the first and last address of p (network and broadcast address
// included).
func span(p netip.Prefix) (first, last netip.Addr) {
	p = p.Masked()
	b := p.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= 1<<(32-p.Bits()) - 1
	return p.Addr(), netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// firstHost is the first usable host address of p (the default gateway).
func firstHost(p netip.Prefix) netip.Addr { return p.Masked().Addr().Next() }
