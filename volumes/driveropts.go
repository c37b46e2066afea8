package volumes

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// localOpts are the driver_opts of the local driver, parsed and checked.
// They mean what they mean to Docker's local driver: mount -t Type -o O
// Device <volume>/_data.
type localOpts struct {
	Type   string
	Device string
	Flags  []string // options of `o` that are mount flags (ro, nosuid, bind, ...)
	Data   []string // the other options of `o`, passed to the filesystem
}

// IsBind reports whether the volume is a bind of a host directory.
func (o localOpts) IsBind() bool {
	return slices.Contains(o.Flags, "bind") || slices.Contains(o.Flags, "rbind")
}

// mountFlagNames are the options of `o` that mount(8) turns into flags
// rather than filesystem data.
var mountFlagNames = []string{
	"defaults", "ro", "rw", "suid", "nosuid", "dev", "nodev", "exec", "noexec",
	"sync", "async", "dirsync", "atime", "noatime", "diratime", "nodiratime",
	"relatime", "norelatime", "strictatime", "nostrictatime", "bind", "rbind",
	"private", "rprivate", "shared", "rshared", "slave", "rslave",
	"unbindable", "runbindable",
}

// parseDriverOpts checks driver_opts as Docker's local driver does (known
// keys, type and device together) and a bit further, so that a mistake is
// reported when the volume is created rather than when a container starts.
// nil opts is a plain directory volume.
func parseDriverOpts(opts map[string]string) (*localOpts, error) {
	if len(opts) == 0 {
		return nil, nil
	}
	for k := range opts {
		switch k {
		case "type", "device", "o":
		case "size":
			return nil, fmt.Errorf("driver option \"size\" (an xfs project quota) is %w by berth; use type=tmpfs with o=size=... or a filesystem of that size", ErrNotSupported)
		default:
			return nil, fmt.Errorf("invalid driver option %q: the local driver takes type, device and o: %w", k, ErrInvalidArgument)
		}
	}
	o := &localOpts{Type: opts["type"], Device: opts["device"]}
	if o.Type == "" {
		return nil, fmt.Errorf("driver options: missing required option \"type\" (e.g. type=tmpfs, or type=none with o=bind): %w", ErrInvalidArgument)
	}
	if o.Device == "" {
		return nil, fmt.Errorf("driver options: missing required option \"device\" (e.g. device=tmpfs, or a host directory for o=bind): %w", ErrInvalidArgument)
	}
	if strings.ContainsAny(o.Type, ", \t\n") {
		return nil, fmt.Errorf("driver options: type %q: %w", o.Type, ErrInvalidArgument)
	}
	if raw := opts["o"]; raw != "" {
		for _, opt := range strings.Split(raw, ",") {
			opt = strings.TrimSpace(opt)
			if opt == "" {
				return nil, fmt.Errorf("driver options: o=%q has an empty option: %w", raw, ErrInvalidArgument)
			}
			if slices.Contains(mountFlagNames, opt) {
				o.Flags = append(o.Flags, opt)
			} else {
				o.Data = append(o.Data, opt)
			}
		}
	}
	switch {
	case o.IsBind():
		if !filepath.IsAbs(o.Device) {
			return nil, fmt.Errorf("driver options: o=bind needs an absolute host path as device, got %q: %w", o.Device, ErrInvalidArgument)
		}
		if len(o.Data) > 0 {
			return nil, fmt.Errorf("driver options: o=bind takes only mount flags, not %q: %w", strings.Join(o.Data, ","), ErrInvalidArgument)
		}
	case o.Type == "none":
		return nil, fmt.Errorf("driver options: type=none needs o=bind (or rbind) and a host directory as device: %w", ErrInvalidArgument)
	case o.Type == "tmpfs":
		if err := checkTmpfsData(o.Data); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// checkTmpfsData validates the tmpfs options whose syntax is simple to know,
// and leaves the rest to the kernel.
func checkTmpfsData(data []string) error {
	for _, d := range data {
		k, v, ok := strings.Cut(d, "=")
		bad := func(why string) error {
			return fmt.Errorf("driver options: tmpfs option %q: %s: %w", d, why, ErrInvalidArgument)
		}
		switch k {
		case "size", "nr_blocks", "nr_inodes":
			if !ok {
				return bad("needs a value")
			}
			if _, err := ParseSize(v); err != nil && !(k == "size" && strings.HasSuffix(v, "%") && isDigits(strings.TrimSuffix(v, "%"))) {
				return bad("not a size like 64m, 1g or 50%")
			}
		case "mode":
			if _, err := strconv.ParseUint(v, 8, 32); !ok || err != nil {
				return bad("not an octal mode")
			}
		case "uid", "gid":
			if _, err := strconv.ParseUint(v, 10, 32); !ok || err != nil {
				return bad("not a number")
			}
		}
	}
	return nil
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// ParseSize reads a byte count with an optional binary suffix (k, m, g, t;
// with or without a trailing b, any case), as tmpfs and Docker's --tmpfs
// size do.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "b")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:n-1]
		}
	}
	if !isDigits(t) {
		return 0, fmt.Errorf("size %q: %w", s, ErrInvalidArgument)
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: out of range: %w", s, ErrInvalidArgument)
	}
	return n * mult, nil
}
