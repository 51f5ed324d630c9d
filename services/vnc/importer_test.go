package vnc

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs; got:\n%s", path, got)
	}
}

// TestImport converts the sample trees of testdata/import: TigerVNC's vncserver.users with
// ~/.vnc/config and ~/.config/tigervnc/config (Debian), and /etc/sysconfig/vncservers
// (CentOS 6). The result must load as vnc.conf.
func TestImport(t *testing.T) {
	cases := []struct {
		tree       string
		displays   []int
		disable    []string
		notes      []string
		problemsOf []int // displays the result leaves for the admin to finish
	}{
		{"debian", []int{1, 2, 3, 4},
			[]string{"systemctl disable --now tigervncserver@:1.service", "systemctl disable --now tigervncserver@:2.service",
				"systemctl disable --now tigervncserver@:3.service", "systemctl disable --now tigervncserver@:4.service"},
			[]string{`/etc/tigervnc/vncserver.users:12: not a :N=user line: "3=dave"`,
				"/etc/tigervnc/vncserver.users:13: display :1 was found before"},
			nil},
		{"centos6", []int{1, 2},
			[]string{"service vncserver stop && chkconfig vncserver off"},
			[]string{`/etc/sysconfig/vncservers:14: not an N:user pair: "3"`,
				`/etc/sysconfig/vncservers:17: not a display number: "VNCSERVERARGS[x]"`,
				"/etc/sysconfig/vncservers:18: OTHER= is not read by the importer"},
			[]int{1, 2}},
	}
	for i, c := range cases {
		im, err := Import(filepath.Join("testdata", "import", c.tree), nil)
		if err != nil {
			t.Fatalf("case %d (%s): %v", i, c.tree, err)
		}
		var nums []int
		for _, d := range im.Displays {
			nums = append(nums, d.Number)
		}
		if !slices.Equal(nums, c.displays) {
			t.Errorf("case %d (%s): displays %v, want %v", i, c.tree, nums, c.displays)
		}
		if !slices.Equal(im.Disable, c.disable) {
			t.Errorf("case %d (%s): disable %q, want %q", i, c.tree, im.Disable, c.disable)
		}
		var notes []string
		for _, n := range im.Notes {
			notes = append(notes, n.String())
		}
		for _, w := range c.notes {
			if !slices.ContainsFunc(notes, func(n string) bool { return strings.HasPrefix(n, w) }) {
				t.Errorf("case %d (%s): no note %q in %q", i, c.tree, w, notes)
			}
		}
		conf := im.Conf()
		golden(t, "import/"+c.tree+".conf", conf)
		path := filepath.Join(t.TempDir(), "vnc.conf")
		os.WriteFile(path, []byte(conf), 0o644)
		loaded, err := Load(path)
		if err != nil {
			t.Errorf("case %d (%s): the imported configuration does not load: %v", i, c.tree, err)
			continue
		}
		var refused []int
		for _, p := range loaded.Problems() {
			refused = append(refused, p.Display.Number)
		}
		if !slices.Equal(refused, c.problemsOf) {
			t.Errorf("case %d (%s): displays refused %v, want %v: %v", i, c.tree, refused, c.problemsOf, loaded.Problems())
		}
	}
}

func TestImportLeavesOutConfiguredDisplays(t *testing.T) {
	existing, err := Load(writeConf(t, "[Display]\nNumber=2\nUser=zed\nSession=xterm\n"))
	if err != nil {
		t.Fatal(err)
	}
	im, err := Import(filepath.Join("testdata", "import", "debian"), existing)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Displays {
		if d.Number == 2 {
			t.Error("display :2, in vnc.conf already, was imported again")
		}
	}
	if !slices.ContainsFunc(im.Notes, func(n Note) bool { return strings.Contains(n.Text, "display :2 is in vnc.conf already") }) {
		t.Errorf("no note about :2: %v", im.Notes)
	}
}
