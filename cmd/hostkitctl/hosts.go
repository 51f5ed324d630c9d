package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/hostkit/hostkit/internal/bus"
	"github.com/hostkit/hostkit/internal/config"
	"github.com/hostkit/hostkit/internal/lifecycle"
	"github.com/hostkit/hostkit/internal/term"
)

// hostList is the value of -H/--host: [USER@]HOST[:PORT] given once or more, or @FILE
// with one host a line (blank lines and # comments left out).
type hostList struct {
	hosts    []string
	fromFile bool
}

func (h *hostList) String() string { return strings.Join(h.hosts, ",") }

func (h *hostList) Set(v string) error {
	if file, ok := strings.CutPrefix(v, "@"); ok {
		data, err := config.ReadFile(file, 1<<20)
		if err != nil {
			return fmt.Errorf("hosts file: %w", err)
		}
		n := 0
		for i, line := range strings.Split(string(data), "\n") {
			line, _, _ = strings.Cut(line, "#")
			if line = strings.TrimSpace(line); line == "" {
				continue
			}
			if _, err := sshCommand(line, 0); err != nil {
				return fmt.Errorf("%s:%d: %w", file, i+1, err)
			}
			h.hosts = append(h.hosts, line)
			n++
		}
		if n == 0 {
			return fmt.Errorf("hosts file %s names no host", file)
		}
		h.fromFile = true
		return nil
	}
	if _, err := sshCommand(v, 0); err != nil {
		return err
	}
	h.hosts = append(h.hosts, v)
	return nil
}

// several reports whether the output is one section (or JSON object) per host: more than
// one host, or a hosts file (whose output has the same shape however many it names).
func (h *hostList) several() bool { return len(h.hosts) > 1 || h.fromFile }

// sshCommand is the command line that reaches the system bus of host, as `systemctl -H`
// runs it: ssh to [USER@]HOST[:PORT] (IPv6 in brackets, [::1]:2222) and
// systemd-stdio-bridge there, which joins its standard input and output to that host's
// system bus as the user ssh logged in as. $HOSTKIT_SSH replaces "ssh" (split at spaces,
// e.g. "ssh -F /etc/hostkit/ssh_config"). BatchMode: many hosts at once cannot each ask
// for a password; keys or an agent are the way. ConnectTimeout, when connectTimeout is
// set: ssh gives up on an unreachable host by itself, not after the kernel's TCP timeout.
func sshCommand(host string, connectTimeout time.Duration) ([]string, error) {
	user, hostPort, hasUser := strings.Cut(host, "@")
	if !hasUser {
		user, hostPort = "", host
	}
	name, port := hostPort, ""
	if strings.HasPrefix(hostPort, "[") {
		end := strings.Index(hostPort, "]")
		if end < 0 {
			return nil, fmt.Errorf("host %q: no ] after the IPv6 address", host)
		}
		name, port = hostPort[1:end], strings.TrimPrefix(hostPort[end+1:], ":")
		if rest := hostPort[end+1:]; rest != "" && !strings.HasPrefix(rest, ":") {
			return nil, fmt.Errorf("host %q: expected :PORT after ]", host)
		}
	} else if i := strings.LastIndex(hostPort, ":"); i >= 0 {
		if strings.Count(hostPort, ":") > 1 {
			return nil, fmt.Errorf("host %q: write an IPv6 address in brackets, [%s]", host, hostPort)
		}
		name, port = hostPort[:i], hostPort[i+1:]
	}
	if name == "" || strings.HasPrefix(name, "-") || strings.ContainsAny(name, " \t/") || (hasUser && (user == "" || strings.HasPrefix(user, "-"))) {
		return nil, fmt.Errorf("host %q is not [USER@]HOST[:PORT]", host)
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("host %q: port %q is not a number from 1 to 65535", host, port)
		}
	}
	argv := []string{"ssh"}
	if s := strings.Fields(os.Getenv("HOSTKIT_SSH")); len(s) > 0 {
		argv = s
	}
	argv = append(argv, "-xT", "-o", "BatchMode=yes")
	if connectTimeout > 0 {
		argv = append(argv, "-o", fmt.Sprintf("ConnectTimeout=%d", int(math.Ceil(connectTimeout.Seconds()))))
	}
	if port != "" {
		argv = append(argv, "-p", port)
	}
	if hasUser {
		argv = append(argv, "-l", user)
	}
	if net.ParseIP(name) == nil && strings.Contains(name, ":") {
		return nil, fmt.Errorf("host %q is not [USER@]HOST[:PORT]", host)
	}
	return append(argv, "--", name, "systemd-stdio-bridge"), nil
}

// hostBus is the --bus value that reaches host's system bus (see bus.ExecAddress).
func hostBus(host string, connectTimeout time.Duration) (string, error) {
	argv, err := sshCommand(host, connectTimeout)
	if err != nil {
		return "", err
	}
	return bus.ExecAddress(argv...), nil
}

func isRemote(busSpec string) bool { return strings.HasPrefix(busSpec, "unixexec:") }

// Connections are opened once per bus and command: a command that makes several calls to
// a remote host makes one ssh connection. Hosts connect in parallel: the map's lock is
// not held while ssh connects. closeConnections closes that of one bus.
var (
	connMu sync.Mutex
	conns  = map[string]*busConn{}
)

type busConn struct {
	mu     sync.Mutex // held while connecting
	conn   *dbus.Conn
	closed bool // by closeConnections; a connection made after it is closed at once
}

func connect(busSpec string) (*dbus.Conn, error) {
	connMu.Lock()
	e := conns[busSpec]
	if e == nil {
		e = &busConn{}
		conns[busSpec] = e
	}
	connMu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn != nil && e.conn.Connected() {
		return e.conn, nil
	}
	c, err := bus.Connect(busSpec)
	if err != nil {
		return nil, err
	}
	connMu.Lock()
	closed := e.closed
	connMu.Unlock()
	if closed {
		c.Close()
		return nil, errors.New("connection closed (--timeout)")
	}
	e.conn = c
	return c, nil
}

func closeConnections(busSpec string) {
	connMu.Lock()
	e := conns[busSpec]
	delete(conns, busSpec)
	if e != nil {
		e.closed = true
	}
	connMu.Unlock()
	if e != nil && e.mu.TryLock() { // else it is still connecting, and will close itself
		if e.conn != nil {
			e.conn.Close()
		}
		e.mu.Unlock()
	}
}

// hostResult is what one host answered: its output and its error.
type hostResult struct {
	host string
	out  bytes.Buffer
	err  error
	done chan struct{}
}

// hostJSON is one host's line of `-H ... --json`: the command's JSON as result.
type hostJSON struct {
	Host   string          `json:"host"`
	OK     bool            `json:"ok"`
	Error  *string         `json:"error"`
	Result json.RawMessage `json:"result"`
}

// runHosts runs cmd on every host, at most parallel at once, each bounded by timeout. With
// one host (-H given once) the output is the command's own and an error names the host.
// With several, the text output is a section per host in the order given ("== HOST ==",
// then the output or "error: ..."), and with --json a JSON object per host and line
// (host, ok, error, result), printed in that order as the hosts answer; the exit status is
// 1 when any host failed. A host that fails does not stop the others.
func runHosts(hosts *hostList, cmd command, args []string, stdout io.Writer, timeout time.Duration, parallel int) error {
	if parallel < 1 {
		return lifecycle.UsageError(errors.New("--parallel must be at least 1"))
	}
	results := make([]*hostResult, len(hosts.hosts))
	slots := make(chan struct{}, parallel)
	for i, h := range hosts.hosts {
		r := &hostResult{host: h, done: make(chan struct{})}
		results[i] = r
		go func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			r.err = runOnHost(h, cmd, args, &r.out, timeout)
			close(r.done)
		}()
	}
	if !hosts.several() {
		r := results[0]
		<-r.done
		if _, err := r.out.WriteTo(stdout); err != nil {
			return err
		}
		if r.err != nil && !errors.Is(r.err, errUsage) {
			return fmt.Errorf("%s: %w", r.host, r.err)
		}
		return r.err
	}
	asJSON := wantsJSON(args)
	jsonOut := term.NewJSONWriter(stdout) // a host's error text may hold anything
	var failed []string
	for i, r := range results {
		<-r.done
		if errors.Is(r.err, errUsage) {
			return r.err // the same for every host: say it once
		}
		if r.err != nil {
			failed = append(failed, r.host)
		}
		if asJSON {
			line := hostJSON{Host: r.host, OK: r.err == nil, Result: json.RawMessage("null")}
			if r.err != nil {
				msg := r.err.Error()
				line.Error = &msg
			}
			if out := bytes.TrimSpace(r.out.Bytes()); len(out) > 0 {
				if json.Valid(out) {
					line.Result = out
				} else {
					line.Result, _ = json.Marshal(string(out))
				}
			}
			data, err := json.Marshal(line)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(jsonOut, "%s\n", data); err != nil {
				return err
			}
			continue
		}
		w := term.NewWriter(stdout)
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "== %s ==\n", r.host)
		r.out.WriteTo(w)
		if r.err != nil {
			fmt.Fprintf(w, "error: %s\n", r.err)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d hosts failed: %s", len(failed), len(results), strings.Join(failed, " "))
	}
	return nil
}

// errUsage marks a usage error of the command, which is the same on every host.
var errUsage = errors.New("usage")

type hostUsageError struct{ error }

func (e hostUsageError) Is(target error) bool { return target == errUsage }
func (e hostUsageError) Unwrap() error        { return e.error }

// runOnHost runs cmd against host's bus with its output in out. After timeout the
// host's connection is closed, which ends the calls in flight, and the host has failed.
func runOnHost(host string, cmd command, args []string, out io.Writer, timeout time.Duration) error {
	busSpec, err := hostBus(host, timeout)
	if err != nil {
		return err
	}
	defer closeConnections(busSpec)
	var buf bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- cmd.run(busSpec, args, &buf) }()
	select {
	case err = <-done:
	case <-time.After(timeout):
		closeConnections(busSpec)
		return fmt.Errorf("no answer within %s (--timeout)", timeout)
	}
	if lifecycle.ExitCode(err) == lifecycle.ExitUsage {
		return hostUsageError{err}
	}
	buf.WriteTo(out)
	return err
}

// wantsJSON reports whether a command's arguments ask for JSON.
func wantsJSON(args []string) bool {
	for _, a := range args {
		switch a {
		case "--json", "-json", "--json=true", "-json=true":
			return true
		case "--":
			return false
		}
	}
	return false
}
