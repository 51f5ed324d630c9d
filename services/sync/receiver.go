package sync

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hostkit/hostkit/internal/config"
)

// Receiver writes what senders send into this host's modules.
type Receiver struct {
	Modules   []*Module
	ID        *Identity
	KeepAlive KeepAlive
	// Changed, when set, is called after a connection came, went or made progress.
	Changed func()

	mu     gosync.Mutex
	peers  map[*peer]bool
	conns  int       // connections accepted and not yet closed, handshakes included
	closed time.Time // when the last one closed (or Serve started)
}

// PeerStatus is one sender connected to this receiver.
type PeerStatus struct {
	Address     string    `json:"address"`
	Fingerprint string    `json:"fingerprint"`
	Module      string    `json:"module"`
	Job         string    `json:"job"`
	Since       time.Time `json:"since"`
	Files       int64     `json:"files"` // files written in this connection
	Bytes       int64     `json:"bytes"` // bytes of file content received
}

// peer is a connected sender: its status, with the counters its session updates while
// Peers reads them.
type peer struct {
	PeerStatus
	files, bytes atomic.Int64
}

// Peers returns the connected senders, oldest first.
func (r *Receiver) Peers() []PeerStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []PeerStatus
	for p := range r.peers {
		st := p.PeerStatus
		st.Files, st.Bytes = p.files.Load(), p.bytes.Load()
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b PeerStatus) int { return a.Since.Compare(b.Since) })
	return out
}

// Idle returns how long the receiver has had no connection; 0 while it has one, or before
// Serve.
func (r *Receiver) Idle() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns > 0 || r.closed.IsZero() {
		return 0
	}
	return time.Since(r.closed)
}

// connection counts a connection in (+1) or out (-1) for Idle.
func (r *Receiver) connection(n int) {
	r.mu.Lock()
	r.conns += n
	r.closed = time.Now()
	r.mu.Unlock()
}

func (r *Receiver) changed() {
	if r.Changed != nil {
		r.Changed()
	}
}

// Serve accepts connections on l until ctx ends, and closes l.
func (r *Receiver) Serve(ctx context.Context, l net.Listener) error {
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	r.connection(0)
	var wg gosync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
				slog.Warn("accept", "err", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			return fmt.Errorf("accepting on %s: %w", l.Addr(), err)
		}
		wg.Add(1)
		r.connection(+1)
		go func() {
			defer wg.Done()
			defer r.connection(-1)
			r.handle(ctx, c)
		}()
	}
}

// handle serves one connection: handshake, Hello, the peer's key against the module's
// Peer=, then the operations until the sender closes.
func (r *Receiver) handle(ctx context.Context, c net.Conn) {
	addr := c.RemoteAddr().String()
	log := slog.With("peer_address", addr)
	if err := TuneTCP(c, r.KeepAlive); err != nil {
		log.Warn("cannot set keepalive on the connection", "err", err)
	}
	tc := tls.Server(c, r.ID.ServerTLS())
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		log.Info("TLS handshake failed", "err", err)
		c.Close()
		return
	}
	fp, _ := PeerFingerprint(tc.ConnectionState())
	log = log.With("peer", fp)
	w := newWire(tc)
	stop := context.AfterFunc(ctx, func() { w.fail(errors.New("receiver stopping")) })
	defer stop()
	defer w.fail(io.EOF)

	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	hello, err := w.read()
	if err != nil || hello.Type != MsgHello {
		log.Info("no Hello from the peer", "err", err)
		return
	}
	c.SetReadDeadline(time.Time{})
	var mod *Module
	for _, m := range r.Modules {
		if m.Name == hello.Path2 {
			mod = m
		}
	}
	log = log.With("module", hello.Path2, "sync", hello.Text)
	refuse := func(reason string) {
		log.Warn("refused "+reason, "hint", fmt.Sprintf("add Peer=%s to [Module] %s of sync.conf to allow this sender", fp, hello.Path2))
		w.sendNow(&Msg{Type: MsgRefused, Text: reason})
	}
	switch {
	case hello.Size != ProtocolVersion:
		log.Warn("refused: protocol version", "version", hello.Size)
		w.sendNow(&Msg{Type: MsgRefused, Text: fmt.Sprintf("protocol version %d, this receiver speaks %d", hello.Size, ProtocolVersion)})
		return
	case mod == nil:
		log.Warn("refused: no such module")
		w.sendNow(&Msg{Type: MsgRefused, Text: fmt.Sprintf("no module %q on this receiver", hello.Path2)})
		return
	case !slices.Contains(mod.Peers, fp):
		refuse("unknown peer " + fp + " for module " + mod.Name)
		return
	}
	rt, err := openRoot(mod.Path)
	if err != nil {
		log.Error("cannot open the module's directory", "path", mod.Path, "err", err)
		w.sendNow(&Msg{Type: MsgRefused, Text: fmt.Sprintf("module %s: %v", mod.Name, err)})
		return
	}
	defer rt.close()
	if err := w.sendNow(&Msg{Type: MsgWelcome, Size: ProtocolVersion}); err != nil {
		return
	}
	st := &peer{PeerStatus: PeerStatus{Address: addr, Fingerprint: fp, Module: mod.Name, Job: hello.Text, Since: time.Now()}}
	r.mu.Lock()
	if r.peers == nil {
		r.peers = map[*peer]bool{}
	}
	r.peers[st] = true
	r.mu.Unlock()
	r.changed()
	defer func() {
		r.mu.Lock()
		delete(r.peers, st)
		r.mu.Unlock()
		r.changed()
	}()
	log.Info("sender connected")

	s := &rsession{w: w, rt: rt, log: log, status: st, receiver: r}
	err = s.run() // always an error: how the connection ended
	s.abort()
	if !errors.Is(err, io.EOF) {
		log.Warn("sender disconnected", "err", deadReason(err, r.KeepAlive))
	} else {
		log.Info("sender disconnected")
	}
}

// heartbeatInterval and heartbeatTimeout derive the sender's application heartbeat from
// the TCP settings: a Ping a third of the keepalive time apart, and a receiver that
// answered nothing at all for twice the dead-peer bound is stuck, though TCP may still
// call it alive. (The receiver only answers: while a sender is connected but idle, the
// kernel's keepalive watches it.)
func heartbeatInterval(k KeepAlive) time.Duration { return max(k.Time/3, time.Second) }
func heartbeatTimeout(k KeepAlive) time.Duration {
	return max(2*k.DeadPeerTimeout(), 3*heartbeatInterval(k))
}

// writebackChunk is how much of a large file is written before its writeback is started.
const writebackChunk = 8 << 20

// ResumeMinSize is the size from which a file is written under a name made from its path,
// size and mtime, kept when the transfer is cut off, so that the next one resumes.
const ResumeMinSize = 8 << 20

// rsession is one sender's stream of operations into one module.
type rsession struct {
	w        *wire
	rt       *root
	log      *slog.Logger
	status   *peer
	receiver *Receiver

	cur      *incoming // the file between FileBegin and FileEnd
	dir      *dirRef   // the directory of the last file, while files follow in it
	dirPath  string    // its path in the module, with a trailing slash
	skipping bool      // the current file failed: skip its Data
	commits  committer // complete files, made durable and put in place meanwhile
	frame    []byte    // the buffer frames are read into, one at a time
	copyBuf  []byte    // the buffer Copy frames are copied through
	hasher   hash.Hash // the content hash of the file being received, reset for each
	// offered is the hash of the part the last ResumeOffer offered, kept so that the
	// resume that follows does not read and hash that part a second time.
	offered struct {
		part   string
		offset int64
		h      hash.Hash
	}
	lastSeq uint64 // the last operation done (or refused)
}

type incoming struct {
	seq     uint64
	rel     string
	dir     *dirRef
	tmp     string
	name    string
	f       *os.File
	h       hash.Hash
	mode    uint32
	mtime   int64
	written int64
	started int64 // bytes handed to writeback so far
	part    bool
	moded   bool     // created with mode: no fchmod needed
	base    *os.File // a delta's old file
}

// dirRef is a directory of the module open for the files received into it. Files in a row
// in one directory share it: the session and every file hold a reference, and the last
// released closes it.
type dirRef struct {
	fd   int
	refs atomic.Int32
}

func (d *dirRef) release() {
	if d.refs.Add(-1) == 0 {
		unix.Close(d.fd)
	}
}

// fileDir opens the directory a file rel is received into and returns it with rel's last
// element. The directory of the file before is reused while only files follow in it: any
// other operation, or a pause in the stream, makes the next file open its directory again
// (forgetDir), so a directory renamed or replaced is never written into by a stale
// descriptor.
func (s *rsession) fileDir(rel string) (*dirRef, string, error) {
	dir, name := path.Split(rel)
	if s.dir == nil || s.dirPath != dir {
		s.forgetDir()
		fd, _, err := s.rt.parent(rel, true)
		if err != nil {
			return nil, "", err
		}
		s.dir, s.dirPath = &dirRef{fd: fd}, dir
		s.dir.refs.Store(1)
	}
	s.dir.refs.Add(1)
	return s.dir, name, nil
}

func (s *rsession) forgetDir() {
	if s.dir != nil {
		s.dir.release()
		s.dir = nil
	}
}

func (in *incoming) closeBase() {
	if in.base != nil {
		in.base.Close()
		in.base = nil
	}
}

// opError is an operation that failed; retry says the sender should try it again later
// (a full disk), not give it up.
type opError struct {
	retry bool
	err   error
}

func (e *opError) Error() string { return e.err.Error() }

func (s *rsession) run() error {
	s.startCommitter()
	for {
		if s.cur == nil && s.w.r.Buffered() == 0 {
			// Nothing more to read for now: acknowledge what is done and send what
			// is buffered (answers, refusals).
			s.forgetDir()
			s.commits.done(s.lastSeq)
			if err := s.w.flush(); err != nil {
				return err
			}
		}
		m, err := s.w.readInto(&s.frame)
		if err != nil {
			return err
		}
		var oerr error
		switch m.Type {
		case MsgFileBegin, MsgData, MsgCopy, MsgFileEnd, MsgPing, MsgPong:
		default:
			s.forgetDir() // it may change the directories
		}
		switch m.Type {
		case MsgPing:
			err = s.w.sendNow(&Msg{Type: MsgPong, Seq: m.Seq})
		case MsgPong:
		case MsgListRequest:
			if err = s.settle(); err == nil {
				err = s.list()
			}
		case MsgResumeQuery:
			err = s.resumeOffer(m)
		case MsgHashRequest:
			err = s.hashReply(m)
		case MsgFileBegin:
			if s.cur != nil {
				return fmt.Errorf("%w: FileBegin of %s inside %s", ErrProtocol, m.Path, s.cur.rel)
			}
			oerr = s.begin(m)
		case MsgData:
			oerr = s.data(m)
		case MsgCopy:
			oerr = s.copy(m)
		case MsgFileEnd:
			oerr = s.end(m)
		case MsgMkdir:
			oerr = s.mkdir(m)
		case MsgSymlink, MsgRename, MsgDelete, MsgAttr:
			// Files written before must be in place first (a rename of one, say).
			if err = s.settle(); err == nil {
				oerr = s.apply(m)
			}
		default:
			return fmt.Errorf("%w: unexpected %s from the sender", ErrProtocol, m.Type)
		}
		if err != nil {
			return err
		}
		if seq := opSeq(m); seq != 0 {
			s.lastSeq = seq
		}
		if oerr != nil {
			if err := s.report(m, oerr); err != nil {
				return err
			}
		}
	}
}

// opSeq returns the number of the operation m completes or starts (0: none).
func opSeq(m *Msg) uint64 {
	switch m.Type {
	case MsgMkdir, MsgSymlink, MsgRename, MsgDelete, MsgAttr, MsgFileBegin:
		return m.Seq
	}
	return 0
}

// report tells the sender that an operation failed. A full disk stops the session: the
// files before it are made durable and acknowledged, and the connection closes, so that
// the sender keeps the operation and everything after it and tries again later.
func (s *rsession) report(m *Msg, err error) error {
	seq := m.Seq
	if m.Type == MsgData || m.Type == MsgCopy || m.Type == MsgFileEnd {
		seq = s.lastSeq
	}
	var oe *opError
	retry := errors.As(err, &oe) && oe.retry
	if retry {
		s.lastSeq = seq - 1
		s.log.Error("cannot write, will retry when the sender reconnects", "err", err)
		if ferr := s.settle(); ferr != nil {
			return ferr
		}
		if err := s.w.sendNow(&Msg{Type: MsgOpError, Seq: seq, Flag: true, Text: err.Error()}); err != nil {
			return err
		}
		return s.drain(err)
	}
	s.log.Warn("operation refused", "op", m.Type.String(), "err", err)
	return s.w.send(&Msg{Type: MsgOpError, Seq: seq, Text: err.Error()})
}

// drain reads and drops what the sender had sent before it read the OpError, until it
// closes the connection (at most 30 s): closing first would reset the connection and the
// sender might never read why.
func (s *rsession) drain(reason error) error {
	s.w.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		if _, err := s.w.read(); err != nil {
			return fmt.Errorf("stopped: %w", reason)
		}
	}
}

// classify turns a file system error into an opError: a full disk or quota is retried.
func classify(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return &opError{retry: true, err: fmt.Errorf("%s: disk full on the receiver: %w", what, err)}
	}
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENOTDIR) {
		return &opError{err: fmt.Errorf("%s: refused: a directory on the way is a symlink or not a directory (symlinks are never followed, nothing leaves the module): %w", what, err)}
	}
	return &opError{err: fmt.Errorf("%s: %w", what, err)}
}

// processUmask is this process's umask, from /proc/self/status (read, never set: setting
// it to read it would race with files other goroutines create). Unknown, it is 0777, so
// that only a mode of 0 is created as it is.
var processUmask = gosync.OnceValue(func() uint32 {
	data, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "Umask:"); ok {
				if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					return uint32(m)
				}
			}
		}
	}
	return 0o777
})

// createTemp creates a file in dirfd to receive into: an unnamed one (O_TMPFILE) where
// the file system can, which has no name to find or remove and vanishes by itself if the
// receiver is killed, linked in place when complete; else one under tmpName(), returned.
func createTemp(dirfd int, perm uint32) (int, string, error) {
	fd, err := unix.Openat(dirfd, ".", unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, perm)
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EISDIR) {
		return fd, "", err
	}
	tmp := tmpName()
	fd, err = unix.Openat(dirfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NOFOLLOW, perm)
	return fd, tmp, err
}

// linkTemp gives the unnamed file fd the name name in dirfd; it fails with EEXIST if
// something has that name already. linkat(2) by descriptor needs CAP_DAC_READ_SEARCH;
// without it, the link is made through /proc/self/fd.
func linkTemp(fd, dirfd int, name string) error {
	err := unix.Linkat(fd, "", dirfd, name, unix.AT_EMPTY_PATH)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EPERM) {
		err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), dirfd, name, unix.AT_SYMLINK_FOLLOW)
	}
	return err
}

func tmpName() string {
	var b [8]byte
	rand.Read(b[:])
	return tmpPrefix + "tmp-" + hex.EncodeToString(b[:])
}

// partName is where a large file is received: the same name for the same path, size and
// mtime, so that a transfer cut off is found again by the next one.
func partName(rel string, size uint64, mtime int64) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d", rel, size, mtime))
	return tmpPrefix + "part-" + hex.EncodeToString(sum[:8])
}

func (s *rsession) begin(m *Msg) error {
	if m.Path == "" {
		s.skipping = true
		return &opError{err: errors.New("a file cannot replace the module's root")}
	}
	dir, name, err := s.fileDir(m.Path)
	if err != nil {
		s.skipping = true
		return classify(m.Path, err)
	}
	dirfd := dir.fd
	if s.hasher == nil {
		s.hasher = NewContentHash()
	}
	s.hasher.Reset()
	in := &incoming{seq: m.Seq, rel: m.Path, dir: dir, name: name, h: s.hasher, mode: m.Mode &^ (unix.S_ISUID | unix.S_ISGID), mtime: m.Mtime}
	in.part = m.Size >= ResumeMinSize
	perm := uint32(0o600)
	if !in.part && in.mode&^0o777 == 0 && in.mode&processUmask() == 0 {
		// Created with its mode: the umask takes nothing from it, so no fchmod later.
		perm, in.moded = in.mode, true
	}
	if m.Flag {
		// A delta: the file it replaces supplies the blocks named by Copy.
		base, err := openRegularAt(dirfd, name)
		if err != nil {
			dir.release()
			s.skipping = true
			return &opError{err: fmt.Errorf("%s: the file a delta applies to is gone: %w", m.Path, err)}
		}
		in.base = base
	}
	var fd int
	if in.part {
		in.tmp = partName(m.Path, m.Size, m.Mtime)
		fd, err = unix.Openat(dirfd, in.tmp, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, perm)
	} else {
		fd, in.tmp, err = createTemp(dirfd, perm)
	}
	if err == nil && in.part {
		// A part kept for resume is reused: it must be one (not a FIFO put there).
		var st unix.Stat_t
		if err = unix.Fstat(fd, &st); err == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
			err = fmt.Errorf("%s: %w", in.tmp, config.ErrNotRegular)
		}
		if err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		in.closeBase()
		dir.release()
		s.skipping = true
		return classify(m.Path, err)
	}
	in.f = os.NewFile(uintptr(fd), m.Path)
	if in.part {
		// Resume from what a cut-off transfer left, if the sender asked for it: the
		// prefix is hashed into the file's hash (read once: the ResumeOffer just sent
		// hashed it), so the end-to-end check covers it too.
		off := int64(m.Offset)
		info, err := in.f.Stat()
		if err == nil && info.Size() < off {
			err = fmt.Errorf("resume offset %d beyond the %d bytes kept", off, info.Size())
		}
		if o := &s.offered; err == nil && o.h != nil && o.part == in.tmp && o.offset == off {
			in.h = o.h // the part offered, as it was hashed then
		} else if err == nil {
			_, err = io.Copy(in.h, s.beating(io.NewSectionReader(in.f, 0, off)))
		}
		s.offered.h = nil
		if err == nil {
			err = in.f.Truncate(off)
		}
		if err == nil {
			_, err = in.f.Seek(off, io.SeekStart)
		}
		if err == nil && m.Size > uint64(off) {
			// Room for the rest at once: a full disk is found now, not half way, and
			// the file system allocates once instead of a page at a time. The size
			// stays what arrived (KEEP_SIZE), which a resume reads.
			err = unix.Fallocate(int(in.f.Fd()), unix.FALLOC_FL_KEEP_SIZE, off, int64(m.Size)-off)
			if errors.Is(err, unix.EOPNOTSUPP) {
				err = nil
			}
		}
		if err != nil {
			in.discard()
			s.skipping = true
			return classify(m.Path, err)
		}
		in.written, in.started = off, off
	}
	s.cur, s.skipping = in, false
	return nil
}

func (s *rsession) data(m *Msg) error {
	if s.cur == nil {
		if s.skipping {
			return nil
		}
		return fmt.Errorf("%w: Data outside a file", ErrProtocol)
	}
	if _, err := s.cur.f.Write(m.Data); err != nil {
		in := s.cur
		s.cur, s.skipping = nil, true
		in.discard()
		return classify(in.rel, err)
	}
	s.cur.h.Write(m.Data)
	s.cur.wrote(int64(len(m.Data)))
	s.status.bytes.Add(int64(len(m.Data)))
	return nil
}

// wrote counts n more bytes written. Every writebackChunk it starts writing the file back
// to disk while the rest arrives, so that its fsync at the end has little left to wait
// for. Best effort: a filter or file system that refuses it only costs that overlap.
func (in *incoming) wrote(n int64) {
	in.written += n
	if in.written-in.started >= writebackChunk {
		unix.SyncFileRange(int(in.f.Fd()), in.started, in.written-in.started, unix.SYNC_FILE_RANGE_WRITE)
		in.started = in.written
	}
}

// copy appends bytes of the file a delta replaces to the file being received.
func (s *rsession) copy(m *Msg) error {
	in := s.cur
	if in == nil {
		if s.skipping {
			return nil
		}
		return fmt.Errorf("%w: Copy outside a file", ErrProtocol)
	}
	if in.base == nil {
		return fmt.Errorf("%w: Copy in a file that is not a delta", ErrProtocol)
	}
	if s.copyBuf == nil {
		s.copyBuf = make([]byte, 1<<20)
	}
	n, err := io.CopyBuffer(io.MultiWriter(in.f, in.h), s.beating(io.NewSectionReader(in.base, int64(m.Offset), int64(m.Size))), s.copyBuf)
	if err == nil && n != int64(m.Size) {
		err = fmt.Errorf("the old file has %d bytes at %d, not %d (changed meanwhile)", n, m.Offset, m.Size)
	}
	if err != nil {
		s.cur, s.skipping = nil, true
		in.discard()
		return classify(in.rel, err)
	}
	in.wrote(n)
	return nil
}

func (s *rsession) end(m *Msg) error {
	in := s.cur
	if in == nil {
		if s.skipping {
			s.skipping = false
			return nil
		}
		return fmt.Errorf("%w: FileEnd outside a file", ErrProtocol)
	}
	s.cur = nil
	in.closeBase()
	if sum := in.h.Sum(nil); !bytes.Equal(sum, m.Hash) {
		in.discard()
		return &opError{err: fmt.Errorf("%s: content hash differs from the sender's (changed while sent?); discarded", in.rel)}
	}
	var err error
	if !in.moded {
		err = in.f.Chmod(os.FileMode(in.mode & 0o777))
		if err == nil && in.mode&^0o777 != 0 {
			err = unix.Fchmod(int(in.f.Fd()), in.mode)
		}
	}
	if err == nil {
		err = setTimesFd(int(in.f.Fd()), in.mtime)
	}
	if err != nil {
		in.discard()
		return classify(in.rel, err)
	}
	s.status.files.Add(1)
	return s.commits.add(in)
}

// discard removes a file that will not be completed.
func (in *incoming) discard() {
	in.closeBase()
	in.f.Close()
	if in.tmp != "" {
		unix.Unlinkat(in.dir.fd, in.tmp, 0)
	}
	in.dir.release()
}

// abort ends a session: the file in flight is kept when it can be resumed, and files not
// yet made durable are removed (the sender has no Ack for them and sends them again).
func (s *rsession) abort() {
	if s.cur != nil {
		if s.cur.part {
			s.cur.closeBase()
			s.cur.f.Close()
			s.cur.dir.release()
		} else {
			s.cur.discard()
		}
		s.cur = nil
	}
	for _, in := range s.commits.stop() {
		in.discard()
	}
	s.forgetDir()
}

func (s *rsession) resumeOffer(m *Msg) error {
	offer := &Msg{Type: MsgResumeOffer, Seq: m.Seq}
	if dirfd, name, err := s.rt.parent(m.Path, false); err == nil {
		if m.Size >= ResumeMinSize {
			part := partName(m.Path, m.Size, m.Mtime)
			if f, err := openRegularAt(dirfd, part); err == nil {
				if info, err := f.Stat(); err == nil && info.Size() > 0 && uint64(info.Size()) <= m.Size {
					h := NewContentHash()
					if _, err := io.Copy(h, s.beating(io.NewSectionReader(f, 0, info.Size()))); err == nil {
						offer.Offset, offer.Hash = uint64(info.Size()), h.Sum(nil)
						s.offered.part, s.offered.offset, s.offered.h = part, info.Size(), h
					}
				}
				f.Close()
			}
		}
		// The file being replaced, if any: its signature lets the sender send only
		// what this file lacks.
		if offer.Offset == 0 {
			if f, err := openRegularAt(dirfd, name); err == nil {
				if info, err := f.Stat(); err == nil && info.Size() > 0 {
					if sig, err := MakeSignature(bufio.NewReaderSize(s.beating(f), 1<<20), info.Size()); err == nil {
						if err := s.w.send(sig.Msg(m.Seq)); err != nil {
							f.Close()
							unix.Close(dirfd)
							return err
						}
					}
				}
				f.Close()
			}
		}
		unix.Close(dirfd)
	}
	return s.w.sendNow(offer)
}

// beating wraps r, a file the session reads at length (to hash it, or to copy from it) while
// it reads no frame, so that the sender hears from it all the same: a Pong at most every
// second. A file of many GiB takes longer than the sender's heartbeat waits for an answer,
// and the sender would otherwise drop a receiver that is only busy.
func (s *rsession) beating(r io.Reader) io.Reader {
	return &beatingReader{r: r, w: s.w, last: time.Now()}
}

type beatingReader struct {
	r    io.Reader
	w    *wire
	last time.Time // when this read began, or the last Pong
}

func (b *beatingReader) Read(p []byte) (int, error) {
	if time.Since(b.last) >= time.Second {
		b.last = time.Now()
		if err := b.w.sendNow(&Msg{Type: MsgPong}); err != nil {
			return 0, err
		}
	}
	return b.r.Read(p)
}

// hashReply answers a HashRequest with the content hash of the regular file at m.Path, or
// with none when there is no such file (any more).
func (s *rsession) hashReply(m *Msg) error {
	reply := &Msg{Type: MsgHashReply, Path: m.Path}
	if dirfd, name, err := s.rt.parent(m.Path, false); err == nil {
		if f, err := openRegularAt(dirfd, name); err == nil {
			h := NewContentHash()
			if _, err := io.CopyBuffer(h, s.beating(f), make([]byte, 1<<20)); err == nil {
				reply.Hash = h.Sum(nil)
			}
			f.Close()
		}
		unix.Close(dirfd)
	}
	return s.w.send(reply)
}

func (s *rsession) mkdir(m *Msg) error {
	if m.Path != "" {
		dirfd, name, err := s.rt.parent(m.Path, true)
		if err != nil {
			return classify(m.Path, err)
		}
		err = unix.Mkdirat(dirfd, name, 0o700)
		if errors.Is(err, unix.EEXIST) {
			var st unix.Stat_t
			if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
				if err = removeAt(dirfd, name); err == nil {
					err = unix.Mkdirat(dirfd, name, 0o700)
				}
			} else {
				err = nil
			}
		}
		unix.Close(dirfd)
		if err != nil {
			return classify(m.Path, err)
		}
	}
	return s.attr(m)
}

// attr sets mode and mtime of m.Path (not through a symlink: a symlink's mode is not set).
func (s *rsession) attr(m *Msg) error {
	fd, err := s.rt.openDir(m.Path, false)
	if errors.Is(err, unix.ENOTDIR) {
		fd, err = s.rt.openat2(m.Path, unix.O_RDONLY|unix.O_NONBLOCK)
	}
	if err == nil {
		err = unix.Fchmod(fd, m.Mode&^(unix.S_ISUID|unix.S_ISGID))
		unix.Close(fd)
	} else if errors.Is(err, unix.ELOOP) {
		err = nil // the path is a symlink itself: only its time is set
	}
	if err != nil {
		return classify(m.Path, err)
	}
	if m.Path == "" {
		return nil
	}
	dirfd, name, err := s.rt.parent(m.Path, false)
	if err != nil {
		return classify(m.Path, err)
	}
	defer unix.Close(dirfd)
	return classify(m.Path, setTimes(dirfd, name, m.Mtime))
}

// apply does the operations that change names: Symlink, Rename, Delete, and Attr.
func (s *rsession) apply(m *Msg) error {
	if m.Path == "" && m.Type != MsgAttr {
		return &opError{err: fmt.Errorf("%s of the module's root refused", m.Type)}
	}
	switch m.Type {
	case MsgAttr:
		return s.attr(m)
	case MsgDelete:
		dirfd, name, err := s.rt.parent(m.Path, false)
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return classify(m.Path, err)
		}
		defer unix.Close(dirfd)
		return classify(m.Path, removeAt(dirfd, name))
	case MsgSymlink:
		if !linkInside(m.Path, m.Path2) {
			return &opError{err: errOutside(m.Path, m.Path2)}
		}
		dirfd, name, err := s.rt.parent(m.Path, true)
		if err != nil {
			return classify(m.Path, err)
		}
		defer unix.Close(dirfd)
		tmp := tmpName()
		if err := unix.Symlinkat(m.Path2, dirfd, tmp); err != nil {
			return classify(m.Path, err)
		}
		setTimes(dirfd, tmp, m.Mtime)
		return classify(m.Path, replaceAt(dirfd, tmp, name))
	case MsgRename:
		if m.Path2 == "" {
			return &opError{err: errors.New("rename onto the module's root refused")}
		}
		from, fromName, err := s.rt.parent(m.Path, false)
		if err != nil {
			return classify(m.Path, err)
		}
		defer unix.Close(from)
		to, toName, err := s.rt.parent(m.Path2, true)
		if err != nil {
			return classify(m.Path2, err)
		}
		defer unix.Close(to)
		err = unix.Renameat(from, fromName, to, toName)
		if errors.Is(err, unix.EISDIR) || errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTDIR) {
			var st unix.Stat_t
			if unix.Fstatat(from, fromName, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
				if err = removeAt(to, toName); err == nil {
					err = unix.Renameat(from, fromName, to, toName)
				}
			}
		}
		if err == nil {
			unix.Fsync(from)
			unix.Fsync(to)
		}
		return classify("rename "+m.Path+" to "+m.Path2, err)
	}
	return nil
}

// list sends the module's manifest; temporary files of dead sessions are removed on the way.
func (s *rsession) list() error {
	fd, err := unix.Dup(s.rt.fd)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var temps []string
	skip := func(rel string, dir bool) bool {
		if isTemp(rel) {
			temps = append(temps, rel)
			return true
		}
		return false
	}
	err = walkAt(fd, "", skip, func(e Entry) error {
		return s.w.send(&Msg{Type: MsgEntry, Path: e.Path, Kind: e.Kind, Mode: e.Mode, Size: uint64(e.Size), Mtime: e.Mtime, Path2: e.Target})
	})
	if err != nil {
		s.log.Warn("listing the module", "err", err)
	}
	if err := s.w.sendNow(&Msg{Type: MsgListEnd}); err != nil {
		return err
	}
	s.removeStale(temps)
	return nil
}

// removeStale removes temporary files that a session killed before it could clean up left:
// a small file's after an hour (no session takes that long over one), a large file's
// part, kept for resume, after a week.
func (s *rsession) removeStale(temps []string) {
	for _, rel := range temps {
		dirfd, name, err := s.rt.parent(rel, false)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		age := time.Hour
		if strings.HasPrefix(name, tmpPrefix+"part-") {
			age = 7 * 24 * time.Hour
		}
		if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && time.Since(time.Unix(0, st.Ctim.Nano())) > age {
			if unix.Unlinkat(dirfd, name, 0) == nil {
				s.log.Info("removed a temporary file left by an interrupted transfer", "path", rel)
			}
		}
		unix.Close(dirfd)
	}
}

// isTemp reports whether rel names one of the receiver's temporary files.
func isTemp(rel string) bool {
	base := rel
	if i := bytes.LastIndexByte([]byte(rel), '/'); i >= 0 {
		base = rel[i+1:]
	}
	return len(base) > len(tmpPrefix) && base[:len(tmpPrefix)] == tmpPrefix
}
