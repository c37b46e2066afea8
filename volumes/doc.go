// Package volumes owns the data that outlives containers: named volumes under
// <root>/volumes, the local driver's driver_opts (a tmpfs, a bind of a host
// directory, any other filesystem with type/device/o as Docker's local driver
// takes them), anonymous volumes, and the translation of a service's mount
// requests (volume, bind, tmpfs) into the runtime's [runtime.Mount]s.
//
// It does not mount anything into a container: the runtime does that, resolves
// every Target inside the rootfs (securejoin) and performs the first-use copy
// of image content (Mount.CopyUp). It does not know containers either: whether
// a volume is in use comes from a hook (Options.InUse) that the caller wires to
// the runtime, plus a scan of other mount namespaces for binds of the volume
// (which sees running containers even without the hook).
//
// # On disk
//
//	<root>/volumes/
//	  .lock                 flock held by every change (several CLIs may run at once)
//	  <name>/meta.json      versioned, written atomically (temp + fsync + rename)
//	  <name>/_data/         the data; the mount point of a driver_opts volume
//	  .tmp-*/               a volume being created: built beside, renamed into place
//	  .trash-*/             a volume being removed: renamed away, then deleted
//
// A process killed at any point leaves either no volume or a complete one;
// New removes leftover .tmp-* and .trash-* directories (unmounting anything
// below them first, so that a bind of a host directory is never emptied).
//
// # Lifecycle
//
//	Ensure ──▶ (created: .tmp-X ─rename─▶ <name>)   idempotent; External only checks
//	Mount  ──▶ driver_opts mounted on _data           idempotent; mountinfo says if done
//	                                                  (so it is redone after a reboot)
//	Remove ──▶ refuse if in use ─▶ unmount _data ─▶ rename to .trash-X ─▶ delete
//
// driver_opts volumes stay mounted from first use until Remove or reboot (Docker
// unmounts when the last container stops; berth has no daemon to count users).
// A tmpfs volume therefore keeps its content while the machine is up.
//
// # Anonymous volumes
//
// An anonymous volume of a project service (Compose's `- /data`, or an image
// VOLUME) gets a deterministic 64-hex name derived from project, service,
// replica number and target (AnonymousName), and labels saying so. Recreating
// the same replica of the same service therefore finds the same volume, which
// is what Compose achieves by handing the old container's anonymous volumes to
// the new one; `down -v` (RemoveProject) removes them with the named ones.
// `down` without -v calls ReleaseAnonymous once the containers are gone: it
// renames them to random names (data kept, project label kept, so `down -v`
// and `volume prune` still find them), so that the next `up` starts with
// fresh anonymous volumes, again as with Compose. Outside a project an
// anonymous volume always gets a random name.
//
// # In use
//
// Remove, Prune, RemoveProject and ReleaseAnonymous refuse a volume in use:
// either Options.InUse says so (the CLI wires it to every container the
// runtime knows, running or not, via UsedBy), or another mount namespace
// has the volume's data dir (or a path below it) mounted — a running
// container, even one of another berth root. A namespace that merely holds
// a copy of the host's mount of a driver_opts volume at the same path (one
// cloned from the host) does not count. The scan reads every process's
// mountinfo: about 6 ms with 130 processes (BenchmarkInUseScan).
//
// # Labels
//
// Volumes carry Compose's labels (LabelProject, LabelVolume) so that users'
// `--filter label=com.docker.compose.project=x` habits work, and Docker's
// LabelAnonymous marker for anonymous volumes.
package volumes
