package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/hostkit/hostkit/internal/repo"
	"github.com/hostkit/hostkit/internal/testbus"
	"github.com/hostkit/hostkit/services/bootorder"
)

const (
	boName = "org.hostkit.BootOrder1"
	boPath = dbus.ObjectPath("/org/hostkit/BootOrder1")
)

// bootorderd is one test's setup: a private bus, a configuration, a plan file and a
// state directory for hostkit-bootorder.
type bootorderd struct {
	bus        *testbus.Bus
	root       string
	config     string
	plan       string
	state      string
	systemdBus string // --systemd-bus; the private bus (where no systemd is) unless set
}

func priorityOf(n int) *int { return &n }

// storyPlan is the story as the planner writes it: sshd at 54 before nginx at 55,
// rc.local last.
func storyPlan() *bootorder.Plan {
	return &bootorder.Plan{
		Mode: bootorder.ModeDropIns,
		Units: []bootorder.Unit{
			{Unit: "sshd.service", Source: "/etc/init.d/sshd", Kind: bootorder.KindSysV, Priority: priorityOf(54),
				Targets: []string{"multi-user.target"}, Before: []string{"nginx.service", "rc-local.service"},
				Why: []bootorder.Reason{{Fact: "priority 54", Path: "/etc/rc3.d/S54sshd", Why: "S54 link in /etc/rc3.d"}}},
			{Unit: "nginx.service", Source: "/etc/init.d/nginx", Kind: bootorder.KindSysV, Priority: priorityOf(55),
				Targets: []string{"multi-user.target"}, After: []string{"sshd.service"}, Before: []string{"rc-local.service"},
				Why: []bootorder.Reason{
					{Fact: "priority 55", Path: "/etc/init.d/nginx", Line: 2, Why: "chkconfig: 2345 55 25"},
					{Fact: "after sshd.service", Path: "/etc/rc3.d/S54sshd", Why: "nearest lower priority 54"},
				}},
			{Unit: "rc-local.service", Source: "/etc/rc.local", Kind: bootorder.KindRCLocal, Priority: priorityOf(99),
				Targets: []string{"multi-user.target"}, After: []string{"nginx.service", "sshd.service"}},
		},
		Warnings: []bootorder.Warning{{Path: "/etc/init.d/nginx", Line: 2, Message: "chkconfig header says 55, the S55 link agrees"}},
	}
}

// setupBootOrder starts a bus and writes a configuration with the given idle timeout (and
// a [Rules] section, which the daemon must accept although the generator reads it) and
// the plan p.
func setupBootOrder(t *testing.T, idle string, p *bootorder.Plan) *bootorderd {
	t.Helper()
	dir := t.TempDir()
	b := &bootorderd{bus: testbus.Start(t), root: repo.RootT(t),
		config: filepath.Join(dir, "boot-order.conf"), plan: filepath.Join(dir, "plan.json"), state: filepath.Join(dir, "state")}
	b.systemdBus = b.bus.Address
	text := "[Rules]\nOrder=sshd.service < nginx.service\n[Daemon]\nIdleTimeoutSec=" + idle + "\n"
	if err := os.WriteFile(b.config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.plan, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *bootorderd) argv(t *testing.T) []string {
	return []string{b.bus.Binary(t, "hostkit-bootorder"), "--bus=" + b.bus.Address, "--config=" + b.config,
		"--plan=" + b.plan, "--state-dir=" + b.state, "--systemd-bus=" + b.systemdBus}
}

func (b *bootorderd) start(t *testing.T) *daemon {
	return startDaemon(t, b.bus, boName, b.argv(t))
}

func (b *bootorderd) connect(t *testing.T) *dbus.Conn { return connect(t, b.bus) }

func (b *bootorderd) run(t *testing.T, uid, gid uint32, name string, args ...string) (string, error) {
	return runBinary(t, b.bus, uid, gid, name, args...)
}

func bootID(t *testing.T) string {
	t.Helper()
	id, err := bootorder.ReadBootID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestBootOrderProperties(t *testing.T) {
	p := storyPlan()
	b := setupBootOrder(t, "infinity", p)
	b.start(t)
	obj := b.connect(t).Object(boName, boPath)
	want := map[string]any{
		"Mode":             "drop-ins",
		"PlanSource":       b.plan,
		"Units":            uint32(3),
		"Edges":            uint32(p.Edges()),
		"Warnings":         uint32(1),
		"BootID":           bootID(t),
		"LastVerification": uint64(0),
		"Checked":          uint32(0),
		"Violations":       uint32(0),
		"NotRun":           uint32(0),
	}
	var all map[string]dbus.Variant
	if err := obj.Call("org.freedesktop.DBus.Properties.GetAll", 0, boName).Store(&all); err != nil {
		t.Fatal(err)
	}
	for name, v := range want {
		if got := all[name].Value(); got != v {
			t.Errorf("%s = %#v, want %#v", name, got, v)
		}
	}
	if len(all) != len(want) {
		t.Errorf("GetAll returned %d properties, the test knows %d: %v", len(all), len(want), all)
	}
	if p.Edges() != 3 {
		t.Errorf("the story plan has %d edges, want 3 (sshd<nginx, sshd<rc.local, nginx<rc.local)", p.Edges())
	}
	if err := obj.SetProperty(boName+".Mode", dbus.MakeVariant("wrappers")); err == nil {
		t.Error("setting a read-only property succeeded")
	}
}

func TestBootOrderPlanAndExplain(t *testing.T) {
	uid, gid := testbus.Unprivileged(t)
	p := storyPlan()
	b := setupBootOrder(t, "infinity", p)
	b.start(t)
	obj := b.connect(t).Object(boName, boPath)

	var data string
	if err := obj.Call(boName+".Plan", 0).Store(&data); err != nil {
		t.Fatal(err)
	}
	var served bootorder.Plan
	if err := json.Unmarshal([]byte(data), &served); err != nil {
		t.Fatalf("Plan() is not a plan: %v\n%s", err, data)
	}
	if !reflect.DeepEqual(&served, p) {
		t.Errorf("Plan() differs from the plan file:\n%s", data)
	}

	var text string
	if err := obj.Call(boName+".Explain", 0, "nginx.service").Store(&text); err != nil {
		t.Fatal(err)
	}
	if local, _ := bootorder.Explain(p, "nginx.service"); text != local {
		t.Errorf("Explain(nginx.service) over the bus:\n%s\ndiffers from bootorder.Explain:\n%s", text, local)
	}
	err := obj.Call(boName+".Explain", 0, "httpd.service").Store(&text)
	if dbusErr, ok := err.(dbus.Error); !ok || dbusErr.Name != boName+".Error.NoSuchUnit" || !strings.Contains(dbusErr.Error(), "httpd.service") {
		t.Errorf("Explain(httpd.service): %v, want %s.Error.NoSuchUnit naming the unit", err, boName)
	}

	// Reading is open to everyone: hostkitctl as the unprivileged user.
	out, err := b.run(t, uid, gid, "hostkitctl", "--bus="+b.bus.Address, "boot", "plan")
	if err != nil {
		t.Fatalf("boot plan as %s: %v", testbus.TestUser, err)
	}
	for _, w := range []string{"UNIT", "PRIORITY", "TARGETS", "AFTER", "nginx.service     55        multi-user.target  sshd.service\n",
		"/etc/init.d/nginx:2: chkconfig header says 55"} {
		if !strings.Contains(out, w) {
			t.Errorf("boot plan lacks %q:\n%s", w, out)
		}
	}
	out, err = b.run(t, uid, gid, "hostkitctl", "--bus="+b.bus.Address, "boot", "plan", "--json")
	var viaCtl bootorder.Plan
	if err != nil || json.Unmarshal([]byte(out), &viaCtl) != nil || !reflect.DeepEqual(&viaCtl, p) {
		t.Errorf("boot plan --json: %v\n%s", err, out)
	}
	out, err = b.run(t, uid, gid, "hostkitctl", "--bus="+b.bus.Address, "boot", "explain", "nginx")
	if err != nil || !strings.Contains(out, "sshd.service (priority 54): nearest lower priority 54 (/etc/rc3.d/S54sshd)") {
		t.Errorf("boot explain nginx: %v\n%s", err, out)
	}
	_, err = b.run(t, uid, gid, "hostkitctl", "--bus="+b.bus.Address, "boot", "explain", "httpd.service")
	if err == nil || !strings.Contains(err.Error(), "hostkitctl boot plan") {
		t.Errorf("boot explain httpd.service: %v, want exit 1 suggesting `hostkitctl boot plan`", err)
	}
}

func TestBootOrderIntrospectionIsTheShippedXML(t *testing.T) {
	b := setupBootOrder(t, "infinity", storyPlan())
	b.start(t)
	checkIntrospection(t, b.connect(t), b.root, boName, boPath)
}

func TestBootOrderVerifyWithoutSystemd(t *testing.T) {
	b := setupBootOrder(t, "infinity", storyPlan())
	b.start(t)
	obj := b.connect(t).Object(boName, boPath)

	var data string
	err := obj.Call(boName+".Verify", 0).Store(&data)
	dbusErr, ok := err.(dbus.Error)
	if !ok || dbusErr.Name != boName+".Error.NoSystemd" || !strings.Contains(dbusErr.Error(), b.bus.Address) ||
		!strings.Contains(dbusErr.Error(), "org.freedesktop.systemd1") {
		t.Errorf("Verify() without systemd: %v, want %s.Error.NoSystemd naming the bus %s", err, boName, b.bus.Address)
	}
	err = obj.Call(boName+".LastVerification", 0).Store(&data)
	if dbusErr, ok := err.(dbus.Error); !ok || dbusErr.Name != boName+".Error.NotVerified" {
		t.Errorf("LastVerification() before any: %v, want %s.Error.NotVerified", err, boName)
	}
	if v, _ := obj.GetProperty(boName + ".LastVerification"); v.Value() != uint64(0) {
		t.Errorf("LastVerification = %v after a failed Verify(), want 0", v)
	}

	_, err = b.run(t, 0, 0, "hostkitctl", "--bus="+b.bus.Address, "boot", "verify")
	if err == nil || !strings.Contains(err.Error(), "org.freedesktop.systemd1") {
		t.Errorf("hostkitctl boot verify without systemd: %v, want exit 1 saying systemd is not there", err)
	}
	_, err = b.run(t, 0, 0, "hostkit-bootorder", "verify", "--plan="+b.plan, "--state-dir="+b.state, "--systemd-bus="+b.bus.Address)
	if err == nil || !strings.Contains(err.Error(), b.bus.Address) || !strings.Contains(err.Error(), "org.freedesktop.systemd1") {
		t.Errorf("hostkit-bootorder verify without systemd: %v, want exit 1 naming the bus", err)
	}
}

// userSystemd starts a real systemd, as a user manager (`systemd --user`, which may run
// without being PID 1), with the given units, and returns the address of the bus it
// serves org.freedesktop.systemd1 on: its own dbus.socket in XDG_RUNTIME_DIR. systemd
// refuses to run unless /run/systemd/system exists, which would tell every other program
// on the host that systemd is init; so it runs in a mount namespace of its own with a
// tmpfs over /run/systemd.
func userSystemd(t *testing.T, units map[string]string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test must run as root: it runs systemd in a mount namespace")
	}
	dir := t.TempDir()
	runtime, unitDir := filepath.Join(dir, "run"), filepath.Join(dir, "config", "systemd", "user")
	for _, d := range []string{runtime, unitDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range units {
		if err := os.WriteFile(filepath.Join(unitDir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	address := "unix:path=" + filepath.Join(runtime, "bus")
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-ec",
		"mount -t tmpfs tmpfs /run/systemd; mkdir /run/systemd/system; exec /lib/systemd/systemd --user")
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtime, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"HOME="+dir, "DBUS_SESSION_BUS_ADDRESS="+address, "SYSTEMD_LOG_TARGET=console")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting systemd --user: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) // a user manager exits on SIGTERM, stopping its units
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	// The bus is socket-activated by the manager: a connection starts dbus-daemon, and the
	// manager then takes its name on it.
	if !testbus.Eventually(20*time.Second, func() bool {
		conn, err := dbus.Connect(address)
		if err != nil {
			return false
		}
		defer conn.Close()
		return ownsName(conn, "org.freedesktop.systemd1")
	}) {
		t.Fatalf("systemd --user did not appear on %s within 20 s", address)
	}
	return address
}

// TestBootOrderVerifyAgainstSystemd verifies a plan against a real systemd that ran three
// units: "slow" takes 0.5 s to come up; "ordered" is After= it; "unordered" is not, so it
// starts at once, as nginx did before sshd on the admin's box. A fourth planned unit does
// not exist.
func TestBootOrderVerifyAgainstSystemd(t *testing.T) {
	const oneshot = "[Service]\nType=oneshot\nRemainAfterExit=yes\n"
	address := userSystemd(t, map[string]string{
		"slow.service":      oneshot + "ExecStart=/bin/sleep 0.5\n",
		"ordered.service":   "[Unit]\nAfter=slow.service\n" + oneshot + "ExecStart=/bin/true\n",
		"unordered.service": oneshot + "ExecStart=/bin/true\n",
		"story.target":      "[Unit]\nWants=slow.service ordered.service unordered.service\n",
	})
	systemd, err := dbus.Connect(address)
	if err != nil {
		t.Fatal(err)
	}
	defer systemd.Close()
	manager := systemd.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1")
	if err := manager.Call("org.freedesktop.systemd1.Manager.StartUnit", 0, "story.target", "replace").Err; err != nil {
		t.Fatal(err)
	}
	if !testbus.Eventually(10*time.Second, func() bool {
		var path dbus.ObjectPath
		if manager.Call("org.freedesktop.systemd1.Manager.GetUnit", 0, "ordered.service").Store(&path) != nil {
			return false
		}
		v, err := systemd.Object("org.freedesktop.systemd1", path).GetProperty("org.freedesktop.systemd1.Unit.ActiveState")
		return err == nil && v.Value() == "active"
	}) {
		t.Fatal("ordered.service not active within 10 s")
	}

	sysv := func(name string, prio int, after ...string) bootorder.Unit {
		return bootorder.Unit{Unit: name, Source: "/etc/init.d/" + strings.TrimSuffix(name, ".service"), Kind: bootorder.KindSysV,
			Priority: priorityOf(prio), Targets: []string{"multi-user.target"}, After: after}
	}
	p := &bootorder.Plan{Mode: bootorder.ModeDropIns, Units: []bootorder.Unit{
		sysv("slow.service", 54),
		sysv("ordered.service", 55, "slow.service"),
		sysv("unordered.service", 55, "slow.service"),
		sysv("ghost.service", 56, "slow.service"),
	}}
	b := setupBootOrder(t, "infinity", p)
	b.systemdBus = address
	b.start(t)
	conn := b.connect(t)
	if err := conn.AddMatchSignal(dbus.WithMatchObjectPath(boPath), dbus.WithMatchInterface("org.freedesktop.DBus.Properties")); err != nil {
		t.Fatal(err)
	}
	signals := make(chan *dbus.Signal, 10)
	conn.Signal(signals)

	var data string
	if err := conn.Object(boName, boPath).Call(boName+".Verify", 0).Store(&data); err != nil {
		t.Fatal(err)
	}
	var v bootorder.Verification
	if err := json.Unmarshal([]byte(data), &v); err != nil {
		t.Fatalf("Verify() is not a verification: %v\n%s", err, data)
	}
	status := map[string]string{}
	for _, e := range v.Edges {
		status[e.First+" < "+e.Then] = e.Status
	}
	wantStatus := map[string]string{
		"slow.service < ordered.service":   bootorder.EdgeOK,
		"slow.service < unordered.service": bootorder.EdgeViolated,
		"slow.service < ghost.service":     bootorder.EdgeNotRun,
	}
	if !reflect.DeepEqual(status, wantStatus) || v.Checked != 2 || v.Violations != 1 {
		t.Errorf("Verify(): checked %d, violations %d, edges %v; want 2, 1, %v\n%s", v.Checked, v.Violations, status, wantStatus, data)
	}
	if len(v.NotRun) != 1 || v.NotRun[0].Unit != "ghost.service" || !strings.Contains(v.NotRun[0].Reason, "not found") {
		t.Errorf("not run: %+v, want ghost.service, not found", v.NotRun)
	}
	if v.BootID != bootID(t) || time.Since(v.At) > time.Minute {
		t.Errorf("boot %q at %v, want %q now", v.BootID, v.At, bootID(t))
	}

	select {
	case s := <-signals:
		changed := s.Body[1].(map[string]dbus.Variant)
		if changed["Violations"].Value() != uint32(1) || changed["Checked"].Value() != uint32(2) ||
			changed["LastVerification"].Value() != uint64(v.At.UnixMicro()) {
			t.Errorf("PropertiesChanged %v, want Violations 1, Checked 2, LastVerification %d", changed, v.At.UnixMicro())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no PropertiesChanged within 5 s of Verify()")
	}

	// The verification outlives the daemon, for the next activation in this boot.
	var last string
	if err := conn.Object(boName, boPath).Call(boName+".LastVerification", 0).Store(&last); err != nil || last != data {
		t.Errorf("LastVerification(): %v\n%s\nwant\n%s", err, last, data)
	}

	// The oneshot finds the same, exits 0 with violations and keeps its result.
	out, err := b.run(t, 0, 0, "hostkit-bootorder", "verify", "--json", "--plan="+b.plan, "--state-dir="+b.state, "--systemd-bus="+address)
	var once bootorder.Verification
	if err != nil || json.Unmarshal([]byte(out), &once) != nil || once.Checked != 2 || once.Violations != 1 {
		t.Errorf("hostkit-bootorder verify --json: %v\n%s", err, out)
	}
	out, err = b.run(t, 0, 0, "hostkit-bootorder", "verify", "--plan="+b.plan, "--state-dir="+b.state, "--systemd-bus="+address)
	if err != nil || !strings.Contains(out, "2 edges checked, 1 violation, 1 unit not run") ||
		!strings.Contains(out, "slow.service before unordered.service: unordered.service began starting at") {
		t.Errorf("hostkit-bootorder verify: %v\n%s", err, out)
	}
	var saved bootorder.Verification
	if raw, err := os.ReadFile(filepath.Join(b.state, "verification.json")); err != nil || json.Unmarshal(raw, &saved) != nil ||
		saved.At.Before(once.At) || saved.Violations != 1 {
		t.Errorf("state file: %v, at %v, %d violations; want the last oneshot's (after %v), 1 violation", err, saved.At, saved.Violations, once.At)
	}

	// Like `systemd-analyze verify`, hostkitctl exits 1 when it found violations.
	out, err = b.run(t, 0, 0, "hostkitctl", "--bus="+b.bus.Address, "boot", "verify")
	if err == nil || !strings.Contains(err.Error(), "violated 1 times") || !strings.Contains(out, "Violations:") {
		t.Errorf("hostkitctl boot verify: %v\n%s", err, out)
	}
}

// TestBootOrderServesTheVerificationOfThisBoot: a daemon started after the oneshot (bus
// activation, later in the boot) serves what the oneshot found.
func TestBootOrderServesTheVerificationOfThisBoot(t *testing.T) {
	b := setupBootOrder(t, "infinity", storyPlan())
	at := time.Now().UTC().Truncate(time.Second)
	saved := &bootorder.Verification{BootID: bootID(t), At: at, Checked: 3, Violations: 1,
		Edges: []bootorder.EdgeResult{}, NotRun: []bootorder.NotRun{{Unit: "x.service", Reason: "masked"}}, Notes: []string{}}
	data, _ := json.Marshal(saved)
	if err := os.MkdirAll(b.state, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.state, "verification.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	b.start(t)
	obj := b.connect(t).Object(boName, boPath)
	want := map[string]any{"LastVerification": uint64(at.UnixMicro()), "Checked": uint32(3), "Violations": uint32(1), "NotRun": uint32(1)}
	for name, w := range want {
		if v, err := obj.GetProperty(boName + "." + name); err != nil || v.Value() != w {
			t.Errorf("%s = %v (%v), want %v", name, v, err, w)
		}
	}
	var last string
	if err := obj.Call(boName+".LastVerification", 0).Store(&last); err != nil || last != string(data) {
		t.Errorf("LastVerification(): %v\n%s\nwant\n%s", err, last, data)
	}

	// A verification of another boot is not this boot's.
	saved.BootID = strings.Repeat("0", 32)
	data, _ = json.Marshal(saved)
	if err := os.WriteFile(filepath.Join(b.state, "verification.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	b2 := *b
	b2.bus = testbus.Start(t)
	b2.start(t)
	if v, _ := b2.connect(t).Object(boName, boPath).GetProperty(boName + ".LastVerification"); v.Value() != uint64(0) {
		t.Errorf("LastVerification = %v with another boot's verification saved, want 0", v)
	}
}

func TestBootOrderIdleExit(t *testing.T) {
	b := setupBootOrder(t, "1s", storyPlan())
	cmd := b.start(t)
	checkIdleExit(t, cmd, b.connect(t), boName, boPath, "Plan")
}

func TestBootOrderBusActivation(t *testing.T) {
	b := setupBootOrder(t, "1s", storyPlan())
	b.bus.AddService(t, boName, b.argv(t)...)
	conn := b.connect(t)
	if ownsName(conn, boName) {
		t.Fatal("name owned before any call")
	}
	var text string
	if err := conn.Object(boName, boPath).Call(boName+".Explain", 0, "sshd.service").Store(&text); err != nil {
		t.Fatalf("Explain() did not activate the service: %v", err)
	}
	if !testbus.Eventually(10*time.Second, func() bool { return !ownsName(conn, boName) }) {
		t.Fatal("activated service did not exit when idle")
	}
	if err := conn.Object(boName, boPath).Call(boName+".Plan", 0).Store(&text); err != nil {
		t.Fatalf("second call did not activate the service again: %v", err)
	}
	testbus.Eventually(10*time.Second, func() bool { return !ownsName(conn, boName) })
}

func TestBootOrderBadInputNamesTheFile(t *testing.T) {
	b := setupBootOrder(t, "infinity", storyPlan())
	if err := os.WriteFile(b.config, []byte("[Daemon]\n\nIdleTimeoutSec=soon\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := b.run(t, 0, 0, "hostkit-bootorder", b.argv(t)[1:]...)
	if err == nil || !strings.Contains(err.Error(), b.config+":3:") {
		t.Errorf("bad config: %v, want exit 1 naming %s:3", err, b.config)
	}
	if err := os.WriteFile(b.config, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.plan, []byte(`{"units": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = b.run(t, 0, 0, "hostkit-bootorder", b.argv(t)[1:]...)
	if err == nil || !strings.Contains(err.Error(), b.plan) {
		t.Errorf("bad plan: %v, want exit 1 naming %s", err, b.plan)
	}
}

// TestPlanCommandLine: `hostkit-bootorder plan` keeps control characters from the tree
// off the terminal, and a wrong command line exits 64.
func TestPlanCommandLine(t *testing.T) {
	sh := testbus.Share(t)
	root := t.TempDir()
	initd := filepath.Join(root, "etc/init.d")
	if err := os.MkdirAll(initd, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(initd, "\x1b[2J\x1b]0;owned\ax"), []byte("#!/bin/sh\n# chkconfig: 2345 10 90\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"plan", "--root", root}, 0, `/etc/init.d/\x1b[2J\x1b]0;owned\ax: the name`, ""},
		{[]string{"plan", "--root", root, "--json"}, 0, `"/etc/init.d/\u001b[2J\u001b]0;owned\u0007x"`, ""},
		{[]string{"plan"}, 64, "", "--root DIR is required"},
		{[]string{"plan", "--root", root, "--mode", "sideways"}, 64, "", `--mode "sideways"`},
		{[]string{"plan", "--root", root, "extra"}, 64, "", `unexpected argument "extra"`},
		{[]string{"verify", "--bogus"}, 64, "", "flag provided but not defined"},
		{[]string{"--bogus"}, 64, "", "flag provided but not defined"},
		{[]string{"plan", "--root", filepath.Join(root, "\x1b]0;missing")}, 1, "", `\x1b]0;missing`},
		{[]string{"verify", "--plan", fifo}, 1, "", "fifo: not a regular file but a FIFO"},
	}
	for i, c := range cases {
		r := runCommand(t, sh, nil, "hostkit-bootorder", c.args...)
		if r.code != c.code || !strings.Contains(r.stdout, c.stdout) || !strings.Contains(r.stderr, c.stderr) {
			t.Errorf("case %d (%q): exit %d, stdout %q, stderr %q; want exit %d, %q in stdout, %q in stderr",
				i, c.args, r.code, clipText(r.stdout), r.stderr, c.code, c.stdout, c.stderr)
		}
		if strings.ContainsAny(r.stdout+r.stderr, "\x1b\a") {
			t.Errorf("case %d (%q): a control character reached the terminal", i, c.args)
		}
	}
	for i, args := range [][]string{{"hw"}, {"hw", "bogus"}, {"hw", "serial", "x"}, {"boot", "explain"}, {"boot", "plan", "x"}, {"--bogus"}} {
		if r := runCommand(t, sh, nil, "hostkitctl", args...); r.code != 64 {
			t.Errorf("hostkitctl case %d (%q): exit %d, stderr %q; want 64 (EX_USAGE)", i, args, r.code, r.stderr)
		}
	}
}
