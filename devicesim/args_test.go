package devicesim

import (
	"strings"
	"testing"
	"time"
)

func TestParseRecordArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want recordOptions
		err  string
	}{
		{args: []string{"--output-format=h264", "-"}, want: recordOptions{format: "h264", bitRate: 20_000_000, timeLimit: 180 * time.Second}},
		{args: []string{"--output-format", "raw-frames", "--size", "360x640", "--bit-rate", "4M", "--time-limit", "3", "-"},
			want: recordOptions{format: "raw-frames", width: 360, height: 640, bitRate: 4_000_000, timeLimit: 3 * time.Second}},
		{args: []string{"-", "--bit-rate=1000000", "--output-format=h264", "--verbose"},
			want: recordOptions{format: "h264", bitRate: 1_000_000, timeLimit: 180 * time.Second, verbose: true}},
		{args: []string{"--help"}, want: recordOptions{format: "mp4", bitRate: 20_000_000, timeLimit: 180 * time.Second, help: true}},

		{args: []string{"--output-format=h264"}, err: "Must specify output file"},
		{args: []string{"--output-format=h264", "-", "-"}, err: "Must specify output file"},
		{args: []string{"--output-format=h264", "/sdcard/x.mp4"}, err: "standard output"},
		{args: []string{"-"}, err: "mp4"},
		{args: []string{"--output-format=gif", "-"}, err: "Unknown format 'gif'"},
		{args: []string{"--output-format=mp4", "-"}, err: "not simulated"},
		{args: []string{"--bit-rate", "5", "-"}, err: "Bit rate 5bps outside acceptable range [100000,200000000]"},
		{args: []string{"--bit-rate", "300M", "-"}, err: "outside acceptable range"},
		{args: []string{"--bit-rate", "fast", "-"}, err: "Invalid bit rate"},
		{args: []string{"--time-limit", "0", "-"}, err: "Time limit 0s outside acceptable range [1,180]"},
		{args: []string{"--time-limit", "181", "-"}, err: "Time limit 181s outside acceptable range [1,180]"},
		{args: []string{"--size", "720", "-"}, err: "Invalid size '720', must be width x height"},
		{args: []string{"--size", "0x640", "-"}, err: "Invalid size 0x640"},
		{args: []string{"--size"}, err: "requires an argument"},
		{args: []string{"--frobnicate", "-"}, err: "unrecognized option '--frobnicate'"},
		{args: []string{"-x", "-"}, err: "invalid option"},
		{args: []string{"--verbose=1", "-"}, err: "doesn't allow an argument"},
		{args: []string{"--rotate", "-"}, err: "not simulated"},
	} {
		got, err := parseRecordArgs(tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseRecordArgs(%q) error = %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseRecordArgs(%q) = %+v, %v; want %+v", tc.args, got, err, tc.want)
		}
	}
}

func TestParseKeyCode(t *testing.T) {
	for in, want := range map[string]int{
		"3": 3, "KEYCODE_HOME": 3, "HOME": 3, "KEYCODE_A": 29, "A": 29,
		"KEYCODE_0": 7, "0": 0, "288": 288, "KEYCODE_ENTER": 66, "-1": -1, "289": -1,
		"KEYCODE_NOPE": -1, "": -1, "3.5": -1,
	} {
		got, ok := parseKeyCode(in)
		if want < 0 {
			if ok {
				t.Errorf("parseKeyCode(%q) = %d, want an error", in, got)
			}
			continue
		}
		if !ok || got != want {
			t.Errorf("parseKeyCode(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
}

func TestParseCoord(t *testing.T) {
	for in, want := range map[string]int{
		"100": 100, "100.4": 100, "100.6": 101, "-3": -3, "5f": 5, "1e2": 100,
		"x": -999, "": -999, "NaN": -999, "Infinity": -999, "1e9": -999,
	} {
		got, ok := parseCoord(in)
		if want == -999 {
			if ok {
				t.Errorf("parseCoord(%q) = %d, want an error", in, got)
			}
			continue
		}
		if !ok || got != want {
			t.Errorf("parseCoord(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
}
