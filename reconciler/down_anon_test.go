package reconciler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
)

// ReleaseAnonymous of the plain fake: it knows no anonymous volumes.
func (f *fakeVolumes) ReleaseAnonymous(ctx context.Context, project string) ([]string, error) {
	return nil, nil
}

// releasingVolumes is a fakeVolumes that records ReleaseAnonymous calls,
// returns a canned result and notes whether containers were still there.
type releasingVolumes struct {
	*fakeVolumes
	rt       *fakeRuntime
	released []string
	err      error

	mu    sync.Mutex
	calls []string // project of each call
	alive []int    // containers of the project at each call
}

func (r *releasingVolumes) ReleaseAnonymous(ctx context.Context, project string) ([]string, error) {
	cs, _ := r.rt.List(ctx, project)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, project)
	r.alive = append(r.alive, len(cs))
	return r.released, r.err
}

// down without -v releases the anonymous volumes once the containers are
// gone; an in-use volume is a warning, another failure fails down; -v
// removes instead of releasing.
func TestDownReleasesAnonymousVolumes(t *testing.T) {
	inUse := fmt.Errorf("release anonymous volume %q: busy (%w)", "abc", ErrInUse)
	broken := errors.New("release anonymous volume \"def\": input/output error")
	for _, tc := range []struct {
		name        string
		opts        DownOptions
		err         error
		wantCalls   int
		wantErr     string // substring of Down's error; "" = success
		wantWarning string // substring of the log; "" = no warning
		wantState   bool   // project state dir still there
	}{
		{name: "released", wantCalls: 1},
		{name: "in use is a warning", err: errors.Join(inUse), wantCalls: 1, wantWarning: "anonymous volume kept for the next up"},
		{name: "other failure fails down", err: errors.Join(inUse, broken), wantCalls: 1, wantErr: "input/output error", wantWarning: "anonymous volume kept", wantState: true},
		{name: "unjoined failure", err: broken, wantCalls: 1, wantErr: "release anonymous volumes", wantState: true},
		{name: "-v removes instead", opts: DownOptions{RemoveVolumes: true}, wantCalls: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld("busybox:latest")
			rv := &releasingVolumes{fakeVolumes: w.vols, rt: w.rt, released: []string{"0123abcd"}, err: tc.err}
			e := w.executor(t, "demo")
			var logs testenv.SyncBuffer
			e.Log = slog.New(slog.NewTextHandler(&logs, nil))
			w.rt.exitOnStart["demo-migrate-1"] = 0
			go advanceUntilDone(w.clock, t)
			p := stack(nil)
			up(t, e, p, PlanOptions{})
			e.Deps.Volumes = rv

			err := e.Down(context.Background(), "demo", p, tc.opts)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("down: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("down error %v, want %q", err, tc.wantErr)
			case tc.wantErr != "" && errors.Is(err, ErrInUse):
				t.Errorf("down error %v carries the in-use warning", err)
			}
			if len(rv.calls) != tc.wantCalls {
				t.Fatalf("ReleaseAnonymous calls %v, want %d", rv.calls, tc.wantCalls)
			}
			if tc.wantCalls > 0 && (rv.calls[0] != "demo" || rv.alive[0] != 0) {
				t.Errorf("ReleaseAnonymous(%q) with %d containers left, want demo with none", rv.calls[0], rv.alive[0])
			}
			if got := logs.String(); tc.wantWarning == "" && strings.Contains(got, "level=WARN") || tc.wantWarning != "" && !strings.Contains(got, tc.wantWarning) {
				t.Errorf("log, want warning %q:\n%s", tc.wantWarning, got)
			}
			if n := len(ids(t, w)); n != 0 {
				t.Errorf("%d containers left", n)
			}
			names, _ := w.vols.ListVolumes(context.Background(), "demo")
			if tc.opts.RemoveVolumes == slices.Contains(names, "demo_data") {
				t.Errorf("volumes after down %+v: %v", tc.opts, names)
			}
			if _, err := os.Stat(e.Store.Dir()); (err == nil) != tc.wantState {
				t.Errorf("project state dir: %v, want kept %v", err, tc.wantState)
			}
		})
	}
}
