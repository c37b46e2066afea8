package runtime

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// trimMemory is called by the shim once the container runs: from then on
// it only copies output and waits, a small fraction of the code its start
// touched. It returns the start-up heap to the kernel and drops the
// binary's read-only file-backed pages from our resident set
// (MADV_DONTNEED on a private mapping never written: the page tables go,
// the pages stay in the page cache and fault back in cheaply when needed).
// MADV_PAGEOUT would try to evict the pages themselves, which the kernel
// skips for pages other shims map too, so shims started together kept
// them all. This is what keeps a shim's RSS near conmon's.
func trimMemory() {
	debug.FreeOSMemory()
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != self || strings.Contains(fields[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED)
	}
}
