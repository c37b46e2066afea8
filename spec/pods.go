package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/berth-dev/berth/schemas"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

var (
	podsSchemaOnce sync.Once
	podsSchema     *jsonschema.Schema
	podsSchemaErr  error
)

func compiledPodsSchema() (*jsonschema.Schema, error) {
	podsSchemaOnce.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemas.Pods))
		if err != nil {
			podsSchemaErr = fmt.Errorf("parse pods schema: %w", err)
			return
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource("pods.schema.json", doc); err != nil {
			podsSchemaErr = fmt.Errorf("add pods schema: %w", err)
			return
		}
		podsSchema, podsSchemaErr = c.Compile("pods.schema.json")
	})
	return podsSchema, podsSchemaErr
}

// validatePodsSchema checks the merged, interpolated pods value against
// schemas/pods.schema.json.
func validatePodsSchema(raw any) *Error {
	s, err := compiledPodsSchema()
	if err != nil {
		return &Error{Path: podsKey, Message: err.Error(), Err: err}
	}
	// Round-trip through JSON: the validator wants plain JSON types.
	b, err := json.Marshal(map[string]any{podsKey: raw})
	if err != nil {
		return &Error{Path: podsKey, Message: "cannot encode: " + err.Error()}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return &Error{Path: podsKey, Message: "cannot decode: " + err.Error()}
	}
	err = s.Validate(doc)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		if err != nil {
			return &Error{Path: podsKey, Message: err.Error()}
		}
		return nil
	}
	ve = mostSpecific(ve)
	var path strings.Builder
	for i, seg := range ve.InstanceLocation {
		if _, err := strconv.Atoi(seg); err == nil && i > 0 {
			path.WriteString("[" + seg + "]")
			continue
		}
		if i > 0 {
			path.WriteByte('.')
		}
		path.WriteString(seg)
	}
	msg := ve.ErrorKind.LocalizedString(message.NewPrinter(language.English))
	if ap, ok := ve.ErrorKind.(*kind.AdditionalProperties); ok && len(ap.Properties) > 0 {
		return &Error{Path: path.String() + "." + ap.Properties[0], Message: "unknown key"}
	}
	return &Error{Path: path.String(), Message: msg}
}

// mostSpecific picks the deepest cause, as compose-go does; an unknown
// key counts one level deeper than its mapping.
func mostSpecific(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return e
	}
	var best *jsonschema.ValidationError
	for _, c := range e.Causes {
		if c = mostSpecific(c); best == nil || specificity(c) > specificity(best) {
			best = c
		}
	}
	return best
}

func specificity(e *jsonschema.ValidationError) int {
	if _, ok := e.ErrorKind.(*kind.AdditionalProperties); ok {
		return len(e.InstanceLocation) + 1
	}
	return len(e.InstanceLocation)
}

// pods decodes the pods extension (already merged across files and
// interpolated by compose-go). Structure errors come from the schema;
// references are checked in validate.
func (c *converter) pods(raw any) []Pod {
	if raw == nil {
		return nil
	}
	if e := validatePodsSchema(raw); e != nil {
		c.errs = append(c.errs, e)
		return nil
	}
	m, _ := raw.(map[string]any)
	var out []Pod
	for _, name := range sortedKeys(m) {
		base := podsKey + "." + name
		def, _ := m[name].(map[string]any)
		p := Pod{Name: name}
		for _, s := range anyList(def["services"]) {
			p.Services = append(p.Services, fmt.Sprint(s))
		}
		sort.Strings(p.Services)
		if share, ok := def["share"]; ok {
			for _, s := range anyList(share) {
				p.Share = append(p.Share, fmt.Sprint(s))
			}
		} else {
			p.Share = []string{ShareNetwork, ShareIPC, ShareUTS}
		}
		sort.Strings(p.Share)
		for i, port := range anyList(def["ports"]) {
			spec := fmt.Sprint(port)
			mappings, err := ParsePortSpec(spec)
			if err != nil {
				c.fail(fmt.Sprintf("%s.ports[%d]", base, i), "%v", err)
				continue
			}
			p.Ports = append(p.Ports, mappings...)
		}
		switch nets := def["networks"].(type) {
		case []any:
			for _, n := range nets {
				p.Networks = append(p.Networks, ServiceNetwork{Name: fmt.Sprint(n)})
			}
		case map[string]any:
			for _, key := range sortedKeys(nets) {
				sn := ServiceNetwork{Name: key}
				if o, ok := nets[key].(map[string]any); ok {
					for _, a := range anyList(o["aliases"]) {
						sn.Aliases = append(sn.Aliases, fmt.Sprint(a))
					}
					sort.Strings(sn.Aliases)
					sn.IPv4Address, _ = o["ipv4_address"].(string)
					sn.IPv6Address, _ = o["ipv6_address"].(string)
					sn.MacAddress, _ = o["mac_address"].(string)
					switch pr := o["priority"].(type) {
					case int:
						sn.Priority = pr
					case float64:
						sn.Priority = int(pr)
					}
				}
				p.Networks = append(p.Networks, sn)
			}
		}
		sortNetworks(p.Networks)
		p.Hostname, _ = def["hostname"].(string)
		out = append(out, p)
	}
	return out
}

func anyList(v any) []any {
	l, _ := v.([]any)
	return l
}
