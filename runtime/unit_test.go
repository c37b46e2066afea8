package runtime

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestCommandLine(t *testing.T) {
	t.Parallel()
	img := ImageConfig{Entrypoint: []string{"/ep"}, Cmd: []string{"a"}}
	for _, tc := range []struct {
		spec Spec
		img  ImageConfig
		want []string
	}{
		{Spec{}, img, []string{"/ep", "a"}},
		{Spec{Cmd: []string{"b"}}, img, []string{"/ep", "b"}},
		{Spec{Entrypoint: []string{"/x"}}, img, []string{"/x"}},
		{Spec{Entrypoint: []string{}, Cmd: []string{"sh"}}, img, []string{"sh"}},
		{Spec{}, ImageConfig{Cmd: []string{"sh"}}, []string{"sh"}},
	} {
		got, err := commandLine(&tc.spec, tc.img)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v: %v %v, want %v", tc.spec, got, err, tc.want)
		}
	}
	if _, err := commandLine(&Spec{}, ImageConfig{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("no command: %v", err)
	}
}

func TestMergeEnv(t *testing.T) {
	t.Parallel()
	got := mergeEnv([]string{"PATH=/a", "X=1", "BAD"}, []string{"X=2", "Y=3", "NOEQ"})
	if want := []string{"PATH=/a", "X=2", "Y=3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v want %v", got, want)
	}
}

const passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n# comment\nbroken\n"
const group = "root:x:0:\napp:x:1000:\nextra:x:1001:app\nother:x:1002:root,app\n"

func TestResolveUser(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		user     string
		groupAdd []string
		want     ExecUser
		err      bool
	}{
		{"", nil, ExecUser{UID: 0, GID: 0, Groups: []int{1002}, Home: "/root"}, false},
		{"app", nil, ExecUser{UID: 1000, GID: 1000, Groups: []int{1001, 1002}, Home: "/home/app"}, false},
		{"app:extra", nil, ExecUser{UID: 1000, GID: 1001, Home: "/home/app"}, false},
		{"4242", nil, ExecUser{UID: 4242, Home: "/"}, false},
		{"4242:7", []string{"extra", "99"}, ExecUser{UID: 4242, GID: 7, Groups: []int{1001, 99}, Home: "/"}, false},
		{"nobody", nil, ExecUser{}, true},
		{"app:nogroup", nil, ExecUser{}, true},
		{"-1", nil, ExecUser{}, true},
	} {
		got, err := resolveUser(tc.user, tc.groupAdd, strings.NewReader(passwd), strings.NewReader(group))
		if tc.err {
			if err == nil {
				t.Errorf("%q: no error", tc.user)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %+v %v, want %+v", tc.user, got, err, tc.want)
		}
	}
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	def, _ := capabilities(false, nil, nil)
	if len(def) != len(DefaultCapabilities) {
		t.Errorf("default: %v", def)
	}
	got, _ := capabilities(false, []string{"cap_net_admin"}, []string{"CHOWN", "MKNOD"})
	if len(got) != len(def)-1 || !containsInt(got, 12) || containsInt(got, 0) {
		t.Errorf("add/drop: %v", got)
	}
	got, _ = capabilities(false, []string{"KILL"}, []string{"ALL"})
	if !reflect.DeepEqual(got, []int{5}) {
		t.Errorf("drop all + kill: %v", got)
	}
	got, _ = capabilities(true, nil, []string{"ALL"})
	if len(got) != len(capNames) {
		t.Errorf("privileged: %d caps", len(got))
	}
	if _, err := capabilities(false, []string{"FLY"}, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("unknown cap: %v", err)
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestTransitions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		op string
		s  Status
		ok bool
	}{
		{"start", StatusCreated, true}, {"start", StatusExited, true}, {"start", StatusRunning, false},
		{"pause", StatusRunning, true}, {"pause", StatusPaused, false}, {"unpause", StatusPaused, true},
		{"remove", StatusRunning, false}, {"remove", StatusDead, true}, {"exec", StatusExited, false},
	} {
		err := checkTransition("id", tc.op, tc.s)
		if (err == nil) != tc.ok {
			t.Errorf("%s from %s: %v", tc.op, tc.s, err)
		}
		var te *TransitionError
		if err != nil && (!errors.Is(err, ErrInvalidState) || !errors.As(err, &te)) {
			t.Errorf("%s from %s: not a TransitionError: %v", tc.op, tc.s, err)
		}
	}
}

// TestStateFormat loads the v1 sample: state.json written by this version
// must stay readable by later ones.
func TestStateFormat(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/state-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	st, err := unmarshalState(data)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != StatusExited || st.ExitCode != 137 || !st.OOMKilled || st.Spec.Resources.Memory != 33554432 || st.Image.LowerDirs[0] != "/var/lib/berth/images/layers/abc" {
		t.Errorf("decoded %+v", st)
	}
	if _, err := unmarshalState([]byte(`{"version": 99}`)); err == nil {
		t.Error("future version accepted")
	}
	again, _ := marshalState(st)
	if st2, err := unmarshalState(again); err != nil || !reflect.DeepEqual(st, st2) {
		t.Errorf("round trip: %v", err)
	}
}

func TestLogWriterAndReader(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "c-json.log")
	w, err := openLogWriter(p, LogConfig{MaxSize: 200, MaxFiles: 2})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 10; i++ {
		w.write("stdout", []byte("line \"quoted\" \x01\n"), t0.Add(time.Duration(i)*time.Second))
	}
	w.Close()
	files := logFiles(p)
	if len(files) != 2 {
		t.Fatalf("files %v", files)
	}
	var got []LogEntry
	if err := readLogs(context.Background(), p, LogOptions{Tail: -1, Since: t0.Add(8 * time.Second)}, func() bool { return true }, nil, func(e LogEntry) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Log != "line \"quoted\" \x01\n" || got[0].Stream != "stdout" || !got[1].Time.Equal(t0.Add(9*time.Second)) {
		t.Errorf("entries %+v", got)
	}
}

func TestFilterResolvConf(t *testing.T) {
	t.Parallel()
	in := "nameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\nsearch example.test\n"
	if got := filterResolvConf(in); got != "nameserver 10.0.0.2\nsearch example.test\n" {
		t.Errorf("got %q", got)
	}
}

func TestApplyExit(t *testing.T) {
	at := time.Date(2026, 11, 23, 21, 0, 0, 0, time.UTC)
	running := State{Status: StatusRunning, Pid: 40, PidStart: 7, ShimPid: 39, ShimStart: 6,
		Namespaces: map[string]string{"net": "/proc/40/ns/net"}}
	rec := exitRecord{ShimPid: 39, ShimStart: 6, ExitCode: 137, OOMKilled: true, FinishedAt: at}
	for _, tc := range []struct {
		name    string
		state   func(*State)
		rec     func(*exitRecord)
		applies bool
	}{
		{"ends this run", nil, nil, true},
		{"paused run", func(s *State) { s.Status = StatusPaused }, nil, true},
		{"earlier shim with the same pid", nil, func(r *exitRecord) { r.ShimStart = 5 }, false},
		{"other shim", nil, func(r *exitRecord) { r.ShimPid = 38 }, false},
		{"damaged (zero) record", nil, func(r *exitRecord) { *r = exitRecord{} }, false},
		{"already exited", func(s *State) { s.Status = StatusExited }, nil, false},
		{"created, start not yet recorded", func(s *State) { *s = State{Status: StatusCreated} }, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, r := running, rec
			st.Namespaces = maps.Clone(running.Namespaces)
			if tc.state != nil {
				tc.state(&st)
			}
			if tc.rec != nil {
				tc.rec(&r)
			}
			before := st
			if got := st.applyExit(r); got != tc.applies {
				t.Fatalf("applyExit = %v, want %v", got, tc.applies)
			}
			if !tc.applies {
				if st.Status != before.Status || st.ShimPid != before.ShimPid || st.ExitCode != before.ExitCode {
					t.Errorf("state changed: %+v", st)
				}
				return
			}
			if st.Status != StatusExited || st.ExitCode != 137 || !st.OOMKilled || !st.FinishedAt.Equal(at) ||
				st.Pid != 0 || st.ShimPid != 0 || st.ShimStart != 0 || st.Namespaces != nil {
				t.Errorf("after applyExit: %+v", st)
			}
		})
	}
}
