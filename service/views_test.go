package service

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cloudphone/media-service/device"
	"github.com/cloudphone/media-service/encoder"
	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/metrics"
	"github.com/cloudphone/media-service/rtc"
)

// TestViewsKeepTheJSON: each API view writes the JSON its component's
// type writes, every field set to a distinct value and every field left
// empty: a field added to a component's type must be added to its view
// (and to openapi.json, which api's tests check against the view).
func TestViewsKeepTheJSON(t *testing.T) {
	for name, c := range map[string]struct {
		typ  reflect.Type
		view func(v any) any
	}{
		"device.Stats":       {reflect.TypeFor[device.Stats](), func(v any) any { return deviceStatsView(v.(device.Stats)) }},
		"device.OutputStats": {reflect.TypeFor[device.OutputStats](), func(v any) any { return outputView(v.(device.OutputStats)) }},
		"encoder.Snapshot":   {reflect.TypeFor[*encoder.Snapshot](), func(v any) any { return pipelineView(v.(*encoder.Snapshot)) }},
		"fanout.Stats":       {reflect.TypeFor[fanout.Stats](), func(v any) any { return streamView(v.(fanout.Stats)) }},
		"rtc.SessionInfo":    {reflect.TypeFor[rtc.SessionInfo](), func(v any) any { return sessionView(v.(rtc.SessionInfo)) }},
		"metrics.LatencySummary": {reflect.TypeFor[metrics.LatencySummary](), func(v any) any {
			return latencyView(v.(metrics.LatencySummary))
		}},
		"E2E latencies": {reflect.TypeFor[map[string]metrics.LatencySummary](), func(v any) any {
			return latencyViews(v.(map[string]metrics.LatencySummary))
		}},
		"[]device.Stats": {reflect.TypeFor[[]device.Stats](), func(v any) any { return views(v.([]device.Stats), deviceStatsView) }},
	} {
		n := 0
		for _, in := range []reflect.Value{reflect.Zero(c.typ), fill(c.typ, &n)} {
			want, got := jsonOf(t, in.Interface()), jsonOf(t, c.view(in.Interface()))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: the view writes\n%v\nthe component\n%v", name, got, want)
			}
		}
	}
}

// jsonOf is v's JSON, decoded.
func jsonOf(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// fill returns a value of t with every JSON field set, each to a value of
// its own (n counts them).
func fill(t reflect.Type, n *int) reflect.Value {
	*n++
	v := reflect.New(t).Elem()
	switch {
	case t == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Unix(int64(*n), 0).UTC()))
		return v
	}
	switch t.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(*n) + 0.5)
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		p.Elem().Set(fill(t.Elem(), n))
		v.Set(p)
	case reflect.Slice:
		v.Set(reflect.Append(reflect.MakeSlice(t, 0, 2), fill(t.Elem(), n), fill(t.Elem(), n)))
	case reflect.Map:
		v.Set(reflect.MakeMap(t))
		v.SetMapIndex(fill(t.Key(), n), fill(t.Elem(), n))
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && f.Tag.Get("json") != "-" {
				v.Field(i).Set(fill(f.Type, n))
			}
		}
	}
	return v
}
