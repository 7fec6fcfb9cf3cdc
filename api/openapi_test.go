package api

// The OpenAPI document (openapi.json) is written by hand; these tests keep
// it true:
//
//   - it loads and validates as OpenAPI 3.1 (kin-openapi);
//   - its paths and methods are exactly the routes Echo registers;
//   - each schema of a Go type names exactly that type's JSON fields, with
//     the fields always present marked required, and of matching JSON
//     types;
//   - every error response of every operation is the shared Error schema,
//     whose codes are those the package answers with;
//   - real answers of the running server, successes and errors, validate
//     against it (openapi3filter.ValidateResponse, undocumented statuses
//     refused), and so do the requests that are meant to be valid
//     (ValidateRequest).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

var registerDecoders sync.Once

// loadOpenAPI loads and validates the embedded document.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	// The text bodies the API takes and answers, decoded as strings.
	registerDecoders.Do(func() {
		for _, ct := range []string{"application/sdp", "application/trickle-ice-sdpfrag", "text/html", "application/openmetrics-text"} {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
		}
	})
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapiDocument)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() || !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableExamplesValidation(), openapi3.EnableSchemaPatternValidation(),
		openapi3.EnableSchemaDefaultsValidation()); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return doc
}

// operations returns the document's operations by "METHOD path".
func operations(doc *openapi3.T) map[string]*openapi3.Operation {
	ops := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops[method+" "+path] = op
		}
	}
	return ops
}

func TestOpenAPIDocumentValid(t *testing.T) {
	doc := loadOpenAPI(t)
	ids := map[string]string{}
	for key, op := range operations(doc) {
		if op.OperationID != "" {
			if other, ok := ids[op.OperationID]; ok {
				t.Errorf("operationId %q of %s is also %s's", op.OperationID, key, other)
			}
			ids[op.OperationID] = key
		}
		for code, ref := range op.Responses.Map() {
			if code == "default" {
				t.Errorf("%s: a default response hides undocumented statuses", key)
				continue
			}
			status := 0
			fmt.Sscan(code, &status)
			if status < 400 {
				continue
			}
			mt := ref.Value.Content.Get("application/json")
			if len(ref.Value.Content) != 1 || mt == nil || !isErrorSchema(mt.Schema) {
				t.Errorf("%s %s: an error response that is not application/json with the Error schema", key, code)
			}
			if status == 429 || status == 503 {
				if h := ref.Value.Headers["Retry-After"]; h == nil || !h.Value.Required {
					t.Errorf("%s %s: Retry-After is not a required header", key, code)
				}
			}
		}
	}
	// The Error codes are the ones the package answers with.
	want := []string{"error"}
	for _, c := range codes {
		want = append(want, c)
	}
	var got []string
	for _, v := range doc.Components.Schemas["Error"].Value.Properties["error"].Value.Enum {
		got = append(got, v.(string))
	}
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("Error.error enum %v, want the codes %v", got, want)
	}
	// The document is JSON as served, and says it is public.
	var raw map[string]any
	if err := json.Unmarshal(openapiDocument, &raw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(doc.Info.Description, "without authentication") {
		t.Error("the description does not say the document is public")
	}
}

// isErrorSchema reports whether s is the Error schema, or all of it and
// more (the 503 of /ready).
func isErrorSchema(s *openapi3.SchemaRef) bool {
	if s == nil {
		return false
	}
	if s.Ref == "#/components/schemas/Error" {
		return true
	}
	return s.Value != nil && slices.ContainsFunc(s.Value.AllOf, func(r *openapi3.SchemaRef) bool { return r.Ref == "#/components/schemas/Error" })
}

// echoPath turns an Echo route path into an OpenAPI template: :name is
// {name}, a trailing * is {*}.
func echoPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		switch {
		case strings.HasPrefix(s, ":"):
			segs[i] = "{" + s[1:] + "}"
		case s == "*":
			segs[i] = "{*}"
		}
	}
	return strings.Join(segs, "/")
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	documented := map[string]bool{}
	for key := range operations(doc) {
		documented[key] = true
	}
	// With CORS on, so that whatever it would add shows up.
	s := New(Options{Log: slog.New(slog.DiscardHandler), CORSOrigins: []string{"https://ops.example"}}, Deps{})
	registered := map[string]bool{}
	for _, r := range s.echo.Routes() {
		registered[r.Method+" "+echoPath(r.Path)] = true
	}
	if len(registered) < 20 {
		t.Fatalf("only %d routes registered: %v", len(registered), registered)
	}
	for key := range registered {
		if !documented[key] {
			t.Errorf("route %s is not in the OpenAPI document", key)
		}
	}
	for key := range documented {
		if !registered[key] {
			t.Errorf("the OpenAPI document has %s, which is not a route", key)
		}
	}
}

// jsonField is one JSON field of a Go struct.
type jsonField struct {
	typ       reflect.Type
	omitempty bool
}

// jsonFields returns the JSON fields of a struct type as encoding/json
// writes them, embedded structs flattened.
func jsonFields(t reflect.Type) map[string]jsonField {
	out := map[string]jsonField{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = jsonField{typ: f.Type, omitempty: slices.Contains(strings.Split(opts, ","), "omitempty")}
	}
	return out
}

// jsonType is the JSON type encoding/json writes for t.
func jsonType(t reflect.Type) string {
	if t == reflect.TypeFor[time.Time]() {
		return "string"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return jsonType(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return "unknown " + t.String()
}

// schemaTypes returns the JSON types a schema allows, following allOf.
func schemaTypes(s *openapi3.Schema) []string {
	var out []string
	if s.Type != nil {
		out = append(out, s.Type.Slice()...)
	}
	for _, r := range s.AllOf {
		out = append(out, schemaTypes(r.Value)...)
	}
	return out
}

func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	for name, tc := range map[string]struct {
		typ reflect.Type
		// request bodies: what is required is the API's rule, not the
		// encoder's.
		request bool
	}{
		"Error":                 {typ: reflect.TypeFor[ErrorResponse]()},
		"HealthResponse":        {typ: reflect.TypeFor[HealthResponse]()},
		"ReadyResponse":         {typ: reflect.TypeFor[ReadyResponse]()},
		"CreateSessionRequest":  {typ: reflect.TypeFor[CreateSessionRequest](), request: true},
		"CreateSessionResponse": {typ: reflect.TypeFor[CreateSessionResponse]()},
		"CandidateRequest":      {typ: reflect.TypeFor[CandidateRequest](), request: true},
		"SessionsResponse":      {typ: reflect.TypeFor[SessionsResponse]()},
		"SessionInfo":           {typ: reflect.TypeFor[SessionView]()},
		"SessionStats":          {typ: reflect.TypeFor[SessionStatsView]()},
		"DevicesResponse":       {typ: reflect.TypeFor[DevicesResponse]()},
		"DeviceView":            {typ: reflect.TypeFor[DeviceView]()},
		"OutputStats":           {typ: reflect.TypeFor[OutputView]()},
		"EncodersResponse":      {typ: reflect.TypeFor[EncodersResponse]()},
		"EncoderView":           {typ: reflect.TypeFor[EncoderView]()},
		"StatsResponse":         {typ: reflect.TypeFor[StatsResponse]()},
		"DeviceStats":           {typ: reflect.TypeFor[DeviceStatsView]()},
		"BroadcasterStats":      {typ: reflect.TypeFor[StreamView]()},
		"EncoderSnapshot":       {typ: reflect.TypeFor[PipelineView]()},
		"LatencySummary":        {typ: reflect.TypeFor[LatencyView]()},
		"ICEServersResponse":    {typ: reflect.TypeFor[ICEServersResponse]()},
		"ICEServer":             {typ: reflect.TypeFor[ICEServer]()},
		"RecordingsResponse":    {typ: reflect.TypeFor[RecordingsResponse]()},
		"Recording":             {typ: reflect.TypeFor[RecordingView]()},
		"RecordingSegment":      {typ: reflect.TypeFor[RecordingSegmentView]()},
		"FileResult":            {typ: reflect.TypeFor[FileResult]()},
		"AppResult":             {typ: reflect.TypeFor[AppResult]()},
		"TransferLine":          {typ: reflect.TypeFor[TransferLine]()},
	} {
		ref := doc.Components.Schemas[name]
		if ref == nil {
			t.Errorf("no schema %s", name)
			continue
		}
		s := ref.Value
		fields := jsonFields(tc.typ)
		for f, jf := range fields {
			p := s.Properties[f]
			if p == nil {
				t.Errorf("%s (%s): field %q is not in the schema", name, tc.typ, f)
				continue
			}
			if want, got := jsonType(jf.typ), schemaTypes(p.Value); !slices.Contains(got, want) {
				t.Errorf("%s.%s: schema types %v, Go %s is %s", name, f, got, jf.typ, want)
			}
			if !tc.request && !jf.omitempty != slices.Contains(s.Required, f) {
				t.Errorf("%s.%s: required is %v, but the field is always written: %v", name, f, slices.Contains(s.Required, f), !jf.omitempty)
			}
		}
		for p := range s.Properties {
			if _, ok := fields[p]; !ok {
				t.Errorf("%s: property %q is not a field of %s", name, p, tc.typ)
			}
		}
		for _, r := range s.Required {
			if _, ok := fields[r]; !ok {
				t.Errorf("%s: required %q is not a field of %s", name, r, tc.typ)
			}
		}
	}
}

// contract validates real exchanges with the server against the document.
type contract struct {
	doc    *openapi3.T
	router routers.Router
	// seen records "METHOD path status" validated.
	mu   sync.Mutex
	seen map[string]bool
}

func newContract(t *testing.T) *contract {
	doc := loadOpenAPI(t)
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &contract{doc: doc, router: r, seen: map[string]bool{}}
}

// exchange is one request to send and what it must get.
type exchange struct {
	method, path, token, contentType, body string
	header                                 map[string]string
	base                                   string // another server's (files_test.go)
	want                                   int
	// valid: the request itself must validate against the document.
	valid bool
}

// do sends x to base, checks its status, and validates the answer (and
// for a valid request, the request) against the document.
func (k *contract) do(t *testing.T, base string, x exchange) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(x.method, base+x.path, strings.NewReader(x.body))
	if err != nil {
		t.Fatal(err)
	}
	if x.token != "" {
		req.Header.Set("Authorization", "Bearer "+x.token)
	}
	if x.contentType != "" {
		req.Header.Set("Content-Type", x.contentType)
	}
	for h, v := range x.header {
		req.Header.Set(h, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%s %s", x.method, x.path)
	if resp.StatusCode != x.want {
		t.Errorf("%s: %d, want %d: %.200s", name, resp.StatusCode, x.want, body)
		return resp, body
	}
	// The request again, with its body, for the validator.
	vreq, _ := http.NewRequest(x.method, base+x.path, bytes.NewReader([]byte(x.body)))
	vreq.Header = req.Header.Clone()
	k.validate(t, name, vreq, x.valid, resp.StatusCode, resp.Header, body)
	return resp, body
}

func (k *contract) validate(t *testing.T, name string, req *http.Request, validRequest bool, status int, header http.Header, body []byte) {
	t.Helper()
	route, params, err := k.router.FindRoute(req)
	if err != nil {
		t.Errorf("%s: not in the OpenAPI document: %v", name, err)
		return
	}
	// The router hands out path parameters as sent; the server decodes
	// them, and the document's schemas are of decoded values.
	for p, v := range params {
		if u, err := url.PathUnescape(v); err == nil {
			params[p] = u
		}
	}
	ctx := context.Background()
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true},
	}
	if validRequest {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			t.Errorf("%s: the request does not validate: %v", name, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: in.Options}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Errorf("%s: the %d answer does not validate: %v\nbody: %.300s", name, status, err, body)
		return
	}
	if status == http.StatusNoContent && len(body) > 0 {
		t.Errorf("%s: 204 with a body: %q", name, body)
	}
	k.mu.Lock()
	k.seen[fmt.Sprintf("%s %s %d", route.Method, route.Path, status)] = true
	k.mu.Unlock()
}

// errorSchema validates a body against the Error schema alone, for
// answers that are no operation's (unknown paths, other methods).
func (k *contract) errorSchema(t *testing.T, name string, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Errorf("%s: not JSON: %q", name, body)
		return
	}
	if err := k.doc.Components.Schemas["Error"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		t.Errorf("%s: not an Error: %v", name, err)
	}
}

// contractSessions is a session manager whose failures are chosen by the
// device ID, and which records the devices it was asked for.
type contractSessions struct {
	mu       sync.Mutex
	next     int
	sessions map[string]SessionView
	devices  []string
}

var (
	errNoDevice   = errors.New("unknown device")
	errCodec      = errors.New("no codec in common")
	errBusy       = errors.New("MAX_SESSIONS (1) reached")
	errUserLimit  = errors.New("MAX_SESSIONS_PER_USER (1) reached")
	errBadFrag    = errors.New("ICE restart is not supported")
	errNoSession  = errors.New("session not found")
	errBrokenDeps = errors.New("something broke")
)

// contractStatus is the ErrorStatus of contractSessions' errors.
func contractStatus(err error) int {
	switch {
	case errors.Is(err, errNoDevice), errors.Is(err, errNoSession):
		return http.StatusNotFound
	case errors.Is(err, errCodec):
		return http.StatusNotAcceptable
	case errors.Is(err, errBusy):
		return http.StatusServiceUnavailable
	case errors.Is(err, errUserLimit):
		return http.StatusTooManyRequests
	case errors.Is(err, errBadFrag):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func (s *contractSessions) Create(_ context.Context, c Caller, device, user, offer string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.devices = append(s.devices, device)
	switch device {
	case "unknown-device":
		return "", "", errNoDevice
	case "vp8-device":
		return "", "", errCodec
	case "busy-device":
		return "", "", errBusy
	case "crowded-device":
		return "", "", errUserLimit
	case "broken-device":
		return "", "", errBrokenDeps
	}
	s.next++
	id := fmt.Sprintf("s%d", s.next)
	if s.sessions == nil {
		s.sessions = map[string]SessionView{}
	}
	s.sessions[id] = SessionView{ID: id, DeviceID: device, UserID: user, Token: c.Token, ViewOnly: c.ViewOnly,
		CreatedAt: time.Now(), State: "new", ICEState: "new", Codec: "h264", ProfileLevelID: "42e01f",
		Stats: SessionStatsView{PacketsSent: 10, BytesSent: 1000, TargetBitRate: 2_000_000}}
	return id, "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n", nil
}

func (s *contractSessions) List() []SessionView {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SessionView
	for _, i := range s.sessions {
		out = append(out, i)
	}
	return out
}

// lookup finds a session; one on "flaky-device" fails every operation.
func (s *contractSessions) lookup(id string) (SessionView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.sessions[id]
	switch {
	case !ok:
		return i, errNoSession
	case i.DeviceID == "flaky-device":
		return i, errBrokenDeps
	}
	return i, nil
}

func (s *contractSessions) Get(id string) (SessionView, error) { return s.lookup(id) }

func (s *contractSessions) Delete(id string) error {
	if _, err := s.lookup(id); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, id)
	return nil
}

func (s *contractSessions) AddCandidate(id, c string) error { _, err := s.lookup(id); return err }

func (s *contractSessions) AddSDPFragment(id, f string) error {
	if _, err := s.lookup(id); err != nil {
		return err
	}
	if strings.Contains(f, "ice-ufrag:other") {
		return errBadFrag
	}
	return nil
}

// deviceOf returns the device of the i-th Create; "" if there was none.
func (s *contractSessions) deviceOf(i int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i >= len(s.devices) {
		return ""
	}
	return s.devices[i]
}

// contractDeps are components with every field of their answers set, and
// some left empty (nil maps and lists, as the real ones give).
func contractDeps(sessions Sessions) Deps {
	snap := PipelineView{FramesIn: 100, FramesOut: 98, Dropped: map[string]int64{"stale": 2}, Replacements: map[string]int64{"timeout": 1},
		EncoderSwitches: 1, LatencyP50: 3 * time.Millisecond, LatencyP99: 9 * time.Millisecond, LatencyBuckets: []int64{90, 8, 0}, LatencySum: 300 * time.Millisecond}
	out := OutputView{Codec: "h264", Rung: 0, Scale: 1, Encoder: "libx264", Width: 1080, Height: 1920, FPS: 30,
		MinBitRate: 500_000, MaxBitRate: 8_000_000, TargetBitRate: 4_000_000, Units: 100, Viewers: 1, Pipeline: &snap}
	return Deps{
		Devices: func(context.Context) ([]DeviceView, error) {
			return []DeviceView{
				{Serial: "127.0.0.1:5555", State: "device", Model: "Pixel_7", Product: "panther", Device: "panther", Width: 1080, Height: 1920,
					CaptureMode: "screenrecord", Encoder: "libx264", Viewers: 1, Outputs: []OutputView{out, {Codec: "vp8", Rung: 1, Scale: 0.5, Encoder: "libvpx"}}},
				{Serial: "emulator-5554", State: "offline", CaptureMode: "screenrecord"},
			}, nil
		},
		Encoders: func(context.Context) []EncoderView {
			return []EncoderView{{Encoder: "libx264", Available: true, ElapsedMs: 12.5}, {Encoder: "h264_nvenc", Reason: "no CUDA device", ElapsedMs: 3}}
		},
		Stats: func() StatsResponse {
			return StatsResponse{
				Devices: []DeviceStatsView{
					{Serial: "127.0.0.1:5555", Address: "emulator-5556", CaptureMode: "screenrecord", Encoder: "libx264", Codec: "h264", ProfileLevelID: "42e01f", Width: 1080, Height: 1920,
						FPS: 29.9, BitRateBytes: 250_000, TargetBitRate: 4_000_000, Units: 100, Bytes: 1 << 20, KeyFrames: 2, KeyFrameRequests: 3, KeyFramesForced: 1,
						Pipeline: &snap, LastError: "capture restarted", Outputs: []OutputView{out},
						Input: InputView{Method: "agent", SDK: 34, AgentRTTMs: 1.5}},
					{Serial: "emulator-5554", CaptureMode: "screencap", // nil outputs
						Input: InputView{Method: "shell", Slow: true, SDK: 30, Reason: "the input agent exited at start: SecurityException", AgentRestarts: 2, Queued: 1, InFlight: true, Superseded: 199}},
				},
				Broadcasters: []StreamView{{DeviceID: "127.0.0.1:5555", Viewers: 1, UnitsIn: 100, BytesIn: 1 << 20, KeyFramesIn: 2, GOPCached: 30}},
				WorkerPool:   &PipelineView{}, // nil maps and buckets
				Sessions:     sessions.List(),
				E2ELatency:   map[string]LatencyView{"127.0.0.1:5555": {Samples: 10, P50ms: 80, P95ms: 120, P99ms: 150}},
			}
		},
		Sessions:    sessions,
		ErrorStatus: contractStatus,
		Screenshot:  (&fakeShots{}).take, // screenshot_test.go
		ICEServers:  (&fakeICEServers{}).get,
	}
}

func TestOpenAPIResponses(t *testing.T) {
	k := newContract(t)
	offer := browserOffer(t)
	sess := &contractSessions{}
	full := startServer(t, Options{Tokens: testTokens, RateLimit: 1_000_000}, contractDeps(sess))
	create := func(device, user string) string {
		b, _ := json.Marshal(CreateSessionRequest{DeviceID: device, UserID: user, Offer: offer})
		return string(b)
	}
	frag := "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\na=candidate:1 1 udp 2130706431 192.0.2.7 50000 typ host\r\na=end-of-candidates\r\n"
	big := strings.Repeat("a", maxBodyBytes+1)
	fwd := map[string]string{"X-Forwarded-For": "203.0.113.9"}

	for _, x := range []exchange{
		// Public.
		{method: "GET", path: "/", want: 200, valid: true},
		{method: "GET", path: "/health", want: 200, valid: true},
		{method: "GET", path: "/ready", want: 200, valid: true},
		{method: "GET", path: "/api/openapi.json", want: 200, valid: true},
		// Devices, encoders, statistics.
		{method: "GET", path: "/api/media/devices", token: aliceSecret, want: 200, valid: true},
		{method: "GET", path: "/api/media/devices", token: emuSecret, want: 200, valid: true},
		{method: "GET", path: "/api/media/devices", want: 401},
		{method: "GET", path: "/api/media/encoders", token: aliceSecret, want: 200, valid: true},
		{method: "GET", path: "/api/media/encoders", token: "wrong-token-0123456789", want: 401},
		{method: "GET", path: "/api/media/stats", want: 401},
		{method: "GET", path: "/api/media/ice-servers", token: aliceSecret, want: 200, valid: true},
		// Sessions.
		{method: "POST", path: "/api/media/sessions", token: aliceSecret, contentType: "application/json", body: create("127.0.0.1:5555", "alice"), want: 201, valid: true},
		{method: "POST", path: "/api/media/sessions", token: aliceSecret, contentType: "application/json", body: create("flaky-device", "alice"), want: 201, valid: true},
		{method: "POST", path: "/api/media/sessions", token: aliceSecret, contentType: "application/json", body: `{"deviceId":"emulator-5554","offer":` + mustJSON(offer) + `}`, want: 201, valid: true},
		{method: "POST", path: "/api/media/sessions", token: aliceSecret, contentType: "text/plain", body: create("dev", "u"), want: 415},
		{method: "POST", path: "/api/media/sessions", token: aliceSecret, contentType: "application/json", body: "{", want: 400},
		{method: "POST", path: "/api/media/sessions", token: aliceSecret, contentType: "application/json", body: create("a;reboot", "u"), want: 400},
		{method: "POST", path: "/api/media/sessions", token: aliceSecret, contentType: "application/json", body: create("dev", "$(id)"), want: 400},
		{method: "POST", path: "/api/media/sessions", token: aliceSecret, contentType: "application/json", body: `{"deviceId":"dev","offer":"hello"}`, want: 400, valid: true},
		{method: "POST", path: "/api/media/sessions", token: aliceSecret, contentType: "application/json", body: big, want: 413},
		{method: "POST", path: "/api/media/sessions", token: aliceSecret, contentType: "application/json", body: create("unknown-device", "u"), want: 404, valid: true},
		{method: "POST", path: "/api/media/sessions", token: aliceSecret, contentType: "application/json", body: create("vp8-device", "u"), want: 406, valid: true},
		{method: "POST", path: "/api/media/sessions", token: aliceSecret, contentType: "application/json", body: create("crowded-device", "u"), want: 429, valid: true},
		{method: "POST", path: "/api/media/sessions", token: aliceSecret, contentType: "application/json", body: create("broken-device", "u"), want: 500, valid: true},
		{method: "POST", path: "/api/media/sessions", token: aliceSecret, contentType: "application/json", body: create("busy-device", "u"), want: 503, valid: true},
		{method: "POST", path: "/api/media/sessions", token: emuSecret, contentType: "application/json", body: create("127.0.0.1:5555", "u"), want: 403, valid: true},
		{method: "POST", path: "/api/media/sessions", contentType: "application/json", body: create("127.0.0.1:5555", "u"), want: 401},
		{method: "GET", path: "/api/media/sessions", token: aliceSecret, want: 200, valid: true},
		{method: "GET", path: "/api/media/sessions", token: plainSecret, want: 200, valid: true}, // none of its own
		{method: "GET", path: "/api/media/sessions/s1", token: aliceSecret, want: 200, valid: true},
		{method: "GET", path: "/api/media/sessions/s2", token: aliceSecret, want: 500, valid: true},
		{method: "GET", path: "/api/media/sessions/s1", token: plainSecret, want: 404, valid: true}, // not its own
		{method: "GET", path: "/api/media/sessions/nope", token: aliceSecret, want: 404, valid: true},
		{method: "GET", path: "/api/media/sessions/a;b", token: aliceSecret, want: 404},
		{method: "POST", path: "/api/media/sessions/s1/candidates", token: aliceSecret, contentType: "application/json",
			body: `{"candidate":"candidate:1 1 udp 2130706431 192.0.2.7 50000 typ host"}`, want: 204, valid: true},
		{method: "POST", path: "/api/media/sessions/s1/candidates", token: aliceSecret, contentType: "application/json", body: `{}`, want: 204, valid: true},
		{method: "POST", path: "/api/media/sessions/s1/candidates", token: aliceSecret, contentType: "application/json", body: `{"candidate":"a\r\nb"}`, want: 400},
		{method: "POST", path: "/api/media/sessions/s1/candidates", token: aliceSecret, contentType: "application/json", body: `[`, want: 400},
		{method: "POST", path: "/api/media/sessions/s1/candidates", token: aliceSecret, contentType: "application/json", body: big, want: 413},
		{method: "POST", path: "/api/media/sessions/s2/candidates", token: aliceSecret, contentType: "application/json", body: `{"candidate":""}`, want: 500, valid: true},
		{method: "POST", path: "/api/media/sessions/nope/candidates", token: aliceSecret, contentType: "application/json", body: `{"candidate":""}`, want: 404, valid: true},
		{method: "DELETE", path: "/api/media/sessions/s2", token: aliceSecret, want: 500, valid: true},
		{method: "DELETE", path: "/api/media/sessions/s3", token: aliceSecret, want: 204, valid: true},
		{method: "DELETE", path: "/api/media/sessions/s3", token: aliceSecret, want: 404, valid: true},
		{method: "DELETE", path: "/api/media/sessions/s1", want: 401},
		// WHEP.
		{method: "POST", path: "/whep/127.0.0.1%3A5555", token: aliceSecret, contentType: "application/sdp", body: offer, want: 201, valid: true},
		{method: "POST", path: "/whep/127.0.0.1:5555", token: aliceSecret, contentType: "application/sdp", body: offer,
			header: map[string]string{"X-User-Id": "bob@example.com"}, want: 201, valid: true},
		{method: "POST", path: "/whep/dev1", token: aliceSecret, contentType: "application/json", body: offer, want: 415},
		{method: "POST", path: "/whep/dev;1", token: aliceSecret, contentType: "application/sdp", body: offer, want: 400},
		{method: "POST", path: "/whep/dev1", token: aliceSecret, contentType: "application/sdp", body: "garbage", want: 400, valid: true},
		{method: "POST", path: "/whep/dev1", token: aliceSecret, contentType: "application/sdp", body: offer, header: map[string]string{"X-User-Id": "$(id)"}, want: 400},
		{method: "POST", path: "/whep/dev1", token: aliceSecret, contentType: "application/sdp", body: big, want: 413},
		{method: "POST", path: "/whep/unknown-device", token: aliceSecret, contentType: "application/sdp", body: offer, want: 404, valid: true},
		{method: "POST", path: "/whep/vp8-device", token: aliceSecret, contentType: "application/sdp", body: offer, want: 406, valid: true},
		{method: "POST", path: "/whep/crowded-device", token: aliceSecret, contentType: "application/sdp", body: offer, want: 429, valid: true},
		{method: "POST", path: "/whep/broken-device", token: aliceSecret, contentType: "application/sdp", body: offer, want: 500, valid: true},
		{method: "POST", path: "/whep/busy-device", token: aliceSecret, contentType: "application/sdp", body: offer, want: 503, valid: true},
		{method: "POST", path: "/whep/127.0.0.1:5555", token: emuSecret, contentType: "application/sdp", body: offer, want: 403, valid: true},
		{method: "POST", path: "/whep/127.0.0.1:5555", contentType: "application/sdp", body: offer, want: 401},
		{method: "PATCH", path: "/whep/127.0.0.1%3A5555/s4", token: aliceSecret, contentType: "application/trickle-ice-sdpfrag", body: frag, want: 204, valid: true},
		{method: "PATCH", path: "/whep/127.0.0.1:5555/s4", token: aliceSecret, contentType: "text/plain", body: frag, want: 415},
		{method: "PATCH", path: "/whep/127.0.0.1:5555/s4", token: aliceSecret, contentType: "application/trickle-ice-sdpfrag", body: "a=\xff\xfe", want: 400},
		{method: "PATCH", path: "/whep/127.0.0.1:5555/s4", token: aliceSecret, contentType: "application/trickle-ice-sdpfrag", body: "a=ice-ufrag:other\r\n", want: 400, valid: true},
		{method: "PATCH", path: "/whep/127.0.0.1:5555/s4", token: aliceSecret, contentType: "application/trickle-ice-sdpfrag", body: big, want: 413},
		{method: "PATCH", path: "/whep/flaky-device/s2", token: aliceSecret, contentType: "application/trickle-ice-sdpfrag", body: frag, want: 500, valid: true},
		{method: "PATCH", path: "/whep/127.0.0.1:5555/nope", token: aliceSecret, contentType: "application/trickle-ice-sdpfrag", body: frag, want: 404, valid: true},
		{method: "PATCH", path: "/whep/127.0.0.1:5555/s4", contentType: "application/trickle-ice-sdpfrag", body: frag, want: 401},
		{method: "DELETE", path: "/whep/flaky-device/s2", token: aliceSecret, want: 500, valid: true},
		{method: "DELETE", path: "/whep/127.0.0.1%3A5555/s4", token: aliceSecret, want: 204, valid: true},
		{method: "DELETE", path: "/whep/127.0.0.1:5555/s4", token: aliceSecret, want: 404, valid: true},
		{method: "DELETE", path: "/whep/127.0.0.1:5555/s5", want: 401},
		// Operators: from loopback; a relayed request is not loopback.
		{method: "GET", path: "/metrics", want: 200, valid: true},
		{method: "GET", path: "/metrics", header: fwd, want: 403},
		{method: "GET", path: "/metrics", token: emuSecret, header: fwd, want: 403},
		{method: "GET", path: "/metrics", token: aliceSecret, header: fwd, want: 200, valid: true},
		{method: "GET", path: "/debug/pprof/", want: 200, valid: true},
		{method: "GET", path: "/debug/pprof/", header: fwd, want: 403},
		{method: "GET", path: "/debug/pprof/cmdline", want: 200, valid: true},
		{method: "GET", path: "/debug/pprof/symbol", want: 200, valid: true},
		{method: "POST", path: "/debug/pprof/symbol", contentType: "text/plain", body: "0x0", want: 200, valid: true},
		{method: "POST", path: "/debug/pprof/symbol", contentType: "text/plain", body: big, want: 413},
		{method: "GET", path: "/debug/pprof/trace?seconds=0.05", want: 200, valid: true},
		{method: "GET", path: "/debug/pprof/profile?seconds=1", want: 200, valid: true},
		{method: "GET", path: "/debug/pprof/goroutine?debug=1", want: 200, valid: true},
		{method: "GET", path: "/debug/pprof/allocs", want: 200, valid: true},
		{method: "GET", path: "/debug/pprof/block", want: 200, valid: true},
		{method: "GET", path: "/debug/pprof/heap", want: 200, valid: true},
		{method: "GET", path: "/debug/pprof/mutex", want: 200, valid: true},
		{method: "GET", path: "/debug/pprof/threadcreate", header: fwd, want: 403},
		{method: "GET", path: "/debug/pprof/threadcreate", want: 200, valid: true},
	} {
		k.do(t, full, x)
	}
	// After the sessions above: statistics with sessions in them.
	k.do(t, full, exchange{method: "GET", path: "/api/media/stats", token: aliceSecret, want: 200, valid: true})
	k.do(t, full, exchange{method: "GET", path: "/api/media/stats", token: emuSecret, want: 200, valid: true})

	// Unconfigured: 503 with Retry-After everywhere; not ready.
	none := startServer(t, Options{Tokens: testTokens, Ready: func() error { return errors.New("draining: not taking new sessions") }}, Deps{})
	for _, x := range []exchange{
		{method: "GET", path: "/ready", want: 503, valid: true},
		{method: "GET", path: "/api/media/devices", token: aliceSecret, want: 503, valid: true},
		{method: "GET", path: "/api/media/encoders", token: aliceSecret, want: 503, valid: true},
		{method: "GET", path: "/api/media/stats", token: aliceSecret, want: 503, valid: true},
		{method: "GET", path: "/api/media/ice-servers", token: aliceSecret, want: 503, valid: true},
		{method: "GET", path: "/api/media/sessions", token: aliceSecret, want: 503, valid: true},
		{method: "POST", path: "/api/media/sessions", token: aliceSecret, contentType: "application/json", body: create("dev", "u"), want: 503, valid: true},
		{method: "GET", path: "/api/media/sessions/s1", token: aliceSecret, want: 503, valid: true},
		{method: "DELETE", path: "/api/media/sessions/s1", token: aliceSecret, want: 503, valid: true},
		{method: "POST", path: "/api/media/sessions/s1/candidates", token: aliceSecret, contentType: "application/json", body: `{}`, want: 503, valid: true},
		{method: "POST", path: "/whep/dev1", token: aliceSecret, contentType: "application/sdp", body: offer, want: 503, valid: true},
		{method: "PATCH", path: "/whep/dev1/s1", token: aliceSecret, contentType: "application/trickle-ice-sdpfrag", body: frag, want: 503, valid: true},
		{method: "DELETE", path: "/whep/dev1/s1", token: aliceSecret, want: 503, valid: true},
	} {
		if resp, _ := k.do(t, none, x); resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s: 503 without Retry-After", x.method, x.path)
		}
	}

	screenshotContract(t, k, full, none) // screenshot_test.go
	filesContract(t, k, none)            // files_test.go

	// The adb server is down: 502.
	failing := startServer(t, Options{Tokens: testTokens}, Deps{Devices: func(context.Context) ([]DeviceView, error) { return nil, errors.New("connection refused") }})
	k.do(t, failing, exchange{method: "GET", path: "/api/media/devices", token: aliceSecret, want: 502, valid: true})

	// Empty components: lists are [], never null.
	empty := startServer(t, Options{Tokens: testTokens}, Deps{
		Devices:  func(context.Context) ([]DeviceView, error) { return nil, nil },
		Encoders: func(context.Context) []EncoderView { return nil },
		Stats:    func() StatsResponse { return StatsResponse{} },
	})
	for _, p := range []string{"/api/media/devices", "/api/media/encoders", "/api/media/stats"} {
		_, body := k.do(t, empty, exchange{method: "GET", path: p, token: aliceSecret, want: 200, valid: true})
		if bytes.Contains(body, []byte("null")) {
			t.Errorf("%s with nothing to list: %s", p, body)
		}
	}

	// Over the rate limit: 429 with Retry-After, on the API and on
	// operator endpoints.
	ls := New(Options{Tokens: testTokens, RateLimit: 1, Log: slog.New(slog.DiscardHandler)}, Deps{Devices: func(context.Context) ([]DeviceView, error) { return nil, nil }})
	stopClock(ls) // no refill: the budget (a burst of 2) stays spent
	limited := serve(t, ls)
	for range 2 {
		k.do(t, limited, exchange{method: "GET", path: "/api/media/devices", token: aliceSecret, want: 200, valid: true})
	}
	k.do(t, limited, exchange{method: "GET", path: "/api/media/devices", token: aliceSecret, want: 429, valid: true})
	k.do(t, limited, exchange{method: "GET", path: "/metrics", token: aliceSecret, header: fwd, want: 429, valid: true})

	// A body that stops arriving: 408.
	slow := New(Options{Tokens: testTokens, Log: slog.New(slog.DiscardHandler)}, Deps{Sessions: sess, ErrorStatus: contractStatus})
	slow.t.header, slow.t.body = 300*time.Millisecond, 300*time.Millisecond
	slowBase := serve(t, slow)
	resp, _ := k.do(t, slowBase, exchange{method: "POST", path: "/whep/127.0.0.1:5555", token: aliceSecret, contentType: "application/sdp", body: offer, want: 201, valid: true})
	for _, r := range []struct{ method, path, ct, body string }{
		{"POST", "/whep/dev1", "application/sdp", "v=0\r\n"},
		{"POST", "/api/media/sessions", "application/json", "{"},
		{"PATCH", resp.Header.Get("Location"), "application/trickle-ice-sdpfrag", "a=end-of-candidates\r\n"},
	} {
		c, err := net.Dial("tcp", strings.TrimPrefix(slowBase, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: 1000\r\n\r\n%s", r.method, r.path, aliceSecret, r.ct, r.body)
		c.SetReadDeadline(time.Now().Add(time.Minute))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		c.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("%s %s with a stalled body: %d", r.method, r.path, resp.StatusCode)
			continue
		}
		req, _ := http.NewRequest(r.method, slowBase+r.path, nil)
		k.validate(t, r.method+" "+r.path+" (stalled)", req, false, resp.StatusCode, resp.Header, body)
	}

	// What every operation answers the same way: 401 without a token on
	// the API, 403 off loopback without one on operator endpoints, 429
	// over the rate limit, 503 on a connection limit's reserve slot.
	sample := strings.NewReplacer("{deviceId}", "dev1", "{id}", "s1", "{n}", "1")
	for key, op := range operations(k.doc) {
		method, tmpl, _ := strings.Cut(key, " ")
		path := sample.Replace(tmpl)
		switch {
		case op.Security == nil: // the document's: a bearer token
			k.do(t, full, exchange{method: method, path: path, want: 401})
			k.do(t, limited, exchange{method: method, path: path, token: aliceSecret, want: 429})
		case len(*op.Security) > 0: // loopback, or a token
			k.do(t, full, exchange{method: method, path: path, header: fwd, want: 403})
			k.do(t, limited, exchange{method: method, path: path, token: aliceSecret, header: fwd, want: 429})
		}
		if tmpl == "/health" || tmpl == "/ready" {
			continue // probes are served there
		}
		s := New(Options{Tokens: testTokens, Log: slog.New(slog.DiscardHandler)}, Deps{})
		req := httptest.NewRequestWithContext(context.WithValue(context.Background(), reserveKey{}, 64), method, path, nil)
		req.RemoteAddr = "127.0.0.1:4000"
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		if w.Code != http.StatusServiceUnavailable {
			t.Errorf("%s on a reserve slot: %d", key, w.Code)
			continue
		}
		k.validate(t, key+" (reserve slot)", req, false, w.Code, w.Header(), w.Body.Bytes())
	}

	// Answers that are no operation's: an unknown path, another method.
	for _, x := range []struct {
		method, path string
		want         int
	}{{"GET", "/nope", 404}, {"GET", "/api/media/nope", 404}, {"PUT", "/health", 405}, {"POST", "/api/openapi.json", 405}} {
		resp, err := http.DefaultClient.Do(mustRequest(t, x.method, full+x.path, aliceSecret))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != x.want {
			t.Errorf("%s %s: %d, want %d", x.method, x.path, resp.StatusCode, x.want)
		}
		k.errorSchema(t, x.method+" "+x.path, body)
	}

	recordingExchanges(t, k) // recordings_test.go

	// Every status the document lists was answered, and validated, above.
	for key, op := range operations(k.doc) {
		method, path, _ := strings.Cut(key, " ")
		for code := range op.Responses.Map() {
			if !k.seen[method+" "+path+" "+code] {
				t.Errorf("%s %s is documented, but no exchange here produced it", key, code)
			}
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func mustRequest(t *testing.T, method, url, token string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

func TestOpenAPIServed(t *testing.T) {
	base := startServer(t, Options{}, Deps{})
	resp, err := http.Get(base + "/api/openapi.json") // no token: public
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || !bytes.Equal(body, openapiDocument) {
		t.Fatalf("GET /api/openapi.json: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
}

// TestPathParamsPercentDecoded: every route's path parameters reach the
// handler percent-decoded, once; raw and encoded forms are the same
// request, and a malformed escape is a 400.
func TestPathParamsPercentDecoded(t *testing.T) {
	k := newContract(t)
	offer := browserOffer(t)
	sess := &contractSessions{}
	base := startServer(t, Options{Tokens: testTokens, RateLimit: 1_000_000}, contractDeps(sess))
	frag := "a=candidate:1 1 udp 2130706431 192.0.2.7 50000 typ host\r\n"

	// WHEP create: the device, raw or encoded as encodeURIComponent
	// writes it, reaches the check and the session manager decoded.
	for i, path := range []string{"/whep/127.0.0.1:5555", "/whep/127.0.0.1%3A5555", "/whep/127.0.0.1%3a5555", "/whep/%31%32%37.0.0.1%3A5555"} {
		resp, _ := k.do(t, base, exchange{method: "POST", path: path, token: aliceSecret, contentType: "application/sdp", body: offer, want: 201, valid: true})
		id := fmt.Sprintf("s%d", i+1)
		if got := resp.Header.Get("Location"); got != "/whep/127.0.0.1:5555/"+id {
			t.Errorf("POST %s: Location %q", path, got)
		}
		if got := sess.deviceOf(i); got != "127.0.0.1:5555" {
			t.Errorf("POST %s: the session manager got device %q", path, got)
		}
	}
	// Decoded once: %253A is "%3A", not a colon; an encoded slash stays in
	// its segment and is then refused by the device rule.
	for _, path := range []string{"/whep/127.0.0.1%253A5555", "/whep/a%2Fb", "/whep/dev%3B1", "/whep/%00"} {
		_, body := k.do(t, base, exchange{method: "POST", path: path, token: aliceSecret, contentType: "application/sdp", body: offer, want: 400})
		if !bytes.Contains(body, []byte("deviceId")) {
			t.Errorf("POST %s: %s", path, body)
		}
	}

	// Session routes: s1 as s1, s%31 and %73%31.
	for _, id := range []string{"s1", "s%31", "%73%31"} {
		k.do(t, base, exchange{method: "GET", path: "/api/media/sessions/" + id, token: aliceSecret, want: 200, valid: true})
		k.do(t, base, exchange{method: "POST", path: "/api/media/sessions/" + id + "/candidates", token: aliceSecret, contentType: "application/json", body: `{}`, want: 204, valid: true})
		k.do(t, base, exchange{method: "PATCH", path: "/whep/127.0.0.1%3A5555/" + id, token: aliceSecret, contentType: "application/trickle-ice-sdpfrag", body: frag, want: 204, valid: true})
	}
	for _, id := range []string{"s%252", "..%2f..", "s%2F1"} {
		k.do(t, base, exchange{method: "GET", path: "/api/media/sessions/" + id, token: aliceSecret, want: 404})
	}
	k.do(t, base, exchange{method: "DELETE", path: "/api/media/sessions/s%31", token: aliceSecret, want: 204, valid: true})
	k.do(t, base, exchange{method: "DELETE", path: "/whep/127.0.0.1%3A5555/s%32", token: aliceSecret, want: 204, valid: true})
	k.do(t, base, exchange{method: "DELETE", path: "/whep/127.0.0.1:5555/s2", token: aliceSecret, want: 404, valid: true})

	// A malformed escape: net/http refuses the request line (400, plain
	// text, before any handler); one that reaches the handler some other
	// way is a 400 with an Error body.
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST /whep/127.0.0.1%%zz5555 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/sdp\r\nContent-Length: 3\r\n\r\nv=0", aliceSecret)
	c.SetReadDeadline(time.Now().Add(time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c.Close()
	if resp.StatusCode != 400 {
		t.Errorf("a malformed escape on the wire: %d", resp.StatusCode)
	}
	s := New(Options{Tokens: testTokens, Log: slog.New(slog.DiscardHandler)}, contractDeps(sess))
	for _, tc := range []struct{ method, path, ct string }{
		{"POST", "/whep/127.0.0.1%zz5555", "application/sdp"},
		{"GET", "/api/media/sessions/s%3", ""},
		{"POST", "/api/media/sessions/%g1/candidates", "application/json"},
		{"PATCH", "/whep/dev1/s%zz", "application/trickle-ice-sdpfrag"},
		{"DELETE", "/whep/dev%/s1", ""},
	} {
		req := httptest.NewRequest(tc.method, "/", strings.NewReader("{}"))
		req.URL.Path, req.URL.RawPath = tc.path, tc.path
		req.RemoteAddr = "192.0.2.1:4000"
		req.Header.Set("Authorization", "Bearer "+aliceSecret)
		if tc.ct != "" {
			req.Header.Set("Content-Type", tc.ct)
		}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		if w.Code != 400 {
			t.Errorf("%s %s: %d, want 400: %s", tc.method, tc.path, w.Code, w.Body)
			continue
		}
		k.errorSchema(t, tc.method+" "+tc.path, w.Body.Bytes())
	}
}
