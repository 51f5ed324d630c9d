package integration

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/hostkit/hostkit/internal/repo"
	"github.com/hostkit/hostkit/internal/testbus"
)

// hostkit-syncd as the contract of issue 7 has it: sync.conf files written here and
// `hostkit-syncd --config FILE --bus none` run as separate processes, one sending, one
// receiving on 127.0.0.1.

// syncHost is one hostkit-syncd: its directory, configuration, key and process.
type syncHost struct {
	t      *testing.T
	name   string
	dir    string
	conf   string
	state  string
	fp     string
	bin    string
	extra  string   // netns: run inside this network namespace (see sync_netns_test.go)
	wrap   []string // a command the daemon runs under (its argv follows)
	cmd    *exec.Cmd
	exited chan struct{}
	log    *lockedBuffer
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newSyncHost makes a host's directory and key (`hostkit-syncd id`).
func newSyncHost(t *testing.T, name string) *syncHost {
	t.Helper()
	h := &syncHost{t: t, name: name, dir: filepath.Join(t.TempDir(), name), bin: testbus.Share(t).Binary(t, "hostkit-syncd"), log: &lockedBuffer{}}
	h.conf = filepath.Join(h.dir, "sync.conf")
	h.state = filepath.Join(h.dir, "state")
	h.configure("")
	out, err := exec.Command(h.bin, "id", "--config", h.conf).CombinedOutput()
	if err != nil {
		t.Fatalf("hostkit-syncd id: %v: %s", err, out)
	}
	h.fp = strings.TrimSpace(string(out))
	if !strings.HasPrefix(h.fp, "SHA256:") {
		t.Fatalf("hostkit-syncd id printed %q", h.fp)
	}
	t.Cleanup(func() {
		h.stop(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("log of %s:\n%s", h.name, h.log.String())
		}
	})
	return h
}

// configure writes sync.conf: [Sync] with the state directory and short keepalive, then
// extra (sections of modules and jobs).
func (h *syncHost) configure(extra string) {
	h.t.Helper()
	text := fmt.Sprintf("# written by %s\n[Sync]\nStateDirectory=%s\n%s", h.t.Name(), h.state, extra)
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(h.conf, []byte(text), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *syncHost) start(args ...string) {
	h.t.Helper()
	argv := append([]string{h.bin, "--config", h.conf, "--bus", "none"}, args...)
	if h.extra != "" {
		argv = append([]string{"ip", "netns", "exec", h.extra}, argv...)
	}
	argv = append(append([]string{}, h.wrap...), argv...)
	h.cmd = exec.Command(argv[0], argv[1:]...)
	fmt.Fprintf(h.log, "--- start %s\n", strings.Join(argv, " "))
	h.cmd.Stderr = h.log
	h.cmd.Stdout = h.log
	if err := h.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(h.cmd, h.exited)
}

// stop sends sig and waits for the exit; it returns how long that took.
func (h *syncHost) stop(sig syscall.Signal) time.Duration {
	if h.cmd == nil {
		return 0
	}
	start := time.Now()
	h.cmd.Process.Signal(sig)
	select {
	case <-h.exited:
	case <-time.After(20 * time.Second):
		h.cmd.Process.Kill()
		<-h.exited
		h.t.Errorf("%s did not exit within 20 s of %v", h.name, sig)
	}
	h.cmd = nil
	return time.Since(start)
}

// waitLog waits until the log contains s, and fails the test after timeout.
func (h *syncHost) waitLog(s string, timeout time.Duration) {
	h.t.Helper()
	if !testbus.Eventually(timeout, func() bool { return strings.Contains(h.log.String(), s) }) {
		h.t.Fatalf("%s did not log %q within %s", h.name, s, timeout)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func moduleSection(name, path string, peers ...string) string {
	s := fmt.Sprintf("\n[Module]\nName=%s\nPath=%s\n", name, path)
	for _, p := range peers {
		s += "Peer=" + p + "\n"
	}
	return s
}

func jobSection(name, source, target, peer string, more ...string) string {
	return fmt.Sprintf("\n[Job]\nName=%s\nSource=%s\nTarget=%s\nPeer=%s\n%s", name, source, target, peer, strings.Join(more, "\n")+"\n")
}

// treeState describes a tree for comparison: per path its type, mode, size, mtime (files
// and symlinks), content hash or link target.
func treeState(t *testing.T, root string, skip func(rel string) bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		if skip != nil && skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := os.Lstat(p)
		if err != nil {
			return nil
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "link " + target
		case info.IsDir():
			out[rel] = fmt.Sprintf("dir %o", info.Mode().Perm())
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			out[rel] = fmt.Sprintf("file %o %d %d %x", info.Mode().Perm(), info.Size(), info.ModTime().UnixNano(), sha256.Sum256(data))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffTrees(a, b map[string]string) string {
	var d []string
	for p, v := range a {
		if w, ok := b[p]; !ok {
			d = append(d, "missing at target: "+p+" ("+v+")")
		} else if v != w {
			d = append(d, "differs: "+p+": "+v+" != "+w)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			d = append(d, "only at target: "+p)
		}
	}
	if len(d) > 10 {
		d = append(d[:10], fmt.Sprintf("... and %d more", len(d)-10))
	}
	return strings.Join(d, "\n")
}

// waitSame waits until target is what source is (but for the excluded paths) and fails
// with the differences after timeout.
func waitSame(t *testing.T, what, source, target string, timeout time.Duration, skip func(string) bool) {
	t.Helper()
	var diff string
	if !testbus.Eventually(timeout, func() bool {
		diff = diffTrees(treeState(t, source, skip), treeState(t, target, nil))
		return diff == ""
	}) {
		t.Fatalf("%s: target not in step with the source within %s:\n%s", what, timeout, diff)
	}
}

func noTmp(rel string) bool { return strings.HasSuffix(rel, ".tmp") }

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	info, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return info.Sys().(*syscall.Stat_t).Ino
}

func writeFile(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// syncPair is a sender "a" with one job into module "m" of a receiver "b".
type syncPair struct {
	a, b        *syncHost
	src, dst    string
	addr        string
	jobSettings []string
}

func newSyncPair(t *testing.T, jobSettings ...string) *syncPair {
	p := &syncPair{a: newSyncHost(t, "a"), b: newSyncHost(t, "b"), addr: freePort(t), jobSettings: jobSettings}
	p.src, p.dst = filepath.Join(p.a.dir, "src"), filepath.Join(p.b.dir, "dst")
	os.MkdirAll(p.src, 0o755)
	p.b.configure("Listen=" + p.addr + "\n" + moduleSection("m", p.dst, p.a.fp))
	p.a.configure(jobSection("j", p.src, p.addr+"/m", p.b.fp, append([]string{"Exclude=*.tmp"}, jobSettings...)...))
	return p
}

// TestSyncEveryKindOfChange: an initial tree, then creates, writes, chmod, mtimes,
// symlinks, deletes, renames (a directory of 10,000 files is renamed at the target, not
// sent again: its files keep their inodes there) and exclusions, each batch checked at
// the target, with two targets for the same source.
func TestSyncEveryKindOfChange(t *testing.T) {
	p := newSyncPair(t)
	c := newSyncHost(t, "c")
	dst2 := filepath.Join(c.dir, "dst2")
	addr2 := freePort(t)
	c.configure("Listen=" + addr2 + "\n" + moduleSection("m2", dst2, p.a.fp))
	p.a.configure(jobSection("j", p.src, p.addr+"/m", p.b.fp, "Exclude=*.tmp") + jobSection("j2", p.src, addr2+"/m2", c.fp, "Exclude=*.tmp"))

	writeFile(t, filepath.Join(p.src, "top.txt"), "top", 0o640)
	writeFile(t, filepath.Join(p.src, "a/b/c/deep.txt"), "deep", 0o600)
	writeFile(t, filepath.Join(p.src, "skip.tmp"), "not sent", 0o644)
	writeFile(t, filepath.Join(p.src, "a/b/also.tmp"), "not sent", 0o644)
	os.Mkdir(filepath.Join(p.src, "empty"), 0o700)
	os.Symlink("a/b/c/deep.txt", filepath.Join(p.src, "link"))
	old := time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
	os.Chtimes(filepath.Join(p.src, "top.txt"), old, old)
	big := filepath.Join(p.src, "many")
	for i := 0; i < 10000; i++ {
		writeFile(t, filepath.Join(big, fmt.Sprintf("d%02d/f%05d", i%100, i)), fmt.Sprint(i), 0o644)
	}

	p.b.start()
	c.start()
	p.a.start()
	waitSame(t, "initial sync", p.src, p.dst, 60*time.Second, noTmp)
	waitSame(t, "initial sync, second target", p.src, dst2, 60*time.Second, noTmp)

	// Live changes, each kind.
	writeFile(t, filepath.Join(p.src, "new.txt"), "new", 0o644)
	os.WriteFile(filepath.Join(p.src, "top.txt"), []byte("top, rewritten"), 0o640)
	os.Chmod(filepath.Join(p.src, "a/b/c/deep.txt"), 0o604)
	os.Chtimes(filepath.Join(p.src, "a/b/c/deep.txt"), old, old)
	os.Mkdir(filepath.Join(p.src, "fresh"), 0o755)
	writeFile(t, filepath.Join(p.src, "fresh/at-once"), "written the moment the directory was made", 0o644)
	os.MkdirAll(filepath.Join(p.src, "fresh/x/y/z"), 0o755)
	writeFile(t, filepath.Join(p.src, "fresh/x/y/z/leaf"), "leaf", 0o644)
	os.Remove(filepath.Join(p.src, "link"))
	os.Symlink("top.txt", filepath.Join(p.src, "link"))
	os.RemoveAll(filepath.Join(p.src, "empty"))
	os.Rename(filepath.Join(p.src, "new.txt"), filepath.Join(p.src, "renamed.txt"))
	writeFile(t, filepath.Join(p.src, "save.tmp"), "editor's save", 0o644)
	os.Rename(filepath.Join(p.src, "save.tmp"), filepath.Join(p.src, "saved"))
	waitSame(t, "live changes", p.src, p.dst, 30*time.Second, noTmp)

	// A directory of 10,000 files renamed: one operation at the target.
	before := inode(t, filepath.Join(p.dst, "many/d42/f00042"))
	os.Rename(filepath.Join(p.src, "many"), filepath.Join(p.src, "moved"))
	os.Rename(filepath.Join(p.src, "moved/d07"), filepath.Join(p.src, "d07-out"))
	waitSame(t, "renamed directories", p.src, p.dst, 30*time.Second, noTmp)
	if after := inode(t, filepath.Join(p.dst, "moved/d42/f00042")); after != before {
		t.Errorf("moved/d42/f00042 has inode %d at the target, was %d: the rename was sent as new files", after, before)
	}
	// Deletes of a whole tree.
	os.RemoveAll(filepath.Join(p.src, "moved"))
	waitSame(t, "deleted tree", p.src, p.dst, 30*time.Second, noTmp)
	waitSame(t, "second target", p.src, dst2, 60*time.Second, noTmp)
	if _, err := os.Stat(filepath.Join(p.dst, "skip.tmp")); err == nil {
		t.Error("an excluded file reached the target")
	}
	left, _ := filepath.Glob(filepath.Join(p.dst, ".hostkit-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left at the target: %v", left)
	}
	if d := p.a.stop(syscall.SIGTERM); d > 5*time.Second {
		t.Errorf("the sender took %s to stop on SIGTERM", d)
	}
}

// TestSyncTargetDownAndBack: changes made while the receiver is down, and while both are,
// are kept in the sender's queue on disk and sent when the receiver returns; a rename
// made meanwhile is still a rename.
func TestSyncTargetDownAndBack(t *testing.T) {
	p := newSyncPair(t)
	writeFile(t, filepath.Join(p.src, "dir/one"), "1", 0o644)
	p.b.start()
	p.a.start()
	waitSame(t, "initial sync", p.src, p.dst, 30*time.Second, noTmp)
	before := inode(t, filepath.Join(p.dst, "dir/one"))

	p.b.stop(syscall.SIGTERM)
	os.Rename(filepath.Join(p.src, "dir"), filepath.Join(p.src, "dir2"))
	writeFile(t, filepath.Join(p.src, "while-down"), "kept", 0o644)
	p.a.waitLog("target unavailable", 20*time.Second)
	// The sender restarts too while the target is down: the queue is on disk.
	p.a.stop(syscall.SIGTERM)
	writeFile(t, filepath.Join(p.src, "while-both-down"), "found by the comparison", 0o644)
	p.a.start()
	p.a.waitLog("changes kept from before", 10*time.Second)
	p.b.start()
	waitSame(t, "after the target came back", p.src, p.dst, 30*time.Second, noTmp)
	if after := inode(t, filepath.Join(p.dst, "dir2/one")); after != before {
		t.Errorf("the rename made while the target was down was sent as new files (inode %d, was %d)", after, before)
	}
}

// TestSyncUnknownPeerRefused: a sender the module does not name is refused, and the
// receiver's log gives the fingerprint to add; a target that presents another key than
// Peer= is refused by the sender.
func TestSyncUnknownPeerRefused(t *testing.T) {
	p := newSyncPair(t)
	stranger := newSyncHost(t, "stranger")
	p.b.configure("Listen=" + p.addr + "\n" + moduleSection("m", p.dst, stranger.fp))
	writeFile(t, filepath.Join(p.src, "f"), "x", 0o644)
	p.b.start()
	p.a.start()
	p.b.waitLog("Peer="+p.a.fp, 10*time.Second)
	p.a.waitLog("refused by the target", 10*time.Second)
	if _, err := os.Stat(filepath.Join(p.dst, "f")); err == nil {
		t.Error("the refused sender's file arrived")
	}
	p.a.stop(syscall.SIGTERM)

	// Pinned to the stranger's key, the sender refuses the real target.
	p.a.configure(jobSection("j", p.src, p.addr+"/m", stranger.fp))
	p.a.start()
	p.a.waitLog("presented another key than Peer=", 10*time.Second)
	if !strings.Contains(p.a.log.String(), p.b.fp) {
		t.Error("the sender's log does not name the key the target presented")
	}
}

// TestSyncKill9DuringLargeTransfer kills each side with SIGKILL half way through a large
// file (sent at a limited rate so that half way can be found): no part is ever visible
// under the file's name, and the transfer resumes from what had arrived.
func TestSyncKill9DuringLargeTransfer(t *testing.T) {
	const size = 96 << 20
	for _, victim := range []string{"sender", "receiver"} {
		t.Run(victim, func(t *testing.T) {
			p := newSyncPair(t, "BandwidthLimit=24M")
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(i*7 + i>>12)
			}
			writeFile(t, filepath.Join(p.src, "big"), string(data), 0o644)
			p.b.start()
			p.a.start()
			// Wait until about half has arrived in the part file.
			var part string
			if !testbus.Eventually(30*time.Second, func() bool {
				parts, _ := filepath.Glob(filepath.Join(p.dst, ".hostkit-part-*"))
				if len(parts) == 1 {
					part = parts[0]
					info, err := os.Stat(part)
					return err == nil && info.Size() >= size/2
				}
				return false
			}) {
				t.Fatal("no part file reached half the size within 30 s")
			}
			h := p.a
			if victim == "receiver" {
				h = p.b
			}
			h.stop(syscall.SIGKILL)
			if _, err := os.Stat(filepath.Join(p.dst, "big")); err == nil {
				t.Fatal("the file is visible under its name before it was complete")
			}
			kept, _ := os.Stat(part)
			h.start()
			waitSame(t, "after the restart", p.src, p.dst, 60*time.Second, noTmp)
			p.a.waitLog("resuming a file cut off before", 5*time.Second)
			t.Logf("%s killed with %d of %d bytes at the target", victim, kept.Size(), size)
		})
	}
}

// TestSyncDiskFull sends into a module on a 4 MiB tmpfs: a file that does not fit is
// reported and retried, nothing half written is visible, and once there is room it
// arrives.
func TestSyncDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a tmpfs: run it as root")
	}
	p := newSyncPair(t)
	if err := os.MkdirAll(p.dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "hostkit-test", p.dst).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", p.dst).Run() })
	writeFile(t, filepath.Join(p.src, "small"), "fits", 0o644)
	p.b.start()
	p.a.start()
	waitSame(t, "initial sync", p.src, p.dst, 30*time.Second, noTmp)
	writeFile(t, filepath.Join(p.src, "large"), strings.Repeat("x", 6<<20), 0o644)
	p.b.waitLog("disk full", 20*time.Second)
	p.a.waitLog("retrying later", 20*time.Second)
	if _, err := os.Stat(filepath.Join(p.dst, "large")); err == nil {
		t.Fatal("the file that does not fit is visible at the target")
	}
	if data, _ := os.ReadFile(filepath.Join(p.dst, "small")); string(data) != "fits" {
		t.Errorf("small is %q after the disk filled", data)
	}
	if out, err := exec.Command("mount", "-o", "remount,size=16m", p.dst).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
	waitSame(t, "after room was made", p.src, p.dst, 60*time.Second, noTmp)
}

// TestSyncOnTheBus: the sender on a private bus: the manager and job objects introspect as
// the shipped XML, properties and Describe() follow the job, PropertiesChanged is sent,
// hostkitctl sync shows and controls it (Pause holds changes back, Resume sends them), and
// an unprivileged caller may read but not control.
func TestSyncOnTheBus(t *testing.T) {
	p := newSyncPair(t)
	b := testbus.Start(t)
	root := repo.RootT(t)
	writeFile(t, filepath.Join(p.src, "f"), "1", 0o644)
	p.b.start()
	p.a.start("--bus", b.Address)
	conn := connect(t, b)
	if !testbus.Eventually(10*time.Second, func() bool { return ownsName(conn, "org.hostkit.Sync1") }) {
		t.Fatal("hostkit-syncd did not take org.hostkit.Sync1")
	}
	checkIntrospection(t, conn, root, "org.hostkit.Sync1", "/org/hostkit/Sync1")
	job := conn.Object("org.hostkit.Sync1", "/org/hostkit/Sync1/job/j")
	prop := func(name string) any {
		v, err := job.GetProperty("org.hostkit.Sync1.Job." + name)
		if err != nil {
			t.Fatalf("property %s: %v", name, err)
		}
		return v.Value()
	}
	if !testbus.Eventually(20*time.Second, func() bool { return prop("State") == "idle" }) {
		t.Fatalf("job state %v, want idle", prop("State"))
	}
	t.Logf("state %v pending %v sent %v files %v initial %v/%v", prop("State"), prop("PendingFiles"), prop("BytesSent"), prop("FilesSent"), prop("InitialDone"), prop("InitialTotal"))
	if prop("PeerFingerprint") != p.b.fp || prop("BytesSent").(uint64) == 0 || prop("LastSyncUSec").(uint64) == 0 {
		t.Errorf("job properties: peer %v, sent %v, last sync %v", prop("PeerFingerprint"), prop("BytesSent"), prop("LastSyncUSec"))
	}
	if err := conn.AddMatchSignal(); err != nil {
		t.Fatal(err)
	}
	signals := make(chan *dbus.Signal, 100)
	conn.Signal(signals)

	out, err := runBinary(t, b, 0, 0, "hostkitctl", "--bus", b.Address, "sync", "id")
	if err != nil || strings.TrimSpace(out) != p.a.fp {
		t.Errorf("hostkitctl sync id: %q %v, want %s", out, err, p.a.fp)
	}
	out, err = runBinary(t, b, 0, 0, "hostkitctl", "--bus", b.Address, "sync", "status")
	if err != nil || !regexp.MustCompile(`(?m)^j\s+idle\s+0 `).MatchString(out) {
		t.Errorf("hostkitctl sync status: %v\n%s", err, out)
	}
	if _, err := runBinary(t, b, 0, 0, "hostkitctl", "--bus", b.Address, "sync", "pause", "j"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(p.src, "held"), "back", 0o644)
	if !testbus.Eventually(10*time.Second, func() bool { return prop("State") == "paused" && prop("PendingFiles").(uint64) == 1 }) {
		t.Fatalf("after Pause and a write: state %v, pending %v", prop("State"), prop("PendingFiles"))
	}
	time.Sleep(500 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(p.dst, "held")); err == nil {
		t.Error("a change was sent while paused")
	}
	var describe string
	if err := conn.Object("org.hostkit.Sync1", "/org/hostkit/Sync1").Call("org.hostkit.Sync1.Describe", 0).Store(&describe); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(describe, `"pending_files":1`) || !strings.Contains(describe, `"state":"paused"`) {
		t.Errorf("Describe(): %s", describe)
	}
	uid, gid := testbus.Unprivileged(t)
	if _, err := runBinary(t, b, uid, gid, "hostkitctl", "--bus", b.Address, "sync", "resume", "j"); err == nil || !strings.Contains(err.Error(), "org.hostkit.sync1.manage") {
		t.Errorf("an unprivileged resume: %v, want a refusal naming the polkit action", err)
	}
	if out, err := runBinary(t, b, uid, gid, "hostkitctl", "--bus", b.Address, "sync", "status", "--json"); err != nil || !strings.Contains(out, `"pending_files": 1`) {
		t.Errorf("an unprivileged status: %v\n%s", err, out)
	}
	if _, err := runBinary(t, b, 0, 0, "hostkitctl", "--bus", b.Address, "sync", "resume", "j"); err != nil {
		t.Fatal(err)
	}
	waitSame(t, "after Resume", p.src, p.dst, 10*time.Second, noTmp)
	if _, err := runBinary(t, b, 0, 0, "hostkitctl", "--bus", b.Address, "sync", "resync", "nosuch"); err == nil || !strings.Contains(err.Error(), `no job "nosuch"`) {
		t.Errorf("resync of an unknown job: %v", err)
	}
	seen := false
	for len(signals) > 0 {
		s := <-signals
		if s.Name == "org.freedesktop.DBus.Properties.PropertiesChanged" && s.Path == "/org/hostkit/Sync1/job/j" {
			seen = true
		}
	}
	if !seen {
		t.Error("no PropertiesChanged from the job object")
	}
	if d := p.a.stop(syscall.SIGTERM); d > 5*time.Second {
		t.Errorf("stopping took %s", d)
	}
	if ownsName(conn, "org.hostkit.Sync1") {
		t.Error("the name is still owned after the stop")
	}
}

// TestSyncPauseSurvivesRestart: a job paused over the bus stays paused when the daemon
// restarts (the pause is kept in StateDirectory=): changes are queued, not sent, until
// Resume, which is kept too.
func TestSyncPauseSurvivesRestart(t *testing.T) {
	p := newSyncPair(t)
	b := testbus.Start(t)
	writeFile(t, filepath.Join(p.src, "f"), "1", 0o644)
	p.b.start()
	p.a.start("--bus", b.Address)
	conn := connect(t, b)
	state := func() string {
		v, err := conn.Object("org.hostkit.Sync1", "/org/hostkit/Sync1/job/j").GetProperty("org.hostkit.Sync1.Job.State")
		if err != nil {
			return "(" + err.Error() + ")"
		}
		return v.Value().(string)
	}
	if !testbus.Eventually(20*time.Second, func() bool { return state() == "idle" }) {
		t.Fatalf("job state %s, want idle", state())
	}
	if _, err := runBinary(t, b, 0, 0, "hostkitctl", "--bus", b.Address, "sync", "pause", "j"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(p.a.state, "paused", "j")); err != nil {
		t.Errorf("Pause left no mark in StateDirectory=: %v", err)
	}
	p.a.stop(syscall.SIGTERM)
	writeFile(t, filepath.Join(p.src, "while-paused"), "held back", 0o644)
	p.a.start("--bus", b.Address)
	if !testbus.Eventually(10*time.Second, func() bool { return state() == "paused" }) {
		t.Fatalf("after a restart the paused job is %s, want paused", state())
	}
	time.Sleep(time.Second) // time enough for a send, were it not paused
	if _, err := os.Stat(filepath.Join(p.dst, "while-paused")); err == nil {
		t.Fatal("a change was sent by a job paused before the restart")
	}
	if _, err := runBinary(t, b, 0, 0, "hostkitctl", "--bus", b.Address, "sync", "resume", "j"); err != nil {
		t.Fatal(err)
	}
	waitSame(t, "after Resume", p.src, p.dst, 10*time.Second, nil)
	p.a.stop(syscall.SIGTERM)
	p.a.start("--bus", b.Address)
	if !testbus.Eventually(20*time.Second, func() bool { return state() == "idle" }) {
		t.Fatalf("after Resume and a restart the job is %s, want idle", state())
	}
}

// stoppedBytes returns what the sender's last "stopped" line says went over the wire, both
// ways: bytes_sent + bytes_received.
func stoppedBytes(t *testing.T, h *syncHost) int64 {
	t.Helper()
	m := regexp.MustCompile(`msg=stopped .*bytes_sent=(\d+) bytes_received=(\d+)`).FindAllStringSubmatch(h.log.String(), -1)
	if len(m) == 0 {
		t.Fatal("the sender logged no stopped line with bytes_sent and bytes_received")
	}
	sent, _ := strconv.ParseInt(m[len(m)-1][1], 10, 64)
	received, _ := strconv.ParseInt(m[len(m)-1][2], 10, 64)
	return sent + received
}

// rsyncDaemon runs an rsync daemon on 127.0.0.1 with one module, m, into dst, with auth
// users and a secrets file as real setups have them. It returns the daemon's address
// and the password file of its one user, syncer.
func rsyncDaemon(t *testing.T, dst string) (addr, password string) {
	t.Helper()
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Fatal("rsync not found: apt-get install rsync (make deps does)")
	}
	dir := t.TempDir()
	os.MkdirAll(dst, 0o755)
	writeFile(t, filepath.Join(dir, "secrets"), "syncer:s3cret\n", 0o600)
	password = filepath.Join(dir, "password")
	writeFile(t, password, "s3cret\n", 0o600)
	addr = freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	writeFile(t, filepath.Join(dir, "rsyncd.conf"), fmt.Sprintf("use chroot = no\npid file = %s/rsyncd.pid\n[m]\npath = %s\nread only = no\nuid = root\ngid = root\nauth users = syncer\nsecrets file = %s/secrets\n", dir, dst, dir), 0o644)
	daemon := exec.Command("rsync", "--daemon", "--no-detach", "--config="+filepath.Join(dir, "rsyncd.conf"), "--address=127.0.0.1", "--port="+port)
	daemon.Stderr = os.Stderr
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { daemon.Process.Kill(); daemon.Wait() })
	if !testbus.Eventually(10*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		t.Fatal("the rsync daemon did not listen within 10 s")
	}
	return addr, password
}

// rsyncWire runs `rsync -a --stats --ignore-times` of src into module m at addr and
// returns the bytes it sent and received. --ignore-times: a file changed within the second
// of the last run would otherwise look unchanged to rsync, which compares whole seconds.
func rsyncWire(t *testing.T, src, addr, password string) int64 {
	t.Helper()
	out, err := exec.Command("rsync", "-a", "--stats", "--ignore-times", "--password-file="+password, src+"/", "rsync://syncer@"+addr+"/m/").CombinedOutput()
	if err != nil {
		t.Fatalf("rsync -a: %v: %s", err, out)
	}
	var n int64
	for _, m := range regexp.MustCompile(`(?m)^Total bytes (sent|received): ([\d,]+)`).FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseInt(strings.ReplaceAll(string(m[2]), ",", ""), 10, 64)
		n += v
	}
	if n == 0 {
		t.Fatalf("no byte counts in rsync's --stats:\n%s", out)
	}
	return n
}

// TestSyncDeltaOfChangedLargeFile: a 48 MiB file that the target has is changed while the
// sender is stopped, and the restarted sender's comparison finds it: 4 KiB changed in the
// middle costs at most what rsync sends for the same change (bytes on the wire, both
// ways, rsync's counted by its --stats), and 11 bytes inserted at the start, which move
// everything after them, cost a small fraction of the file, not the file.
func TestSyncDeltaOfChangedLargeFile(t *testing.T) {
	const size = 48 << 20
	p := newSyncPair(t)
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*31 + i>>16 + i>>9)
	}
	big := filepath.Join(p.src, "image.bin")
	writeFile(t, big, string(data), 0o644)
	rsyncAddr, password := rsyncDaemon(t, filepath.Join(t.TempDir(), "rsync-dst"))
	rsyncWire(t, p.src, rsyncAddr, password)
	p.b.start()
	p.a.start()
	waitSame(t, "initial sync", p.src, p.dst, 60*time.Second, nil)
	p.a.stop(syscall.SIGTERM)
	first := stoppedBytes(t, p.a)
	if first < size {
		t.Errorf("the first sync sent %d bytes, less than the file's %d", first, size)
	}

	f, err := os.OpenFile(big, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(strings.Repeat("X", 4096)), size/2+1000); err != nil {
		t.Fatal(err)
	}
	f.Close()
	byRsync := rsyncWire(t, p.src, rsyncAddr, password)
	p.a.start()
	waitSame(t, "after 4 KiB changed", p.src, p.dst, 60*time.Second, nil)
	p.a.stop(syscall.SIGTERM)
	changed := stoppedBytes(t, p.a)
	t.Logf("whole file: %d bytes; 4 KiB changed: %d bytes, rsync %d bytes", first, changed, byRsync)
	if changed > byRsync {
		t.Errorf("4 KiB changed in place took %d bytes on the wire, rsync %d", changed, byRsync)
	}

	data, _ = os.ReadFile(big)
	writeFile(t, big, "#!inserted\n"+string(data), 0o644)
	p.a.start()
	waitSame(t, "after 11 bytes inserted at the start", p.src, p.dst, 60*time.Second, nil)
	p.a.stop(syscall.SIGTERM)
	inserted := stoppedBytes(t, p.a)
	t.Logf("11 bytes inserted at the start: %d bytes", inserted)
	if inserted > size/100 {
		t.Errorf("11 bytes inserted at the start of %d took %d bytes on the wire: more than 1%%", size, inserted)
	}
}

// TestSyncComparisonHashesFirst: files whose size is the same at the target but whose
// mtime differs (touched, or copied without keeping times) are hashed on both sides by the
// comparison at start, and only their mtime is sent when the content is the same: the
// target keeps the very file (its inode), with the new mtime. A file of the same size with
// other content is sent.
func TestSyncComparisonHashesFirst(t *testing.T) {
	p := newSyncPair(t)
	big := strings.Repeat("0123456789abcdef", 4<<20/16)
	writeFile(t, filepath.Join(p.src, "touched"), big, 0o644)
	writeFile(t, filepath.Join(p.src, "dir/small"), "small file", 0o644)
	writeFile(t, filepath.Join(p.src, "edited"), "same size, first content", 0o644)
	p.b.start()
	p.a.start()
	waitSame(t, "initial sync", p.src, p.dst, 30*time.Second, nil)
	p.a.stop(syscall.SIGTERM)

	later := time.Now().Add(time.Hour)
	for _, f := range []string{"touched", "dir/small"} {
		if err := os.Chtimes(filepath.Join(p.src, f), later, later); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(p.src, "edited"), "same size, other content", 0o644)
	inodes := map[string]uint64{}
	for _, f := range []string{"touched", "dir/small", "edited"} {
		inodes[f] = inode(t, filepath.Join(p.dst, f))
	}
	p.a.start()
	waitSame(t, "after the restart", p.src, p.dst, 30*time.Second, nil)
	p.a.waitLog("hashed=3 only_mtime=2", 5*time.Second)
	p.a.stop(syscall.SIGTERM)
	for _, f := range []string{"touched", "dir/small"} {
		if inode(t, filepath.Join(p.dst, f)) != inodes[f] {
			t.Errorf("%s, only touched, was sent again (a new file at the target)", f)
		}
	}
	if inode(t, filepath.Join(p.dst, "edited")) == inodes["edited"] {
		t.Error("edited, of the same size but other content, is still the old file at the target")
	}
	if n := stoppedBytes(t, p.a); n > 64<<10 {
		t.Errorf("the comparison after a touch of a 4 MiB file took %d bytes on the wire", n)
	}
}

// TestSyncOutOfInotifyWatches runs the sender in a user namespace of its own whose
// inotify watch limit (user.max_inotify_watches, per user namespace) is 5, so that most of
// a tree of 20 directories cannot be watched, without touching this machine's sysctls: the
// log names the sysctls to raise, the daemon keeps running, and changes in the unwatched
// directories still arrive, by the periodic rescan (RescanIntervalSec=1).
func TestSyncOutOfInotifyWatches(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare not found: apt-get install util-linux (make deps does)")
	}
	if out, err := exec.Command("unshare", "--user", "--map-root-user", "sh", "-c", "echo 5 >/proc/sys/user/max_inotify_watches").CombinedOutput(); err != nil {
		t.Fatalf("a user namespace with its own inotify limit: unshare --user --map-root-user: %v: %s (user namespaces disabled? sysctl user.max_user_namespaces)", err, out)
	}
	p := newSyncPair(t)
	p.a.configure("RescanIntervalSec=1\n" + jobSection("j", p.src, p.addr+"/m", p.b.fp))
	p.a.wrap = []string{"unshare", "--user", "--map-root-user", "sh", "-c", `echo 5 >/proc/sys/user/max_inotify_watches && exec "$@"`, "sh"}
	for i := 0; i < 20; i++ {
		writeFile(t, filepath.Join(p.src, fmt.Sprintf("d%02d/before", i)), "before", 0o644)
	}
	p.b.start()
	p.a.start()
	waitSame(t, "initial sync", p.src, p.dst, 30*time.Second, nil)
	p.a.waitLog("out of inotify watches", 5*time.Second)
	for _, want := range []string{"sysctl fs.inotify.max_user_watches", "user.max_inotify_watches of this user namespace (now 5)"} {
		if !strings.Contains(p.a.log.String(), want) {
			t.Errorf("the log does not say %q", want)
		}
	}
	for i := 0; i < 20; i++ {
		writeFile(t, filepath.Join(p.src, fmt.Sprintf("d%02d/after", i)), "after", 0o644)
	}
	os.Remove(filepath.Join(p.src, "d19/before"))
	waitSame(t, "changes in watched and unwatched directories", p.src, p.dst, 30*time.Second, nil)
	select {
	case <-p.a.exited:
		t.Fatal("the sender exited")
	default:
	}
	if n := strings.Count(p.a.log.String(), "msg=compared"); n < 2 {
		t.Errorf("%d comparisons logged, want the first and at least one rescan", n)
	}
}

// TestSyncIdleExit: a receive-only hostkit-syncd started by socket activation (here by
// systemd-socket-activate, which passes the socket as systemd does) exits 0 after
// IdleTimeoutSec= without a connection, and not while a sender is connected; one that
// listens by itself (Listen=) does not exit.
func TestSyncIdleExit(t *testing.T) {
	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Fatal("systemd-socket-activate not found: apt-get install systemd (make deps does)")
	}
	p := newSyncPair(t)
	p.b.configure("[Daemon]\nIdleTimeoutSec=2\n" + moduleSection("m", p.dst, p.a.fp))
	p.b.wrap = []string{activate, "--listen=" + p.addr}
	writeFile(t, filepath.Join(p.src, "f"), "sent to an activated receiver", 0o644)
	p.b.start()
	time.Sleep(200 * time.Millisecond) // systemd-socket-activate listens
	p.a.start()
	waitSame(t, "sync into the activated receiver", p.src, p.dst, 30*time.Second, nil)
	p.b.waitLog("msg=starting", 5*time.Second)
	time.Sleep(4 * time.Second) // twice IdleTimeoutSec=, with the sender connected
	select {
	case <-p.b.exited:
		t.Fatal("the receiver exited while a sender was connected")
	default:
	}
	p.a.stop(syscall.SIGTERM)
	select {
	case <-p.b.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the receiver did not exit within 10 s of the sender's leaving (IdleTimeoutSec=2)")
	}
	if code := p.b.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the idle receiver exited with %d, want 0", code)
	}
	p.b.cmd = nil
	if !strings.Contains(p.b.log.String(), `reason="idle for 2s"`) {
		t.Error("the receiver's log does not say it exited for being idle")
	}

	// Not socket-activated: it stays.
	p.b.configure("Listen=" + p.addr + "\n[Daemon]\nIdleTimeoutSec=1\n" + moduleSection("m", p.dst, p.a.fp))
	p.b.wrap = nil
	p.b.start()
	time.Sleep(3 * time.Second)
	select {
	case <-p.b.exited:
		t.Fatal("a receiver with Listen= exited when idle")
	default:
	}
}

// TestSyncToRsyncDaemon: a job with Target=rsync:// sends through the rsync program to a
// plain rsync daemon (module with auth users and a secrets file), at start and on changes.
func TestSyncToRsyncDaemon(t *testing.T) {
	a := newSyncHost(t, "a")
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	addr, password := rsyncDaemon(t, dst)

	writeFile(t, filepath.Join(src, "a/one"), "1", 0o644)
	writeFile(t, filepath.Join(src, "skip.tmp"), "no", 0o644)
	a.configure(fmt.Sprintf("\n[Job]\nName=r\nSource=%s\nTarget=rsync://syncer@%s/m\nPasswordFile=%s\nExclude=*.tmp\n", src, addr, password))
	a.start()
	waitSame(t, "initial rsync", src, dst, 30*time.Second, noTmp)
	writeFile(t, filepath.Join(src, "a/two"), "2", 0o644)
	os.Remove(filepath.Join(src, "a/one"))
	waitSame(t, "changes through rsync", src, dst, 30*time.Second, noTmp)
	a.waitLog("rsync run", time.Second)
}
