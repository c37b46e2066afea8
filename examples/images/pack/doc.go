// Command pack turns a root filesystem tarball (as written by mmdebstrap)
// into a one-layer OCI image and pushes such images to a registry.
//
// It owns only the step from "a rootfs tar and an image config" to "an OCI
// image layout on disk", from that layout to a registry, and the mirror
// entry in berth's registries.yaml; building the
// rootfs (mmdebstrap), caching and starting the registry belong to the
// scripts beside it (../build.sh, ../registry.sh). It is not part of berth:
// berth's own image store lives in runtime/image.
//
//	pack build -rootfs mariadb.tar -config mariadb/config.json -out DIR [-epoch N]
//	pack push  -layout DIR REF...
//	pack mirror -file registries.yaml -mirror http://127.0.0.1:5000
//
// build normalises the tarball so that the same rootfs always gives the same
// layer digest: modification times are clamped to -epoch, access and change
// times are dropped, device nodes and FIFOs are left out (the runtime
// provides /dev), and "./" prefixes are removed.
//
// push skips a tag that already points to the same digest. mirror makes a
// registry the first docker.io mirror in berth's registries.yaml (format
// owned by runtime/image), keeping the file's other entries.
package main
