package agent

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzParse feeds arbitrary bytes to ReadFrame and Parse as a stream of
// frames: they must never panic, and a message Parse accepts must encode
// to the same frame, which parses to the same message. The committed
// corpus is testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, m := range every {
		f.Add(AppendFrame(nil, m))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			typ, p, err := ReadFrame(r)
			if err != nil {
				if errors.Is(err, ErrFrame) && len(p) != 0 {
					t.Fatalf("ReadFrame: a payload with error %v", err)
				}
				return
			}
			m, err := Parse(typ, p)
			if err != nil {
				if m != nil {
					t.Fatalf("Parse(0x%02x, % x): %#v with error %v", typ, p, m, err)
				}
				if !errors.Is(err, ErrFrame) && !errors.Is(err, ErrUnknownType) {
					t.Fatalf("Parse(0x%02x, % x): %v, want ErrFrame or ErrUnknownType", typ, p, err)
				}
				continue
			}
			if m.Type() != typ {
				t.Fatalf("Parse(0x%02x): a message of type 0x%02x", typ, m.Type())
			}
			frame := AppendFrame(nil, m)
			typ2, p2, err := ReadFrame(bytes.NewReader(frame))
			if err != nil || typ2 != typ || !bytes.Equal(p2, p) {
				t.Fatalf("%#v re-encodes to % x (%v), want type 0x%02x payload % x", m, frame, err, typ, p)
			}
			m2, err := Parse(typ2, p2)
			if err != nil || !reflect.DeepEqual(m2, m) {
				t.Fatalf("%#v re-parses to %#v, %v", m, m2, err)
			}
		}
	})
}
