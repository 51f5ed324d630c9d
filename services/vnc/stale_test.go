package vnc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// staleHost is a Host whose X files live in a temporary directory, for display n. The
// ports and the abstract X socket are this machine's: n is chosen so that nothing else
// uses them.
func staleHost(t *testing.T) (Host, int) {
	t.Helper()
	tmp := t.TempDir()
	if err := os.MkdirAll(filepath.Join(tmp, ".X11-unix"), 0o1777); err != nil {
		t.Fatal(err)
	}
	for n := 180; n < 240; n++ {
		free := true
		for _, port := range []int{RFBPortBase + n, XPortBase + n} {
			if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err != nil {
				free = false
			} else {
				l.Close()
			}
		}
		if c, err := net.Dial("unix", "@/tmp/.X11-unix/X"+strconv.Itoa(n)); err == nil {
			c.Close()
			free = false
		}
		if free {
			return Host{Tmp: tmp, Proc: "/proc"}, n
		}
	}
	t.Fatal("no free display number between 180 and 240")
	return Host{}, 0
}

// start runs a program for the test's duration; name, when set, is what it is called
// (its comm), through a copy of the binary.
func start(t *testing.T, name string, argv ...string) *exec.Cmd {
	t.Helper()
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		t.Fatal(err)
	}
	if name != "" {
		data, _ := os.ReadFile(bin)
		bin = filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(bin, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, argv[1:]...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

func writeLock(t *testing.T, host Host, n, pid int) string {
	t.Helper()
	path := LockPath(host.Tmp, n)
	if err := os.WriteFile(path, []byte(fmt.Sprintf("%10d\n", pid)), 0o444); err != nil {
		t.Fatal(err)
	}
	return path
}

func findings(d *Diagnosis) string {
	var s []string
	for _, f := range d.Findings {
		s = append(s, fmt.Sprintf("%s stale=%v: %s", f.What, f.Stale, f.Reason))
	}
	return strings.Join(s, "\n")
}

func TestStaleLockOfDeadProcess(t *testing.T) {
	host, n := staleHost(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	path := writeLock(t, host, n, dead.Process.Pid)
	d, err := Diagnose(n, host)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("lock file %s stale=true: pid %d in it is dead", path, dead.Process.Pid)
	if findings(d) != want || d.HeldError() != nil {
		t.Fatalf("findings:\n%s\nwant %s", findings(d), want)
	}
	removed, _, err := Clean(d, host, false, time.Second)
	if err != nil || len(removed) != 1 {
		t.Fatalf("Clean: %v %v", removed, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Error("the stale lock is still there")
	}
}

func TestStaleLockOfLiveNonXProcess(t *testing.T) {
	host, n := staleHost(t)
	sleeper := start(t, "", "sleep", "60")
	writeLock(t, host, n, sleeper.Process.Pid)
	d, err := Diagnose(n, host)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Findings) != 1 || !d.Findings[0].Stale || !strings.Contains(d.Findings[0].Reason, "is sleep, not an X server, and nothing accepts on the X socket") {
		t.Fatalf("findings:\n%s", findings(d))
	}
	// While something accepts on the X socket, the same lock is not stale.
	l, err := net.Listen("unix", SocketPath(host.Tmp, n))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	d, _ = Diagnose(n, host)
	if d.HeldError() == nil || !strings.Contains(d.HeldError().Error(), fmt.Sprintf("display :%d is held by pid %d", n, os.Getpid())) {
		t.Fatalf("held: %v\n%s", d.HeldError(), findings(d))
	}
}

func TestOrphanXSocketFile(t *testing.T) {
	host, n := staleHost(t)
	path := SocketPath(host.Tmp, n)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false) // what a killed X server leaves
	l.Close()
	d, _ := Diagnose(n, host)
	want := "X socket file " + path + " stale=true: nothing accepts on it"
	if findings(d) != want {
		t.Fatalf("findings:\n%s\nwant %s", findings(d), want)
	}
	if removed, _, err := Clean(d, host, false, time.Second); err != nil || len(removed) != 1 {
		t.Fatalf("Clean: %v %v", removed, err)
	}
}

func TestHolderOfThePortAndKill(t *testing.T) {
	host, n := staleHost(t)
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(RFBPortBase+n))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	d, _ := Diagnose(n, host)
	self := describeProcess(Host{Proc: "/proc"}, os.Getpid())
	want := fmt.Sprintf("display :%d is held by pid %d %s of user %s", n, os.Getpid(), self.Command, self.User)
	if err := d.HeldError(); err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), fmt.Sprintf("(port %d)", RFBPortBase+n)) {
		t.Fatalf("held: %v, want %s ... (port %d)", err, want, RFBPortBase+n)
	}
	// Ours (systemd's socket, or the display's own unit) is not a finding.
	host.Ours = func(h Holder) bool { return h.PID == os.Getpid() }
	if d, _ := Diagnose(n, host); len(d.Findings) != 0 {
		t.Errorf("our own socket is a finding:\n%s", findings(d))
	}
	host.Ours = nil

	// A live X server named in the lock is a holder; --kill ends it and the lock goes.
	xfake := start(t, "Xfake", "sleep", "60")
	lock := writeLock(t, host, n, xfake.Process.Pid)
	l.Close()
	d, _ = Diagnose(n, host)
	if err := d.HeldError(); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("pid %d Xfake of user", xfake.Process.Pid)) {
		t.Fatalf("held: %v", err)
	}
	removed, ended, err := Clean(d, host, true, 2*time.Second)
	if err != nil || len(ended) != 1 || ended[0].PID != xfake.Process.Pid || len(removed) != 1 {
		t.Fatalf("Clean --kill: removed %v, ended %v, %v", removed, ended, err)
	}
	if _, err := os.Stat(lock); !os.IsNotExist(err) {
		t.Error("the lock of the ended server is still there")
	}
}

func TestProcTables(t *testing.T) {
	unix := []byte(`Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 62396 @/tmp/.X11-unix/X77
0000000000000000: 00000002 00000000 00010000 0001 01 62397 /tmp/.X11-unix/X77
0000000000000000: 00000003 00000000 00000000 0001 03 62400 /tmp/.X11-unix/X77
0000000000000000: 00000002 00000000 00010000 0001 01 7000
`)
	got := parseUnixTable(unix)
	if len(got) != 2 || got[0] != (unixSocket{"@/tmp/.X11-unix/X77", 62396}) || got[1].inode != 62397 {
		t.Errorf("unix table: %+v", got)
	}
	tcp := []byte(`  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:170D 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0
   1: 0100007F:170D 0100007F:C5F8 01 00000000:00000000 00:00000000 00000000     0        0 12346 1
`)
	if got := parseTCPTable(tcp); len(got) != 1 || got[0] != (tcpSocket{"127.0.0.1", 5901, 12345}) {
		t.Errorf("tcp table: %+v", got)
	}
	tcp6 := []byte("0: 00000000000000000000000001000000:170D 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 99 1\n")
	if got := parseTCPTable(tcp6); len(got) != 1 || got[0].addr != "::1" {
		t.Errorf("tcp6 table: %+v", got)
	}
	for i, c := range []struct{ in, want string }{
		{"0::/system.slice/system-tigervncserver.slice/tigervncserver@:1.service\n", "tigervncserver@:1.service"},
		{"1:name=systemd:/user.slice/user-1000.slice/session-3.scope\n0::/init.scope\n", "session-3.scope"},
		{"0::/user.slice/user-1000.slice/user@1000.service/app.slice/vte-spawn-1.scope\n", "vte-spawn-1.scope"},
		{"0::/\n", ""},
	} {
		if got := unitOfCgroup(c.in); got != c.want {
			t.Errorf("case %d: unitOfCgroup = %q, want %q", i, got, c.want)
		}
	}
	for _, c := range []struct {
		comm string
		x    bool
	}{{"Xorg", true}, {"Xtigervnc", true}, {"Xvnc", true}, {"X", true}, {"xterm", false}, {"XPRA-x", false}, {"sleep", false}} {
		if isXServer(c.comm) != c.x {
			t.Errorf("isXServer(%q) = %v", c.comm, !c.x)
		}
	}
}
