package repo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSMBIOSDumps: the variable wins; a directory without dumps, named by the variable
// or found beside a checkout without ../shared, is an error naming the directory and
// the variable.
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

	for i, tc := range []struct {
		name, env, wd string
		want          string   // the directory returned
		wantErr       []string // what the error must mention
	}{
		{"variable with dumps", withDump, checkout + "/sub", withDump, nil},
		{"variable without dumps", empty, checkout, "", []string{empty, DumpsEnv}},
		{"no ../shared beside the checkout", "", checkout + "/sub", "", []string{besideCheckout, checkout, DumpsEnv}},
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
