package media

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckDeviceID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"emulator-5554", true},
		{"127.0.0.1:5555", true},
		{"R58M123ABC", true},
		{"a.b_c:d-e", true},
		{strings.Repeat("a", MaxDeviceID), true},
		{"", false},
		{strings.Repeat("a", MaxDeviceID+1), false},
		{"dev;reboot", false},
		{"$(reboot)", false},
		{"a b", false},
		{"dev\n", false},
		{"host:transport:x'", false},
	} {
		err := CheckDeviceID(tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("CheckDeviceID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidDeviceID) {
			t.Errorf("CheckDeviceID(%q) = %v, not ErrInvalidDeviceID", tc.id, err)
		}
	}
}

func TestCheckUserID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"alice", true},
		{"user@example.com", true},
		{"42", true},
		{"名前", false},
		{"user 42", false},
		{strings.Repeat("u", MaxUserID), true},
		{"", false},
		{strings.Repeat("u", MaxUserID+1), false},
		{"bad\x00id", false},
		{"tab\tid", false},
		{"\xff\xfe", false},
	} {
		err := CheckUserID(tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("CheckUserID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidUserID) {
			t.Errorf("CheckUserID(%q) = %v, not ErrInvalidUserID", tc.id, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	s, err := ParseSize("720x1280")
	if err != nil || s != (Size{720, 1280}) || s.String() != "720x1280" {
		t.Fatalf("ParseSize = %v, %v", s, err)
	}
	for _, bad := range []string{"", "720", "0x10", "x", "16385x10", "-1x5", "1x1x1"} {
		if _, err := ParseSize(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ParseSize(%q) = %v, want ErrInvalidArgument", bad, err)
		}
	}
}
