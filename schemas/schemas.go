package schemas

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	composeschema "github.com/compose-spec/compose-go/v2/schema"
)

// Pods is berth's schema for the top-level `pods:` key. It is a complete
// schema on its own (a document with only `pods`), so that it can be
// compiled and used for validating the pods extension alone.
//
//go:embed pods.schema.json
var Pods []byte

// CombinedID is the $id of the combined schema.
const CombinedID = "https://github.com/berth-dev/berth/schemas/berth.schema.json"

// defPrefix keeps berth's definitions apart from the Compose ones.
const defPrefix = "berth_"

// Combined returns the schema of a berth manifest: compose-go's embedded
// Compose Specification schema with the `pods` property and its
// definitions added. The result is deterministic (sorted keys, indented).
func Combined() ([]byte, error) {
	var compose map[string]any
	if err := json.Unmarshal([]byte(composeschema.Schema), &compose); err != nil {
		return nil, fmt.Errorf("parse compose-spec schema: %w", err)
	}
	var pods map[string]any
	if err := json.Unmarshal(Pods, &pods); err != nil {
		return nil, fmt.Errorf("parse pods schema: %w", err)
	}
	podDefs, _ := pods["$defs"].(map[string]any)
	props, _ := compose["properties"].(map[string]any)
	defs, _ := compose["$defs"].(map[string]any)
	if podDefs == nil || props == nil || defs == nil {
		return nil, fmt.Errorf("combine schemas: unexpected schema layout")
	}
	if _, taken := props["pods"]; taken {
		return nil, fmt.Errorf("combine schemas: the Compose schema now defines pods itself")
	}
	for name, def := range podDefs {
		defs[defPrefix+name] = renameRefs(def)
	}
	podsProp, _ := pods["properties"].(map[string]any)
	props["pods"] = renameRefs(podsProp["pods"])
	compose["$id"] = CombinedID
	compose["title"] = "berth manifest (Compose Specification + pods)"
	out, err := json.MarshalIndent(compose, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode combined schema: %w", err)
	}
	return append(out, '\n'), nil
}

// renameRefs rewrites "#/$defs/x" to "#/$defs/berth_x" inside v.
func renameRefs(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			if s, ok := x.(string); k == "$ref" && ok && strings.HasPrefix(s, "#/$defs/") {
				out[k] = "#/$defs/" + defPrefix + strings.TrimPrefix(s, "#/$defs/")
				continue
			}
			out[k] = renameRefs(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = renameRefs(x)
		}
		return out
	default:
		return v
	}
}
