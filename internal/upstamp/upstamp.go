// Package upstamp lets a repeated `berth up -d` end without starting the
// full CLI.
//
// A no-op `up -d` must load the manifest (compose-go: parse, interpolate,
// schema-validate), observe the project and plan, only to find nothing to
// do; most of that time is the full binary's own start-up. So when an
// `up -d` finishes with an empty re-plan, berth writes a stamp: every fact
// that answer depended on. berth's launcher (cmd/berth-launcher) checks
// those facts and, when each one still holds, ends the command itself:
//
//   - the invocation: working directory, arguments, environment and the
//     identity of the full binary, hashed into the stamp's key;
//   - files: the manifests and every file their loading read (discovery
//     candidates, .env and env files, includes and extends), and the
//     state files that observing the project reads (containers, image
//     index, networks, volumes, the project's own state dir): content hash,
//     or absence;
//   - directory listings, so that an added container or network shows;
//   - processes: the containers', their shims' and the supervisor's pids
//     with their start times, so that a crash or a reused pid shows.
//
// A fact that cannot be checked counts as changed, and then the launcher
// runs the full CLI, which does the real work and writes a new stamp. The
// package uses only the standard library: the launcher must start fast.
package upstamp

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Version is part of every key: a launcher or CLI with another stamp format
// never reads these stamps.
const Version = "berth-upstamp 2"

// EnvKey is how the launcher hands the key to the full CLI, which writes
// the stamp under it. The CLI removes it from its own environment.
const EnvKey = "BERTH_UPSTAMP"

// DirName is the up stamps' directory under berth's root.
const DirName = "upstamps"

// Fact kinds.
const (
	KindFile = "file" // content hash, or Absent
	KindList = "list" // hash of a directory's sorted names, or Absent
	KindProc = "proc" // start time (clock ticks after boot), or Absent
)

// Absent is the value of a file, listing or process that does not exist.
const Absent = "-"

// Fact is one thing the recorded answer depended on, with its value then.
type Fact struct {
	Kind, Path, Value string
}

// Stamp records that `up -d` with the key's invocation found nothing to do.
type Stamp struct {
	Project string
	// Lock is the project's lock file; the launcher holds it shared while
	// it checks when it is free (see TryHold).
	Lock  string
	Facts []Fact
}

// ErrNoStamp means no stamp has the key.
var ErrNoStamp = errors.New("no stamp")

// Key hashes an invocation: the working directory, the arguments (after
// the program name), the environment (without "_", which shells set to
// the command's path, and EnvKey and its debug twin) and the full binary's identity (device,
// inode, size, modification and change times: a rebuilt berth never
// trusts stamps of the old one).
func Key(cwd string, args, env []string, exe string) (string, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(exe, &st); err != nil {
		return "", fmt.Errorf("stamp key: %w", err)
	}
	h := sha256.New()
	field := func(s string) {
		fmt.Fprintf(h, "%d:%s,", len(s), s)
	}
	field(Version)
	field(cwd)
	field(strconv.Itoa(len(args)))
	for _, a := range args {
		field(a)
	}
	vars := make([]string, 0, len(env))
	for _, kv := range env {
		if strings.HasPrefix(kv, "_=") || strings.HasPrefix(kv, EnvKey) {
			continue
		}
		vars = append(vars, kv)
	}
	sort.Strings(vars)
	field(strconv.Itoa(len(vars)))
	for _, kv := range vars {
		field(kv)
	}
	field(fmt.Sprintf("%d %d %d %d.%d %d.%d", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ValidKey reports whether key looks like one Key made (it names a file).
func ValidKey(key string) bool {
	if len(key) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(key)
	return err == nil && strings.ToLower(key) == key
}

// Observe returns the current value of a fact of kind about path (a pid
// for KindProc).
func Observe(kind, path string) (string, error) {
	var content []byte
	var err error
	switch kind {
	case KindFile:
		content, err = readFile(path)
	case KindList:
		var names []string
		names, err = readDirNames(path)
		sort.Strings(names)
		content = []byte(strings.Join(names, "\x00"))
	case KindProc:
		return procStart(path)
	default:
		return "", fmt.Errorf("unknown fact kind %q", kind)
	}
	if notExist(err) {
		return Absent, nil
	}
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(content)
	return hex.EncodeToString(sum[:]), nil
}

// readFile and readDirNames are os.ReadFile and Readdirnames in plain
// system calls: the launcher reads about a hundred small files, and the os
// package spends four more calls on each (fstat, fcntl, epoll) that cost
// tens of microseconds apiece in a VM.
func readFile(path string) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	buf := make([]byte, 0, 4096)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

func readDirNames(dir string) ([]string, error) {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer syscall.Close(fd)
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := syscall.ReadDirent(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "readdirent", Path: dir, Err: err}
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = syscall.ParseDirent(buf[:n], -1, names)
	}
}

func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// procStart reads field 22 of /proc/<pid>/stat, the start time that tells
// a process from a later one with the same pid.
func procStart(pid string) (string, error) {
	if n, err := strconv.Atoi(pid); err != nil || n <= 0 {
		return "", fmt.Errorf("pid %q", pid)
	}
	b, err := readFile("/proc/" + pid + "/stat")
	if notExist(err) || errors.Is(err, syscall.ESRCH) {
		return Absent, nil
	}
	if err != nil {
		return "", err
	}
	// The command name (field 2) may hold spaces: count after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", fmt.Errorf("/proc/%s/stat: malformed", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 {
		return "", fmt.Errorf("/proc/%s/stat: malformed", pid)
	}
	// fields[0] is field 3 (state); field 22 is fields[19].
	if fields[0] == "Z" || fields[0] == "X" {
		return Absent, nil // a zombie has ended
	}
	return fields[19], nil
}

// clockSlack covers the coarse clock the kernel stamps files with (one
// tick, at most 10 ms): a change just after a moment may carry a time just
// before it.
const clockSlack = 10 * time.Millisecond

// ErrRacy means an input changed (or appeared, or went) while or after it
// was read: its content now may not be what was read.
var ErrRacy = errors.New("changed since it was read")

// Settled checks that neither path (when it exists) nor its directory
// (where it would appear or vanish) changed since `since`, as git's index
// treats racy entries: a file's content hashed now is the content read
// then only if its change time is older than the read.
func Settled(path string, since time.Time) error {
	limit := since.Add(-clockSlack)
	for _, p := range []string{path, filepath.Dir(path)} {
		var st syscall.Stat_t
		err := syscall.Stat(p, &st)
		if notExist(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if !time.Unix(st.Ctim.Sec, st.Ctim.Nsec).Before(limit) {
			return fmt.Errorf("%s: %w", p, ErrRacy)
		}
	}
	return nil
}

// Add observes a fact now and appends it.
func (s *Stamp) Add(kind, path string) error {
	v, err := Observe(kind, path)
	if err != nil {
		return fmt.Errorf("stamp %s %s: %w", kind, path, err)
	}
	s.Facts = append(s.Facts, Fact{Kind: kind, Path: path, Value: v})
	return nil
}

// Changed returns the first fact whose value is no longer the recorded
// one, or nil when every fact holds. A fact that cannot be observed counts
// as changed.
func (s *Stamp) Changed() *Fact {
	for i := range s.Facts {
		f := &s.Facts[i]
		v, err := Observe(f.Kind, f.Path)
		if err != nil || v != f.Value {
			return f
		}
	}
	return nil
}

// Equal reports whether two stamps record the same facts with the same
// values, in the same order.
func (s *Stamp) Equal(o *Stamp) bool {
	if s.Project != o.Project || s.Lock != o.Lock || len(s.Facts) != len(o.Facts) {
		return false
	}
	for i := range s.Facts {
		if s.Facts[i] != o.Facts[i] {
			return false
		}
	}
	return true
}

// Encode renders the stamp as text: a header, then one "kind value path"
// line per fact (the path last, so it may hold spaces).
func (s *Stamp) Encode() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(Version + "\n")
	for _, kv := range [][2]string{{"project", s.Project}, {"lock", s.Lock}} {
		if strings.ContainsAny(kv[1], "\n\x00") || kv[1] == "" {
			return nil, fmt.Errorf("stamp: bad %s %q", kv[0], kv[1])
		}
		b.WriteString(kv[0] + " " + kv[1] + "\n")
	}
	for _, f := range s.Facts {
		if strings.ContainsAny(f.Path, "\n\x00") || f.Path == "" || strings.ContainsAny(f.Value, " \n") {
			return nil, fmt.Errorf("stamp: path %q cannot be recorded", f.Path)
		}
		b.WriteString(f.Kind + " " + f.Value + " " + f.Path + "\n")
	}
	return b.Bytes(), nil
}

// Decode parses what Encode wrote.
func Decode(data []byte) (*Stamp, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	if !sc.Scan() || sc.Text() != Version {
		return nil, errors.New("stamp: not a " + Version)
	}
	s := &Stamp{}
	for sc.Scan() {
		kind, rest, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			return nil, fmt.Errorf("stamp: bad line %q", sc.Text())
		}
		switch kind {
		case "project":
			s.Project = rest
		case "lock":
			s.Lock = rest
		case KindFile, KindList, KindProc:
			value, path, ok := strings.Cut(rest, " ")
			if !ok || value == "" || path == "" {
				return nil, fmt.Errorf("stamp: bad line %q", sc.Text())
			}
			s.Facts = append(s.Facts, Fact{Kind: kind, Path: path, Value: value})
		default:
			return nil, fmt.Errorf("stamp: bad line %q", sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("stamp: %w", err)
	}
	if s.Project == "" || s.Lock == "" {
		return nil, errors.New("stamp: project or lock missing")
	}
	return s, nil
}

// fileName is <project>.<key>: one project's stamps are found by prefix
// (to replace or drop them), a key's by suffix.
func fileName(project, key string) string { return project + "." + key }

// Write records s under key in dir (<root>/upstamps for up stamps),
// atomically, and drops the project's other stamps there (one per project
// is kept).
func Write(dir, key string, s *Stamp) error {
	if !ValidKey(key) {
		return fmt.Errorf("stamp: bad key %q", key)
	}
	if s.Project == "" || strings.ContainsAny(s.Project, "/.\x00") {
		return fmt.Errorf("stamp: bad project name %q", s.Project)
	}
	data, err := s.Encode()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("stamp: %w", err)
	}
	name := fileName(s.Project, key)
	if err := removeMatching(dir, func(n string) bool { return strings.HasPrefix(n, s.Project+".") && n != name }); err != nil {
		return err
	}
	// The temp file carries the project's prefix: should this process die
	// before the rename, the project's next Write or Remove drops it.
	tmp, err := os.CreateTemp(dir, s.Project+".tmp-")
	if err != nil {
		return fmt.Errorf("stamp: %w", err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("stamp: %w", err)
	}
	return nil
}

// Remove drops every stamp of project in dir. A command that changes the
// project calls it first: the stamp's facts would catch the change anyway,
// but a stamp should not outlive the state it describes.
func Remove(dir, project string) error {
	return removeMatching(dir, func(n string) bool { return strings.HasPrefix(n, project+".") })
}

func removeMatching(dir string, match func(string) bool) error {
	names, err := readDirNames(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stamps: %w", err)
	}
	for _, n := range names {
		if match(n) {
			if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("stamps: %w", err)
			}
		}
	}
	return nil
}

// Find returns the stamp recorded under key in dir.
func Find(dir, key string) (*Stamp, error) {
	if !ValidKey(key) {
		return nil, ErrNoStamp
	}
	names, err := readDirNames(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoStamp
	}
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if strings.HasSuffix(n, "."+key) {
			b, err := readFile(filepath.Join(dir, n))
			if err != nil {
				return nil, err
			}
			s, err := Decode(b)
			if err != nil {
				return nil, err
			}
			if fileName(s.Project, key) != n {
				return nil, fmt.Errorf("stamp %s names project %q", n, s.Project)
			}
			return s, nil
		}
	}
	return nil, ErrNoStamp
}

// TryHold takes the project's lock shared if no berth command holds it,
// so that none starts changing the project while the facts are checked;
// it is released by release, or when the process ends or execs (the
// descriptor is close-on-exec). When a command holds the lock (up's new
// supervisor reconciles just after up returns), the check goes on
// without it: every change a command makes alters a fact — state files
// get new pids and times, listings new names — so a check that finds
// every fact unchanged saw the project before that change, never half
// of it.
func (s *Stamp) TryHold() (release func(), ok bool) {
	fd, err := syscall.Open(s.Lock, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return func() {}, false
	}
	for {
		err = syscall.Flock(fd, syscall.LOCK_SH|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		syscall.Close(fd)
		return func() {}, false
	}
	return func() { syscall.Close(fd) }, true
}
