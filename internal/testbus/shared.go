package testbus

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hostkit/hostkit/internal/repo"
)

// Shared is a directory of one test that TestUser can reach and read: every process the
// test runs with AsUser takes what it executes, reads or connects to from here, never from
// the checkout, which may sit below a directory only root can enter (a root user's clone in
// /root, a `mktemp -d`). Files the test writes into Dir with mode 0644 are readable by
// TestUser; Binary and Copy put copies of the project's files there.
type Shared struct {
	// Dir is the directory, mode 0755, removed when the test ends.
	Dir string

	mu     sync.Mutex
	copies map[string]string // source path -> its copy in Dir
}

// Share makes a Shared directory below os.TempDir() ($TMPDIR, else /tmp) that lives until
// the test ends. It fails the test at once, naming the directory and saying what to
// change, when TestUser could not reach it because a directory above it is closed to
// other users (TMPDIR below /root, say).
func Share(t testing.TB) *Shared {
	t.Helper()
	dir, err := os.MkdirTemp("", "hostkit-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := reachable(dir); err != nil {
		t.Fatal(err)
	}
	return &Shared{Dir: dir, copies: map[string]string{}}
}

// reachable returns nil when every directory above dir lets other users through (mode
// o+x), and otherwise an error naming the first that does not.
func reachable(dir string) error {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		info, err := os.Stat(p)
		if err != nil {
			return err
		}
		if info.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s cannot reach the test directory %s: %s is mode %04o, closed to other users; "+
				"set TMPDIR to a directory every user can enter, such as /tmp", TestUser, dir, p, info.Mode().Perm())
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// Binary returns the path of a copy of the project's bin/NAME in Dir/bin, made on the
// first call (later calls return the same path). It fails the test when bin/NAME is
// missing: `make build` makes it (make integration does).
func (s *Shared) Binary(t testing.TB, name string) string {
	t.Helper()
	src := filepath.Join(repo.RootT(t), "bin", name)
	if _, err := os.Stat(src); err != nil {
		t.Fatalf("%s missing: run `make build` first (make integration does)", src)
	}
	return s.copy(t, src, filepath.Join(s.Dir, "bin", name))
}

// Copy returns the path of a copy of the file src in Dir, under its base name, made on
// the first call for src. The copy is mode 0755 when src is executable by its owner and
// 0644 otherwise. It fails the test when src cannot be read or two sources share a name.
func (s *Shared) Copy(t testing.TB, src string) string {
	t.Helper()
	return s.copy(t, src, filepath.Join(s.Dir, filepath.Base(src)))
}

func (s *Shared) copy(t testing.TB, src, dst string) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if got, ok := s.copies[src]; ok {
		return got
	}
	for other, p := range s.copies {
		if p == dst {
			t.Fatalf("cannot share %s as %s: %s is there already", src, dst, other)
		}
	}
	if err := copyFile(src, dst); err != nil {
		t.Fatalf("share %s with %s: %v", src, TestUser, err)
	}
	s.copies[src] = dst
	return dst
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if info.Mode().Perm()&0o100 != 0 {
		mode = 0o755
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, mode) // past the umask
}
