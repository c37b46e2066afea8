package netplug

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/berth-dev/berth/internal/atomicfile"
)

// DiskStore keeps leases as files in one directory, one per address, named
// by the address and holding the owner id. Reserve creates the file with
// O_EXCL, so it is atomic even without the lock; Lock (a flock on
// <dir>/.lock) serialises allocators so that "scan, then reserve" sees a
// stable picture.
type DiskStore struct {
	dir string

	mu sync.Mutex // guards lock
	lk *os.File   // held flock, nil when unlocked
}

var _ Store = (*DiskStore)(nil)

const lastReservedFile = ".last_reserved"

// NewDiskStore returns the store in dir, creating the directory.
func NewDiskStore(dir string) (*DiskStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lease store %s: %w", dir, err)
	}
	return &DiskStore{dir: dir}, nil
}

func (s *DiskStore) Lock() error {
	f, err := flock(filepath.Join(s.dir, ".lock"))
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.lk = f
	s.mu.Unlock()
	return nil
}

func (s *DiskStore) Unlock() error {
	s.mu.Lock()
	f := s.lk
	s.lk = nil
	s.mu.Unlock()
	return funlock(f)
}

func (s *DiskStore) Reserve(owner string, ip netip.Addr) (bool, error) {
	path := filepath.Join(s.dir, ip.String())
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reserve %s: %w", ip, err)
	}
	_, werr := f.WriteString(owner)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
		return false, fmt.Errorf("reserve %s: %w", ip, werr)
	}
	if err := atomicfile.WriteFile(filepath.Join(s.dir, lastReservedFile), []byte(ip.String()), 0o600); err != nil {
		return true, err // the lease stands; only the rotation hint is lost
	}
	return true, nil
}

func (s *DiskStore) LastReserved() (netip.Addr, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, lastReservedFile))
	if errors.Is(err, os.ErrNotExist) {
		return netip.Addr{}, nil
	}
	if err != nil {
		return netip.Addr{}, fmt.Errorf("lease store %s: %w", s.dir, err)
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(string(b)))
	if err != nil {
		return netip.Addr{}, nil // a torn hint is no reason to fail
	}
	return ip, nil
}

func (s *DiskStore) Leases() (map[netip.Addr]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("lease store %s: %w", s.dir, err)
	}
	m := make(map[netip.Addr]string, len(ents))
	for _, e := range ents {
		ip, err := netip.ParseAddr(e.Name())
		if err != nil {
			continue // .lock, .last_reserved
		}
		b, err := os.ReadFile(filepath.Join(s.dir, e.Name()))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("lease store %s: %w", s.dir, err)
		}
		if err == nil {
			// An empty file (crash between create and write) still blocks
			// the address; ReleaseOwner("") does not match it, the network's
			// removal does.
			m[ip] = string(b)
		}
	}
	return m, nil
}

func (s *DiskStore) ReleaseOwner(owner string) error {
	leases, err := s.Leases()
	if err != nil {
		return err
	}
	for ip, o := range leases {
		if o == owner {
			if err := os.Remove(filepath.Join(s.dir, ip.String())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("release %s: %w", ip, err)
			}
		}
	}
	return nil
}
