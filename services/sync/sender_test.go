package sync

import (
	"bufio"
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHeartbeatFindsStuckReceiver: a receiver that is alive for TCP (its kernel
// acknowledges everything) but whose program stopped answering is found by the heartbeat
// and reported, while keepalive and TCP_USER_TIMEOUT see nothing wrong.
func TestHeartbeatFindsStuckReceiver(t *testing.T) {
	server, _ := LoadIdentity(t.TempDir())
	client, _ := LoadIdentity(t.TempDir())
	l, err := tls.Listen("tcp", "127.0.0.1:0", server.ServerTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	stuck := make(chan struct{})
	defer close(stuck)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		if m, err := ReadMsg(r); err != nil || m.Type != MsgHello {
			return
		}
		c.Write(AppendMsg(nil, &Msg{Type: MsgWelcome, Size: ProtocolVersion}))
		<-stuck // never reads again, never answers
	}()

	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644)
	k := KeepAlive{Time: time.Second, Interval: time.Second, Probes: 1, UserTimeout: time.Second}
	j := &Job{Name: "j", Source: src, Address: l.Addr().String(), Module: "m", Peer: server.Fingerprint, Delete: true}
	s := NewSender(j, client, k, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	start := time.Now()
	for !strings.Contains(s.Status().LastError, "heartbeat") {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("no heartbeat failure within 20 s; status %+v", s.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("found after %s: %s", time.Since(start).Round(100*time.Millisecond), s.Status().LastError)
	if st := s.Status(); st.State != StateDisconnected {
		t.Errorf("state %s, want %s", st.State, StateDisconnected)
	}
}

// TestDeltaFailureSendsWhole: when the target refuses a file sent as a delta (its old file
// changed meanwhile, or the end-to-end hash found a false block match), the file is queued
// again and sent whole, once.
func TestDeltaFailureSendsWhole(t *testing.T) {
	j := &Job{Name: "j", Source: t.TempDir()}
	s := NewSender(j, nil, KeepAlive{}, t.TempDir())
	q, err := OpenQueue(QueueFile(s.StateDir, j.Name))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	s.queue = q
	ss := &session{s: s, deltas: map[uint64]string{7: "big.img"}}
	ss.opError(&Msg{Type: MsgOpError, Seq: 7, Text: "big.img: content hash differs from the sender's (changed while sent?); discarded"})
	op, _, ok := q.Next(0)
	if !ok || op.Kind != OpSync || op.Path != "big.img" {
		t.Fatalf("queued after the failed delta: %+v %v, want a sync of big.img", op, ok)
	}
	if !s.takeWhole("big.img") {
		t.Error("the next send of big.img is a delta again")
	}
	if s.takeWhole("big.img") {
		t.Error("big.img is sent whole for ever after")
	}
	// An error of an operation that was no delta queues nothing.
	ss.opError(&Msg{Type: MsgOpError, Seq: 8, Text: "refused"})
	if op, _, ok := q.Next(0); ok {
		t.Errorf("queued after another error: %+v", op)
	}
}
