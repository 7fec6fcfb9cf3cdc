package devicesim

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The sync: service (adb push, pull, ls; file_sync_service.cpp in adbd),
// version 1 only: the device advertises no features, so the host never
// sends the v2 requests (STA2, LST2, SND2, RCV2) nor expects their
// replies. Every request is a 4-byte id and a little-endian u32 length,
// followed by that many bytes of path; every reply starts with a 4-byte id.
//
// Files live in memory, per Device: the host may create them under
// /sdcard/ and /data/local/tmp/ only, as the shell user can; a test
// places others with [Device.PutFile]. Directories are implicit: those of
// the stored files, and /sdcard and /data/local/tmp with their parents.

// Sync protocol limits, as adbd has them.
const (
	// syncDataMax is the largest DATA chunk (SYNC_DATA_MAX).
	syncDataMax = 64 * 1024
	// syncPathMax is the longest path a request carries, the ",MODE" of
	// a SEND included.
	syncPathMax = 1024
)

// maxSyncFile is the largest file the device stores; a bigger push fails
// as a full disk does.
const maxSyncFile = 256 << 20

// Unix file type and mode bits, as STAT and DENT carry them.
const (
	sIFMT   = 0o170000
	sIFDIR  = 0o040000
	sIFREG  = 0o100000
	sIFLNK  = 0o120000
	sISUID  = 0o4000
	sISGID  = 0o2000
	sISVTX  = 0o1000
	dirMode = sIFDIR | 0o771 // drwxrwx--x, as /data/local/tmp
)

// writableRoots are where the host may create files.
var writableRoots = []string{"/sdcard", "/data/local/tmp"}

// fixedDirs exist whatever is stored.
var fixedDirs = map[string]bool{"/": true, "/data": true, "/data/local": true, "/data/local/tmp": true, "/sdcard": true}

// storedFile is one file. data is never modified once stored: a push
// replaces the whole storedFile.
type storedFile struct {
	data  []byte
	mode  uint32 // permission bits (07777)
	mtime time.Time
	added time.Time // when it was stored: its directories' mtime
}

// fileStore is a device's files, keyed by clean absolute path. It is safe
// for concurrent use.
type fileStore struct {
	mu      sync.Mutex
	files   map[string]storedFile
	since   time.Time // the directories' oldest mtime
	maxFile int       // maxSyncFile; tests lower it
}

// fileStore returns the device's files, creating the store at first use.
func (d *Device) fileStore() *fileStore {
	d.filesOnce.Do(func() {
		d.files = &fileStore{files: make(map[string]storedFile), since: time.Now().Truncate(time.Second), maxFile: maxSyncFile}
	})
	return d.files
}

// File returns a copy of the file stored at path (as pushed, or placed
// with PutFile) and its permission bits, or ok false if there is none.
func (d *Device) File(p string) (data []byte, mode os.FileMode, ok bool) {
	fs := d.fileStore()
	fs.mu.Lock()
	f, ok := fs.files[cleanPath(p)]
	fs.mu.Unlock()
	if !ok {
		return nil, 0, false
	}
	return bytes.Clone(f.data), fileMode(f.mode), true
}

// PutFile stores a copy of data at path with the permission bits of mode
// and the current time (in whole seconds) as its modification time,
// replacing any file there. Unlike a push it may place a file anywhere: a
// relative path is taken from /. It panics if a directory is at path, or
// a file where a parent directory of path would be.
func (d *Device) PutFile(p string, data []byte, mode os.FileMode) {
	fs := d.fileStore()
	p = cleanPath(p)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if msg := fs.conflictLocked(p); msg != "" {
		panic(fmt.Sprintf("devicesim: PutFile %s: %s", p, msg))
	}
	now := time.Now()
	fs.files[p] = storedFile{data: bytes.Clone(data), mode: unixPerm(mode), mtime: now.Truncate(time.Second), added: now}
}

// cleanPath makes p absolute (from /, adbd's working directory) and clean.
func cleanPath(p string) string { return path.Clean("/" + p) }

// under reports whether p is dir or below it; both are clean.
func under(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// isDirLocked reports whether the clean path p is a directory.
func (fs *fileStore) isDirLocked(p string) bool {
	if fixedDirs[p] {
		return true
	}
	for dir := range fixedDirs {
		if under(dir, p) {
			return true
		}
	}
	for k := range fs.files {
		if k != p && under(k, p) {
			return true
		}
	}
	return false
}

// conflictLocked says why no file can be stored at the clean path p, as
// open(2)'s error would, or returns "".
func (fs *fileStore) conflictLocked(p string) string {
	if fs.isDirLocked(p) {
		return "Is a directory"
	}
	for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
		if _, ok := fs.files[dir]; ok {
			return "Not a directory"
		}
	}
	return ""
}

// statLocked returns what lstat(2) gives for the path as the host sent
// it: zeros for a missing one.
func (fs *fileStore) statLocked(raw string) (mode, size, mtime uint32) {
	p := cleanPath(raw)
	if f, ok := fs.files[p]; ok {
		if strings.HasSuffix(raw, "/") {
			return 0, 0, 0 // ENOTDIR
		}
		return sIFREG | f.mode, uint32(len(f.data)), uint32(f.mtime.Unix())
	}
	if fs.isDirLocked(p) {
		return dirMode, 4096, uint32(fs.dirMtimeLocked(p).Unix())
	}
	return 0, 0, 0
}

// dirMtimeLocked is a directory's modification time: when the latest
// file below it was stored, or when the store was made.
func (fs *fileStore) dirMtimeLocked(p string) time.Time {
	t := fs.since
	for k, f := range fs.files {
		if under(k, p) && f.added.After(t) {
			t = f.added
		}
	}
	return t
}

// dent is one directory entry of a LIST reply.
type dent struct {
	name              string
	mode, size, mtime uint32
}

// listLocked returns the entries of the directory raw, "." and ".."
// first and the rest sorted, or nothing if it is not a directory (adbd
// answers a LIST it cannot open with an empty list).
func (fs *fileStore) listLocked(raw string) []dent {
	p := cleanPath(raw)
	if !fs.isDirLocked(p) {
		return nil
	}
	entry := func(name, full string) dent {
		m, s, t := fs.statLocked(full)
		return dent{name: name, mode: m, size: s, mtime: t}
	}
	prefix := strings.TrimSuffix(p, "/") + "/"
	children := map[string]bool{}
	add := func(k string) {
		if k != p && strings.HasPrefix(k, prefix) {
			name, _, _ := strings.Cut(k[len(prefix):], "/")
			children[name] = true
		}
	}
	for k := range fixedDirs {
		add(k)
	}
	for k := range fs.files {
		add(k)
	}
	out := []dent{entry(".", p), entry("..", path.Dir(p))}
	for _, name := range slices.Sorted(maps.Keys(children)) {
		out = append(out, entry(name, prefix+name))
	}
	return out
}

// syncService serves one sync: stream.
func (d *Device) syncService(_ context.Context, s *stream) {
	d.serveSync(s, s.log)
}

// serveSync answers sync requests on rw until QUIT, an error, or the end
// of the stream. Like adbd, it ends the service after any FAIL.
func (d *Device) serveSync(rw io.ReadWriter, log *slog.Logger) {
	fs := d.fileStore()
	var hdr [8]byte
	buf := make([]byte, 8+syncDataMax)
	for {
		if _, err := io.ReadFull(rw, hdr[:]); err != nil {
			return // the host closed the stream
		}
		id, n := string(hdr[:4]), binary.LittleEndian.Uint32(hdr[4:])
		if n > syncPathMax {
			syncFail(rw, "path too long")
			return
		}
		name := make([]byte, n)
		if _, err := io.ReadFull(rw, name); err != nil {
			return
		}
		arg := string(name)
		if id != "QUIT" {
			log.Info("sync", "request", id, "path", arg)
		}
		var ok bool
		switch id {
		case "STAT":
			fs.mu.Lock()
			mode, size, mtime := fs.statLocked(arg)
			fs.mu.Unlock()
			ok = writeSync(rw, "STAT", mode, size, mtime)
		case "LIST":
			ok = fs.list(rw, arg)
		case "SEND":
			ok = fs.send(rw, arg, buf, log)
		case "RECV":
			ok = fs.recv(rw, arg, buf)
		case "QUIT":
			return
		default:
			syncFail(rw, fmt.Sprintf("unknown command %08x", binary.LittleEndian.Uint32(hdr[:4])))
			return
		}
		if !ok {
			return
		}
	}
}

// writeSync writes a reply of id and little-endian words.
func writeSync(w io.Writer, id string, words ...uint32) bool {
	b := make([]byte, 4, 4+4*len(words))
	copy(b, id)
	for _, v := range words {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	_, err := w.Write(b)
	return err == nil
}

// syncFail writes a FAIL reply.
func syncFail(w io.Writer, msg string) {
	b := make([]byte, 8, 8+len(msg))
	copy(b, "FAIL")
	binary.LittleEndian.PutUint32(b[4:], uint32(len(msg)))
	_, _ = w.Write(append(b, msg...))
}

func (fs *fileStore) list(w io.Writer, dir string) bool {
	fs.mu.Lock()
	entries := fs.listLocked(dir)
	fs.mu.Unlock()
	var b []byte
	for _, e := range entries {
		b = append(b, "DENT"...)
		for _, v := range []uint32{e.mode, e.size, e.mtime, uint32(len(e.name))} {
			b = binary.LittleEndian.AppendUint32(b, v)
		}
		b = append(b, e.name...)
	}
	b = append(b, "DONE"...)
	b = append(b, make([]byte, 16)...)
	_, err := w.Write(b)
	return err == nil
}

// send receives a file: SEND "PATH,MODE", then DATA chunks and DONE with
// the modification time; the reply is OKAY once it is stored. The file
// is stored whole at DONE: a push that breaks off leaves nothing.
func (fs *fileStore) send(rw io.ReadWriter, spec string, buf []byte, log *slog.Logger) bool {
	comma := strings.LastIndexByte(spec, ',')
	if comma < 0 {
		syncFail(rw, "missing , in ID_SEND_V1")
		return false
	}
	raw := spec[:comma]
	m, err := strconv.ParseUint(spec[comma+1:], 0, 32) // strtoul(…, 0)
	if err != nil && !errors.Is(err, strconv.ErrSyntax) {
		syncFail(rw, "bad mode")
		return false
	}
	mode := uint32(m)
	if mode&sIFMT == sIFLNK {
		syncFail(rw, "symlink failed: Operation not supported")
		return false
	}
	// adbd copies the owner's permission bits to the group's and others'.
	mode &= 0o777
	mode |= (mode >> 3) & 0o070
	mode |= (mode >> 3) & 0o007
	p := cleanPath(raw)
	if msg := fs.createError(raw, p); msg != "" {
		syncFail(rw, "couldn't create file: "+msg)
		return drainSend(rw, buf)
	}
	var data bytes.Buffer
	hdr := buf[:8]
	for {
		if _, err := io.ReadFull(rw, hdr); err != nil {
			return false
		}
		id, n := string(hdr[:4]), binary.LittleEndian.Uint32(hdr[4:])
		switch id {
		case "DATA":
			if n > syncDataMax {
				syncFail(rw, "oversize data message")
				return false
			}
			chunk := buf[8 : 8+n]
			if _, err := io.ReadFull(rw, chunk); err != nil {
				return false
			}
			if data.Len()+len(chunk) > fs.maxFile {
				syncFail(rw, "write failed: No space left on device")
				return drainSend(rw, buf)
			}
			data.Write(chunk)
		case "DONE":
			fs.mu.Lock()
			msg := fs.conflictLocked(p)
			if msg == "" {
				fs.files[p] = storedFile{data: data.Bytes(), mode: mode, mtime: time.Unix(int64(n), 0), added: time.Now()}
			}
			fs.mu.Unlock()
			if msg != "" {
				syncFail(rw, "couldn't create file: "+msg)
				return false
			}
			log.Info("sync: file stored", "path", p, "size", data.Len(), "mode", fmt.Sprintf("%04o", mode))
			return writeSync(rw, "OKAY", 0)
		default:
			syncFail(rw, "invalid data message")
			return false
		}
	}
}

// createError says why the shell user cannot create the file that the
// host named raw (p, cleaned), as open(2)'s error would, or returns "".
func (fs *fileStore) createError(raw, p string) string {
	fs.mu.Lock()
	msg := fs.conflictLocked(p)
	fs.mu.Unlock()
	switch {
	case msg != "":
		return msg
	case strings.HasSuffix(raw, "/"):
		return "Is a directory"
	}
	for _, root := range writableRoots {
		if p != root && under(p, root) {
			return ""
		}
	}
	return "Permission denied"
}

// drainSend reads and drops the rest of a failed SEND up to its DONE, as
// adbd does so that the host sees the FAIL, then ends the service.
func drainSend(r io.Reader, buf []byte) bool {
	hdr := buf[:8]
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return false
		}
		n := binary.LittleEndian.Uint32(hdr[4:])
		if string(hdr[:4]) != "DATA" || n > syncDataMax {
			return false
		}
		if _, err := io.ReadFull(r, buf[8:8+n]); err != nil {
			return false
		}
	}
}

// recv sends a file: DATA chunks, then DONE; FAIL if it cannot be read.
// Like adbd, each chunk carries at most syncDataMax-8 bytes.
func (fs *fileStore) recv(w io.Writer, raw string, buf []byte) bool {
	p := cleanPath(raw)
	fs.mu.Lock()
	f, ok := fs.files[p]
	isDir := !ok && fs.isDirLocked(p)
	fs.mu.Unlock()
	switch {
	case ok && strings.HasSuffix(raw, "/"):
		syncFail(w, "open failed: Not a directory")
		return false
	case isDir:
		syncFail(w, "read failed: Is a directory")
		return false
	case !ok:
		syncFail(w, "open failed: No such file or directory")
		return false
	}
	copy(buf, "DATA")
	for data := f.data; len(data) > 0; {
		n := copy(buf[8:syncDataMax], data)
		data = data[n:]
		binary.LittleEndian.PutUint32(buf[4:], uint32(n))
		if _, err := w.Write(buf[:8+n]); err != nil {
			return false
		}
	}
	return writeSync(w, "DONE", 0)
}

// unixPerm converts the permission bits of an os.FileMode to Unix's.
func unixPerm(m os.FileMode) uint32 {
	u := uint32(m.Perm())
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

// fileMode converts Unix permission bits to an os.FileMode's.
func fileMode(u uint32) os.FileMode {
	m := os.FileMode(u & 0o777)
	if u&sISUID != 0 {
		m |= os.ModeSetuid
	}
	if u&sISGID != 0 {
		m |= os.ModeSetgid
	}
	if u&sISVTX != 0 {
		m |= os.ModeSticky
	}
	return m
}
