package runtime

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// defaultPath is the PATH a container gets when neither image nor spec set one.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// commandLine merges entrypoint and cmd as Docker does: a spec entrypoint
// replaces the image's and, when set, also drops the image's cmd.
func commandLine(s *Spec, img ImageConfig) ([]string, error) {
	ep, cmd := img.Entrypoint, img.Cmd
	if s.Entrypoint != nil {
		ep = s.Entrypoint
		cmd = nil
	}
	if s.Cmd != nil {
		cmd = s.Cmd
	}
	args := append(append([]string{}, ep...), cmd...)
	if len(args) == 0 {
		return nil, fmt.Errorf("%w: no command: neither the image nor the container sets an entrypoint or cmd", ErrInvalidArgument)
	}
	return args, nil
}

// mergeEnv returns base overlaid with over (later keys win, order of first
// appearance kept); entries without '=' in over are dropped.
func mergeEnv(base, over []string) []string {
	idx := map[string]int{}
	var out []string
	add := func(kv string) {
		k, _, ok := strings.Cut(kv, "=")
		if !ok {
			return
		}
		if i, seen := idx[k]; seen {
			out[i] = kv
			return
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	for _, kv := range base {
		add(kv)
	}
	for _, kv := range over {
		add(kv)
	}
	return out
}

// envHas reports whether env sets key.
func envHas(env []string, key string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}

func envGet(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, _ := strings.Cut(kv, "="); k == key {
			v = val
		}
	}
	return v
}

// ExecUser is a resolved user: numeric ids, supplementary groups, home.
type ExecUser struct {
	UID, GID int
	Groups   []int
	Home     string
}

type passwdEntry struct {
	name     string
	uid, gid int
	home     string
}

type groupEntry struct {
	name    string
	gid     int
	members []string
}

func parsePasswd(r io.Reader) []passwdEntry {
	var out []passwdEntry
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 4 {
			continue
		}
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			continue
		}
		e := passwdEntry{name: f[0], uid: uid, gid: gid}
		if len(f) > 5 {
			e.home = f[5]
		}
		out = append(out, e)
	}
	return out
}

func parseGroup(r io.Reader) []groupEntry {
	var out []groupEntry
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 3 {
			continue
		}
		gid, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		e := groupEntry{name: f[0], gid: gid}
		if len(f) > 3 && f[3] != "" {
			e.members = strings.Split(f[3], ",")
		}
		out = append(out, e)
	}
	return out
}

// resolveUser resolves user ("", name, uid, name:group, uid:gid) and extra
// groups (names or gids) against passwd and group contents (either may be
// nil when the image lacks the file). Like Docker: a numeric uid that is
// not in passwd is allowed (gid 0, home /); a name that is not is an error.
func resolveUser(user string, groupAdd []string, passwd, group io.Reader) (ExecUser, error) {
	var pw []passwdEntry
	var gr []groupEntry
	if passwd != nil {
		pw = parsePasswd(passwd)
	}
	if group != nil {
		gr = parseGroup(group)
	}
	u := ExecUser{Home: "/"}
	userPart, groupPart, hasGroup := strings.Cut(user, ":")
	if userPart == "" {
		userPart = "0"
	}
	var name string
	if uid, err := strconv.Atoi(userPart); err == nil {
		if uid < 0 {
			return u, fmt.Errorf("%w: user %q: negative uid", ErrInvalidArgument, user)
		}
		u.UID = uid
		for _, e := range pw {
			if e.uid == uid {
				u.GID, u.Home, name = e.gid, e.home, e.name
				break
			}
		}
	} else {
		found := false
		for _, e := range pw {
			if e.name == userPart {
				u.UID, u.GID, u.Home, name = e.uid, e.gid, e.home, e.name
				found = true
				break
			}
		}
		if !found {
			return u, fmt.Errorf("%w: user %q: no such user in the image's /etc/passwd", ErrInvalidArgument, userPart)
		}
	}
	if hasGroup {
		gid, err := lookupGroup(groupPart, gr)
		if err != nil {
			return u, fmt.Errorf("user %q: %w", user, err)
		}
		u.GID = gid
	} else if name != "" {
		// Supplementary groups from /etc/group membership, as login would.
		for _, g := range gr {
			for _, m := range g.members {
				if m == name && g.gid != u.GID {
					u.Groups = append(u.Groups, g.gid)
				}
			}
		}
	}
	for _, g := range groupAdd {
		gid, err := lookupGroup(g, gr)
		if err != nil {
			return u, fmt.Errorf("group_add: %w", err)
		}
		u.Groups = append(u.Groups, gid)
	}
	if u.Home == "" {
		u.Home = "/"
	}
	u.Groups = dedupeGroups(u.Groups)
	return u, nil
}

func lookupGroup(g string, gr []groupEntry) (int, error) {
	if gid, err := strconv.Atoi(g); err == nil {
		if gid < 0 {
			return 0, fmt.Errorf("%w: negative gid %q", ErrInvalidArgument, g)
		}
		return gid, nil
	}
	for _, e := range gr {
		if e.name == g {
			return e.gid, nil
		}
	}
	return 0, fmt.Errorf("%w: group %q: no such group in the image's /etc/group", ErrInvalidArgument, g)
}

func dedupeGroups(gs []int) []int {
	seen := map[int]bool{}
	out := gs[:0]
	for _, g := range gs {
		if !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	return out
}

// CommandLine is the argv a container runs: its entrypoint and cmd merged
// with the image's as Docker does (inspect shows it as Path and Args).
func CommandLine(s *Spec, img ImageConfig) ([]string, error) { return commandLine(s, img) }
