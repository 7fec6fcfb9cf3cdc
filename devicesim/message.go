package devicesim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// ADB transport commands: the first word of every message header, four
// ASCII letters read as a little-endian uint32.
const (
	cmdSYNC uint32 = 0x434e5953
	cmdCNXN uint32 = 0x4e584e43
	cmdAUTH uint32 = 0x48545541
	cmdOPEN uint32 = 0x4e45504f
	cmdOKAY uint32 = 0x59414b4f
	cmdWRTE uint32 = 0x45545257
	cmdCLSE uint32 = 0x45534c43
	cmdSTLS uint32 = 0x534c5453
)

const (
	// versionMin is the original protocol version: payloads checksummed.
	versionMin uint32 = 0x01000000
	// versionSkipChecksum is the version from which neither side checks
	// data_check. It is the newest version this device speaks (the one
	// before "delayed ack").
	versionSkipChecksum uint32 = 0x01000001
	// protocolVersion is what the device announces in its CNXN.
	protocolVersion = versionSkipChecksum

	// maxPayload is the largest payload the device sends or accepts. The
	// host's own limit (1 MiB for adb 1.0.41) is larger; each side sends at
	// most the smaller of the two.
	maxPayload = 256 * 1024

	headerSize = 24
)

// Errors of the message codec.
var (
	errBadMagic   = errors.New("adb: bad magic")
	errTooLarge   = errors.New("adb: payload larger than maxdata")
	errBadCommand = errors.New("adb: unknown command")
)

// header is the fixed part of an ADB message.
type header struct {
	Command   uint32
	Arg0      uint32
	Arg1      uint32
	DataLen   uint32
	DataCheck uint32
	Magic     uint32
}

// message is a header and its payload.
type message struct {
	header
	Data []byte
}

// commandName returns the four letters of a command, or its hex value.
func commandName(c uint32) string {
	switch c {
	case cmdSYNC, cmdCNXN, cmdAUTH, cmdOPEN, cmdOKAY, cmdWRTE, cmdCLSE, cmdSTLS:
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], c)
		return string(b[:])
	}
	return fmt.Sprintf("0x%08x", c)
}

// checksum is the legacy data_check: the sum of the payload's bytes.
func checksum(data []byte) uint32 {
	var s uint32
	for _, b := range data {
		s += uint32(b)
	}
	return s
}

// encodeHeader writes h into b, which must hold headerSize bytes.
func encodeHeader(b []byte, h header) {
	_ = b[headerSize-1]
	binary.LittleEndian.PutUint32(b[0:], h.Command)
	binary.LittleEndian.PutUint32(b[4:], h.Arg0)
	binary.LittleEndian.PutUint32(b[8:], h.Arg1)
	binary.LittleEndian.PutUint32(b[12:], h.DataLen)
	binary.LittleEndian.PutUint32(b[16:], h.DataCheck)
	binary.LittleEndian.PutUint32(b[20:], h.Magic)
}

// decodeHeader parses and checks a header: the magic must be the command's
// complement, the command one of the protocol's, and the payload at most
// maxData bytes. Checksums are not verified: from protocol version
// 0x01000001 on, neither side computes them, and the host may send 0.
func decodeHeader(b []byte, maxData uint32) (header, error) {
	if len(b) < headerSize {
		return header{}, io.ErrUnexpectedEOF
	}
	h := header{
		Command:   binary.LittleEndian.Uint32(b[0:]),
		Arg0:      binary.LittleEndian.Uint32(b[4:]),
		Arg1:      binary.LittleEndian.Uint32(b[8:]),
		DataLen:   binary.LittleEndian.Uint32(b[12:]),
		DataCheck: binary.LittleEndian.Uint32(b[16:]),
		Magic:     binary.LittleEndian.Uint32(b[20:]),
	}
	if h.Magic != h.Command^0xffffffff {
		return h, fmt.Errorf("%w: command 0x%08x magic 0x%08x", errBadMagic, h.Command, h.Magic)
	}
	switch h.Command {
	case cmdSYNC, cmdCNXN, cmdAUTH, cmdOPEN, cmdOKAY, cmdWRTE, cmdCLSE, cmdSTLS:
	default:
		return h, fmt.Errorf("%w: 0x%08x", errBadCommand, h.Command)
	}
	if h.DataLen > maxData {
		return h, fmt.Errorf("%w: %s with %d bytes (max %d)", errTooLarge, commandName(h.Command), h.DataLen, maxData)
	}
	return h, nil
}

// readMessage reads one message. hdr is scratch space for the header; the
// payload is freshly allocated, since streams keep it until it is consumed.
func readMessage(r io.Reader, hdr *[headerSize]byte, maxData uint32) (message, error) {
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return message{}, err
	}
	h, err := decodeHeader(hdr[:], maxData)
	if err != nil {
		return message{}, err
	}
	m := message{header: h}
	if h.DataLen > 0 {
		m.Data = make([]byte, h.DataLen)
		if _, err := io.ReadFull(r, m.Data); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return message{}, err
		}
	}
	return m, nil
}

// writeMessage writes a message with one writev where the writer allows.
// withChecksum fills data_check for peers older than versionSkipChecksum.
func writeMessage(w io.Writer, hdr *[headerSize]byte, cmd, arg0, arg1 uint32, data []byte, withChecksum bool) error {
	h := header{Command: cmd, Arg0: arg0, Arg1: arg1, DataLen: uint32(len(data)), Magic: cmd ^ 0xffffffff}
	if withChecksum {
		h.DataCheck = checksum(data)
	}
	encodeHeader(hdr[:], h)
	if len(data) == 0 {
		_, err := w.Write(hdr[:])
		return err
	}
	bufs := net.Buffers{hdr[:], data}
	_, err := bufs.WriteTo(w)
	return err
}
