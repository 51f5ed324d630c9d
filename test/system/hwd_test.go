// Package system holds the system tests: the built .deb installed into a throwaway Debian
// booted with systemd as PID 1 (internal/testcontainer), checked the way a user meets it:
// systemctl, busctl, hostkitctl, polkit, the journal, apt.
package system

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hostkit/hostkit/internal/repo"
	"github.com/hostkit/hostkit/internal/testcontainer"
)

const (
	busName   = "org.hostkit.Hardware1"
	busPath   = "/org/hostkit/Hardware1"
	busIface  = "org.hostkit.Hardware1"
	unit      = "hostkit-hwd.service"
	dumpName  = "SuperMicro-X9DBL"
	dumpInCT  = "/var/lib/hostkit-test/" + dumpName + ".bin" // not under /root: the unit has ProtectHome=yes
	dropIn    = "/etc/hostkit/hwd.conf.d/50-test.conf"
	idleAfter = 5 * time.Second
)

// TestHardwareService installs the hostkit .deb into a booted container, points hostkit-hwd
// at a real SMBIOS dump and checks, in order: bus activation, the report against what
// dmidecode printed for that dump, properties, hostkitctl, what polkit hides from an
// unprivileged user, idle exit and re-activation, the unit's sandboxing, and removal.
func TestHardwareService(t *testing.T) {
	testStart := time.Now()
	deb := findDeb(t, repo.RootT(t))
	dumps := repo.SMBIOSDumpsT(t)
	recs, err := parseDmidecode(filepath.Join(dumps, dumpName+".dmidecode-3.2.txt"))
	if err != nil {
		t.Fatalf("expectations for %s (the dumps live in ../shared/smbios-dumps beside the repository): %v", dumpName, err)
	}
	want, err := expect(recs)
	if err != nil {
		t.Fatalf("expectations for %s: %v", dumpName, err)
	}

	log := &stepLog{cur: t}
	c := testcontainer.New(t, testcontainer.Options{Name: "hwd", Logf: log.Logf})
	t.Logf("container %s booted in %s", c.Name, c.BootTime.Round(time.Millisecond))
	t.Cleanup(func() { t.Logf("TestHardwareService took %s", time.Since(testStart).Round(time.Second)) })

	var packaged []string // what `dpkg -L hostkit` listed after installation

	log.step(t, "1_install", func(t *testing.T) {
		if err := c.InstallDeb(deb); err != nil {
			t.Fatal(err)
		}
		if err := c.CopyIn(filepath.Join(dumps, dumpName+".bin"), dumpInCT); err != nil {
			t.Fatal(err)
		}
		conf := fmt.Sprintf("# written by TestHardwareService\n[Hardware]\nSMBIOSDump=%s\n\n[Daemon]\nIdleTimeoutSec=%ds\n",
			dumpInCT, int(idleAfter.Seconds()))
		if err := c.WriteFile(dropIn, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		packaged = lines(mustExec(t, c, "dpkg", "-L", "hostkit"))
		// The paths users, docs and other packages rely on (ARCHITECTURE.md).
		for _, f := range []string{"/usr/sbin/hostkit-hwd", "/usr/bin/hostkitctl", "/usr/lib/systemd/system/" + unit,
			"/usr/share/dbus-1/system.d/org.hostkit.Hardware1.conf",
			"/usr/share/dbus-1/system-services/org.hostkit.Hardware1.service",
			"/usr/share/polkit-1/actions/org.hostkit.Hardware1.policy", "/etc/hostkit/hwd.conf"} {
			if !slices.Contains(packaged, f) {
				t.Errorf("the package does not install %s", f)
			}
		}
		conffiles := mustExec(t, c, "dpkg-query", "-W", "-f=${Conffiles}", "hostkit")
		if !strings.Contains(conffiles, "/etc/hostkit/hwd.conf ") {
			t.Errorf("/etc/hostkit/hwd.conf is not a conffile; dpkg-query says %q", conffiles)
		}
		if state := unitState(c); state != "static" {
			t.Errorf("systemctl is-enabled %s = %q, want static (started by bus activation only)", unit, state)
		}
	})
	if packaged == nil {
		t.FailNow() // nothing below means anything without the package installed
	}

	log.step(t, "2_bus_activation", func(t *testing.T) {
		if got := isActive(c); got != "inactive" {
			t.Fatalf("before any call, systemctl is-active %s = %q, want inactive", unit, got)
		}
		r := describe(t, c, "root")
		checkReport(t, r, want, true)
		if got := isActive(c); got != "active" {
			t.Errorf("after Describe, systemctl is-active %s = %q, want active (started by bus activation)", unit, got)
		}
	})

	log.step(t, "3_properties", func(t *testing.T) {
		used, installed := want.Populated()
		for i, p := range []struct {
			name string
			want any
		}{
			{"Available", true},
			{"Source", dumpInCT},
			{"MemorySlots", float64(want.Slots())},
			{"MemorySlotsUsed", float64(used)},
			{"MemoryInstalledBytes", float64(installed)},
			{"ProcessorSockets", float64(want.Sockets)},
			{"SystemVendor", deref(want.SystemVendor)},
			{"SystemProduct", deref(want.SystemProduct)},
			{"BoardVendor", deref(want.BoardVendor)},
			{"BIOSVendor", deref(want.BIOSVendor)},
			{"BIOSVersion", deref(want.BIOSVersion)},
		} {
			if got := property(t, c, p.name); got != p.want {
				t.Errorf("case %d: property %s = %v (%T), want %v", i, p.name, got, got, p.want)
			}
		}
		// Logged for the reader; their meaning for this dump is not in dmidecode's text.
		for _, name := range []string{"SMBIOSVersion", "ChassisType", "ProcessorsPopulated", "Cores", "Threads", "MemoryMaxBytes"} {
			t.Logf("property %s = %v", name, property(t, c, name))
		}
	})

	log.step(t, "3b_disks_and_smart_helper", func(t *testing.T) {
		// The container sees the host's block devices in /sys/block (but has no device
		// nodes): the service lists them, each with a SMART section.
		var r struct {
			Disks []struct {
				Name  string `json:"name"`
				SMART *struct {
					Status string `json:"status"`
				} `json:"smart"`
			} `json:"disks"`
			CPU *struct {
				Threads int `json:"threads"`
			} `json:"cpu"`
		}
		decodeJSON(t, "hostkitctl hw report --json", mustExec(t, c, "hostkitctl", "hw", "report", "--json"), &r)
		if len(r.Disks) == 0 || r.CPU == nil || r.CPU.Threads == 0 {
			t.Errorf("report lists %d disks and cpu %+v; want the host's disks and processors", len(r.Disks), r.CPU)
		}
		for _, d := range r.Disks {
			if d.SMART == nil || d.SMART.Status == "" {
				t.Errorf("disk %s has no SMART section", d.Name)
			}
		}
		if out := mustExec(t, c, "hostkitctl", "hw", "report"); !strings.Contains(out, "DISK") || !strings.Contains(out, "SMART") ||
			!strings.Contains(out, "LINK") {
			t.Errorf("hostkitctl hw report shows no disk or link table:\n%s", out)
		}
		// The container shares the host's network: the loopback at least is a link,
		// read over netlink from inside the sandbox.
		if out := mustExec(t, c, "busctl", "get-property", busName, busPath, busIface, "Links"); !strings.HasPrefix(out, "a(ssbusas) ") ||
			!strings.Contains(out, `"lo"`) {
			t.Errorf("Links property: %q, want a(ssbusas) with \"lo\"", out)
		}
		// Without a dump, hostkit-hwd report (run here as root, without the bus) finds
		// the container as systemd-detect-virt does: systemd, the container's init,
		// recorded its manager in /run/systemd/container.
		var own struct {
			Virtualization *struct {
				Container *string `json:"container"`
			} `json:"virtualization"`
		}
		decodeJSON(t, "hostkit-hwd report --json", mustExec(t, c, "hostkit-hwd", "report", "--json"), &own)
		if v := own.Virtualization; v == nil || v.Container == nil || *v.Container != "systemd-nspawn" {
			t.Errorf("hostkit-hwd report in the container: virtualization %+v, want container systemd-nspawn", v)
		}
		// The helper's socket came up with the service; an instance answers each
		// connection, and refuses what is not a disk of this machine.
		if state, _ := c.Exec("systemctl", "is-active", "hostkit-hwd-smart.socket"); strings.TrimSpace(state) != "active" {
			t.Errorf("hostkit-hwd-smart.socket is %q after the service started, want active", strings.TrimSpace(state))
		}
		for i, q := range []struct{ name, want string }{
			{"../../etc/passwd", `error: "../../etc/passwd" is not a device name`},
			{"hostkit-no-such-disk", "error: hostkit-no-such-disk is not a block device in /sys/block"},
		} {
			out := mustExec(t, c, "sh", "-c", "printf '%s\\n' '"+q.name+"' | nc -N -U /run/hostkit-hwd/smart.sock")
			if !strings.Contains(out, q.want) {
				t.Errorf("case %d: the SMART helper answers %q to %q, want %q", i, out, q.name, q.want)
			}
		}
	})

	log.step(t, "4_hostkitctl_and_polkit", func(t *testing.T) {
		checkMemoryTable(t, mustExec(t, c, "hostkitctl", "hw", "report"), want)

		var root, tester map[string]any
		decodeJSON(t, "hostkitctl hw report --json as root", mustExec(t, c, "hostkitctl", "hw", "report", "--json"), &root)
		decodeJSON(t, "hostkitctl hw report --json as tester",
			mustExecAs(t, c, testcontainer.TestUser, "hostkitctl", "hw", "report", "--json"), &tester)
		if got := lookup(root, "system", "serial"); got != deref(want.SystemSerial) {
			t.Errorf("root's report: system.serial = %v, want %q", got, deref(want.SystemSerial))
		}
		var rootSerials []any
		for ai, a := range want.Arrays {
			for di, d := range a.Devices {
				got := lookup(root, "memory", "arrays", ai, "devices", di, "serial")
				rootSerials = append(rootSerials, got)
				if got != deref(d.Serial) {
					t.Errorf("root's report: memory device %s serial = %v, want %q", deref(d.Locator), got, deref(d.Serial))
				}
			}
		}
		if got := lookup(tester, "system", "manufacturer"); got != deref(want.SystemVendor) {
			t.Errorf("tester's report: system.manufacturer = %v, want %q (only secrets are hidden)", got, deref(want.SystemVendor))
		}
		checkReport(t, describe(t, c, testcontainer.TestUser), want, false)
		secrets := findSecrets(tester, "")
		for _, s := range secrets {
			t.Errorf("tester's report shows %s", s)
		}
		if n := len(lookupAll(tester, "memory", "arrays", "devices")); n != len(rootSerials) {
			t.Errorf("tester's report lists %d memory devices, root's %d", n, len(rootSerials))
		}

		serial := mustExec(t, c, "busctl", "--json=short", "call", busName, busPath, busIface, "GetHardwareSerial")
		var reply struct{ Data []string }
		decodeJSON(t, "GetHardwareSerial reply", serial, &reply)
		if len(reply.Data) != 1 || reply.Data[0] != deref(want.SystemSerial) {
			t.Errorf("GetHardwareSerial as root = %q, want [%q]", reply.Data, deref(want.SystemSerial))
		}
		// dbus-send prints the D-Bus error name, busctl only its message.
		_, err := c.ExecAs(testcontainer.TestUser, "dbus-send", "--system", "--print-reply", "--dest="+busName,
			busPath, busIface+".GetHardwareSerial")
		var ee *testcontainer.ExecError
		switch {
		case err == nil:
			t.Errorf("GetHardwareSerial as %s succeeded, want an AccessDenied error", testcontainer.TestUser)
		case !errors.As(err, &ee):
			t.Errorf("GetHardwareSerial as %s: %v", testcontainer.TestUser, err)
		case !strings.Contains(ee.Stderr, "AccessDenied"):
			t.Errorf("GetHardwareSerial as %s failed with %q, want an AccessDenied error", testcontainer.TestUser, strings.TrimSpace(ee.Stderr))
		}

		// polkit, not only root, can grant the serials: a rule for tester, as an admin
		// would write one, makes both Describe() and GetHardwareSerial() show them.
		rule := fmt.Sprintf(`polkit.addRule(function(action, subject) {
	if (action.id == "org.hostkit.hardware1.get-hardware-serial" && subject.user == %q)
		return polkit.Result.YES;
});
`, testcontainer.TestUser)
		if err := c.WriteFile("/etc/polkit-1/rules.d/50-hostkit-test.rules", []byte(rule), 0o644); err != nil {
			t.Fatal(err)
		}
		defer c.Exec("rm", "-f", "/etc/polkit-1/rules.d/50-hostkit-test.rules")
		// polkitd rereads its rules when the directory changes; give it a moment.
		var granted string
		for i := 0; i < 50; i++ {
			if granted, err = c.ExecAs(testcontainer.TestUser, "hostkitctl", "hw", "serial"); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil || strings.TrimSpace(granted) != deref(want.SystemSerial) {
			t.Errorf("hw serial as %s with a polkit rule granting it: %q, %v; want %q", testcontainer.TestUser, granted, err, deref(want.SystemSerial))
		}
		checkReport(t, describe(t, c, testcontainer.TestUser), want, true)
	})

	log.step(t, "4b_systemctl_reload", func(t *testing.T) {
		// ExecReload= sends SIGHUP: the daemon rereads its configuration and stays up. A
		// call first, so that it is running (it may have exited idle since step 4).
		describe(t, c, "root")
		before := mustExec(t, c, "systemctl", "show", "-p", "MainPID", "--value", unit)
		mustExec(t, c, "systemctl", "reload", unit)
		if after := mustExec(t, c, "systemctl", "show", "-p", "MainPID", "--value", unit); after != before || isActive(c) != "active" {
			t.Errorf("after systemctl reload: MainPID %q (was %q), %s; want the same process, active", after, before, isActive(c))
		}
		journal := mustExec(t, c, "journalctl", "-b", "-u", unit, "--no-pager", "-o", "cat")
		if !strings.Contains(journal, "reloaded") {
			t.Errorf("no 'reloaded' in the unit's journal after systemctl reload:\n%s", journal)
		}
	})

	log.step(t, "5_idle_exit", func(t *testing.T) {
		start := time.Now()
		state := isActive(c)
		for state == "active" && time.Since(start) < 30*time.Second {
			time.Sleep(time.Second)
			state = isActive(c)
		}
		t.Logf("%s went %s %s after the last check", unit, state, time.Since(start).Round(time.Second))
		if state != "inactive" {
			t.Errorf("%s is %q 30s after the last call with IdleTimeoutSec=%s, want inactive", unit, state, idleAfter)
		}
		// The journal, not `systemctl show`: systemd unloads an inactive static unit, after
		// which ExecMainStatus and Result read as defaults whatever happened.
		journal := mustExec(t, c, "journalctl", "--no-pager", "-u", unit, "-o", "short-monotonic")
		if !strings.Contains(journal, "Deactivated successfully") {
			t.Errorf("the journal of %s does not show a clean exit (\"Deactivated successfully\", which systemd logs for exit status 0)", unit)
		}
		for _, bad := range []string{"Failed with result", "code=exited, status=", "code=killed", "Main process exited, code=dumped"} {
			if strings.Contains(journal, bad) {
				t.Errorf("the journal of %s shows a failure: %q", unit, bad)
			}
		}
		describe(t, c, "root")
		if got := isActive(c); got != "active" {
			t.Errorf("after a new call, systemctl is-active %s = %q, want active again", unit, got)
		}
	})

	log.step(t, "6_security", func(t *testing.T) {
		// The daemon, and the SMART helper, which alone has device access and the
		// capabilities smartctl needs.
		checkExposure(t, c, 2.0, unit, "hostkit-hwd-smart@0.service")
	})

	log.step(t, "7_remove_and_purge", func(t *testing.T) {
		if len(packaged) == 0 {
			t.Fatal("no file list from dpkg -L (step 1 failed)")
		}
		// The drop-in is the test's, not the package's: an admin's file would (rightly)
		// keep /etc/hostkit from being removed.
		mustExec(t, c, "rm", "-f", dropIn)
		if !slices.Contains(packaged, filepath.Dir(dropIn)) {
			mustExec(t, c, "rmdir", "--ignore-fail-on-non-empty", filepath.Dir(dropIn))
		}
		files := packagedFiles(t, c, packaged)
		describe(t, c, "root") // removal has to stop a running service
		if got := isActive(c); got != "active" {
			t.Errorf("before removal, %s is %q, want active", unit, got)
		}

		// The package's conffiles (hwd.conf, and those of the other services) stay
		// after remove; everything else goes.
		conffiles := map[string]bool{}
		for _, l := range lines(mustExec(t, c, "dpkg-query", "-W", "-f=${Conffiles}\n", "hostkit")) {
			if f := strings.Fields(l); len(f) > 0 {
				conffiles[f[0]] = true
			}
		}
		mustExec(t, c, "apt-get", "remove", "-y", "hostkit")
		checkStopped(t, c)
		left := existing(t, c, files...)
		if !slices.Contains(left, "/etc/hostkit/hwd.conf") {
			t.Errorf("apt-get remove removed the conffile /etc/hostkit/hwd.conf, which only purge may remove")
		}
		for _, f := range left {
			if !conffiles[f] {
				t.Errorf("after apt-get remove, %s is still there", f)
			}
		}

		mustExec(t, c, "apt-get", "purge", "-y", "hostkit")
		for _, f := range existing(t, c, files...) {
			t.Errorf("after apt-get purge, %s is still there", f)
		}
		if len(existing(t, c, "/etc/hostkit")) > 0 {
			left, _ := c.Exec("find", "/etc/hostkit")
			t.Errorf("after apt-get purge, /etc/hostkit is still there:\n%s", left)
		}
		if status, _ := c.Exec("dpkg-query", "-W", "-f=${db:Status-Status}", "hostkit"); status != "not-installed" && status != "" {
			t.Errorf("after purge, dpkg-query says hostkit is %q, want not-installed", status)
		}
		checkStopped(t, c)
	})
}

// stepLog sends the container's log to the subtest running, so that each command and its
// output appear under the step that ran it.
type stepLog struct {
	mu  sync.Mutex
	cur testing.TB
}

func (l *stepLog) Logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cur.Helper()
	l.cur.Logf(format, args...)
}

// step runs f as subtest name with the log going to it, logs how long it took and
// reports whether it passed.
func (l *stepLog) step(t *testing.T, name string, f func(t *testing.T)) bool {
	return t.Run(name, func(st *testing.T) {
		l.mu.Lock()
		l.cur = st
		l.mu.Unlock()
		defer func() {
			l.mu.Lock()
			l.cur = t
			l.mu.Unlock()
		}()
		start := time.Now()
		defer func() { st.Logf("step %s took %s", name, time.Since(start).Round(time.Millisecond)) }()
		f(st)
	})
}

func mustExec(t *testing.T, c *testcontainer.Container, args ...string) string {
	t.Helper()
	out, err := c.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustExecAs(t *testing.T, c *testcontainer.Container, user string, args ...string) string {
	t.Helper()
	out, err := c.ExecAs(user, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// isActive returns what `systemctl is-active` prints for the unit (it exits non-zero
// for anything but active, which is not an error here).
func isActive(c *testcontainer.Container) string {
	out, _ := c.Exec("systemctl", "is-active", unit)
	return strings.TrimSpace(out)
}

func unitState(c *testcontainer.Container) string {
	out, _ := c.Exec("systemctl", "is-enabled", unit)
	return strings.TrimSpace(out)
}

// describe calls Describe() with busctl as user and decodes the JSON report.
func describe(t *testing.T, c *testcontainer.Container, user string) report {
	t.Helper()
	out := mustExecAs(t, c, user, "busctl", "--json=short", "call", busName, busPath, busIface, "Describe")
	var reply struct {
		Type string
		Data []string
	}
	decodeJSON(t, "busctl reply to Describe", out, &reply)
	if reply.Type != "s" || len(reply.Data) != 1 {
		t.Fatalf("Describe returned type %q with %d values, want one string", reply.Type, len(reply.Data))
	}
	var r report
	decodeJSON(t, "Describe's JSON report", reply.Data[0], &r)
	return r
}

// property returns a property's value as busctl --json=short decodes it (numbers are
// float64).
func property(t *testing.T, c *testcontainer.Container, name string) any {
	t.Helper()
	out := mustExec(t, c, "busctl", "--json=short", "get-property", busName, busPath, busIface, name)
	var v struct {
		Type string
		Data any
	}
	decodeJSON(t, "property "+name, out, &v)
	return v.Data
}

func decodeJSON(t *testing.T, what, data string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(data), v); err != nil {
		t.Fatalf("%s is not the JSON expected: %v\n%s", what, err, data)
	}
}

// report is the part of the Describe() JSON the test checks.
type report struct {
	Available     bool    `json:"available"`
	Source        string  `json:"source"`
	SMBIOSVersion string  `json:"smbios_version"`
	BIOS          *bios   `json:"bios"`
	System        *sys    `json:"system"`
	Baseboard     *board  `json:"baseboard"`
	Memory        *memory `json:"memory"`
}

type bios struct {
	Vendor      *string           `json:"vendor"`
	Version     *string           `json:"version"`
	ReleaseDate *string           `json:"release_date"`
	Raw         map[string]string `json:"raw"`
}

type sys struct {
	Manufacturer *string           `json:"manufacturer"`
	Product      *string           `json:"product"`
	Version      *string           `json:"version"`
	Serial       *string           `json:"serial"`
	UUID         *string           `json:"uuid"`
	Raw          map[string]string `json:"raw"`
}

type board struct {
	Manufacturer *string           `json:"manufacturer"`
	Product      *string           `json:"product"`
	Serial       *string           `json:"serial"`
	Raw          map[string]string `json:"raw"`
}

type memory struct {
	Arrays []struct {
		Handle           int     `json:"handle"`
		Slots            *int    `json:"slots"`
		MaxCapacityBytes *uint64 `json:"max_capacity_bytes"`
		Devices          []struct {
			Handle       int               `json:"handle"`
			Locator      *string           `json:"locator"`
			BankLocator  *string           `json:"bank_locator"`
			SizeBytes    *uint64           `json:"size_bytes"`
			Type         *string           `json:"type"`
			SpeedMTs     *int              `json:"speed_mts"`
			Manufacturer *string           `json:"manufacturer"`
			Serial       *string           `json:"serial"`
			PartNumber   *string           `json:"part_number"`
			Raw          map[string]string `json:"raw"`
		} `json:"devices"`
	} `json:"arrays"`
}

// checkReport compares a Describe() report with the dmidecode expectation; secrets says
// whether serials and the UUID must be there (true) or null (false).
func checkReport(t *testing.T, r report, want expectation, secrets bool) {
	t.Helper()
	if !r.Available || r.Source != dumpInCT {
		t.Errorf("report available=%v source=%q, want true and %q", r.Available, r.Source, dumpInCT)
	}
	secret := func(s *string) *string {
		if secrets {
			return s
		}
		return nil
	}
	if r.BIOS == nil || r.System == nil || r.Baseboard == nil || r.Memory == nil {
		t.Fatalf("report lacks a section: bios=%v system=%v baseboard=%v memory=%v", r.BIOS, r.System, r.Baseboard, r.Memory)
	}
	// eq compares a string field with what dmidecode printed. Where the report shows
	// another value (a placeholder as null, a JEDEC code as a maker's name), raw[key]
	// must hold dmidecode's string; a withheld secret leaves nothing in raw either.
	eq := func(field string, got *string, raw map[string]string, key string, want *string) {
		t.Helper()
		r, replaced := raw[key]
		switch {
		case want == nil && replaced:
			t.Errorf("report %s: raw keeps %q, want nothing", field, r)
		case want != nil && replaced:
			if r != *want {
				t.Errorf("report %s = %s, raw %q, want %s", field, show(got), r, show(want))
			}
		case (got == nil) != (want == nil) || (got != nil && *got != *want):
			t.Errorf("report %s = %s, want %s", field, show(got), show(want))
		}
	}
	eq("bios.vendor", r.BIOS.Vendor, r.BIOS.Raw, "vendor", want.BIOSVendor)
	eq("bios.version", r.BIOS.Version, r.BIOS.Raw, "version", want.BIOSVersion)
	eq("bios.release_date", r.BIOS.ReleaseDate, r.BIOS.Raw, "release_date", want.BIOSDate)
	eq("system.manufacturer", r.System.Manufacturer, r.System.Raw, "manufacturer", want.SystemVendor)
	eq("system.product", r.System.Product, r.System.Raw, "product", want.SystemProduct)
	eq("system.version", r.System.Version, r.System.Raw, "version", want.SystemVersion)
	eq("system.serial", r.System.Serial, r.System.Raw, "serial", secret(want.SystemSerial))
	eq("system.uuid", r.System.UUID, r.System.Raw, "uuid", secret(want.SystemUUID))
	eq("baseboard.manufacturer", r.Baseboard.Manufacturer, r.Baseboard.Raw, "manufacturer", want.BoardVendor)
	eq("baseboard.product", r.Baseboard.Product, r.Baseboard.Raw, "product", want.BoardProduct)
	eq("baseboard.serial", r.Baseboard.Serial, r.Baseboard.Raw, "serial", secret(want.BoardSerial))

	if len(r.Memory.Arrays) != len(want.Arrays) {
		t.Fatalf("report has %d memory arrays, dmidecode %d", len(r.Memory.Arrays), len(want.Arrays))
	}
	for i, wa := range want.Arrays {
		a := r.Memory.Arrays[i]
		if a.Handle != wa.Handle || a.Slots == nil || *a.Slots != wa.Slots || a.MaxCapacityBytes == nil || *a.MaxCapacityBytes != wa.MaxBytes {
			t.Errorf("memory array %d: handle %#x slots %v max %v, want %#x, %d, %d", i, a.Handle, deref(a.Slots), deref(a.MaxCapacityBytes),
				wa.Handle, wa.Slots, wa.MaxBytes)
		}
		if len(a.Devices) != len(wa.Devices) {
			t.Errorf("memory array %#x has %d devices, dmidecode %d", wa.Handle, len(a.Devices), len(wa.Devices))
			continue
		}
		for j, wd := range wa.Devices {
			d := a.Devices[j]
			name := fmt.Sprintf("memory device %#x (%s)", wd.Handle, deref(wd.Locator))
			if d.Handle != wd.Handle {
				t.Errorf("%s: handle %#x", name, d.Handle)
			}
			eq(name+" locator", d.Locator, nil, "", wd.Locator)
			eq(name+" bank_locator", d.BankLocator, nil, "", wd.BankLocator)
			eq(name+" type", d.Type, nil, "", wd.Type)
			eq(name+" manufacturer", d.Manufacturer, d.Raw, "manufacturer", wd.Manufacturer)
			eq(name+" part_number", d.PartNumber, d.Raw, "part_number", wd.PartNumber)
			eq(name+" serial", d.Serial, d.Raw, "serial", secret(wd.Serial))
			if d.SizeBytes == nil || *d.SizeBytes != wd.SizeBytes {
				t.Errorf("%s: size_bytes %v, want %d", name, deref(d.SizeBytes), wd.SizeBytes)
			}
			if wd.SpeedMTs != 0 && (d.SpeedMTs == nil || *d.SpeedMTs != wd.SpeedMTs) {
				t.Errorf("%s: speed_mts %v, want %d", name, deref(d.SpeedMTs), wd.SpeedMTs)
			}
		}
	}
}

// checkMemoryTable checks `hostkitctl hw report`: a header with the memory table's
// columns, then one row per slot naming its locator and part number.
func checkMemoryTable(t *testing.T, out string, want expectation) {
	t.Helper()
	ls := lines(out)
	header := slices.IndexFunc(ls, func(l string) bool {
		return strings.Contains(l, "SLOT") && strings.Contains(l, "PART NUMBER")
	})
	if header < 0 {
		t.Fatalf("hostkitctl hw report has no memory table header (SLOT ... PART NUMBER)")
	}
	for _, col := range []string{"SLOT", "SIZE", "TYPE", "SPEED", "MANUFACTURER", "PART NUMBER"} {
		if !strings.Contains(ls[header], col) {
			t.Errorf("memory table header %q lacks column %s", ls[header], col)
		}
	}
	rows := ls[header+1:]
	slots := 0
	for _, a := range want.Arrays {
		for _, d := range a.Devices {
			slots++
			var found []string
			for _, r := range rows {
				if d.Locator != nil && slices.Contains(strings.Fields(r), *d.Locator) {
					found = append(found, r)
				}
			}
			switch {
			case len(found) != 1:
				t.Errorf("memory table has %d rows for slot %s, want 1", len(found), deref(d.Locator))
			case d.PartNumber != nil && !strings.Contains(found[0], *d.PartNumber):
				t.Errorf("memory table row %q lacks part number %s", found[0], *d.PartNumber)
			}
		}
	}
	if slots != want.Slots() {
		t.Errorf("dmidecode lists %d memory devices but %d slots", slots, want.Slots())
	}
}

// findSecrets returns the path of every non-null "serial", "uuid" or "asset_tag" in v.
func findSecrets(v any, path string) []string {
	var found []string
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := strings.TrimPrefix(path+"."+k, ".")
			if (k == "serial" || k == "uuid" || k == "asset_tag") && v[k] != nil {
				found = append(found, fmt.Sprintf("%s = %v", p, v[k]))
			}
			found = append(found, findSecrets(v[k], p)...)
		}
	case []any:
		for i, e := range v {
			found = append(found, findSecrets(e, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return found
}

// lookup follows keys (string) and indexes (int) through decoded JSON; nil when absent.
func lookup(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			s, _ := v.([]any)
			if k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

// lookupAll follows keys through decoded JSON, flattening arrays on the way.
func lookupAll(v any, keys ...string) []any {
	cur := []any{v}
	for _, k := range keys {
		var next []any
		for _, c := range cur {
			m, _ := c.(map[string]any)
			switch x := m[k].(type) {
			case []any:
				next = append(next, x...)
			case nil:
			default:
				next = append(next, x)
			}
		}
		cur = next
	}
	return cur
}

// packagedFiles returns the entries of the package's file list that are not directories
// (shared directories such as /usr/bin stay after removal, rightly).
func packagedFiles(t *testing.T, c *testcontainer.Container, paths []string) []string {
	t.Helper()
	args := append([]string{"sh", "-c", `for f; do if [ -d "$f" ] && [ ! -L "$f" ]; then echo "d $f"; else echo "f $f"; fi; done`, "sh"}, paths...)
	var files []string
	for _, l := range lines(mustExec(t, c, args...)) {
		if f, ok := strings.CutPrefix(l, "f "); ok {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		t.Fatalf("dpkg -L hostkit lists no files")
	}
	return files
}

// existing returns those of paths that exist in the container.
func existing(t *testing.T, c *testcontainer.Container, paths ...string) []string {
	t.Helper()
	args := append([]string{"sh", "-c", `for f; do if [ -e "$f" ] || [ -L "$f" ]; then echo "$f"; fi; done`, "sh"}, paths...)
	return lines(mustExec(t, c, args...))
}

// checkStopped fails t if hostkit-hwd still runs or still owns its bus name.
func checkStopped(t *testing.T, c *testcontainer.Container) {
	t.Helper()
	if got := isActive(c); got == "active" || got == "activating" || got == "deactivating" {
		t.Errorf("%s is %s after removal", unit, got)
	}
	comms, _ := c.Exec("sh", "-c", "cat /proc/[0-9]*/comm 2>/dev/null; true")
	if slices.Contains(lines(comms), "hostkit-hwd") {
		t.Errorf("a hostkit-hwd process is still running after removal")
	}
	if out, err := c.Exec("busctl", "status", busName); err == nil {
		t.Errorf("%s is still owned on the bus after removal:\n%s", busName, out)
	}
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimRight(l, " \r"); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func show(p *string) string {
	if p == nil {
		return "null"
	}
	return strconv.Quote(*p)
}

// findDeb returns $HOSTKIT_DEB when set, else dist/hostkit_*_amd64.deb (the newest when
// there are several).
func findDeb(t *testing.T, repo string) string {
	t.Helper()
	if deb := os.Getenv("HOSTKIT_DEB"); deb != "" {
		if _, err := os.Stat(deb); err != nil {
			t.Fatalf("HOSTKIT_DEB: %v", err)
		}
		t.Logf("testing %s (from HOSTKIT_DEB)", deb)
		return deb
	}
	debs, err := filepath.Glob(filepath.Join(repo, "dist", "hostkit_*_amd64.deb"))
	if err != nil || len(debs) == 0 {
		t.Fatalf("no dist/hostkit_*_amd64.deb in %s: run make packages first", repo)
	}
	newest, newestTime := "", time.Time{}
	for _, d := range debs {
		if info, err := os.Stat(d); err == nil && info.ModTime().After(newestTime) {
			newest, newestTime = d, info.ModTime()
		}
	}
	t.Logf("testing %s (built %s)", newest, newestTime.Format(time.RFC3339))
	return newest
}

// checkExposure runs systemd-analyze security in c for each unit, logs its overall
// exposure level and fails the test for one above most (hostnamed's is 1.3). Every
// system test checks its units' sandboxes with it.
func checkExposure(t *testing.T, c *testcontainer.Container, most float64, units ...string) {
	t.Helper()
	for _, u := range units {
		out := mustExec(t, c, "systemd-analyze", "security", "--no-pager", u)
		m := regexp.MustCompile(`Overall exposure level for ` + regexp.QuoteMeta(u) + `: ([0-9]+\.[0-9]+)`).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("no overall exposure level for %s in systemd-analyze security output:\n%s", u, out)
			continue
		}
		level, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatalf("exposure level %q: %v", m[1], err)
		}
		t.Logf("systemd-analyze security %s: overall exposure %.1f", u, level)
		if level > most {
			t.Errorf("overall exposure level of %s is %.1f, want at most %.1f:\n%s", u, level, most, out)
		}
	}
}
