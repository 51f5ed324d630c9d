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
// set; else ../shared/smbios-dumps beside the tree, where CI has the shared corpus, when it
// holds dumps; else the copy of that corpus in the tree, test/testdata/smbios-dumps, so
// that a clone made anywhere (/root/hostkit, say) tests as it is. It returns an error
// naming the directory and HOSTKIT_SMBIOS_DUMPS when the variable names a directory
// without a dump (*.bin).
func SMBIOSDumps() (string, error) {
	if dir := os.Getenv(DumpsEnv); dir != "" {
		if !hasDumps(dir) {
			return "", fmt.Errorf("no SMBIOS dumps (*.bin) in %s, which $%s names: point it at the directory "+
				"that holds them, or unset it to use ../shared/smbios-dumps or the copy in the tree", dir, DumpsEnv)
		}
		return dir, nil
	}
	root, err := Root()
	if err != nil {
		return "", err
	}
	shared := filepath.Join(filepath.Dir(root), "shared", "smbios-dumps")
	if hasDumps(shared) {
		return shared, nil
	}
	inTree := filepath.Join(root, "test", "testdata", "smbios-dumps")
	if !hasDumps(inTree) {
		return "", fmt.Errorf("no SMBIOS dumps (*.bin) in %s nor in %s: restore the tree, "+
			"or set %s to the directory that holds them", shared, inTree, DumpsEnv)
	}
	return inTree, nil
}

func hasDumps(dir string) bool {
	dumps, _ := filepath.Glob(filepath.Join(dir, "*.bin"))
	return len(dumps) > 0
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
