package testbus

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReachable: a directory below one closed to other users (mode 0700, as /root or a
// `mktemp -d`) is refused with the closed directory and TMPDIR named; one below open
// directories is accepted.
func TestReachable(t *testing.T) {
	base, err := os.MkdirTemp("", "hostkit-reachable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	closed, open := filepath.Join(base, "closed"), filepath.Join(base, "open")
	for _, d := range []string{filepath.Join(closed, "sub"), filepath.Join(open, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{base, open} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}

	err = reachable(filepath.Join(closed, "sub", "test"))
	if err == nil {
		t.Fatalf("reachable below %s (mode 0700) = nil, want an error", closed)
	}
	for _, w := range []string{closed + " is mode 0700", "TMPDIR", TestUser} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if err := reachable(filepath.Join(open, "sub", "test")); err != nil {
		t.Errorf("reachable below open directories: %v, want nil", err)
	}
}
