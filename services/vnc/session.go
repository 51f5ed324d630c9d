package vnc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// What runs inside hostkit-vnc@N.service, as the display's user, with the display's
// listening socket as stdin (StandardInput=socket of an Accept=no socket unit):
//
//  1. Xvnc :N -inetd with that socket as its stdin. Xvnc 1.12 does not take systemd's
//     LISTEN_FDS, but in inetd "wait" mode it accepts on the listening socket it finds on
//     stdin: the client whose connection started the unit is waiting in the queue and
//     is served without reconnecting, later clients too, and Xvnc stays up when they
//     leave. The client's real address stays visible to Xvnc, and nothing of RFB passes
//     through hostkit. -inetd makes Xvnc log to /dev/null, so -log *:stdout:30 sends
//     the log into a pipe, where "Connections: accepted/closed" lines count the clients.
//  2. READY=1 once Xvnc accepts: its VNC server is created and X answers on its socket.
//  3. The session (Session=), with DISPLAY and XAUTHORITY, without LISTEN_* and
//     NOTIFY_SOCKET, in the unit's cgroup: stopping the unit ends all of it.
//  4. Supervision: the session ending returns the display to waiting (exit 0, the socket
//     stays); a session ending within StartupGrace failed at start (ExitStartFailed,
//     with its last lines of output); Xvnc dying takes the session with it and the unit
//     ends as Xvnc did (killed by SIGKILL: this process too), so that systemd records it
//     and restarts the display.

// SessionConfig is what RunSession needs.
type SessionConfig struct {
	Display    *Display
	Account    Account  // the display's user, whom this process runs as
	Listener   *os.File // the listening socket
	RuntimeDir string   // the display's runtime directory, owned by the user
	Tmp        string   // where X's lock and sockets are: "/tmp"
	XSessions  string   // desktop files: XSessionsDir
	Xvnc       string   // the Xvnc binary
	Env        []string // the environment systemd gave (os.Environ())
	Notify     func(state string)
	Log        *slog.Logger
	// StartupGrace: a session that ends sooner failed at start (default 3s).
	StartupGrace time.Duration
	// BlankAfter: a desktop without a mapped window and with a uniform screen for that
	// long is flagged blank (default 5s).
	BlankAfter time.Duration
	// ReadyTimeout bounds Xvnc's start (default 30s).
	ReadyTimeout time.Duration
}

// Outcome is how the session process should end.
type Outcome struct {
	Code    int            // exit status
	Signal  syscall.Signal // when not 0: end by this signal (Xvnc was killed by it)
	Message string
}

func (sc *SessionConfig) defaults() {
	if sc.StartupGrace == 0 {
		sc.StartupGrace = 3 * time.Second
	}
	if sc.BlankAfter == 0 {
		sc.BlankAfter = 5 * time.Second
	}
	if sc.ReadyTimeout == 0 {
		sc.ReadyTimeout = 30 * time.Second
	}
	if sc.Tmp == "" {
		sc.Tmp = "/tmp"
	}
	if sc.XSessions == "" {
		sc.XSessions = XSessionsDir
	}
	if sc.Xvnc == "" {
		sc.Xvnc = "Xvnc"
	}
	if sc.Notify == nil {
		sc.Notify = func(string) {}
	}
	if sc.Log == nil {
		sc.Log = slog.Default()
	}
}

// RunSession runs display sc.Display until it ends (see above) or ctx is cancelled (the
// unit is stopped: everything ends, exit 0). It records why a start failed in
// RuntimeDir/last-error.
func RunSession(ctx context.Context, sc SessionConfig) Outcome {
	sc.defaults()
	out := runSession(ctx, &sc)
	if out.Code != 0 || out.Signal != 0 {
		sc.Log.Error(out.Message)
		if out.Signal == 0 && out.Code > 128 {
			_ = writeFile(filepath.Join(sc.RuntimeDir, exitHintFile), SignalName(syscall.Signal(out.Code-128))+"\n")
		}
		if err := writeFile(filepath.Join(sc.RuntimeDir, LastErrorFile), out.Message+"\n"); err != nil {
			sc.Log.Warn("cannot record the error", "err", err)
		}
		sc.Notify("STATUS=Failed: " + firstLine(out.Message))
	} else {
		sc.Log.Info(out.Message)
		sc.Notify("STOPPING=1\nSTATUS=" + out.Message)
	}
	return out
}

func runSession(ctx context.Context, sc *SessionConfig) Outcome {
	d := sc.Display
	fail := func(code int, format string, args ...any) Outcome {
		return Outcome{Code: code, Message: fmt.Sprintf("display %s: ", d.Name()) + fmt.Sprintf(format, args...)}
	}
	if err := checkListening(sc.Listener); err != nil {
		return fail(ExitConfig, "%v: start the display through %s", err, d.SocketUnit())
	}
	if held := ReadRuntimeFile(sc.RuntimeDir, HeldFile); held != "" {
		return fail(ExitHeld, "%s; end it with `hostkitctl vnc clean %s --kill`, or choose another Number=", held, d.Name())
	}
	if err := RecordLoginSession(sc.RuntimeDir, sc.Env); err != nil {
		sc.Log.Warn("cannot note the login session", "err", err)
	}
	if err := CheckHost(d, func(string) (Account, error) { return sc.Account, nil }); err != nil {
		return Outcome{Code: ExitConfig, Message: err.Error()}
	}
	command, from, err := ResolveSession(d.Session, sc.XSessions)
	if err != nil {
		return fail(ExitConfig, "%v", err)
	}
	cookie, err := NewCookie()
	if err != nil {
		return fail(1, "%v", err)
	}
	xauth := XauthorityPath(sc.RuntimeDir)
	if err := WriteXauthority(xauth, d.Number, cookie); err != nil {
		return fail(1, "writing %s: %v", xauth, err)
	}

	xvnc, err := startXvnc(sc, xauth)
	if err != nil {
		return fail(ExitStartFailed, "%v", err)
	}
	defer xvnc.stop()
	if out, ok := xvnc.waitReady(ctx, sc); !ok {
		return out
	}
	live := Live{Number: d.Number, Address: d.ListenAddress(), XvncPID: xvnc.cmd.Process.Pid, Clients: int(xvnc.clients.Load())}
	sc.Notify("READY=1\nSTATUS=" + live.Status())
	_ = removeFile(filepath.Join(sc.RuntimeDir, LastErrorFile))
	sc.Log.Info("Xvnc serves", "pid", live.XvncPID, "address", live.Address)

	session, err := startSession(sc, command, xauth)
	if err != nil {
		return fail(ExitStartFailed, "session %q: %v", command, err)
	}
	defer session.stop()
	sc.Log.Info("session started", "command", command, "from", from, "pid", session.cmd.Process.Pid)

	blank := newBlankWatch(sc, cookie)
	defer blank.close()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	status := live.Status()
	for {
		select {
		case <-ctx.Done():
			return Outcome{Message: fmt.Sprintf("display %s stopped", d.Name())}
		case <-xvnc.changed:
			live.Clients = int(xvnc.clients.Load())
		case <-xvnc.done:
			if stopping(ctx) {
				return Outcome{Message: fmt.Sprintf("display %s stopped", d.Name())}
			}
			return xvnc.outcome(d)
		case <-session.done:
			if stopping(ctx) {
				return Outcome{Message: fmt.Sprintf("display %s stopped", d.Name())}
			}
			select {
			case <-xvnc.done: // Xvnc died and took the session with it
				return xvnc.outcome(d)
			default:
			}
			ran := time.Since(session.started)
			if ran < sc.StartupGrace {
				return fail(ExitStartFailed, "the session %q %s after %s: it failed at start (a program missing?); its last output:\n%s",
					command, describeWait(session.err), ran.Round(10*time.Millisecond), session.output.String())
			}
			return Outcome{Message: fmt.Sprintf("display %s: the session ended (%s); waiting for the next connection", d.Name(), describeWait(session.err))}
		case <-tick.C:
			live.Blank = blank.check(time.Since(session.started))
		}
		if s := live.Status(); s != status {
			status = s
			sc.Notify("STATUS=" + s)
		}
	}
}

// stopping reports whether the unit is being stopped. SIGTERM reaches every process of
// the unit at once, so an exit of Xvnc or of the session may be seen first; a moment's
// wait tells a stop from a crash.
func stopping(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	case <-time.After(200 * time.Millisecond):
		return ctx.Err() != nil
	}
}

// checkListening makes sure f is a listening socket (SO_ACCEPTCONN).
func checkListening(f *os.File) error {
	if f == nil {
		return errors.New("no listening socket")
	}
	v, err := syscall.GetsockoptInt(int(f.Fd()), syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN)
	if err != nil {
		return fmt.Errorf("stdin is not a socket (%v)", err)
	}
	if v != 1 {
		return errors.New("stdin is a socket but not a listening one (Accept=yes?)")
	}
	return nil
}

// childEnv is the environment of Xvnc and the session: systemd's, without what belongs
// to this process alone (the socket-activation and notify variables), plus extra.
func childEnv(env []string, extra ...string) []string {
	var out []string
	drop := map[string]bool{}
	for _, kv := range extra {
		k, _, _ := strings.Cut(kv, "=")
		drop[k] = true
	}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "LISTEN_") || k == "NOTIFY_SOCKET" || strings.HasPrefix(k, "WATCHDOG_") || drop[k] {
			continue
		}
		out = append(out, kv)
	}
	return append(out, extra...)
}

// ring keeps the last lines of a process's output.
type ring struct {
	mu    sync.Mutex
	lines []string
	max   int
}

func (r *ring) add(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, line)
	if len(r.lines) > r.max {
		r.lines = r.lines[len(r.lines)-r.max:]
	}
}

func (r *ring) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lines) == 0 {
		return "(no output)"
	}
	return strings.Join(r.lines, "\n")
}

// xvncProcess is the display's Xvnc.
type xvncProcess struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed when it exited; err then holds Wait's result
	err     error
	clients atomic.Int32  // clients connected, from its log
	changed chan struct{} // a value when clients changed
	rfb     chan struct{} // closed when its VNC server exists
	log     *ring
	stopMu  sync.Once
}

func startXvnc(sc *SessionConfig, xauth string) (*xvncProcess, error) {
	d := sc.Display
	args := []string{d.Name(), "-inetd", "-auth", xauth, "-geometry", d.Geometry(), "-depth", strconv.Itoa(d.Depth),
		"-SecurityTypes", strings.Join(d.SecurityTypes, ","), "-log", "*:stdout:30",
		"-desktop", fmt.Sprintf("%s:%d (%s)", hostname(), d.Number, d.User)}
	if d.NeedsPassword() {
		args = append(args, "-PasswordFile", PasswordPath(d, sc.Account))
	}
	if !ListensOnTCP(d.XvncOptions) {
		args = append(args, "-nolisten", "tcp")
	}
	args = append(args, d.XvncOptions...)
	cmd := exec.Command(sc.Xvnc, args...)
	cmd.Stdin = sc.Listener
	cmd.Env = childEnv(sc.Env)
	cmd.Dir = sc.Account.Home
	pr, err := startPiped(cmd)
	if err != nil {
		return nil, fmt.Errorf("starting Xvnc: %w (apt-get install tigervnc-standalone-server)", err)
	}
	x := &xvncProcess{cmd: cmd, done: make(chan struct{}), changed: make(chan struct{}, 1), rfb: make(chan struct{}), log: &ring{max: 30}}
	sc.Log.Info("Xvnc started", "pid", cmd.Process.Pid, "args", strings.Join(args, " "))
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		rfbSeen := false
		lines := bufio.NewScanner(pr)
		lines.Buffer(make([]byte, 0, 4096), 1<<16)
		for lines.Scan() {
			line := strings.TrimSpace(lines.Text())
			if line == "" {
				continue
			}
			x.log.add(line)
			switch {
			case strings.HasPrefix(line, "Connections: accepted:"):
				x.clientsChanged(+1)
				sc.Log.Info("client connected", "client", strings.TrimSpace(strings.TrimPrefix(line, "Connections: accepted:")))
			case strings.HasPrefix(line, "Connections: closed:"):
				x.clientsChanged(-1)
				sc.Log.Info("client left", "client", strings.TrimSpace(strings.TrimPrefix(line, "Connections: closed:")))
			case strings.Contains(line, "created VNC server for screen") && !rfbSeen:
				rfbSeen = true
				close(x.rfb)
			}
		}
		io.Copy(io.Discard, pr)
		pr.Close()
	}()
	go func() {
		x.err = cmd.Wait()
		<-readerDone // the last lines of its log are in x.log before anyone reads it
		close(x.done)
	}()
	return x, nil
}

func (x *xvncProcess) clientsChanged(delta int32) {
	if x.clients.Add(delta) < 0 {
		x.clients.Store(0)
	}
	select {
	case x.changed <- struct{}{}:
	default:
	}
}

// waitReady waits until Xvnc's VNC server exists and X accepts on its socket.
func (x *xvncProcess) waitReady(ctx context.Context, sc *SessionConfig) (Outcome, bool) {
	d := sc.Display
	deadline := time.After(sc.ReadyTimeout)
	select {
	case <-x.rfb:
	case <-x.done:
		return Outcome{Code: ExitStartFailed, Message: fmt.Sprintf("display %s: Xvnc %s before it was ready; its last log lines:\n%s",
			d.Name(), describeWait(x.err), x.log)}, false
	case <-ctx.Done():
		return Outcome{Message: fmt.Sprintf("display %s stopped while starting", d.Name())}, false
	case <-deadline:
		return Outcome{Code: ExitStartFailed, Message: fmt.Sprintf("display %s: Xvnc not ready after %s; its last log lines:\n%s",
			d.Name(), sc.ReadyTimeout, x.log)}, false
	}
	for {
		if c, err := net.DialTimeout("unix", SocketPath(sc.Tmp, d.Number), time.Second); err == nil {
			c.Close()
			return Outcome{}, true
		}
		select {
		case <-x.done:
			return Outcome{Code: ExitStartFailed, Message: fmt.Sprintf("display %s: Xvnc %s before X accepted connections; its last log lines:\n%s",
				d.Name(), describeWait(x.err), x.log)}, false
		case <-ctx.Done():
			return Outcome{Message: fmt.Sprintf("display %s stopped while starting", d.Name())}, false
		case <-deadline:
			return Outcome{Code: ExitStartFailed, Message: fmt.Sprintf("display %s: X does not accept on %s after %s",
				d.Name(), SocketPath(sc.Tmp, d.Number), sc.ReadyTimeout)}, false
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// outcome is how the unit ends after Xvnc ended on its own.
func (x *xvncProcess) outcome(d *Display) Outcome {
	msg := fmt.Sprintf("display %s: Xvnc (pid %d) %s; its last log lines:\n%s", d.Name(), x.cmd.Process.Pid, describeWait(x.err), x.log)
	var ee *exec.ExitError
	if !errors.As(x.err, &ee) {
		return Outcome{Code: 1, Message: msg}
	}
	ws, _ := ee.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled() && ws.Signal() == syscall.SIGKILL:
		return Outcome{Signal: syscall.SIGKILL, Message: msg}
	case ws.Signaled():
		// Only SIGKILL can be passed on exactly; the runtime handles the others. The
		// status says which one (128+n), and RecordExit names it from the hint.
		return Outcome{Code: 128 + int(ws.Signal()), Message: msg}
	case ws.ExitStatus() == 0:
		return Outcome{Message: fmt.Sprintf("display %s: Xvnc ended; waiting for the next connection", d.Name())}
	case exitMeanings[ws.ExitStatus()] != "":
		return Outcome{Code: 1, Message: msg} // not to be read as one of ours
	}
	return Outcome{Code: ws.ExitStatus(), Message: msg}
}

// stop ends Xvnc: SIGTERM, SIGKILL after 5 s.
func (x *xvncProcess) stop() {
	x.stopMu.Do(func() { terminateChild(x.cmd, x.done, 5*time.Second, false) })
}

// sessionProcess is the display's session.
type sessionProcess struct {
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
	err     error
	output  *ring
	stopMu  sync.Once
}

func startSession(sc *SessionConfig, command, xauth string) (*sessionProcess, error) {
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Env = childEnv(sc.Env, "DISPLAY="+sc.Display.Name(), "XAUTHORITY="+xauth, "XDG_SESSION_TYPE=x11")
	cmd.Dir = sc.Account.Home
	cmd.Stdin = nil
	// Its own process group, so that ending it reaches what it started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, err := startPiped(cmd)
	if err != nil {
		return nil, err
	}
	s := &sessionProcess{cmd: cmd, started: time.Now(), done: make(chan struct{}), output: &ring{max: 20}}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		r := bufio.NewScanner(pr)
		r.Buffer(make([]byte, 0, 4096), 1<<16)
		for r.Scan() {
			s.output.add(r.Text())
			sc.Log.Info("session: " + r.Text())
		}
		io.Copy(io.Discard, pr)
		pr.Close()
	}()
	go func() {
		s.err = cmd.Wait()
		// Its output up to its end; children that keep the pipe open do not hold this up.
		select {
		case <-readerDone:
		case <-time.After(200 * time.Millisecond):
		}
		close(s.done)
	}()
	return s, nil
}

func (s *sessionProcess) stop() {
	s.stopMu.Do(func() { terminateChild(s.cmd, s.done, 3*time.Second, true) })
}

// terminateChild sends SIGTERM (to the process group with group), waits up to grace for
// done, then SIGKILL.
func terminateChild(cmd *exec.Cmd, done chan struct{}, grace time.Duration, group bool) {
	pid := cmd.Process.Pid
	signal := func(sig syscall.Signal) {
		if group {
			_ = syscall.Kill(-pid, sig)
		}
		_ = cmd.Process.Signal(sig)
	}
	select {
	case <-done:
		if group {
			_ = syscall.Kill(-pid, syscall.SIGTERM) // what it left behind in its group
		}
		return
	default:
	}
	signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		signal(syscall.SIGKILL)
		<-done
	}
}

// startPiped starts cmd with its stdout and stderr into a pipe, and returns the pipe's
// reading end.
func startPiped(cmd *exec.Cmd) (*os.File, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, err
	}
	return pr, nil
}

// describeWait says how a process ended, from exec.Cmd.Wait's error.
func describeWait(err error) string {
	if err == nil {
		return "exited with status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "was killed by signal " + SignalName(ws.Signal())
		}
		return fmt.Sprintf("exited with status %d", ee.ExitCode())
	}
	return err.Error()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}

// blankWatch decides whether the desktop is blank: no window mapped and one colour on the
// whole screen, for BlankAfter on end.
type blankWatch struct {
	sc     *SessionConfig
	cookie Cookie
	x      *XConn
	since  time.Time // when the desktop was first seen blank in the current stretch
	last   time.Time
	blank  bool
}

func newBlankWatch(sc *SessionConfig, cookie Cookie) *blankWatch {
	return &blankWatch{sc: sc, cookie: cookie, since: time.Now()}
}

// check looks at the desktop, every second at first and every ten seconds once the
// session has run for a minute, and returns whether it is blank.
func (b *blankWatch) check(running time.Duration) bool {
	if running > time.Minute && time.Since(b.last) < 10*time.Second {
		return b.blank
	}
	b.last = time.Now()
	empty, err := b.looksEmpty()
	if err != nil {
		b.sc.Log.Debug("blank check", "err", err)
		b.close() // reconnect next time
		return b.blank
	}
	if !empty {
		b.since = time.Time{}
		b.blank = false
		return false
	}
	if b.since.IsZero() {
		b.since = time.Now()
	}
	if !b.blank && time.Since(b.since) >= b.sc.BlankAfter {
		b.blank = true
		b.sc.Log.Warn("the desktop is blank: no window is mapped and the screen is one colour (is the session's window manager or desktop installed?)",
			"blank_for", time.Since(b.since).Round(time.Second).String())
	}
	return b.blank
}

func (b *blankWatch) looksEmpty() (bool, error) {
	if b.x == nil {
		x, err := DialX(b.sc.Tmp, b.sc.Display.Number, b.cookie, 5*time.Second)
		if err != nil {
			return false, err
		}
		b.x = x
	}
	b.x.SetDeadline(time.Now().Add(5 * time.Second))
	n, err := b.x.MappedWindows()
	if err != nil || n > 0 {
		return false, err
	}
	img, err := b.x.Image()
	if err != nil {
		return false, err
	}
	return Uniform(img), nil
}

func (b *blankWatch) close() {
	if b.x != nil {
		b.x.Close()
		b.x = nil
	}
}
