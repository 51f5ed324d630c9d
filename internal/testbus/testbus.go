// Package testbus is the one harness for integration tests on a private D-Bus: a real
// dbus-daemon with the system bus's default-deny policy, the project's own policy files
// from dbus/, and a service directory for bus activation of the project's binaries.
package testbus

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/hostkit/hostkit/internal/repo"
)

// TestUser is the unprivileged account tests run callers as.
const TestUser = "hostkit-test"

// Bus is a private dbus-daemon. Its socket is in its Shared directory, where TestUser can
// reach it; Binary and Share put what a caller run with AsUser needs beside it.
type Bus struct {
	Address string
	*Shared
	serviceDir string
	cmd        *exec.Cmd
}

// Start launches a private bus that lives until the test ends. Its policy is the system
// bus's (deny by default) plus every dbus/*.conf of the project, so the tests exercise the
// policy files the packages install. The socket and the bus's files are in a new Shared
// directory, so that TestUser can connect too.
func Start(t testing.TB) *Bus {
	t.Helper()
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		t.Fatal("dbus-daemon not found: apt-get install dbus-daemon (make deps does)")
	}
	b := &Bus{Shared: Share(t)}
	b.serviceDir = filepath.Join(b.Dir, "services")
	if err := os.Mkdir(b.serviceDir, 0o755); err != nil {
		t.Fatal(err)
	}
	policies, err := filepath.Glob(filepath.Join(repo.RootT(t), "dbus", "*.conf"))
	if err != nil || len(policies) == 0 {
		t.Fatalf("no policy files in dbus/ (%v)", err)
	}
	var includes strings.Builder
	for _, p := range policies {
		fmt.Fprintf(&includes, "  <include>%s</include>\n", p)
	}
	conf := filepath.Join(b.Dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(busConfig, b.Dir, b.serviceDir, includes.String())), 0o644); err != nil {
		t.Fatal(err)
	}

	b.cmd = exec.Command("dbus-daemon", "--nofork", "--nopidfile", "--print-address=1", "--config-file="+conf)
	stdout, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	b.cmd.Stderr = &testWriter{t: t, prefix: "dbus-daemon: "}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("starting dbus-daemon: %v", err)
	}
	t.Cleanup(func() {
		b.cmd.Process.Signal(syscall.SIGTERM)
		b.cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon printed no address: %v", err)
	}
	b.Address = strings.TrimSpace(line)
	return b
}

// busConfig mirrors Debian's /usr/share/dbus-1/system.conf default policy.
const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>hostkit-test</type>
  <listen>unix:dir=%s</listen>
  <auth>EXTERNAL</auth>
  <servicedir>%s</servicedir>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
%s</busconfig>
`

// AddService makes name bus-activatable: a call to it runs argv (as root, like the system
// bus's activation through systemd). It returns once the bus lists name among its
// activatable names: the bus notices a new service file by inotify, later, and a caller
// that asks ListActivatableNames before that would find the service not installed.
func (b *Bus) AddService(t testing.TB, name string, argv ...string) {
	t.Helper()
	text := fmt.Sprintf("[D-BUS Service]\nName=%s\nExec=%s\n", name, strings.Join(argv, " "))
	if err := os.WriteFile(filepath.Join(b.serviceDir, name+".service"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	conn, err := dbus.Connect(b.Address)
	if err != nil {
		t.Fatalf("connecting to the test bus: %v", err)
	}
	defer conn.Close()
	bus := conn.BusObject()
	// ReloadConfig rereads the service directories before it answers.
	if err := bus.Call("org.freedesktop.DBus.ReloadConfig", 0).Err; err != nil {
		t.Fatalf("ReloadConfig of the test bus: %v", err)
	}
	var names []string
	if err := bus.Call("org.freedesktop.DBus.ListActivatableNames", 0).Store(&names); err != nil {
		t.Fatalf("ListActivatableNames: %v", err)
	}
	if !slices.Contains(names, name) {
		t.Fatalf("the test bus does not list %s as activatable after ReloadConfig (it has %v)", name, names)
	}
}

// Unprivileged returns the uid and gid of TestUser, creating the account when missing
// (useradd, from Debian's passwd package).
func Unprivileged(t testing.TB) (uid, gid uint32) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test must run as root: it runs callers as an unprivileged user")
	}
	u, err := user.Lookup(TestUser)
	if err != nil {
		out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TestUser).CombinedOutput()
		if err != nil {
			t.Fatalf("useradd %s: %v: %s (apt-get install passwd)", TestUser, err, out)
		}
		if u, err = user.Lookup(TestUser); err != nil {
			t.Fatal(err)
		}
	}
	id, _ := strconv.ParseUint(u.Uid, 10, 32)
	g, _ := strconv.ParseUint(u.Gid, 10, 32)
	return uint32(id), uint32(g)
}

// AsUser makes cmd run as uid/gid.
func AsUser(cmd *exec.Cmd, uid, gid uint32) *exec.Cmd {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	return cmd
}

// Eventually polls cond every 50 ms until it is true or timeout passes, and reports
// whether it became true.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testWriter sends a process's output to the test log, line by line.
type testWriter struct {
	t      testing.TB
	prefix string
}

func (w *testWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Log(w.prefix + line)
	}
	return len(p), nil
}
