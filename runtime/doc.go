// Package runtime is berth's embedded container runtime: what runc, conmon
// and Docker's container commands do, for one container at a time. It
// owns a container's state directory, its shim, its init, its cgroup, its
// log file and its exit status. It does not own images (runtime/image
// unpacks layers; the runtime only receives their directories through the
// Images interface), networks (netplug prepares a network namespace file
// and passes its path in Spec.Namespaces.Network), volumes (volumes passes
// bind mounts, with CopyUp for Docker's first-use copy) or projects (those
// travel as opaque Labels).
//
// # API
//
//	r, _ := runtime.New(runtime.Options{Root: "<root>/containers", RunDir: "/run/berth", Images: imgs})
//	st, _ := r.Create(ctx, spec)      // state dir, upper/work dirs, etc files; nothing runs
//	r.Start(ctx, st.ID)               // shim + init; returns once the process was exec'd
//	es, _ := r.Wait(ctx, st.ID)       // from any process: pidfd of the shim
//	r.Exec(ctx, st.ID, runtime.ExecSpec{Args: ...})
//	r.Stop(ctx, st.ID, &grace)        // stop signal, grace, SIGKILL
//	r.Start(ctx, st.ID)               // again: same container, same upper dir, same netns path
//	r.Remove(ctx, st.ID, force)
//
// Every method reads the disk; a Runtime holds no state in memory, so any
// number of berth processes may use one root at once. State changes take
// an flock on <dir>/lock; Create takes <root>/.lock for name uniqueness.
//
// # Processes
//
//	CLI / supervisor ──fork+exec──▶ shim (berth re-executed, setsid, stdio → /dev/null, stderr → shim.log)
//	                                 │  parent of init; copies stdout/stderr to <id>-json.log;
//	                                 │  applies and removes the cgroup; records the exit
//	                                 └──clone(NEWNS|NEWPID|NEWUTS|NEWIPC|NEWNET)+exec──▶ init (berth re-executed)
//	                                                                                      └─exec─▶ the container's process
//
// The re-executed binary is berth-shim when it is installed next to the
// running executable (a binary that links only this package: its start-up
// is on the path of every start and exec, and berth's own package init
// costs tens of milliseconds), else /proc/self/exe. Either must call
// IsReexec/Reexec first thing in main. Namespaces given as paths are
// joined (setns) on a throw-away OS thread of the shim from which init is
// forked, so init is born inside them. The shim does not rely on
// Pdeathsig: it outlives its parent by design, and a dead shim is found
// by the next reader (pid + start time) and its container cleaned up.
//
// # Sync protocol (shim ↔ init), over a socketpair that is fd 3 in init
//
//	shim                                           init (pid 1 of the new pid ns)
//	 │ fork+exec init (namespaces from cloneflags)   │ Go start-up; fd 3 set close-on-exec
//	 │ cgroup: Apply(pid), Set(limits), devices      │ blocks reading fd 3
//	 │── initConfig (one JSON object) ─────────────▶│ (so it is in its cgroup before it acts)
//	 │                                               │ unshare(CLONE_NEWCGROUP)
//	 │                                               │ mount / rprivate; overlay on merged/;
//	 │                                               │ CopyUp; /proc /dev(+nodes) /dev/pts /dev/shm
//	 │                                               │ /dev/mqueue /sys; console; user mounts;
//	 │                                               │ hostname/hosts/resolv.conf binds; sysctls;
//	 │                                               │ sethostname; lo up; pivot_root; masked and
//	 │                                               │ read-only paths; read-only rootfs;
//	 │                                               │ resolve user/env/cwd/executable;
//	 │                                               │ rlimits, bounding set, setgroups/gid/uid,
//	 │                                               │ capset, no_new_privs
//	 │◀─ syncMsg{error, exitCode 125|126|127} ───────│ on any failure, then exit
//	 │◀─ EOF ────────────────────────────────────────│ execve succeeded (fd 3 closed on exec)
//	 │ result line → starting CLI (fd 3 of the shim): {pid, pidStart} or {error, exitCode}
//	 │ wait4(init) … exit code (128+signal), OOM from the memory controller,
//	 │ cgroup removed, state.json: exited (under the flock), shim exits
//
// With Spec.Init, init stays pid 1 after the setup (like tini): it forks the
// process from its thread (carrying the dropped privileges), forwards every
// signal to it and reaps every zombie. Exec uses the same finalisation in
// an "exec" helper: the caller forks it from a thread that joined the
// container's ipc, uts, net, pid and cgroup namespaces, writes its pid into
// the container's cgroups, sends it the processConfig; the helper joins the
// mount namespace (unshare(CLONE_FS) + setns, fd 4) and execs.
//
// # State
//
// <Root>/<id>/state.json (version 1, testdata/state-v1.json) is written
// with internal/atomicfile. It records the init's and the shim's pid and
// start time (field 22 of /proc/<pid>/stat), so a reused pid is never
// mistaken for ours; all signals go through pidfds opened and then
// verified against the start time. Status is an explicit state machine
// (see Status); an operation not allowed in the current status returns a
// *TransitionError (errors.Is ErrInvalidState).
//
// Reboot detection: <RunDir>/boot-id holds the kernel's boot id
// (/proc/sys/kernel/random/boot_id). RunDir is on tmpfs, so after a reboot
// the marker is gone; the boot id also catches a RunDir that is not on
// tmpfs. New treats a missing or different marker as a reboot: every
// container recorded as running or paused becomes exited (code 255, error
// "host rebooted"). Without a reboot, New (and every read) marks a
// container whose shim is gone as exited (255, "shim exited
// unexpectedly") after killing its init and whatever is left in its
// cgroup.
//
// Nothing of a container is mounted on the host: the rootfs and all its
// mounts live in init's mount namespace and vanish with it. What remains
// on disk is the state dir (upper/work dirs, logs), removed by Remove.
package runtime
