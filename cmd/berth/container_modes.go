package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/berth-dev/berth/runtime"
)

// modeOptions are docker run's --device, --pid and --ipc.
type modeOptions struct {
	devices  []string
	pid, ipc string
}

func addModeFlags(f *pflag.FlagSet, o *modeOptions) {
	f.StringArrayVar(&o.devices, "device", nil, "add a host device HOST[:CONTAINER[:PERMISSIONS]] (permissions r, w, m; default rwm)")
	f.StringVar(&o.pid, "pid", "", "pid namespace: host, or container:NAME to join one")
	f.StringVar(&o.ipc, "ipc", "", "IPC namespace: private, shareable, host, or container:NAME to join one")
}

// apply puts the devices and host modes on s; container: joins are
// resolved by joinPidIpc once the runtime is open.
func (o *modeOptions) apply(s *runtime.Spec) error {
	for _, d := range o.devices {
		dev, err := parseDevice(d)
		if err != nil {
			return err
		}
		s.Devices = append(s.Devices, dev)
	}
	switch {
	case o.pid == "" || o.pid == "host":
		s.Namespaces.PID = o.pid
	case strings.HasPrefix(o.pid, "container:") && o.pid != "container:":
	default:
		return fmt.Errorf("--pid %q: want host or container:NAME", o.pid)
	}
	switch {
	case o.ipc == "" || o.ipc == "private" || o.ipc == "shareable":
	case o.ipc == "host":
		s.Namespaces.IPC = "host"
	case strings.HasPrefix(o.ipc, "container:") && o.ipc != "container:":
	default:
		return fmt.Errorf("--ipc %q: want private, shareable, host or container:NAME", o.ipc)
	}
	return nil
}

// parseDevice reads Docker's --device HOST[:CONTAINER[:PERMISSIONS]]; a
// second field made only of r, w and m is the permissions (/dev/sda:rw).
// The runtime checks paths, node and permissions at create.
func parseDevice(v string) (runtime.Device, error) {
	parts := strings.Split(v, ":")
	d := runtime.Device{Source: parts[0]}
	switch len(parts) {
	case 1:
	case 2:
		if parts[1] != "" && strings.Trim(parts[1], "rwm") == "" {
			d.Permissions = parts[1]
		} else {
			d.Target = parts[1]
		}
	case 3:
		d.Target, d.Permissions = parts[1], parts[2]
	default:
		return d, fmt.Errorf("--device %q: want HOST[:CONTAINER[:PERMISSIONS]]", v)
	}
	return d, nil
}

// joinPidIpc points --pid/--ipc container:NAME at that running
// container's namespace.
func (o *modeOptions) joinPidIpc(ctx context.Context, rt *runtime.Runtime, s *runtime.Spec) error {
	for _, j := range []struct {
		flag, kind, mode string
		dst              *string
	}{{"--pid", "pid", o.pid, &s.Namespaces.PID}, {"--ipc", "ipc", o.ipc, &s.Namespaces.IPC}} {
		ref, ok := strings.CutPrefix(j.mode, "container:")
		if !ok {
			continue
		}
		st, err := rt.Inspect(ctx, ref)
		if err != nil {
			return fmt.Errorf("%s container:%s: %w", j.flag, ref, err)
		}
		if st.Status != runtime.StatusRunning && st.Status != runtime.StatusPaused {
			return fmt.Errorf("%s container:%s: the container is not running (%s)", j.flag, ref, st.Status)
		}
		*j.dst = st.Namespaces[j.kind]
	}
	return nil
}
