package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/berth-dev/berth/spec"
)

func TestWriteConfig(t *testing.T) {
	t.Parallel()
	p := &spec.Project{
		Name: "demo",
		Services: []spec.Service{
			{Name: "a", Image: "img:1", ConfigHash: "h1"},
			{Name: "b", Image: "img:1", ConfigHash: "h2"},
		},
		Volumes:          []spec.Volume{{Key: "data"}},
		DeclaredProfiles: []string{"debug"},
	}
	for _, tc := range []struct {
		name    string
		o       configOptions
		want    string
		wantErr string
	}{
		{"services", configOptions{Services: true}, "a\nb\n", ""},
		{"images deduplicated", configOptions{Images: true}, "img:1\n", ""},
		{"volumes", configOptions{Volumes: true}, "data\n", ""},
		{"profiles", configOptions{Profiles: true}, "debug\n", ""},
		{"hash all", configOptions{Hash: "*"}, "a h1\nb h2\n", ""},
		{"hash subset in given order", configOptions{Hash: "b, a"}, "b h2\na h1\n", ""},
		{"hash unknown service", configOptions{Hash: "c"}, "", "no such service: c"},
		{"quiet", configOptions{Quiet: true, Services: true}, "", ""},
		{"json", configOptions{Format: "json"}, `"name": "demo"`, ""},
		{"yaml", configOptions{Format: "yaml"}, "name: demo\n", ""},
	} {
		var out bytes.Buffer
		err := writeConfig(&out, p, tc.o)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if tc.o.Format != "" {
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("%s: output lacks %q:\n%s", tc.name, tc.want, out.String())
			}
		} else if out.String() != tc.want {
			t.Errorf("%s: output %q, want %q", tc.name, out.String(), tc.want)
		}
	}
}
