package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveInitPath(t *testing.T) {
	noExec := filepath.Join(t.TempDir(), "init")
	if err := os.WriteFile(noExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "init.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		opt, want, err string
	}{
		{opt: BuiltinInit, want: ""},
		{opt: "/usr/bin/missing-init", err: "no such file"},
		{opt: noExec, err: "not an executable file"},
		{opt: script, err: "not an ELF executable"},
		{opt: "/bin/ls", err: "dynamically linked"}, // Debian's ls is
	}
	if staticELF("/bin/busybox") == nil { // busybox-static, which the tests use
		cases = append(cases, struct{ opt, want, err string }{opt: "/bin/busybox", want: "/bin/busybox"})
	}
	for _, c := range cases {
		got, err := ResolveInitPath(c.opt)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), c.opt) {
				t.Errorf("%s: %q, %v; want an error naming it with %q", c.opt, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.opt, got, err, c.want)
		}
	}
	// The default is the first static init found, else berth-init.
	defer func(old []string) { DefaultInitPaths = old }(DefaultInitPaths)
	DefaultInitPaths = []string{"/usr/bin/missing-init", "/bin/ls", script}
	if got, err := ResolveInitPath(""); got != "" || err != nil {
		t.Errorf("no static init installed: %q, %v; want berth-init", got, err)
	}
	if staticELF("/bin/busybox") == nil {
		DefaultInitPaths = append(DefaultInitPaths, "/bin/busybox")
		if got, err := ResolveInitPath(""); got != "/bin/busybox" || err != nil {
			t.Errorf("default: %q, %v", got, err)
		}
	}
}
