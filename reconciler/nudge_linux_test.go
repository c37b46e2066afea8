package reconciler

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/testenv"
)

// Nudges count from root and from the supervisor's own user; a datagram
// from anyone else on the machine (the socket is abstract) is ignored.
func TestNudgeCredentials(t *testing.T) {
	testenv.RequireRoot(t) // to send with another user's credentials
	st, err := OpenStore(t.TempDir(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 10)
	stop, err := st.listenNudges(func() { got <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	addr, err := st.nudgeAddr()
	if err != nil {
		t.Fatal(err)
	}
	send := func(uid uint32) {
		t.Helper()
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		cred := unix.UnixCredentials(&unix.Ucred{Pid: int32(os.Getpid()), Uid: uid, Gid: uid})
		if err := unix.Sendmsg(fd, []byte{1}, cred, &unix.SockaddrUnix{Name: addr.Name}, 0); err != nil {
			t.Fatal(err)
		}
	}
	send(65534)
	select {
	case <-got:
		t.Error("a nudge from uid 65534 counted")
	case <-time.After(200 * time.Millisecond):
	}
	send(0)
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("root's nudge did not count")
	}
	st.NudgeSupervisor()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("NudgeSupervisor's nudge did not count")
	}
}
