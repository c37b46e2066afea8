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
//	es, _ := r.Wait(ctx, st.ID)       // from any process: wakes on the shim's exit record
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
//	CLI / supervisor ──fork+exec──▶ shim (berth re-executed, setsid, stdin → /dev/null, stdout/stderr → shim.log)
//	  │ makes the cgroup             │  parent of the container's process; copies stdout/stderr to
//	  │ meanwhile (fd 4)             │  <id>-json.log; empties the cgroup; records the exit
//	                                 └──vfork (clone VM|VFORK|NEWPID) from a spawn thread, no exec──▶
//	                                     the container's process, which replays a sysProgram and execs
//
// The re-executed binary is berth-shim when it is installed next to the
// running executable (a binary that links only this package: its start-up
// is on the path of every start and exec, and berth's own package init
// costs tens of milliseconds), else /proc/self/exe. Either must call
// IsReexec/Reexec first thing in main.
//
// The shim starts only one Go process per container: itself. A throw-away
// OS thread of the shim ("spawn thread") unshares a mount namespace and
// new uts, ipc and net ones (or joins those given as paths, and the pid
// namespace for its children), builds the whole rootfs there with Go
// (overlay, /dev, /sys, mounts, pty, sysctls, hostname, lo up) and
// resolves user, working dir and executable inside it. Then it forks a
// child (raw clone, into a new pid namespace) that may not run Go code:
// it replays a list of system calls prepared in advance (sysProgram). The
// thread dies; its namespaces live on in the child. The child shares the
// shim's memory and the thread waits until it execs (CLONE_VFORK, with
// the return address kept in a register, vfork_linux_amd64.s): no copy of
// a Go process's page tables on the path of every start. So no step of
// the child may wait for the shim.
//
// The starting process tells the shim its container on fd 4
// (shimAssignment), makes the cgroup (stale one removed, limits, device
// rules) while the shim's own Go start-up runs, and sends its directories
// on fd 4 too (cgroupReady); a failed start removes it there.
//
// A long-lived starter (the supervisor) keeps one shim started ahead of
// need (KeepSpareShim): started with no container, it waits on fd 4, so
// a restart skips the fork, exec and Go start-up of a shim (≈ 15 ms of a
// ≈ 45 ms restart here) and the spare is replaced after the start. An
// unassigned spare exits when fd 4 reads end-of-file: when its keeper
// retires it, or dies.
//
// # Start protocol (starter ↔ shim ↔ child), close-on-exec pipes
//
//	starter                shim: spawn thread                    child (pid 1 of the new pid ns)
//	 │ exec shim            │ unshare/setns; rootfs;              │
//	 │ cgroup made ── fd 4 ─▶ process resolved; cgroup.procs     │
//	 │ and limited          │ files opened; sysProgram            │
//	 │                      │ vfork ─────────────────────────────▶│ close the shim's pipe end; setsid;
//	 │                      │ (suspended)                         │ "0" → each cgroup.procs (joins);
//	 │                      │                                     │ unshare(CLONE_NEWCGROUP); /proc;
//	 │                      │                                     │ /sys/fs/cgroup (the host's
//	 │                      │                                     │ hierarchies seen from the cgroupns);
//	 │                      │                                     │ masked and read-only paths;
//	 │                      │                                     │ pivot_root; read-only rootfs;
//	 │                      │                                     │ stdio or pty; chdir; rlimits,
//	 │                      │                                     │ bounding set, setgroups/gid/uid,
//	 │                      │                                     │ capset, no_new_privs;
//	 │                      │                                     │ close_range(3.., CLOEXEC); execve
//	 │                      │◀─ {op index, errno} ────────────────│ on any failure, then exit 125
//	 │                      │◀─ released, nothing written ────────│ execve past its point of no return
//	 │◀── result line (fd 3): {pid, pidStart} or {error, exitCode}
//	 │ wait4(child) … exit code (128+signal), OOM from the memory controller,
//	 │ leftovers in the cgroup killed (if its pids counter says any), exit recorded, shim exits
//
// The cgroup.procs files are opened before the child pivots: the thread
// shares the child's mount namespace, so the pivot moves the thread's
// root too. After an exit the cgroup stays (empty) until Remove or the
// next start, which removes it first: its rmdirs (a dozen on a v1 host)
// are then off the path between the exit and its record.
//
// A sysProgram failure names its step ("pivot_root: invalid argument");
// execve failing is 127 (not found) or 126, as Docker. With Spec.Init and
// a static tini on the host (Options.InitPath), the program ends with
// execveat of tini from a descriptor opened before the pivot (`tini -s --
// args`): tini forks the process, forwards signals and reaps, as Docker's
// docker-init. A Go init costs far more per container: measured with perf
// over an `up -d` of 20 init: true services, berth-init's start took
// ≈ 24 ms of CPU each (its Go runtime's start and page faults, on this
// VM), and its end ≈ 4 ms. Without tini (or InitPath "builtin"), the
// spawn thread instead starts the shim binary as berth-init (Go's own
// vfork+exec, at the host's root so that a dynamically linked binary
// finds its interpreter); the thread writes its pid into the cgroup, and
// berth-init waits for that on fd 3, does the child's steps itself
// (procOps, pivotOps, finishOps, on its locked thread), forks the process
// from that thread, stays pid 1, forwards every signal to it and reaps
// every zombie (like tini). Exec uses an "exec" helper (berth
// re-executed): the caller forks it from a thread that joined the
// container's ipc, uts, net, pid and cgroup namespaces, writes its pid into
// the container's cgroups, sends it the processConfig; the helper joins the
// mount namespace (unshare(CLONE_FS) + setns, fd 4), applies the same
// credential steps (credentialOps) in-process and execs.
//
// # State
//
// <Root>/<id>/state.json (version 1, testdata/state-v1.json) is written
// with internal/atomicfile. It records the init's and the shim's pid and
// start time (field 22 of /proc/<pid>/stat), so a reused pid is never
// mistaken for ours. The shim does not rewrite it when its container
// exits: it writes <id>/exit.json (exitRecord: code, OOM, finish time,
// named by the shim's pid and start time; a rename, no lock, no fsync),
// and every read folds that record into a state that still shows the same
// run as running (State.applyExit), so the next write under the lock
// persists it. <id>/shim.pid names the current shim for killOrphanShim.
// All signals go through pidfds opened and then verified against the
// start time. Status is an explicit state machine
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
// mounts live in the container's mount namespace and vanish with it. What remains
// on disk is the state dir (upper/work dirs, logs), removed by Remove.
package runtime
