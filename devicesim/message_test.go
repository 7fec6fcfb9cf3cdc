package devicesim

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestMessageRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name         string
		cmd, a0, a1  uint32
		data         []byte
		withChecksum bool
	}{
		{"cnxn", cmdCNXN, protocolVersion, maxPayload, []byte("device::features=\x00"), true},
		{"okay", cmdOKAY, 7, 9, nil, false},
		{"wrte", cmdWRTE, 1, 2, bytes.Repeat([]byte{0xff}, 4096), true},
		{"clse", cmdCLSE, 0, 3, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			var hdr [headerSize]byte
			if err := writeMessage(&buf, &hdr, tc.cmd, tc.a0, tc.a1, tc.data, tc.withChecksum); err != nil {
				t.Fatal(err)
			}
			if got, want := buf.Len(), headerSize+len(tc.data); got != want {
				t.Fatalf("wrote %d bytes, want %d", got, want)
			}
			m, err := readMessage(&buf, &hdr, maxPayload)
			if err != nil {
				t.Fatal(err)
			}
			if m.Command != tc.cmd || m.Arg0 != tc.a0 || m.Arg1 != tc.a1 || !bytes.Equal(m.Data, tc.data) {
				t.Fatalf("read %s(%d, %d, %d bytes), want %s(%d, %d, %d bytes)",
					commandName(m.Command), m.Arg0, m.Arg1, len(m.Data), commandName(tc.cmd), tc.a0, tc.a1, len(tc.data))
			}
			if m.Magic != tc.cmd^0xffffffff {
				t.Errorf("magic 0x%08x", m.Magic)
			}
			want := uint32(0)
			if tc.withChecksum {
				want = checksum(tc.data)
			}
			if m.DataCheck != want {
				t.Errorf("data_check %d, want %d", m.DataCheck, want)
			}
		})
	}
}

func TestChecksum(t *testing.T) {
	if got := checksum([]byte{1, 2, 0xff}); got != 258 {
		t.Fatalf("checksum = %d, want 258", got)
	}
}

func TestCommandNames(t *testing.T) {
	for c, want := range map[uint32]string{
		cmdCNXN: "CNXN", cmdAUTH: "AUTH", cmdOPEN: "OPEN", cmdOKAY: "OKAY",
		cmdWRTE: "WRTE", cmdCLSE: "CLSE", cmdSYNC: "SYNC", cmdSTLS: "STLS", 1: "0x00000001",
	} {
		if got := commandName(c); got != want {
			t.Errorf("commandName(0x%08x) = %q, want %q", c, got, want)
		}
	}
}

func TestReadMessageErrors(t *testing.T) {
	valid := func(cmd uint32, n int) []byte {
		var buf bytes.Buffer
		var hdr [headerSize]byte
		if err := writeMessage(&buf, &hdr, cmd, 1, 2, make([]byte, n), false); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	badMagic := valid(cmdOKAY, 0)
	badMagic[20] ^= 1
	unknown := valid(cmdOKAY, 0)
	copy(unknown[0:4], "ABCD")
	copy(unknown[20:24], []byte{^byte('A'), ^byte('B'), ^byte('C'), ^byte('D')})
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"short header", valid(cmdOKAY, 0)[:10], io.ErrUnexpectedEOF},
		{"short payload", valid(cmdWRTE, 100)[:headerSize+50], io.ErrUnexpectedEOF},
		{"header only", valid(cmdWRTE, 100)[:headerSize], io.ErrUnexpectedEOF},
		{"bad magic", badMagic, errBadMagic},
		{"unknown command", unknown, errBadCommand},
		{"too large", valid(cmdWRTE, maxPayload+1), errTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr [headerSize]byte
			_, err := readMessage(bytes.NewReader(tc.in), &hdr, maxPayload)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzMessage feeds arbitrary bytes to the message reader: it must never
// panic, never accept a payload over the limit, and whatever it accepts
// must re-encode to the same bytes.
func FuzzMessage(f *testing.F) {
	var hdr [headerSize]byte
	for _, m := range []message{
		{header: header{Command: cmdCNXN, Arg0: 0x01000001, Arg1: 1 << 20}, Data: []byte("host::features=shell_v2,cmd\x00")},
		{header: header{Command: cmdOPEN, Arg0: 1}, Data: []byte("shell:input tap 1 2\x00")},
		{header: header{Command: cmdWRTE, Arg0: 1, Arg1: 2}, Data: []byte("echo hi\n")},
		{header: header{Command: cmdOKAY, Arg0: 1, Arg1: 2}},
		{header: header{Command: cmdAUTH, Arg0: authToken}, Data: bytes.Repeat([]byte{7}, 20)},
	} {
		var buf bytes.Buffer
		_ = writeMessage(&buf, &hdr, m.Command, m.Arg0, m.Arg1, m.Data, true)
		f.Add(buf.Bytes(), uint32(1024))
	}
	f.Fuzz(func(t *testing.T, in []byte, maxData uint32) {
		maxData %= maxPayload + 1
		var hdr [headerSize]byte
		r := bytes.NewReader(in)
		var out bytes.Buffer
		consumed := 0
		for {
			m, err := readMessage(r, &hdr, maxData)
			if err != nil {
				break
			}
			if m.DataLen > maxData || int(m.DataLen) != len(m.Data) {
				t.Fatalf("accepted %d payload bytes (header says %d) over a limit of %d", len(m.Data), m.DataLen, maxData)
			}
			var enc [headerSize]byte
			encodeHeader(enc[:], m.header)
			out.Write(enc[:])
			out.Write(m.Data)
			consumed = len(in) - r.Len()
		}
		if !bytes.Equal(out.Bytes(), in[:consumed]) {
			t.Fatalf("re-encoding differs from the input")
		}
	})
}
