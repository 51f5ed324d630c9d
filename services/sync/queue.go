package sync

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	gosync "sync"
	"syscall"
	"time"

	"github.com/hostkit/hostkit/internal/config"
)

// OpKind is what a queued change asks of the target.
type OpKind byte

const (
	// OpSync: make Path at the target what it is here now (a file's content, a directory,
	// a symlink; nothing if it no longer exists here, as a later operation says why).
	OpSync OpKind = 'S'
	// OpAttr: only mode and mtime of Path changed.
	OpAttr OpKind = 'A'
	// OpTree: Path and everything below it, as OpSync for each.
	OpTree OpKind = 'T'
	// OpDelete: Path is gone, with everything below it.
	OpDelete OpKind = 'D'
	// OpRename: Path is now To, with everything below it: nothing is sent again.
	OpRename OpKind = 'R'
)

// Op is one queued change.
type Op struct {
	Seq   uint64
	Kind  OpKind
	Path  string
	To    string
	Added time.Time
	Size  int64 // a file's size when the change was seen, for the pending byte count
}

// Queue holds the changes not yet acknowledged by the target, in order, and keeps them in
// a file in the state directory so that neither a target that is down nor a restart of
// this daemon loses one. The file is a log: a line per change added and per
// acknowledgement, rewritten when it has grown well past what is still pending.
type Queue struct {
	mu    gosync.Mutex
	ops   []Op // ops[:sent] are on the wire, waiting for their Ack
	sent  int
	next  uint64
	syncs map[string]unsent // unsent OpSync/OpTree by path, for coalescing
	bytes int64
	wake  chan struct{}
	// added, when set, is called after changes were added (outside the lock).
	added func()

	file  string
	f     *os.File
	w     *bufio.Writer
	lines int
	err   error // the first error writing the file; kept in memory meanwhile
}

// OpenQueue opens the queue kept in file, with whatever changes it holds unacknowledged.
func OpenQueue(file string) (*Queue, error) {
	q := &Queue{file: file, next: 1, syncs: map[string]unsent{}, wake: make(chan struct{}, 1)}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, err
	}
	if err := q.replay(); err != nil {
		return nil, fmt.Errorf("queue %s: %w", file, err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	q.f, q.w = f, bufio.NewWriterSize(f, 64<<10)
	if len(q.ops) == 0 {
		q.truncate()
	} else {
		q.rewrite()
	}
	return q, nil
}

// maxQueueFile bounds the queue file read at start: some ten million pending changes. A
// queue file is rewritten when it grows well past what is pending, so only a queue that
// large, or a file that is no queue, reaches it.
const maxQueueFile = 1 << 30

func (q *Queue) replay() error {
	// The file is in StateDirectory=, which an admin names: read it as every hostkit
	// program reads such a file (config.OpenFile), a regular file only, without blocking.
	f, err := config.OpenFile(q.file, syscall.O_NOFOLLOW, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil {
		return err
	} else if info.Size() > maxQueueFile {
		return fmt.Errorf("%d bytes, more than a queue file holds (%d); move it away to start with an empty queue (the comparison at start then finds what differs)", info.Size(), maxQueueFile)
	}
	sc := bufio.NewScanner(io.LimitReader(f, maxQueueFile))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		op, done, ok := parseQueueLine(sc.Text())
		if !ok {
			// A line cut off by a crash while it was written can only be the last;
			// what came before it is good.
			continue
		}
		if done > 0 {
			i := 0
			for i < len(q.ops) && q.ops[i].Seq <= done {
				q.bytes -= q.ops[i].Size
				i++
			}
			q.ops = q.ops[i:]
			q.next = max(q.next, done+1)
			continue
		}
		q.ops = append(q.ops, op)
		q.bytes += op.Size
		q.next = max(q.next, op.Seq+1)
	}
	return sc.Err()
}

// parseQueueLine reads "+ SEQ KIND UNIXNANO SIZE PATH [TO]" (paths quoted) or "- SEQ".
func parseQueueLine(s string) (op Op, done uint64, ok bool) {
	if rest, ok := strings.CutPrefix(s, "- "); ok {
		n, err := strconv.ParseUint(rest, 10, 64)
		return op, n, err == nil && n > 0
	}
	rest, ok := strings.CutPrefix(s, "+ ")
	if !ok {
		return op, 0, false
	}
	f := strings.SplitN(rest, " ", 5)
	if len(f) != 5 || len(f[1]) != 1 {
		return op, 0, false
	}
	seq, err1 := strconv.ParseUint(f[0], 10, 64)
	at, err2 := strconv.ParseInt(f[2], 10, 64)
	size, err3 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || seq == 0 {
		return op, 0, false
	}
	op = Op{Seq: seq, Kind: OpKind(f[1][0]), Added: time.Unix(0, at), Size: size}
	p, tail, err := unquotePrefix(f[4])
	if err != nil {
		return op, 0, false
	}
	op.Path = p
	if op.Kind == OpRename {
		if op.To, _, err = unquotePrefix(strings.TrimPrefix(tail, " ")); err != nil {
			return op, 0, false
		}
	}
	switch op.Kind {
	case OpSync, OpAttr, OpTree, OpDelete, OpRename:
		return op, 0, true
	}
	return op, 0, false
}

func unquotePrefix(s string) (string, string, error) {
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", "", err
	}
	v, err := strconv.Unquote(q)
	return v, s[len(q):], err
}

func (q *Queue) writeOp(op Op) {
	fmt.Fprintf(q.w, "+ %d %c %d %d %s", op.Seq, op.Kind, op.Added.UnixNano(), op.Size, strconv.Quote(op.Path))
	if op.Kind == OpRename {
		fmt.Fprintf(q.w, " %s", strconv.Quote(op.To))
	}
	q.w.WriteByte('\n')
	q.lines++
}

// Add appends changes, coalescing a change to a path that is already waiting to be sent,
// and writes them to the file.
func (q *Queue) Add(ops ...Op) {
	q.add(ops)
	if q.added != nil {
		q.added()
	}
}

func (q *Queue) add(ops []Op) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	for _, op := range ops {
		switch op.Kind {
		case OpSync, OpAttr:
			// Whatever is sent for a path reads it as it is then: one unsent change
			// of the path, or of a tree holding it, covers another.
			if _, ok := q.syncs[op.Path]; ok {
				continue
			}
			if q.coveredByTree(op.Path) {
				continue
			}
		case OpTree:
		default:
			// A rename or delete changes what the paths of earlier changes mean.
			clear(q.syncs)
		}
		op.Seq, op.Added = q.next, now
		q.next++
		q.ops = append(q.ops, op)
		q.bytes += op.Size
		if op.Kind == OpSync || op.Kind == OpTree {
			q.syncs[op.Path] = unsent{op.Seq, op.Kind == OpTree}
		}
		q.writeOp(op)
	}
	q.flushLocked()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// coveredByTree reports whether an unsent OpTree of a parent of p will send p anyway.
func (q *Queue) coveredByTree(p string) bool {
	for d := p; d != ""; {
		i := strings.LastIndexByte(d, '/')
		if i < 0 {
			d = ""
		} else {
			d = d[:i]
		}
		if u, ok := q.syncs[d]; ok && u.tree {
			return true
		}
	}
	return false
}

type unsent struct {
	seq  uint64
	tree bool
}

// LastSeq returns the number of the last change added (0: none yet).
func (q *Queue) LastSeq() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.next - 1
}

// DoneThrough reports whether every change up to seq is acknowledged.
func (q *Queue) DoneThrough(seq uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ops) == 0 || q.ops[0].Seq > seq
}

// Wake receives a value after changes were added.
func (q *Queue) Wake() <-chan struct{} { return q.wake }

// Next returns the first unsent change and counts it as sent, when it is at least delay
// old; otherwise how long until it will be (0 and false: nothing unsent).
func (q *Queue) Next(delay time.Duration) (Op, time.Duration, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.sent >= len(q.ops) {
		return Op{}, 0, false
	}
	op := q.ops[q.sent]
	if wait := delay - time.Since(op.Added); wait > 0 {
		return Op{}, wait, false
	}
	q.sent++
	if u, ok := q.syncs[op.Path]; ok && u.seq == op.Seq {
		delete(q.syncs, op.Path)
	}
	return op, 0, true
}

// Done drops the changes up to seq: the target has them.
func (q *Queue) Done(seq uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := 0
	for i < len(q.ops) && q.ops[i].Seq <= seq {
		q.bytes -= q.ops[i].Size
		i++
	}
	if i == 0 {
		return
	}
	q.ops = q.ops[i:]
	q.sent = max(q.sent-i, 0)
	switch {
	case len(q.ops) == 0:
		// Let the memory of a large batch (an initial sync) go: neither the slice's
		// array nor a map shrinks by itself.
		q.ops = nil
		q.syncs = map[string]unsent{}
		q.truncate()
	case q.lines > 4*len(q.ops)+10000:
		q.rewrite()
	default:
		fmt.Fprintf(q.w, "- %d\n", seq)
		q.lines++
		q.flushLocked()
	}
}

// Rewind makes every change on the wire unsent again: the connection was lost before
// their Ack.
func (q *Queue) Rewind() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sent = 0
	clear(q.syncs) // changes sent before are coalesced with nothing now
}

// Stats returns the pending changes, their bytes, and when the oldest was seen.
func (q *Queue) Stats() (n int, bytes int64, oldest time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.ops) > 0 {
		oldest = q.ops[0].Added
	}
	return len(q.ops), q.bytes, oldest
}

// Err returns the first error writing the queue's file.
func (q *Queue) Err() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

// Close writes what is buffered and closes the file.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.flushLocked()
	if q.f != nil {
		q.f.Close()
		q.f = nil
	}
	return q.err
}

func (q *Queue) flushLocked() {
	if err := q.w.Flush(); err != nil && q.err == nil {
		q.err = err
	}
}

func (q *Queue) truncate() {
	q.w.Reset(q.f)
	if err := q.f.Truncate(0); err != nil && q.err == nil {
		q.err = err
	}
	q.lines = 0
}

// rewrite replaces the file with the pending changes only (a new file renamed over it).
func (q *Queue) rewrite() {
	tmp := q.file + ".new"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		q.err = err
		return
	}
	q.w.Reset(f)
	q.lines = 0
	for _, op := range q.ops {
		q.writeOp(op)
	}
	err = q.w.Flush()
	if err == nil {
		err = os.Rename(tmp, q.file)
	}
	if err != nil {
		f.Close()
		q.err = err
		return
	}
	f.Close()
	if q.f != nil {
		q.f.Close()
	}
	if q.f, err = os.OpenFile(q.file, os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		q.err = err
		return
	}
	q.w.Reset(q.f)
}

var _ io.Closer = (*Queue)(nil)
