package system

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hostkit/hostkit/internal/repo"
	"github.com/hostkit/hostkit/internal/testcontainer"
)

// The story of issue 3, as init scripts in the container's /etc/init.d with their links in
// /etc/rcN.d (where Debian's systemd-sysv-generator reads them):
//
//	lsb-a     S20  LSB block (and chkconfig line)  runlevels 2345
//	lsb-b     S30  LSB block (and chkconfig line)  runlevels 2345, no relation to lsb-a
//	nginx     S55  chkconfig only                  runlevels 2345
//	sshd      S55  chkconfig only                  runlevels 2345 (S54 in step 3)
//	gui-only  S70  chkconfig only                  runlevel 5 only (S70 in rc5.d alone)
//	rc.local       executable /etc/rc.local
//
// Every script appends "begin NAME UPTIME" when its start verb begins and "end NAME
// UPTIME" when it is done, to orderLog; it sleeps scriptWork in between, so that two
// scripts systemd does not order genuinely run at the same time.
//
// The containers boot graphical.target (the default target is switched in Setup), so that
// runlevel 5 is the runlevel of the boot, as on the CentOS desktop of the story, and the
// runlevel-5-only script must run; it must be wanted by graphical.target alone.
const (
	orderLog     = "/var/log/hostkit-order.log"
	scriptWork   = "0.5" // seconds each start verb takes
	verifyUnit   = "hostkit-bootorder-verify.service"
	bootUnit     = "hostkit-bootorder.service"
	debInRoot    = "/var/cache/hostkit-test/hostkit.deb"
	sysvMaskLink = "/etc/systemd/system-generators/systemd-sysv-generator"
	violationsID = "71a5be5178a84f7889742b94bb9fbfb4"
)

// storyScript is one SysV script of the story.
type storyScript struct {
	name      string
	prio      int
	runlevels string // chkconfig style: "2345" or "5"
	lsb       bool
}

func story(sshdPrio int) []storyScript {
	return []storyScript{
		{"lsb-a", 20, "2345", true},
		{"lsb-b", 30, "2345", true},
		{"nginx", 55, "2345", false},
		{"sshd", sshdPrio, "2345", false},
		{"gui-only", 70, "5", false},
	}
}

// recorder is the shell that records a start in orderLog; NAME is replaced.
const recorder = `LOG=` + orderLog + `
STATE=/run/hostkit-order.NAME
case "$1" in
start)
	echo "begin NAME $(cut -d' ' -f1 /proc/uptime)" >>"$LOG"
	sleep ` + scriptWork + `
	: >"$STATE"
	echo "end NAME $(cut -d' ' -f1 /proc/uptime)" >>"$LOG"
	;;
stop)
	rm -f "$STATE"
	;;
status)
	[ -e "$STATE" ] || exit 3
	;;
restart|force-reload)
	rm -f "$STATE"
	exec "$0" start
	;;
*)
	echo "usage: $0 {start|stop|status|restart|force-reload}" >&2
	exit 2
	;;
esac
exit 0
`

// text is the init script: chkconfig header, description, an LSB block for the LSB pair
// (Required-Start empty: nothing relates the two), the recorder.
func (s storyScript) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/sh\n# %s: a service of the hostkit boot order system test\n#\n", s.name)
	fmt.Fprintf(&b, "# chkconfig: %s %02d %02d\n", s.runlevels, s.prio, 100-s.prio)
	fmt.Fprintf(&b, "# description: records when %s starts, in %s\n", s.name, orderLog)
	if s.lsb {
		var start []string
		for _, r := range s.runlevels {
			start = append(start, string(r))
		}
		fmt.Fprintf(&b, "### BEGIN INIT INFO\n# Provides:          %s\n# Required-Start:\n# Required-Stop:\n"+
			"# Default-Start:     %s\n# Default-Stop:      0 1 6\n# Short-Description: hostkit test service %s\n"+
			"### END INIT INFO\n", s.name, strings.Join(start, " "), s.name)
	}
	return b.String() + "\n" + strings.ReplaceAll(recorder, "NAME", s.name)
}

// rcLocal records like the scripts, as "rc.local"; systemd runs it as `/etc/rc.local start`.
var rcLocal = "#!/bin/sh\n# rc.local of the hostkit boot order system test\n" + strings.ReplaceAll(recorder, "NAME", "rc.local")

// storySetup returns a Setup that writes the story into a container root before it boots:
// the scripts, their S links in rcN.d for their runlevels and K links in the others,
// rc.local, graphical.target as the default target; with deb, hostkit installed from it
// with dpkg inside a chroot, as an image build would (no systemd running: postinst
// enables the [Install] units and starts nothing); with maskSysV, systemd-sysv-generator
// masked as an admin would (and as systemd 260, which has none, behaves).
func storySetup(t *testing.T, scripts []storyScript, deb string, maskSysV bool) func(root string) error {
	return func(root string) error {
		write := func(rel, data string, mode os.FileMode) error {
			p := filepath.Join(root, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			return os.WriteFile(p, []byte(data), mode)
		}
		link := func(target, rel string) error {
			p := filepath.Join(root, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			_ = os.Remove(p)
			return os.Symlink(target, p)
		}
		// The story's machine has an sshd script of its own and no Debian openssh-server.
		if err := testcontainer.WithoutOpenSSH(root); err != nil {
			return err
		}
		for _, s := range scripts {
			if err := write("etc/init.d/"+s.name, s.text(), 0o755); err != nil {
				return err
			}
			for level := 0; level <= 6; level++ {
				l := fmt.Sprintf("etc/rc%d.d/K%02d%s", level, 100-s.prio, s.name)
				if strings.ContainsRune(s.runlevels, rune('0'+level)) {
					l = fmt.Sprintf("etc/rc%d.d/S%02d%s", level, s.prio, s.name)
				}
				if err := link("../init.d/"+s.name, l); err != nil {
					return err
				}
			}
		}
		if err := write("etc/rc.local", rcLocal, 0o755); err != nil {
			return err
		}
		if err := link("/usr/lib/systemd/system/graphical.target", "etc/systemd/system/default.target"); err != nil {
			return err
		}
		if maskSysV {
			if err := link("/dev/null", strings.TrimPrefix(sysvMaskLink, "/")); err != nil {
				return err
			}
		}
		if deb != "" {
			data, err := os.ReadFile(deb)
			if err != nil {
				return err
			}
			if err := write(strings.TrimPrefix(debInRoot, "/"), string(data), 0o644); err != nil {
				return err
			}
			cmd := exec.Command("chroot", root, "dpkg", "-i", debInRoot)
			cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive"}
			out, err := cmd.CombinedOutput()
			t.Logf("$ chroot ROOT dpkg -i %s\n%s", debInRoot, out)
			if err != nil {
				return fmt.Errorf("chroot %s dpkg -i %s: %w\n%s", root, debInRoot, err, out)
			}
		}
		return nil
	}
}

// TestBootOrder is the system test of hostkit-bootorder (issue 3): the story's scripts in
// a booted Debian, first without hostkit (the negative control: systemd 252's
// systemd-sysv-generator leaves the LSB pair and the equal-priority pair unordered), then
// with hostkit installed at equal priority, with sshd moved to 54, and with
// systemd-sysv-generator masked (hostkit's wrapper units). Each boot is checked against
// the plan with the scripts' own records, with the verifier over D-Bus and with the
// oneshot's journal. Last, the generated units pass `systemd-analyze verify` and the
// hostkit units' sandboxing is measured.
//
// The harness cannot reboot a container, so each boot is a fresh copy of the base root
// whose Setup writes the state that boot should see: that is what a reboot after the
// admin's edit shows systemd, without the previous boot's /run.
func TestBootOrder(t *testing.T) {
	testStart := time.Now()
	deb := findDeb(t, repo.RootT(t))
	log := &stepLog{cur: t}
	t.Cleanup(func() { t.Logf("TestBootOrder took %s", time.Since(testStart).Round(time.Second)) })

	outer := t
	var dropIns, wrappers *testcontainer.Container // kept running for step 5

	log.step(t, "1_negative_control", func(t *testing.T) {
		c := testcontainer.New(t, testcontainer.Options{Name: "bootorder-nohostkit", Logf: log.Logf,
			Setup: storySetup(t, story(55), "", false)})
		t.Logf("booted without hostkit in %s", c.BootTime.Round(time.Millisecond))
		after := map[string][]string{}
		for _, s := range append(story(55), storyScript{name: "rc-local"}) {
			u := s.name + ".service"
			after[u] = strings.Fields(mustExec(t, c, "systemctl", "show", "-p", "After", "--value", u))
			t.Logf("systemd-sysv-generator: %s After=%s", u, strings.Join(after[u], " "))
		}
		gen := mustExec(t, c, "sh", "-c", "head -n 30 /run/systemd/generator.late/nginx.service")
		t.Logf("/run/systemd/generator.late/nginx.service:\n%s", gen)
		if !strings.Contains(gen, "systemd-sysv-generator") {
			t.Fatalf("nginx.service was not written by systemd-sysv-generator; the negative control means nothing")
		}

		// The claims about systemd-sysv-generator, as systemd 252 behaves.
		for _, c := range []struct {
			unit, other string
			ordered     bool
			why         string
		}{
			{"nginx.service", "sshd.service", false, "equal priorities (S55) are never ordered"},
			{"sshd.service", "nginx.service", false, "equal priorities (S55) are never ordered"},
			{"lsb-b.service", "lsb-a.service", false, "S30 after S20 is dropped when both scripts have an LSB header"},
			{"nginx.service", "lsb-b.service", true, "priority orders when one of the two lacks an LSB header"},
			{"nginx.service", "lsb-a.service", true, "every lower priority, not only the nearest (O(n^2) After= lines)"},
			{"gui-only.service", "lsb-a.service", true, "every lower priority, not only the nearest"},
			{"gui-only.service", "sshd.service", true, "priority orders when one of the two lacks an LSB header"},
		} {
			if got := slices.Contains(after[c.unit], c.other); got != c.ordered {
				t.Errorf("without hostkit, %s After= contains %s: %v, the issue says %v (%s)", c.unit, c.other, got, c.ordered, c.why)
			}
		}

		// The scripts' own records: the two unordered pairs ran at the same time.
		recs := readRecords(t, c)
		t.Logf("without hostkit: scripts began in the order %q", beginOrder(recs))
		for _, pair := range [][2]string{{"nginx", "sshd"}, {"lsb-a", "lsb-b"}} {
			a, b := recs[pair[0]], recs[pair[1]]
			overlap := a.begin < b.end && b.begin < a.end
			t.Logf("without hostkit: %s ran %.2f-%.2f, %s ran %.2f-%.2f: overlapping %v", pair[0], a.begin, a.end, pair[1], b.begin, b.end, overlap)
			if !overlap {
				t.Errorf("without hostkit, %s and %s did not run at the same time; unordered scripts that each take %ss should", pair[0], pair[1], scriptWork)
			}
		}

		// Installing on the running system: postinst's daemon-reload runs the generator,
		// which adds the missing ordering at once (for the next start of these units).
		if err := c.InstallDeb(deb); err != nil {
			t.Fatal(err)
		}
		for _, e := range [][2]string{{"sshd.service", "nginx.service"}, {"lsb-b.service", "lsb-a.service"}} {
			got := strings.Fields(mustExec(t, c, "systemctl", "show", "-p", "After", "--value", e[0]))
			if !slices.Contains(got, e[1]) {
				t.Errorf("after installing hostkit (daemon-reload), %s After= lacks %s: %s", e[0], e[1], strings.Join(got, " "))
			}
		}
		mustExec(t, c, "systemctl", "cat", "sshd.service")
	})

	// checkBoot checks one boot with hostkit: the plan offline and over the bus agree, it
	// has no warnings and the wanted edges; the scripts ran in its order; the oneshot
	// verified the boot and logged it; Verify() over the bus reports no violation and
	// checked the wanted edges. It returns the plan.
	checkBoot := func(t *testing.T, c *testcontainer.Container, mode string, wantEdges [][2]string, wantRecordOrder []string) bootPlan {
		t.Helper()
		var offline, served bootPlan
		decodeJSON(t, "hostkit-bootorder plan --root / --json", mustExec(t, c, "hostkit-bootorder", "plan", "--root", "/", "--json"), &offline)
		decodeJSON(t, "hostkitctl boot plan --json", mustExecAs(t, c, testcontainer.TestUser, "hostkitctl", "boot", "plan", "--json"), &served)
		mustExec(t, c, "hostkitctl", "boot", "plan")
		if offline.Mode != mode || served.Mode != mode {
			t.Errorf("plan mode: offline %q, served %q, want %q", offline.Mode, served.Mode, mode)
		}
		if o, s := offline.edges(), served.edges(); !slices.Equal(o, s) {
			t.Errorf("the plan served over the bus (the one the generator saved at boot) differs from `plan --root /`:\n served  %q\n offline %q", s, o)
		}
		for _, w := range served.Warnings {
			t.Errorf("plan warning: %s:%d: %s", w.Path, w.Line, w.Message)
		}
		for _, e := range wantEdges {
			if !served.ordered(e[0], e[1]) {
				t.Errorf("the plan does not order %s before %s; edges: %q", e[0], e[1], served.edges())
			}
		}
		if u := served.unit("gui-only.service"); u == nil || !slices.Equal(u.Targets, []string{"graphical.target"}) {
			t.Errorf("gui-only.service (S70 in rc5.d only) is not planned for graphical.target alone: %+v", u)
		}
		if got := strings.Fields(mustExec(t, c, "systemctl", "show", "-p", "WantedBy", "--value", "gui-only.service")); !slices.Equal(got, []string{"graphical.target"}) {
			t.Errorf("gui-only.service WantedBy=%q, want graphical.target only", got)
		}

		// The scripts' own records against every edge of the plan between two of them.
		recs := readRecords(t, c)
		checked := 0
		for _, e := range served.edges() {
			first, then := recordName(e[0]), recordName(e[1])
			a, aok := recs[first]
			b, bok := recs[then]
			if !aok || !bok {
				continue
			}
			checked++
			if b.begin < a.end {
				t.Errorf("records: %s began at %.2f, before %s ended at %.2f, against the plan's %s < %s", then, b.begin, first, a.end, e[0], e[1])
			}
		}
		if checked < len(wantRecordOrder)-1 {
			t.Errorf("only %d edges of the plan could be checked against the records, want at least %d", checked, len(wantRecordOrder)-1)
		}
		byBegin := beginOrder(recs)
		t.Logf("records: scripts began in the order %q; %d planned edges checked against them", byBegin, checked)
		if !slices.Equal(byBegin, wantRecordOrder) {
			t.Errorf("scripts began in the order %q, want %q", byBegin, wantRecordOrder)
		}

		// The oneshot ran after boot (the harness waited for the boot to finish) and
		// logged its result.
		show := mustExec(t, c, "systemctl", "show", "-p", "Result,ExecMainStatus,ActiveState,ExecMainStartTimestampMonotonic", verifyUnit)
		if !strings.Contains(show, "Result=success") || !strings.Contains(show, "ExecMainStatus=0") {
			t.Errorf("%s did not run successfully in this boot:\n%s", verifyUnit, show)
		}
		if m := regexp.MustCompile(`ExecMainStartTimestampMonotonic=(\d+)`).FindStringSubmatch(show); m == nil || m[1] == "0" {
			t.Errorf("%s never started in this boot:\n%s", verifyUnit, show)
		}
		journal := mustExec(t, c, "journalctl", "--no-pager", "-b", "-u", verifyUnit, "-o", "short-monotonic")
		if !strings.Contains(journal, "boot order verified") {
			t.Errorf("the journal of %s has no \"boot order verified\" entry", verifyUnit)
		}
		if out, _ := c.Exec("journalctl", "--no-pager", "-b", "MESSAGE_ID="+violationsID); strings.Contains(out, "violated") {
			t.Errorf("the journal records boot order violations:\n%s", out)
		}

		var v verification
		decodeJSON(t, "hostkitctl boot verify --json", mustExec(t, c, "hostkitctl", "boot", "verify", "--json"), &v)
		mustExec(t, c, "hostkitctl", "boot", "verify")
		t.Logf("Verify(): %d edges checked, %d violations, not run %v, notes %q", v.Checked, v.Violations, v.NotRun, v.Notes)
		if v.Violations != 0 {
			t.Errorf("Verify() reports %d violations", v.Violations)
		}
		// The verifier cross-checks systemd's timestamps with the journal of this boot;
		// it must find this boot (the container's boot ID, not the host's) and its
		// "Starting"/"Started" messages there.
		bootID := strings.ReplaceAll(strings.TrimSpace(mustExec(t, c, "cat", "/proc/sys/kernel/random/boot_id")), "-", "")
		if v.BootID != bootID {
			t.Errorf("Verify() reports boot %s, but this boot is %s", v.BootID, bootID)
		}
		for _, n := range v.Notes {
			if strings.Contains(n, "no Starting/Started messages") {
				t.Errorf("Verify() did not cross-check with the journal of this boot: %s", n)
			}
		}
		for _, e := range wantEdges {
			i := slices.IndexFunc(v.Edges, func(r verifiedEdge) bool { return r.First == e[0] && r.Then == e[1] })
			switch {
			case i < 0:
				t.Errorf("Verify() did not check %s < %s", e[0], e[1])
			case v.Edges[i].Status != "ok":
				t.Errorf("Verify(): %s < %s is %q (%s)", e[0], e[1], v.Edges[i].Status, v.Edges[i].Detail)
			}
		}
		return served
	}

	wantStep2 := [][2]string{{"lsb-a.service", "lsb-b.service"}, {"lsb-b.service", "nginx.service"},
		{"nginx.service", "sshd.service"}, {"sshd.service", "gui-only.service"}, {"gui-only.service", "rc-local.service"}}

	log.step(t, "2_equal_priority_ordered", func(t *testing.T) {
		c := bootKept(t, outer, testcontainer.Options{Name: "bootorder-equal", Logf: log.Logf,
			Setup: storySetup(t, story(55), deb, false)})
		dropIns = c
		checkBoot(t, c, "drop-ins", wantStep2, []string{"lsb-a", "lsb-b", "nginx", "sshd", "gui-only", "rc.local"})
		after := strings.Fields(mustExec(t, c, "systemctl", "show", "-p", "After", "--value", "sshd.service"))
		if !slices.Contains(after, "nginx.service") {
			t.Errorf("sshd.service After= lacks nginx.service with hostkit: %q", after)
		}
		mustExec(t, c, "systemctl", "cat", "sshd.service")
		explain := mustExec(t, c, "hostkitctl", "boot", "explain", "sshd.service")
		for _, want := range []string{"S55 link in /etc/rc", "nginx.service", "/etc/init.d/sshd"} {
			if !strings.Contains(explain, want) {
				t.Errorf("hostkitctl boot explain sshd.service does not mention %q", want)
			}
		}
	})

	log.step(t, "3_sshd_at_54", func(t *testing.T) {
		c := testcontainer.New(t, testcontainer.Options{Name: "bootorder-54", Logf: log.Logf,
			Setup: storySetup(t, story(54), deb, false)})
		mustExec(t, c, "grep", "chkconfig:", "/etc/init.d/sshd")
		mustExec(t, c, "sh", "-c", "ls /etc/rc3.d /etc/rc5.d")
		p := checkBoot(t, c, "drop-ins", [][2]string{{"lsb-a.service", "lsb-b.service"}, {"lsb-b.service", "sshd.service"},
			{"sshd.service", "nginx.service"}, {"nginx.service", "gui-only.service"}},
			[]string{"lsb-a", "lsb-b", "sshd", "nginx", "gui-only", "rc.local"})
		if p.ordered("nginx.service", "sshd.service") {
			t.Errorf("with sshd at 54 the plan still orders nginx before sshd")
		}
		explain := mustExec(t, c, "hostkitctl", "boot", "explain", "sshd.service")
		if !strings.Contains(explain, "S54 link in /etc/rc") {
			t.Errorf("hostkitctl boot explain sshd.service does not name the S54 link")
		}
	})

	log.step(t, "4_sysv_generator_masked", func(t *testing.T) {
		c := bootKept(t, outer, testcontainer.Options{Name: "bootorder-wrappers", Logf: log.Logf,
			Setup: storySetup(t, story(55), deb, true)})
		wrappers = c
		mustExec(t, c, "ls", "-l", sysvMaskLink)
		units := []string{"lsb-a", "lsb-b", "nginx", "sshd", "gui-only"}
		for _, s := range units {
			u := s + ".service"
			frag := strings.TrimSpace(mustExec(t, c, "systemctl", "show", "-p", "FragmentPath", "--value", u))
			if frag != "/run/systemd/generator.late/"+u {
				t.Errorf("%s is loaded from %q, want hostkit's wrapper in /run/systemd/generator.late", u, frag)
				continue
			}
			if text := mustExec(t, c, "cat", frag); strings.Contains(text, "systemd-sysv-generator") || !strings.Contains(text, "hostkit") {
				t.Errorf("%s was not written by hostkit-bootorder-generator:\n%s", frag, text)
			}
		}
		mustExec(t, c, "systemctl", "cat", "sshd.service", "rc-local.service")
		checkBoot(t, c, "wrappers", wantStep2, []string{"lsb-a", "lsb-b", "nginx", "sshd", "gui-only", "rc.local"})
		recs := readRecords(t, c)
		for _, s := range units {
			if recs["rc.local"].begin < recs[s].end {
				t.Errorf("rc.local began at %.2f, before %s ended at %.2f: it must run last, as S99local", recs["rc.local"].begin, s, recs[s].end)
			}
		}
	})

	log.step(t, "5_analyze", func(t *testing.T) {
		if dropIns == nil || wrappers == nil {
			t.Fatal("steps 2 and 4 did not boot their containers")
		}
		// Every unit hostkit wrote in full (as files), and every unit it wrote or added
		// drop-ins to by name with --generators=yes: systemd-analyze then runs the
		// generators itself (hostkit's and systemd-sysv-generator, unless masked) into
		// directories of its own and loads the units with their drop-ins, as a boot does.
		// Nothing may be printed: warnings about a generated unit are errors here.
		for _, c := range []*testcontainer.Container{dropIns, wrappers} {
			full := lines(mustExec(t, c, "sh", "-c", `grep -l '^# Generated by hostkit-bootorder-generator' /run/systemd/generator.late/*.service; true`))
			withDropIns := lines(mustExec(t, c, "sh", "-c",
				`for d in /run/systemd/generator/*.d; do [ -e "$d/50-hostkit-bootorder.conf" ] && basename "$d" .d; done; true`))
			var names []string
			for _, f := range append(full, withDropIns...) {
				names = append(names, filepath.Base(f))
			}
			slices.Sort(names)
			names = slices.Compact(names)
			t.Logf("%s: hostkit wrote %d units in full and drop-ins for %d units", c.Name, len(full), len(withDropIns))
			if len(names) < 6 {
				t.Errorf("%s: hostkit wrote units or drop-ins for %q only, want at least the story's 5 scripts and rc-local.service", c.Name, names)
			}
			if c == wrappers && len(full) < 5 {
				t.Errorf("%s: with systemd-sysv-generator masked, hostkit wrote only %q in full", c.Name, full)
			}
			checks := [][]string{append([]string{"systemd-analyze", "verify", "--man=no", "--generators=yes"}, names...)}
			if len(full) > 0 {
				checks = append(checks, append([]string{"systemd-analyze", "verify", "--man=no"}, full...))
			}
			for _, args := range checks {
				out, err := c.Exec("sh", "-c", testcontainer.ShellQuote(args...)+" 2>&1")
				if err != nil {
					t.Errorf("%s: %s: %v", c.Name, strings.Join(args, " "), err)
				} else if s := strings.TrimSpace(out); s != "" {
					t.Errorf("%s: %s printed:\n%s", c.Name, strings.Join(args, " "), s)
				}
			}
		}
		checkExposure(t, dropIns, 2.0, bootUnit, verifyUnit)
	})
}

// bootKept boots a container in subtest t that stays up until outer ends (New would
// power it off when t ends), for a later step to look at the same boot.
func bootKept(t, outer *testing.T, opts testcontainer.Options) *testcontainer.Container {
	t.Helper()
	if err := testcontainer.CheckHost(); err != nil {
		t.Fatalf("cannot run system containers on this host: %v", err)
	}
	c, err := testcontainer.Boot(opts)
	if err != nil {
		t.Fatalf("boot test container: %v", err)
	}
	outer.Cleanup(func() {
		if err := c.Close(); err != nil {
			outer.Errorf("close test container %s: %v", c.Name, err)
		}
	})
	return c
}

// record is one script's start as its own log shows it: uptime seconds.
type record struct{ begin, end float64 }

// readRecords reads orderLog: script name -> its first start in this boot. A script that
// began and never ended, or began twice, fails the test.
func readRecords(t *testing.T, c *testcontainer.Container) map[string]record {
	t.Helper()
	recs := map[string]record{}
	for _, l := range lines(mustExec(t, c, "cat", orderLog)) {
		f := strings.Fields(l)
		if len(f) != 3 {
			t.Fatalf("%s: malformed line %q", orderLog, l)
		}
		v, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			t.Fatalf("%s: line %q: %v", orderLog, l, err)
		}
		r := recs[f[1]]
		switch f[0] {
		case "begin":
			if r.begin != 0 {
				t.Errorf("%s: %s started twice in one boot", orderLog, f[1])
			}
			r.begin = v
		case "end":
			r.end = v
		default:
			t.Fatalf("%s: malformed line %q", orderLog, l)
		}
		recs[f[1]] = r
	}
	for name, r := range recs {
		if r.end == 0 {
			t.Errorf("%s: %s began but never finished its start", orderLog, name)
		}
	}
	return recs
}

// beginOrder returns the names in recs by the time they began.
func beginOrder(recs map[string]record) []string {
	var names []string
	for name := range recs {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return recs[names[i]].begin < recs[names[j]].begin })
	return names
}

// recordName is the name a unit's script records under.
func recordName(unit string) string {
	if unit == "rc-local.service" {
		return "rc.local"
	}
	return strings.TrimSuffix(unit, ".service")
}

// bootPlan is the part of the plan JSON (`hostkit-bootorder plan --json`, Plan()) the
// test reads; the field names are the ones issue 3 fixes.
type bootPlan struct {
	Mode     string     `json:"mode"`
	Units    []planUnit `json:"units"`
	Warnings []struct {
		Path    string `json:"path"`
		Line    int    `json:"line"`
		Message string `json:"message"`
	} `json:"warnings"`
}

func (p bootPlan) unit(name string) *planUnit {
	for i := range p.Units {
		if p.Units[i].Unit == name {
			return &p.Units[i]
		}
	}
	return nil
}

type planUnit struct {
	Unit     string   `json:"unit"`
	Source   string   `json:"source"`
	Priority *int     `json:"priority"`
	Targets  []string `json:"targets"`
	After    []string `json:"after"`
	Before   []string `json:"before"`
}

// edges returns every edge of the plan as [first, then], from both after and before
// lists, sorted and without duplicates.
func (p bootPlan) edges() [][2]string {
	var out [][2]string
	for _, u := range p.Units {
		for _, a := range u.After {
			out = append(out, [2]string{a, u.Unit})
		}
		for _, b := range u.Before {
			out = append(out, [2]string{u.Unit, b})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i][0] != out[j][0] {
			return out[i][0] < out[j][0]
		}
		return out[i][1] < out[j][1]
	})
	return slices.Compact(out)
}

func (p bootPlan) ordered(first, then string) bool {
	return slices.Contains(p.edges(), [2]string{first, then})
}

// verification is the part of Verify()'s JSON the test reads.
type verification struct {
	BootID     string         `json:"boot_id"`
	Notes      []string       `json:"notes"`
	Checked    int            `json:"checked"`
	Violations int            `json:"violations"`
	Edges      []verifiedEdge `json:"edges"`
	NotRun     []struct {
		Unit   string `json:"unit"`
		Reason string `json:"reason"`
	} `json:"not_run"`
}

type verifiedEdge struct {
	First  string `json:"first"`
	Then   string `json:"then"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}
