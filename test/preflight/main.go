// Command preflight checks, before `make check` and `make demo` spend minutes installing
// and building, what the tests need that `make deps` cannot install: the source tree and
// the real SMBIOS dumps. It prints nothing and exits 0 when both are there, and otherwise
// prints what to change and exits 1.
package main

import (
	"fmt"
	"os"

	"github.com/hostkit/hostkit/internal/repo"
)

func main() {
	if _, err := repo.SMBIOSDumps(); err != nil {
		fmt.Fprintf(os.Stderr, "hostkit: %v\n", err)
		os.Exit(1)
	}
}
