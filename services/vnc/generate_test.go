package vnc

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestGenerate writes the units of testdata/generate/vnc.conf and compares every file
// and link with testdata/generate/*.golden.
func TestGenerate(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "generate", "vnc.conf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "vnc.conf")
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	problems, err := Generate(c, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || !strings.Contains(problems[0].Error(), "display :3: configured twice") {
		t.Errorf("problems %v, want display :3 refused", problems)
	}
	var listing []string
	filepath.Walk(out, func(p string, info os.FileInfo, err error) error {
		rel, _ := filepath.Rel(out, p)
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			listing = append(listing, rel+" -> "+target)
		case info.Mode().IsRegular():
			data, _ := os.ReadFile(p)
			listing = append(listing, "== "+rel+"\n"+string(data))
		}
		return nil
	})
	sort.Strings(listing)
	// The configuration's path is in the output; the golden file has the real one.
	text := strings.ReplaceAll(strings.Join(listing, "\n")+"\n", dir, "/etc/hostkit")
	golden(t, "generate/units.golden", text)
	if got := GeneratedDisplays(out); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("GeneratedDisplays = %v", got)
	}
}
