package integration

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"

	"github.com/hostkit/hostkit/internal/testbus"
)

// What every daemon's integration test shares: starting a daemon on the private bus,
// connecting to it, and running a binary as root or as the test user. Every binary runs
// from the bus's Shared directory (bus.Binary), for root as for the test user, so a test
// cannot depend on the test user reaching into the checkout.

// daemon is a daemon process under test; exited receives its exit status once.
type daemon struct {
	cmd    *exec.Cmd
	exited chan error
}

// startDaemon runs argv and waits until it owns the bus name; the test's end kills it if
// it is still running.
func startDaemon(t *testing.T, bus *testbus.Bus, name string, argv []string) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(argv[0], argv[1:]...), exited: make(chan error, 1)}
	d.cmd.Stderr = os.Stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// One Wait, here, for every reader of the exit status (a second Wait is an error,
	// and reading ProcessState beside a running Wait is a race); once read, the closed
	// channel tells later readers that the process is gone.
	go func() { d.exited <- d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.exited
	})
	conn := connect(t, bus)
	if !testbus.Eventually(10*time.Second, func() bool { return ownsName(conn, name) }) {
		t.Fatalf("%s did not take its bus name %s within 10 s", filepath.Base(argv[0]), name)
	}
	return d
}

func connect(t *testing.T, bus *testbus.Bus) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Connect(bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func ownsName(conn *dbus.Conn, name string) bool {
	var has bool
	conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, name).Store(&has)
	return has
}

// runBinary runs a project binary from bus's Shared directory, as the unprivileged user
// when uid != 0; a failure's error carries its stderr.
func runBinary(t *testing.T, bus *testbus.Bus, uid, gid uint32, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bus.Binary(t, name), args...)
	if uid != 0 {
		testbus.AsUser(cmd, uid, gid)
	}
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), &exitError{ee, string(ee.Stderr)}
	}
	return string(out), err
}

type exitError struct {
	*exec.ExitError
	stderr string
}

func (e *exitError) Error() string { return e.ExitError.Error() + ": " + e.stderr }

// checkIdleExit calls method of a daemon started with IdleTimeoutSec=1s every 300 ms for
// 3 s, longer than the timeout, and checks that the calls kept it alive, that it then
// exits with status 0 within 10 s, and that it released its name.
func checkIdleExit(t *testing.T, d *daemon, conn *dbus.Conn, name string, path dbus.ObjectPath, method string) {
	t.Helper()
	for i := 0; i < 10; i++ {
		if err := conn.Object(name, path).Call(name+"."+method, 0).Err; err != nil {
			t.Fatalf("call %d while busy: %v", i, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	select {
	case err := <-d.exited:
		if err != nil {
			t.Fatalf("%s exited with %v, want status 0", filepath.Base(d.cmd.Path), err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still running 10 s after its last call (IdleTimeoutSec=1s)", filepath.Base(d.cmd.Path))
	}
	if ownsName(conn, name) {
		t.Error("bus name still owned after idle exit")
	}
}

// checkIntrospection checks that the object at path of the daemon owning name introspects
// as the interface dbus/NAME.xml ships, beside Properties and Introspectable.
func checkIntrospection(t *testing.T, conn *dbus.Conn, root, name string, path dbus.ObjectPath) {
	t.Helper()
	var data string
	if err := conn.Object(name, path).Call("org.freedesktop.DBus.Introspectable.Introspect", 0).Store(&data); err != nil {
		t.Fatal(err)
	}
	var live, shipped introspect.Node
	if err := xml.Unmarshal([]byte(data), &live); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "dbus", name+".xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(raw, &shipped); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	var liveIface introspect.Interface
	for _, i := range live.Interfaces {
		names[i.Name] = true
		if i.Name == name {
			liveIface = i
		}
	}
	for _, n := range []string{name, "org.freedesktop.DBus.Properties", "org.freedesktop.DBus.Introspectable"} {
		if !names[n] {
			t.Errorf("introspection lacks interface %s", n)
		}
	}
	got, _ := xml.Marshal(liveIface)
	want, _ := xml.Marshal(shipped.Interfaces[0])
	if string(got) != string(want) {
		t.Errorf("live interface differs from dbus/%s.xml:\n%s\n%s", name, got, want)
	}
}
