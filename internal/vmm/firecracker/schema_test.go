package firecracker

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"testing"
)

// specFile is Firecracker's OpenAPI (swagger 2.0) spec of release
// SpecVersion, converted from YAML to JSON; see testdata/README.md.
const specFile = "testdata/firecracker-v1.16.1.swagger.json"

type spec struct {
	Info        struct{ Version string }
	Paths       map[string]map[string]specOp
	Definitions map[string]*schema
}

type specOp struct {
	Parameters []struct {
		Name     string
		In       string
		Required bool
		Schema   *schema
	}
}

// schema is the subset of JSON schema the spec's request bodies use.
type schema struct {
	Ref        string             `json:"$ref"`
	Type       string             `json:"type"`
	Required   []string           `json:"required"`
	Properties map[string]*schema `json:"properties"`
	Enum       []any              `json:"enum"`
	Minimum    *float64           `json:"minimum"`
	Maximum    *float64           `json:"maximum"`
	Items      *schema            `json:"items"`
}

func loadSpec(t *testing.T) *spec {
	t.Helper()
	b, err := os.ReadFile(specFile)
	if err != nil {
		t.Fatalf("read spec: %v", err)
	}
	var s spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("parse spec: %v", err)
	}
	if s.Info.Version != SpecVersion {
		t.Fatalf("spec is version %q, SpecVersion says %q", s.Info.Version, SpecVersion)
	}
	return &s
}

// match finds the spec path template for a concrete path and the values of
// its {parameters}.
func (s *spec) match(path string) (string, map[string]string, bool) {
	parts := strings.Split(path, "/")
	for tmpl := range s.Paths {
		tp := strings.Split(tmpl, "/")
		if len(tp) != len(parts) {
			continue
		}
		params := map[string]string{}
		ok := true
		for i := range tp {
			if strings.HasPrefix(tp[i], "{") && strings.HasSuffix(tp[i], "}") {
				params[strings.Trim(tp[i], "{}")] = parts[i]
			} else if tp[i] != parts[i] {
				ok = false
				break
			}
		}
		if ok {
			return tmpl, params, true
		}
	}
	return "", nil, false
}

// validateRequest checks a request against the spec: the path and method
// exist, the body matches the body parameter's schema, and path parameters
// agree with the body field of the same name (Firecracker rejects a
// mismatch).
func (s *spec) validateRequest(method, path string, body []byte) error {
	tmpl, params, ok := s.match(path)
	if !ok {
		return fmt.Errorf("%s %s: no such path in the spec", method, path)
	}
	op, ok := s.Paths[tmpl][strings.ToLower(method)]
	if !ok {
		return fmt.Errorf("%s %s: the spec has no %s for %s", method, path, method, tmpl)
	}
	var bodySchema *schema
	for _, p := range op.Parameters {
		if p.In == "body" {
			bodySchema = p.Schema
		}
	}
	if bodySchema == nil {
		if len(body) > 0 {
			return fmt.Errorf("%s %s: body sent, the spec takes none", method, path)
		}
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("%s %s: body is not JSON: %w", method, path, err)
	}
	if err := s.validate(bodySchema, v, "body"); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	obj, _ := v.(map[string]any)
	for k, pv := range params {
		if bv, ok := obj[k]; ok && bv != pv {
			return fmt.Errorf("%s %s: path parameter %s=%q but body has %v", method, path, k, pv, bv)
		}
	}
	return nil
}

func (s *spec) validate(sc *schema, v any, at string) error {
	for sc.Ref != "" {
		name, ok := strings.CutPrefix(sc.Ref, "#/definitions/")
		if !ok || s.Definitions[name] == nil {
			return fmt.Errorf("%s: unresolvable $ref %q", at, sc.Ref)
		}
		sc = s.Definitions[name]
	}
	switch sc.Type {
	case "object", "":
		obj, ok := v.(map[string]any)
		if !ok {
			if sc.Type == "" {
				break
			}
			return fmt.Errorf("%s: %T, want object", at, v)
		}
		for _, r := range sc.Required {
			if _, ok := obj[r]; !ok {
				return fmt.Errorf("%s: required field %q missing", at, r)
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p, ok := sc.Properties[k]
			if !ok {
				// Firecracker's serde structs deny unknown fields.
				return fmt.Errorf("%s: unknown field %q", at, k)
			}
			if err := s.validate(p, obj[k], at+"."+k); err != nil {
				return err
			}
		}
	case "string":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: %T, want string", at, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: %T, want boolean", at, v)
		}
	case "integer", "number":
		n, ok := v.(float64)
		if !ok {
			return fmt.Errorf("%s: %T, want %s", at, v, sc.Type)
		}
		if sc.Type == "integer" && n != math.Trunc(n) {
			return fmt.Errorf("%s: %v, want integer", at, n)
		}
		if sc.Minimum != nil && n < *sc.Minimum {
			return fmt.Errorf("%s: %v below minimum %v", at, n, *sc.Minimum)
		}
		if sc.Maximum != nil && n > *sc.Maximum {
			return fmt.Errorf("%s: %v above maximum %v", at, n, *sc.Maximum)
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: %T, want array", at, v)
		}
		for i, e := range arr {
			if sc.Items != nil {
				if err := s.validate(sc.Items, e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	default:
		return fmt.Errorf("%s: schema type %q not supported by this checker", at, sc.Type)
	}
	if len(sc.Enum) > 0 {
		for _, e := range sc.Enum {
			if e == v {
				return nil
			}
		}
		return fmt.Errorf("%s: %v not one of %v", at, v, sc.Enum)
	}
	return nil
}

// The checker itself must reject what Firecracker would.
func TestSchemaChecker(t *testing.T) {
	s := loadSpec(t)
	tests := []struct {
		method, path, body string
		wantErr            string
	}{
		{"PUT", "/machine-config", `{"vcpu_count":2,"mem_size_mib":256}`, ""},
		{"PUT", "/machine-config", `{"vcpu_count":0,"mem_size_mib":256}`, "below minimum"},
		{"PUT", "/machine-config", `{"vcpu_count":2}`, `"mem_size_mib" missing`},
		{"PUT", "/machine-config", `{"vcpu_count":2,"mem_size_mib":"256"}`, "want integer"},
		{"PUT", "/vsock", `{"guest_cid":2,"uds_path":"/x"}`, "below minimum"},
		{"PUT", "/actions", `{"action_type":"Reboot"}`, "not one of"},
		{"PUT", "/drives/rootfs", `{"drive_id":"other","is_root_device":true,"path_on_host":"/x","is_read_only":false}`, "path parameter"},
		{"PUT", "/drives/rootfs", `{"drive_id":"rootfs","is_root_device":true,"bogus":1}`, "unknown field"},
		{"PUT", "/logger", `{"level":"Off"}`, ""},
		{"PUT", "/nope", `{}`, "no such path"},
		{"DELETE", "/vsock", ``, "has no DELETE"},
	}
	for _, tt := range tests {
		err := s.validateRequest(tt.method, tt.path, []byte(tt.body))
		if tt.wantErr == "" && err != nil {
			t.Errorf("%s %s %s: %v", tt.method, tt.path, tt.body, err)
		}
		if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s %s %s: err = %v, want %q", tt.method, tt.path, tt.body, err, tt.wantErr)
		}
	}
}
