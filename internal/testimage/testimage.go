// Package testimage builds small OCI images for tests, without a registry on
// the internet: the busybox-static binary from Debian with its applet links,
// a passwd/group pair, and any extra files a test wants.
package testimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BusyboxPath is where Debian's busybox-static puts the binary.
const BusyboxPath = "/bin/busybox"

// epoch is the fixed mtime of every entry, so that layer digests are stable.
var epoch = time.Unix(1700000000, 0).UTC()

// File is one tar entry of a layer. Typeflag defaults to a regular file (or a
// directory when Name ends in "/").
type File struct {
	Name     string
	Typeflag byte
	Mode     int64
	Uid, Gid int
	Body     string
	Linkname string
	Devmajor int64
	Devminor int64
	Xattrs   map[string]string
}

// Layer builds an uncompressed layer from files, in the given order.
func Layer(files []File) (v1.Layer, error) {
	data, err := Tar(files)
	if err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.DockerLayer))
}

// Tar writes files into a tar archive, exactly as given (hostile names
// included: this is how tests build bad layers).
func Tar(files []File) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name:     f.Name,
			Typeflag: f.Typeflag,
			Mode:     f.Mode,
			Uid:      f.Uid,
			Gid:      f.Gid,
			Linkname: f.Linkname,
			Devmajor: f.Devmajor,
			Devminor: f.Devminor,
			ModTime:  epoch,
			Format:   tar.FormatPAX,
		}
		if len(f.Xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			for k, v := range f.Xattrs {
				h.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if h.Typeflag == 0 {
			if strings.HasSuffix(f.Name, "/") {
				h.Typeflag = tar.TypeDir
			} else {
				h.Typeflag = tar.TypeReg
			}
		}
		if h.Mode == 0 {
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			} else {
				h.Mode = 0o644
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(f.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.Name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.WriteString(tw, f.Body); err != nil {
				return nil, fmt.Errorf("tar %s: %w", f.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// BusyboxFiles returns the entries of a minimal busybox root filesystem: the
// usual top-level directories, /bin/busybox, one symlink per applet,
// /etc/passwd and /etc/group (root, nobody and an unprivileged "app" user
// 1000:1000 with supplementary group "extra" 1001).
func BusyboxFiles() ([]File, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("read busybox (apt-get install busybox-static): %w", err)
	}
	out, err := exec.Command(BusyboxPath, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list-full: %w", err)
	}
	dirs := map[string]bool{}
	for _, d := range []string{"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "tmp", "root", "home", "home/app", "var", "var/tmp", "proc", "sys", "dev", "run"} {
		dirs[d] = true
	}
	var links []string
	for _, l := range strings.Fields(string(out)) {
		if l == "bin/busybox" {
			continue
		}
		links = append(links, l)
		for d := path.Dir(l); d != "." && d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	var files []File
	var dirNames []string
	for d := range dirs {
		dirNames = append(dirNames, d)
	}
	sort.Strings(dirNames)
	for _, d := range dirNames {
		mode := int64(0o755)
		switch d {
		case "tmp", "var/tmp":
			mode = 0o1777
		case "root":
			mode = 0o700
		}
		f := File{Name: d + "/", Mode: mode}
		if d == "home/app" {
			f.Uid, f.Gid = 1000, 1000
		}
		files = append(files, f)
	}
	files = append(files, File{Name: "bin/busybox", Mode: 0o755, Body: string(bin)})
	sort.Strings(links)
	for _, l := range links {
		// Relative targets keep the image valid wherever its root is mounted.
		rel, err := filepath.Rel(path.Dir(l), "bin/busybox")
		if err != nil {
			return nil, err
		}
		files = append(files, File{Name: l, Typeflag: tar.TypeSymlink, Mode: 0o777, Linkname: rel})
	}
	files = append(files,
		File{Name: "etc/passwd", Body: "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
		File{Name: "etc/group", Body: "root:x:0:\napp:x:1000:\nextra:x:1001:app\nnogroup:x:65534:\n"},
	)
	return files, nil
}

// Busybox returns a one-layer busybox image whose config runs `sh`, changed
// by the given mutators of the config file (e.g. to set Cmd or Env), with
// extra layers on top.
func Busybox(configure func(*v1.Config), extra ...v1.Layer) (v1.Image, error) {
	files, err := BusyboxFiles()
	if err != nil {
		return nil, err
	}
	base, err := Layer(files)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, append([]v1.Layer{base}, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("busybox image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = "amd64"
	cf.OS = "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Cmd = []string{"sh"}
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if configure != nil {
		configure(&cf.Config)
	}
	return mutate.ConfigFile(img, cf)
}

// WriteRootfs writes the busybox root filesystem directly into dir (which
// must exist), for tests that need a rootfs without going through the image
// store. It needs root for the ownership of home/app.
func WriteRootfs(dir string) error {
	files, err := BusyboxFiles()
	if err != nil {
		return err
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(strings.TrimSuffix(f.Name, "/")))
		switch {
		case strings.HasSuffix(f.Name, "/"):
			if err := os.MkdirAll(p, os.FileMode(f.Mode).Perm()); err != nil {
				return err
			}
			if err := os.Chmod(p, fileMode(f.Mode)); err != nil {
				return err
			}
		case f.Typeflag == tar.TypeSymlink:
			if err := os.Symlink(f.Linkname, p); err != nil {
				return err
			}
		default:
			if err := os.WriteFile(p, []byte(f.Body), os.FileMode(f.Mode).Perm()); err != nil {
				return err
			}
		}
		if (f.Uid != 0 || f.Gid != 0) && os.Geteuid() == 0 {
			if err := os.Lchown(p, f.Uid, f.Gid); err != nil {
				return err
			}
		}
	}
	return nil
}

func fileMode(m int64) os.FileMode {
	mode := os.FileMode(m).Perm()
	if m&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	return mode
}
