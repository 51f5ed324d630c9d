package integration

import (
	"encoding/json"
	"fmt"
	"image"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/hostkit/hostkit/internal/repo"
	"github.com/hostkit/hostkit/internal/testbus"
	"github.com/hostkit/hostkit/services/vnc"
)

// The display's runtime with real Xvnc (tigervnc-standalone-server) and real xterm. The
// test stands in for systemd where hostkit-vnc@N.service would have it: it holds the
// display's listening socket and hands it to `hostkit-vncd session N` as stdin, run as
// the display's user, with NOTIFY_SOCKET to read READY=1 and STATUS=; it runs
// `hostkit-vncd clean N` as root, as ExecStartPre=+ does. The same with systemd itself,
// polkit and logind is test/system/vnc_test.go.

const (
	vncUser     = "hostkit-vnc-test"
	vncPassword = "hk-test1"
	vncBusName  = "org.hostkit.VNC1"
	vncPath     = dbus.ObjectPath("/org/hostkit/VNC1")
	vncDisplay  = "org.hostkit.VNC1.Display"
)

// vncTools fails the test when Xvnc, xterm or vncpasswd are missing.
func vncTools(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the VNC integration tests must run as root: they run displays as a test user")
	}
	for _, tool := range []struct{ cmd, pkg string }{
		{"Xvnc", "tigervnc-standalone-server"}, {"vncpasswd", "tigervnc-tools"}, {"xterm", "xterm"},
	} {
		if _, err := exec.LookPath(tool.cmd); err != nil {
			t.Fatalf("%s not found: apt-get install %s (make deps does)", tool.cmd, tool.pkg)
		}
	}
}

// vncAccount creates the display's user with a home and a password file written by the
// real vncpasswd.
func vncAccount(t *testing.T) vnc.Account {
	t.Helper()
	if _, err := user.Lookup(vncUser); err != nil {
		out, err := exec.Command("useradd", "--create-home", "--shell", "/bin/sh", vncUser).CombinedOutput()
		if err != nil {
			t.Fatalf("useradd %s: %v: %s", vncUser, err, out)
		}
	}
	a, err := vnc.LookupAccount(vncUser)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(a.Home, ".vnc")
	os.MkdirAll(dir, 0o700)
	cmd := exec.Command("vncpasswd", "-f")
	cmd.Stdin = strings.NewReader(vncPassword + "\n")
	pw, err := cmd.Output()
	if err != nil {
		t.Fatalf("vncpasswd -f: %v", err)
	}
	path := filepath.Join(dir, "passwd")
	if err := os.WriteFile(path, pw, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o600)
	for _, p := range []string{a.Home, dir, path} {
		if err := os.Chown(p, a.UID, a.GID); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// freeDisplay returns a display number from from on whose ports, lock and X sockets are
// all free.
func freeDisplay(t *testing.T, from int) int {
	t.Helper()
	for n := from; n < 100; n++ {
		free := true
		for _, port := range []int{5900 + n, 6000 + n} {
			if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err != nil {
				free = false
			} else {
				l.Close()
			}
		}
		for _, p := range []string{vnc.LockPath("/tmp", n), vnc.SocketPath("/tmp", n)} {
			if _, err := os.Lstat(p); err == nil {
				free = false
			}
		}
		if c, err := net.Dial("unix", "@/tmp/.X11-unix/X"+strconv.Itoa(n)); err == nil {
			c.Close()
			free = false
		}
		if free {
			return n
		}
	}
	t.Fatal("no free display between :60 and :99")
	return 0
}

// vncSetup is one display: its configuration, runtime directory and listening socket.
type vncSetup struct {
	shared     *testbus.Shared // where the binaries, configuration and runtime directory are
	n          int
	account    vnc.Account
	dir        string
	config     string
	runtimeDir string
	listener   *net.TCPListener
}

func newVNCSetup(t *testing.T, display string) *vncSetup {
	t.Helper()
	vncTools(t)
	s := &vncSetup{shared: testbus.Share(t), n: freeDisplay(t, 60), account: vncAccount(t)}
	s.dir = s.shared.Dir
	s.config = filepath.Join(s.dir, "vnc.conf")
	s.writeConfig(t, display)
	s.runtimeDir = filepath.Join(s.dir, "run")
	os.Mkdir(s.runtimeDir, 0o700)
	os.Chown(s.runtimeDir, s.account.UID, s.account.GID)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 5900+s.n))
	if err != nil {
		t.Fatal(err)
	}
	s.listener = l.(*net.TCPListener)
	t.Cleanup(func() {
		s.listener.Close()
		// Whatever a failed test left of the display.
		exec.Command("pkill", "-KILL", "-f", fmt.Sprintf("Xvnc :%d ", s.n)).Run()
		os.Remove(vnc.LockPath("/tmp", s.n))
		os.Remove(vnc.SocketPath("/tmp", s.n))
	})
	return s
}

func (s *vncSetup) writeConfig(t *testing.T, display string) {
	t.Helper()
	text := fmt.Sprintf("[Display]\nNumber=%d\nUser=%s\nGeometry=640x480\n%s\n", s.n, vncUser, display)
	if err := os.WriteFile(s.config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (s *vncSetup) addr() string { return fmt.Sprintf("127.0.0.1:%d", 5900+s.n) }

// dial connects a viewer to the display's socket; closed when the test ends.
func (s *vncSetup) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// wantGreeting fails the test unless who gets the RFB 3.8 greeting on c within 15 s.
func wantGreeting(t *testing.T, c net.Conn, who string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if g, err := vnc.ReadGreeting(c); err != nil || g != "RFB 003.008" {
		t.Fatalf("%s got %q, %v; want the greeting RFB 003.008", who, g, err)
	}
}

// session is a running `hostkit-vncd session N`.
type session struct {
	cmd    *exec.Cmd
	exited chan struct{}
	state  *os.ProcessState

	mu       sync.Mutex
	messages []string // what it sent to NOTIFY_SOCKET, line by line
	notify   *net.UnixConn
}

// start runs `hostkit-vncd session N` as the display's user, as systemd would.
func (s *vncSetup) start(t *testing.T) *session {
	t.Helper()
	sockPath := filepath.Join(s.dir, fmt.Sprintf("notify-%d", time.Now().UnixNano()))
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(sockPath, 0o777)
	f, err := s.listener.File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	se := &session{exited: make(chan struct{}), notify: nc}
	se.cmd = exec.Command(s.shared.Binary(t, "hostkit-vncd"), "session", strconv.Itoa(s.n), "--config", s.config, "--runtime-dir", s.runtimeDir)
	se.cmd.Stdin = f
	se.cmd.Stdout, se.cmd.Stderr = os.Stderr, os.Stderr
	se.cmd.Env = []string{"HOME=" + s.account.Home, "USER=" + vncUser, "LOGNAME=" + vncUser, "PATH=/usr/local/bin:/usr/bin:/bin",
		"LANG=C.UTF-8", "LISTEN_FDS=1", "LISTEN_PID=1", "LISTEN_FDNAMES=display", "NOTIFY_SOCKET=" + sockPath}
	se.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(s.account.UID), Gid: uint32(s.account.GID)}}
	if err := se.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := nc.Read(buf)
			if err != nil {
				return
			}
			se.mu.Lock()
			se.messages = append(se.messages, strings.Split(string(buf[:n]), "\n")...)
			se.mu.Unlock()
		}
	}()
	go func() {
		se.cmd.Wait()
		se.state = se.cmd.ProcessState
		close(se.exited)
	}()
	t.Cleanup(func() {
		se.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-se.exited:
		case <-time.After(10 * time.Second):
			se.cmd.Process.Kill()
			<-se.exited
		}
		nc.Close()
	})
	return se
}

// waitMessage waits until a notify line satisfies ok and returns it.
func (se *session) waitMessage(t *testing.T, what string, timeout time.Duration, ok func(string) bool) string {
	t.Helper()
	var found string
	if !testbus.Eventually(timeout, func() bool {
		se.mu.Lock()
		defer se.mu.Unlock()
		for _, m := range se.messages {
			if ok(m) {
				found = m
				return true
			}
		}
		return false
	}) {
		se.mu.Lock()
		defer se.mu.Unlock()
		t.Fatalf("no %s within %s; notify messages so far: %q", what, timeout, se.messages)
	}
	return found
}

// lastStatus returns the last STATUS= line sent.
func (se *session) lastStatus() string {
	se.mu.Lock()
	defer se.mu.Unlock()
	for i := len(se.messages) - 1; i >= 0; i-- {
		if s, ok := strings.CutPrefix(se.messages[i], "STATUS="); ok {
			return s
		}
	}
	return ""
}

// live returns the state of the display as its status line says, waiting for want.
func (se *session) waitLive(t *testing.T, want func(vnc.Live) bool) vnc.Live {
	t.Helper()
	var l vnc.Live
	if !testbus.Eventually(15*time.Second, func() bool {
		var ok bool
		l, ok = vnc.ParseStatus(se.lastStatus())
		return ok && want(l)
	}) {
		t.Fatalf("status line %q never showed what the test waits for", se.lastStatus())
	}
	return l
}

func (se *session) wait(t *testing.T, timeout time.Duration) *os.ProcessState {
	t.Helper()
	select {
	case <-se.exited:
		return se.state
	case <-time.After(timeout):
		t.Fatalf("hostkit-vncd session still running after %s", timeout)
		return nil
	}
}

// environOf reads the environment of pid.
func environOf(t *testing.T, pid int) map[string]string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(data), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// childrenNamed returns the pids of the descendants of pid whose comm is name.
func childrenNamed(pid int, name string) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, task := range tasks {
		data, _ := os.ReadFile(task)
		for _, f := range strings.Fields(string(data)) {
			kid, _ := strconv.Atoi(f)
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", kid)); strings.TrimSpace(string(comm)) == name {
				out = append(out, kid)
			}
			out = append(out, childrenNamed(kid, name)...)
		}
	}
	return out
}

// TestVNCFirstConnection: the client that starts the display is served without
// reconnecting, a second one beside it, the session outlives their leaving; READY=1 comes
// once Xvnc serves; the clients are counted; LISTEN_* and NOTIFY_SOCKET do not reach Xvnc
// or the session; an xterm desktop is not blank; the screen read through X is the
// framebuffer a viewer gets, at the configured size.
func TestVNCFirstConnection(t *testing.T) {
	s := newVNCSetup(t, "Session=xterm")
	// The first viewer connects while nothing runs: it waits in the socket's queue.
	first := s.dial(t)
	se := s.start(t)
	wantGreeting(t, first, "the first client")
	se.waitMessage(t, "READY=1", 15*time.Second, func(m string) bool { return m == "READY=1" })
	first.Close()

	// Two viewers at once, authenticated with the password vncpasswd wrote.
	a, err := vnc.DialRFB(s.addr(), vncPassword, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := vnc.DialRFB(s.addr(), vncPassword, 10*time.Second)
	if err != nil {
		t.Fatalf("a second client while the first is connected: %v", err)
	}
	if a.Width != 640 || a.Height != 480 || b.Width != 640 {
		t.Errorf("desktop %dx%d, want the configured 640x480", a.Width, a.Height)
	}
	if _, err := vnc.DialRFB(s.addr(), "wrong-pw", 10*time.Second); err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("a wrong password: %v, want authentication failed", err)
	}
	l := se.waitLive(t, func(l vnc.Live) bool { return l.Clients == 2 })
	if l.Number != s.n || l.Address != s.addr() {
		t.Errorf("status %+v", l)
	}
	a.Close()
	se.waitLive(t, func(l vnc.Live) bool { return l.Clients == 1 })

	// Xvnc and the session as the user, without systemd's variables.
	xvncPID := l.XvncPID
	xterms := childrenNamed(se.cmd.Process.Pid, "xterm")
	if len(xterms) != 1 {
		t.Fatalf("xterm processes below the session: %v", xterms)
	}
	for _, pid := range []int{xvncPID, xterms[0]} {
		env := environOf(t, pid)
		for k := range env {
			if strings.HasPrefix(k, "LISTEN_") || k == "NOTIFY_SOCKET" {
				t.Errorf("pid %d has %s in its environment", pid, k)
			}
		}
		if info, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil || info.Sys().(*syscall.Stat_t).Uid != uint32(s.account.UID) {
			t.Errorf("pid %d does not run as %s", pid, vncUser)
		}
	}
	if env := environOf(t, xterms[0]); env["DISPLAY"] != fmt.Sprintf(":%d", s.n) || env["XAUTHORITY"] != vnc.XauthorityPath(s.runtimeDir) {
		t.Errorf("the session's DISPLAY=%q XAUTHORITY=%q", env["DISPLAY"], env["XAUTHORITY"])
	}

	// The screen through X with the session's cookie, against what a viewer gets.
	cookie, err := vnc.ReadXauthority(vnc.XauthorityPath(s.runtimeDir), s.n)
	if err != nil {
		t.Fatal(err)
	}
	x, err := vnc.DialX("/tmp", s.n, cookie, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if mapped, err := x.MappedWindows(); err != nil || mapped != 1 {
		t.Errorf("mapped windows: %d, %v; want xterm's one", mapped, err)
	}
	shot, err := x.Image()
	if err != nil {
		t.Fatal(err)
	}
	fb, err := b.Framebuffer(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if shot.Bounds() != image.Rect(0, 0, 640, 480) || fb.Bounds() != shot.Bounds() {
		t.Fatalf("screenshot %v, framebuffer %v; want 640x480", shot.Bounds(), fb.Bounds())
	}
	if vnc.Uniform(shot) {
		t.Error("the xterm desktop is one colour")
	}
	if same := samePixels(shot, fb); same < 0.99 {
		t.Errorf("the screenshot matches the viewer's framebuffer in %.1f%% of pixels, want 99%%", same*100)
	}
	if _, err := vnc.DialX("/tmp", s.n, vnc.Cookie("0123456789abcdef"), 5*time.Second); err == nil {
		t.Error("X accepted a wrong cookie")
	}
	// Not blank: a window is mapped, for longer than the blank check waits.
	time.Sleep(6 * time.Second)
	if l := se.waitLive(t, func(vnc.Live) bool { return true }); l.Blank {
		t.Errorf("an xterm desktop was flagged blank: %q", se.lastStatus())
	}
	b.Close()
	se.waitLive(t, func(l vnc.Live) bool { return l.Clients == 0 })
	select {
	case <-se.exited:
		t.Fatal("the display ended when its clients left")
	case <-time.After(500 * time.Millisecond):
	}
	// A stop (SIGTERM from systemd) ends all of it, with status 0.
	se.cmd.Process.Signal(syscall.SIGTERM)
	if st := se.wait(t, 15*time.Second); st.ExitCode() != 0 {
		t.Errorf("stopped display: %v, want status 0", st)
	}
	if err := syscall.Kill(xvncPID, 0); err == nil {
		t.Errorf("Xvnc (pid %d) outlived its display", xvncPID)
	}
}

func samePixels(a, b *image.RGBA) float64 {
	same := 0
	for i := 0; i+4 <= len(a.Pix) && i+4 <= len(b.Pix); i += 4 {
		if a.Pix[i] == b.Pix[i] && a.Pix[i+1] == b.Pix[i+1] && a.Pix[i+2] == b.Pix[i+2] {
			same++
		}
	}
	return float64(same) / float64(len(a.Pix)/4)
}

// TestVNCBlankSession: a session that maps no window leaves a uniform screen, the black
// desktop of a missing window manager; it is flagged.
func TestVNCBlankSession(t *testing.T) {
	s := newVNCSetup(t, "Session=sleep 600")
	se := s.start(t)
	se.waitMessage(t, "READY=1", 15*time.Second, func(m string) bool { return m == "READY=1" })
	l := se.waitLive(t, func(l vnc.Live) bool { return l.Blank })
	if !strings.HasSuffix(se.lastStatus(), ", desktop blank") || l.XvncPID == 0 {
		t.Errorf("status %q", se.lastStatus())
	}
}

// TestVNCSessionThatDoesNotStart: a session command that does not exist fails the display
// with status 79 (no restart), and its output says why, in LastError.
func TestVNCSessionThatDoesNotStart(t *testing.T) {
	s := newVNCSetup(t, "Session=no-such-desktop-hostkit --now")
	se := s.start(t)
	st := se.wait(t, 30*time.Second)
	if st.ExitCode() != vnc.ExitStartFailed {
		t.Fatalf("exit %v, want status %d", st, vnc.ExitStartFailed)
	}
	lastError := vnc.ReadRuntimeFile(s.runtimeDir, vnc.LastErrorFile)
	for _, w := range []string{fmt.Sprintf("display :%d: the session \"no-such-desktop-hostkit --now\" exited with status 127", s.n),
		"failed at start", "no-such-desktop-hostkit: not found"} {
		if !strings.Contains(lastError, w) {
			t.Errorf("LastError lacks %q:\n%s", w, lastError)
		}
	}
	if m := se.waitMessage(t, "STATUS=Failed", 5*time.Second, func(m string) bool { return strings.HasPrefix(m, "STATUS=Failed: ") }); !strings.Contains(m, "failed at start") {
		t.Errorf("status %q", m)
	}
	if err := vnc.RecordExit(s.runtimeDir, "exited", strconv.Itoa(st.ExitCode())); err != nil {
		t.Fatal(err)
	}
	if got := vnc.ReadRuntimeFile(s.runtimeDir, vnc.LastExitFile); got != "status 79 (failed at start)" {
		t.Errorf("LastExit %q", got)
	}
}

// TestVNCKilledXvnc: kill -9 of Xvnc ends the display's process by SIGKILL too, which is
// what systemd records (LastExit "signal KILL") and restarts; the restarted display serves
// on the same socket, and a viewer that connected in between is served.
func TestVNCKilledXvnc(t *testing.T) {
	s := newVNCSetup(t, "Session=xterm")
	se := s.start(t)
	se.waitMessage(t, "READY=1", 15*time.Second, func(m string) bool { return m == "READY=1" })
	l := se.waitLive(t, func(vnc.Live) bool { return true })
	if err := syscall.Kill(l.XvncPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st := se.wait(t, 15*time.Second)
	ws := st.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("after kill -9 of Xvnc the display's process ended with %v, want killed by SIGKILL", st)
	}
	if xterms := childrenNamed(se.cmd.Process.Pid, "xterm"); len(xterms) > 0 {
		t.Errorf("xterm survived: %v", xterms)
	}
	lastError := vnc.ReadRuntimeFile(s.runtimeDir, vnc.LastErrorFile)
	if !strings.Contains(lastError, fmt.Sprintf("Xvnc (pid %d) was killed by signal KILL", l.XvncPID)) {
		t.Errorf("LastError %q", lastError)
	}
	// The display's process recorded its end itself, and systemd's ExecStopPost= agrees.
	if got := vnc.ReadRuntimeFile(s.runtimeDir, vnc.LastExitFile); got != "signal KILL" {
		t.Errorf("LastExit before ExecStopPost= ran: %q, want signal KILL", got)
	}
	os.Remove(filepath.Join(s.runtimeDir, vnc.LastExitFile))
	exit := exec.Command(s.shared.Binary(t, "hostkit-vncd"), "session-exit", strconv.Itoa(s.n), "--runtime-dir", s.runtimeDir)
	exit.Env = []string{"EXIT_CODE=killed", "EXIT_STATUS=KILL", "SERVICE_RESULT=signal"}
	if out, err := exit.CombinedOutput(); err != nil {
		t.Fatalf("session-exit: %v: %s", err, out)
	}
	if got := vnc.ReadRuntimeFile(s.runtimeDir, vnc.LastExitFile); got != "signal KILL" {
		t.Errorf("LastExit %q, want signal KILL", got)
	}
	// A viewer connects before the restart; the restarted display serves it.
	c := s.dial(t)
	se2 := s.start(t)
	wantGreeting(t, c, "a client queued during the restart")
	se2.waitMessage(t, "READY=1", 15*time.Second, func(m string) bool { return m == "READY=1" })
	if got := vnc.ReadRuntimeFile(s.runtimeDir, vnc.LastErrorFile); got != "" {
		t.Errorf("LastError still %q after a good start", got)
	}
}

// clean runs `hostkit-vncd clean N` as root, as ExecStartPre=+ and Clean() do.
func (s *vncSetup) clean(t *testing.T, args ...string) (string, error) {
	t.Helper()
	// The test holds the display's socket where systemd (PID 1) would.
	cmd := exec.Command(s.shared.Binary(t, "hostkit-vncd"), append([]string{"clean", strconv.Itoa(s.n), "--runtime-dir", s.runtimeDir,
		"--socket-holder", strconv.Itoa(os.Getpid())}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// foreignXvnc starts an Xvnc that is not the display's, as another user would have it.
func foreignXvnc(t *testing.T, display, port int) *exec.Cmd {
	t.Helper()
	uid, gid := testbus.Unprivileged(t)
	cmd := exec.Command("Xvnc", fmt.Sprintf(":%d", display), "-rfbport", strconv.Itoa(port), "-SecurityTypes", "None", "-nolisten", "tcp")
	testbus.AsUser(cmd, uid, gid)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if !testbus.Eventually(10*time.Second, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		t.Fatal("the foreign Xvnc does not listen")
	}
	return cmd
}

// TestVNCStaleState: each stale claim on a display is removed before it starts, and each
// live holder is named and refused, then ended on request.
func TestVNCStaleState(t *testing.T) {
	s := newVNCSetup(t, "Session=xterm")
	lock, sock := vnc.LockPath("/tmp", s.n), vnc.SocketPath("/tmp", s.n)
	stale := func(t *testing.T, what string) {
		t.Helper()
		before, _ := strconv.Atoi(vnc.ReadRuntimeFile(s.runtimeDir, vnc.StaleCleanupsFile))
		out, err := s.clean(t, "--before-start")
		if err != nil {
			t.Fatalf("clean --before-start: %v: %s", err, out)
		}
		if !strings.Contains(out, "removed stale "+what) {
			t.Errorf("clean said:\n%s\nwant it to log the removal of %s", out, what)
		}
		after, _ := strconv.Atoi(vnc.ReadRuntimeFile(s.runtimeDir, vnc.StaleCleanupsFile))
		if after != before+1 {
			t.Errorf("StaleCleanups %d -> %d", before, after)
		}
	}

	t.Run("dead_pid_lock", func(t *testing.T) {
		dead := exec.Command("true")
		dead.Run()
		os.WriteFile(lock, []byte(fmt.Sprintf("%10d\n", dead.Process.Pid)), 0o444)
		stale(t, "lock file "+lock)
		if _, err := os.Stat(lock); err == nil {
			t.Error("the lock is still there")
		}
	})
	t.Run("orphan_x_socket", func(t *testing.T) {
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		l.SetUnlinkOnClose(false)
		l.Close()
		stale(t, "X socket file "+sock)
	})
	t.Run("live_non_x_process_in_lock", func(t *testing.T) {
		sleeper := exec.Command("sleep", "60")
		sleeper.Start()
		defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
		os.WriteFile(lock, []byte(fmt.Sprintf("%10d\n", sleeper.Process.Pid)), 0o444)
		stale(t, "lock file "+lock)
	})
	// After the cleanups the display starts on its number.
	t.Run("starts_after_cleanup", func(t *testing.T) {
		se := s.start(t)
		se.waitMessage(t, "READY=1", 15*time.Second, func(m string) bool { return m == "READY=1" })
		se.cmd.Process.Signal(syscall.SIGTERM)
		se.wait(t, 15*time.Second)
	})
	t.Run("process_holding_the_port", func(t *testing.T) {
		// The display's port, held by an Xvnc of another display number.
		s.listener.Close()
		other := freeDisplay(t, s.n+1)
		holder := foreignXvnc(t, other, 5900+s.n)
		out, err := s.clean(t)
		want := fmt.Sprintf("display :%d is held by pid %d Xvnc of user %s", s.n, holder.Process.Pid, testbus.TestUser)
		if err == nil || !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf("(port %d)", 5900+s.n)) {
			t.Fatalf("clean: %v:\n%s\nwant %s ... (port %d)", err, out, want, 5900+s.n)
		}
		if out, err := s.clean(t, "--kill"); err != nil || !strings.Contains(out, fmt.Sprintf("ended pid %d Xvnc", holder.Process.Pid)) {
			t.Fatalf("clean --kill: %v: %s", err, out)
		}
		l, err := net.Listen("tcp", s.addr())
		if err != nil {
			t.Fatalf("the port is still held after clean --kill: %v", err)
		}
		s.listener = l.(*net.TCPListener)
	})
	t.Run("live_foreign_xvnc", func(t *testing.T) {
		holder := foreignXvnc(t, s.n, 5900+freeDisplay(t, s.n+1))
		want := fmt.Sprintf("display :%d is held by pid %d Xvnc of user %s", s.n, holder.Process.Pid, testbus.TestUser)
		// Before a start: recorded, and the session refuses with it (status 80).
		if out, err := s.clean(t, "--before-start"); err != nil {
			t.Fatalf("clean --before-start: %v: %s", err, out)
		}
		se := s.start(t)
		if st := se.wait(t, 15*time.Second); st.ExitCode() != vnc.ExitHeld {
			t.Errorf("the session ended with %v, want status %d", st, vnc.ExitHeld)
		}
		if got := vnc.ReadRuntimeFile(s.runtimeDir, vnc.LastErrorFile); !strings.Contains(got, want) || !strings.Contains(got, "X socket @/tmp/.X11-unix/X") {
			t.Errorf("LastError %q, want %q naming the X socket", got, want)
		}
		if _, err := os.Stat(lock); err != nil {
			t.Errorf("the live server's lock was removed: %v", err)
		}
		// On request it is ended, and the display is free.
		if out, err := s.clean(t, "--kill"); err != nil || !strings.Contains(out, fmt.Sprintf("ended pid %d Xvnc", holder.Process.Pid)) {
			t.Fatalf("clean --kill: %v: %s", err, out)
		}
		if out, err := s.clean(t, "--before-start"); err != nil {
			t.Fatal(err, out)
		}
		if _, err := os.Stat(filepath.Join(s.runtimeDir, vnc.HeldFile)); err == nil {
			t.Error("still held after clean --kill")
		}
		se2 := s.start(t)
		se2.waitMessage(t, "READY=1", 15*time.Second, func(m string) bool { return m == "READY=1" })
	})
}

// --- the daemon on a private bus, where no systemd is ---

// startVNCDaemon runs hostkit-vncd on a private bus with config; systemd's bus is the
// same private bus, where systemd is missing, so every display shows as failed saying so.
func startVNCDaemon(t *testing.T, b *testbus.Bus, config, idle string) *daemon {
	t.Helper()
	text, _ := os.ReadFile(config)
	os.WriteFile(config, append(text, []byte("\n[Daemon]\nIdleTimeoutSec="+idle+"\n")...), 0o644)
	return startDaemon(t, b, vncBusName, []string{b.Binary(t, "hostkit-vncd"), "--bus=" + b.Address,
		"--config=" + config, "--runtime-dir=" + filepath.Dir(config)})
}

// TestVNCDaemonOnTheBus: objects, properties, Describe, introspection, polkit's refusals
// (the owner asks for manage-own, anyone else for manage), config errors as file:line
// through hostkitctl, idle exit.
func TestVNCDaemonOnTheBus(t *testing.T) {
	vncTools(t)
	owner := vncAccount(t)
	uid, gid := testbus.Unprivileged(t)
	b := testbus.Start(t)
	config := filepath.Join(b.Dir, "vnc.conf")
	os.WriteFile(config, []byte(fmt.Sprintf("[Display]\nNumber=7\nUser=%s\nSession=xterm\n\n[Display]\nNumber=8\nUser=%s\nSession=xterm\nDepth=16\n",
		vncUser, testbus.TestUser)), 0o644)
	d := startVNCDaemon(t, b, config, "2s")
	conn := connect(t, b)
	root := repo.RootT(t)
	checkIntrospection(t, conn, root, vncBusName, vncPath)

	var list []struct {
		Number uint32
		User   string
		Port   uint16
		State  string
		Path   dbus.ObjectPath
	}
	if err := conn.Object(vncBusName, vncPath).Call(vncBusName+".ListDisplays", 0).Store(&list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Number != 7 || list[0].User != vncUser || list[0].Port != 5907 ||
		list[0].Path != "/org/hostkit/VNC1/display/7" || list[1].Number != 8 {
		t.Fatalf("ListDisplays = %+v", list)
	}
	obj := conn.Object(vncBusName, list[0].Path)
	var all map[string]dbus.Variant
	if err := obj.Call("org.freedesktop.DBus.Properties.GetAll", 0, vncDisplay).Store(&all); err != nil {
		t.Fatal(err)
	}
	if all["Number"].Value() != uint32(7) || all["User"].Value() != vncUser || all["Port"].Value() != uint16(5907) ||
		all["State"].Value() != "failed" || !strings.Contains(all["LastError"].Value().(string), "cannot ask systemd") || len(all) != 12 {
		t.Errorf("properties %v", all)
	}
	var desc string
	if err := conn.Object(vncBusName, vncPath).Call(vncBusName+".Describe", 0).Store(&desc); err != nil {
		t.Fatal(err)
	}
	var dj struct {
		Config   string
		Displays []struct {
			Number       int
			Depth        int
			ConfiguredAt string `json:"configured_at"`
			Units        []string
		}
	}
	if err := json.Unmarshal([]byte(desc), &dj); err != nil || dj.Config != config || len(dj.Displays) != 2 ||
		dj.Displays[1].Depth != 16 || dj.Displays[0].ConfiguredAt != config+":1" ||
		dj.Displays[0].Units[0] != "hostkit-vnc@7.socket" {
		t.Errorf("Describe: %v\n%s", err, desc)
	}

	// polkit: not on this bus, so nobody but root; the action asked for says whose
	// display it is.
	for i, c := range []struct {
		uid, gid uint32
		display  int
		action   string
	}{
		{uid, gid, 7, "org.hostkit.vnc1.manage"},                                 // not the owner
		{uint32(owner.UID), uint32(owner.GID), 7, "org.hostkit.vnc1.manage-own"}, // the owner
		{uid, gid, 8, "org.hostkit.vnc1.manage-own"},                             // hostkit-test owns :8
	} {
		_, err := runBinary(t, b, c.uid, c.gid, "hostkitctl", "--bus="+b.Address, "vnc", "stop", fmt.Sprintf(":%d", c.display))
		if err == nil || !strings.Contains(err.Error(), "not authorized for "+c.action+" ") {
			t.Errorf("case %d: stop :%d as uid %d: %v, want denied for %s", i, c.display, c.uid, err, c.action)
		}
	}
	if _, err := runBinary(t, b, uid, gid, "hostkitctl", "--bus="+b.Address, "vnc", "reload"); err == nil ||
		!strings.Contains(err.Error(), "not authorized for org.hostkit.vnc1.manage ") {
		t.Errorf("reload as %s: %v", testbus.TestUser, err)
	}
	// Root passes polkit and meets the missing systemd.
	if _, err := runBinary(t, b, 0, 0, "hostkitctl", "--bus="+b.Address, "vnc", "stop", ":7"); err == nil ||
		!strings.Contains(err.Error(), "cannot ask systemd") {
		t.Errorf("stop as root: %v", err)
	}
	// Anyone may look.
	out, err := runBinary(t, b, uid, gid, "hostkitctl", "--bus="+b.Address, "vnc", "status")
	if err != nil || !strings.Contains(out, ":7       "+vncUser) || !strings.Contains(out, "127.0.0.1:5907") || !strings.Contains(out, ":7: cannot ask systemd") {
		t.Errorf("vnc status as %s: %v\n%s", testbus.TestUser, err, out)
	}

	// Reload refuses a bad configuration with every problem as file:line, and changes
	// nothing.
	os.WriteFile(config, []byte(fmt.Sprintf(`[Display]
Number=7
User=%s
Session=xterm

[Display]
Number=7
User=%s
Session=xterm

[Display]
Number=9
User=%s
Session=xterm
PasswordFile=/nonexistent/passwd
`, vncUser, vncUser, vncUser)), 0o644)
	_, err = runBinary(t, b, 0, 0, "hostkitctl", "--bus="+b.Address, "vnc", "reload")
	for _, w := range []string{config + ":6: display :7: configured twice",
		config + ":11: display :9: the password file /nonexistent/passwd of " + vncUser + " is missing: set a password with `runuser -u " + vncUser + " -- vncpasswd /nonexistent/passwd`",
		"nothing was changed"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("reload of a bad vnc.conf: %v\nwant %q", err, w)
		}
	}
	if err := conn.Object(vncBusName, vncPath).Call(vncBusName+".Reload", 0).Err; err == nil || err.(dbus.Error).Name != vncBusName+".Error.ConfigRefused" {
		t.Errorf("Reload of a bad vnc.conf: %v, want %s.Error.ConfigRefused", err, vncBusName)
	}
	os.WriteFile(config, []byte("[Display]\nNumber=7\nDepth=8\n"), 0o644)
	if _, err = runBinary(t, b, 0, 0, "hostkitctl", "--bus="+b.Address, "vnc", "reload"); err == nil ||
		!strings.Contains(err.Error(), config+":3: [Display] Depth=8: depth 8 is not offered") {
		t.Errorf("reload with depth 8: %v", err)
	}
	checkIdleExit(t, d, conn, vncBusName, vncPath, "Describe")
}

// TestVNCGenerator: the generator writes a socket and a drop-in per display, leaves out a
// display it must refuse (saying file:line), and never fails a boot over a bad file.
func TestVNCGenerator(t *testing.T) {
	sh := testbus.Share(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "vnc.conf")
	os.WriteFile(config, []byte("[Display]\nNumber=1\nUser=alice\nSession=xterm\n\n[Display]\nNumber=2\nUser=root\nSession=xterm\nStart=boot\n"), 0o644)
	gen := func(out string) (string, error) {
		cmd := exec.Command(sh.Binary(t, "hostkit-vnc-generator"), out, out, out)
		cmd.Env = []string{"HOSTKIT_VNC_CONFIG=" + config}
		o, err := cmd.CombinedOutput()
		return string(o), err
	}
	out := filepath.Join(dir, "gen")
	os.Mkdir(out, 0o755)
	msg, err := gen(out)
	if err != nil {
		t.Fatalf("generator: %v: %s", err, msg)
	}
	if !strings.Contains(msg, "hostkit-vnc-generator: "+config+":6: display :2: User=root is refused") || !strings.Contains(msg, "this display is left out") {
		t.Errorf("generator said %q", msg)
	}
	for _, f := range []string{"hostkit-vnc@1.socket", "sockets.target.wants/hostkit-vnc@1.socket", "hostkit-vnc@1.service.d/50-display.conf"} {
		if _, err := os.Lstat(filepath.Join(out, f)); err != nil {
			t.Errorf("not generated: %s", f)
		}
	}
	if _, err := os.Lstat(filepath.Join(out, "hostkit-vnc@2.socket")); err == nil {
		t.Error("the refused display :2 was generated")
	}
	// The generated socket and the shipped template, as systemd reads them.
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze not found: apt-get install systemd (make deps does)")
	}
	units := filepath.Join(dir, "units")
	os.Mkdir(units, 0o755)
	for src, dst := range map[string]string{
		filepath.Join(repo.RootT(t), "units", "hostkit-vnc@.service"): "hostkit-vnc@.service",
		filepath.Join(out, "hostkit-vnc@1.socket"):                    "hostkit-vnc@1.socket",
	} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(units, dst), data, 0o644)
	}
	cmd := exec.Command("systemd-analyze", "verify", "--man=no", filepath.Join(units, "hostkit-vnc@1.socket"))
	cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+units+":")
	if o, err := cmd.CombinedOutput(); err != nil || strings.Contains(string(o), "hostkit-vnc@") {
		t.Errorf("systemd-analyze verify of the generated socket: %v\n%s", err, o)
	}
	// A file that does not load leaves every display out, and the boot goes on.
	os.WriteFile(config, []byte("[Display]\nNumber=1\nColour=blue\n"), 0o644)
	out2 := filepath.Join(dir, "gen2")
	os.Mkdir(out2, 0o755)
	msg, err = gen(out2)
	if err != nil || !strings.Contains(msg, config+":3: unknown key Colour=") || !strings.Contains(msg, "no display listens until it is fixed") {
		t.Errorf("generator on a broken file: %v %q", err, msg)
	}
	if entries, _ := os.ReadDir(out2); len(entries) != 0 {
		t.Errorf("generated %d files from a broken file", len(entries))
	}
}

// runShared runs a project binary from sh as root; a failure's error carries its stderr.
func runShared(t *testing.T, sh *testbus.Shared, name string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(sh.Binary(t, name), args...).Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), &exitError{ee, string(ee.Stderr)}
	}
	return string(out), err
}

// TestVNCImport: hostkitctl vnc import on the sample trees of each format.
func TestVNCImport(t *testing.T) {
	root := repo.RootT(t)
	sh := testbus.Share(t)
	for _, tree := range []string{"debian", "centos6"} {
		src := filepath.Join(root, "services", "vnc", "testdata", "import", tree)
		out, err := runShared(t, sh, "hostkitctl", "vnc", "import", "--root", src)
		want, _ := os.ReadFile(filepath.Join(root, "services", "vnc", "testdata", "import", tree+".conf"))
		if err != nil || out != string(want) {
			t.Errorf("import of %s: %v\n%s", tree, err, out)
		}
	}
	// --write puts the displays into a drop-in and says what to disable.
	tree := t.TempDir()
	if err := exec.Command("cp", "-a", filepath.Join(root, "services", "vnc", "testdata", "import", "debian")+"/.", tree).Run(); err != nil {
		t.Fatal(err)
	}
	out, err := runShared(t, sh, "hostkitctl", "vnc", "import", "--write", "--root", tree)
	dropin := filepath.Join(tree, "etc/hostkit/vnc.conf.d/50-imported.conf")
	if err != nil || !strings.Contains(out, "wrote "+dropin+" with 4 displays") || !strings.Contains(out, "systemctl disable --now tigervncserver@:1.service") ||
		!strings.Contains(out, "hostkitctl vnc reload") {
		t.Errorf("import --write: %v\n%s", err, out)
	}
	if c, err := vnc.Load(filepath.Join(tree, "etc/hostkit/vnc.conf")); err != nil || len(c.Displays) != 4 {
		t.Errorf("the written drop-in: %v", err)
	}
	if _, err := runShared(t, sh, "hostkitctl", "vnc", "import", "--write", "--root", tree); err == nil {
		t.Error("a second import --write overwrote the drop-in")
	}
}
