package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/cloudphone/media-service/native"
)

func TestEncodersCommand(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"encoders"}, &out, &errb, env(nil))
	t.Logf("exit %d\n%s%s", code, out.String(), errb.String())
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	want := append(append([]string(nil), native.H264Candidates...), native.CodecVP8)
	if len(lines) != len(want)+1 {
		t.Fatalf("%d lines, want one per encoder (%v) and the selection", len(lines), want)
	}
	firstAvailable := ""
	for i, name := range want {
		f := strings.Fields(lines[i])
		if len(f) < 3 || f[0] != name {
			t.Fatalf("line %d %q: want %s, a status and a detail", i, lines[i], name)
		}
		switch f[1] {
		case "available":
			if !native.Available {
				t.Errorf("%s available without FFmpeg", name)
			}
			if firstAvailable == "" && name != native.CodecVP8 {
				firstAvailable = name
			}
		case "unavailable":
			// f[2:] is the reason, non-empty by the length check.
			if native.Available && !native.IsHardware(name) {
				t.Errorf("software encoder %s unavailable: %s", name, strings.Join(f[2:], " "))
			}
		default:
			t.Errorf("line %q: status %q, want available or unavailable", lines[i], f[1])
		}
	}
	last := lines[len(lines)-1]
	if !native.Available {
		if code != 1 || !strings.HasPrefix(last, "selected H.264 encoder: none") {
			t.Fatalf("without FFmpeg: exit %d, %q; want 1 and no encoder selected", code, last)
		}
		return
	}
	if code != 0 || last != "selected H.264 encoder: "+firstAvailable {
		t.Fatalf("exit %d, %q; want 0 and the first available H.264 encoder, %s", code, last, firstAvailable)
	}
}

func TestEncodersConfigError(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"encoders"}, &out, &errb, env(map[string]string{"H264_HW_ACCEL": "cuda"}))
	if code != 1 || !strings.Contains(errb.String(), "H264_HW_ACCEL") {
		t.Fatalf("exit %d, stderr %q; want 1 naming H264_HW_ACCEL", code, errb.String())
	}
}

func TestSelectH264(t *testing.T) {
	res := func(avail ...string) []native.ProbeResult {
		var out []native.ProbeResult
		for _, n := range append(append([]string(nil), native.H264Candidates...), native.CodecVP8) {
			r := native.ProbeResult{Encoder: n, Reason: "absent"}
			for _, a := range avail {
				if a == n {
					r = native.ProbeResult{Encoder: n, Available: true}
				}
			}
			out = append(out, r)
		}
		return out
	}
	for _, tc := range []struct {
		accel     string
		available []string
		want      string
		note      string
	}{
		{"auto", []string{native.CodecVAAPI, native.CodecX264}, native.CodecVAAPI, ""},
		{"auto", []string{native.CodecX264}, native.CodecX264, ""},
		{"none", []string{native.CodecNVENC, native.CodecX264}, native.CodecX264, ""},
		{"nvenc", []string{native.CodecNVENC, native.CodecQSV, native.CodecX264}, native.CodecNVENC, ""},
		{"qsv", []string{native.CodecNVENC, native.CodecX264}, native.CodecX264, "H264_HW_ACCEL=qsv but h264_qsv is unavailable; falling back to libx264"},
		{"vaapi", nil, "", "H264_HW_ACCEL=vaapi but h264_vaapi is unavailable; falling back to libx264; libx264: absent"},
		{"auto", nil, "", "no H.264 encoder available; libx264: absent"},
	} {
		got, note := selectH264(tc.accel, res(tc.available...))
		if got != tc.want || note != tc.note {
			t.Errorf("H264_HW_ACCEL=%s with %v: %q (%q), want %q (%q)", tc.accel, tc.available, got, note, tc.want, tc.note)
		}
	}
}
