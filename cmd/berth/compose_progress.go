package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/reconciler"
)

// progress renders reconciler events as Docker Compose does: on a
// terminal, a block of per-object lines redrawn in place
// (" ✔ Container demo-web-1  Started   0.4s"); otherwise one plain line
// per event ("Container demo-web-1  Starting").
type progress struct {
	w     io.Writer
	tty   bool
	quiet bool
	title string

	mu    sync.Mutex
	order []string             // object keys in first-seen order; guarded by mu
	lines map[string]*progLine // guarded by mu
	drawn int                  // lines drawn last time (tty); guarded by mu
	start time.Time
}

type progLine struct {
	kind, name, status string
	done, failed       bool
	elapsed            time.Duration
	began              time.Time
}

func newProgress(w io.Writer, title string, quiet bool) *progress {
	return &progress{w: w, tty: isTerminal(w), quiet: quiet, title: title, lines: map[string]*progLine{}, start: time.Now()}
}

// event is the reconciler.ProgressFunc.
func (p *progress) event(ev reconciler.Event) {
	if p == nil || p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	key := ev.Kind + " " + ev.Name
	l, ok := p.lines[key]
	if !ok {
		l = &progLine{kind: ev.Kind, name: ev.Name, began: time.Now()}
		p.lines[key] = l
		p.order = append(p.order, key)
	}
	l.status, l.done, l.failed = ev.Status, ev.Done, ev.Err != nil
	if ev.Done {
		l.elapsed = time.Since(l.began)
	} else {
		l.done = false
	}
	if !p.tty {
		msg := fmt.Sprintf("%s %s  %s", ev.Kind, ev.Name, ev.Status)
		if ev.Err != nil {
			msg += ": " + ev.Err.Error()
		}
		fmt.Fprintln(p.w, msg)
		return
	}
	p.redraw()
}

// redraw rewrites the block; p.mu must be held.
func (p *progress) redraw() {
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	done := 0
	width := 0
	for _, k := range p.order {
		if l := p.lines[k]; len(l.kind)+len(l.name) > width {
			width = len(l.kind) + len(l.name)
		}
		if p.lines[k].done {
			done++
		}
	}
	fmt.Fprintf(&b, "\x1b[2K[+] %s %d/%d\n", p.title, done, len(p.order))
	for _, k := range p.order {
		l := p.lines[k]
		mark := "\x1b[34m⠿\x1b[0m"
		switch {
		case l.failed:
			mark = "\x1b[31m✘\x1b[0m"
		case l.done:
			mark = "\x1b[32m✔\x1b[0m"
		}
		el := l.elapsed
		if !l.done {
			el = time.Since(l.began)
		}
		pad := strings.Repeat(" ", width-len(l.kind)-len(l.name))
		fmt.Fprintf(&b, "\x1b[2K %s %s %s%s  %-10s %.1fs\n", mark, l.kind, l.name, pad, l.status, el.Seconds())
	}
	p.drawn = len(p.order) + 1
	io.WriteString(p.w, b.String())
}

// finish draws the final state once more.
func (p *progress) finish() {
	if p == nil || !p.tty || p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.order) > 0 {
		p.redraw()
	}
}
