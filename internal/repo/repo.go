// Package repo finds the hostkit source tree and the shared test data beside it, for the
// tests, the demo and the benchmarks, which run from anywhere inside the tree.
package repo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// DumpsEnv overrides where the real SMBIOS dumps are.
const DumpsEnv = "HOSTKIT_SMBIOS_DUMPS"

// Root returns the directory holding go.mod, found by walking up from the working
// directory (go test runs in the package's directory); an error when there is none.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from inside the hostkit tree")
		}
		dir = parent
	}
}

// SMBIOSDumps returns the directory of the real SMBIOS dumps: $HOSTKIT_SMBIOS_DUMPS when
// set, else ../shared/smbios-dumps beside the tree, where CI has them. It returns an error
// naming the directory and HOSTKIT_SMBIOS_DUMPS when that directory holds no dump (*.bin),
// as in a clone made anywhere else (/root/hostkit, say).
func SMBIOSDumps() (string, error) {
	dir := os.Getenv(DumpsEnv)
	where := "$" + DumpsEnv
	if dir == "" {
		root, err := Root()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(filepath.Dir(root), "shared", "smbios-dumps")
		where = "../shared/smbios-dumps beside the checkout " + root + ", where the tests look when " + DumpsEnv + " is unset"
	}
	if dumps, _ := filepath.Glob(filepath.Join(dir, "*.bin")); len(dumps) == 0 {
		return "", fmt.Errorf("no SMBIOS dumps (*.bin) in %s (%s): set %s to the directory that holds them, "+
			"as in `make check %s=/path/to/smbios-dumps`", dir, where, DumpsEnv, DumpsEnv)
	}
	return dir, nil
}

// RootT is Root for a test: it fails the test when there is no tree.
func RootT(t testing.TB) string {
	t.Helper()
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// SMBIOSDumpsT is SMBIOSDumps for a test.
func SMBIOSDumpsT(t testing.TB) string {
	t.Helper()
	dir, err := SMBIOSDumps()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
