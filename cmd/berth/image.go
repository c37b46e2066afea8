package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/image"
)

func init() {
	registerCommand(newImageCmd)
}

func newImageCmd(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "image",
		Short: "Manage images: pull, push, ls, inspect, rm, tag, load, save, prune",
	}
	c.AddCommand(
		newImagePullCmd(g), newImagePushCmd(g), newImageLsCmd(g), newImageInspectCmd(g),
		newImageRmCmd(g), newImageTagCmd(g), newImageLoadCmd(g), newImageSaveCmd(g),
		newImagePruneCmd(g),
	)
	return c
}

func newImagePullCmd(g *globalOptions) *cobra.Command {
	var platform string
	var quiet bool
	c := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]...",
		Short: "Pull images from a registry (through configured mirrors)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.openImages()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, ref := range args {
				p := newPullProgress(out, quiet, isTerminal(out))
				img, err := s.Pull(cmd.Context(), ref, image.PullOptions{Platform: platform, Progress: p.update})
				p.finish()
				if err != nil {
					return err
				}
				r, _ := image.ParseReference(ref)
				if quiet {
					fmt.Fprintln(out, r.String())
					continue
				}
				fmt.Fprintf(out, "Pulled %s (%s, %s)\n", r.String(), img.ID, humanSize(uint64(img.Size)))
			}
			return nil
		},
	}
	c.Flags().StringVar(&platform, "platform", "", "platform os/arch[/variant] to pull from a multi-platform image (default: this host's)")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress output; print only the image name")
	return c
}

func newImagePushCmd(g *globalOptions) *cobra.Command {
	var quiet bool
	c := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Push an image to the registry its name says",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.openImages()
			if err != nil {
				return err
			}
			d, err := s.Push(cmd.Context(), args[0], image.PushOptions{})
			if err != nil {
				return err
			}
			r, _ := image.ParseReference(args[0])
			if quiet {
				fmt.Fprintln(cmd.OutOrStdout(), r.Name()+"@"+d)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Pushed %s: digest %s\n", r.String(), d)
			return nil
		},
	}
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only name@digest")
	return c
}

func newImageLsCmd(g *globalOptions) *cobra.Command {
	var quiet bool
	var format string
	var filters []string
	c := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List images",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			match, err := parseImageFilters(filters)
			if err != nil {
				return err
			}
			s, err := g.openImages()
			if err != nil {
				return err
			}
			imgs, err := s.List(cmd.Context())
			if err != nil {
				return err
			}
			var rows []imageRow
			for _, r := range imageRows(imgs) {
				if match(r) {
					rows = append(rows, r)
				}
			}
			return writeList(cmd.OutOrStdout(), rows, format, quiet, imageTable)
		},
	}
	c.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter output (dangling=true|false, label=<key>[=<value>], reference=<pattern>)")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "only image IDs")
	c.Flags().StringVar(&format, "format", "", listFormatHelp)
	return c
}

// imageRow is one line of `image ls` (an image is listed once per tag),
// with Docker's field names for --format templates.
type imageRow struct {
	Repository string `json:"Repository"`
	Tag        string `json:"Tag"`
	ID         string `json:"ID"`
	CreatedAt  string `json:"CreatedAt"`
	Size       int64  `json:"Size"`
	labels     map[string]string
}

var imageTable = listTable[imageRow]{
	Header: "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE",
	Cells: func(r imageRow) string {
		return strings.Join([]string{r.Repository, r.Tag, r.ID, r.CreatedAt, humanSize(uint64(r.Size))}, "\t")
	},
	Quiet: func(r imageRow) string { return r.ID },
}

// parseImageFilters reads Docker's image ls filters: dangling=true|false
// (no name), label=KEY[=VALUE] and reference=PATTERN (a glob on the short
// name with or without the tag, as Docker matches it: busybox, busy*:1).
func parseImageFilters(fs []string) (func(imageRow) bool, error) {
	f, err := parseListFilter(fs, "dangling", "label", "reference")
	if err != nil {
		return nil, err
	}
	for _, v := range f["dangling"] {
		if _, err := strconv.ParseBool(v); err != nil {
			return nil, fmt.Errorf("invalid filter \"dangling=%s\": dangling takes true or false", v)
		}
	}
	for _, v := range f["reference"] {
		if _, err := path.Match(v, ""); err != nil {
			return nil, fmt.Errorf("invalid filter \"reference=%s\": %w", v, err)
		}
	}
	return func(r imageRow) bool {
		dangling := r.Repository == "<none>"
		return f.match(func(k, v string) bool {
			switch k {
			case "dangling":
				b, _ := strconv.ParseBool(v)
				return b == dangling
			case "label":
				return matchLabel(r.labels, v)
			default: // reference
				if dangling {
					return false
				}
				m1, _ := path.Match(v, r.Repository)
				m2, _ := path.Match(v, r.Repository+":"+r.Tag)
				return m1 || m2
			}
		})
	}, nil
}

func imageRows(imgs []*image.Image) []imageRow {
	var rows []imageRow
	for _, img := range imgs {
		tags := img.RepoTags
		if len(tags) == 0 {
			tags = []string{""}
		}
		for _, t := range tags {
			row := imageRow{Repository: "<none>", Tag: "<none>", ID: img.ShortID(), CreatedAt: img.Created.UTC().Format(time.RFC3339), Size: img.Size, labels: img.Config.Labels}
			if t != "" {
				r, err := image.ParseReference(t)
				if err == nil {
					f := r.Familiar()
					row.Repository, row.Tag = strings.TrimSuffix(f, ":"+r.Tag), r.Tag
				}
			}
			rows = append(rows, row)
		}
	}
	return rows
}

func newImageInspectCmd(g *globalOptions) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE...",
		Short: "Show images as JSON (ID, names, config, layers and their directories)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.openImages()
			if err != nil {
				return err
			}
			return inspectAll(cmd.OutOrStdout(), args, format, func(ref string) (*image.Image, error) {
				return s.Get(cmd.Context(), ref)
			})
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "", inspectFormatHelp)
	return c
}

func newImageRmCmd(g *globalOptions) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:     "rm [OPTIONS] IMAGE...",
		Aliases: []string{"remove", "rmi"},
		Short:   "Remove images (refused for images a container uses, unless -f)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.openImages()
			if err != nil {
				return err
			}
			var failed error
			for _, ref := range args {
				res, err := s.Remove(cmd.Context(), ref, image.RemoveOptions{Force: force})
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "berth:", err)
					failed = &exitError{code: 1}
					continue
				}
				for _, u := range res.Untagged {
					fmt.Fprintln(cmd.OutOrStdout(), "Untagged:", u)
				}
				for _, d := range res.Deleted {
					fmt.Fprintln(cmd.OutOrStdout(), "Deleted:", d)
				}
			}
			return failed
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "remove even if a container uses the image or it has several names")
	return c
}

func newImageTagCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE TARGET_IMAGE[:TAG]",
		Short: "Give an image another name",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.openImages()
			if err != nil {
				return err
			}
			return s.Tag(cmd.Context(), args[0], args[1])
		},
	}
}

func newImageLoadCmd(g *globalOptions) *cobra.Command {
	var input, platform string
	var quiet bool
	c := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load images from a docker save tarball or an OCI layout (directory or tar), file or stdin",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.openImages()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			p := newPullProgress(out, true, false)
			o := image.LoadOptions{Platform: platform, Progress: p.update}
			var imgs []*image.Image
			if input == "" || input == "-" {
				imgs, err = s.Load(cmd.Context(), cmd.InOrStdin(), o)
			} else {
				imgs, err = s.LoadPath(cmd.Context(), input, o)
			}
			for _, img := range imgs {
				if quiet {
					continue
				}
				if len(img.RepoTags) == 0 {
					fmt.Fprintln(out, "Loaded image ID:", img.ID)
				}
				for _, t := range img.RepoTags {
					r, _ := image.ParseReference(t)
					fmt.Fprintln(out, "Loaded image:", r.Familiar())
				}
			}
			return err
		},
	}
	c.Flags().StringVarP(&input, "input", "i", "", "read from this file or OCI layout directory instead of stdin")
	c.Flags().StringVar(&platform, "platform", "", "platform to pick from multi-platform OCI indexes")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing")
	return c
}

func newImageSaveCmd(g *globalOptions) *cobra.Command {
	var output, format string
	c := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE...",
		Short: "Write images to a tar archive (docker save format by default, or --format oci)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			s, err := g.openImages()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output != "" && output != "-" {
				f, err := os.CreateTemp(filepath.Dir(output), ".berth-save-*")
				if err != nil {
					return fmt.Errorf("save: %w", err)
				}
				defer func() {
					if err != nil {
						os.Remove(f.Name())
					}
				}()
				defer f.Close()
				if err := s.Save(cmd.Context(), f, args, image.SaveOptions{Format: image.SaveFormat(format)}); err != nil {
					return err
				}
				if err := f.Close(); err != nil {
					return fmt.Errorf("save %s: %w", output, err)
				}
				return os.Rename(f.Name(), output)
			}
			if isTerminal(w) {
				return errors.New("save: refusing to write an archive to a terminal; use -o FILE or redirect")
			}
			return s.Save(cmd.Context(), w, args, image.SaveOptions{Format: image.SaveFormat(format)})
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of stdout")
	c.Flags().StringVar(&format, "format", "docker", "archive format: docker (docker save/load) or oci (OCI image layout)")
	return c
}

func newImagePruneCmd(g *globalOptions) *cobra.Command {
	var all, force bool
	c := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused images (untagged ones; all unused with -a) and unreferenced layers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.openImages()
			if err != nil {
				return err
			}
			res, err := s.Prune(cmd.Context(), image.PruneOptions{All: all})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(res.Deleted) > 0 {
				fmt.Fprintln(out, "Deleted Images:")
				sort.Strings(res.Deleted)
				for _, d := range res.Deleted {
					fmt.Fprintln(out, "deleted:", d)
				}
			}
			fmt.Fprintln(out, "Total reclaimed space:", humanSize(uint64(res.SpaceReclaimed)))
			return nil
		},
	}
	c.Flags().BoolVarP(&all, "all", "a", false, "remove all images no container uses, not only untagged ones")
	c.Flags().BoolVarP(&force, "force", "f", false, "do not prompt (berth never prompts; accepted for Docker compatibility)")
	return c
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// pullProgress renders image.Progress events: on a terminal one redrawn
// line per layer with bytes and rate; otherwise plain lines at each layer's
// start and end; with quiet nothing.
type pullProgress struct {
	w      io.Writer
	quiet  bool
	tty    bool
	order  []string
	layers map[string]*layerLine
	drawn  int       // lines drawn last time (tty)
	last   time.Time // last redraw (tty)
	now    func() time.Time
}

type layerLine struct {
	phase          image.Phase
	current, total int64
	start          time.Time
	msg            string
}

func newPullProgress(w io.Writer, quiet, tty bool) *pullProgress {
	return &pullProgress{w: w, quiet: quiet, tty: tty, layers: map[string]*layerLine{}, now: time.Now}
}

func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// update is the image.PullOptions.Progress callback (calls are serialized).
func (p *pullProgress) update(ev image.Progress) {
	if p.quiet {
		return
	}
	if ev.Layer == "" {
		switch ev.Phase {
		case image.PhaseResolving:
			p.line(fmt.Sprintf("%s: resolving %s", ev.Image, ev.Message))
		case image.PhaseFallback:
			p.line(fmt.Sprintf("%s: %s; trying the next endpoint", ev.Image, ev.Message))
		}
		return
	}
	l := p.layers[ev.Layer]
	if l == nil {
		l = &layerLine{}
		p.layers[ev.Layer] = l
		p.order = append(p.order, ev.Layer)
	}
	prev := l.phase
	l.phase, l.current, l.total, l.msg = ev.Phase, ev.Current, ev.Total, ev.Message
	if ev.Phase == image.PhaseDownloading && l.start.IsZero() {
		l.start = p.now()
	}
	if p.tty {
		if ev.Phase != image.PhaseDownloading || p.now().Sub(p.last) >= 100*time.Millisecond {
			p.redraw()
		}
		return
	}
	if ev.Phase == prev {
		return
	}
	switch ev.Phase {
	case image.PhaseDownloading:
		p.line(fmt.Sprintf("%s: downloading %s", shortDigest(ev.Layer), humanSize(uint64(ev.Total))))
	case image.PhaseDone, image.PhaseExists, image.PhaseFailed:
		p.line(p.describe(ev.Layer, l))
	}
}

// line prints a plain line (above the tty block, which is redrawn after).
func (p *pullProgress) line(s string) {
	if p.tty && p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA\x1b[J", p.drawn)
		p.drawn = 0
		fmt.Fprintln(p.w, s)
		p.redraw()
		return
	}
	fmt.Fprintln(p.w, s)
}

func (p *pullProgress) describe(id string, l *layerLine) string {
	s := shortDigest(id) + ": "
	switch l.phase {
	case image.PhaseWaiting:
		return s + "waiting"
	case image.PhaseExists:
		return s + "already present"
	case image.PhaseFailed:
		return s + "failed: " + l.msg
	case image.PhaseDownloading, image.PhaseDone:
		el := p.now().Sub(l.start).Seconds()
		rate := ""
		if el > 0 {
			rate = fmt.Sprintf(" %s/s", humanSize(uint64(float64(l.current)/el)))
		}
		if l.phase == image.PhaseDone {
			return s + fmt.Sprintf("done %s%s", humanSize(uint64(l.current)), rate)
		}
		pct := ""
		if l.total > 0 {
			pct = fmt.Sprintf(" %3d%%", l.current*100/l.total)
		}
		return s + fmt.Sprintf("downloading %s/%s%s%s", humanSize(uint64(l.current)), humanSize(uint64(l.total)), pct, rate)
	}
	return s + string(l.phase)
}

func (p *pullProgress) redraw() {
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA", p.drawn)
	}
	for _, id := range p.order {
		fmt.Fprintf(p.w, "\x1b[2K%s\n", p.describe(id, p.layers[id]))
	}
	p.drawn = len(p.order)
	p.last = p.now()
}

// finish draws the final state once more on a terminal.
func (p *pullProgress) finish() {
	if p.tty && !p.quiet && len(p.order) > 0 {
		p.redraw()
	}
}

// runtimeImages adapts the image store to the container runtime's Images
// interface (local lookup only; pulling is the caller's decision).
type runtimeImages struct{ store *image.Store }

var _ runtime.Images = runtimeImages{}

func (ri runtimeImages) Resolve(ctx context.Context, ref string) (runtime.Image, error) {
	img, err := ri.store.Get(ctx, ref)
	if err != nil {
		if errors.Is(err, image.ErrNotFound) {
			return runtime.Image{}, fmt.Errorf("%w (%w)", err, runtime.ErrNotFound)
		}
		return runtime.Image{}, err
	}
	c := img.Config
	return runtime.Image{
		Ref:       ref,
		ID:        img.ID,
		LowerDirs: img.LowerDirs(),
		Config: runtime.ImageConfig{
			Entrypoint: c.Entrypoint,
			Cmd:        c.Cmd,
			Env:        c.Env,
			WorkingDir: c.WorkingDir,
			User:       c.User,
			StopSignal: c.StopSignal,
			Labels:     c.Labels,
		},
	}, nil
}
