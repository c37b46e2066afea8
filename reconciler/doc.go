// Package reconciler makes the machine match a project's manifest.
//
// It owns:
//   - observing what a project has on the machine (containers by label,
//     networks, volumes, images) into a plain snapshot, Observed;
//   - planning: Plan is a pure function from (desired *spec.Project,
//     Observed) to an ordered list of actions, each carrying its Cause;
//   - applying a plan in dependency order (depends_on, links,
//     network_mode: service:x, volumes_from, pods), independent services in
//     parallel, with depends_on conditions (service_started,
//     service_healthy, service_completed_successfully, required);
//   - converting a spec.Service (plus its image's config) into a
//     runtime.Spec (convert.go);
//   - the per-project Supervisor: restart policies with backoff (a pure
//     RestartTracker), healthchecks (a pure HealthState machine plus a
//     prober that execs into the container), watch mode;
//   - the project's on-disk state under <root>/projects/<name>/: the lock,
//     the supervisor's pid file, the last applied project, health files,
//     "stopped by the user" markers and the normalized service configs
//     containers were created from (to name what changed).
//
// It does not know how namespaces, netlink, overlayfs or cgroups work, and
// it never imports compose-go: it sees only spec types and the small
// interfaces in deps.go (Containers, Images, Networks, Volumes), which the
// runtime, netplug and volumes packages satisfy through adapters. Tests use
// the in-memory fakes in fake_test.go.
//
// # Restart backoff
//
// A container that exits and whose policy says "restart" is restarted:
//
//   - the first time immediately: most exits are one-off (an OOM, a
//     dependency that was not ready yet) and a restart costs only a few tens
//     of milliseconds, so waiting helps nobody;
//   - then after 100 ms, doubling each time (200 ms, 400 ms, ...): a
//     container that crashes at start costs a bounded, shrinking share of
//     the machine instead of a busy loop;
//   - capped at 30 s: a service that was down because something outside it
//     was down (a database on another host) comes back at most 30 s after
//     the cause is fixed. Docker caps at 60 s; 30 s halves the worst
//     recovery time at the price of one extra start per minute;
//   - reset after the container has stayed up for 10 s (or for
//     deploy.restart_policy.window when set): longer than a crash-at-start,
//     shorter than the interval of typical healthchecks, as Docker does.
//
// deploy.restart_policy.delay replaces the backoff with a fixed delay, and
// max_attempts / on-failure:N bound the number of restarts. A container that
// the user stopped (berth stop, kill, down) is never restarted: the intent is
// recorded in the project state dir before the container is stopped.
//
// # What the supervisor learns of
//
// The supervisor waits on the runs it knows of (one exit wait per run) and
// reconciles when one ends, when a health status changes, or when a
// restart's delay is over. A run that another command began (berth start
// after berth stop, berth restart) it learns of from a nudge: a datagram
// on an abstract unix socket named after the project's state dir, which
// the command sends when it releases the project lock
// (Store.NudgeSupervisor). Without it the new run would be neither
// healthchecked nor restarted.
//
// For its restarts the supervisor keeps the runtime ready (Prestarter: a
// spare shim), so that a crash → restarted process takes ≈ 20 ms here
// rather than ≈ 30 ms.
//
// # Two ways to stop
//
// The supervisor distinguishes shutdown from kill, as nomad's task runner
// does. Shutdown (its context is cancelled, e.g. `berth up -d`'s supervisor
// is replaced, or it receives SIGTERM from `berth down` before down stops
// the containers itself) ends supervision and leaves containers running.
// Kill (Stop / the foreground `berth up` on Ctrl-C) stops the containers.
package reconciler
