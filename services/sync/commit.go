package sync

import (
	"errors"
	"fmt"
	gosync "sync"

	"golang.org/x/sys/unix"
)

// The files a session receives are made durable and put in place by a second goroutine,
// the committer, while the session goes on receiving: the next files arrive during the
// journal commit of the ones before. The committer takes every complete file waiting at
// once, so a commit grows with the stream (one file when they come one at a time, many in
// a burst) and costs one syncfs(2) for all of them. At most this many files or bytes wait
// for it: a bound on the descriptors held open and on what a crash makes the sender send
// again. While files keep arriving faster than they are committed, the committer waits
// for batchFiles or batchBytes of them before it starts (one journal commit for many
// instead of one per handful); as soon as the session has nothing more to read, it
// commits what there is, so a file that comes alone is not kept waiting.
const (
	maxBatchFiles = 1000
	maxBatchBytes = 64 << 20
	batchFiles    = 256
	batchBytes    = 16 << 20
)

// committer is the state the session and its committer share, under mu.
type committer struct {
	mu      gosync.Mutex
	cond    gosync.Cond
	queue   []*incoming // complete files, not yet fsynced and renamed
	queueN  int64       // their bytes
	seq     uint64      // the last operation done when the queue was last added to
	acked   uint64      // the last operation acknowledged to the sender
	busy    bool        // a commit is running
	idle    bool        // the session has read all there was: commit without waiting
	stopped bool        // the session ended: no more commits
	err     error       // a commit failed; the connection is closed
	exited  chan struct{}
}

func (s *rsession) startCommitter() {
	c := &s.commits
	c.cond.L = &c.mu
	c.exited = make(chan struct{})
	go s.committing()
}

// add hands a complete file to the committer, waiting while too many wait already.
func (c *committer) add(in *incoming) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for (len(c.queue) >= maxBatchFiles || c.queueN >= maxBatchBytes) && c.err == nil {
		c.cond.Wait()
	}
	if c.err != nil {
		in.discard()
		return c.err
	}
	c.queue = append(c.queue, in)
	c.queueN += in.written
	c.seq = max(c.seq, in.seq)
	c.idle = false
	if c.full() {
		c.cond.Broadcast()
	}
	return nil
}

// full says that enough files wait to commit them without waiting for the session to
// read all there is.
func (c *committer) full() bool {
	return len(c.queue) >= batchFiles || c.queueN >= batchBytes
}

// done says that every operation up to seq is done, but for the files handed to add, and
// that the session has read all there was: the committer puts those files in place now and
// then acknowledges seq.
func (c *committer) done(seq uint64) {
	c.mu.Lock()
	if !c.idle || seq > c.seq {
		c.idle, c.seq = true, max(c.seq, seq)
		c.cond.Broadcast()
	}
	c.mu.Unlock()
}

// settle waits until every file received so far is in place and every operation up to
// s.lastSeq is acknowledged: what comes next (a rename of one of them, a listing) needs it.
func (s *rsession) settle() error {
	c := &s.commits
	c.done(s.lastSeq)
	c.mu.Lock()
	defer c.mu.Unlock()
	for (len(c.queue) > 0 || c.busy || c.acked < c.seq) && c.err == nil {
		c.cond.Wait()
	}
	return c.err
}

// stop ends the committer after the commit it is running, and returns the files it had
// not begun: not acknowledged, so the sender sends them again.
func (c *committer) stop() []*incoming {
	c.mu.Lock()
	c.stopped = true
	c.cond.Broadcast()
	c.mu.Unlock()
	<-c.exited
	left := c.queue
	c.queue = nil
	return left
}

func (s *rsession) committing() {
	c := &s.commits
	defer close(c.exited)
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for !c.stopped && c.err == nil && !c.full() && !(c.idle && (len(c.queue) > 0 || c.seq > c.acked)) {
			c.cond.Wait()
		}
		if c.stopped || c.err != nil {
			return
		}
		batch, seq := c.queue, c.seq
		c.queue, c.queueN, c.busy = nil, 0, true
		c.cond.Broadcast()
		c.mu.Unlock()
		err := s.commit(batch, seq)
		c.mu.Lock()
		c.busy = false
		if err != nil {
			c.err = err
		} else {
			c.acked = seq
		}
		c.cond.Broadcast()
	}
}

// commit makes batch durable and puts it in place, then acknowledges every operation up
// to seq: each file is written and fsynced unnamed or under a temporary name, then linked
// or renamed to its real name, then the directory is fsynced, so that a crash at any
// moment leaves the old file or the new one, never a part. A few files are fsynced one by
// one; more with one syncfs(2), which costs one journal commit for all of them. A failure
// closes the connection: nothing of the batch is acknowledged, and the sender sends it
// again.
func (s *rsession) commit(batch []*incoming, seq uint64) error {
	if len(batch) > 0 {
		if err := s.durable(batch, func(in *incoming) error { return in.f.Sync() }); err != nil {
			for _, in := range batch {
				in.discard()
			}
			return s.failBatch(err)
		}
		var dirs []int
		for _, in := range batch {
			if err := in.place(); err != nil {
				s.log.Warn("cannot put a received file in place", "path", in.rel, "err", err)
			}
			dirs = append(dirs, in.dir.fd)
		}
		err := s.durableDirs(dirs)
		for _, in := range batch {
			in.dir.release()
		}
		if err != nil {
			return s.failBatch(err)
		}
		s.receiver.changed()
	}
	if err := s.w.send(&Msg{Type: MsgAck, Seq: seq}); err != nil {
		return err
	}
	return s.w.flush()
}

// place puts a complete, durable file under its real name, replacing what is there, and
// closes it. An unnamed file is linked in place, or, where something has the name
// already, linked under a temporary name and renamed over it.
func (in *incoming) place() error {
	dirfd := in.dir.fd
	if in.tmp == "" {
		err := linkTemp(int(in.f.Fd()), dirfd, in.name)
		if !errors.Is(err, unix.EEXIST) {
			in.f.Close()
			return err
		}
		in.tmp = tmpName()
		if err := linkTemp(int(in.f.Fd()), dirfd, in.tmp); err != nil {
			in.f.Close()
			return err
		}
	}
	in.f.Close()
	return replaceAt(dirfd, in.tmp, in.name)
}

func (s *rsession) durable(batch []*incoming, one func(*incoming) error) error {
	if len(batch) > 8 {
		return unix.Syncfs(s.rt.fd)
	}
	for _, in := range batch {
		if err := one(in); err != nil {
			return err
		}
	}
	return nil
}

func (s *rsession) durableDirs(dirs []int) error {
	if len(dirs) > 8 {
		return unix.Syncfs(s.rt.fd)
	}
	seen := map[int]bool{}
	for _, fd := range dirs {
		if !seen[fd] {
			seen[fd] = true
			if err := unix.Fsync(fd); err != nil {
				return err
			}
		}
	}
	return nil
}

// failBatch closes the connection after fsync failed, telling the sender why: nothing of
// the batch is acknowledged.
func (s *rsession) failBatch(err error) error {
	s.log.Error("cannot make received files durable; the sender will send them again", "err", err)
	s.w.sendNow(&Msg{Type: MsgOpError, Seq: s.commits.ackedNow() + 1, Flag: true, Text: fmt.Sprintf("fsync on the receiver: %v", err)})
	return s.w.fail(fmt.Errorf("fsync: %w", err))
}

func (c *committer) ackedNow() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acked
}
