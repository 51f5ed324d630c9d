package testcontainer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestContainer boots one container and checks what every system test relies on: systemd
// runs, commands run as root and as the test user, both reach the system bus, files get
// in, failures carry their exit status and stderr, and Close leaves nothing behind.
func TestContainer(t *testing.T) {
	c := New(t, Options{Name: "harness"})
	t.Logf("boot took %s", c.BootTime)

	t.Run("overlay", func(t *testing.T) {
		// On this host overlayfs works (checked in TestCopyWhenOverlayFails' setup): the
		// root must be an overlay over the base, and writes must stay out of the base.
		base, err := Base(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !c.overlay {
			t.Fatalf("container root %s is a copy of %s, want an overlay over it (the log says why the mount failed)", c.Root, base)
		}
		if m := mountsBelow(c.Root); len(m) == 0 || !strings.Contains(m[0], "lowerdir="+base+",") {
			t.Errorf("mounts at %s: %q, want an overlay with lowerdir=%s", c.Root, m, base)
		}
		if err := c.WriteFile("/etc/hostkit-test-overlay", []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(c.Root, "etc/hostkit-test-overlay")); err != nil {
			t.Errorf("a file written inside is not in the container's root: %v", err)
		}
		if _, err := os.Stat(filepath.Join(base, "etc/hostkit-test-overlay")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a file written inside the container reached the base root %s (stat: %v)", base, err)
		}
	})

	t.Run("systemd", func(t *testing.T) {
		out, err := c.Exec("systemctl", "is-system-running")
		state := strings.TrimSpace(out)
		if state != "running" && state != "degraded" {
			t.Fatalf("systemctl is-system-running = %q (%v), want running or degraded", state, err)
		}
		pid1, err := c.Exec("cat", "/proc/1/comm")
		if err != nil || strings.TrimSpace(pid1) != "systemd" {
			t.Errorf("PID 1 inside is %q (%v), want systemd", strings.TrimSpace(pid1), err)
		}
		host, err := c.Exec("hostname")
		if err != nil || strings.TrimSpace(host) != c.Name {
			t.Errorf("hostname inside = %q (%v), want the machine name %q", strings.TrimSpace(host), err, c.Name)
		}
	})

	t.Run("tester", func(t *testing.T) {
		out, err := c.ExecAs(TestUser, "id", "-u")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(out); got != fmt.Sprint(TestUID) {
			t.Errorf("id -u as %s = %q, want %d", TestUser, got, TestUID)
		}
		home, err := c.ExecAs(TestUser, "sh", "-c", `echo "$HOME $USER"`)
		if err != nil || strings.TrimSpace(home) != "/home/tester tester" {
			t.Errorf("HOME and USER as %s = %q (%v), want \"/home/tester tester\"", TestUser, strings.TrimSpace(home), err)
		}
	})

	t.Run("system bus", func(t *testing.T) {
		for _, user := range []string{"root", TestUser} {
			out, err := c.ExecAs(user, "busctl", "get-property", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
				"org.freedesktop.systemd1.Manager", "Version")
			if err != nil {
				t.Errorf("system bus as %s: %v", user, err)
				continue
			}
			if !strings.HasPrefix(out, `s "252`) {
				t.Errorf("systemd Version property as %s = %q, want s \"252...\"", user, strings.TrimSpace(out))
			}
		}
		// polkitd is bus-activated: this call starts it.
		backend, err := c.ExecAs(TestUser, "busctl", "get-property", "org.freedesktop.PolicyKit1",
			"/org/freedesktop/PolicyKit1/Authority", "org.freedesktop.PolicyKit1.Authority", "BackendName")
		if err != nil || !strings.HasPrefix(backend, `s "`) {
			t.Errorf("polkit is not reachable on the bus: %q %v", backend, err)
		}
	})

	t.Run("files", func(t *testing.T) {
		want := "hello\nworld\n"
		for _, p := range []string{"/etc/hostkit-test/a/b.conf", "/run/hostkit-test/c", "/tmp/d"} {
			if err := c.WriteFile(p, []byte(want), 0o640); err != nil {
				t.Fatal(err)
			}
			got, err := c.Exec("stat", "-c", "%a %U", p)
			if err != nil || strings.TrimSpace(got) != "640 root" {
				t.Errorf("stat %s = %q (%v), want \"640 root\"", p, strings.TrimSpace(got), err)
			}
			if got, err := c.Exec("cat", p); err != nil || got != want {
				t.Errorf("cat %s = %q (%v), want %q", p, got, err, want)
			}
		}
		host := filepath.Join(t.TempDir(), "script")
		if err := os.WriteFile(host, []byte("#!/bin/sh\necho copied\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := c.CopyIn(host, "/usr/local/bin/hostkit-copied"); err != nil {
			t.Fatal(err)
		}
		if got, err := c.ExecAs(TestUser, "hostkit-copied"); err != nil || got != "copied\n" {
			t.Errorf("running the copied script as %s = %q (%v), want \"copied\\n\"", TestUser, got, err)
		}
	})

	t.Run("exec error", func(t *testing.T) {
		out, err := c.Exec("sh", "-c", "echo out; echo oops >&2; exit 3")
		var ee *ExecError
		if !errors.As(err, &ee) {
			t.Fatalf("failing command returned %v, want an *ExecError", err)
		}
		if ee.ExitCode != 3 || ee.Stderr != "oops\n" || out != "out\n" {
			t.Errorf("ExecError exit %d stderr %q stdout %q, want 3, \"oops\\n\", \"out\\n\"", ee.ExitCode, ee.Stderr, out)
		}
		for _, want := range []string{c.Name, "exit status 3", "oops", "echo out"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
		if _, err := c.Exec("no-such-command-here"); err == nil {
			t.Error("running a missing command succeeded")
		}
	})

	t.Run("close", func(t *testing.T) {
		nspawn, leader, dir := c.cmd.Process.Pid, c.Leader, c.dir
		// A command still running inside must not hold up the shutdown.
		sleeping := make(chan error, 1)
		go func() {
			_, err := c.Exec("sleep", "300")
			sleeping <- err
		}()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			c.mu.Lock()
			n := len(c.running)
			c.mu.Unlock()
			if n > 0 {
				break
			}
		}
		start := time.Now()
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		took := time.Since(start)
		t.Logf("Close took %s", took.Round(time.Millisecond))
		if took > 15*time.Second {
			t.Errorf("Close with a command running inside took %s; it should kill the command and power off in seconds", took)
		}
		select {
		case err := <-sleeping:
			if err == nil {
				t.Error("sleep 300 inside returned without error although the container was closed")
			}
		case <-time.After(10 * time.Second):
			t.Error("Exec of sleep 300 did not return after Close")
		}
		assertGone(t, nspawn, leader, dir)
		if err := c.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := c.Exec("true"); err == nil {
			t.Error("Exec after Close succeeded")
		}
	})
}

// TestBootFailureCleansUp makes boots fail before and after systemd-nspawn started and
// checks that nothing is left running or on disk.
func TestBootFailureCleansUp(t *testing.T) {
	if err := CheckHost(); err != nil {
		t.Fatal(err)
	}
	setupErr := errors.New("setup refused")
	// Other test runs on this machine (other branches, other packages) boot containers
	// at the same time: the name carries this process's PID, so only ours are counted.
	name := fmt.Sprintf("harness-fail-%d", os.Getpid())
	for i, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"setup fails", Options{Setup: func(string) error { return setupErr }}, "setup refused"},
		{"boot times out", Options{BootTimeout: time.Millisecond}, "deadline exceeded"},
		{"no init", Options{Setup: func(root string) error {
			return os.Remove(filepath.Join(root, "usr/lib/systemd/systemd"))
		}}, "systemd-nspawn exited"},
	} {
		before := containerDirs(t, name)
		tc.opts.Name = name
		tc.opts.Logf = t.Logf
		c, err := Boot(tc.opts)
		if err == nil {
			c.Close()
			t.Errorf("case %d (%s): Boot succeeded, want an error", i, tc.name)
			continue
		}
		if c != nil {
			t.Errorf("case %d (%s): Boot returned a container along with error %v", i, tc.name, err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("case %d (%s): error %q does not contain %q", i, tc.name, err, tc.want)
		}
		if after := containerDirs(t, name); len(after) > len(before) {
			t.Errorf("case %d (%s): container directories left behind: before %v, after %v", i, tc.name, before, after)
		}
		if procs := processesMentioning(name + "-"); len(procs) > 0 {
			t.Errorf("case %d (%s): processes left running: %v", i, tc.name, procs)
		}
	}
}

// TestCopyWhenOverlayFails makes the overlay mount fail and checks that the container
// boots from a copy of the base root instead, that the log says so, and that Close
// removes the copy.
func TestCopyWhenOverlayFails(t *testing.T) {
	filesystems, err := os.ReadFile("/proc/filesystems")
	if err != nil || !strings.Contains(string(filesystems), "\toverlay\n") {
		t.Fatalf("this host's kernel has no overlayfs (/proc/filesystems: %v): the harness would copy every root; modprobe overlay", err)
	}
	mount := mountOverlay
	t.Cleanup(func() { mountOverlay = mount })
	mountOverlay = func(string, string) error { return errors.New("overlay refused by the test") }

	var log strings.Builder
	c := New(t, Options{Name: "harness-copy", Logf: func(format string, args ...any) {
		fmt.Fprintf(&log, format+"\n", args...)
		t.Logf(format, args...)
	}})
	if c.overlay || len(mountsBelow(c.Root)) > 0 {
		t.Errorf("container root %s is mounted (%q) although the overlay mount failed", c.Root, mountsBelow(c.Root))
	}
	if !strings.Contains(log.String(), "overlay refused by the test") || !strings.Contains(log.String(), "copying the root instead") {
		t.Errorf("the log does not say that the overlay failed and the root was copied:\n%s", log.String())
	}
	if out, err := c.Exec("systemctl", "is-system-running"); err != nil && strings.TrimSpace(out) != "degraded" {
		t.Errorf("container booted from a copy: systemctl is-system-running = %q, %v", strings.TrimSpace(out), err)
	}
	dir := c.dir
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("copy %s still there after Close (stat: %v)", dir, err)
	}
}

// TestPruneRoots: roots of other package lists go when no container uses them and they
// were not used for the given time; the current root, recently used ones, ones a
// container names and ones an overlay has as its lower layer stay; interrupted builds go.
func TestPruneRoots(t *testing.T) {
	cache := t.TempDir()
	old := time.Now().Add(-100 * time.Hour)
	roots := map[string]time.Time{"current": old, "recent": time.Now(), "unused": old, "named": old, "build-1": time.Now()}
	for name, mtime := range roots {
		if err := os.MkdirAll(filepath.Join(cache, "roots", name, "root", "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(filepath.Join(cache, "roots", name), mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	ct := filepath.Join(cache, "containers", "x-1")
	if err := os.MkdirAll(ct, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ct, "base"), []byte("named\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	pruneRoots(cache, "current", 72*time.Hour, t.Logf)
	for name, want := range map[string]bool{"current": true, "recent": true, "named": true, "unused": false, "build-1": false} {
		_, err := os.Stat(filepath.Join(cache, "roots", name))
		if got := err == nil; got != want {
			t.Errorf("roots/%s there after pruning: %v, want %v", name, got, want)
		}
	}
}

func TestMachineName(t *testing.T) {
	for i, tc := range []struct{ in, want string }{
		{"", "hostkit"},
		{"hwd", "hwd"},
		{"Test/Hardware Service", "Test-Hardware-Service"},
		{"--__--", "hostkit"},
		{strings.Repeat("a", 80), strings.Repeat("a", 50)},
	} {
		if got := machineName(tc.in); got != tc.want {
			t.Errorf("case %d (%q): machineName = %q, want %q", i, tc.in, got, tc.want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for i, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"busctl", "get-property", "org.hostkit.Hardware1"}, "busctl get-property org.hostkit.Hardware1"},
		{[]string{"sh", "-c", "echo it's"}, `sh -c 'echo it'\''s'`},
		{[]string{"printf", ""}, "printf ''"},
	} {
		if got := ShellQuote(tc.in...); got != tc.want {
			t.Errorf("case %d: ShellQuote(%q) = %q, want %q", i, tc.in, got, tc.want)
		}
	}
}

// assertGone fails t if systemd-nspawn, the container's systemd, any process of the
// container or its files are still there.
func assertGone(t *testing.T, nspawn, leader int, dir string) {
	t.Helper()
	for _, pid := range []int{nspawn, leader} {
		if processAlive(pid) {
			t.Errorf("process %d still running after Close", pid)
		}
	}
	if procs := processesMentioning(dir); len(procs) > 0 {
		t.Errorf("processes still running from %s after Close: %v", dir, procs)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("container directory %s still there after Close (stat: %v)", dir, err)
	}
	if m := mountsBelow(dir); len(m) > 0 {
		t.Errorf("still mounted after Close: %q", m)
	}
}

// mountsBelow returns the lines of this process's mount table whose mount point is dir or
// below it.
func mountsBelow(dir string) []string {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	var found []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			found = append(found, line)
		}
	}
	return found
}

// processesMentioning returns "PID: cmdline" of every live process whose command line
// contains s.
func processesMentioning(s string) []string {
	var found []string
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	self := fmt.Sprintf("/proc/%d/", os.Getpid())
	for _, p := range cmdlines {
		if strings.HasPrefix(p, self) {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(data), s) {
			continue
		}
		found = append(found, fmt.Sprintf("%s: %s", filepath.Base(filepath.Dir(p)), strings.ReplaceAll(string(data), "\x00", " ")))
	}
	return found
}

// containerDirs lists the container copies whose name starts with name: other test
// packages boot containers of their own at the same time.
func containerDirs(t *testing.T, name string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(CacheDir(), "containers", name+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}
