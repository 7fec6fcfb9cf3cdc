package agent

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
)

// every holds a message of each type, at the edges of its ranges.
var every = []Message{
	Hello{Secret: []byte("0123456789abcdef")},
	Hello{Secret: bytes.Repeat([]byte{0xff}, MaxSecret)},
	Ping{Seq: 0},
	Ping{Seq: math.MaxUint32},
	Touch{Action: ActionDown, Pointer: 0, X: 0, Y: 0, Pressure: 65535},
	Touch{Action: ActionCancel, Pointer: MaxPointers - 1, X: MaxCoord, Y: MaxCoord, Pressure: 0},
	Scroll{X: 1, Y: 2, H: -MaxScroll, V: MaxScroll},
	Scroll{X: MaxCoord, Y: 0, H: 0.25, V: float32(math.Copysign(0, -1))},
	Key{Action: ActionDown, Code: 0, Repeat: 0, Meta: 0},
	Key{Action: ActionUp, Code: 1000, Repeat: math.MaxInt32, Meta: -1},
	Text{Text: "héllo 你好 👋"},
	SetClipboard{Paste: true, Text: ""},
	SetClipboard{Paste: false, Text: "copied ✓"},
	GetClipboard{},
	Rotate{Rotation: -1},
	Rotate{Rotation: 3},
	Screen{On: true},
	Screen{On: false},
	Ready{SDK: 35, Version: Version},
	Ready{SDK: -1, Version: ""},
	Pong{Seq: 7, Uptime: math.MaxInt64, Version: Version},
	Clipboard{Changed: true, Text: "📋"},
	Clipboard{Changed: false, Text: ""},
	Error{Request: TypeKey, Message: "java.lang.SecurityException: no"},
	Error{Request: 0xff, Message: ""},
}

func TestRoundTrip(t *testing.T) {
	seen := map[byte]bool{}
	var stream bytes.Buffer
	for _, m := range every {
		seen[m.Type()] = true
		frame := AppendFrame(nil, m)
		if n := binary.BigEndian.Uint32(frame); int(n) != len(frame)-4 || frame[4] != m.Type() {
			t.Errorf("%#v: frame % x: bad length or type", m, frame)
		}
		typ, p, err := ReadFrame(bytes.NewReader(frame))
		if err != nil {
			t.Fatalf("%#v: ReadFrame: %v", m, err)
		}
		got, err := Parse(typ, p)
		if err != nil {
			t.Fatalf("%#v: Parse: %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip: %#v, want %#v", got, m)
		}
		if err := WriteFrame(&stream, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, typ := range []byte{TypeHello, TypePing, TypeTouch, TypeScroll, TypeKey, TypeText, TypeSetClipboard, TypeGetClipboard,
		TypeRotate, TypeScreen, TypeReady, TypePong, TypeClipboard, TypeError} {
		if !seen[typ] {
			t.Errorf("no message of type 0x%02x in the table", typ)
		}
	}
	// the same as a stream, unknown frames between them skipped
	var mixed bytes.Buffer
	for i, frame := 0, stream.Bytes(); len(frame) > 0; i++ {
		n := 4 + binary.BigEndian.Uint32(frame)
		mixed.Write([]byte{0, 0, 0, 3, 0x70 + byte(i%8), 1, 2})
		mixed.Write(frame[:n])
		frame = frame[n:]
	}
	for _, want := range every {
		got, err := ReadMessage(&mixed)
		if err != nil {
			t.Fatalf("ReadMessage: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ReadMessage: %#v, want %#v", got, want)
		}
	}
	if _, err := ReadMessage(&mixed); err != io.EOF {
		t.Errorf("ReadMessage at the end: %v, want EOF", err)
	}
}

// TestEncoding pins the bytes of each payload layout (doc.go), which the
// agent's smali reads and writes.
func TestEncoding(t *testing.T) {
	for _, c := range []struct {
		m    Message
		want string
	}{
		{Hello{Secret: []byte("ab")}, "00000003 01 6162"},
		{Ping{Seq: 0x01020304}, "00000005 02 01020304"},
		{Touch{Action: ActionMove, Pointer: 1, X: 100, Y: 200, Pressure: 0xffff}, "0000000d 10 02 01 00000064 000000c8 ffff"},
		{Scroll{X: 1, Y: 2, H: -1, V: 2.5}, "00000011 11 00000001 00000002 bf800000 40200000"},
		{Key{Action: ActionUp, Code: 29, Repeat: 2, Meta: 0x41}, "0000000e 12 01 0000001d 00000002 00000041"},
		{Text{Text: "é"}, "00000003 13 c3a9"},
		{SetClipboard{Paste: true, Text: "x"}, "00000003 14 01 78"},
		{GetClipboard{}, "00000001 15"},
		{Rotate{Rotation: -1}, "00000002 16 ff"},
		{Screen{On: true}, "00000002 17 01"},
		{Ready{SDK: 21, Version: "1"}, "00000006 81 00000015 31"},
		{Pong{Seq: 9, Uptime: 0x0102030405, Version: "1"}, "0000000e 82 00000009 0000000102030405 31"},
		{Clipboard{Changed: true, Text: "y"}, "00000003 83 01 79"},
		{Error{Request: TypeKey, Message: "z"}, "00000003 84 12 7a"},
	} {
		got := AppendFrame(nil, c.m)
		want := strings.ReplaceAll(c.want, " ", "")
		if h := hex.EncodeToString(got); h != want {
			t.Errorf("%#v: %s, want %s", c.m, h, want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	u32 := func(v ...uint32) []byte {
		var b []byte
		for _, x := range v {
			b = binary.BigEndian.AppendUint32(b, x)
		}
		return b
	}
	touch := func(action, pointer byte, x, y int32) []byte {
		return append(append([]byte{action, pointer}, u32(uint32(x), uint32(y))...), 0, 0)
	}
	key := func(action byte, code, repeat int32) []byte {
		return append([]byte{action}, u32(uint32(code), uint32(repeat), 0)...)
	}
	scroll := func(x, y int32, h, v float32) []byte {
		return u32(uint32(x), uint32(y), math.Float32bits(h), math.Float32bits(v))
	}
	for _, c := range []struct {
		name string
		typ  byte
		p    []byte
	}{
		{"empty secret", TypeHello, nil},
		{"long secret", TypeHello, make([]byte, MaxSecret+1)},
		{"short ping", TypePing, []byte{1, 2, 3}},
		{"long ping", TypePing, make([]byte, 5)},
		{"short touch", TypeTouch, make([]byte, 11)},
		{"long touch", TypeTouch, make([]byte, 13)},
		{"touch action", TypeTouch, touch(ActionCancel+1, 0, 0, 0)},
		{"touch pointer", TypeTouch, touch(ActionDown, MaxPointers, 0, 0)},
		{"touch x < 0", TypeTouch, touch(ActionDown, 0, -1, 0)},
		{"touch y > max", TypeTouch, touch(ActionDown, 0, 0, MaxCoord+1)},
		{"short scroll", TypeScroll, make([]byte, 15)},
		{"scroll x", TypeScroll, scroll(-1, 0, 0, 0)},
		{"scroll y", TypeScroll, scroll(0, MaxCoord+1, 0, 0)},
		{"scroll NaN", TypeScroll, scroll(0, 0, float32(math.NaN()), 0)},
		{"scroll +Inf", TypeScroll, scroll(0, 0, 0, float32(math.Inf(1)))},
		{"scroll too far", TypeScroll, scroll(0, 0, -MaxScroll-1, 0)},
		{"short key", TypeKey, make([]byte, 12)},
		{"key action", TypeKey, key(ActionMove, 0, 0)},
		{"key code < 0", TypeKey, key(ActionDown, -1, 0)},
		{"key code > 1000", TypeKey, key(ActionDown, 1001, 0)},
		{"key repeat < 0", TypeKey, key(ActionDown, 1, -1)},
		{"empty text", TypeText, nil},
		{"text not UTF-8", TypeText, []byte{0xc3}},
		{"clipboard without flag", TypeSetClipboard, nil},
		{"clipboard flag", TypeSetClipboard, []byte{2, 'x'}},
		{"clipboard not UTF-8", TypeSetClipboard, []byte{1, 0xff}},
		{"get clipboard payload", TypeGetClipboard, []byte{0}},
		{"rotation -2", TypeRotate, []byte{0xfe}},
		{"rotation 4", TypeRotate, []byte{4}},
		{"empty rotation", TypeRotate, nil},
		{"long rotation", TypeRotate, []byte{1, 1}},
		{"screen 2", TypeScreen, []byte{2}},
		{"empty screen", TypeScreen, nil},
		{"short ready", TypeReady, []byte{0, 0, 0}},
		{"ready version not UTF-8", TypeReady, []byte{0, 0, 0, 21, 0xff}},
		{"short pong", TypePong, make([]byte, 11)},
		{"pong version not UTF-8", TypePong, append(make([]byte, 12), 0xfe)},
		{"clipboard report without flag", TypeClipboard, nil},
		{"clipboard report flag", TypeClipboard, []byte{3}},
		{"clipboard report not UTF-8", TypeClipboard, []byte{1, 0x80}},
		{"empty error", TypeError, nil},
		{"error not UTF-8", TypeError, []byte{TypeKey, 0xc0, 0x80}},
	} {
		m, err := Parse(c.typ, c.p)
		if !errors.Is(err, ErrFrame) || m != nil {
			t.Errorf("%s: Parse(0x%02x, % x) = %#v, %v; want ErrFrame", c.name, c.typ, c.p, m, err)
		}
	}
	for _, typ := range []byte{0x00, 0x03, 0x18, 0x7f, 0x80, 0x85, 0xff} {
		m, err := Parse(typ, []byte{1})
		if !errors.Is(err, ErrUnknownType) || errors.Is(err, ErrFrame) || m != nil {
			t.Errorf("Parse(0x%02x) = %#v, %v; want ErrUnknownType", typ, m, err)
		}
	}
}

func TestReadFrameRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		want error
	}{
		{"nothing", nil, io.EOF},
		{"half a length", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"length 0", []byte{0, 0, 0, 0, 1}, ErrFrame},
		{"over MaxFrame", binary.BigEndian.AppendUint32(nil, MaxFrame+1), ErrFrame},
		{"no type", []byte{0, 0, 0, 1}, io.ErrUnexpectedEOF},
		{"short payload", []byte{0, 0, 0, 5, TypePing, 1, 2}, io.ErrUnexpectedEOF},
	} {
		if _, _, err := ReadFrame(bytes.NewReader(c.in)); !errors.Is(err, c.want) {
			t.Errorf("%s: ReadFrame: %v, want %v", c.name, err, c.want)
		}
	}
	// the largest frame is read whole
	big := AppendFrame(nil, SetClipboard{Text: strings.Repeat("x", MaxText)})
	typ, p, err := ReadFrame(bytes.NewReader(big))
	if err != nil || typ != TypeSetClipboard || len(p) != MaxFrame-1 {
		t.Errorf("ReadFrame of a %d-byte frame: type 0x%02x, %d bytes, %v", len(big), typ, len(p), err)
	}
	// a malformed frame of a known type is an error of ReadMessage
	if _, err := ReadMessage(bytes.NewReader([]byte{0, 0, 0, 2, TypeRotate, 9})); !errors.Is(err, ErrFrame) {
		t.Errorf("ReadMessage of a bad Rotate: %v, want ErrFrame", err)
	}
}
