package netplug

import (
	"errors"
	"fmt"
	"sync"
)

// hostsBatch coalesces the hosts-file rewrites of one process. Starting n
// containers at once used to rewrite every peer's hosts file once per
// sandbox created and once per attach, each time under lock 3: O(n²)
// writes, all in one queue. A rewrite reads every sandbox from disk under
// the lock, so one that starts after a caller saved its sandbox covers
// that caller: callers that arrive while a rewrite runs wait for it, and
// one of them then runs a single rewrite for all of them (a group commit).
type hostsBatch struct {
	mu      sync.Mutex
	cond    *sync.Cond
	asked   uint64 // requests so far
	done    uint64 // requests covered by the last finished rewrite
	running bool
	err     error // of the last finished rewrite
	runs    int   // rewrites run (for tests)
}

// refreshHosts brings every sandbox's hosts file in line with the
// sandboxes saved before the call.
func (m *Manager) refreshHosts() error {
	b := &m.hosts
	b.mu.Lock()
	if b.cond == nil {
		b.cond = sync.NewCond(&b.mu)
	}
	b.asked++
	mine := b.asked
	for b.running {
		b.cond.Wait()
	}
	if b.done >= mine {
		err := b.err
		b.mu.Unlock()
		return err
	}
	b.running = true
	b.runs++
	upto := b.asked
	b.mu.Unlock()

	err := m.withDerived(func() error {
		all, err := m.loadSandboxes()
		if err != nil {
			return err
		}
		return m.rewriteAllHosts(all)
	})

	b.mu.Lock()
	b.running, b.done, b.err = false, upto, err
	b.cond.Broadcast()
	b.mu.Unlock()
	return err
}

// rewriteAllHosts renders every sandbox's hosts file from all (files whose
// content is already right are left alone). Callers hold lock 3 and
// loaded all under it.
func (m *Manager) rewriteAllHosts(all []*sandboxState) error {
	var errs []error
	for _, s := range all {
		if err := writeInPlace(s.HostsPath, renderHosts(s, all)); err != nil {
			errs = append(errs, fmt.Errorf("sandbox %s: hosts file: %w", s.ID, err))
		}
	}
	return errors.Join(errs...)
}
