package reconciler

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/berth-dev/berth/spec"
)

// notRecreating are the service keys outside the config hash (see
// spec.ConfigHash): a change to them never explains a recreate.
var notRecreating = map[string]bool{
	"name": true, "replicas": true, "restart": true, "stop_grace_period": true,
	"depends_on": true, "profiles": true, "pull_policy": true, "expose": true,
	"config_hash": true, "security_opt": true,
}

// NormalizedConfig is the JSON of s that is stored next to a container's
// config hash, so that a later plan can say which key changed.
func NormalizedConfig(s *spec.Service) []byte {
	c := *s
	c.ConfigHash = ""
	b, err := json.Marshal(&c)
	if err != nil {
		return nil
	}
	return b
}

// describeChange names the keys that differ between the stored config old
// and s, e.g. "environment.DB_HOST changed". Without old it can only say
// that the configuration changed.
func describeChange(old []byte, s *spec.Service) string {
	if len(old) == 0 {
		return "configuration changed"
	}
	var a, b map[string]any
	if json.Unmarshal(old, &a) != nil || json.Unmarshal(NormalizedConfig(s), &b) != nil {
		return "configuration changed"
	}
	var keys []string
	for k := range union(a, b) {
		if notRecreating[k] || reflect.DeepEqual(a[k], b[k]) {
			continue
		}
		keys = append(keys, subKeys(k, a[k], b[k])...)
	}
	if len(keys) == 0 {
		return "configuration changed"
	}
	sort.Strings(keys)
	const max = 3
	if len(keys) > max {
		return fmt.Sprintf("%s and %d more changed", strings.Join(keys[:max], ", "), len(keys)-max)
	}
	return strings.Join(keys, ", ") + " changed"
}

// subKeys refines a changed key into its changed entries for maps and
// KEY=VALUE lists (environment, labels), which is what users change.
func subKeys(k string, a, b any) []string {
	if k != "environment" {
		if _, isList := a.([]any); isList {
			return []string{k}
		}
		if _, isList := b.([]any); isList {
			return []string{k}
		}
	}
	am, aok := asMap(a)
	bm, bok := asMap(b)
	if !aok || !bok {
		return []string{k}
	}
	var out []string
	for sk := range union(am, bm) {
		if !reflect.DeepEqual(am[sk], bm[sk]) {
			out = append(out, k+"."+sk)
		}
	}
	if len(out) == 0 {
		return []string{k}
	}
	return out
}

// asMap views a JSON object or a list of KEY=VALUE strings as a map; nil
// counts as an empty map.
func asMap(v any) (map[string]any, bool) {
	switch v := v.(type) {
	case nil:
		return map[string]any{}, true
	case map[string]any:
		return v, true
	case []any:
		m := map[string]any{}
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			key, val, ok := strings.Cut(s, "=")
			if !ok {
				return nil, false
			}
			m[key] = val
		}
		return m, true
	}
	return nil, false
}

func union(a, b map[string]any) map[string]bool {
	u := map[string]bool{}
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}
