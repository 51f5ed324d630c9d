package bootorder

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestScanNeverOpensFIFOs: a FIFO among the scripts (or linked to from rcN.d or
// init.d) or among the rules must not block the scan, which runs at boot.
func TestScanNeverOpensFIFOs(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "etc/init.d/real"), "#!/bin/sh\n# chkconfig: 2345 20 80\n", 0o755)
	for _, p := range []string{"etc/init.d/fifo", "etc/hostkit/boot-order.conf.d/10-fifo.conf"} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(filepath.Join(root, p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("fifo", filepath.Join(root, "etc/init.d/tofifo")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "etc/rc3.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../init.d/fifo", filepath.Join(root, "etc/rc3.d/S30fifo")); err != nil {
		t.Fatal(err)
	}
	// A rules file too large to be one is left out with a warning, not read whole.
	write(t, filepath.Join(root, "etc/hostkit/boot-order.conf.d/20-huge.conf"), "[Rules]\n"+strings.Repeat("#\n", 600_000), 0o644)

	done := make(chan *Tree, 1)
	go func() {
		tr, err := Scan(root)
		if err != nil {
			t.Error(err)
		}
		done <- tr
	}()
	select {
	case tr := <-done:
		if tr == nil {
			return
		}
		if len(tr.Scripts) != 1 || tr.Scripts[0].Name != "real" {
			t.Errorf("scripts %+v, want only real", tr.Scripts)
		}
		var rulesWarnings []string
		for _, w := range tr.Warnings {
			if strings.Contains(w.Path, "boot-order.conf.d") {
				rulesWarnings = append(rulesWarnings, FormatWarning(w))
			}
		}
		want := []string{"10-fifo.conf: cannot read: not a regular file but a FIFO", "20-huge.conf: cannot read: larger than"}
		for i, w := range want {
			if i >= len(rulesWarnings) || !strings.Contains(rulesWarnings[i], w) {
				t.Errorf("case %d: rules warnings %q, want one containing %q", i, rulesWarnings, w)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Scan blocked for 10 s on a FIFO")
	}
}

func TestParallelRaisesAWorkersPanicInTheCaller(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(error).Error(), "boom") {
			t.Errorf("recovered %v, want the worker's panic", r)
		}
	}()
	parallel(8, func(i int) {
		if i == 5 {
			panic("boom")
		}
	})
	t.Error("parallel returned after a worker panicked")
}
