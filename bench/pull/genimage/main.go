// Command genimage builds the pull benchmark's image deterministically and
// pushes it to a registry: several layers, each with a few large files of
// pseudo-random (incompressible) bytes and many small files, half random and
// half text, so that both throughput and per-file costs show.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func main() {
	ref := flag.String("ref", "", "where to push, e.g. 127.0.0.1:5000/bench/big:1")
	layers := flag.Int("layers", 5, "number of layers")
	bigMB := flag.Int("big-mb", 8, "size of each large file in MB")
	bigPerLayer := flag.Int("big", 2, "large files per layer")
	small := flag.Int("small", 250, "small files (32 KiB) per layer")
	flag.Parse()
	if *ref == "" {
		log.Fatal("genimage: -ref is required")
	}
	epoch := time.Unix(1700000000, 0)
	var ls []v1.Layer
	var total int64
	for i := 0; i < *layers; i++ {
		rng := rand.NewChaCha8([32]byte{byte(i), 'b', 'e', 'r', 't', 'h'})
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		add := func(name string, body []byte) {
			h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
			if err := tw.WriteHeader(h); err != nil {
				log.Fatal(err)
			}
			tw.Write(body)
			total += int64(len(body))
		}
		dir := fmt.Sprintf("layer%d/", i)
		tw.WriteHeader(&tar.Header{Name: dir, Mode: 0o755, Typeflag: tar.TypeDir, ModTime: epoch, Format: tar.FormatPAX})
		for j := 0; j < *bigPerLayer; j++ {
			b := make([]byte, *bigMB<<20)
			rng.Read(b)
			add(fmt.Sprintf("%sbig%d.bin", dir, j), b)
		}
		text := []byte(strings.Repeat("berth pull benchmark: some text that compresses well. ", 700))[:32<<10]
		for j := 0; j < *small; j++ {
			b := make([]byte, 32<<10)
			if j%2 == 0 {
				rng.Read(b)
			} else {
				copy(b, text)
			}
			add(fmt.Sprintf("%ssmall/%04d", dir, j), b)
		}
		tw.Close()
		data := buf.Bytes()
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
			tarball.WithMediaType(types.DockerLayer))
		if err != nil {
			log.Fatal(err)
		}
		ls = append(ls, l)
	}
	img, err := mutate.AppendLayers(empty.Image, ls...)
	if err != nil {
		log.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", "amd64", v1.Time{Time: epoch}
	img, _ = mutate.ConfigFile(img, cf)
	r, err := name.ParseReference(*ref)
	if err != nil {
		log.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		log.Fatal(err)
	}
	m, _ := img.Manifest()
	var compressed int64
	for _, l := range m.Layers {
		compressed += l.Size
	}
	// Machine-readable for run.sh: uncompressed and compressed bytes.
	fmt.Fprintf(os.Stdout, "%d %d\n", total, compressed)
}
