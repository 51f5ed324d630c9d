package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// notifySocket listens where NOTIFY_SOCKET points, as systemd does.
func notifySocket(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return conn
}

func read(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

func TestReadyAndStatusReachNotifySocket(t *testing.T) {
	conn := notifySocket(t)
	Ready("Serving")
	if got := read(t, conn); got != "READY=1\nSTATUS=Serving" {
		t.Errorf("got %q", got)
	}
	Status("Scanning 3 of 9")
	if got := read(t, conn); got != "STATUS=Scanning 3 of 9" {
		t.Errorf("got %q", got)
	}
}

func TestWatchdogPingsOnlyWhenAlive(t *testing.T) {
	conn := notifySocket(t)
	t.Setenv("WATCHDOG_USEC", "100000") // 100 ms: pings every 50 ms
	var alive atomic.Bool
	alive.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Watchdog(ctx, alive.Load)
	if got := read(t, conn); !strings.Contains(got, "WATCHDOG=1") {
		t.Fatalf("got %q, want WATCHDOG=1", got)
	}
	alive.Store(false)
	time.Sleep(60 * time.Millisecond) // a ping already under way may still arrive: drain it
	buf := make([]byte, 64)
	for {
		conn.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if _, err := conn.Read(buf); err != nil {
			break
		}
	}
	conn.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
	if n, err := conn.Read(buf); err == nil {
		t.Fatalf("pinged %q while not alive", buf[:n])
	}
}

func TestWaitIdle(t *testing.T) {
	var busy atomic.Bool
	busy.Store(true)
	start := time.Now()
	idle := func() time.Duration {
		if busy.Load() {
			return 0
		}
		return time.Since(start)
	}
	done := make(chan error, 1)
	go func() { done <- WaitIdle(context.Background(), 100*time.Millisecond, idle) }()
	select {
	case <-done:
		t.Fatal("returned while busy")
	case <-time.After(300 * time.Millisecond):
	}
	busy.Store(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("did not return once idle")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WaitIdle(ctx, 0, idle); err != context.Canceled {
		t.Errorf("timeout 0 with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestExitCode(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("failed"), 1},
		{UsageError(errors.New("bad flag")), ExitUsage},
		{fmt.Errorf("wrapped: %w", UsageError(errors.New("bad flag"))), ExitUsage},
		{&ExitStatus{Code: 2}, 2},
		{fmt.Errorf("wrapped: %w", &ExitStatus{Code: 3, Err: errors.New("unreadable")}), 3},
	}
	for i, c := range cases {
		if got := ExitCode(c.err); got != c.want {
			t.Errorf("case %d (%v): ExitCode = %d, want %d", i, c.err, got, c.want)
		}
	}
	if !Quiet(&ExitStatus{Code: 2}) || Quiet(&ExitStatus{Code: 3, Err: errors.New("x")}) || Quiet(fmt.Errorf("host: %w", &ExitStatus{Code: 2})) {
		t.Error("Quiet must hold for a bare ExitStatus only")
	}
	if msg := fmt.Errorf("host: %w", &ExitStatus{Code: 2}).Error(); msg != "host: exit status 2" {
		t.Errorf("a wrapped ExitStatus says %q", msg)
	}
}
