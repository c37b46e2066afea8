package runtime

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// LogEntry is one line of a container's json-file log, in Docker's format:
// {"log":"text\n","stream":"stdout","time":"2006-01-02T15:04:05.999999999Z"}.
type LogEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// LogOptions select what Logs returns.
type LogOptions struct {
	Follow     bool      // keep reading until the container stops or ctx ends
	Tail       int       // only the last Tail lines; < 0 = all
	Since      time.Time // only entries at or after Since
	Until      time.Time // only entries before Until (zero = no bound)
	Timestamps bool      // for callers that print: prefix lines with the time
}

// logWriter writes JSON lines to path and rotates it at maxSize, keeping
// maxFiles files (path, path.1, ... path.<maxFiles-1>). It is safe for
// concurrent use by the stdout and stderr copiers.
type logWriter struct {
	mu       sync.Mutex
	path     string
	maxSize  int64
	maxFiles int
	f        *os.File
	size     int64
	buf      []byte
}

func openLogWriter(path string, cfg LogConfig) (*logWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	mf := cfg.MaxFiles
	if mf < 1 {
		mf = 1
	}
	return &logWriter{path: path, maxSize: cfg.MaxSize, maxFiles: mf, f: f, size: st.Size()}, nil
}

// write records one entry. A failing disk must not stop the container, so
// errors are returned for the caller to count, not to act on.
func (w *logWriter) write(stream string, line []byte, t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = w.buf[:0]
	w.buf = append(w.buf, `{"log":`...)
	w.buf = appendJSONString(w.buf, line)
	w.buf = append(w.buf, `,"stream":"`...)
	w.buf = append(w.buf, stream...)
	w.buf = append(w.buf, `","time":"`...)
	w.buf = t.UTC().AppendFormat(w.buf, time.RFC3339Nano)
	w.buf = append(w.buf, "\"}\n"...)
	if w.maxSize > 0 && w.size > 0 && w.size+int64(len(w.buf)) > w.maxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(w.buf)
	w.size += int64(n)
	return err
}

func (w *logWriter) rotate() error {
	w.f.Close()
	if w.maxFiles > 1 {
		for i := w.maxFiles - 1; i > 1; i-- {
			os.Rename(w.path+"."+strconv.Itoa(i-1), w.path+"."+strconv.Itoa(i))
		}
		if err := os.Rename(w.path, w.path+".1"); err != nil {
			return fmt.Errorf("rotate log %s: %w", w.path, err)
		}
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("rotate log %s: %w", w.path, err)
	}
	w.f, w.size = f, 0
	return nil
}

func (w *logWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

func appendJSONString(dst, s []byte) []byte {
	if bytes.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == '"' || r == '\\' || r >= 0x7f }) < 0 {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	b, _ := json.Marshal(string(s))
	return append(dst, b...)
}

// copyLines reads r and writes one entry per line (a line longer than 16 KiB
// is split, like Docker's). It returns at EOF or on a read error.
func copyLines(w *logWriter, stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, 16*1024)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			w.write(stream, line, time.Now())
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// copyChunks logs every read as one entry: a tty's output (prompts without
// a newline) must reach a follower at once.
func copyChunks(w *logWriter, stream string, r io.Reader) {
	buf := make([]byte, 16*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			w.write(stream, buf[:n], time.Now())
		}
		if err != nil {
			return
		}
	}
}

// logFiles returns the log files of a container, oldest first.
func logFiles(path string) []string {
	var out []string
	for i := 1; ; i++ {
		p := path + "." + strconv.Itoa(i)
		if _, err := os.Stat(p); err != nil {
			break
		}
		out = append([]string{p}, out...)
	}
	return append(out, path)
}

// readLogs sends the selected entries to fn. When follow is set it keeps
// polling path after EOF until done() reports the writer has finished, then
// drains what is left; between polls it calls pause (nil: sleep 50 ms),
// which may return early when the writer finishes. fn's error stops
// reading and is returned.
func readLogs(ctx context.Context, path string, opts LogOptions, done func() bool, pause func(context.Context), fn func(LogEntry) error) error {
	if pause == nil {
		pause = func(ctx context.Context) {
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	keep := func(e LogEntry) bool {
		if !opts.Since.IsZero() && e.Time.Before(opts.Since) {
			return false
		}
		if !opts.Until.IsZero() && !e.Time.Before(opts.Until) {
			return false
		}
		return true
	}
	var tail []LogEntry
	emit := func(e LogEntry) error {
		if !keep(e) {
			return nil
		}
		if opts.Tail < 0 {
			return fn(e)
		}
		if opts.Tail == 0 {
			return nil
		}
		tail = append(tail, e)
		if len(tail) > opts.Tail {
			tail = tail[1:]
		}
		return nil
	}
	files := logFiles(path)
	var cur *os.File
	var curReader *lineReader
	for i, p := range files {
		f, err := os.Open(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return fmt.Errorf("read log %s: %w", p, err)
		}
		br := &lineReader{r: f}
		if err := br.scan(emit); err != nil {
			f.Close()
			return err
		}
		if i == len(files)-1 {
			cur, curReader = f, br
		} else {
			f.Close()
		}
	}
	for _, e := range tail {
		if err := fn(e); err != nil {
			if cur != nil {
				cur.Close()
			}
			return err
		}
	}
	if cur == nil || !opts.Follow {
		if cur != nil {
			cur.Close()
		}
		return nil
	}
	defer func() { cur.Close() }()
	follow := func(e LogEntry) error {
		if !keep(e) {
			return nil
		}
		return fn(e)
	}
	for {
		finished := done()
		if err := curReader.scan(follow); err != nil {
			return err
		}
		// Rotated away? Reopen the new current file.
		if st, err := os.Stat(path); err == nil {
			if cst, err := cur.Stat(); err == nil && !os.SameFile(st, cst) {
				cur.Close()
				f, err := os.Open(path)
				if err != nil {
					return fmt.Errorf("read log %s: %w", path, err)
				}
				cur, curReader = f, &lineReader{r: f}
				continue
			}
		}
		if finished {
			return nil
		}
		pause(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// lineReader decodes complete JSON lines; a partial last line (the writer
// may be mid-write) is kept for the next scan.
type lineReader struct {
	r       io.Reader
	pending []byte
}

func (l *lineReader) scan(fn func(LogEntry) error) error {
	chunk := make([]byte, 32*1024)
	for {
		n, err := l.r.Read(chunk)
		l.pending = append(l.pending, chunk[:n]...)
		for {
			i := bytes.IndexByte(l.pending, '\n')
			if i < 0 {
				break
			}
			line := l.pending[:i]
			var e LogEntry
			if json.Unmarshal(line, &e) == nil {
				if ferr := fn(e); ferr != nil {
					return ferr
				}
			}
			l.pending = l.pending[i+1:]
		}
		if n == 0 || err != nil {
			l.pending = append([]byte(nil), l.pending...)
			return nil
		}
	}
}
