package adb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// The sync protocol (the device's sync: service; adb push, pull and ls),
// version 1, which every adbd speaks. A request is a 4-byte id, a
// little-endian u32 length and that many bytes of path; a reply starts
// with a 4-byte id:
//
//	STAT path            → STAT mode size mtime (all zero: no such path)
//	LIST dir             → DENT mode size mtime namelen name ... DONE 0 0 0 0
//	SEND "path,mode"     then DATA len bytes ... DONE mtime → OKAY 0 | FAIL len msg
//	RECV path            → DATA len bytes ... DONE 0 | FAIL len msg
//	QUIT
//
// Sizes and times are 32 bits: v1 reports the low 32 bits of a larger
// file's size. After a FAIL the device ends the service.

// Sync protocol limits.
const (
	// syncDataMax is the largest DATA chunk either side sends
	// (SYNC_DATA_MAX).
	syncDataMax = 64 * 1024
	// syncPathMax is the longest path adbd accepts in a request (a SEND's
	// ",MODE" included).
	syncPathMax = 1024
	// syncNameMax bounds a directory entry's name; Linux names are at most
	// 255 bytes.
	syncNameMax = 1024
	// syncFailMax bounds a FAIL message.
	syncFailMax = syncDataMax
	// maxListEntries bounds one List.
	maxListEntries = 1 << 20
)

// FileInfo describes a file on the device as the sync protocol reports
// it (lstat(2): a symbolic link is described, not followed).
type FileInfo struct {
	// Name is the file's base name.
	Name string
	Mode os.FileMode
	// Size in bytes: sync v1 carries the low 32 bits only.
	Size    int64
	ModTime time.Time
}

// IsDir reports whether the file is a directory.
func (fi FileInfo) IsDir() bool { return fi.Mode.IsDir() }

// Unix file type and mode bits.
const (
	sIFMT   = 0o170000
	sIFSOCK = 0o140000
	sIFLNK  = 0o120000
	sIFREG  = 0o100000
	sIFBLK  = 0o060000
	sIFDIR  = 0o040000
	sIFCHR  = 0o020000
	sIFIFO  = 0o010000
	sISUID  = 0o4000
	sISGID  = 0o2000
	sISVTX  = 0o1000
)

// fileMode converts a Unix st_mode to an os.FileMode.
func fileMode(m uint32) os.FileMode {
	fm := os.FileMode(m & 0o777)
	switch m & sIFMT {
	case sIFREG:
	case sIFDIR:
		fm |= os.ModeDir
	case sIFLNK:
		fm |= os.ModeSymlink
	case sIFCHR:
		fm |= os.ModeDevice | os.ModeCharDevice
	case sIFBLK:
		fm |= os.ModeDevice
	case sIFIFO:
		fm |= os.ModeNamedPipe
	case sIFSOCK:
		fm |= os.ModeSocket
	default:
		fm |= os.ModeIrregular
	}
	if m&sISUID != 0 {
		fm |= os.ModeSetuid
	}
	if m&sISGID != 0 {
		fm |= os.ModeSetgid
	}
	if m&sISVTX != 0 {
		fm |= os.ModeSticky
	}
	return fm
}

// unixMode converts a regular file's os.FileMode to a Unix st_mode.
func unixMode(m os.FileMode) uint32 {
	u := uint32(sIFREG) | uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		u |= sISUID
	}
	if m&os.ModeSetgid != 0 {
		u |= sISGID
	}
	if m&os.ModeSticky != 0 {
		u |= sISVTX
	}
	return u
}

// checkRemote validates a path on the device: absolute, at most
// syncPathMax bytes, without NUL or newline.
func checkRemote(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("%w: device path %q is not absolute", ErrInvalidArgument, p)
	case len(p) > syncPathMax:
		return fmt.Errorf("%w: device path of %d bytes (at most %d)", ErrInvalidArgument, len(p), syncPathMax)
	case strings.ContainsAny(p, "\x00\n\r"):
		return fmt.Errorf("%w: device path %q contains a NUL or newline", ErrInvalidArgument, p)
	}
	return nil
}

// syncReply is one reply of the device.
type syncReply struct {
	id string // STAT, DENT, DONE, DATA, OKAY or FAIL
	// STAT, DENT; a LIST's DONE carries them too, as zeros.
	mode, size, mtime uint32
	// n is the length word of DATA, FAIL, OKAY and a RECV's DONE.
	n    uint32
	name string // DENT
	msg  string // FAIL
	data []byte // DATA; valid until the next read
}

// syncRequest names the request a reply answers: it decides which
// replies are valid and how long a DONE is.
type syncRequest int

const (
	reqStat syncRequest = iota // STAT | FAIL
	reqList                    // DENT | DONE (20 bytes) | FAIL
	reqRecv                    // DATA | DONE (8 bytes) | FAIL
	reqSend                    // OKAY | FAIL
)

// syncReader parses the device's replies.
type syncReader struct {
	r   io.Reader
	hdr [20]byte
	buf []byte // DATA's, allocated on first use
}

// next reads one reply to req. It fails, wrapping ErrADB, on anything a
// device cannot have sent: an unexpected id, a DATA chunk over 64 KiB, a
// bad name in a DENT, an OKAY with a message.
func (s *syncReader) next(req syncRequest) (syncReply, error) {
	h := s.hdr[:8]
	if _, err := io.ReadFull(s.r, h); err != nil {
		return syncReply{}, syncReadError(err)
	}
	rep := syncReply{id: string(h[:4])}
	word := func(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[4*i:]) }
	rep.n = word(h, 1)
	switch {
	case rep.id == "FAIL":
		if rep.n > syncFailMax {
			return rep, fmt.Errorf("%w: sync: FAIL message of %d bytes", ErrADB, rep.n)
		}
		msg := make([]byte, rep.n)
		if _, err := io.ReadFull(s.r, msg); err != nil {
			return rep, syncReadError(err)
		}
		rep.msg = string(msg)
		return rep, nil
	case req == reqStat && rep.id == "STAT":
		if _, err := io.ReadFull(s.r, s.hdr[8:16]); err != nil {
			return rep, syncReadError(err)
		}
		rep.mode, rep.size, rep.mtime = rep.n, word(s.hdr[:], 2), word(s.hdr[:], 3)
		rep.n = 0
		return rep, nil
	case req == reqList && (rep.id == "DENT" || rep.id == "DONE"):
		if _, err := io.ReadFull(s.r, s.hdr[8:20]); err != nil {
			return rep, syncReadError(err)
		}
		namelen := word(s.hdr[:], 4)
		rep.mode, rep.size, rep.mtime = rep.n, word(s.hdr[:], 2), word(s.hdr[:], 3)
		rep.n = 0
		if rep.id == "DONE" {
			if namelen != 0 {
				return rep, fmt.Errorf("%w: sync: LIST's DONE with a name of %d bytes", ErrADB, namelen)
			}
			return rep, nil
		}
		if namelen == 0 || namelen > syncNameMax {
			return rep, fmt.Errorf("%w: sync: directory entry name of %d bytes", ErrADB, namelen)
		}
		name := make([]byte, namelen)
		if _, err := io.ReadFull(s.r, name); err != nil {
			return rep, syncReadError(err)
		}
		rep.name = string(name)
		if strings.ContainsAny(rep.name, "/\x00") {
			return rep, fmt.Errorf("%w: sync: directory entry name %q", ErrADB, rep.name)
		}
		return rep, nil
	case req == reqRecv && rep.id == "DATA":
		if rep.n > syncDataMax {
			return rep, fmt.Errorf("%w: sync: DATA of %d bytes (at most %d)", ErrADB, rep.n, syncDataMax)
		}
		if s.buf == nil {
			s.buf = make([]byte, syncDataMax)
		}
		rep.data = s.buf[:rep.n]
		if _, err := io.ReadFull(s.r, rep.data); err != nil {
			return rep, syncReadError(err)
		}
		return rep, nil
	case req == reqRecv && rep.id == "DONE":
		return rep, nil
	case req == reqSend && rep.id == "OKAY":
		if rep.n != 0 {
			return rep, fmt.Errorf("%w: sync: OKAY with a message of %d bytes", ErrADB, rep.n)
		}
		return rep, nil
	}
	return rep, fmt.Errorf("%w: sync: unexpected reply %q", ErrADB, h[:4])
}

func syncReadError(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF // the device ended the service mid-reply
	}
	return fmt.Errorf("%w: sync: read reply: %w", ErrADB, err)
}

// syncRequestBytes encodes a request.
func syncRequestBytes(id, arg string) []byte {
	b := make([]byte, 0, 8+len(arg))
	b = append(b, id...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(arg)))
	return append(b, arg...)
}

// syncSession is one sync: service on a connection of its own.
type syncSession struct {
	s    *Stream
	r    syncReader
	stop func() bool // ends the context's watch
	ctx  context.Context
}

// openSync starts the sync: service. A cancelled ctx closes the
// connection, which ends any read or write on it.
func (c *Client) openSync(ctx context.Context, serial string) (*syncSession, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := c.open(ctx, serial, "sync:")
	if err != nil {
		return nil, err
	}
	ss := &syncSession{s: s, r: syncReader{r: s}, ctx: ctx}
	ss.stop = context.AfterFunc(ctx, func() { s.Close() })
	return ss, nil
}

// close ends the session; quit first sends QUIT, as adb does when done.
func (ss *syncSession) close(quit bool) {
	ss.stop()
	if quit {
		_, _ = ss.s.Write(syncRequestBytes("QUIT", ""))
	}
	ss.s.Close()
}

// fail wraps an error of operation op on remote; a cancelled context's
// error wins, since it is why the connection broke.
func (ss *syncSession) fail(op, remote string, err error) error {
	if cerr := ss.ctx.Err(); cerr != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrADB, op, remote, cerr)
	}
	if errors.Is(err, ErrADB) || errors.Is(err, ErrInvalidArgument) {
		return fmt.Errorf("%s %s: %w", op, remote, err)
	}
	return fmt.Errorf("%w: %s %s: %w", ErrADB, op, remote, err)
}

// failReply turns the device's FAIL into an error that carries its
// message; one for a missing file wraps os.ErrNotExist too.
func failReply(op, remote, msg string) error {
	if strings.HasSuffix(msg, "No such file or directory") {
		return fmt.Errorf("%w: %s %s: device: %s (%w)", ErrADB, op, remote, msg, os.ErrNotExist)
	}
	return fmt.Errorf("%w: %s %s: device: %s", ErrADB, op, remote, msg)
}

// stat sends STAT and reads its reply.
func (ss *syncSession) stat(remote string) (syncReply, error) {
	if _, err := ss.s.Write(syncRequestBytes("STAT", remote)); err != nil {
		return syncReply{}, ss.fail("stat", remote, err)
	}
	rep, err := ss.r.next(reqStat)
	if err != nil {
		return rep, ss.fail("stat", remote, err)
	}
	if rep.id == "FAIL" {
		return rep, failReply("stat", remote, rep.msg)
	}
	if rep.mode == 0 {
		return rep, fmt.Errorf("%w: stat %s: %w", ErrADB, remote, os.ErrNotExist)
	}
	return rep, nil
}

// Stat describes a file on the device without following a symbolic link.
// A path that does not exist yields an error wrapping os.ErrNotExist.
func (c *Client) Stat(ctx context.Context, serial, remote string) (FileInfo, error) {
	if err := checkRemote(remote); err != nil {
		return FileInfo{}, err
	}
	ss, err := c.openSync(ctx, serial)
	if err != nil {
		return FileInfo{}, err
	}
	rep, err := ss.stat(remote)
	ss.close(err == nil)
	if err != nil {
		return FileInfo{}, err
	}
	return fileInfo(path.Base(remote), rep), nil
}

func fileInfo(name string, rep syncReply) FileInfo {
	return FileInfo{Name: name, Mode: fileMode(rep.mode), Size: int64(rep.size), ModTime: time.Unix(int64(rep.mtime), 0)}
}

// List returns the entries of a directory on the device, without "." and
// "..", in the device's order. A directory that does not exist yields an
// error wrapping os.ErrNotExist; a file, one wrapping ErrInvalidArgument.
// (A LIST alone cannot tell: adbd answers one it cannot open with an
// empty list; List stats the directory first.) A directory the device may
// not read lists as empty.
func (c *Client) List(ctx context.Context, serial, dir string) ([]FileInfo, error) {
	if err := checkRemote(dir); err != nil {
		return nil, err
	}
	ss, err := c.openSync(ctx, serial)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() { ss.close(ok) }()
	st, err := ss.stat(dir)
	if err != nil {
		return nil, err
	}
	if m := st.mode & sIFMT; m != sIFDIR && m != sIFLNK {
		return nil, fmt.Errorf("%w: list %s: not a directory", ErrInvalidArgument, dir)
	}
	if _, err := ss.s.Write(syncRequestBytes("LIST", dir)); err != nil {
		return nil, ss.fail("list", dir, err)
	}
	var out []FileInfo
	for {
		rep, err := ss.r.next(reqList)
		if err != nil {
			return nil, ss.fail("list", dir, err)
		}
		switch rep.id {
		case "FAIL":
			return nil, failReply("list", dir, rep.msg)
		case "DONE":
			ok = true
			return out, nil
		}
		if rep.name == "." || rep.name == ".." {
			continue
		}
		if len(out) == maxListEntries {
			return nil, fmt.Errorf("%w: list %s: more than %d entries", ErrADB, dir, maxListEntries)
		}
		out = append(out, fileInfo(rep.name, rep))
	}
}

// Pull copies a file from the device to w as it arrives and returns how
// many bytes it wrote. A file that does not exist yields an error
// wrapping os.ErrNotExist. On an error, w may have received part of the
// file.
func (c *Client) Pull(ctx context.Context, serial, remote string, w io.Writer) (int64, error) {
	if err := checkRemote(remote); err != nil {
		return 0, err
	}
	if w == nil {
		return 0, fmt.Errorf("%w: pull %s: nil writer", ErrInvalidArgument, remote)
	}
	ss, err := c.openSync(ctx, serial)
	if err != nil {
		return 0, err
	}
	ok := false
	defer func() { ss.close(ok) }()
	if _, err := ss.s.Write(syncRequestBytes("RECV", remote)); err != nil {
		return 0, ss.fail("pull", remote, err)
	}
	var n int64
	for {
		rep, err := ss.r.next(reqRecv)
		if err != nil {
			return n, ss.fail("pull", remote, err)
		}
		switch rep.id {
		case "FAIL":
			return n, failReply("pull", remote, rep.msg)
		case "DONE":
			ok = true
			return n, nil
		}
		m, err := w.Write(rep.data)
		n += int64(m)
		if err == nil && m < len(rep.data) {
			err = io.ErrShortWrite
		}
		if err != nil {
			return n, fmt.Errorf("adb: pull %s: write: %w", remote, err)
		}
		if err := ctx.Err(); err != nil {
			return n, ss.fail("pull", remote, err)
		}
	}
}

// Push copies r to a file on the device at remote, with the permission
// bits of mode (0 for 0644) and the modification time mtime (the zero
// time for now; whole seconds from 1970 to 2106). It streams r in chunks
// of 64 KiB. The device creates missing parent directories and replaces
// an existing file; adbd gives the file the owner's permission bits for
// group and others too (0644 becomes 0666), and a device may refuse a
// place the shell user cannot write: the error carries the device's
// message ("couldn't create file: Permission denied"). Cancelling ctx
// closes the connection; a push that does not reach its end leaves no
// file (adbd removes it). A Read of r that blocks is not interrupted.
func (c *Client) Push(ctx context.Context, serial string, r io.Reader, remote string, mode os.FileMode, mtime time.Time) error {
	if err := checkRemote(remote); err != nil {
		return err
	}
	if r == nil {
		return fmt.Errorf("%w: push %s: nil reader", ErrInvalidArgument, remote)
	}
	if mode&os.ModeType != 0 {
		return fmt.Errorf("%w: push %s: mode %v is not a regular file's", ErrInvalidArgument, remote, mode)
	}
	if mode == 0 {
		mode = 0o644
	}
	if mtime.IsZero() {
		mtime = time.Now()
	}
	secs := mtime.Unix()
	if secs < 0 || secs > math.MaxUint32 {
		return fmt.Errorf("%w: push %s: modification time %v out of range", ErrInvalidArgument, remote, mtime)
	}
	spec := remote + "," + strconv.FormatUint(uint64(unixMode(mode)), 10)
	if len(spec) > syncPathMax {
		return fmt.Errorf("%w: push %s: path and mode of %d bytes (at most %d)", ErrInvalidArgument, remote, len(spec), syncPathMax)
	}
	ss, err := c.openSync(ctx, serial)
	if err != nil {
		return err
	}
	ok := false
	defer func() { ss.close(ok) }()

	// The device may answer FAIL at once (a place it may not write) or
	// mid-file (a full disk), then read on to DONE: a goroutine waits for
	// the reply while the data goes out, so that a failed push stops.
	replied := make(chan replyResult, 1)
	go func() {
		rep, err := ss.r.next(reqSend)
		replied <- replyResult{rep, err}
	}()
	res, early, sendErr := ss.sendFile(r, spec, uint32(secs), replied)
	if !early {
		switch {
		case sendErr == nil:
		case errors.Is(sendErr, errReadSource), ctx.Err() != nil:
			ss.s.Close() // abandons the push; ends the reply's wait
		default:
			// The device may have failed and ended the service: its FAIL
			// may be waiting to be read.
			_ = ss.s.SetReadDeadline(time.Now().Add(dialTimeout))
		}
		res = <-replied
	}
	switch {
	case res.err == nil && res.rep.id == "FAIL":
		return failReply("push", remote, res.rep.msg)
	case errors.Is(sendErr, errReadSource) && ctx.Err() == nil:
		return fmt.Errorf("adb: push %s: %w", remote, sendErr)
	case sendErr != nil:
		return ss.fail("push", remote, sendErr)
	case res.err != nil:
		return ss.fail("push", remote, res.err)
	case early:
		// An OKAY before DONE: the device cannot have stored the file.
		return fmt.Errorf("%w: push %s: OKAY before the end of the file", ErrADB, remote)
	}
	ok = true
	return nil
}

// replyResult is a reply that a goroutine read.
type replyResult struct {
	rep syncReply
	err error
}

// errReadSource marks an error of Push's reader.
var errReadSource = errors.New("read source")

// sendFile writes SEND, the DATA chunks read from r, and DONE. If the
// device's reply arrives before DONE is sent, it stops and returns it
// with early set.
func (ss *syncSession) sendFile(r io.Reader, spec string, mtime uint32, replied <-chan replyResult) (res replyResult, early bool, err error) {
	if _, err := ss.s.Write(syncRequestBytes("SEND", spec)); err != nil {
		return res, false, err
	}
	buf := make([]byte, 8+syncDataMax)
	copy(buf, "DATA")
	for {
		select {
		case res = <-replied:
			return res, true, nil
		default:
		}
		if err := ss.ctx.Err(); err != nil {
			return res, false, err
		}
		n, rerr := io.ReadFull(r, buf[8:])
		if n > 0 {
			binary.LittleEndian.PutUint32(buf[4:8], uint32(n))
			if _, err := ss.s.Write(buf[:8+n]); err != nil {
				return res, false, err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return res, false, fmt.Errorf("%w: %w", errReadSource, rerr)
		}
	}
	done := append([]byte("DONE"), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(done[4:], mtime)
	_, err = ss.s.Write(done)
	return res, false, err
}

// maxAbstractName bounds an abstract socket's name for LocalAbstract.
const maxAbstractName = 100

// checkAbstractName validates an abstract socket name: 1 to 100 of
// A-Z a-z 0-9 . _ -.
func checkAbstractName(name string) error {
	if name == "" || len(name) > maxAbstractName {
		return fmt.Errorf("%w: abstract socket name of %d bytes (1 to %d)", ErrInvalidArgument, len(name), maxAbstractName)
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: abstract socket name %q (want [A-Za-z0-9._-])", ErrInvalidArgument, name)
		}
	}
	return nil
}

// LocalAbstract connects to the abstract Unix socket name on the device
// (the localabstract: service), an on-device agent's, say. The name is
// validated before anything is dialled. A socket nobody listens on is an
// error wrapping ErrADB.
func (c *Client) LocalAbstract(ctx context.Context, serial, name string) (*Stream, error) {
	if err := checkAbstractName(name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.open(ctx, serial, "localabstract:"+name)
}
