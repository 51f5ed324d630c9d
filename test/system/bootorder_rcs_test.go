package system

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hostkit/hostkit/internal/repo"
	"github.com/hostkit/hostkit/internal/testcontainer"
)

// Runlevel S as Debian links it (issue 13): two scripts linked only in /etc/rcS.d, the
// second requiring the first, and a runlevel 2-5 script that requires the second and
// $remote_fs. hostkit plans the rcS.d scripts in sysinit.target, before basic.target, and
// the others after it. A plan that is right on paper can still be an ordering cycle at
// boot (sysinit.target is reached before most of the system): this boots it, with
// systemd-sysv-generator (drop-ins) and without it (wrappers), and checks the scripts'
// own records, systemd's timestamps, the verification and that systemd found no cycle.
type rcsScript struct {
	name, defaultStart, requires string
	links                        []string // below /etc
}

var rcsScripts = []rcsScript{
	{"early-a", "S", "", []string{"rcS.d/S01early-a"}},
	{"early-b", "S", "early-a", []string{"rcS.d/S02early-b"}},
	{"late-c", "2 3 4 5", "$remote_fs early-b", []string{"rc2.d/S01late-c", "rc3.d/S01late-c", "rc4.d/S01late-c", "rc5.d/S01late-c"}},
}

func (s rcsScript) text() string {
	return fmt.Sprintf("#!/bin/sh\n### BEGIN INIT INFO\n# Provides:          %s\n# Required-Start:    %s\n"+
		"# Required-Stop:\n# Default-Start:     %s\n# Default-Stop:\n# Short-Description: hostkit runlevel S test %s\n"+
		"### END INIT INFO\n\n%s", s.name, s.requires, s.defaultStart, s.name, strings.ReplaceAll(recorder, "NAME", s.name))
}

func rcsSetup(deb string, maskSysV bool) func(root string) error {
	return func(root string) error {
		for _, s := range rcsScripts {
			p := filepath.Join(root, "etc/init.d", s.name)
			if err := os.WriteFile(p, []byte(s.text()), 0o755); err != nil {
				return err
			}
			for _, l := range s.links {
				lp := filepath.Join(root, "etc", l)
				if err := os.MkdirAll(filepath.Dir(lp), 0o755); err != nil {
					return err
				}
				if err := os.Symlink("../init.d/"+s.name, lp); err != nil {
					return err
				}
			}
		}
		if maskSysV {
			mask := filepath.Join(root, sysvMaskLink)
			if err := os.MkdirAll(filepath.Dir(mask), 0o755); err != nil {
				return err
			}
			if err := os.Symlink("/dev/null", mask); err != nil {
				return err
			}
		}
		data, err := os.ReadFile(deb)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(debInRoot)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(root, debInRoot), data, 0o644); err != nil {
			return err
		}
		cmd := exec.Command("chroot", root, "dpkg", "-i", debInRoot)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive"}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("chroot %s dpkg -i %s: %w\n%s", root, debInRoot, err, out)
		}
		return nil
	}
}

func TestBootOrderRunlevelS(t *testing.T) {
	deb := findDeb(t, repo.RootT(t))
	for _, mode := range []struct {
		name     string
		maskSysV bool
	}{{"drop-ins", false}, {"wrappers", true}} {
		t.Run(mode.name, func(t *testing.T) {
			c := testcontainer.New(t, testcontainer.Options{Name: "bootorder-rcs", Setup: rcsSetup(deb, mode.maskSysV)})

			if j := mustExec(t, c, "journalctl", "--no-pager", "-b", "-o", "cat"); regexp.MustCompile(`(?i)ordering cycle`).MatchString(j) {
				t.Errorf("systemd found an ordering cycle at boot:\n%s", grepLines(j, "cycle"))
			}
			var plan bootPlan
			decodeJSON(t, "hostkit-bootorder plan --root / --json", mustExec(t, c, "hostkit-bootorder", "plan", "--root", "/", "--json"), &plan)
			if plan.Mode != mode.name {
				t.Errorf("plan mode %q, want %q", plan.Mode, mode.name)
			}
			for _, w := range plan.Warnings {
				t.Errorf("plan warning: %s:%d: %s", w.Path, w.Line, w.Message)
			}
			for _, e := range [][2]string{{"early-a.service", "early-b.service"}, {"early-b.service", "late-c.service"}} {
				if !plan.ordered(e[0], e[1]) {
					t.Errorf("the plan does not order %s before %s; edges: %q", e[0], e[1], plan.edges())
				}
			}

			// The scripts' own records: each began after the one it requires ended.
			recs := readRecords(t, c)
			for _, pair := range [][2]string{{"early-a", "early-b"}, {"early-b", "late-c"}} {
				a, aok := recs[pair[0]]
				b, bok := recs[pair[1]]
				if !aok || !bok {
					t.Fatalf("%s or %s did not run at boot: records %v", pair[0], pair[1], recs)
				}
				if b.begin < a.end {
					t.Errorf("%s began at %.2f, before %s ended at %.2f", pair[1], b.begin, pair[0], a.end)
				}
			}

			// systemd's timestamps: the rcS.d scripts were done before basic.target, the
			// runlevel 2-5 script started after it.
			basic := monotonic(t, c, "basic.target", "ActiveEnterTimestampMonotonic")
			for _, s := range []string{"early-a", "early-b"} {
				if done := monotonic(t, c, s+".service", "ActiveEnterTimestampMonotonic"); done == 0 || done > basic {
					t.Errorf("%s.service active at %d µs, basic.target at %d µs: runlevel S must be done before basic.target", s, done, basic)
				}
			}
			if began := monotonic(t, c, "late-c.service", "InactiveExitTimestampMonotonic"); began < basic {
				t.Errorf("late-c.service started at %d µs, before basic.target at %d µs", began, basic)
			}
			if out, err := c.Exec("hostkitctl", "boot", "verify"); err != nil {
				t.Errorf("hostkitctl boot verify: %v\n%s", err, out)
			}
		})
	}
}

// monotonic reads a timestamp property of unit, in µs since boot; 0 when unset.
func monotonic(t *testing.T, c *testcontainer.Container, unit, prop string) uint64 {
	t.Helper()
	v := strings.TrimSpace(mustExec(t, c, "systemctl", "show", "-p", prop, "--value", unit))
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("%s %s=%q: %v", unit, prop, v, err)
	}
	return n
}

// grepLines returns the lines of s that contain word, ignoring case.
func grepLines(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(strings.ToLower(l), word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
