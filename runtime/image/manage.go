package image

import (
	"context"

	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Tag gives the image src the name dst (name[:tag]), moving dst away from
// any image that had it, as `docker tag` does.
func (s *Store) Tag(ctx context.Context, src, dst string) error {
	r, err := ParseReference(dst)
	if err != nil {
		return err
	}
	if r.Digest != "" {
		return fmt.Errorf("tag %s: a tag cannot contain a digest: %w", dst, ErrInvalidReference)
	}
	return s.updateIndex(func(idx *indexFile) error {
		img, err := find(idx, src)
		if err != nil {
			return err
		}
		for _, other := range idx.Images {
			other.RepoTags = remove(other.RepoTags, r.TagString())
		}
		img.RepoTags = append(img.RepoTags, r.TagString())
		return nil
	})
}

// RemoveOptions change Remove.
type RemoveOptions struct {
	// Force untags an image a container uses (it stays, dangling, until
	// no container uses it), and removes an image with several
	// names when addressed by ID.
	Force bool
}

// RemoveResult says what Remove did, in Docker's terms.
type RemoveResult struct {
	Untagged []string // names removed
	Deleted  []string // image IDs deleted
}

// Remove removes ref as `docker rmi` does: a name is untagged, and the image
// is deleted when no name is left; an ID deletes the image with all its
// names. An image in use by a container (Options.InUse) is refused with
// ErrInUse unless o.Force. Layers and blobs no image references any more
// are removed.
func (s *Store) Remove(ctx context.Context, ref string, o RemoveOptions) (RemoveResult, error) {
	var res RemoveResult
	gc, err := lock(filepath.Join(s.dir, "gc.lock"), true)
	if err != nil {
		return res, err
	}
	defer gc.unlock()
	err = s.updateIndex(func(idx *indexFile) error {
		img, err := find(idx, ref)
		if err != nil {
			return err
		}
		byName := ""
		if r, perr := ParseReference(ref); perr == nil {
			if r.Digest != "" && contains(img.RepoDigests, r.Name()+"@"+r.Digest) {
				byName = r.Name() + "@" + r.Digest
			} else if contains(img.RepoTags, r.TagString()) {
				byName = r.TagString()
			}
		}
		deleteImage := true
		if byName != "" {
			if strings.Contains(byName, "@") {
				img.RepoDigests = remove(img.RepoDigests, byName)
			} else {
				img.RepoTags = remove(img.RepoTags, byName)
			}
			res.Untagged = append(res.Untagged, byName)
			deleteImage = len(img.RepoTags) == 0
		} else if len(img.RepoTags) > 1 && !o.Force {
			return fmt.Errorf("image %s is referenced by %d names (%s); remove by name or force: %w",
				img.ShortID(), len(img.RepoTags), strings.Join(img.RepoTags, ", "), ErrConflict)
		}
		if !deleteImage {
			return nil
		}
		used, err := s.inUse(img.ID)
		if err != nil {
			return err
		}
		if used && !o.Force {
			return fmt.Errorf("image %s (%s): %w; stop and remove the container or force", ref, img.ShortID(), ErrInUse)
		}
		for _, n := range img.RepoTags {
			res.Untagged = append(res.Untagged, n)
		}
		for _, n := range img.RepoDigests {
			res.Untagged = append(res.Untagged, n)
		}
		if used {
			// Forced while a container uses it: untag only, as Docker does.
			// The image stays, dangling, so the container's layers remain;
			// prune removes it once no container uses it.
			img.RepoTags, img.RepoDigests = nil, nil
			return nil
		}
		delete(idx.Images, img.ID)
		res.Deleted = append(res.Deleted, img.ID)
		return nil
	})
	if err != nil {
		return RemoveResult{}, fmt.Errorf("remove %s: %w", ref, err)
	}
	if len(res.Deleted) > 0 {
		if _, err := s.collect(); err != nil {
			return res, err
		}
	}
	return res, nil
}

func (s *Store) inUse(id string) (bool, error) {
	if s.opts.InUse == nil {
		return false, nil
	}
	used, err := s.opts.InUse(id)
	if err != nil {
		return false, fmt.Errorf("check whether a container uses image %s: %w", id, err)
	}
	return used, nil
}

// PruneOptions change Prune.
type PruneOptions struct {
	// All removes every image no container uses, not only untagged ones.
	All bool
}

// PruneResult says what Prune removed.
type PruneResult struct {
	Deleted        []string // image IDs
	SpaceReclaimed int64    // bytes of layers and blobs removed
}

// Prune removes untagged images (all unused images with o.All) that no
// container uses, then every layer and blob no image references.
func (s *Store) Prune(ctx context.Context, o PruneOptions) (PruneResult, error) {
	var res PruneResult
	gc, err := lock(filepath.Join(s.dir, "gc.lock"), true)
	if err != nil {
		return res, err
	}
	defer gc.unlock()
	err = s.updateIndex(func(idx *indexFile) error {
		for id, img := range idx.Images {
			if len(img.RepoTags) > 0 && !o.All {
				continue
			}
			used, err := s.inUse(id)
			if err != nil {
				return err
			}
			if used {
				continue
			}
			delete(idx.Images, id)
			res.Deleted = append(res.Deleted, id)
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("prune images: %w", err)
	}
	res.SpaceReclaimed, err = s.collect()
	return res, err
}

// collect removes layers and blobs no image references. The caller holds
// gc.lock exclusively, so no pull is adding unreferenced content meanwhile.
func (s *Store) collect() (int64, error) {
	idx, err := s.readIndex()
	if err != nil {
		return 0, err
	}
	used := referenced(idx)
	var freed int64
	for _, sub := range []string{"layers", filepath.Join("blobs", "sha256")} {
		dir := filepath.Join(s.dir, sub)
		ents, err := os.ReadDir(dir)
		if err != nil {
			return freed, fmt.Errorf("image store gc: %w", err)
		}
		for _, e := range ents {
			n := strings.TrimSuffix(e.Name(), ".lock")
			if used[n] {
				continue
			}
			p := filepath.Join(dir, e.Name())
			freed += diskUsage(p)
			s.log.Debug("removing unreferenced content", "path", p)
			if err := removeAll(p); err != nil {
				return freed, fmt.Errorf("image store gc: %w", err)
			}
		}
	}
	return freed, nil
}

// diskUsage is the apparent size of the files under p.
func diskUsage(p string) int64 {
	var n int64
	filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
