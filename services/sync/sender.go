package sync

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	gosync "sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hostkit/hostkit/internal/config"
)

// Job states, as org.hostkit.Sync1 shows them.
const (
	StateScanning     = "scanning"
	StateSyncing      = "syncing"
	StateIdle         = "idle"
	StateDisconnected = "disconnected"
	StatePaused       = "paused"
	StateError        = "error"
)

// JobStatus is a job's state for the bus, the log and hostkitctl.
type JobStatus struct {
	Name            string    `json:"name"`
	Source          string    `json:"source"`
	Target          string    `json:"target"`
	State           string    `json:"state"`
	PendingFiles    int       `json:"pending_files"`
	PendingBytes    int64     `json:"pending_bytes"`
	OldestPending   time.Time `json:"oldest_pending,omitzero"`
	LastSync        time.Time `json:"last_sync,omitzero"`
	BytesSent       int64     `json:"bytes_sent"`
	BytesReceived   int64     `json:"bytes_received"`
	FilesSent       int64     `json:"files_sent"`
	PeerAddress     string    `json:"peer_address"`
	PeerFingerprint string    `json:"peer_fingerprint"`
	LastError       string    `json:"last_error"`
	// The initial (or requested) full comparison: entries compared, and of the changes
	// it found, how many are acknowledged.
	ScanEntries  int64  `json:"scan_entries"`
	InitialTotal int64  `json:"initial_total"`
	InitialDone  int64  `json:"initial_done"`
	Note         string `json:"note,omitempty"`
	Watches      int    `json:"watches"`
}

// Lag is how long the oldest unsent change has waited (0: none).
func (s JobStatus) Lag() time.Duration {
	if s.OldestPending.IsZero() {
		return 0
	}
	return time.Since(s.OldestPending)
}

// Sender runs one [Job]: it watches the source, queues every change, and sends the queue
// to the target over a connection it keeps up, rebuilding it with backoff.
type Sender struct {
	Job       *Job
	ID        *Identity
	KeepAlive KeepAlive
	StateDir  string
	// RescanInterval is how often the whole tree is compared while part of it is not
	// watched (out of inotify watches); NewSender sets DefaultRescanInterval.
	RescanInterval time.Duration
	// Changed, when set, is called after the status changed.
	Changed func()

	log     *slog.Logger
	queue   *Queue
	exclude *Excluder
	watcher *Watcher

	mu      gosync.Mutex
	st      JobStatus
	compare bool // a full comparison is due
	paused  bool
	wake    chan struct{}
	// whole holds the paths whose delta failed at the target: sent whole next time.
	whole map[string]bool
}

// NewSender prepares a job; Run runs it.
func NewSender(j *Job, id *Identity, k KeepAlive, stateDir string) *Sender {
	s := &Sender{Job: j, ID: id, KeepAlive: k, StateDir: stateDir, RescanInterval: DefaultRescanInterval, log: slog.With("sync", j.Name),
		exclude: NewExcluder(j.Exclude), compare: true, wake: make(chan struct{}, 1), whole: map[string]bool{}}
	s.st = JobStatus{Name: j.Name, Source: j.Source, Target: j.Target, State: StateDisconnected, PeerFingerprint: j.Peer}
	if _, err := os.Lstat(PauseFile(stateDir, j.Name)); err == nil {
		s.paused, s.st.State = true, StatePaused // paused before a restart
	}
	if j.Rsync {
		s.st.Note = fmt.Sprintf("rsync:// target: sent by the rsync program with --timeout=%d; keepalive and TCP_USER_TIMEOUT are not tuned on its connection, renames are sent as new files",
			rsyncTimeout(k))
	}
	return s
}

// Status returns the job's state now.
func (s *Sender) Status() JobStatus {
	s.mu.Lock()
	st := s.st
	compareDue := s.compare
	q := s.queue
	s.mu.Unlock()
	if q != nil {
		st.PendingFiles, st.PendingBytes, st.OldestPending = q.Stats()
	}
	// Connected, the state follows the queue: syncing while changes wait, idle when none.
	if st.State == StateSyncing || st.State == StateIdle {
		switch {
		case compareDue:
			st.State = StateScanning // a comparison is about to start
		case st.PendingFiles > 0:
			st.State = StateSyncing
		default:
			st.State = StateIdle
		}
	}
	return st
}

func (s *Sender) update(f func(*JobStatus)) {
	s.mu.Lock()
	f(&s.st)
	s.mu.Unlock()
	if s.Changed != nil {
		s.Changed()
	}
}

func (s *Sender) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Resync asks for a full comparison of source and target.
func (s *Sender) Resync() {
	s.mu.Lock()
	s.compare = true
	s.mu.Unlock()
	s.poke()
}

// Pause stops sending (changes are still queued); Resume sends again. Either is kept over a
// restart (PauseFile); an error says it could not be, and the job is paused (resumed) all
// the same until then.
func (s *Sender) Pause() error { return s.setPaused(true) }

// Resume undoes Pause.
func (s *Sender) Resume() error { return s.setPaused(false) }

// PauseFile is the file whose presence keeps a job paused over a restart.
func PauseFile(stateDir, job string) string {
	return filepath.Join(stateDir, "paused", job)
}

func (s *Sender) setPaused(p bool) error {
	s.mu.Lock()
	s.paused = p
	s.mu.Unlock()
	err := keepPaused(PauseFile(s.StateDir, s.Job.Name), p)
	if err != nil {
		s.log.Error("pause or resume not kept over a restart", "err", err)
	}
	s.update(func(st *JobStatus) {
		if p {
			st.State = StatePaused
		} else if st.State == StatePaused {
			st.State = StateSyncing
		}
	})
	s.poke()
	return err
}

// keepPaused makes or removes the file that keeps a job paused, durably (the directory is
// synced after).
func keepPaused(file string, paused bool) error {
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var err error
	if paused {
		var f *os.File
		if f, err = os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err == nil {
			err = f.Close()
		}
	} else if err = os.Remove(file); errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *Sender) isPaused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paused
}

// QueueFile is where a job's unsent changes are kept.
func QueueFile(stateDir, job string) string {
	return filepath.Join(stateDir, "queue", job+".log")
}

// SourceRetry is how often a job whose source is missing looks again.
var SourceRetry = 5 * time.Second

// DefaultRescanInterval is RescanIntervalSec='s default.
const DefaultRescanInterval = time.Minute

// Run runs the job until ctx ends. It returns an error only when the job cannot start
// (the source cannot be watched, the queue cannot be opened); everything later is
// reported in the status and the log, and retried.
func (s *Sender) Run(ctx context.Context) error {
	q, err := OpenQueue(QueueFile(s.StateDir, s.Job.Name))
	if err != nil {
		return fmt.Errorf("[Job] %s: %w", s.Job.Name, err)
	}
	q.added = func() {
		if s.Changed != nil {
			s.Changed()
		}
	}
	s.mu.Lock()
	s.queue = q // Status reads it from other goroutines
	s.mu.Unlock()
	defer q.Close()
	if n, _, _ := q.Stats(); n > 0 {
		s.log.Info("changes kept from before", "pending", n)
	}
	// A source that is not there yet (a file system not mounted, a directory an admin
	// is about to make) is waited for, not given up on.
	for said := false; ; said = true {
		info, err := os.Stat(s.Job.Source)
		if err == nil && info.IsDir() {
			break
		}
		if err == nil {
			err = errors.New("not a directory")
		}
		err = fmt.Errorf("[Job] %s: Source=%s: %w (looking again every %s)", s.Job.Name, s.Job.Source, err, SourceRetry)
		if !said {
			s.log.Error("source unavailable", "err", err)
		}
		s.update(func(st *JobStatus) { st.State, st.LastError = StateError, err.Error() })
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(SourceRetry):
		case <-s.wake:
		}
	}
	w, err := NewWatcher(s.Job.Source, s.exclude, q.Add, s.log)
	if err != nil {
		return fmt.Errorf("[Job] %s: %w", s.Job.Name, err)
	}
	w.Overflow = s.Resync
	s.watcher = w
	if err := w.Watch("", nil); err != nil {
		w.Close()
		return fmt.Errorf("[Job] %s: watching %s: %w", s.Job.Name, s.Job.Source, err)
	}
	s.update(func(st *JobStatus) { st.Watches = w.Watches() })
	done := make(chan error, 1)
	go func() { done <- w.Run() }()
	defer func() { w.Close(); <-done }()
	go s.rescan(ctx, w)

	send := s.connectAndSend
	if s.Job.Rsync {
		send = s.runRsync
	}
	backoff := time.Second
	for ctx.Err() == nil {
		start := time.Now()
		err := send(ctx)
		q.Rewind()
		if ctx.Err() != nil {
			break
		}
		state := StateDisconnected
		var refused *refusedError
		if errors.As(err, &refused) || errors.Is(err, ErrPeerMismatch) {
			state = StateError
		}
		s.log.Warn("target unavailable, retrying", "peer_address", s.Job.Address, "err", err, "retry_in", backoff.String())
		s.update(func(st *JobStatus) {
			st.State, st.LastError = state, err.Error()
			if s.paused { // update holds s.mu
				st.State = StatePaused
			}
		})
		if time.Since(start) > time.Minute {
			backoff = time.Second // it had been up for a while: a fresh failure
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		case <-s.wake: // Resync or Resume: try at once
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	st := s.Status()
	s.log.Info("stopped", "pending", st.PendingFiles, "bytes_sent", st.BytesSent, "bytes_received", st.BytesReceived)
	return nil
}

// rescan compares the whole tree every RescanInterval while part of it is unwatched, at
// start or since a directory made later could not be watched.
func (s *Sender) rescan(ctx context.Context, w *Watcher) {
	t := time.NewTicker(s.RescanInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if w.Unwatched() {
				s.Resync()
			}
		}
	}
}

type refusedError struct{ reason string }

func (e *refusedError) Error() string { return "refused by the target: " + e.reason }

// connectAndSend makes one connection and sends over it until it fails or ctx ends.
func (s *Sender) connectAndSend(ctx context.Context) error {
	tc, err := dial(ctx, s.Job.Address, s.KeepAlive, s.ID.ClientTLS(s.Job.Peer), 30*time.Second)
	if err != nil {
		return err
	}
	w := newWire(tc)
	w.limit = newPacer(s.Job.BandwidthLimit)
	stop := context.AfterFunc(ctx, func() { w.fail(context.Canceled) })
	defer stop()
	defer w.fail(io.EOF)
	if err := w.sendNow(&Msg{Type: MsgHello, Size: ProtocolVersion, Path2: s.Job.Module, Text: s.Job.Name}); err != nil {
		return err
	}
	tc.SetReadDeadline(time.Now().Add(30 * time.Second))
	m, err := w.read()
	if err != nil {
		return fmt.Errorf("waiting for the target's welcome: %w", err)
	}
	tc.SetReadDeadline(time.Time{})
	switch m.Type {
	case MsgWelcome:
	case MsgRefused:
		return &refusedError{m.Text}
	default:
		return fmt.Errorf("%w: %s instead of Welcome", ErrProtocol, m.Type)
	}
	addr := tc.RemoteAddr().String()
	s.log.Info("connected", "peer_address", addr, "peer", s.Job.Peer)
	s.update(func(st *JobStatus) {
		st.PeerAddress, st.LastError = addr, ""
		if st.State != StatePaused {
			st.State = StateSyncing
		}
	})

	ss := &session{s: s, w: w, manifest: make(chan *Msg, 1024), offers: make(chan resumeAnswer, 1), acked: make(chan struct{}, 1), deltas: map[uint64]string{}}
	ss.cond = gosync.NewCond(&ss.mu)
	ss.bytesBase = s.Status().BytesSent
	go w.heartbeat(heartbeatInterval(s.KeepAlive), heartbeatTimeout(s.KeepAlive), ss.busy)
	readErr := make(chan error, 1)
	go func() { readErr <- ss.readLoop() }()
	// The first reason wins: the sender's own, or what the reader or heartbeat saw; but
	// the kernel reports a timeout to one system call only, and the other then sees a
	// broken pipe: the timeout is the reason, whichever saw it.
	sendErr := ss.sendLoop(ctx)
	err = w.fail(sendErr)
	rerr := <-readErr
	for _, e := range []error{sendErr, rerr} {
		if errors.Is(e, syscall.ETIMEDOUT) {
			err = e
		}
	}
	s.update(func(st *JobStatus) {
		st.BytesSent = ss.bytesBase + w.sent.Load()
		st.BytesReceived += w.recv.Load()
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return deadReason(err, s.KeepAlive)
}

// session is one connection of a sender.
type session struct {
	s *Sender
	w *wire

	mu        gosync.Mutex
	cond      *gosync.Cond
	inflight  []flight  // operations sent, oldest first
	inBytes   int64     // the bytes of inflight
	wireSeq   uint64    // the last wire operation numbered
	ackedWire uint64    // the last one acknowledged
	asking    int       // questions waiting for their answer
	buf       []byte    // the send loop's read buffer
	hasher    hash.Hash // the send loop's content hash, reset for each file sent whole
	closed    bool
	err       error
	deltas    map[uint64]string // files sent as deltas, by wire number, until acknowledged

	manifest  chan *Msg // the answers to ListRequest and HashRequest
	offers    chan resumeAnswer
	sig       *Signature    // read by readLoop, waiting for its ResumeOffer
	acked     chan struct{} // an Ack came: a comparison waiting for the queue may start
	bytesBase int64         // BytesSent before this connection
	// initialLast is the last change a full comparison queued, until it is acknowledged;
	// compared is when that comparison started.
	initialLast uint64
	compared    time.Time
}

// resumeAnswer is the target's answer to a ResumeQuery: the offer, and the signature of the
// file there, if any.
type resumeAnswer struct {
	offer *Msg
	sig   *Signature
}

// flight is a queued change on the wire: the last wire operation it took, and what it was.
type flight struct {
	wireSeq uint64
	op      Op
	bytes   int64
}

// busy reports whether the sender waits for the receiver: operations without their Ack,
// or an answer (the manifest, a resume offer).
func (ss *session) busy() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.inflight) > 0 || ss.asking > 0
}

// ask marks a question to the receiver as open until the returned function is called.
func (ss *session) ask() func() {
	ss.mu.Lock()
	ss.asking++
	ss.mu.Unlock()
	return func() {
		ss.mu.Lock()
		ss.asking--
		ss.mu.Unlock()
	}
}

// readLoop handles what the receiver sends: acknowledgements, errors, the manifest,
// resume offers and heartbeat answers.
func (ss *session) readLoop() error {
	defer func() {
		ss.mu.Lock()
		ss.closed = true
		ss.cond.Broadcast()
		ss.mu.Unlock()
		close(ss.manifest)
	}()
	for {
		m, err := ss.w.read()
		if err != nil {
			ss.mu.Lock()
			ss.err = err
			ss.mu.Unlock()
			ss.w.fail(err) // wakes the sender, which may be waiting for changes
			return err
		}
		switch m.Type {
		case MsgAck:
			ss.ack(m.Seq)
		case MsgOpError:
			if m.Flag {
				err := fmt.Errorf("the target cannot write now, retrying later: %s", m.Text)
				ss.w.fail(err)
				return err
			}
			ss.opError(m)
		case MsgEntry, MsgListEnd, MsgHashReply:
			ss.manifest <- m
		case MsgSignature:
			ss.sig = SignatureOf(m)
		case MsgResumeOffer:
			select {
			case ss.offers <- resumeAnswer{m, ss.sig}:
			default:
			}
			ss.sig = nil
		case MsgPong, MsgPing:
			if m.Type == MsgPing {
				ss.w.sendNow(&Msg{Type: MsgPong, Seq: m.Seq})
			}
		default:
			err := fmt.Errorf("%w: unexpected %s from the target", ErrProtocol, m.Type)
			ss.w.fail(err)
			return err
		}
	}
}

func (ss *session) ack(seq uint64) {
	ss.mu.Lock()
	i := 0
	var last uint64
	for i < len(ss.inflight) && ss.inflight[i].wireSeq <= seq {
		last = ss.inflight[i].op.Seq
		ss.inBytes -= ss.inflight[i].bytes
		i++
	}
	ss.inflight = ss.inflight[i:]
	if len(ss.inflight) == 0 {
		ss.inflight = nil // not the array a large initial sync grew, kept while idle
	}
	ss.ackedWire = max(ss.ackedWire, seq)
	for n := range ss.deltas {
		if n <= seq {
			delete(ss.deltas, n)
		}
	}
	initialLast := ss.initialLast
	if initialLast != 0 && last >= initialLast {
		ss.initialLast = 0
		ss.s.log.Info("in step with the target: what the comparison found is acknowledged", "took", time.Since(ss.compared).Round(time.Millisecond).String())
	}
	ss.cond.Broadcast()
	ss.mu.Unlock()
	if i == 0 {
		return
	}
	s := ss.s
	s.update(func(st *JobStatus) {
		// Under the status lock, so that nobody sees the queue empty and the last
		// sync time not yet set.
		s.queue.Done(last)
		n, _, _ := s.queue.Stats()
		st.BytesSent = ss.bytesBase + ss.w.sent.Load()
		if initialLast != 0 {
			st.InitialDone = min(st.InitialDone+int64(i), st.InitialTotal)
			if last >= initialLast {
				st.InitialDone = st.InitialTotal
			}
		}
		if n == 0 {
			st.LastSync = time.Now()
			if initialLast != 0 && st.InitialTotal > 10000 {
				// A large initial sync is done: give its memory back to the system
				// now rather than whenever the runtime gets round to it, since the
				// daemon then idles for a long time.
				go debug.FreeOSMemory()
			}
		}
	})
	// Only now that the queue knows: a comparison waiting for it may start.
	select {
	case ss.acked <- struct{}{}:
	default:
	}
}

// opError logs an operation the target refused. A rename it could not do (the source was
// not there) becomes a full send of the new path; a file sent as a delta that failed there
// (its old file changed meanwhile, or, most unlikely, a false block match that the
// end-to-end hash found) is sent again whole.
func (ss *session) opError(m *Msg) {
	ss.mu.Lock()
	var op *Op
	for i := range ss.inflight {
		if ss.inflight[i].wireSeq >= m.Seq {
			op = &ss.inflight[i].op
			break
		}
	}
	delta, isDelta := ss.deltas[m.Seq]
	delete(ss.deltas, m.Seq)
	ss.mu.Unlock()
	ss.s.log.Warn("the target refused an operation", "err", m.Text)
	ss.s.update(func(st *JobStatus) { st.LastError = m.Text })
	switch {
	case isDelta:
		ss.s.mu.Lock()
		ss.s.whole[delta] = true
		ss.s.mu.Unlock()
		ss.s.log.Info("sending a file whole after its delta failed", "path", delta)
		ss.s.queue.Add(Op{Kind: OpSync, Path: delta})
	case op != nil && op.Kind == OpRename && strings.HasPrefix(m.Text, "rename "):
		ss.s.queue.Add(Op{Kind: OpTree, Path: op.To})
	}
}

// takeWhole reports whether p's last delta failed, and forgets it.
func (s *Sender) takeWhole(p string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.whole[p]
	delete(s.whole, p)
	return w
}

// Window bounds what is on the wire without an Ack.
const (
	windowOps   = 20000
	windowBytes = 64 << 20
)

func (ss *session) sendLoop(ctx context.Context) error {
	s := ss.s
	// Changes kept from before this connection go first, as they happened (a rename
	// stays a rename); the full comparison comes after them.
	barrier := s.queue.LastSeq()
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := ss.wireErr(); err != nil {
			return err
		}
		if s.isPaused() {
			if err := ss.wait(ctx, 0); err != nil {
				return err
			}
			continue
		}
		s.mu.Lock()
		compare := s.compare && s.queue.DoneThrough(barrier)
		if compare {
			s.compare = false
			s.st.State = StateScanning // with the flag, so that nobody sees idle between
		}
		s.mu.Unlock()
		if compare {
			if err := ss.fullComparison(ctx); err != nil {
				s.mu.Lock()
				s.compare = true
				s.mu.Unlock()
				return err
			}
			continue
		}
		op, wait, ok := s.queue.Next(s.Job.Delay)
		if !ok {
			if err := ss.w.flush(); err != nil {
				return err
			}
			if err := ss.wait(ctx, wait); err != nil {
				return err
			}
			continue
		}
		if err := ss.window(ctx); err != nil {
			return err
		}
		if err := ss.sendOp(ctx, op); err != nil {
			return err
		}
	}
}

func (ss *session) wireErr() error {
	select {
	case <-ss.w.closed:
		ss.w.mu.Lock()
		defer ss.w.mu.Unlock()
		return ss.w.err
	default:
		return nil
	}
}

// wait sleeps until a change is queued, the status is poked, d passes (0: no limit), or the
// connection closes.
func (ss *session) wait(ctx context.Context, d time.Duration) error {
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-ss.w.closed:
		return ss.wireErr()
	case <-ss.s.queue.Wake():
	case <-ss.s.wake:
	case <-ss.acked:
	case <-timeout:
	}
	return nil
}

// window waits while too much is on the wire unacknowledged.
func (ss *session) window(ctx context.Context) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for !ss.closed {
		if len(ss.inflight) < windowOps && ss.inBytes < windowBytes {
			return nil
		}
		// What is buffered must go out for the Acks to come.
		ss.mu.Unlock()
		err := ss.w.flush()
		ss.mu.Lock()
		if err != nil {
			return err
		}
		ss.cond.Wait()
	}
	if ss.err != nil {
		return ss.err
	}
	return io.EOF
}

// nextSeq numbers a wire operation.
func (ss *session) nextSeq() uint64 {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.wireSeq++
	return ss.wireSeq
}

// sent records that op's last wire operation is the latest numbered one; an op that
// needed none is done once everything before it is.
func (ss *session) sent(op Op, bytes int64) {
	ss.mu.Lock()
	if ss.wireSeq == ss.ackedWire {
		// Nothing of it went out, and everything before it is acknowledged.
		ss.mu.Unlock()
		ss.s.queue.Done(op.Seq)
		return
	}
	ss.inflight = append(ss.inflight, flight{wireSeq: ss.wireSeq, op: op, bytes: bytes})
	ss.inBytes += bytes
	ss.mu.Unlock()
}

func (ss *session) sendOp(ctx context.Context, op Op) error {
	s := ss.s
	var bytes int64
	var err error
	switch op.Kind {
	case OpSync, OpAttr:
		bytes, err = ss.sendPath(ctx, op.Path, op.Kind == OpAttr)
	case OpTree:
		bytes, err = ss.sendTree(ctx, op.Path)
	case OpDelete:
		if s.Job.Delete && !s.exclude.ExcludedPath(op.Path, false) {
			err = ss.w.send(&Msg{Type: MsgDelete, Seq: ss.nextSeq(), Path: op.Path})
		}
	case OpRename:
		err = ss.w.send(&Msg{Type: MsgRename, Seq: ss.nextSeq(), Path: op.Path, Path2: op.To})
	}
	if err != nil {
		return err
	}
	ss.sent(op, bytes)
	return nil
}

// sendPath sends what p is now: a directory, a symlink, a file's content, or with attrOnly
// just its mode and mtime. A path that no longer exists sends nothing: the change that
// removed it is queued after this one.
func (ss *session) sendPath(ctx context.Context, p string, attrOnly bool) (int64, error) {
	if CheckPath(p) != nil || ss.s.exclude.ExcludedPath(p, false) {
		return 0, nil
	}
	abs := filepath.Join(ss.s.Job.Source, p)
	var st unix.Stat_t
	if err := unix.Lstat(abs, &st); err != nil {
		return 0, nil
	}
	e, ok := entryFromStat(p, &st)
	if !ok {
		return 0, nil
	}
	if e.Kind == KindSymlink {
		target, err := os.Readlink(abs)
		if err != nil {
			return 0, nil
		}
		e.Target = target
	}
	return ss.sendEntry(ctx, e, attrOnly)
}

func (ss *session) sendEntry(ctx context.Context, e Entry, attrOnly bool) (int64, error) {
	switch {
	case attrOnly && e.Kind != KindSymlink:
		return 0, ss.w.send(&Msg{Type: MsgAttr, Seq: ss.nextSeq(), Path: e.Path, Mode: e.Mode, Mtime: e.Mtime})
	case e.Kind == KindDir:
		return 0, ss.w.send(&Msg{Type: MsgMkdir, Seq: ss.nextSeq(), Path: e.Path, Mode: e.Mode, Mtime: e.Mtime})
	case e.Kind == KindSymlink:
		return 0, ss.w.send(&Msg{Type: MsgSymlink, Seq: ss.nextSeq(), Path: e.Path, Path2: e.Target, Mtime: e.Mtime})
	}
	return ss.sendFile(ctx, e.Path)
}

// sendTree sends p and everything below it.
func (ss *session) sendTree(ctx context.Context, p string) (int64, error) {
	total, err := ss.sendPath(ctx, p, false)
	if err != nil {
		return total, err
	}
	fd, err := unix.Open(filepath.Join(ss.s.Job.Source, p), unix.O_DIRECTORY|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return total, nil // not a directory (any more)
	}
	defer unix.Close(fd)
	err = walkAt(fd, p, ss.s.exclude.Excluded, func(e Entry) error {
		n, err := ss.sendEntry(ctx, e, false)
		total += n
		return err
	})
	return total, err
}

// sendFile sends a file's content: FileBegin, Data frames, FileEnd with its BLAKE3 hash. A file
// of DeltaMinSize or more first asks the target (ResumeQuery) what a cut-off transfer left,
// and continues from there when that part hashes as this file's first bytes do; otherwise,
// when the target has a file there, it is sent as a delta against it (see delta.go).
//
// The caller has just seen a regular file at p (lstat or the tree's listing): looking
// before opening, as config.OpenFile does, so that no device is opened. The open neither
// follows a symlink nor blocks on a FIFO put there since, and what it opened is checked
// again.
func (ss *session) sendFile(ctx context.Context, p string) (int64, error) {
	f, err := os.OpenFile(filepath.Join(ss.s.Job.Source, p), os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return 0, nil // gone, or replaced by a symlink: a later change says so
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, nil // replaced by a FIFO, say: a later change says so
	}
	seq := ss.nextSeq()
	if ss.hasher == nil {
		ss.hasher = NewContentHash()
	}
	h := ss.hasher
	h.Reset()
	var offset int64
	var sig *Signature
	if st.Size >= DeltaMinSize {
		if offset, h, sig, err = ss.resume(ctx, f, p, seq, &st); err != nil {
			return 0, err
		}
	}
	begin := &Msg{Type: MsgFileBegin, Seq: seq, Path: p, Mode: st.Mode & 0o7777, Mtime: st.Mtim.Nano(), Size: uint64(st.Size), Offset: uint64(offset)}
	var sent int64
	if offset == 0 && sig != nil && !ss.s.takeWhole(p) {
		begin.Flag = true
		if err := ss.w.send(begin); err != nil {
			return 0, err
		}
		ss.mu.Lock()
		ss.deltas[seq] = p
		ss.mu.Unlock()
		out := &wireDelta{w: ss.w}
		if err = newMatcher(sig).diff(f, h, out, ctx.Err); err != nil && ctx.Err() == nil && !errors.Is(err, ss.wireErr()) {
			err = fmt.Errorf("reading %s: %w", f.Name(), err)
		}
		sent = out.sent
	} else {
		if err := ss.w.send(begin); err != nil {
			return 0, err
		}
		sent, err = ss.sendData(ctx, f, h, offset, st.Size)
	}
	if err != nil {
		return sent, err
	}
	if err := ss.w.send(&Msg{Type: MsgFileEnd, Hash: h.Sum(nil)}); err != nil {
		return sent, err
	}
	ss.s.update(func(st *JobStatus) { st.FilesSent++ })
	return sent, nil
}

// wireDelta sends a delta's parts as Data and Copy frames.
type wireDelta struct {
	w    *wire
	sent int64 // bytes of Data
}

func (d *wireDelta) literal(p []byte) error {
	d.sent += int64(len(p))
	return d.w.send(&Msg{Type: MsgData, Data: p})
}

func (d *wireDelta) copy(offset, n int64) error {
	return d.w.send(&Msg{Type: MsgCopy, Offset: uint64(offset), Size: uint64(n)})
}

// sendData sends f from offset on as Data frames, hashing it into h. f is at its start
// (nothing read it but with ReadAt). A short read that reaches size, f's size when it was
// opened, ends it without one more read for EOF.
func (ss *session) sendData(ctx context.Context, f *os.File, h hash.Hash, offset, size int64) (int64, error) {
	if ss.buf == nil {
		ss.buf = make([]byte, DataChunk) // one buffer for every file of the session
	}
	buf := ss.buf
	sent := int64(0)
	if offset != 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			return 0, err
		}
	}
	for {
		n, rerr := f.Read(buf)
		if rerr == nil && n < len(buf) && offset+sent+int64(n) >= size {
			rerr = io.EOF
		}
		if n > 0 {
			h.Write(buf[:n])
			if err := ss.w.send(&Msg{Type: MsgData, Data: buf[:n]}); err != nil {
				return sent, err
			}
			sent += int64(n)
			if ctx.Err() != nil {
				// Stopping: the file is cut here; the target keeps a large one's part.
				return sent, ctx.Err()
			}
		}
		if rerr == io.EOF {
			return sent, nil
		}
		if rerr != nil {
			return sent, fmt.Errorf("reading %s: %w", f.Name(), rerr)
		}
	}
}

// resume asks the target about p: it returns where to continue (0: from the start), the
// hash of the bytes before that point, and the signature of the file p replaces there, if
// any.
func (ss *session) resume(ctx context.Context, f *os.File, p string, seq uint64, st *unix.Stat_t) (int64, hash.Hash, *Signature, error) {
	q := &Msg{Type: MsgResumeQuery, Seq: seq, Path: p, Size: uint64(st.Size), Mtime: st.Mtim.Nano()}
	done := ss.ask()
	defer done()
	if err := ss.w.sendNow(q); err != nil {
		return 0, nil, nil, err
	}
	var answer resumeAnswer
	select {
	case answer = <-ss.offers:
	case <-ss.w.closed:
		return 0, nil, nil, ss.wireErr()
	case <-ctx.Done():
		return 0, nil, nil, ctx.Err()
	}
	offer, sig := answer.offer, answer.sig
	h := NewContentHash()
	if offer.Offset == 0 || offer.Offset > uint64(st.Size) {
		return 0, h, sig, nil
	}
	if err := copyPrefix(h, f, int64(offer.Offset)); err != nil {
		return 0, NewContentHash(), sig, nil
	}
	if string(h.Sum(nil)) != string(offer.Hash) {
		ss.s.log.Info("the target's part of a file differs from it; sending it whole", "path", p)
		return 0, NewContentHash(), sig, nil
	}
	ss.s.log.Info("resuming a file cut off before", "path", p, "offset", offer.Offset, "size", st.Size)
	return int64(offer.Offset), h, nil, nil
}

// fullComparison lists the target's module and the source, and queues what differs:
// entries missing or different there (size, mode, type, link target, or a file's content),
// and with Delete=yes what is there only. Excluded paths are neither sent nor deleted. A
// file of the same size whose mtime differs is hashed on both sides first (see
// sameContent): when only its mtime changed (a touch, a copy that did not keep times, a
// restore), only the mtime is sent.
func (ss *session) fullComparison(ctx context.Context) error {
	s := ss.s
	s.update(func(st *JobStatus) {
		st.State, st.ScanEntries, st.InitialTotal, st.InitialDone = StateScanning, 0, 0, 0
	})
	s.log.Info("comparing the whole tree with the target")
	start := time.Now()
	done := ss.ask()
	defer done()
	if err := ss.w.sendNow(&Msg{Type: MsgListRequest}); err != nil {
		return err
	}
	remote := map[string]Entry{}
	for done := false; !done; {
		select {
		case m, ok := <-ss.manifest:
			if !ok {
				return ss.wireErr()
			}
			if m.Type == MsgListEnd {
				done = true
				break
			}
			remote[m.Path] = Entry{Path: m.Path, Kind: m.Kind, Mode: m.Mode, Size: int64(m.Size), Mtime: m.Mtime, Target: m.Path2}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var ops []Op
	var retimed []Entry // same size, another mtime: hashed before anything is sent
	fd, err := unix.Open(s.Job.Source, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening Source=%s: %w", s.Job.Source, err)
	}
	var scanned int64
	err = walkAt(fd, "", s.exclude.Excluded, func(e Entry) error {
		scanned++
		if scanned%1000 == 0 {
			s.update(func(st *JobStatus) { st.ScanEntries = scanned })
		}
		r, ok := remote[e.Path]
		delete(remote, e.Path)
		switch {
		case !ok || r.Kind != e.Kind || e.Kind == KindSymlink && r.Target != e.Target:
			if ok && r.Kind != e.Kind && s.Job.Delete {
				ops = append(ops, Op{Kind: OpDelete, Path: e.Path})
			}
			ops = append(ops, Op{Kind: OpSync, Path: e.Path, Size: e.Size})
		case e.Kind == KindFile && r.Size != e.Size:
			ops = append(ops, Op{Kind: OpSync, Path: e.Path, Size: e.Size})
		case e.Kind == KindFile && r.Mtime != e.Mtime:
			retimed = append(retimed, e)
		case e.Kind != KindSymlink && r.Mode != e.Mode&^(unix.S_ISUID|unix.S_ISGID):
			ops = append(ops, Op{Kind: OpAttr, Path: e.Path})
		}
		return ctx.Err()
	})
	unix.Close(fd)
	if err != nil {
		return err
	}
	var unchanged int
	if len(retimed) > 0 {
		same, err := ss.sameContent(ctx, retimed)
		if err != nil {
			return err
		}
		for i, e := range retimed {
			if same[i] {
				unchanged++
				ops = append(ops, Op{Kind: OpAttr, Path: e.Path})
			} else {
				ops = append(ops, Op{Kind: OpSync, Path: e.Path, Size: e.Size})
			}
		}
	}
	if s.Job.Delete {
		var gone []string
		for p := range remote {
			if !s.exclude.ExcludedPath(p, remote[p].Kind == KindDir) {
				gone = append(gone, p)
			}
		}
		slices.Sort(gone)
		last := ""
		for _, p := range gone {
			if last != "" && strings.HasPrefix(p, last+"/") {
				continue // removed with its directory
			}
			ops = append(ops, Op{Kind: OpDelete, Path: p})
			last = p
		}
	}
	s.queue.Add(ops...)
	ss.mu.Lock()
	ss.initialLast, ss.compared = 0, start
	if len(ops) > 0 {
		ss.initialLast = s.queue.LastSeq()
	}
	ss.mu.Unlock()
	s.log.Info("compared", "entries", scanned, "changes", len(ops), "hashed", len(retimed), "only_mtime", unchanged, "took", time.Since(start).Round(time.Millisecond).String())
	s.update(func(st *JobStatus) {
		st.ScanEntries, st.InitialTotal, st.InitialDone = scanned, int64(len(ops)), 0
		if len(ops) == 0 {
			st.LastSync = time.Now()
		}
		if st.State == StateScanning {
			st.State = StateSyncing
		}
	})
	return nil
}

// hashAhead bounds the HashRequests sent before their answers are read, so that neither
// side's buffers fill while the other waits.
const hashAhead = 256

// sameContent asks the target for the BLAKE3 of each file in files (HashRequest), hashes
// its own copy meanwhile, and reports for each whether the two are the same. It stays
// cheap: only files whose size is the same at both ends and whose mtime differs are
// hashed, each side reads each of them once (the target ahead of the sender, in
// parallel), which costs no more than the delta or transfer it may save, and the wire
// carries a path and 32 bytes each way.
func (ss *session) sameContent(ctx context.Context, files []Entry) ([]bool, error) {
	same := make([]bool, len(files))
	asked := 0
	for i, e := range files {
		if asked < len(files) && asked-i <= hashAhead/2 {
			for asked < len(files) && asked < i+hashAhead {
				if err := ss.w.send(&Msg{Type: MsgHashRequest, Path: files[asked].Path}); err != nil {
					return nil, err
				}
				asked++
			}
			if err := ss.w.flush(); err != nil {
				return nil, err
			}
		}
		var m *Msg
		select {
		case reply, ok := <-ss.manifest:
			if !ok {
				return nil, ss.wireErr()
			}
			m = reply
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if m.Type != MsgHashReply || m.Path != e.Path {
			return nil, fmt.Errorf("%w: %s %q in answer to HashRequest %q", ErrProtocol, m.Type, m.Path, e.Path)
		}
		if m.Hash != nil {
			local, err := hashFile(filepath.Join(ss.s.Job.Source, e.Path))
			same[i] = err == nil && string(local) == string(m.Hash)
		}
	}
	return same, nil
}

// hashFile returns the content hash of the regular file at p.
func hashFile(p string) ([]byte, error) {
	f, err := config.OpenFile(p, unix.O_NOFOLLOW, false)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return hashRegular(f)
}
