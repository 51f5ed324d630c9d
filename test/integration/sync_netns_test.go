package integration

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hostkit/hostkit/internal/testbus"
)

// Dead peers between two network namespaces joined by a veth pair that the test makes:
// the receiver's namespace then drops every packet (nft, policy drop on input and output),
// as a host that lost power or a cable does, and the sender must report the peer dead
// within its keepalive/TCP_USER_TIMEOUT bound, and recover once packets flow again.

// netnsPair is two namespaces, "a" at 10.231.7.1 and "b" at 10.231.7.2 (addresses that
// exist only inside them), removed when the test ends.
type netnsPair struct {
	a, b string
}

func runCmd(t *testing.T, argv ...string) {
	t.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
}

func newNetnsPair(t *testing.T) *netnsPair {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the dead peer tests make network namespaces: run them as root")
	}
	for _, tool := range [][2]string{{"ip", "iproute2"}, {"nft", "nftables"}} {
		if _, err := exec.LookPath(tool[0]); err != nil {
			t.Fatalf("%s not found: apt-get install %s (make deps does)", tool[0], tool[1])
		}
	}
	var r [3]byte
	rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	n := &netnsPair{a: "hks-a-" + id, b: "hks-b-" + id}
	runCmd(t, "ip", "netns", "add", n.a)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.a).Run() })
	runCmd(t, "ip", "netns", "add", n.b)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.b).Run() })
	runCmd(t, "ip", "-n", n.a, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b", "netns", n.b)
	runCmd(t, "ip", "-n", n.a, "addr", "add", "10.231.7.1/24", "dev", "veth-a")
	runCmd(t, "ip", "-n", n.b, "addr", "add", "10.231.7.2/24", "dev", "veth-b")
	for _, ns := range []string{n.a, n.b} {
		dev := "veth-a"
		if ns == n.b {
			dev = "veth-b"
		}
		runCmd(t, "ip", "-n", ns, "link", "set", "lo", "up")
		runCmd(t, "ip", "-n", ns, "link", "set", dev, "up")
	}
	return n
}

// cut makes b drop every packet; mend lets them through again.
func (n *netnsPair) cut(t *testing.T) {
	runCmd(t, "ip", "netns", "exec", n.b, "nft", "add table inet hostkit_test; "+
		"add chain inet hostkit_test in { type filter hook input priority 0; policy drop; }; "+
		"add chain inet hostkit_test out { type filter hook output priority 0; policy drop; }")
}

func (n *netnsPair) mend(t *testing.T) {
	runCmd(t, "ip", "netns", "exec", n.b, "nft", "delete table inet hostkit_test")
}

// netnsSyncPair is a syncPair whose sender runs in a and receiver in b, with the short
// dead-peer settings of keepalive: 4 s idle, 1 s apart, 3 probes, 7 s user timeout.
func netnsSyncPair(t *testing.T, n *netnsPair, jobSettings ...string) *syncPair {
	p := &syncPair{a: newSyncHost(t, "a"), b: newSyncHost(t, "b"), addr: "10.231.7.2:8730"}
	p.a.extra, p.b.extra = n.a, n.b
	p.src, p.dst = filepath.Join(p.a.dir, "src"), filepath.Join(p.b.dir, "dst")
	os.MkdirAll(p.src, 0o755)
	keepalive := "KeepAliveTimeSec=4\nKeepAliveIntervalSec=1\nKeepAliveProbes=3\nUserTimeoutSec=7\n"
	p.b.configure(keepalive + "Listen=10.231.7.2:8730\n" + moduleSection("m", p.dst, p.a.fp))
	p.a.configure(keepalive + jobSection("j", p.src, p.addr+"/m", p.b.fp, jobSettings...))
	return p
}

var deadLine = regexp.MustCompile(`time=(\S+) level=WARN msg="target unavailable, retrying".*err="peer dead: ([^"]*)"`)

// deadAfter waits for the sender to report the peer dead and returns how long after cut
// that was, by the log's own clock, and the reason it gave.
func deadAfter(t *testing.T, h *syncHost, cut time.Time, within time.Duration) (time.Duration, string) {
	t.Helper()
	var m []string
	if !testbus.Eventually(within, func() bool {
		for _, l := range deadLine.FindAllStringSubmatch(h.log.String(), -1) {
			if at, err := time.Parse(time.RFC3339Nano, l[1]); err == nil && at.After(cut) {
				m = l
				return true
			}
		}
		return false
	}) {
		t.Fatalf("the sender did not report the peer dead within %s of the cut", within)
	}
	at, _ := time.Parse(time.RFC3339Nano, m[1])
	return at.Sub(cut), m[2]
}

// TestSyncDeadPeerIdle: the link dies while the connection is idle: keepalive finds it
// (4 s + probes, closed by TCP_USER_TIMEOUT's 7 s as the kernel counts it), the sender
// reconnects once packets flow again, and what was written meanwhile arrives.
func TestSyncDeadPeerIdle(t *testing.T) {
	n := newNetnsPair(t)
	p := netnsSyncPair(t, n)
	writeFile(t, filepath.Join(p.src, "before"), "1", 0o644)
	p.b.start()
	p.a.start()
	waitSame(t, "initial sync", p.src, p.dst, 30*time.Second, nil)
	p.a.waitLog("compared", 5*time.Second)
	time.Sleep(time.Second) // idle
	cut := time.Now()
	n.cut(t)
	// ss shows the keepalive timer of the sender's connection, and its probes.
	out, _ := exec.Command("ip", "netns", "exec", n.a, "ss", "-tnoi", "dport", "8730").CombinedOutput()
	if !strings.Contains(string(out), "timer:(keepalive") {
		t.Errorf("ss -tnoi shows no keepalive timer on the sender's connection:\n%s", out)
	}
	took, reason := deadAfter(t, p.a, cut, 20*time.Second)
	writeFile(t, filepath.Join(p.src, "during"), "2", 0o644) // queued while the target is away
	t.Logf("dead peer reported %s after the cut: %s", took.Round(10*time.Millisecond), reason)
	if took > 7*time.Second+3*time.Second {
		t.Errorf("the dead peer was reported %s after the cut; the bound is 7 s (+3 s margin)", took)
	}
	if !strings.Contains(reason, "timed out") {
		t.Errorf("reason %q does not say the connection timed out", reason)
	}
	n.mend(t)
	waitSame(t, "after the link came back", p.src, p.dst, 40*time.Second, nil)
}

// TestSyncDeadPeerDuringTransfer: the link dies while a large file is on its way (data
// unacknowledged, so keepalive sends no probes): TCP_USER_TIMEOUT finds it within 7 s;
// once packets flow again the transfer resumes from what had arrived.
func TestSyncDeadPeerDuringTransfer(t *testing.T) {
	n := newNetnsPair(t)
	p := netnsSyncPair(t, n, "BandwidthLimit=8M")
	data := strings.Repeat("0123456789abcdef", (64<<20)/16)
	writeFile(t, filepath.Join(p.src, "big"), data, 0o644)
	p.b.start()
	p.a.start()
	if !testbus.Eventually(30*time.Second, func() bool {
		parts, _ := filepath.Glob(filepath.Join(p.dst, ".hostkit-part-*"))
		if len(parts) != 1 {
			return false
		}
		info, err := os.Stat(parts[0])
		return err == nil && info.Size() > 16<<20
	}) {
		t.Fatal("the large file did not start arriving within 30 s")
	}
	cut := time.Now()
	n.cut(t)
	took, reason := deadAfter(t, p.a, cut, 30*time.Second)
	t.Logf("dead peer reported %s after the cut during a transfer: %s", took.Round(10*time.Millisecond), reason)
	if took > 7*time.Second+3*time.Second {
		t.Errorf("the dead peer was reported %s after the cut; TCP_USER_TIMEOUT is 7 s (+3 s margin)", took)
	}
	n.mend(t)
	waitSame(t, "after the link came back", p.src, p.dst, 60*time.Second, nil)
	p.a.waitLog("resuming a file cut off before", 5*time.Second)
	if _, err := os.Stat(filepath.Join(p.dst, "big")); err != nil {
		t.Error(err)
	}
}
