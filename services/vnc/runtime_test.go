package vnc

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStatusRoundTrip(t *testing.T) {
	for i, l := range []Live{
		{Number: 1, Address: "127.0.0.1:5901", XvncPID: 123, Clients: 0},
		{Number: 12, Address: "[::1]:5912", XvncPID: 4, Clients: 1, Blank: true},
		{Number: 0, Address: "0.0.0.0:5900", XvncPID: 99999, Clients: 17},
	} {
		got, ok := ParseStatus(l.Status())
		if !ok || got != l {
			t.Errorf("case %d: %q read back as %+v, %v", i, l.Status(), got, ok)
		}
	}
	if _, ok := ParseStatus("Failed: the session exited"); ok {
		t.Error("a failure line read as a live status")
	}
}

func TestDescribeExit(t *testing.T) {
	cases := []struct{ code, status, hint, want string }{
		{"killed", "KILL", "", "signal KILL"},
		{"dumped", "SEGV", "", "signal SEGV (core dumped)"},
		{"exited", "1", "", "status 1"},
		{"exited", "0", "", "status 0"},
		{"exited", "79", "", "status 79 (failed at start)"},
		{"exited", "80", "", "status 80 (display held by another process)"},
		{"exited", "139", "SEGV", "signal SEGV"},
		{"exited", "139", "TERM", "status 139"},
		{"", "", "", ""},
	}
	for i, c := range cases {
		if got := DescribeExit(c.code, c.status, c.hint); got != c.want {
			t.Errorf("case %d: DescribeExit(%q, %q, %q) = %q, want %q", i, c.code, c.status, c.hint, got, c.want)
		}
	}
}

func TestRecordExitUsesTheHintOnce(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, exitHintFile), []byte("SEGV\n"), 0o644)
	if err := RecordExit(dir, "exited", "139"); err != nil {
		t.Fatal(err)
	}
	if got := ReadRuntimeFile(dir, LastExitFile); got != "signal SEGV" {
		t.Errorf("LastExit = %q", got)
	}
	RecordExit(dir, "exited", "139")
	if got := ReadRuntimeFile(dir, LastExitFile); got != "status 139" {
		t.Errorf("LastExit after the hint was used = %q", got)
	}
	RecordExit(dir, "", "") // ExecStartPre= failed: the last exit stays
	if got := ReadRuntimeFile(dir, LastExitFile); got != "status 139" {
		t.Errorf("LastExit = %q", got)
	}
	AddStaleCleanups(dir, 2)
	AddStaleCleanups(dir, 1)
	if got := ReadRuntimeFile(dir, StaleCleanupsFile); got != "3" {
		t.Errorf("stale cleanups = %q", got)
	}
}

func TestRecordOutcomeAsRecordExitWould(t *testing.T) {
	dir := t.TempDir()
	for i, c := range []struct {
		out        Outcome
		code, stat string
	}{
		{Outcome{Signal: 9}, "killed", "KILL"},
		{Outcome{Code: 1}, "exited", "1"},
		{Outcome{Code: 0}, "exited", "0"},
		{Outcome{Code: ExitStartFailed}, "exited", "79"},
	} {
		RecordOutcome(dir, c.out)
		own := ReadRuntimeFile(dir, LastExitFile)
		RecordExit(dir, c.code, c.stat)
		if systemd := ReadRuntimeFile(dir, LastExitFile); own != systemd || own == "" {
			t.Errorf("case %d: the process recorded %q, systemd's view %q", i, own, systemd)
		}
	}
	RecordOutcome(dir, Outcome{Code: 128 + 11})
	if got := ReadRuntimeFile(dir, LastExitFile); got != "signal SEGV" {
		t.Errorf("exit 139 after a SEGV recorded as %q", got)
	}
}

func TestComputeState(t *testing.T) {
	d := &Display{Number: 1}
	dir := t.TempDir()
	listening := UnitInfo{LoadState: "loaded", ActiveState: "active", SubState: "listening"}
	cases := []struct {
		svc, sock UnitInfo
		state     string
	}{
		{UnitInfo{LoadState: "loaded", ActiveState: "inactive"}, listening, StateWaiting},
		{UnitInfo{LoadState: "loaded", ActiveState: "activating", SubState: "auto-restart"}, listening, StateStarting},
		{UnitInfo{LoadState: "loaded", ActiveState: "active", StatusText: Live{Number: 1, Address: "a:1", XvncPID: 7, Clients: 2, Blank: true}.Status(), ExecMainStartTimestamp: 5, NRestarts: 1}, listening, StateRunning},
		{UnitInfo{LoadState: "loaded", ActiveState: "deactivating"}, listening, StateStopping},
		{UnitInfo{LoadState: "loaded", ActiveState: "failed", Result: "exit-code"}, listening, StateFailed},
		{UnitInfo{LoadState: "loaded", ActiveState: "inactive"}, UnitInfo{LoadState: "not-found", ActiveState: "inactive"}, StateFailed},
		{UnitInfo{LoadState: "loaded", ActiveState: "inactive"}, UnitInfo{LoadState: "loaded", ActiveState: "failed", Result: "resources"}, StateFailed},
	}
	for i, c := range cases {
		s := ComputeState(d, nil, c.svc, c.sock, nil, dir)
		if s.State != c.state {
			t.Errorf("case %d: state %s, want %s", i, s.State, c.state)
		}
		if c.state == StateFailed && s.LastError == "" {
			t.Errorf("case %d: failed without LastError", i)
		}
	}
	s := ComputeState(d, nil, cases[2].svc, cases[2].sock, nil, dir)
	if s.MainPID != 7 || s.Clients != 2 || !s.Blank || s.StartedAt != 5 || s.Restarts != 1 {
		t.Errorf("running: %+v", s)
	}
}

// TestRuntimeFilesAgainstTheirOwner: root writes and reads in a directory the display's
// user owns; a link the user put there is not followed and a FIFO is not waited on.
func TestRuntimeFilesAgainstTheirOwner(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "shadow")
	os.WriteFile(victim, []byte("secret\n"), 0o600)
	os.Symlink(victim, filepath.Join(dir, LastExitFile))
	if err := RecordExit(dir, "killed", "KILL"); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(victim); string(data) != "secret\n" {
		t.Errorf("writing LastExit followed the user's link: the target holds %q", data)
	}
	if got := ReadRuntimeFile(dir, LastExitFile); got != "signal KILL" {
		t.Errorf("LastExit %q", got)
	}
	os.Remove(filepath.Join(dir, LastErrorFile))
	os.Symlink(victim, filepath.Join(dir, LastErrorFile))
	if got := ReadRuntimeFile(dir, LastErrorFile); got != "" {
		t.Errorf("reading followed a link to %q", got)
	}
	fifo := filepath.Join(dir, StaleCleanupsFile)
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() { done <- ReadRuntimeFile(dir, StaleCleanupsFile) }()
	select {
	case got := <-done:
		if got != "" {
			t.Errorf("a FIFO read as %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reading a FIFO in the runtime directory blocked")
	}
	host, n := staleHost(t)
	if err := syscall.Mkfifo(LockPath(host.Tmp, n), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Diagnose(n, host)
	if err != nil || len(d.Findings) != 1 || !d.Findings[0].Stale || !strings.Contains(d.Findings[0].Reason, "not a lock file") {
		t.Errorf("a FIFO as lock file: %v\n%s", err, findings(d))
	}
}
