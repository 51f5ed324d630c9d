// Package integration runs the hostkit daemons on a private dbus-daemon with the project's
// own policy files, and talks to them as root and as an unprivileged user.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/hostkit/hostkit/internal/repo"
	"github.com/hostkit/hostkit/internal/testbus"
)

const (
	hwName = "org.hostkit.Hardware1"
	hwPath = dbus.ObjectPath("/org/hostkit/Hardware1")
)

// hwd is one test's setup: a private bus, a config file, and the binaries.
type hwd struct {
	bus    *testbus.Bus
	config string
	root   string
}

func dump(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(repo.SMBIOSDumpsT(t), name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("SMBIOS dump %s missing: the tests need it among the dumps (see repo.SMBIOSDumps)", p)
	}
	return p
}

// setup starts a bus and writes a config naming dumpName with the given idle timeout.
func setup(t *testing.T, dumpName, idle string) *hwd {
	t.Helper()
	root := repo.RootT(t)
	h := &hwd{bus: testbus.Start(t), root: root, config: filepath.Join(t.TempDir(), "hwd.conf")}
	h.writeConfig(t, dumpName, idle)
	return h
}

func (h *hwd) writeConfig(t *testing.T, dumpName, idle string) {
	t.Helper()
	text := "[Hardware]\nSMBIOSDump=" + dump(t, dumpName) + "\n[Daemon]\nIdleTimeoutSec=" + idle + "\n"
	if err := os.WriteFile(h.config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// argv is the daemon's command line on the private bus.
func (h *hwd) argv(t *testing.T) []string {
	return []string{h.bus.Binary(t, "hostkit-hwd"), "--bus=" + h.bus.Address, "--config=" + h.config}
}

func (h *hwd) start(t *testing.T) *daemon { return startDaemon(t, h.bus, hwName, h.argv(t)) }

func (h *hwd) connect(t *testing.T) *dbus.Conn { return connect(t, h.bus) }

func (h *hwd) run(t *testing.T, uid, gid uint32, name string, args ...string) (string, error) {
	return runBinary(t, h.bus, uid, gid, name, args...)
}

func hasOwner(conn *dbus.Conn) bool { return ownsName(conn, hwName) }

// report is the part of the JSON report the tests look at.
type report struct {
	Available bool `json:"available"`
	System    struct {
		Manufacturer *string `json:"manufacturer"`
		Serial       *string `json:"serial"`
		UUID         *string `json:"uuid"`
	} `json:"system"`
	Memory struct {
		Arrays []struct {
			Slots   *int `json:"slots"`
			Devices []struct {
				Serial *string `json:"serial"`
			} `json:"devices"`
		} `json:"arrays"`
	} `json:"memory"`
}

func TestHardwareProperties(t *testing.T) {
	h := setup(t, "SuperMicro-X9DBL.bin", "infinity")
	h.start(t)
	obj := h.connect(t).Object(hwName, hwPath)
	want := map[string]any{
		"Available":        true,
		"SystemVendor":     "Thomas-Krenn.AG",
		"SystemProduct":    "X9DBL-3F/X9DBL-iF",
		"BIOSVendor":       "American Megatrends Inc.",
		"BIOSVersion":      "3.00",
		"MemorySlots":      uint32(6),
		"ProcessorSockets": uint32(2),
		"Source":           dump(t, "SuperMicro-X9DBL.bin"),
	}
	for name, v := range want {
		got, err := obj.GetProperty(hwName + "." + name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got.Value() != v {
			t.Errorf("%s = %#v, want %#v", name, got.Value(), v)
		}
	}
	var all map[string]dbus.Variant
	if err := obj.Call("org.freedesktop.DBus.Properties.GetAll", 0, hwName).Store(&all); err != nil {
		t.Fatal(err)
	}
	used, installed := all["MemorySlotsUsed"].Value().(uint32), all["MemoryInstalledBytes"].Value().(uint64)
	if used == 0 || used > 6 || installed == 0 || installed > all["MemoryMaxBytes"].Value().(uint64) {
		t.Errorf("memory: %d slots used, %d bytes installed, %v max: not a plausible report", used, installed, all["MemoryMaxBytes"])
	}
	if err := obj.SetProperty(hwName+".SystemVendor", dbus.MakeVariant("x")); err == nil {
		t.Error("setting a read-only property succeeded")
	}
}

func TestDescribeMatchesReport(t *testing.T) {
	h := setup(t, "SuperMicro-X9DBL.bin", "infinity")
	h.start(t)
	var described string
	if err := h.connect(t).Object(hwName, hwPath).Call(hwName+".Describe", 0).Store(&described); err != nil {
		t.Fatal(err)
	}
	offline, err := h.run(t, 0, 0, "hostkit-hwd", "report", "--json", "--from-dump", dump(t, "SuperMicro-X9DBL.bin"))
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]any
	if err := json.Unmarshal([]byte(described), &a); err != nil {
		t.Fatalf("Describe() is not JSON: %v", err)
	}
	if err := json.Unmarshal([]byte(offline), &b); err != nil {
		t.Fatalf("report --json is not JSON: %v", err)
	}
	// The service adds this machine's parts to the dump's tables; report --from-dump
	// does not, as a dump may come from another machine.
	for _, live := range []string{"cpu", "disks", "links"} {
		if a[live] == nil || b[live] != nil {
			t.Errorf("%s in Describe() %v, in report --from-dump %v; want it only in Describe()", live, a[live], b[live])
		}
		delete(a, live)
		delete(b, live)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Errorf("Describe() as root differs from `hostkit-hwd report --json`:\n%s\n%s", ja, jb)
	}
}

func TestIntrospectionIsTheShippedXML(t *testing.T) {
	h := setup(t, "SuperMicro-X9DBL.bin", "infinity")
	h.start(t)
	checkIntrospection(t, h.connect(t), h.root, hwName, hwPath)
}

func TestUnprivilegedCallerGetsNoSerials(t *testing.T) {
	uid, gid := testbus.Unprivileged(t)
	h := setup(t, "SuperMicro-X9DBL.bin", "infinity")
	h.start(t)

	var asRoot, asUser report
	out, err := h.run(t, 0, 0, "hostkitctl", "--bus="+h.bus.Address, "hw", "report", "--json")
	if err != nil || json.Unmarshal([]byte(out), &asRoot) != nil {
		t.Fatalf("hostkitctl as root: %v\n%s", err, out)
	}
	out, err = h.run(t, uid, gid, "hostkitctl", "--bus="+h.bus.Address, "hw", "report", "--json")
	if err != nil || json.Unmarshal([]byte(out), &asUser) != nil {
		t.Fatalf("hostkitctl as %s: %v\n%s", testbus.TestUser, err, out)
	}
	if asRoot.System.Serial == nil || *asRoot.System.Serial != "9000116105" || asRoot.System.UUID == nil {
		t.Errorf("root sees serial %v uuid %v, want 9000116105 and a UUID", asRoot.System.Serial, asRoot.System.UUID)
	}
	if asUser.System.Serial != nil || asUser.System.UUID != nil {
		t.Errorf("%s sees serial %q uuid %q, want null", testbus.TestUser, deref(asUser.System.Serial), deref(asUser.System.UUID))
	}
	if asUser.System.Manufacturer == nil || *asUser.System.Manufacturer != "Thomas-Krenn.AG" {
		t.Errorf("%s sees manufacturer %v: the rest of the report must stay", testbus.TestUser, asUser.System.Manufacturer)
	}
	for _, a := range asUser.Memory.Arrays {
		for _, d := range a.Devices {
			if d.Serial != nil {
				t.Errorf("%s sees a DIMM serial %q", testbus.TestUser, *d.Serial)
			}
		}
	}

	out, err = h.run(t, uid, gid, "hostkitctl", "--bus="+h.bus.Address, "hw", "serial")
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") && !strings.Contains(err.Error(), "not authorized") {
		t.Errorf("hw serial as %s: %q, %v; want access denied", testbus.TestUser, out, err)
	}
	out, err = h.run(t, 0, 0, "hostkitctl", "--bus="+h.bus.Address, "hw", "serial")
	if err != nil || strings.TrimSpace(out) != "9000116105" {
		t.Errorf("hw serial as root: %q, %v", out, err)
	}
	if _, err := h.run(t, uid, gid, "hostkitctl", "--bus="+h.bus.Address, "hw", "reload"); err == nil || !strings.Contains(err.Error(), "not authorized") {
		t.Errorf("hw reload as %s: %v; want refused, not authorized (it needs polkit)", testbus.TestUser, err)
	}
}

func TestReloadEmitsPropertiesChanged(t *testing.T) {
	h := setup(t, "SuperMicro-X9DBL.bin", "infinity")
	h.start(t)
	conn := h.connect(t)
	if err := conn.AddMatchSignal(dbus.WithMatchObjectPath(hwPath), dbus.WithMatchInterface("org.freedesktop.DBus.Properties")); err != nil {
		t.Fatal(err)
	}
	signals := make(chan *dbus.Signal, 10)
	conn.Signal(signals)

	h.writeConfig(t, "Lenovo-ThinkPad-T480.bin", "infinity")
	if err := conn.Object(hwName, hwPath).Call(hwName+".Reload", 0).Err; err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-signals:
		if s.Name != "org.freedesktop.DBus.Properties.PropertiesChanged" || len(s.Body) != 3 || s.Body[0] != hwName {
			t.Fatalf("unexpected signal %v", s)
		}
		changed, ok := s.Body[1].(map[string]dbus.Variant)
		if !ok {
			t.Fatalf("PropertiesChanged carries %T, want a{sv}", s.Body[1])
		}
		if v := changed["SystemVendor"]; v.Value() != "LENOVO" {
			t.Errorf("PropertiesChanged SystemVendor = %v, want LENOVO (all: %v)", v, changed)
		}
		if _, ok := changed["Available"]; ok {
			t.Errorf("PropertiesChanged names Available, which did not change")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no PropertiesChanged within 5 s of Reload()")
	}

	// A bad configuration is refused with its place, and the report stays.
	if err := os.WriteFile(h.config, []byte("[Hardware]\nSMBIOSDumb=/x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := conn.Object(hwName, hwPath).Call(hwName+".Reload", 0).Err
	if err == nil || !strings.Contains(err.Error(), h.config+":2:") {
		t.Errorf("Reload with a bad config: %v, want an error naming %s:2", err, h.config)
	}
	v, _ := conn.Object(hwName, hwPath).GetProperty(hwName + ".SystemVendor")
	if v.Value() != "LENOVO" {
		t.Errorf("after a refused reload SystemVendor = %v, want LENOVO kept", v)
	}
}

func TestIdleExit(t *testing.T) {
	h := setup(t, "SuperMicro-X9DBL.bin", "1s")
	cmd := h.start(t)
	checkIdleExit(t, cmd, h.connect(t), hwName, hwPath, "Describe")
}

func TestBusActivation(t *testing.T) {
	h := setup(t, "SuperMicro-X9DBL.bin", "1s")
	h.bus.AddService(t, hwName, h.argv(t)...)
	conn := h.connect(t)
	if hasOwner(conn) {
		t.Fatal("name owned before any call")
	}
	pid := func() uint32 {
		var p uint32
		if err := conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixProcessID", 0, hwName).Store(&p); err != nil {
			t.Fatalf("no owner of %s: %v", hwName, err)
		}
		return p
	}
	var v string
	if err := conn.Object(hwName, hwPath).Call(hwName+".Describe", 0).Store(&v); err != nil {
		t.Fatalf("Describe() did not activate the service: %v", err)
	}
	first := pid()
	if !testbus.Eventually(10*time.Second, func() bool { return !hasOwner(conn) }) {
		t.Fatal("activated service did not exit when idle")
	}
	if !testbus.Eventually(5*time.Second, func() bool { return syscall.Kill(int(first), 0) != nil }) {
		t.Errorf("process %d still alive after releasing the name", first)
	}
	if err := conn.Object(hwName, hwPath).Call(hwName+".Describe", 0).Store(&v); err != nil {
		t.Fatalf("second Describe() did not activate the service again: %v", err)
	}
	if second := pid(); second == first {
		t.Errorf("second activation has the same pid %d", first)
	}
	testbus.Eventually(10*time.Second, func() bool { return !hasOwner(conn) })
}

func TestPolicyLetsOnlyRootOwnTheName(t *testing.T) {
	uid, gid := testbus.Unprivileged(t)
	h := setup(t, "SuperMicro-X9DBL.bin", "infinity")
	// No config (defaults): the test user cannot read the test's temporary directory.
	out, err := h.run(t, uid, gid, "hostkit-hwd", "--bus="+h.bus.Address, "--config=/nonexistent/hwd.conf")
	if err == nil || !strings.Contains(err.Error(), "not allowed to own the service \"org.hostkit.Hardware1\"") {
		t.Errorf("hostkit-hwd as %s: %q, %v; want the bus policy's refusal to let it own the name", testbus.TestUser, out, err)
	}
}

func TestBadConfigNamesFileAndLine(t *testing.T) {
	h := setup(t, "SuperMicro-X9DBL.bin", "infinity")
	if err := os.WriteFile(h.config, []byte("[Daemon]\n\nIdleTimeoutSec=soon\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := h.run(t, 0, 0, "hostkit-hwd", "--bus="+h.bus.Address, "--config="+h.config)
	if err == nil || !strings.Contains(err.Error(), h.config+":3:") {
		t.Errorf("bad config: %v, want exit 1 naming %s:3", err, h.config)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

// command is what one run of a project binary did.
type command struct {
	stdout, stderr string
	code           int // exit status; -1 when killed after the timeout
}

// runCommand runs a project binary, copied into sh, as root with stdin (nil: none), and
// kills it after 20 s: the hostile inputs below once made the commands hang.
func runCommand(t *testing.T, sh *testbus.Shared, stdin io.Reader, name string, args ...string) command {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sh.Binary(t, name), args...)
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errOut
	err := cmd.Run()
	c := command{stdout: out.String(), stderr: errOut.String(), code: cmd.ProcessState.ExitCode()}
	if ctx.Err() != nil {
		t.Errorf("%s %q still running after 20 s; killed", name, args)
		c.code = -1
	} else if err != nil && c.code <= 0 {
		t.Fatalf("%s %q: %v", name, args, err)
	}
	return c
}

// TestReportHostileInput runs `hostkit-hwd report` on the inputs of issue 10: each ends
// at once with the exit status and message it should, and control characters from the
// input never reach the terminal.
func TestReportHostileInput(t *testing.T) {
	sh := testbus.Share(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sysfs := filepath.Join(dir, "sysfs")
	good, err := os.ReadFile(dump(t, "SuperMicro-X9DBL.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(sysfs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sysfs, "smbios_entry_point"), good[:32], 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(sysfs, "DMI")); err != nil {
		t.Fatal(err)
	}
	swallow := filepath.Join(dir, "swallow.bin")
	bad := append([]byte(nil), good...)
	bad[0x21] = 0xFF // the first structure's length: it swallows its neighbours
	if err := os.WriteFile(swallow, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	escName := filepath.Join(dir, "\x1b[2J\x1b]0;owned\a.bin")
	if err := os.WriteFile(escName, good, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		stdin  []byte
		args   []string
		code   int
		stdout string // in stdout
		stderr string // in stderr
	}{
		{"FIFO without a writer", nil, []string{"--from-dump", fifo}, 1, "", "expected anchor"},
		{"sysfs DMI is /dev/zero", nil, []string{"--sysfs", sysfs}, 1, "", "DMI: not a regular file but a character device"},
		{"structure swallows its neighbours", nil, []string{"--from-dump", swallow}, 0, "115 structures, but the 4631-byte table holds 113", ""},
		{"dump from a pipe", good, []string{"--from-dump", "/dev/stdin"}, 0, "System Vendor: Thomas-Krenn.AG", ""},
		{"empty dump name", nil, []string{"--from-dump", ""}, 64, "", "--from-dump needs a file name"},
		{"dump and sysfs: the dump, as documented", nil, []string{"--from-dump", swallow, "--sysfs", sysfs}, 0, "Source: " + swallow, ""},
		{"empty sysfs directory", nil, []string{"--sysfs", ""}, 64, "", "--sysfs needs a directory"},
		{"unknown flag", nil, []string{"--frobnicate"}, 64, "", "flag provided but not defined"},
		{"control characters in the file name", nil, []string{"--from-dump", escName}, 0, `Source: ` + filepath.Join(dir, `\x1b[2J\x1b]0;owned\a.bin`), ""},
		{"control characters in an error", nil, []string{"--from-dump", escName + "x"}, 1, "", `\x1b[2J\x1b]0;owned\a.binx`},
	}
	for i, c := range cases {
		var stdin io.Reader
		if c.stdin != nil {
			stdin = bytes.NewReader(c.stdin)
		}
		r := runCommand(t, sh, stdin, "hostkit-hwd", append([]string{"report"}, c.args...)...)
		if r.code != c.code || !strings.Contains(r.stdout, c.stdout) || !strings.Contains(r.stderr, c.stderr) {
			t.Errorf("case %d (%s): exit %d, stdout %q, stderr %q; want exit %d, %q in stdout, %q in stderr",
				i, c.name, r.code, clipText(r.stdout), r.stderr, c.code, c.stdout, c.stderr)
		}
		if strings.ContainsAny(r.stdout+r.stderr, "\x1b\a") {
			t.Errorf("case %d (%s): a control character reached the terminal: %q %q", i, c.name, clipText(r.stdout), r.stderr)
		}
	}
}

// TestReportNothingDecodedFails: a dump whose table address lies past its end gives the
// report that says so, and exit status 1.
func TestReportNothingDecodedFails(t *testing.T) {
	data, err := os.ReadFile(dump(t, "SuperMicro-X9DBL.bin"))
	if err != nil {
		t.Fatal(err)
	}
	data[0x18], data[0x19], data[0x1A], data[0x1B] = 0, 0, 0x10, 0 // table at 1 MiB
	data[0x15] = 0
	data[0x15] = -checksum(data[0x10:0x1F])
	data[4] = 0
	data[4] = -checksum(data[:0x1F])
	path := filepath.Join(t.TempDir(), "far.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCommand(t, testbus.Share(t), nil, "hostkit-hwd", "report", "--from-dump", path)
	if r.code != 1 || !strings.Contains(r.stdout, "past the end of the file") || !strings.Contains(r.stderr, "nothing could be decoded") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, the warning and the error", r.code, r.stdout, r.stderr)
	}
}

func checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

func clipText(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// TestPlaceholderSerialIsNoSerial: the MSI board's firmware says "To be filled by
// O.E.M." where the serial number belongs. The report shows null with the placeholder in
// raw (to root), and GetHardwareSerial refuses, naming the placeholder.
func TestPlaceholderSerialIsNoSerial(t *testing.T) {
	h := setup(t, "MSI-MS-7816.bin", "infinity")
	h.start(t)
	obj := h.connect(t).Object(hwName, hwPath)
	var described string
	if err := obj.Call(hwName+".Describe", 0).Store(&described); err != nil {
		t.Fatal(err)
	}
	var r struct {
		System struct {
			Serial *string           `json:"serial"`
			Raw    map[string]string `json:"raw"`
		} `json:"system"`
	}
	if err := json.Unmarshal([]byte(described), &r); err != nil {
		t.Fatal(err)
	}
	if r.System.Serial != nil || r.System.Raw["serial"] != "To be filled by O.E.M." {
		t.Errorf("system serial %q, raw %v; want null and the placeholder in raw", deref(r.System.Serial), r.System.Raw)
	}
	var serial string
	err := obj.Call(hwName+".GetHardwareSerial", 0).Store(&serial)
	if err == nil || !strings.Contains(err.Error(), `only the placeholder "To be filled by O.E.M."`) {
		t.Errorf("GetHardwareSerial = %q, %v; want NoSerial naming the placeholder", serial, err)
	}
}

// exitCode is the exit status in err from runBinary, 0 for nil.
func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("not an exit status: %v", err)
	return -1
}

// TestAdvise asks the memory upgrade advisor about the W510's tables, through the bus
// as the unprivileged user and offline: the same advice both ways, the exit statuses of
// the contract, and a request naming a file refused by the service.
func TestAdvise(t *testing.T) {
	uid, gid := testbus.Unprivileged(t)
	h := setup(t, "Lenovo-ThinkPad-W510.bin", "infinity")
	h.start(t)
	ctl := func(args ...string) (string, int) {
		out, err := h.run(t, uid, gid, "hostkitctl", append([]string{"--bus=" + h.bus.Address, "hw", "advise"}, args...)...)
		return out, exitCode(t, err)
	}
	cases := []struct {
		args []string
		code int
		want string // in stdout
	}{
		{[]string{"--add", "2x4GiB"}, 0, "Suggested slots: DIMM 2, DIMM 4"},
		{[]string{"--add", "2x4GiB", "--speed", "1600"}, 1, "will run at 1334 MT/s"},
		{[]string{"--add", "2x8GiB", "--json"}, 2, `"verdict": "does-not-fit"`},
		{[]string{"--add", "2x8GiB", "--type", "DDR9"}, 64, ""},
		{[]string{"--add"}, 64, ""},
	}
	for i, c := range cases {
		out, code := ctl(c.args...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("case %d (%q): exit %d, output %q; want exit %d and %q", i, c.args, code, out, c.code, c.want)
		}
	}

	// The bus and the offline command give the same advice.
	viaBus, code := ctl("--add", "2x4GiB", "--type", "DDR3", "--json")
	offline, err := h.run(t, 0, 0, "hostkit-hwd", "advise", "--from-dump", dump(t, "Lenovo-ThinkPad-W510.bin"), "--add", "2x4GiB", "--type", "DDR3", "--json")
	if code != 0 || err != nil || viaBus != offline {
		t.Errorf("advice through the bus (exit %d):\n%s\ndiffers from hostkit-hwd advise (%v):\n%s", code, viaBus, err, offline)
	}
	var advice struct {
		Verdict        string   `json:"verdict"`
		Slots          int      `json:"slots"`
		SlotsFree      int      `json:"slots_free"`
		SuggestedSlots []string `json:"suggested_slots"`
		Reasons        []struct {
			Rule, Level, Message string
		} `json:"reasons"`
	}
	if err := json.Unmarshal([]byte(viaBus), &advice); err != nil {
		t.Fatal(err)
	}
	if advice.Verdict != "fits" || advice.Slots != 4 || advice.SlotsFree != 2 || len(advice.Reasons) != 11 || advice.Reasons[0].Rule != "free-slots" {
		t.Errorf("advice %+v: want fits, 4 slots, 2 free, 11 reasons from free-slots on", advice)
	}

	// The service reads no file a caller names.
	err = h.connect(t).Object(hwName, hwPath).Call(hwName+".Advise", 0, "--from-dump /etc/shadow --add 1x4GiB").Err
	if err == nil || !strings.Contains(err.Error(), "advises on the tables it serves") {
		t.Errorf("Advise with --from-dump: %v, want InvalidArgs saying the service advises on its own tables", err)
	}
	var e dbus.Error
	if !errors.As(err, &e) || e.Name != "org.freedesktop.DBus.Error.InvalidArgs" {
		t.Errorf("Advise with --from-dump: error %v, want org.freedesktop.DBus.Error.InvalidArgs", err)
	}

	// Offline, a dump that cannot be read is "cannot tell", never a status that
	// could be read as an answer.
	_, err = h.run(t, 0, 0, "hostkit-hwd", "advise", "--from-dump", "/nonexistent.bin", "--add", "1x4GiB")
	if code := exitCode(t, err); code != 3 || !strings.Contains(err.Error(), "/nonexistent.bin") {
		t.Errorf("hostkit-hwd advise on a missing dump: exit %d, %v; want 3 naming the file", code, err)
	}
}
