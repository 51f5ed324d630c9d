// Package generator tests the hostkit-bootorder-generator binary end to end, as systemd
// runs it: built from this tree, given three output directories, reading a small
// SysV tree under HOSTKIT_BOOTORDER_ROOT, in both modes.
package generator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hostkit/hostkit/internal/repo"
	"github.com/hostkit/hostkit/services/bootorder"
)

const prog = "hostkit-bootorder-generator"

// sysvGenerator is systemd's, to verify hostkit's drop-ins against the units it writes.
const sysvGenerator = "/usr/lib/systemd/system-generators/systemd-sysv-generator"

// binary is the generator built by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hostkit-generator-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, prog)
	build := exec.Command("go", "build", "-o", binary, "github.com/hostkit/hostkit/cmd/"+prog)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build %s: %v\n%s", prog, err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// file is one entry of a test tree: content for a file (mode 0755 when exec), or a
// symlink target.
type file struct {
	content string
	exec    bool
	link    string
}

func writeTree(t *testing.T, root string, tree map[string]file) {
	t.Helper()
	for path, f := range tree {
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case f.link != "":
			err = os.Symlink(f.link, p)
		case f.exec:
			err = os.WriteFile(p, []byte(f.content), 0o755)
		default:
			err = os.WriteFile(p, []byte(f.content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// storyTree is the story in small: sshd and nginx at equal priority 55 (rc ran
// nginx first, by name), mysql with a chkconfig line and an LSB block that asks for
// $network, xdm only in runlevel 5, and rc.local.
func storyTree() map[string]file {
	script := func(header string) file {
		return file{exec: true, content: "#!/bin/sh\n" + header +
			"case \"$1\" in\n  start|stop|reload) exit 0 ;;\nesac\nexit 3\n"}
	}
	tree := map[string]file{
		"etc/init.d/sshd":  script("# chkconfig: 2345 55 25\n# description: OpenSSH server daemon\n"),
		"etc/init.d/nginx": script("# chkconfig: 2345 55 25\n# description: nginx web server\n# pidfile: /var/run/nginx.pid\n"),
		"etc/init.d/mysql": script("# chkconfig: 2345 64 36\n# description: MySQL server\n" +
			"### BEGIN INIT INFO\n# Provides: mysql\n# Required-Start: $local_fs $network $remote_fs\n" +
			"# Required-Stop: $local_fs $remote_fs\n# Default-Start: 2 3 4 5\n# Default-Stop: 0 1 6\n" +
			"# Short-Description: start and stop MySQL\n### END INIT INFO\n"),
		"etc/init.d/xdm": script("# chkconfig: 5 95 05\n# description: X display manager\n"),
		"etc/rc.local":   {exec: true, content: "#!/bin/sh\nexit 0\n"},
	}
	for rl := 2; rl <= 5; rl++ {
		tree[fmt.Sprintf("etc/rc%d.d/S55sshd", rl)] = file{link: "../init.d/sshd"}
		tree[fmt.Sprintf("etc/rc%d.d/S55nginx", rl)] = file{link: "../init.d/nginx"}
		tree[fmt.Sprintf("etc/rc%d.d/S64mysql", rl)] = file{link: "../init.d/mysql"}
	}
	tree["etc/rc5.d/S95xdm"] = file{link: "../init.d/xdm"}
	return tree
}

// result is one run of the generator.
type result struct {
	code                int
	stderr              string
	normal, early, late string
	plan                bootorder.Plan
}

// runGenerator runs the binary with three fresh output directories, as systemd does.
func runGenerator(t *testing.T, root, mode string) result {
	t.Helper()
	out := t.TempDir()
	r := result{normal: filepath.Join(out, "normal"), early: filepath.Join(out, "early"), late: filepath.Join(out, "late")}
	for _, d := range []string{r.normal, r.early, r.late} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(binary, r.normal, r.early, r.late)
	cmd.Env = append(os.Environ(), "HOSTKIT_BOOTORDER_ROOT="+root, "HOSTKIT_BOOTORDER_MODE="+mode)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	r.stderr = stderr.String()
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %s: %v", prog, err)
	}
	if b, err := os.ReadFile(filepath.Join(r.normal, "hostkit-bootorder.plan.json")); err == nil {
		if err := json.Unmarshal(b, &r.plan); err != nil {
			t.Errorf("plan JSON: %v\n%s", err, b)
		}
	}
	return r
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%v", err)
	}
	return string(b)
}

func findUnit(p *bootorder.Plan, name string) *bootorder.Unit {
	for i := range p.Units {
		if p.Units[i].Unit == name {
			return &p.Units[i]
		}
	}
	return nil
}

func TestDropIns(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, storyTree())
	r := runGenerator(t, root, bootorder.ModeDropIns)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", r.code, r.stderr)
	}
	if r.plan.Mode != bootorder.ModeDropIns || len(r.plan.Units) < 5 {
		t.Errorf("plan: mode %q with %d units, want drop-ins with sshd, nginx, mysql, xdm, rc-local", r.plan.Mode, len(r.plan.Units))
	}
	// Equal priority: rc ran nginx before sshd (C locale order), and so must systemd.
	sshd := readFile(t, filepath.Join(r.normal, "sshd.service.d", bootorder.DropInName))
	if !strings.Contains(sshd, "\nAfter=nginx.service") || !strings.Contains(sshd, "hostkit-bootorder(8)") {
		t.Errorf("sshd.service drop-in does not order it after nginx.service:\n%s", sshd)
	}
	mysql := readFile(t, filepath.Join(r.normal, "mysql.service.d", bootorder.DropInName))
	for _, want := range []string{"network-online.target", "Wants=network-online.target", "sshd.service"} {
		if !strings.Contains(mysql, want) {
			t.Errorf("mysql.service drop-in lacks %q:\n%s", want, mysql)
		}
	}
	rc := readFile(t, filepath.Join(r.normal, "rc-local.service.d", bootorder.DropInName))
	for _, u := range []string{"sshd.service", "nginx.service", "mysql.service", "xdm.service"} {
		if !strings.Contains(rc, u) {
			t.Errorf("rc-local.service drop-in does not order it after %s:\n%s", u, rc)
		}
	}
	// systemd-sysv-generator writes the units: nothing of hostkit's in the late or
	// early directory, and no units of its own beside the drop-ins.
	for _, d := range []string{r.early, r.late} {
		if entries, _ := os.ReadDir(d); len(entries) > 0 {
			t.Errorf("%s holds %d entries, want none in drop-ins mode", d, len(entries))
		}
	}
	if _, err := os.Stat(filepath.Join(r.normal, "nginx.service")); err == nil {
		t.Errorf("drop-ins mode wrote a complete nginx.service")
	}
}

func TestWrappers(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, storyTree())
	r := runGenerator(t, root, bootorder.ModeWrappers)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", r.code, r.stderr)
	}
	if r.plan.Mode != bootorder.ModeWrappers {
		t.Errorf("plan mode %q, want wrappers", r.plan.Mode)
	}
	nginx := readFile(t, filepath.Join(r.late, "nginx.service"))
	for _, want := range []string{"ExecStart=/etc/init.d/nginx start\n", "ExecStop=/etc/init.d/nginx stop\n",
		"ExecReload=/etc/init.d/nginx reload\n", "SourcePath=/etc/init.d/nginx\n", "PIDFile=/run/nginx.pid\n",
		"Type=forking\n", "RemainAfterExit=yes\n"} {
		if !strings.Contains(nginx, want) {
			t.Errorf("nginx.service lacks %q (paths must be as on the target, not under the test root):\n%s", want, nginx)
		}
	}
	if sshd := readFile(t, filepath.Join(r.late, "sshd.service")); !strings.Contains(sshd, "\nAfter=nginx.service") {
		t.Errorf("sshd.service not ordered after nginx.service:\n%s", sshd)
	}
	rcLocal := readFile(t, filepath.Join(r.late, "rc-local.service"))
	if !strings.Contains(rcLocal, "ExecStart=/etc/rc.local start\n") {
		t.Errorf("rc-local.service:\n%s", rcLocal)
	}
	if rc := readFile(t, filepath.Join(r.normal, "rc-local.service.d", bootorder.DropInName)); !strings.Contains(rc, "xdm.service") {
		t.Errorf("rc-local.service is not ordered after xdm.service:\n%s", rc)
	}

	// Runlevels 2345 -> multi-user and graphical; xdm only in 5 -> graphical only.
	links := map[string]bool{}
	for _, target := range []string{"multi-user.target", "graphical.target", "rescue.target"} {
		entries, _ := os.ReadDir(filepath.Join(r.late, target+".wants"))
		for _, e := range entries {
			dest, err := os.Readlink(filepath.Join(r.late, target+".wants", e.Name()))
			if err != nil || dest != "../"+e.Name() {
				t.Errorf("%s.wants/%s -> %q (%v), want ../%s", target, e.Name(), dest, err, e.Name())
			}
			links[target+"/"+e.Name()] = true
		}
	}
	for _, want := range []string{"multi-user.target/sshd.service", "graphical.target/sshd.service",
		"multi-user.target/nginx.service", "graphical.target/mysql.service", "graphical.target/xdm.service",
		"multi-user.target/rc-local.service"} {
		if !links[want] {
			t.Errorf("no link %s.wants/%s; have %v", filepath.Dir(want), filepath.Base(want), slices.Sorted(mapKeys(links)))
		}
	}
	if links["multi-user.target/xdm.service"] {
		t.Errorf("xdm (runlevel 5 only) is wanted by multi-user.target")
	}
	if u := findUnit(&r.plan, "xdm.service"); u == nil || u.Source != "/etc/init.d/xdm" {
		t.Errorf("plan: xdm.service = %+v, want source /etc/init.d/xdm", u)
	}
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestGarbage: a binary file as an init script and symbolic link loops, in init.d and
// in rc3.d, give warnings naming the files, and the generator still orders the rest and
// exits 0.
func TestGarbage(t *testing.T) {
	root := t.TempDir()
	tree := storyTree()
	junk := []byte("\x7fELF\x02\x01\x01\x00\x00\x00# chkconfig: 2345 \xff\xfe 99\n\x00\x00")
	for i := 0; i < 4096; i++ {
		junk = append(junk, byte(i*131))
	}
	tree["etc/init.d/junk"] = file{exec: true, content: string(junk)}
	tree["etc/rc3.d/S50junk"] = file{link: "../init.d/junk"}
	tree["etc/init.d/loop-a"] = file{link: "loop-b"}
	tree["etc/init.d/loop-b"] = file{link: "loop-a"}
	tree["etc/rc3.d/S20loop"] = file{link: "S20loop"}
	writeTree(t, root, tree)

	for i, mode := range []string{bootorder.ModeDropIns, bootorder.ModeWrappers} {
		r := runGenerator(t, root, mode)
		if r.code != 0 {
			t.Errorf("case %d (%s): exit %d, want 0; stderr:\n%s", i, mode, r.code, r.stderr)
		}
		for _, path := range []string{"/etc/init.d/junk", "/etc/init.d/loop-a", "/etc/rc3.d/S20loop"} {
			if !strings.Contains(r.stderr, prog+": "+path) {
				t.Errorf("case %d (%s): no warning on stderr starting %q:\n%s", i, mode, prog+": "+path, r.stderr)
			}
		}
		for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
			if !strings.HasPrefix(line, prog+": ") {
				t.Errorf("case %d (%s): stderr line without the program name: %q", i, mode, line)
			}
		}
		if strings.Contains(r.stderr, root) {
			t.Errorf("case %d (%s): warnings name paths under the test root, not as on the target:\n%s", i, mode, r.stderr)
		}
		if len(r.plan.Warnings) == 0 {
			t.Errorf("case %d (%s): the saved plan has no warnings", i, mode)
		}
		// The good scripts are still ordered.
		if u := findUnit(&r.plan, "sshd.service"); u == nil || !slices.Contains(u.After, "nginx.service") {
			t.Errorf("case %d (%s): sshd.service in the plan: %+v, want it after nginx.service", i, mode, u)
		}
	}
}

// TestUnwritableOutput: the one failure the generator reports with its exit status.
func TestUnwritableOutput(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, storyTree())
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, filepath.Join(notDir, "normal"), filepath.Join(notDir, "early"), filepath.Join(notDir, "late"))
	cmd.Env = append(os.Environ(), "HOSTKIT_BOOTORDER_ROOT="+root, "HOSTKIT_BOOTORDER_MODE=wrappers")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("exit %v, want status 1; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), prog+": ") || !strings.Contains(string(out), notDir) {
		t.Errorf("error does not name the output directory %s:\n%s", notDir, out)
	}
}

// TestEmptyRoot: a system without init scripts gets no units and an empty plan, and
// the generator is quiet.
func TestEmptyRoot(t *testing.T) {
	r := runGenerator(t, t.TempDir(), bootorder.ModeWrappers)
	if r.code != 0 || r.stderr != "" {
		t.Errorf("exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
	}
	if len(r.plan.Units) != 0 {
		t.Errorf("plan has %d units, want none", len(r.plan.Units))
	}
	if entries, _ := os.ReadDir(r.late); len(entries) != 0 {
		t.Errorf("late directory holds %d entries, want none", len(entries))
	}
}

// TestUsage: systemd always passes three directories; anything else is a usage error,
// exit status 64 (EX_USAGE).
func TestUsage(t *testing.T) {
	for i, args := range [][]string{{}, {"a", "b"}} {
		out, err := exec.Command(binary, args...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 64 || !strings.Contains(string(out), "usage") {
			t.Errorf("case %d (%q): %v, %s; want exit 64 with usage", i, args, err, out)
		}
	}
}

// TestVerify runs `systemd-analyze verify` on everything the generator writes for the
// story tree, in both modes. In drop-ins mode the drop-ins are verified with the units
// they add to: those systemd-sysv-generator writes for the same tree, and the packaged
// rc-local.service (a stub where the host has none). The wrapper units name the
// scripts as on the target (/etc/init.d/nginx), which systemd-analyze checks for an
// executable, so copies of them name the scripts under the test root instead (252's
// `verify --root=` does not find units outside the root's unit directories). Units and
// drop-ins are copied into one directory, which verify searches for each unit it is
// given. Any output fails the test: systemd-analyze exits 0 on unknown settings.
func TestVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze not found (apt-get install systemd): %v", err)
	}
	story := t.TempDir()
	writeTree(t, story, storyTree())
	// Real Debian 12 scripts with insserv's links, rcS.d among them (issue 13).
	debian12 := filepath.Join(repo.RootT(t), "services/bootorder/testdata/trees/debian12")
	for i, c := range []struct{ root, mode string }{
		{story, bootorder.ModeDropIns}, {story, bootorder.ModeWrappers},
		{debian12, bootorder.ModeDropIns}, {debian12, bootorder.ModeWrappers},
	} {
		root, mode := c.root, c.mode
		r := runGenerator(t, root, mode)
		if r.code != 0 {
			t.Fatalf("case %d (%s): exit %d: %s", i, mode, r.code, r.stderr)
		}
		if mode == bootorder.ModeDropIns {
			sysv := exec.Command(sysvGenerator, t.TempDir(), t.TempDir(), r.late)
			sysv.Env = append(os.Environ(), "SYSTEMD_SYSVINIT_PATH="+filepath.Join(root, "etc/init.d"),
				"SYSTEMD_SYSVRCND_PATH="+filepath.Join(root, "etc"), "SYSTEMD_UNIT_PATH="+t.TempDir())
			if out, err := sysv.CombinedOutput(); err != nil {
				t.Fatalf("%s (apt-get install systemd): %v\n%s", sysvGenerator, err, out)
			}
		}
		dir := t.TempDir()
		var units []string
		onRoot := strings.NewReplacer("=/etc/", "="+root+"/etc/", "=file:/etc/", "=file:"+root+"/etc/")
		for _, src := range []string{r.late, r.normal} {
			err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() || d.Type()&os.ModeSymlink != 0 || strings.HasSuffix(path, ".json") {
					return err
				}
				rel, _ := filepath.Rel(src, path)
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				text := onRoot.Replace(string(b))
				dst := filepath.Join(dir, rel)
				if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
					return err
				}
				if !strings.Contains(rel, "/") {
					units = append(units, dst)
				}
				return os.WriteFile(dst, []byte(text), 0o644)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		dropIns, _ := filepath.Glob(filepath.Join(dir, "*.d"))
		for _, d := range dropIns {
			unit := strings.TrimSuffix(d, ".d")
			if !slices.Contains(units, unit) {
				stub, err := os.ReadFile(filepath.Join("/lib/systemd/system", filepath.Base(unit)))
				if err != nil {
					stub = []byte("[Unit]\nDescription=stub for the test\n\n[Service]\nExecStart=/bin/true\n")
				}
				if err := os.WriteFile(unit, []byte(onRoot.Replace(string(stub))), 0o644); err != nil {
					t.Fatal(err)
				}
				units = append(units, unit)
			}
		}
		if len(units) < 4 {
			t.Fatalf("case %d (%s): only %d units to verify", i, mode, len(units))
		}
		if root == debian12 {
			// The scripts of rcS.d: enabled by sysinit.target in both modes (there is no
			// one else to: systemd-sysv-generator does not read rcS.d), and without
			// default dependencies.
			for _, early := range []string{"hwclock.service", "procps.service", "networking.service", "x11-common.service"} {
				if _, err := os.Lstat(filepath.Join(r.late, "sysinit.target.wants", early)); err != nil {
					t.Errorf("case %d (%s): %s not wanted by sysinit.target: %v", i, mode, early, err)
				}
				text := readFile(t, filepath.Join(dir, early))
				if d, err := os.ReadFile(filepath.Join(dir, early+".d", bootorder.DropInName)); err == nil {
					text += string(d)
				}
				if !strings.Contains(text, "DefaultDependencies=no") || !strings.Contains(text, "Before=basic.target") {
					t.Errorf("case %d (%s): %s lacks DefaultDependencies=no or Before=basic.target:\n%s", i, mode, early, text)
				}
			}
		}
		cmd := exec.Command(analyze, append([]string{"verify"}, units...)...)
		cmd.Env = append(os.Environ(), "SYSTEMD_PAGER=cat")
		out, err := cmd.CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("case %d (%s, %s): systemd-analyze verify: %v\n%s", i, mode, filepath.Base(root), err, out)
		} else {
			t.Logf("case %d (%s): systemd-analyze verify passed on %d units, %d with drop-ins", i, mode, len(units), len(dropIns))
		}
	}
}

// TestNoCycleWithSysvGenerator runs systemd's systemd-sysv-generator and hostkit's in
// drop-ins mode on one tree and checks that the ordering they load together has no
// cycle. a's S links disagree (S50 in rc2.d, rc4.d and rc5.d, S70 in rc3.d):
// systemd-sysv-generator orders by the highest, 70, so a after b (S60); going by rc2.d's
// 50 hostkit would add b after a, a cycle systemd breaks by deleting a start job. gone
// lost its links (chkconfig --del) and is started by neither: b and a must be ordered
// directly, not through it.
func TestNoCycleWithSysvGenerator(t *testing.T) {
	root := t.TempDir()
	tree := map[string]file{
		"etc/init.d/a":    {content: "#!/bin/sh\n# chkconfig: 2345 50 50\n", exec: true},
		"etc/init.d/b":    {content: "#!/bin/sh\n# chkconfig: 2345 60 40\n", exec: true},
		"etc/init.d/gone": {content: "#!/bin/sh\n# chkconfig: 2345 65 35\n", exec: true},
		"etc/rc3.d/S70a":  {link: "../init.d/a"},
	}
	for _, l := range []string{"2", "4", "5"} {
		tree["etc/rc"+l+".d/S50a"] = file{link: "../init.d/a"}
	}
	for _, l := range []string{"2", "3", "4", "5"} {
		tree["etc/rc"+l+".d/S60b"] = file{link: "../init.d/b"}
	}
	writeTree(t, root, tree)
	r := runGenerator(t, root, bootorder.ModeDropIns)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	sysv := exec.Command(sysvGenerator, t.TempDir(), t.TempDir(), r.late)
	sysv.Env = append(os.Environ(), "SYSTEMD_SYSVINIT_PATH="+filepath.Join(root, "etc/init.d"),
		"SYSTEMD_SYSVRCND_PATH="+filepath.Join(root, "etc"), "SYSTEMD_UNIT_PATH="+t.TempDir())
	if out, err := sysv.CombinedOutput(); err != nil {
		t.Fatalf("%s (apt-get install systemd): %v\n%s", sysvGenerator, err, out)
	}
	// Every After= and Before= both generators wrote, as edges earlier -> later.
	succ := map[string][]string{}
	for _, dir := range []string{r.late, r.normal} {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Type()&os.ModeSymlink != 0 || !strings.HasSuffix(path, ".service") && !strings.HasSuffix(path, ".conf") {
				return err
			}
			unit := filepath.Base(path)
			if strings.HasSuffix(path, ".conf") {
				unit = strings.TrimSuffix(filepath.Base(filepath.Dir(path)), ".d")
			}
			for _, line := range strings.Split(readFile(t, path), "\n") {
				key, value, _ := strings.Cut(line, "=")
				for _, other := range strings.Fields(value) {
					switch key {
					case "After":
						succ[other] = append(succ[other], unit)
					case "Before":
						succ[unit] = append(succ[unit], other)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Contains(succ["b.service"], "a.service") {
		t.Errorf("no edge b.service -> a.service (a at 70 after b at 60): %v", succ)
	}
	if len(succ["gone.service"]) > 0 {
		t.Errorf("gone.service, started by nothing, is ordered before %v", succ["gone.service"])
	}
	state := map[string]int{}
	var visit func(n string, path []string)
	visit = func(n string, path []string) {
		switch state[n] {
		case 1:
			t.Errorf("ordering cycle: %v", append(path, n))
			return
		case 2:
			return
		}
		state[n] = 1
		for _, s := range succ[n] {
			visit(s, append(path, n))
		}
		state[n] = 2
	}
	for _, n := range []string{"a.service", "b.service"} {
		visit(n, nil)
	}
	if _, err := os.Stat(filepath.Join(r.late, "multi-user.target.wants", "gone.service")); err == nil {
		t.Errorf("systemd-sysv-generator enabled gone.service, which has no links")
	}
	if u := findUnit(&r.plan, "gone.service"); u == nil || len(u.Targets) != 0 {
		t.Errorf("plan: gone.service %+v, want it in no target", u)
	}
}
