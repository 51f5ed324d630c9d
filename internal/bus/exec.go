package bus

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

// ExecAddress returns the D-Bus address of the "unixexec" transport that runs argv and
// speaks D-Bus over its standard input and output, as sd-bus writes it for `systemctl
// -H` (unixexec:path=ssh,argv1=-xT,argv2=HOST,argv3=systemd-stdio-bridge).
func ExecAddress(argv ...string) string {
	var b strings.Builder
	b.WriteString("unixexec:path=" + escapeAddress(argv[0]))
	for i, a := range argv[1:] {
		fmt.Fprintf(&b, ",argv%d=%s", i+1, escapeAddress(a))
	}
	return b.String()
}

// escapeAddress escapes a value of a D-Bus address: every byte but [-0-9A-Za-z_/.\*] as %XX.
func escapeAddress(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("-_/.\\*", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02x", c)
		}
	}
	return b.String()
}

// parseExecAddress returns the argv of a unixexec address (argv0 defaults to path).
func parseExecAddress(addr string) (path string, argv []string, err error) {
	rest, ok := strings.CutPrefix(addr, "unixexec:")
	if !ok {
		return "", nil, fmt.Errorf("%q is not a unixexec address", addr)
	}
	args := map[int]string{}
	top := 0
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return "", nil, fmt.Errorf("address %q: %q is not KEY=VALUE", addr, kv)
		}
		val, err := unescapeAddress(v)
		if err != nil {
			return "", nil, fmt.Errorf("address %q: %w", addr, err)
		}
		switch {
		case k == "path":
			path = val
		case strings.HasPrefix(k, "argv"):
			n, err := strconv.Atoi(k[4:])
			if err != nil || n < 0 || n > 1024 {
				return "", nil, fmt.Errorf("address %q: bad key %q", addr, k)
			}
			args[n] = val
			top = max(top, n)
		default:
			return "", nil, fmt.Errorf("address %q: unknown key %q", addr, k)
		}
	}
	if path == "" {
		return "", nil, fmt.Errorf("address %q has no path=", addr)
	}
	if _, ok := args[0]; !ok {
		args[0] = path
	}
	for i := 0; i <= top; i++ {
		a, ok := args[i]
		if !ok {
			return "", nil, fmt.Errorf("address %q has argv%d but no argv%d", addr, top, i)
		}
		argv = append(argv, a)
	}
	return path, argv, nil
}

func unescapeAddress(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("%q: %% needs two hex digits", s)
		}
		n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("%q: %% needs two hex digits", s)
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}

// execConn is the stream to a process started for a unixexec address: one end of a socket
// pair whose other end is the process's standard input and output, as sd-bus does it.
type execConn struct {
	net.Conn
	cmd    *exec.Cmd
	stderr *tailBuffer
	once   sync.Once
	done   chan struct{}
}

// Close closes the stream, which tells the process (ssh, systemd-stdio-bridge) to exit;
// it is killed if it has not exited a second later.
func (c *execConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		select {
		case <-c.done:
		case <-time.After(time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	return err
}

// connectExec starts the process of a unixexec address and opens a D-Bus connection over
// its standard input and output. The process's standard error is kept, and its last
// lines are part of the error when the connection fails (ssh's "Connection refused",
// "Permission denied (publickey)", "command not found").
func connectExec(addr string, opts ...dbus.ConnOption) (*dbus.Conn, error) {
	path, argv, err := parseExecAddress(addr)
	if err != nil {
		return nil, err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "bus"), os.NewFile(uintptr(fds[1]), "bus-peer")
	nc, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		theirs.Close()
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	stderr := &tailBuffer{}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = theirs, theirs, stderr
	// Its own session: a Ctrl-C at the terminal reaches hostkitctl, which then closes the
	// connections, not ssh first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	theirs.Close() // the process has it now: its exit is the end of our stream
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	ec := &execConn{Conn: nc, cmd: cmd, stderr: stderr, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(ec.done) }()
	// What the process said on standard error is the better reason (ssh's "Connection
	// refused", "Permission denied (publickey)", "systemd-stdio-bridge: not found").
	fail := func(step string, err error) (*dbus.Conn, error) {
		ec.Close()
		if tail := stderr.String(); tail != "" {
			return nil, fmt.Errorf("%s: %s", strings.Join(argv, " "), tail)
		}
		if cmd.ProcessState != nil && !cmd.ProcessState.Success() {
			return nil, fmt.Errorf("%s: %s", strings.Join(argv, " "), cmd.ProcessState)
		}
		return nil, fmt.Errorf("%s: %s: %w", strings.Join(argv, " "), step, err)
	}
	conn, err := dbus.NewConn(ec, opts...)
	if err != nil {
		return fail("connect", err)
	}
	// EXTERNAL with no identity: the bridge on the other side accepts it, and the bus
	// there knows the caller as the user ssh logged in as, so that its policy and polkit
	// decide as for a local caller of that user. ANONYMOUS for a peer that wants no
	// identity at all.
	if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(""), dbus.AuthAnonymous()}); err != nil {
		return fail("authenticate", err)
	}
	if err := conn.Hello(); err != nil {
		return fail("hello", err)
	}
	return conn, nil
}

// tailBuffer keeps the last 2 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2048 {
		t.buf = t.buf[len(t.buf)-2048:]
	}
	return len(p), nil
}

// String returns the kept text on one line.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(strings.Fields(string(bytes.ToValidUTF8(t.buf, []byte("?")))), " ")
}
