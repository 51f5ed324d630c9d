package sync

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	gosync "sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// TuneTCP sets SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT and TCP_USER_TIMEOUT
// from k on c. It is called on every connection, dialed, accepted or passed by socket
// activation, after Go has set its own defaults (an accepted connection gets Go's 15 s
// keepalive from the listener, which would otherwise stay): keepalive finds a peer that
// vanished while the connection was idle, TCP_USER_TIMEOUT one that vanished while data
// was unacknowledged, when the kernel sends no keepalive probes and would retransmit for
// about 15 minutes (tcp_retries2).
func TuneTCP(c net.Conn, k KeepAlive) error {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil // a unix socket in tests: nothing to tune
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		set := func(level, opt, v int, name string) {
			if serr == nil {
				if e := unix.SetsockoptInt(int(fd), level, opt, v); e != nil {
					serr = fmt.Errorf("setsockopt %s=%d: %w", name, v, e)
				}
			}
		}
		set(unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1, "SO_KEEPALIVE")
		set(unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(k.Time/time.Second), "TCP_KEEPIDLE")
		set(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(k.Interval/time.Second), "TCP_KEEPINTVL")
		set(unix.IPPROTO_TCP, unix.TCP_KEEPCNT, k.Probes, "TCP_KEEPCNT")
		set(unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(k.UserTimeout/time.Millisecond), "TCP_USER_TIMEOUT")
	})
	if err != nil {
		return err
	}
	return serr
}

// Listen opens a TCP listener on addr. Go sets SO_REUSEADDR on listening sockets, so a
// restarted receiver binds again at once while old connections sit in TIME_WAIT.
func Listen(addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1} // TuneTCP sets keepalive on each accepted connection
	l, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return l, nil
}

// dial connects to addr, tunes the socket and runs the TLS handshake within timeout.
func dial(ctx context.Context, addr string, k KeepAlive, conf *tls.Config, timeout time.Duration) (*tls.Conn, error) {
	d := net.Dialer{Timeout: timeout, KeepAlive: -1}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if err := TuneTCP(c, k); err != nil {
		c.Close()
		return nil, err
	}
	tc := tls.Client(c, conf)
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	return tc, nil
}

// wire is one end of a connection: frames in through a buffered reader, frames out through
// a writer goroutine that batches them, and the time of the last frame received for the
// heartbeat. Closing it with a reason makes every later send and read fail with that
// reason.
type wire struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	// limit, when set, paces what is written to at most this many bytes per second.
	limit *pacer

	mu     gosync.Mutex
	err    error
	closed chan struct{}

	lastRecv atomic.Int64 // unix nanoseconds
	sent     atomic.Int64 // bytes written to the connection (TLS payload)
	recv     atomic.Int64 // bytes read from it
}

type countingReader struct{ w *wire }

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.w.conn.Read(p)
	c.w.recv.Add(int64(n))
	return n, err
}

func newWire(c net.Conn) *wire {
	w := &wire{conn: c, closed: make(chan struct{})}
	w.r = bufio.NewReaderSize(countingReader{w}, 256<<10)
	w.w = bufio.NewWriterSize(countingWriter{w}, 256<<10)
	w.lastRecv.Store(time.Now().UnixNano())
	return w
}

type countingWriter struct{ w *wire }

func (c countingWriter) Write(p []byte) (int, error) {
	if c.w.limit != nil {
		c.w.limit.wait(len(p))
	}
	n, err := c.w.conn.Write(p)
	c.w.sent.Add(int64(n))
	return n, err
}

// send writes m to the buffer; flush sends the buffer. Only one goroutine sends at a time
// (the callers hold their own order); the mutex guards against the heartbeat.
func (w *wire) send(m *Msg) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	var err error
	if m.Type == MsgData {
		// A file's bytes go from the read buffer into the writer's without a frame of
		// their own: the header, then the data.
		var hdr [1 + binary.MaxVarintLen64]byte
		hdr[0] = byte(MsgData)
		n := binary.PutUvarint(hdr[1:], uint64(len(m.Data)))
		if _, err = w.w.Write(hdr[:1+n]); err == nil {
			_, err = w.w.Write(m.Data)
		}
	} else {
		_, err = w.w.Write(AppendMsg(nil, m))
	}
	if err != nil {
		return w.failLocked(err)
	}
	return nil
}

func (w *wire) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if err := w.w.Flush(); err != nil {
		return w.failLocked(err)
	}
	return nil
}

// sendNow sends m and flushes.
func (w *wire) sendNow(m *Msg) error {
	if err := w.send(m); err != nil {
		return err
	}
	return w.flush()
}

func (w *wire) read() (*Msg, error) {
	return w.readInto(nil)
}

// readInto reads a frame into buf (grown as needed) when buf is not nil: the Msg's Data
// then points into *buf and is valid until the next call. The receiver, which is done
// with a frame before it reads the next, so reads without an allocation per frame.
func (w *wire) readInto(buf *[]byte) (*Msg, error) {
	m, err := readMsg(w.r, buf)
	if err != nil {
		w.mu.Lock()
		if w.err != nil {
			err = w.err // the reason the connection was closed, not "use of closed connection"
		}
		w.mu.Unlock()
		return nil, err
	}
	w.lastRecv.Store(time.Now().UnixNano())
	return m, nil
}

// fail closes the connection for reason; the first reason is kept.
func (w *wire) fail(reason error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failLocked(reason)
}

func (w *wire) failLocked(reason error) error {
	if w.err == nil {
		w.err = reason
		close(w.closed)
		w.conn.Close()
	}
	return w.err
}

// heartbeat finds a peer that is alive for TCP but stuck: while busy() (operations wait
// for their Ack) it sends a Ping every interval, which the peer answers as it reads it,
// between the frames of a file too, and it closes the connection when nothing at all came
// back for timeout. While idle it sends nothing: a Ping would be unacknowledged data, which
// stops the kernel's keepalive probes and leaves the connection to TCP_USER_TIMEOUT from
// the Ping on, later than keepalive alone finds a dead peer.
func (w *wire) heartbeat(interval, timeout time.Duration, busy func() bool) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var n uint64
	for {
		select {
		case <-w.closed:
			return
		case <-t.C:
			if !busy() {
				w.lastRecv.Store(time.Now().UnixNano()) // silence while idle is no sign
				continue
			}
			silent := time.Since(time.Unix(0, w.lastRecv.Load()))
			if silent > timeout {
				w.fail(fmt.Errorf("%w: no answer for %s while waiting for the receiver (heartbeat)", ErrPeerDead, silent.Round(time.Second)))
				return
			}
			n++
			// A Ping that cannot be written now (a file's frames are being written, or
			// the send buffer is full) waits for the next tick.
			if w.mu.TryLock() {
				if w.err == nil {
					w.w.Write(AppendMsg(nil, &Msg{Type: MsgPing, Seq: n}))
					if err := w.w.Flush(); err != nil {
						w.failLocked(err)
					}
				}
				w.mu.Unlock()
			}
		}
	}
}

// ErrPeerDead wraps every way a connection is found dead.
var ErrPeerDead = errors.New("peer dead")

// deadReason explains a connection error in the terms of the settings that found it.
func deadReason(err error, k KeepAlive) error {
	switch {
	case errors.Is(err, ErrPeerDead):
		return err
	case errors.Is(err, syscall.ETIMEDOUT):
		return fmt.Errorf("%w: connection timed out (keepalive %s + %d x %s, TCP_USER_TIMEOUT %s): %v",
			ErrPeerDead, k.Time, k.Probes, k.Interval, k.UserTimeout, err)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fmt.Errorf("%w: unreachable: %v", ErrPeerDead, err)
	}
	return err
}

// pacer limits a byte stream to rate bytes per second, in bursts of at most 64 KiB.
type pacer struct {
	rate  float64
	mu    gosync.Mutex
	next  time.Time
	sleep func(time.Duration)
}

func newPacer(bytesPerSec int64) *pacer {
	if bytesPerSec <= 0 {
		return nil
	}
	return &pacer{rate: float64(bytesPerSec), sleep: time.Sleep}
}

// wait blocks until n more bytes may be sent.
func (p *pacer) wait(n int) {
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now.Add(-time.Duration(float64(64<<10) / p.rate * float64(time.Second)))) {
		p.next = now.Add(-time.Duration(float64(64<<10) / p.rate * float64(time.Second)))
	}
	p.next = p.next.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	d := p.next.Sub(now)
	p.mu.Unlock()
	if d > 0 {
		p.sleep(d)
	}
}
