package testcontainer

import (
	"testing"
)

// New boots a container for a test: Boot with t.Logf as Options.Logf (when opts.Logf is
// nil), t.Fatal with the reason when the host cannot run containers or the boot fails,
// and t.Cleanup to Close it, so the container is powered off and removed even when the
// test fails. A test that needs containers never skips: without root or
// systemd-container it fails and says what to do.
func New(t testing.TB, opts Options) *Container {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	if err := CheckHost(); err != nil {
		t.Fatalf("cannot run system containers on this host: %v", err)
	}
	c, err := Boot(opts)
	if err != nil {
		t.Fatalf("boot test container: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close test container %s: %v", c.Name, err)
		}
	})
	return c
}
