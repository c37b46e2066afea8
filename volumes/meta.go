package volumes

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/berth-dev/berth/internal/atomicfile"
)

// metaName is the per-volume state file.
const metaName = "meta.json"

// metaVersion is the current format of meta.json. Readers accept every
// version up to it; testdata/ keeps a sample of each.
const metaVersion = 1

// metaFile is the persisted state of one volume.
type metaFile struct {
	Version   int               `json:"version"`
	Name      string            `json:"name"`
	Driver    string            `json:"driver"`
	Options   map[string]string `json:"options,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
}

func writeMeta(path string, md metaFile) error {
	b, err := json.MarshalIndent(md, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o600)
}

func readMeta(path string) (metaFile, error) {
	var md metaFile
	b, err := os.ReadFile(path)
	if err != nil {
		return md, err
	}
	if err := json.Unmarshal(b, &md); err != nil {
		return md, fmt.Errorf("%s: %w", path, err)
	}
	if md.Version < 1 || md.Version > metaVersion {
		return md, fmt.Errorf("%s: format version %d, this berth reads 1 to %d: %w", path, md.Version, metaVersion, ErrNotSupported)
	}
	if md.Driver == "" {
		md.Driver = DriverLocal
	}
	return md, nil
}
