package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// envCases is shared by the unit test and the fuzz target's seed corpus.
var envCases = []struct {
	name string
	in   string
	want []KeyValue
	err  bool
}{
	{"empty", "", nil, false},
	{"comments and blanks", "# c\n\n   # d\r\n", nil, false},
	{"plain", "PORT=8080\n", []KeyValue{{"PORT", "8080", 1}}, false},
	{"export and spaces", "export  A = b c \n", []KeyValue{{"A", "b c", 1}}, false},
	{"inline comment", "A=x # note\nB=y#z\n", []KeyValue{{"A", "x", 1}, {"B", "y#z", 2}}, false},
	{"single quotes literal", `A='a \n # b'`, []KeyValue{{"A", `a \n # b`, 1}}, false},
	{"double quote escapes", `A="x\ty\n\"q\"\\" # c`, []KeyValue{{"A", "x\ty\n\"q\"\\", 1}}, false},
	{"crlf", "A=1\r\nB=2\r\n", []KeyValue{{"A", "1", 1}, {"B", "2", 2}}, false},
	{"empty value", "A=\n", []KeyValue{{"A", "", 1}}, false},
	{"no equals", "JUSTTEXT\n", nil, true},
	{"bad key", "1A=2\n", nil, true},
	{"key with dash", "A-B=2\n", nil, true},
	{"unterminated single", "A='x\n", nil, true},
	{"unterminated double", `A="x`, nil, true},
	{"trailing backslash", `A="x\`, nil, true},
	{"text after quote", `A="x" y`, nil, true},
}

func TestParseEnv(t *testing.T) {
	for _, tc := range envCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEnv([]byte(tc.in))
			if tc.err {
				if !errors.Is(err, ErrSyntax) {
					t.Fatalf("ParseEnv(%q) = %v, %v; want ErrSyntax", tc.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseEnv(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzParseEnv(f *testing.F) {
	for _, tc := range envCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		kvs, err := ParseEnv(data)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v does not wrap ErrSyntax", err)
			}
			return
		}
		lines := strings.Count(string(data), "\n") + 1
		for _, kv := range kvs {
			if !envKey.MatchString(kv.Key) {
				t.Fatalf("parsed invalid key %q", kv.Key)
			}
			if kv.Line < 1 || kv.Line > lines {
				t.Fatalf("line %d outside 1..%d", kv.Line, lines)
			}
			if utf8.ValidString(string(data)) && !utf8.ValidString(kv.Value) {
				t.Fatalf("valid UTF-8 input gave invalid value %q", kv.Value)
			}
		}
	})
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, ".env")
	if err := os.WriteFile(file, []byte("# file\nVIDEO_BITRATE=3000000\nH264_PRESET=veryfast\nUSE_WORKER_POOL=true\nADB_DEVICES=127.0.0.1:5555, redroid:5555 ,\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(file, env(map[string]string{"H264_PRESET": "ultrafast", "PORT": "31000", "ENCODE_TIMEOUT": "250ms"}))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.VideoBitRate = 3_000_000 // from the file
	want.H264Preset = "ultrafast" // the environment wins over the file
	want.UseWorkerPool = true
	want.Port = 31000
	want.ICEUDPMuxPort = 31000 // ICE follows the HTTP port unless set
	want.EncodeTimeout = 250 * time.Millisecond
	want.ADBDevices = []string{"127.0.0.1:5555", "redroid:5555"}
	if !reflect.DeepEqual(c.withoutSet(), want) {
		t.Fatalf("Load = %+v\nwant %+v", c, want)
	}

	// A missing file is no error; the defaults validate.
	c, err = Load(filepath.Join(dir, "absent"), env(nil))
	if err != nil || !reflect.DeepEqual(c.withoutSet(), Default()) {
		t.Fatalf("Load without file = %+v, %v; want the defaults", c, err)
	}
}

func TestLoadErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		file string
		want []string
	}{
		{env: map[string]string{"CAPTURE_MODE": "scrcpy"}, want: []string{"CAPTURE_MODE", "screenrecord, screencap, raw-frames"}},
		{env: map[string]string{"H264_HW_ACCEL": "cuda"}, want: []string{"H264_HW_ACCEL", "auto, nvenc, qsv, vaapi, none"}},
		{env: map[string]string{"VIDEO_ENCODER_TYPE": "h265"}, want: []string{"VIDEO_ENCODER_TYPE", "passthrough"}},
		{env: map[string]string{"VIDEO_BITRATE": "2M"}, want: []string{"VIDEO_BITRATE", "not an integer"}},
		{env: map[string]string{"VIDEO_FRAMERATE": "0"}, want: []string{"VIDEO_FRAMERATE=0", "1..240"}},
		{env: map[string]string{"USE_WORKER_POOL": "yes please"}, want: []string{"USE_WORKER_POOL", "boolean"}},
		{env: map[string]string{"PORT": "70000", "WORKER_COUNT": "300"}, want: []string{"PORT=70000", "WORKER_COUNT=300"}},
		{env: map[string]string{"ADB_SERVER": "localhost"}, want: []string{"ADB_SERVER", "HOST:PORT"}},
		{env: map[string]string{"API_TOKENS": "short"}, want: []string{"API_TOKENS", "at least 16"}},
		{env: map[string]string{"STUN_URLS": "http://x"}, want: []string{"STUN_URLS", "stun:"}},
		{env: map[string]string{"NAT_1TO1_IPS": "1.2.3.4,example.com"}, want: []string{"NAT_1TO1_IPS", "example.com"}},
		{env: map[string]string{"ICE_PORT_MIN": "60000", "ICE_PORT_MAX": "50000"}, want: []string{"ICE_PORT_MAX=50000", "60000..65535"}},
		{env: map[string]string{"ENCODE_TIMEOUT": "200"}, want: []string{"ENCODE_TIMEOUT", "not a duration"}},
		{env: map[string]string{"WRITE_TIMEOUT": "0s"}, want: []string{"WRITE_TIMEOUT=0s", "1ms..1m0s"}},
		{env: map[string]string{"ADB_DEVICES": "127.0.0.1:5555,bad;host"}, want: []string{"ADB_DEVICES", "bad;host"}},
		{env: map[string]string{"ADB_DEVICES": "x;reboot:5555"}, want: []string{"ADB_DEVICES", "x;reboot:5555"}},
		{file: "VIDEO_BITRAT=1\n", want: []string{"unknown variable VIDEO_BITRAT"}},
		{file: "garbage line\n", want: []string{"line 1", "KEY=VALUE"}},
	} {
		file := ""
		if tc.file != "" {
			file = filepath.Join(t.TempDir(), ".env")
			if err := os.WriteFile(file, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		_, err := Load(file, env(tc.env))
		if err == nil {
			t.Fatalf("Load(%v, %q) succeeded", tc.env, tc.file)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Load(%v, %q) = %q, want it to mention %q", tc.env, tc.file, err, w)
			}
		}
	}
}

// TestEnvExampleDocumentsEveryVariable keeps .env.example complete and
// loadable.
func TestEnvExampleDocumentsEveryVariable(t *testing.T) {
	data, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, v := range Variables() {
		if !strings.Contains(text, v+"=") {
			t.Errorf(".env.example does not document %s", v)
		}
	}
	// Uncommented, the example is a valid configuration equal to the defaults.
	var uncommented strings.Builder
	for line := range strings.SplitSeq(text, "\n") {
		// CONFIG_FILE names the file: the environment only.
		if s := strings.TrimPrefix(line, "# "); envKey.MatchString(strings.SplitN(s, "=", 2)[0]) && strings.Contains(s, "=") && !strings.HasPrefix(s, "CONFIG_FILE=") {
			uncommented.WriteString(s + "\n")
		}
	}
	file := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(file, []byte(uncommented.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(file, env(nil))
	if err != nil {
		t.Fatalf(".env.example with every line uncommented: %v", err)
	}
	if !reflect.DeepEqual(c.withoutSet(), Default()) {
		t.Fatalf(".env.example's values %+v differ from the defaults %+v", c, Default())
	}
}

func TestBitRateBounds(t *testing.T) {
	lookup := func(env map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	}
	c, err := Load("", lookup(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if c.MinBitRate != 150_000 || c.MaxBitRate != 8_000_000 {
		t.Fatalf("defaults %d..%d", c.MinBitRate, c.MaxBitRate)
	}
	for _, env := range []map[string]string{
		{"VIDEO_BITRATE": "10000000"},                      // above the default maximum
		{"MIN_BITRATE": "3000000"},                         // above the default start
		{"MIN_BITRATE": "500000", "MAX_BITRATE": "400000"}, // crossed
		{"MAX_BITRATE": "5000"},                            // out of range
	} {
		_, err := Load("", lookup(env))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "BITRATE") {
			t.Errorf("%v: %v, want an error naming the bit-rate variables", env, err)
		}
	}
	c, err = Load("", lookup(map[string]string{"MIN_BITRATE": "300000", "VIDEO_BITRATE": "1000000", "MAX_BITRATE": "3000000"}))
	if err != nil || c.MinBitRate != 300_000 || c.MaxBitRate != 3_000_000 {
		t.Fatalf("%+v, %v", c, err)
	}
}

// withoutSet drops the record of which variables were set, to compare
// values only.
func (c Config) withoutSet() Config {
	c.set, c.src = nil, nil
	return c
}

func TestIneffectiveAndImpossibleSettings(t *testing.T) {
	lookup := func(env map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	}
	_, err := Load("", lookup(map[string]string{"CAPTURE_MODE": "raw-frames", "VIDEO_ENCODER_TYPE": "passthrough"}))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "VIDEO_ENCODER_TYPE=passthrough") || !strings.Contains(err.Error(), "CAPTURE_MODE") {
		t.Fatalf("passthrough of raw frames: %v", err)
	}
	c, err := Load("", lookup(map[string]string{"VIDEO_ENCODER_TYPE": "passthrough", "USE_WORKER_POOL": "true", "H264_PRESET": "fast"}))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(c.Ineffective(), "; ")
	if !strings.Contains(got, "USE_WORKER_POOL (pass-through") || !strings.Contains(got, "H264_PRESET") || strings.Contains(got, "VIDEO_BITRATE") {
		t.Fatalf("ineffective: %q", got)
	}
	// The production settings of the original design: all take effect.
	c, err = Load("", lookup(map[string]string{"CAPTURE_MODE": "screenrecord", "VIDEO_ENCODER_TYPE": "h264", "USE_WORKER_POOL": "true",
		"WORKER_COUNT": "8", "H264_HW_ACCEL": "auto", "H264_PRESET": "faster", "VIDEO_FRAMERATE": "30", "VIDEO_BITRATE": "2000000"}))
	if err != nil {
		t.Fatal(err)
	}
	if list := c.Ineffective(); len(list) != 0 {
		t.Fatalf("the production settings name %v as ineffective", list)
	}
	c, err = Load("", lookup(map[string]string{"WORKER_COUNT": "8"}))
	if err != nil || !slices.Contains(c.Ineffective(), "WORKER_COUNT (USE_WORKER_POOL is false)") {
		t.Fatalf("WORKER_COUNT without the pool: %v %v", c.Ineffective(), err)
	}
	for _, bad := range []string{"0.5,1", "1,x", "2", "1,0.5,0.5", "1,0.05"} {
		if _, err := Load("", lookup(map[string]string{"VIDEO_RUNGS": bad})); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "VIDEO_RUNGS") {
			t.Errorf("VIDEO_RUNGS=%s: %v", bad, err)
		}
	}
}

// TestIneffective: the start-up warning names exactly the settings that
// the device's plan does not use in the mode, each once. The encoder's
// timeouts apply with or without the worker pool; VAAPI_DEVICE also
// serves the decoder of screenrecord's H.264.
func TestIneffective(t *testing.T) {
	timeouts := map[string]string{"ENCODE_TIMEOUT": "300ms", "WRITE_TIMEOUT": "50ms", "ENCODER_CLOSE_TIMEOUT": "2s"}
	with := func(base map[string]string, more ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, m := range append([]map[string]string{base}, more...) {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"pool: the timeouts apply", with(map[string]string{"CAPTURE_MODE": "screencap", "VIDEO_ENCODER_TYPE": "h264", "USE_WORKER_POOL": "true", "WORKER_COUNT": "2"}, timeouts), nil},
		{"pool in screenrecord mode", with(map[string]string{"VIDEO_ENCODER_TYPE": "auto", "USE_WORKER_POOL": "true"}, timeouts), nil},
		{"pipelines: the timeouts apply", with(map[string]string{"CAPTURE_MODE": "raw-frames", "VIDEO_ENCODER_TYPE": "vp8"}, timeouts), nil},
		{"pass-through", with(map[string]string{"VIDEO_ENCODER_TYPE": "passthrough", "USE_WORKER_POOL": "true", "VAAPI_DEVICE": "/dev/dri/renderD129", "VIDEO_BITRATE": "3000000"}, timeouts),
			[]string{"USE_WORKER_POOL", "ENCODE_TIMEOUT", "WRITE_TIMEOUT", "ENCODER_CLOSE_TIMEOUT", "VAAPI_DEVICE"}},
		{"WORKER_COUNT without the pool", map[string]string{"WORKER_COUNT": "8"}, []string{"WORKER_COUNT"}},
		{"vp8 decoding screenrecord", map[string]string{"VIDEO_ENCODER_TYPE": "vp8", "H264_PRESET": "fast", "H264_HW_ACCEL": "none", "VAAPI_DEVICE": "/dev/dri/renderD129"},
			[]string{"H264_HW_ACCEL", "H264_PRESET"}},
		{"vp8 of screenshots", map[string]string{"CAPTURE_MODE": "screencap", "VIDEO_ENCODER_TYPE": "vp8", "H264_HW_ACCEL": "none", "VAAPI_DEVICE": "/dev/dri/renderD129"},
			[]string{"H264_HW_ACCEL", "VAAPI_DEVICE"}},
		{"h264 without VA-API, decoding screenrecord", map[string]string{"VIDEO_ENCODER_TYPE": "h264", "H264_HW_ACCEL": "none", "VAAPI_DEVICE": "/dev/dri/renderD129"}, nil},
		{"h264 without VA-API, raw frames", map[string]string{"CAPTURE_MODE": "raw-frames", "VIDEO_ENCODER_TYPE": "h264", "H264_HW_ACCEL": "nvenc", "VAAPI_DEVICE": "/dev/dri/renderD129"},
			[]string{"VAAPI_DEVICE"}},
		{"h264 on VA-API", map[string]string{"CAPTURE_MODE": "raw-frames", "H264_HW_ACCEL": "vaapi", "VAAPI_DEVICE": "/dev/dri/renderD129"}, nil},
		{"auto in screenrecord mode, one rung", map[string]string{"VIDEO_RUNGS": "1", "H264_PRESET": "fast", "H264_PROFILE": "main", "VIDEO_KEYFRAME_INTERVAL": "30"},
			[]string{"H264_PRESET", "H264_PROFILE"}},
		{"auto in screenrecord mode, two rungs", map[string]string{"VIDEO_RUNGS": "1,0.5", "H264_PRESET": "fast", "H264_PROFILE": "main"}, nil},
		{"auto of screenshots, one rung", map[string]string{"CAPTURE_MODE": "screencap", "VIDEO_RUNGS": "1", "H264_PRESET": "fast"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load("", env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			list := c.Ineffective()
			var names []string
			for _, e := range list {
				name, _, _ := strings.Cut(e, " (")
				names = append(names, name)
			}
			slices.Sort(names)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(names, want) {
				t.Fatalf("Ineffective() = %q, want the variables %v", list, want)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	toks, err := ParseTokens([]string{"0123456789abcdef", "kiosk=fedcba9876543210fedc;view;devices=10.0.0.*|emulator-*"})
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != 2 || toks[0].Name != "token1" || toks[0].ViewOnly || toks[1].Name != "kiosk" || !toks[1].ViewOnly ||
		toks[1].Secret != "fedcba9876543210fedc" || !toks[1].MayOpen("10.0.0.5:5555") || toks[1].MayOpen("192.168.1.2:5555") || !toks[0].MayOpen("x") {
		t.Fatalf("tokens %+v", toks)
	}
	for _, bad := range [][]string{
		{"short"}, {"a=0123456789abcdef", "a=0123456789abcdeX"}, {"0123456789abcdef;admin"},
		{"0123456789abcdef;devices=["}, {"bad name=0123456789abcdef"},
	} {
		if _, err := ParseTokens(bad); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "API_TOKENS") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, err := Load("", env(map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,not-an-ip"})); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "TRUSTED_PROXIES") {
		t.Fatalf("TRUSTED_PROXIES: %v", err)
	}
}

func TestSettingsShowSourcesAndHideSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, ".env")
	if err := os.WriteFile(file, []byte("VIDEO_BITRATE=3000000\nTURN_PASSWORD=hunter2-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(file, env(map[string]string{"API_TOKENS": "ops=0123456789abcdef0123;view", "PORT": "31000"}))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Setting{}
	for _, s := range c.Settings() {
		got[s.Name] = s
	}
	if len(got) != len(Variables()) {
		t.Fatalf("%d settings for %d variables", len(got), len(Variables()))
	}
	checks := []struct{ name, value, source string }{
		{"VIDEO_BITRATE", "3000000", file}, {"PORT", "31000", "environment"}, {"ICE_UDP_MUX_PORT", "31000", "default"},
		{"API_TOKENS", "ops;view", "environment"}, {"TURN_PASSWORD", "(set)", file}, {"VIDEO_RUNGS", "1,0.5", "default"},
		{"ENCODE_TIMEOUT", "200ms", "default"},
	}
	for _, w := range checks {
		if s := got[w.name]; s.Value != w.value || s.Source != w.source {
			t.Errorf("%s = %+v, want %q from %s", w.name, s, w.value, w.source)
		}
	}
	for _, s := range c.Settings() {
		if strings.Contains(s.Value, "0123456789abcdef") || strings.Contains(s.Value, "hunter2") {
			t.Errorf("%s shows a secret: %q", s.Name, s.Value)
		}
	}
}

// TestWorkerCountAuto: WORKER_COUNT takes auto (kept as 0, shown as auto)
// or a number, and nothing else.
func TestWorkerCountAuto(t *testing.T) {
	c, err := Load("", env(map[string]string{"WORKER_COUNT": "auto"}))
	if err != nil || c.WorkerCount != 0 {
		t.Fatalf("auto: %d, %v", c.WorkerCount, err)
	}
	for _, st := range c.Settings() {
		if st.Name == "WORKER_COUNT" && st.Value != "auto" {
			t.Errorf("WORKER_COUNT shown as %q, want auto", st.Value)
		}
	}
	if c, err := Load("", env(map[string]string{"WORKER_COUNT": "12"})); err != nil || c.WorkerCount != 12 {
		t.Errorf("12: %d, %v", c.WorkerCount, err)
	}
	for _, bad := range []string{"many", "-1", "257"} {
		if _, err := Load("", env(map[string]string{"WORKER_COUNT": bad})); err == nil {
			t.Errorf("WORKER_COUNT=%s accepted", bad)
		}
	}
}
