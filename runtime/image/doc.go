// Package image is berth's image store: it turns image references into
// unpacked, content-addressed layer directories that overlayfs can stack.
//
// It owns:
//   - references, normalized exactly as Docker does (ParseReference);
//   - the registry configuration (registries.yaml: mirrors, insecure registries);
//   - pulling with go-containerregistry (platform resolution, Docker keychain,
//     parallel layer download, digest verification, mirror fallback) and pushing;
//   - the on-disk store under <root>/images: blobs as fetched (for save/push),
//     one unpacked directory per layer DiffID shared by every image, and an
//     index of images and their names;
//   - unpacking layers safely (openat2 RESOLVE_BENEATH, hostile layers refused)
//     with whiteouts converted to overlayfs form;
//   - load/save of `docker save` tarballs and OCI layouts/archives, tag, rm, prune.
//
// It does not own containers: it cannot see which image a container uses, so
// Remove and Prune ask the Options.InUse hook. It does not mount overlay
// filesystems; Image.LowerDirs gives the runtime the directories to stack.
//
// On-disk layout (dir = <root>/images):
//
//	index.json                 images and their names (versioned, written atomically)
//	blobs/sha256/<hex>         manifests, configs and layer blobs as fetched
//	layers/<hex>/diff/         one unpacked layer, named by its DiffID
//	layers/<hex>/layer.json    its unpacked size
//	tmp/                       work space of running pulls; emptied on Open
//	gc.lock                    shared by pulls/loads, exclusive for rm/prune/cleanup
//	index.lock                 serializes read-modify-write of index.json
//	layers/<hex>.lock          one unpacker per layer across processes
//
// A layer directory is built in tmp/ and renamed into layers/ only when it is
// complete and verified, so an interrupted pull never leaves a half layer that
// counts as complete.
package image
