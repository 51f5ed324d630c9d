package system

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
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

	"github.com/hostkit/hostkit/internal/repo"
	"github.com/hostkit/hostkit/internal/testcontainer"
)

// TestSyncService installs the .deb into one booted container and checks hostkit-syncd as
// an admin meets it: nothing enabled on install; hostkit-syncd.socket enabled receives a
// tree pushed by a sender on the host (running in the container's network namespace,
// which has only its own loopback); socket activation, the keepalive timer in ss, the job
// of a sender inside on the bus, hostkitctl sync, polkit, the journal's SYNC= and PEER=
// fields, the sandbox's rating and a stop well inside its timeout.
func TestSyncService(t *testing.T) {
	root := repo.RootT(t)
	deb := findDeb(t, root)
	bin := filepath.Join(root, "bin", "hostkit-syncd")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s missing: run make build (make system does)", bin)
	}
	log := &stepLog{cur: t}
	c := testcontainer.New(t, testcontainer.Options{Name: "sync", Logf: log.Logf})

	var containerFP string
	log.step(t, "1_install", func(t *testing.T) {
		if err := c.InstallDeb(deb); err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"hostkit-syncd.socket", "hostkit-syncd.service"} {
			if state, _ := c.Exec("systemctl", "is-enabled", u); strings.TrimSpace(state) != "disabled" {
				t.Errorf("systemctl is-enabled %s = %q after install, want disabled (the admin enables it)", u, strings.TrimSpace(state))
			}
		}
		containerFP = strings.TrimSpace(mustExec(t, c, "hostkit-syncd", "id"))
		if !regexp.MustCompile(`^SHA256:[A-Za-z0-9+/]{43}$`).MatchString(containerFP) {
			t.Fatalf("hostkit-syncd id printed %q", containerFP)
		}
		if mode := strings.TrimSpace(mustExec(t, c, "stat", "-c", "%a", "/var/lib/hostkit/sync/key.pem")); mode != "600" {
			t.Errorf("key.pem mode %s, want 600", mode)
		}
	})
	if containerFP == "" {
		t.FailNow()
	}

	// The sender on the host: its own state, run in the container's network namespace.
	hostDir := t.TempDir()
	src := filepath.Join(hostDir, "src")
	hostConf := filepath.Join(hostDir, "sync.conf")
	writeHostFile(t, hostConf, fmt.Sprintf("[Sync]\nStateDirectory=%s\n", filepath.Join(hostDir, "state")))
	out, err := exec.Command(bin, "id", "--config", hostConf).CombinedOutput()
	if err != nil {
		t.Fatalf("hostkit-syncd id on the host: %v: %s", err, out)
	}
	hostFP := strings.TrimSpace(string(out))
	writeHostFile(t, filepath.Join(src, "index.html"), "<h1>hello</h1>\n")
	writeHostFile(t, filepath.Join(src, "img/logo.svg"), "<svg/>\n")
	writeHostFile(t, filepath.Join(src, "cache.tmp"), "not sent\n")
	writeHostFile(t, hostConf, fmt.Sprintf("[Sync]\nStateDirectory=%s\n[Job]\nName=push\nSource=%s\nTarget=127.0.0.1:8730/www\nPeer=%s\nExclude=*.tmp\n",
		filepath.Join(hostDir, "state"), src, containerFP))
	const conf = `# written by TestSyncService
[Module]
Name=www
Path=/srv/www
Peer=%s

# This host also sends /srv/www to itself, so that a job shows on its bus.
[Module]
Name=back
Path=/srv/back
Peer=%s

[Job]
Name=loop
Source=/srv/www
Target=127.0.0.1:8730/back
Peer=%s
`

	outer := t // the sender on the host runs on through the later steps
	stopSender := func() {}
	log.step(t, "2_socket_activation_and_push", func(t *testing.T) {
		if err := c.WriteFile("/etc/hostkit/sync.conf.d/50-test.conf", []byte(fmt.Sprintf(conf, hostFP, containerFP, containerFP)), 0o644); err != nil {
			t.Fatal(err)
		}
		mustExec(t, c, "systemctl", "enable", "--now", "hostkit-syncd.socket")
		if got := activeState(c, "hostkit-syncd.service"); got != "inactive" {
			t.Errorf("before any connection hostkit-syncd.service is %q, want inactive", got)
		}
		var sender *lockedLog
		sender, stopSender = startInNetns(outer, c.Leader, bin, "--config", hostConf, "--bus", "none")
		dst := filepath.Join(c.Root, "srv/www")
		if !eventually(30*time.Second, func() bool { return sameTree(src, dst, "cache.tmp") == "" }) {
			t.Fatalf("the pushed tree did not arrive in /srv/www within 30 s:\n%s\nsender's log:\n%s", sameTree(src, dst, "cache.tmp"), sender.String())
		}
		if got := activeState(c, "hostkit-syncd.service"); got != "active" {
			t.Errorf("after the push hostkit-syncd.service is %q, want active (started by the socket)", got)
		}
		// A change arrives live.
		writeHostFile(t, filepath.Join(src, "news.html"), "fresh\n")
		if !eventually(10*time.Second, func() bool { return sameTree(src, dst, "cache.tmp") == "" }) {
			t.Errorf("a live change did not arrive: %s", sameTree(src, dst, "cache.tmp"))
		}
		// The accepted connection has the keepalive timer of sync.conf, though it came
		// through the socket unit (ss from the host, in the container's namespace).
		ss, err := exec.Command("nsenter", "-t", strconv.Itoa(c.Leader), "-n", "ss", "-tio", "state", "established", "sport", "8730").CombinedOutput()
		t.Logf("ss -tio:\n%s", ss)
		if err != nil || !regexp.MustCompile(`timer:\(keepalive,`).Match(ss) {
			t.Errorf("ss -tio shows no keepalive timer on the receiver's connections (%v)", err)
		}
	})

	log.step(t, "3_bus_and_hostkitctl", func(t *testing.T) {
		dst := filepath.Join(c.Root, "srv/back")
		if !eventually(30*time.Second, func() bool { return sameTree(filepath.Join(c.Root, "srv/www"), dst, "") == "" }) {
			t.Errorf("the job inside did not mirror /srv/www to /srv/back: %s", sameTree(filepath.Join(c.Root, "srv/www"), dst, ""))
		}
		// Properties follow within a moment (PropertiesChanged at most 5 times a second).
		state := ""
		if !eventually(5*time.Second, func() bool {
			state = strings.TrimSpace(mustExec(t, c, "busctl", "get-property", "org.hostkit.Sync1", "/org/hostkit/Sync1/job/loop", "org.hostkit.Sync1.Job", "State"))
			return state == `s "idle"`
		}) {
			t.Errorf("busctl get-property ... State = %s, want s \"idle\"", state)
		}
		fp := strings.TrimSpace(mustExec(t, c, "busctl", "get-property", "org.hostkit.Sync1", "/org/hostkit/Sync1", "org.hostkit.Sync1", "Fingerprint"))
		if fp != `s "`+containerFP+`"` {
			t.Errorf("Fingerprint = %s, want %s", fp, containerFP)
		}
		status := mustExec(t, c, "hostkitctl", "sync", "status")
		if !regexp.MustCompile(`(?m)^loop\s+idle\s`).MatchString(status) || !strings.Contains(status, "connected: ") || !strings.Contains(status, hostFP) {
			t.Errorf("hostkitctl sync status lacks the job, idle, or the host's connection:\n%s", status)
		}
		var d struct {
			Jobs []struct {
				Name  string `json:"name"`
				State string `json:"state"`
			} `json:"jobs"`
			Peers []struct {
				Fingerprint string `json:"fingerprint"`
			} `json:"peers"`
		}
		decodeJSON(t, "hostkitctl sync status --json", mustExecAs(t, c, testcontainer.TestUser, "hostkitctl", "sync", "status", "--json"), &d)
		if len(d.Jobs) != 1 || d.Jobs[0].Name != "loop" || len(d.Peers) < 2 {
			t.Errorf("status --json as %s: %+v", testcontainer.TestUser, d)
		}
		if _, err := c.ExecAs(testcontainer.TestUser, "hostkitctl", "sync", "pause", "loop"); err == nil {
			t.Errorf("%s paused a job without polkit's consent", testcontainer.TestUser)
		}
		mustExec(t, c, "hostkitctl", "sync", "pause", "loop")
		if got := strings.TrimSpace(mustExec(t, c, "busctl", "get-property", "org.hostkit.Sync1", "/org/hostkit/Sync1/job/loop", "org.hostkit.Sync1.Job", "State")); got != `s "paused"` {
			t.Errorf("after hostkitctl sync pause: %s", got)
		}
		mustExec(t, c, "hostkitctl", "sync", "resume", "loop")
		if id := strings.TrimSpace(mustExec(t, c, "hostkitctl", "sync", "id")); id != containerFP {
			t.Errorf("hostkitctl sync id = %q, want %s", id, containerFP)
		}
		if st := mustExec(t, c, "systemctl", "status", "--no-pager", "hostkit-syncd.service"); !strings.Contains(st, "Status: \"") {
			t.Errorf("systemctl status shows no STATUS= line:\n%s", st)
		}
	})

	log.step(t, "4_journal_fields", func(t *testing.T) {
		j := mustExec(t, c, "journalctl", "-u", "hostkit-syncd.service", "-o", "json", "--no-pager")
		var sync, peer bool
		for _, line := range strings.Split(strings.TrimSpace(j), "\n") {
			var e map[string]any
			if json.Unmarshal([]byte(line), &e) != nil {
				continue
			}
			if e["SYNC"] == "loop" {
				sync = true
			}
			if e["PEER"] == hostFP {
				peer = true
			}
		}
		if !sync || !peer {
			t.Errorf("journal entries with SYNC=loop: %v, with PEER=<the host's fingerprint>: %v", sync, peer)
		}
	})

	log.step(t, "5_sandbox", func(t *testing.T) {
		checkExposure(t, c, 3.0, "hostkit-syncd.service")
	})

	log.step(t, "6_stop", func(t *testing.T) {
		start := time.Now()
		mustExec(t, c, "systemctl", "stop", "hostkit-syncd.service", "hostkit-syncd.socket")
		took := time.Since(start)
		t.Logf("systemctl stop took %s", took.Round(time.Millisecond))
		if took > 15*time.Second {
			t.Errorf("stopping took %s; TimeoutStopSec is 20 s and the daemon promises 10", took)
		}
		if res := strings.TrimSpace(mustExec(t, c, "systemctl", "show", "-P", "Result", "hostkit-syncd.service")); res != "success" {
			t.Errorf("Result=%s after the stop, want success", res)
		}
	})

	// A receive-only daemon started by the socket exits when idle, and the socket starts
	// it again at the next connection.
	log.step(t, "7_idle_exit_and_reactivation", func(t *testing.T) {
		stopSender()
		only := fmt.Sprintf("# written by TestSyncService\n[Daemon]\nIdleTimeoutSec=2\n[Module]\nName=www\nPath=/srv/www\nPeer=%s\n", hostFP)
		if err := c.WriteFile("/etc/hostkit/sync.conf.d/50-test.conf", []byte(only), 0o644); err != nil {
			t.Fatal(err)
		}
		mustExec(t, c, "systemctl", "start", "hostkit-syncd.socket")
		dst := filepath.Join(c.Root, "srv/www")
		for round := 1; round <= 2; round++ {
			writeHostFile(t, filepath.Join(src, fmt.Sprintf("round-%d", round)), "started by the socket\n")
			sender, stop := startInNetns(t, c.Leader, bin, "--config", hostConf, "--bus", "none")
			if !eventually(30*time.Second, func() bool { return sameTree(src, dst, "cache.tmp") == "" }) {
				t.Fatalf("round %d: the change did not arrive within 30 s: %s\nsender's log:\n%s", round, sameTree(src, dst, "cache.tmp"), sender.String())
			}
			if got := activeState(c, "hostkit-syncd.service"); got != "active" {
				t.Errorf("round %d: with a sender connected hostkit-syncd.service is %q, want active", round, got)
			}
			stop()
			if !eventually(20*time.Second, func() bool { return activeState(c, "hostkit-syncd.service") == "inactive" }) {
				t.Fatalf("round %d: hostkit-syncd.service is %q 20 s after the sender left, want inactive (IdleTimeoutSec=2)", round, activeState(c, "hostkit-syncd.service"))
			}
			if res := strings.TrimSpace(mustExec(t, c, "systemctl", "show", "-P", "Result", "hostkit-syncd.service")); res != "success" {
				t.Errorf("round %d: Result=%s after the idle exit, want success", round, res)
			}
			if got := activeState(c, "hostkit-syncd.socket"); got != "active" {
				t.Errorf("round %d: hostkit-syncd.socket is %q after the idle exit, want active", round, got)
			}
		}
		if j := mustExec(t, c, "journalctl", "-u", "hostkit-syncd.service", "--no-pager"); !strings.Contains(j, "idle for 2s") {
			t.Error("the journal does not say the daemon exited for being idle")
		}
		mustExec(t, c, "systemctl", "stop", "hostkit-syncd.socket")
	})
}

func writeHostFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func activeState(c *testcontainer.Container, unit string) string {
	out, _ := c.Exec("systemctl", "is-active", unit)
	return strings.TrimSpace(out)
}

func eventually(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); ; time.Sleep(100 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

type lockedLog struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startInNetns runs a host program in the network namespace of the process leader (the
// container's systemd) until the test ends or stop is called; its output is in the log.
func startInNetns(t *testing.T, leader int, argv ...string) (log *lockedLog, stop func()) {
	t.Helper()
	out := &lockedLog{}
	cmd := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(leader), "-n", "--"}, argv...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		})
	}
	t.Cleanup(stop)
	return out, stop
}

// sameTree compares the files and symlinks of two trees by content, mode and mtime and
// returns the first differences ("" when none); skip names a file left out of src.
func sameTree(src, dst, skip string) string {
	a, b := treeOf(src, skip), treeOf(dst, "")
	var d []string
	for p, v := range a {
		if b[p] != v {
			d = append(d, fmt.Sprintf("%s: %q at the source, %q at the target", p, v, b[p]))
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			d = append(d, p+": only at the target")
		}
	}
	if len(d) > 5 {
		d = d[:5]
	}
	return strings.Join(d, "\n")
}

func treeOf(dir, skip string) map[string]string {
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == skip {
			return nil
		}
		info, err := os.Lstat(p)
		if err != nil {
			return nil
		}
		if info.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			out[rel] = fmt.Sprintf("%o %d %x", info.Mode().Perm(), info.ModTime().UnixNano(), sha256.Sum256(data))
		} else if info.IsDir() {
			out[rel] = fmt.Sprintf("dir %o", info.Mode().Perm())
		}
		return nil
	})
	return out
}
