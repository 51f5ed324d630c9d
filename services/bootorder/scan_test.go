package bootorder

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected plans in testdata/trees")

// goldenTrees are the trees under testdata/trees, each a root directory, with the mode
// its plan is made in. NAME.plan.json and NAME.plan.txt beside each are the expected
// plan; `go test -run TestGoldenTrees -update` rewrites them.
var goldenTrees = []struct{ name, mode string }{
	{"story", ModeDropIns},       // CentOS 6: sshd and nginx both at 55, mysql.server-style header, rc.local
	{"story-fixed", ModeDropIns}, // sshd moved to 54; httpd's header edited but not re-added
	{"debian", ModeWrappers},     // LSB only, insserv numbers, Provides $network, $all, runlevel 5 only
	{"chkconfig-only", ModeWrappers},
	{"rules", ModeDropIns},
	{"bad-input", ModeWrappers},
	{"debian12", ModeDropIns}, // real Debian 12 scripts, insserv.conf(.d), insserv's links, rcS.d
}

func TestGoldenTrees(t *testing.T) {
	for i, c := range goldenTrees {
		root := filepath.Join("testdata", "trees", c.name)
		tree, err := Scan(root)
		if err != nil {
			t.Errorf("case %d (%s): Scan: %v", i, c.name, err)
			continue
		}
		checkGolden(t, fmt.Sprintf("case %d (%s)", i, c.name), PlanOrder(tree, c.mode), root)
	}
}

// checkGolden compares plan with base.plan.json and base.plan.txt, or writes them with
// -update.
func checkGolden(t *testing.T, where string, plan *Plan, base string) {
	t.Helper()
	got, err := json.MarshalIndent(plan, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	var text bytes.Buffer
	if err := WritePlanText(&text, plan); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		file string
		data []byte
	}{{base + ".plan.json", got}, {base + ".plan.txt", text.Bytes()}} {
		if *update {
			if err := os.WriteFile(f.file, f.data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(f.file)
		if err != nil {
			t.Errorf("%s: %v (run go test -update)", where, err)
			continue
		}
		if !bytes.Equal(f.data, want) {
			t.Errorf("%s: the plan differs from %s (go test -update rewrites it; review the diff): %s", where, f.file, firstDiff(f.data, want))
		}
	}
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got  %q\n want %q", i+1, gl, wl)
		}
	}
	return "same lines"
}

func TestScanStaysInsideRoot(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	write(t, filepath.Join(outside, "etc/init.d/evil"), "#!/bin/sh\n# chkconfig: 2345 1 99\n", 0o755)
	// An absolute link resolves inside root, as on the target system: /etc/init.d ->
	// /opt/initd means ROOT/opt/initd, never the host's /opt/initd.
	write(t, filepath.Join(root, "opt/initd/good"), "#!/bin/sh\n# chkconfig: 2345 10 90\n", 0o755)
	mustSymlink(t, "/opt/initd", filepath.Join(root, "etc/init.d"))
	// Links climbing above root stop at root.
	mustSymlink(t, "../../../../../../.."+outside+"/etc/init.d/evil", filepath.Join(root, "opt/initd/escape"))
	mustSymlink(t, "../init.d/good", filepath.Join(root, "etc/rc3.d/S10good"))
	tr, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Scripts) != 1 || tr.Scripts[0].Path != "/etc/init.d/good" || len(tr.Scripts[0].Links) != 1 {
		t.Errorf("scripts %+v, want only good, linked", tr.Scripts)
	}
	if len(tr.Warnings) != 1 || FormatWarning(tr.Warnings[0]) != "/etc/init.d/escape: symbolic link to a missing file; skipped" {
		t.Errorf("warnings %v, want one: escape points to a missing file (inside root)", tr.Warnings)
	}
}

// TestScanMaskedInsideRoot: /etc/systemd/system may be an absolute link (to /srv/units,
// say); whether a unit in it is masked is read inside root, never through the host's
// /srv/units.
func TestScanMaskedInsideRoot(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir() // stands for the host's directory of the same name
	mustSymlink(t, outside, filepath.Join(root, "etc/systemd/system"))
	// Inside root: a masked, b a real unit file. On the host: the opposite.
	mustSymlink(t, "/dev/null", filepath.Join(root, outside, "a.service"))
	write(t, filepath.Join(root, outside, "b.service"), "[Unit]\n", 0o644)
	write(t, filepath.Join(outside, "a.service"), "[Unit]\n", 0o644)
	mustSymlink(t, "/dev/null", filepath.Join(outside, "b.service"))
	tr, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	if tr.NativeUnits["a.service"] != "/etc/systemd/system/a.service" || tr.NativeUnits["b.service"] != "/etc/systemd/system/b.service" {
		t.Errorf("native units %v, want a and b in /etc/systemd/system", tr.NativeUnits)
	}
	if !tr.Masked["a.service"] || tr.Masked["b.service"] {
		t.Errorf("masked %v, want a.service only (as inside root)", tr.Masked)
	}
}

// TestScanRCLinks: any S or K link in rc1.d to rc5.d, even Red Hat's S99local alone,
// says the system enables its scripts there; a script without links is then not started.
func TestScanRCLinks(t *testing.T) {
	cases := []struct {
		name  string
		links map[string]string // link -> target
		want  bool
	}{
		{"no rcN.d at all", nil, false},
		{"S99local only", map[string]string{"etc/rc.d/rc3.d/S99local": "../rc.local"}, true},
		{"a K link", map[string]string{"etc/rc1.d/K20a": "../init.d/a"}, true},
		{"a link to no script", map[string]string{"etc/rc2.d/S10gone": "../init.d/gone"}, true},
		{"not an S or K link", map[string]string{"etc/rc2.d/README": "../init.d/a"}, false},
	}
	for i, c := range cases {
		root := t.TempDir()
		write(t, filepath.Join(root, "etc/init.d/a"), "#!/bin/sh\n# chkconfig: 2345 10 90\n", 0o755)
		write(t, filepath.Join(root, "etc/rc.d/rc.local"), "#!/bin/sh\n", 0o755)
		for link, target := range c.links {
			mustSymlink(t, target, filepath.Join(root, link))
		}
		tr, err := Scan(root)
		if err != nil {
			t.Fatal(err)
		}
		if tr.RCLinks != c.want {
			t.Errorf("case %d (%s): RCLinks %v, want %v", i, c.name, tr.RCLinks, c.want)
		}
		u := PlanOrder(tr, ModeDropIns).Find("a.service")
		if enabled := u != nil && len(u.Targets) > 0; enabled == c.want {
			t.Errorf("case %d (%s): a.service %+v, want enabled %v", i, c.name, u, !c.want)
		}
	}
}

func TestScanErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	write(t, file, "x", 0o644)
	for i, root := range []string{filepath.Join(t.TempDir(), "missing"), file} {
		if _, err := Scan(root); err == nil {
			t.Errorf("case %d (%s): no error", i, root)
		}
	}
	// An empty root is a valid, empty system.
	tr, err := Scan(t.TempDir())
	if err != nil || len(tr.Scripts) != 0 || len(tr.Warnings) != 0 || tr.RCLocal != nil {
		t.Errorf("empty root: %+v, %v", tr, err)
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
