// Package spec loads berth manifests and turns them into berth's normalized
// desired-state model.
//
// It owns:
//   - loading Compose files through compose-go (file discovery, override
//     files, stdin, .env and --env-file, interpolation, profiles, extends,
//     include, multi-file merge, project-name rules);
//   - the `pods:` extension, which compose-go does not know: it is taken out
//     of the documents before compose-go sees them and merged by berth;
//   - validation: the JSON Schema (compose-go's embedded Compose schema plus
//     berth's schema for pods, see schemas/) and a list of small semantic
//     checks; errors name file:line:col and the key path;
//   - secrets and configs, resolved per service into FileMounts (target,
//     and a host file or the content of an environment variable or
//     `content:`); the reconciler mounts them;
//   - the normalized model (Project, Service, Network, Volume, Pod) that the
//     rest of berth sees — no compose-go type leaks out of this package;
//   - each service's config hash (see hash.go for what is in and out).
//
// It does not touch the machine: no containers, networks or volumes are
// created or inspected here.
package spec
