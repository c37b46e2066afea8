package upstamp

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestKey(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "berth-core")
	if err := os.WriteFile(exe, []byte("core"), 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"up", "-d"}
	env := []string{"A=1", "B=2", "_=/usr/bin/berth"}
	base, err := Key("/p", args, env, exe)
	if err != nil {
		t.Fatal(err)
	}
	if !ValidKey(base) {
		t.Fatalf("key %q is not valid", base)
	}
	for _, tc := range []struct {
		name      string
		cwd       string
		args, env []string
		same      bool
	}{
		{"same", "/p", args, env, true},
		{"env order", "/p", args, []string{"B=2", "A=1", "_=/usr/bin/berth"}, true},
		{"underscore", "/p", args, []string{"A=1", "B=2", "_=/bin/env"}, true},
		{"own variables", "/p", args, []string{"A=1", "B=2", EnvKey + "=x", EnvKey + "_DEBUG=1"}, true},
		{"cwd", "/q", args, env, false},
		{"argument", "/p", []string{"up", "-d", "web"}, env, false},
		{"argument split", "/p", []string{"up", "-d web"}, env, false},
		{"variable value", "/p", args, []string{"A=1", "B=3"}, false},
		{"variable added", "/p", args, []string{"A=1", "B=2", "C="}, false},
		{"variable moved between entries", "/p", args, []string{"A=1B=2"}, false},
	} {
		got, err := Key(tc.cwd, tc.args, tc.env, exe)
		if err != nil {
			t.Fatal(err)
		}
		if (got == base) != tc.same {
			t.Errorf("%s: same key = %v, want %v", tc.name, got == base, tc.same)
		}
	}
	// A rebuilt binary (new content, new times) has other keys.
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(exe, []byte("core, rebuilt"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, _ := Key("/p", args, env, exe); got == base {
		t.Error("key unchanged after the binary changed")
	}
	if _, err := Key("/p", args, env, filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("key of a missing binary: no error")
	}
	for _, k := range []string{"", "abc", strings.Repeat("g", 64), strings.Repeat("A", 64), "../" + base[3:]} {
		if ValidKey(k) {
			t.Errorf("ValidKey(%q) = true", k)
		}
	}
}

// TestChanged records facts, changes one thing at a time and checks that
// exactly that is reported.
func TestChanged(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	absent := filepath.Join(dir, "compose.override.yaml")
	list := filepath.Join(dir, "containers")
	os.WriteFile(file, []byte("services: {}\n"), 0o644)
	os.Mkdir(list, 0o755)
	os.WriteFile(filepath.Join(list, "a"), nil, 0o644)

	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(sleeper.Process.Pid)
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()

	record := func() *Stamp {
		t.Helper()
		s := &Stamp{Project: "p", Lock: filepath.Join(dir, "lock")}
		for _, f := range [][2]string{{KindFile, file}, {KindFile, absent}, {KindList, list}, {KindProc, pid}} {
			if err := s.Add(f[0], f[1]); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	for _, tc := range []struct {
		name   string
		change func()
		want   string // path of the changed fact, "" for none
	}{
		{"nothing", func() {}, ""},
		{"same content rewritten", func() { os.WriteFile(file, []byte("services: {}\n"), 0o644) }, ""},
		{"content", func() { os.WriteFile(file, []byte("services: {a: {}}\n"), 0o644) }, file},
		{"file appears", func() { os.WriteFile(absent, nil, 0o644) }, absent},
		{"file removed", func() { os.Remove(file) }, file},
		{"entry added", func() { os.WriteFile(filepath.Join(list, "b"), nil, 0o644) }, list},
		{"entry renamed", func() { os.Rename(filepath.Join(list, "a"), filepath.Join(list, "c")) }, list},
		{"process ended", func() { sleeper.Process.Kill(); sleeper.Wait() }, pid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.WriteFile(file, []byte("services: {}\n"), 0o644)
			os.Remove(absent)
			s := record()
			tc.change()
			got := ""
			if f := s.Changed(); f != nil {
				got = f.Path
			}
			if got != tc.want {
				t.Errorf("changed %q, want %q", got, tc.want)
			}
		})
	}
}

func TestObserveValues(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		kind, path string
		want       string
		err        bool
	}{
		{KindFile, filepath.Join(dir, "none"), Absent, false},
		{KindFile, filepath.Join(dir, "none", "below"), Absent, false},
		{KindList, filepath.Join(dir, "none"), Absent, false},
		{KindProc, "999999999", Absent, false},
		{KindProc, "0", "", true},
		{KindProc, "x", "", true},
		{KindFile, dir, "", true}, // a directory where a file was expected
		{"bogus", dir, "", true},
	} {
		got, err := Observe(tc.kind, tc.path)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("Observe(%s, %s) = %q, %v; want %q, error %v", tc.kind, tc.path, got, err, tc.want, tc.err)
		}
	}
	self, err := Observe(KindProc, strconv.Itoa(os.Getpid()))
	if err != nil || self == Absent || self == "" {
		t.Errorf("own start time: %q, %v", self, err)
	}
}

func TestEncodeDecode(t *testing.T) {
	s := &Stamp{Project: "web", Lock: "/r/projects/web/lock", Facts: []Fact{
		{KindFile, "/srv/my project/compose.yaml", "ab12"},
		{KindList, "/r/containers", Absent},
		{KindProc, "42", "1234"},
	}}
	b, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(s) {
		t.Errorf("round trip: %+v, want %+v", got, s)
	}
	bad := &Stamp{Project: "web", Lock: "/l", Facts: []Fact{{KindFile, "/a\nfile x /b", "00"}}}
	if _, err := bad.Encode(); err == nil {
		t.Error("a path with a newline was encoded")
	}
	for _, in := range []string{
		"",
		"berth-upstamp 1\nproject p\nlock /l\n",
		Version + "\nlock /l\n",
		Version + "\nproject p\nlock /l\nfile onlyvalue\n",
		Version + "\nproject p\nlock /l\nmystery x /y\n",
	} {
		if _, err := Decode([]byte(in)); err == nil {
			t.Errorf("Decode(%q): no error", in)
		}
	}
}

func TestWriteFindRemove(t *testing.T) {
	root := filepath.Join(t.TempDir(), DirName)
	k1, k2, k3 := strings.Repeat("1", 64), strings.Repeat("2", 64), strings.Repeat("3", 64)
	web := &Stamp{Project: "web", Lock: "/l", Facts: []Fact{{KindFile, "/a", "00"}}}
	db := &Stamp{Project: "db", Lock: "/m"}
	for _, w := range []struct {
		key string
		s   *Stamp
	}{{k1, web}, {k2, web}, {k3, db}} {
		if err := Write(root, w.key, w.s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Find(root, k1); !errors.Is(err, ErrNoStamp) {
		t.Errorf("web's older stamp: %v, want it replaced", err)
	}
	if got, err := Find(root, k2); err != nil || !got.Equal(web) {
		t.Errorf("Find(k2) = %+v, %v", got, err)
	}
	if err := Remove(root, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := Find(root, k2); !errors.Is(err, ErrNoStamp) {
		t.Errorf("after Remove: %v", err)
	}
	if got, err := Find(root, k3); err != nil || got.Project != "db" {
		t.Errorf("db's stamp after removing web's: %+v, %v", got, err)
	}
	if err := Write(root, "short", db); err == nil {
		t.Error("bad key written")
	}
	if err := Write(root, k1, &Stamp{Project: "a.b", Lock: "/l"}); err == nil {
		t.Error("project name with a dot written")
	}
	if _, err := Find(t.TempDir(), k3); !errors.Is(err, ErrNoStamp) {
		t.Errorf("empty root: %v", err)
	}
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
	// A temp file left by a writer killed before its rename goes with the
	// project's next Write, and with Remove.
	stale := filepath.Join(root, "db.tmp-123")
	os.WriteFile(stale, nil, 0o600)
	if _, err := Find(root, k3); err != nil {
		t.Errorf("Find beside a stale temp file: %v", err)
	}
	if err := Write(root, k3, db); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temp file after Write: %v", err)
	}
	os.WriteFile(stale, nil, 0o600)
	Remove(root, "db")
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temp file after Remove: %v", err)
	}
}

func TestTryHold(t *testing.T) {
	lock := filepath.Join(t.TempDir(), "lock")
	s := &Stamp{Project: "p", Lock: lock}
	if _, ok := s.TryHold(); ok {
		t.Error("held a missing lock file")
	}
	f, err := os.Create(lock)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	release, ok := s.TryHold()
	if !ok {
		t.Fatal("free lock not held")
	}
	// While held shared, a command's exclusive try fails; after release
	// it succeeds, and then the stamp's try fails.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		t.Error("exclusive lock taken while the stamp holds it shared")
	}
	release()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("exclusive lock after release: %v", err)
	}
	if _, ok := s.TryHold(); ok {
		t.Error("held while a command holds the lock")
	}
}

func TestSettled(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.yaml")
	os.WriteFile(old, []byte("x"), 0o644)
	time.Sleep(30 * time.Millisecond)
	read := time.Now()
	time.Sleep(30 * time.Millisecond)
	if err := Settled(old, read); err != nil {
		t.Errorf("unchanged file: %v", err)
	}
	if err := Settled(filepath.Join(dir, "never.yaml"), read); err != nil {
		t.Errorf("absent file in an unchanged dir: %v", err)
	}
	os.WriteFile(old, []byte("y"), 0o644)
	if err := Settled(old, read); !errors.Is(err, ErrRacy) {
		t.Errorf("file written after the read: %v", err)
	}
	// A file appearing (or vanishing) changes its directory.
	dir2 := t.TempDir()
	time.Sleep(30 * time.Millisecond)
	read = time.Now()
	time.Sleep(30 * time.Millisecond)
	os.WriteFile(filepath.Join(dir2, "new.env"), nil, 0o644)
	if err := Settled(filepath.Join(dir2, "other.env"), read); !errors.Is(err, ErrRacy) {
		t.Errorf("absent file, directory changed after the read: %v", err)
	}
}
