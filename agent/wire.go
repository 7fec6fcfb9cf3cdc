package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"unicode/utf8"
)

// Version is the agent's protocol and build version: the agent reports it
// in Ready and Pong, and the service restarts an agent that reports
// another.
const Version = "1"

// Frame types.
const (
	TypeHello        byte = 0x01
	TypePing         byte = 0x02
	TypeTouch        byte = 0x10
	TypeScroll       byte = 0x11
	TypeKey          byte = 0x12
	TypeText         byte = 0x13
	TypeSetClipboard byte = 0x14
	TypeGetClipboard byte = 0x15
	TypeRotate       byte = 0x16
	TypeScreen       byte = 0x17

	TypeReady     byte = 0x81
	TypePong      byte = 0x82
	TypeClipboard byte = 0x83
	TypeError     byte = 0x84
)

// Actions of Touch and Key (MotionEvent's and KeyEvent's values).
const (
	ActionDown   byte = 0
	ActionUp     byte = 1
	ActionMove   byte = 2
	ActionCancel byte = 3
)

// Limits.
const (
	// MaxFrame is the largest length of a frame (type and payload).
	MaxFrame = 1 << 20
	// MaxSecret is the longest Hello secret.
	MaxSecret = 64
	// MaxPointers is how many pointers the agent tracks at once.
	MaxPointers = 10
	// MaxCoord bounds a touch or scroll coordinate.
	MaxCoord = 1 << 15
	// MaxScroll bounds a scroll amount.
	MaxScroll = 16
	// MaxText is the longest text or clipboard, in bytes.
	MaxText = MaxFrame - 2
)

// ErrFrame is wrapped by every error about a malformed frame.
var ErrFrame = errors.New("agent: malformed frame")

// Message is one frame's content.
type Message interface {
	// Type is the frame type.
	Type() byte
	// AppendPayload appends the payload's bytes to b.
	AppendPayload(b []byte) []byte
}

// Hello opens a connection: the secret the agent was started with.
type Hello struct{ Secret []byte }

// Ping asks for a Pong with the same Seq.
type Ping struct{ Seq uint32 }

// Touch is one pointer's event. X and Y are device pixels.
type Touch struct {
	Action   byte
	Pointer  uint8
	X, Y     int32
	Pressure uint16
}

// Scroll is a wheel turn at (X, Y): H and V in notches.
type Scroll struct {
	X, Y int32
	H, V float32
}

// Key is one key event: an Android key code with its meta state.
type Key struct {
	Action byte
	Code   int32
	Repeat int32
	Meta   int32
}

// Text is typed.
type Text struct{ Text string }

// SetClipboard sets the device's clipboard and, with Paste, pastes it.
type SetClipboard struct {
	Paste bool
	Text  string
}

// GetClipboard asks for a Clipboard with Changed false.
type GetClipboard struct{}

// Rotate sets the display's rotation (0..3), or gives it back to the
// sensor (-1).
type Rotate struct{ Rotation int8 }

// Screen turns the display on (wakes the device) or off.
type Screen struct{ On bool }

// Ready answers a good Hello.
type Ready struct {
	SDK     int32
	Version string
}

// Pong answers a Ping.
type Pong struct {
	Seq     uint32
	Uptime  int64 // the device's uptime clock, ms
	Version string
}

// Clipboard is the device's clipboard: an answer to GetClipboard, or
// (Changed) a change the agent saw.
type Clipboard struct {
	Changed bool
	Text    string
}

// Error tells that a request failed on the device.
type Error struct {
	Request byte
	Message string
}

func (Hello) Type() byte        { return TypeHello }
func (Ping) Type() byte         { return TypePing }
func (Touch) Type() byte        { return TypeTouch }
func (Scroll) Type() byte       { return TypeScroll }
func (Key) Type() byte          { return TypeKey }
func (Text) Type() byte         { return TypeText }
func (SetClipboard) Type() byte { return TypeSetClipboard }
func (GetClipboard) Type() byte { return TypeGetClipboard }
func (Rotate) Type() byte       { return TypeRotate }
func (Screen) Type() byte       { return TypeScreen }
func (Ready) Type() byte        { return TypeReady }
func (Pong) Type() byte         { return TypePong }
func (Clipboard) Type() byte    { return TypeClipboard }
func (Error) Type() byte        { return TypeError }

func (m Hello) AppendPayload(b []byte) []byte { return append(b, m.Secret...) }
func (m Ping) AppendPayload(b []byte) []byte  { return binary.BigEndian.AppendUint32(b, m.Seq) }
func (m Touch) AppendPayload(b []byte) []byte {
	b = append(b, m.Action, m.Pointer)
	b = binary.BigEndian.AppendUint32(b, uint32(m.X))
	b = binary.BigEndian.AppendUint32(b, uint32(m.Y))
	return binary.BigEndian.AppendUint16(b, m.Pressure)
}
func (m Scroll) AppendPayload(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(m.X))
	b = binary.BigEndian.AppendUint32(b, uint32(m.Y))
	b = binary.BigEndian.AppendUint32(b, math.Float32bits(m.H))
	return binary.BigEndian.AppendUint32(b, math.Float32bits(m.V))
}
func (m Key) AppendPayload(b []byte) []byte {
	b = append(b, m.Action)
	b = binary.BigEndian.AppendUint32(b, uint32(m.Code))
	b = binary.BigEndian.AppendUint32(b, uint32(m.Repeat))
	return binary.BigEndian.AppendUint32(b, uint32(m.Meta))
}
func (m Text) AppendPayload(b []byte) []byte { return append(b, m.Text...) }
func (m SetClipboard) AppendPayload(b []byte) []byte {
	return append(append(b, boolByte(m.Paste)), m.Text...)
}
func (GetClipboard) AppendPayload(b []byte) []byte { return b }
func (m Rotate) AppendPayload(b []byte) []byte     { return append(b, byte(m.Rotation)) }
func (m Screen) AppendPayload(b []byte) []byte     { return append(b, boolByte(m.On)) }
func (m Ready) AppendPayload(b []byte) []byte {
	return append(binary.BigEndian.AppendUint32(b, uint32(m.SDK)), m.Version...)
}
func (m Pong) AppendPayload(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, m.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Uptime))
	return append(b, m.Version...)
}
func (m Clipboard) AppendPayload(b []byte) []byte {
	return append(append(b, boolByte(m.Changed)), m.Text...)
}
func (m Error) AppendPayload(b []byte) []byte { return append(append(b, m.Request), m.Message...) }

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// AppendFrame appends m as a whole frame to b.
func AppendFrame(b []byte, m Message) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, m.Type())
	b = m.AppendPayload(b)
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

// WriteFrame writes m as one frame, in one Write.
func WriteFrame(w io.Writer, m Message) error {
	_, err := w.Write(AppendFrame(nil, m))
	return err
}

// ReadFrame reads one frame and returns its type and payload. An unknown
// type is not an error here; Parse says so.
func ReadFrame(r io.Reader) (byte, []byte, error) {
	var head [5]byte
	if _, err := io.ReadFull(r, head[:4]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(head[:4])
	if n < 1 || n > MaxFrame {
		return 0, nil, fmt.Errorf("%w: length %d (want 1..%d)", ErrFrame, n, MaxFrame)
	}
	if _, err := io.ReadFull(r, head[4:]); err != nil {
		return 0, nil, noEOF(err)
	}
	payload := make([]byte, n-1)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, noEOF(err)
	}
	return head[4], payload, nil
}

// noEOF turns an EOF inside a frame into ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ErrUnknownType is returned by Parse for a frame type it does not know:
// the reader skips the frame.
var ErrUnknownType = errors.New("agent: unknown frame type")

// Parse decodes a frame's payload and validates it: every field in range,
// strings valid UTF-8. It never panics on hostile bytes.
func Parse(typ byte, p []byte) (Message, error) {
	bad := func(format string, args ...any) (Message, error) {
		return nil, fmt.Errorf("%w: type 0x%02x: %s", ErrFrame, typ, fmt.Sprintf(format, args...))
	}
	size := func(n int) bool { return len(p) == n }
	text := func(s []byte) (string, bool) { return string(s), utf8.Valid(s) }
	u32 := func(i int) uint32 { return binary.BigEndian.Uint32(p[i:]) }
	switch typ {
	case TypeHello:
		if len(p) < 1 || len(p) > MaxSecret {
			return bad("secret of %d bytes (want 1..%d)", len(p), MaxSecret)
		}
		return Hello{Secret: append([]byte(nil), p...)}, nil
	case TypePing:
		if !size(4) {
			return bad("%d bytes (want 4)", len(p))
		}
		return Ping{Seq: u32(0)}, nil
	case TypeTouch:
		if !size(12) {
			return bad("%d bytes (want 12)", len(p))
		}
		m := Touch{Action: p[0], Pointer: p[1], X: int32(u32(2)), Y: int32(u32(6)), Pressure: binary.BigEndian.Uint16(p[10:])}
		if m.Action > ActionCancel {
			return bad("action %d", m.Action)
		}
		if m.Pointer >= MaxPointers {
			return bad("pointer %d (want 0..%d)", m.Pointer, MaxPointers-1)
		}
		if !coord(m.X) || !coord(m.Y) {
			return bad("point (%d, %d) (want 0..%d)", m.X, m.Y, MaxCoord)
		}
		return m, nil
	case TypeScroll:
		if !size(16) {
			return bad("%d bytes (want 16)", len(p))
		}
		m := Scroll{X: int32(u32(0)), Y: int32(u32(4)), H: math.Float32frombits(u32(8)), V: math.Float32frombits(u32(12))}
		if !coord(m.X) || !coord(m.Y) {
			return bad("point (%d, %d) (want 0..%d)", m.X, m.Y, MaxCoord)
		}
		if !scroll(m.H) || !scroll(m.V) {
			return bad("scroll (%g, %g) (want -%d..%d)", m.H, m.V, MaxScroll, MaxScroll)
		}
		return m, nil
	case TypeKey:
		if !size(13) {
			return bad("%d bytes (want 13)", len(p))
		}
		m := Key{Action: p[0], Code: int32(u32(1)), Repeat: int32(u32(5)), Meta: int32(u32(9))}
		if m.Action > ActionUp {
			return bad("key action %d", m.Action)
		}
		if m.Code < 0 || m.Code > 1000 || m.Repeat < 0 {
			return bad("key code %d repeat %d", m.Code, m.Repeat)
		}
		return m, nil
	case TypeText:
		s, ok := text(p)
		if !ok || s == "" {
			return bad("text is empty or not UTF-8")
		}
		return Text{Text: s}, nil
	case TypeSetClipboard:
		if len(p) < 1 || p[0] > 1 {
			return bad("no paste flag")
		}
		s, ok := text(p[1:])
		if !ok {
			return bad("clipboard is not UTF-8")
		}
		return SetClipboard{Paste: p[0] == 1, Text: s}, nil
	case TypeGetClipboard:
		if !size(0) {
			return bad("%d bytes (want 0)", len(p))
		}
		return GetClipboard{}, nil
	case TypeRotate:
		if !size(1) || int8(p[0]) < -1 || int8(p[0]) > 3 {
			return bad("rotation (want one byte, -1..3)")
		}
		return Rotate{Rotation: int8(p[0])}, nil
	case TypeScreen:
		if !size(1) || p[0] > 1 {
			return bad("screen (want one byte, 0 or 1)")
		}
		return Screen{On: p[0] == 1}, nil
	case TypeReady:
		if len(p) < 4 {
			return bad("%d bytes (want at least 4)", len(p))
		}
		s, ok := text(p[4:])
		if !ok {
			return bad("version is not UTF-8")
		}
		return Ready{SDK: int32(u32(0)), Version: s}, nil
	case TypePong:
		if len(p) < 12 {
			return bad("%d bytes (want at least 12)", len(p))
		}
		s, ok := text(p[12:])
		if !ok {
			return bad("version is not UTF-8")
		}
		return Pong{Seq: u32(0), Uptime: int64(binary.BigEndian.Uint64(p[4:])), Version: s}, nil
	case TypeClipboard:
		if len(p) < 1 || p[0] > 1 {
			return bad("no changed flag")
		}
		s, ok := text(p[1:])
		if !ok {
			return bad("clipboard is not UTF-8")
		}
		return Clipboard{Changed: p[0] == 1, Text: s}, nil
	case TypeError:
		if len(p) < 1 {
			return bad("no request type")
		}
		s, ok := text(p[1:])
		if !ok {
			return bad("message is not UTF-8")
		}
		return Error{Request: p[0], Message: s}, nil
	}
	return nil, fmt.Errorf("%w 0x%02x", ErrUnknownType, typ)
}

func coord(v int32) bool { return v >= 0 && v <= MaxCoord }

func scroll(v float32) bool {
	return !math.IsNaN(float64(v)) && v >= -MaxScroll && v <= MaxScroll
}

// ReadMessage reads frames until one of a known type, and parses it.
func ReadMessage(r io.Reader) (Message, error) {
	for {
		typ, p, err := ReadFrame(r)
		if err != nil {
			return nil, err
		}
		m, err := Parse(typ, p)
		if errors.Is(err, ErrUnknownType) {
			continue
		}
		return m, err
	}
}
