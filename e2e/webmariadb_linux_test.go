package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testenv"
)

const (
	project   = "web-mariadb"
	network   = project + "_default"
	volume    = project + "_db-data"
	adminerAt = "http://127.0.0.1:8080"
)

// TestWebMariaDB runs examples/web-mariadb (Adminer + MariaDB) under
// berth from the example's own compose.yaml and checks it with real
// clients: Go's HTTP client logging in to Adminer and using its SQL form,
// `berth exec db mariadb`, and Debian's mariadb client on the host through
// the port published by db-port.override.yaml. It kills mariadbd and
// expects berth to restart it, takes the stack down and up again and
// expects the data to survive, and after `down -v` expects nothing of the
// project to remain. Bad input: port 8080 taken, a typo in an image name,
// a wrong password in Adminer.
func TestWebMariaDB(t *testing.T) {
	s := newStack(t)
	example := filepath.Join(s.repo, "examples", project)
	base := []string{"-f", filepath.Join(example, "compose.yaml")}
	withPort := append(append([]string{}, base...), "-f", filepath.Join(example, "db-port.override.yaml"))
	dbPort := freeLoopbackPort(t)
	s.env = append(s.env, fmt.Sprintf("MARIADB_HOST_PORT=%d", dbPort))
	t.Cleanup(func() {
		// Whatever happened, take the project down (before the leak checks).
		if out, errOut, code := s.berth(append(withPort, "down", "-v", "-t", "0")...); code != 0 {
			t.Errorf("cleanup: down -v: exit %d\n%s%s", code, out, errOut)
		}
	})

	// What the manifest says (with its defaults for the passwords).
	var cfg struct {
		Services []struct {
			Name        string   `json:"name"`
			Environment []string `json:"environment"`
		} `json:"services"`
	}
	if err := json.Unmarshal([]byte(s.must(append(base, "config", "--format", "json")...)), &cfg); err != nil {
		t.Fatalf("config --format json: %v", err)
	}
	env := map[string]string{}
	for _, svc := range cfg.Services {
		if svc.Name == "db" {
			for _, kv := range svc.Environment {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		}
	}
	rootPW, dbName := env["MARIADB_ROOT_PASSWORD"], env["MARIADB_DATABASE"]
	if rootPW == "" || dbName == "" {
		t.Fatalf("the manifest's db service sets no MARIADB_ROOT_PASSWORD or MARIADB_DATABASE: %v", env)
	}
	if l, err := net.Listen("tcp4", "0.0.0.0:8080"); err != nil {
		testenv.Missing(t, "port 8080, which the example publishes, is taken on this host: %v", err)
	} else {
		l.Close()
	}
	marker := fmt.Sprintf("berth-e2e-%d", time.Now().UnixNano())

	// nothingLeft checks that no container, network, volume, supervisor,
	// shim or state of the project remains.
	nothingLeft := func(t *testing.T, when string) {
		t.Helper()
		if rows := s.ps(base); len(rows) != 0 {
			t.Errorf("%s: containers: %+v", when, rows)
		}
		if out := s.must("network", "ls", "-q"); strings.Contains(out, project) {
			t.Errorf("%s: networks: %s", when, out)
		}
		if out := s.must("volume", "ls", "-q"); strings.Contains(out, project) {
			t.Errorf("%s: volumes: %s", when, out)
		}
		if ps := s.processes(); len(ps) != 0 {
			t.Errorf("%s: processes: %s", when, strings.Join(ps, "\n"))
		}
		if files := s.leftovers(); len(files) != 0 {
			t.Errorf("%s: state left: %s", when, strings.Join(files, "\n"))
		}
	}

	// Bad input first, while nothing runs.
	run(t, "port 8080 taken", func(t *testing.T) {
		for _, addr := range []string{"127.0.0.1:8080", "0.0.0.0:8080"} {
			l, err := net.Listen("tcp4", addr)
			if err != nil {
				t.Fatal(err)
			}
			out, errOut, code := s.berth(append(base, "up", "-d", "--wait")...)
			l.Close()
			if code == 0 {
				t.Fatalf("up with %s taken succeeded:\n%s%s", addr, out, errOut)
			}
			t.Logf("up with %s taken: exit %d: %s", addr, code, strings.TrimSpace(errOut))
			for _, want := range []string{"8080", "web", "in use"} {
				if !strings.Contains(errOut, want) {
					t.Errorf("up with %s taken: error does not say %q:\n%s", addr, want, errOut)
				}
			}
			if strings.Contains(errOut, "Started") || strings.Contains(errOut, "Created") {
				t.Errorf("up with %s taken started something before failing:\n%s", addr, errOut)
			}
			nothingLeft(t, "after up with "+addr+" taken")
		}
	})

	run(t, "typo in an image name", func(t *testing.T) {
		manifest, err := os.ReadFile(filepath.Join(example, "compose.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		typo := strings.Replace(string(manifest), "image: mariadb:", "image: mariadbb:", 1)
		if typo == string(manifest) {
			t.Fatal("compose.yaml has no `image: mariadb:` line to misspell")
		}
		dir := t.TempDir()
		file := filepath.Join(dir, "compose.yaml")
		if err := os.WriteFile(file, []byte(typo), 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{"-f", file, "-p", project + "-typo"}
		defer s.must(append(args, "down", "-v", "-t", "0")...)
		out, errOut, code := s.berth(append(args, "up", "-d", "--wait")...)
		if code == 0 {
			t.Fatalf("up with image mariadbb succeeded:\n%s%s", out, errOut)
		}
		t.Logf("up with a misspelt image: exit %d: %s", code, lastLine(errOut))
		last := lastLine(errOut)
		for _, want := range []string{"db", "mariadbb:10.11", "pull"} {
			if !strings.Contains(last, want) {
				t.Errorf("the error does not name %q: %s", want, last)
			}
		}
		if strings.Contains(errOut, "web-mariadb-typo-web-1  Start") {
			t.Errorf("web started although db could not be pulled:\n%s", errOut)
		}
	})

	var cold, warm time.Duration
	run(t, "up", func(t *testing.T) {
		start := time.Now()
		s.must(append(base, "up", "-d", "--wait")...)
		cold = time.Since(start)
		t.Logf("up -d --wait → healthy, cold (pull through the local mirror, first initialisation of MariaDB): %s", cold.Round(time.Millisecond))
		rows := s.checkHealthy(t, base)
		s.record(network, rows["db"].ID, rows["web"].ID)
		if len(s.processes()) == 0 {
			t.Errorf("no supervisor or shim process names --root %s (the leak check for processes would prove nothing)", s.root)
		}
	})

	good := newAdminer(adminerAt)
	run(t, "adminer", func(t *testing.T) {
		pg, err := good.login("db", "root", rootPW)
		if err != nil {
			t.Fatalf("log in to Adminer: %v: %s", err, text(pg, 500))
		}
		if !strings.Contains(pg, ">"+dbName+"<") {
			t.Fatalf("database %s is not on the page after logging in: %s", dbName, text(pg, 800))
		}
		res, err := good.sql("db", "root", dbName, "CREATE TABLE e2e (id INT PRIMARY KEY AUTO_INCREMENT, msg VARCHAR(64));\nINSERT INTO e2e (msg) VALUES ('"+marker+"');")
		if err != nil || strings.Count(res, "Query executed OK") != 2 {
			t.Fatalf("CREATE TABLE + INSERT through the SQL form (err %v): %s", err, text(res, 800))
		}
		res, err = good.sql("db", "root", dbName, "SELECT msg FROM e2e")
		if err != nil || !strings.Contains(res, marker) {
			t.Fatalf("SELECT through the SQL form (err %v): %s", err, text(res, 800))
		}
	})

	run(t, "wrong password", func(t *testing.T) {
		// Adminer answers with its login page and the server's message,
		// with status 403 (its own error page, not a broken stack).
		pg, err := newAdminer(adminerAt).login("db", "root", rootPW+"-wrong")
		if err != nil && !strings.Contains(err.Error(), "403 Forbidden") {
			t.Fatalf("Adminer did not answer a wrong password with its own page: %v: %s", err, text(pg, 500))
		}
		if !strings.Contains(pg, "Access denied for user") || !strings.Contains(pg, `name="auth[password]"`) {
			t.Errorf("no \"Access denied\" on Adminer's login page: %s", text(pg, 800))
		}
		if strings.Contains(pg, ">"+dbName+"<") {
			t.Errorf("the database list is shown after a wrong password")
		}
		s.checkHealthy(t, base)
		if pg, err := good.sql("db", "root", dbName, "SELECT msg FROM e2e"); err != nil || !strings.Contains(pg, marker) {
			t.Errorf("the stack broke after a wrong password (err %v): %s", err, text(pg, 500))
		}
	})

	run(t, "berth exec mariadb", func(t *testing.T) {
		out := s.must(append(base, "exec", "-T", "db", "mariadb", "-uroot", "-p"+rootPW, "-N", "-B", "-e", "SHOW DATABASES")...)
		if !hasLine(out, dbName) {
			t.Errorf("SHOW DATABASES through berth exec has no %s:\n%s", dbName, out)
		}
	})

	hostClient := func(query string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "mariadb", "-h127.0.0.1", "-P"+strconv.Itoa(dbPort), "--protocol=tcp",
			"-uroot", "-p"+rootPW, "--connect-timeout=5", "-N", "-B", "-e", query).CombinedOutput()
		return string(out), err
	}
	run(t, "host mariadb client through the override's port", func(t *testing.T) {
		s.must(append(withPort, "up", "-d", "--wait")...)
		rows := s.checkHealthy(t, withPort)
		want := fmt.Sprintf("127.0.0.1:%d->3306/tcp", dbPort)
		if s.portsOf(withPort, "db") != want {
			t.Errorf("db publishes %q, want %q", s.portsOf(withPort, "db"), want)
		}
		s.record(network, rows["db"].ID, rows["web"].ID)
		out, err := hostClient("SHOW DATABASES")
		if err != nil || !hasLine(out, dbName) {
			t.Fatalf("mariadb on the host via 127.0.0.1:%d (err %v):\n%s", dbPort, err, out)
		}
		if out, err := hostClient("SELECT msg FROM " + dbName + ".e2e"); err != nil || !hasLine(out, marker) {
			t.Errorf("the row written through Adminer, read by the host client (err %v):\n%s", err, out)
		}
	})

	run(t, "self-healing after mariadbd is killed", func(t *testing.T) {
		id := s.checkHealthy(t, withPort)["db"].ID
		before := s.inspect(id)
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", before.Pid))
		if err != nil || strings.TrimSpace(string(comm)) != "mariadbd" {
			t.Fatalf("db's init (pid %d) is %q (%v), want mariadbd", before.Pid, comm, err)
		}
		// A crash: SIGKILL from outside, no chance to clean up.
		if err := syscall.Kill(before.Pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		took, err := waitFor(2*time.Minute, func() error {
			st := s.inspect(id)
			if st.Status != "running" || st.Pid == before.Pid || st.RestartCount <= before.RestartCount {
				return fmt.Errorf("db: %s, pid %d, restarts %d", st.Status, st.Pid, st.RestartCount)
			}
			pg, err := newAdminer(adminerAt).login("db", "root", rootPW)
			if err != nil || !strings.Contains(pg, ">"+dbName+"<") {
				return fmt.Errorf("adminer login: %v: %s", err, text(pg, 200))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("not healed: %v\n%s", err, s.logs(withPort, "db"))
		}
		t.Logf("mariadbd killed: restarted by berth, Adminer logs in again after %s", took.Round(time.Millisecond))
		if pg, err := good.sql("db", "root", dbName, "SELECT msg FROM e2e"); err != nil || !strings.Contains(pg, marker) {
			t.Errorf("after the restart, SELECT through Adminer (err %v): %s", err, text(pg, 500))
		}
		if _, err := waitFor(time.Minute, func() error {
			if h := s.checkHealthyErr(withPort); h != nil {
				return h
			}
			return nil
		}); err != nil {
			t.Errorf("not healthy again: %v", err)
		}
		s.record(network, id)
	})

	run(t, "data survives down and up", func(t *testing.T) {
		s.must(append(withPort, "down")...)
		if rows := s.ps(withPort); len(rows) != 0 {
			t.Fatalf("containers after down: %+v", rows)
		}
		if out := s.must("volume", "ls", "-q"); !hasLine(out, volume) {
			t.Fatalf("down removed volume %s:\n%s", volume, out)
		}
		start := time.Now()
		s.must(append(withPort, "up", "-d", "--wait")...)
		warm = time.Since(start)
		t.Logf("up -d --wait → healthy, warm (images present, data initialised): %s", warm.Round(time.Millisecond))
		rows := s.checkHealthy(t, withPort)
		s.record(network, rows["db"].ID, rows["web"].ID)
		out := s.must(append(withPort, "exec", "-T", "db", "mariadb", "-uroot", "-p"+rootPW, "-N", "-B", "-e", "SELECT msg FROM "+dbName+".e2e")...)
		if !hasLine(out, marker) {
			t.Errorf("the row is gone after down/up:\n%s", out)
		}
		if pg, err := good.login("db", "root", rootPW); err != nil || !strings.Contains(pg, ">"+dbName+"<") {
			t.Errorf("Adminer after down/up (err %v): %s", err, text(pg, 500))
		}
	})

	run(t, "down -v leaves nothing", func(t *testing.T) {
		s.must(append(withPort, "down", "-v")...)
		nothingLeft(t, "after down -v")
		s.checkCgroupsGone()
	})
	t.Logf("time from `up -d --wait` to healthy: cold %s, warm %s", cold.Round(time.Millisecond), warm.Round(time.Millisecond))
}

// run runs a step and stops the test when it fails: later steps build on it.
func run(t *testing.T, name string, fn func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, fn) {
		t.FailNow()
	}
}

// checkHealthyErr says why the stack is not up: db running and healthy,
// web running (it has no healthcheck).
func (s *stack) checkHealthyErr(files []string) error {
	rows := map[string]psRow{}
	for _, r := range s.ps(files) {
		rows[r.Service] = r
	}
	db, web := rows["db"], rows["web"]
	if len(rows) != 2 || db.State != "running" || db.Health != "healthy" || web.State != "running" || (web.Health != "" && web.Health != "healthy") {
		return fmt.Errorf("ps: %+v", rows)
	}
	return nil
}

// checkHealthy fails the test unless the stack is up, and returns ps's
// rows by service.
func (s *stack) checkHealthy(t *testing.T, files []string) map[string]psRow {
	t.Helper()
	if err := s.checkHealthyErr(files); err != nil {
		t.Fatalf("stack not healthy: %v", err)
	}
	rows := map[string]psRow{}
	for _, r := range s.ps(files) {
		rows[r.Service] = r
	}
	return rows
}

// portsOf is the Ports column of service in `ps --format json`.
func (s *stack) portsOf(files []string, service string) string {
	out := s.must(append(files, "ps", "--format", "json", service)...)
	var r struct{ Ports string }
	json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &r)
	return r.Ports
}

// logs is the tail of a service's output, for failure messages.
func (s *stack) logs(files []string, service string) string {
	out, errOut, _ := s.berth(append(files, "logs", "--tail", "30", service)...)
	return out + errOut
}

func hasLine(out, want string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == want {
			return true
		}
	}
	return false
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}
