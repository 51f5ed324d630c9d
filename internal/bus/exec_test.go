package bus_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/hostkit/hostkit/internal/bus"
	"github.com/hostkit/hostkit/internal/testbus"
)

func TestExecAddressRoundTrip(t *testing.T) {
	for i, argv := range [][]string{
		{"ssh", "-xT", "root@host", "systemd-stdio-bridge"},
		{"/usr/bin/env", "a,b=c", "100%", "sp ace", "ü"},
	} {
		addr := bus.ExecAddress(argv...)
		if strings.ContainsAny(strings.TrimPrefix(addr, "unixexec:"), " ü%,=") && strings.Count(addr, "=") != len(argv) {
			t.Errorf("case %d: %q has unescaped separators", i, addr)
		}
		got, err := bus.ParseExecAddress(addr)
		if err != nil {
			t.Errorf("case %d: %s: %v", i, addr, err)
			continue
		}
		if !slices.Equal(got, argv) {
			t.Errorf("case %d: %s gives %q, want %q", i, addr, got, argv)
		}
	}
	for i, bad := range []string{"unixexec:argv1=x", "unixexec:path=x,argv2=y", "unixexec:path=%4", "unixexec:path=x,foo=y", "unix:path=/x"} {
		if _, err := bus.ParseExecAddress(bad); err == nil {
			t.Errorf("case %d: %q parsed without error", i, bad)
		}
	}
}

// TestConnectThroughStdioBridge reaches a private dbus-daemon through systemd-stdio-bridge
// on a unixexec address, as hostkitctl -H does through ssh, and asks the bus who it is.
func TestConnectThroughStdioBridge(t *testing.T) {
	bridge, err := exec.LookPath("systemd-stdio-bridge")
	if err != nil {
		t.Fatal("systemd-stdio-bridge not found: apt-get install systemd")
	}
	b := testbus.Start(t)
	conn, err := bus.Connect(bus.ExecAddress(bridge, "--bus-path="+b.Address))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var id string
	if err := conn.BusObject().Call("org.freedesktop.DBus.GetId", 0).Store(&id); err != nil {
		t.Fatalf("GetId through the bridge: %v", err)
	}
	if len(id) != 32 {
		t.Errorf("bus ID %q through the bridge, want 32 hex digits", id)
	}
	var names []string
	if err := conn.BusObject().Call("org.freedesktop.DBus.ListNames", 0).Store(&names); err != nil || !slices.Contains(names, "org.freedesktop.DBus") {
		t.Errorf("ListNames through the bridge = %v, %v", names, err)
	}
}

// TestConnectExecNamesFailure: a command that is not a bus gives an error naming the
// command and what it printed on standard error.
func TestConnectExecNamesFailure(t *testing.T) {
	_, err := bus.Connect(bus.ExecAddress("/bin/sh", "-c", "echo no such host >&2; exit 255"))
	if err == nil {
		t.Fatal("a command that exits at once made a connection")
	}
	for _, want := range []string{"/bin/sh -c", "no such host"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}
