package repo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSMBIOSDumps: the variable wins, then ../shared beside the checkout, then the copy
// in the tree; a directory without dumps named by the variable, or a checkout with
// neither, is an error naming the directories and the variable.
func TestSMBIOSDumps(t *testing.T) {
	withDump := t.TempDir()
	if err := os.WriteFile(filepath.Join(withDump, "x.bin"), []byte{0}, 0o644); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	checkout := filepath.Join(t.TempDir(), "hostkit") // nothing beside it
	if err := os.MkdirAll(filepath.Join(checkout, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(checkout, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	besideCheckout := filepath.Join(filepath.Dir(checkout), "shared", "smbios-dumps")
	inTree := filepath.Join(checkout, "test", "testdata", "smbios-dumps")
	// The checkouts with a copy in the tree, and with ../shared beside it as well.
	withCopy := filepath.Join(t.TempDir(), "hostkit")
	withShared := filepath.Join(t.TempDir(), "hostkit")
	for _, dir := range []string{
		filepath.Join(withCopy, "test", "testdata", "smbios-dumps"),
		filepath.Join(withShared, "test", "testdata", "smbios-dumps"),
		filepath.Join(filepath.Dir(withShared), "shared", "smbios-dumps"),
	} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "x.bin"), []byte{0}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []string{withCopy, withShared} {
		if err := os.WriteFile(filepath.Join(c, "go.mod"), []byte("module x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	for i, tc := range []struct {
		name, env, wd string
		want          string   // the directory returned
		wantErr       []string // what the error must mention
	}{
		{"variable with dumps", withDump, checkout + "/sub", withDump, nil},
		{"variable without dumps", empty, checkout, "", []string{empty, DumpsEnv}},
		{"../shared beside the checkout", "", withShared, filepath.Join(filepath.Dir(withShared), "shared", "smbios-dumps"), nil},
		{"only the copy in the tree", "", withCopy, filepath.Join(withCopy, "test", "testdata", "smbios-dumps"), nil},
		{"neither", "", checkout + "/sub", "", []string{besideCheckout, inTree, DumpsEnv}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(DumpsEnv, tc.env)
			t.Chdir(tc.wd)
			got, err := SMBIOSDumps()
			if tc.wantErr == nil {
				if err != nil || got != tc.want {
					t.Errorf("case %d (%s): SMBIOSDumps() = %q, %v; want %q", i, tc.name, got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("case %d (%s): SMBIOSDumps() = %q, want an error", i, tc.name, got)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("case %d (%s): error %q does not mention %q", i, tc.name, err, w)
				}
			}
		})
	}
}
