package webhook

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// jsonFields returns the JSON fields of a struct type (embedded structs
// flattened) and whether each is always written (not omitempty).
func jsonFields(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out[name] = !strings.Contains(opts, "omitempty")
	}
	return out
}

// TestOpenAPIDocumentsEvents: api/openapi.json's webhooks document every
// event type, each body {"type","timestamp","data"} whose data schema
// names exactly the fields of the event's Go type, the ones always
// written required.
func TestOpenAPIDocumentsEvents(t *testing.T) {
	raw, err := os.ReadFile("../api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	type schema struct {
		Ref        string             `json:"$ref"`
		Required   []string           `json:"required"`
		Properties map[string]*schema `json:"properties"`
		Enum       []string           `json:"enum"`
	}
	var doc struct {
		Webhooks map[string]struct {
			Post struct {
				RequestBody struct {
					Content map[string]struct {
						Schema schema `json:"schema"`
					} `json:"content"`
				} `json:"requestBody"`
				Parameters []struct {
					Name string `json:"name"`
					In   string `json:"in"`
				} `json:"parameters"`
			} `json:"post"`
		} `json:"webhooks"`
		Components struct {
			Schemas map[string]*schema `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	deref := func(s *schema) *schema {
		if s == nil || s.Ref == "" {
			return s
		}
		return doc.Components.Schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
	}
	types := map[string]reflect.Type{
		TypeSessionStarted: reflect.TypeFor[Session](), TypeSessionEnded: reflect.TypeFor[SessionEnded](),
		TypeDeviceConnected: reflect.TypeFor[Device](), TypeDeviceDisconnected: reflect.TypeFor[Device](),
		TypeControlChanged: reflect.TypeFor[ControlChanged](), TypeDraining: reflect.TypeFor[Draining](),
		TypeRecordingFailed: reflect.TypeFor[RecordingFailed](),
	}
	var documented []string
	for typ := range doc.Webhooks {
		documented = append(documented, typ)
	}
	sort.Strings(documented)
	want := slices.Sorted(slices.Values(Types))
	if !slices.Equal(documented, want) {
		t.Fatalf("webhooks document %v, want the types %v", documented, want)
	}
	for _, typ := range Types {
		op := doc.Webhooks[typ].Post
		var headers []string
		for _, p := range op.Parameters {
			if p.In == "header" {
				headers = append(headers, p.Name)
			}
		}
		if !slices.Equal(headers, []string{"webhook-id", "webhook-timestamp", "webhook-signature"}) {
			t.Errorf("%s: headers %v", typ, headers)
		}
		body := op.RequestBody.Content["application/json"].Schema
		env := deref(&body)
		if env == nil || !slices.Equal(env.Required, []string{"type", "timestamp", "data"}) || len(env.Properties) != 3 ||
			!slices.Equal(env.Properties["type"].Enum, []string{typ}) {
			t.Errorf("%s: body schema %+v", typ, env)
			continue
		}
		data := deref(env.Properties["data"])
		fields := jsonFields(types[typ])
		if data == nil {
			t.Errorf("%s: no data schema", typ)
			continue
		}
		for f, always := range fields {
			if data.Properties[f] == nil {
				t.Errorf("%s: field %s is not in the schema", typ, f)
			}
			if always != slices.Contains(data.Required, f) {
				t.Errorf("%s: %s required is %v, written always %v", typ, f, slices.Contains(data.Required, f), always)
			}
		}
		for p := range data.Properties {
			if _, ok := fields[p]; !ok {
				t.Errorf("%s: property %s is not a field of %s", typ, p, types[typ])
			}
		}
	}
}

// TestPayloadShape: the body is {"type","timestamp","data"}, the
// timestamp RFC 3339 in UTC with nanoseconds.
func TestPayloadShape(t *testing.T) {
	b, err := json.Marshal(payload{Type: TypeDraining, Timestamp: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), Data: Draining{Instance: "i", Sessions: 2, DrainTimeoutMs: 30000}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"draining","timestamp":"2025-01-02T03:04:05.000000006Z","data":{"instance":"i","sessions":2,"drainTimeoutMs":30000}}`; string(b) != want {
		t.Errorf("%s\nwant %s", b, want)
	}
}
