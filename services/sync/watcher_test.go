package sync

import (
	"log/slog"
	"os"
	"path/filepath"
	gosync "sync"
	"testing"
	"time"
)

func TestExcluder(t *testing.T) {
	e := NewExcluder([]string{"*.tmp", "/top/*.log", "cache/", ".git"})
	for i, c := range []struct {
		path string
		dir  bool
		want bool
	}{
		{"a.tmp", false, true},
		{"deep/er/b.tmp", false, true},
		{"a.tmpx", false, false},
		{"top/x.log", false, true},
		{"other/top/x.log", false, false},
		{"cache", true, true},
		{"cache", false, false},
		{"x/cache", true, true},
		{".git", true, true},
		{"src/.git/config", false, false}, // Excluded: parents are asked on the way down
	} {
		if got := e.Excluded(c.path, c.dir); got != c.want {
			t.Errorf("case %d: Excluded(%q, %v) = %v", i, c.path, c.dir, got)
		}
	}
	if !e.ExcludedPath("src/.git/config", false) || e.ExcludedPath("src/a", false) {
		t.Error("ExcludedPath does not check the parents")
	}
}

type opLog struct {
	mu  gosync.Mutex
	ops []Op
}

func (l *opLog) add(ops ...Op) {
	l.mu.Lock()
	l.ops = append(l.ops, ops...)
	l.mu.Unlock()
}

func (l *opLog) has(kind OpKind, p, to string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, op := range l.ops {
		if op.Kind == kind && op.Path == p && op.To == to {
			return true
		}
	}
	return false
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
	}
}

func TestWatcherEvents(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "old/sub"), 0o755)
	log := &opLog{}
	w, err := NewWatcher(src, NewExcluder([]string{"*.tmp"}), log.add, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Watch("", nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- w.Run() }()
	defer func() { w.Close(); <-done }()

	write := func(p, s string) { os.WriteFile(filepath.Join(src, p), []byte(s), 0o644) }
	write("f", "1")
	eventually(t, "sync of a written file", func() bool { return log.has(OpSync, "f", "") })
	// A file written into a new directory at once: the directory's OpTree covers it (or
	// its own event does once the watch is in place).
	os.Mkdir(filepath.Join(src, "new"), 0o755)
	write("new/inner", "2")
	eventually(t, "new directory", func() bool { return log.has(OpTree, "new", "") })
	os.Mkdir(filepath.Join(src, "new/deeper"), 0o755)
	eventually(t, "watch on the new directory", func() bool { return log.has(OpTree, "new/deeper", "") })
	os.Rename(filepath.Join(src, "old"), filepath.Join(src, "renamed"))
	eventually(t, "rename", func() bool { return log.has(OpRename, "old", "renamed") })
	write("renamed/sub/after", "3")
	eventually(t, "write below a renamed directory", func() bool { return log.has(OpSync, "renamed/sub/after", "") })
	write("x.tmp", "4")
	os.Rename(filepath.Join(src, "x.tmp"), filepath.Join(src, "x"))
	eventually(t, "rename from an excluded name", func() bool { return log.has(OpSync, "x", "") })
	os.Rename(filepath.Join(src, "f"), filepath.Join(t.TempDir(), "f"))
	eventually(t, "move out of the tree", func() bool { return log.has(OpDelete, "f", "") })
	os.Remove(filepath.Join(src, "x"))
	eventually(t, "delete", func() bool { return log.has(OpDelete, "x", "") })
	os.Chmod(filepath.Join(src, "renamed/sub/after"), 0o600)
	eventually(t, "chmod", func() bool { return log.has(OpAttr, "renamed/sub/after", "") })
	os.Symlink("target", filepath.Join(src, "link"))
	eventually(t, "symlink", func() bool { return log.has(OpSync, "link", "") })
	if log.has(OpSync, "x.tmp", "") {
		t.Error("an excluded file was queued")
	}
}
