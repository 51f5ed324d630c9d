package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hostkit/hostkit/internal/testbus"
)

// TestTestUserReadsFromShared: the test user can neither run nor read files in a
// directory closed to it, as a checkout in /root is, and can run and read the copies
// that the harness's Shared directory makes of them.
func TestTestUserReadsFromShared(t *testing.T) {
	uid, gid := testbus.Unprivileged(t)
	closed := t.TempDir() // mode 0700
	program, data := filepath.Join(closed, "hello"), filepath.Join(closed, "data.conf")
	if err := os.WriteFile(program, []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(data, []byte("[Secret]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := testbus.AsUser(exec.Command(program), uid, gid).Output(); err == nil {
		t.Fatalf("%s ran %s in a directory closed to it (%q): this test proves nothing here", testbus.TestUser, program, out)
	}

	shared := testbus.Share(t)
	out, err := testbus.AsUser(exec.Command(shared.Copy(t, program)), uid, gid).Output()
	if err != nil || string(out) != "hello\n" {
		t.Errorf("%s running the shared copy of %s: %q, %v; want \"hello\\n\"", testbus.TestUser, program, out, err)
	}
	out, err = testbus.AsUser(exec.Command("cat", shared.Copy(t, data)), uid, gid).Output()
	if err != nil || string(out) != "[Secret]\n" {
		t.Errorf("%s reading the shared copy of %s (mode 0600): %q, %v; want its content", testbus.TestUser, data, out, err)
	}
	if again := shared.Copy(t, program); again != filepath.Join(shared.Dir, "hello") {
		t.Errorf("second Copy of %s = %s, want the first copy %s", program, again, filepath.Join(shared.Dir, "hello"))
	}
}
