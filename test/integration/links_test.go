package integration

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/hostkit/hostkit/internal/testbus"
)

// linkNetns makes a network namespace for one test, with a veth pair hkveth0/hkveth1
// (10.77.0.1/24 on hkveth0), hkveth1 in a bridge hkbr0, and a dummy link hkdummy0,
// all up, and returns its name and the dummy link's kind; the test's end removes it and
// its links. A kernel built without the dummy driver (CONFIG_DUMMY, as some VM kernels)
// gets an ifb link in its place, which likewise has no lower device, and the test says
// so in its log.
func linkNetns(t *testing.T) (string, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the link tests make a network namespace: run them as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("ip not found: apt-get install iproute2 (make deps does)")
	}
	var r [3]byte
	rand.Read(r[:])
	ns := "hk-hwd-" + hex.EncodeToString(r[:])
	runCmd(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	runCmd(t, "ip", "-n", ns, "link", "add", "hkveth0", "type", "veth", "peer", "name", "hkveth1")
	kind := "dummy"
	if out, err := exec.Command("ip", "-n", ns, "link", "add", "hkdummy0", "type", "dummy").CombinedOutput(); err != nil {
		if !strings.Contains(string(out), "Unknown device type") {
			t.Fatalf("ip link add hkdummy0 type dummy: %v: %s", err, out)
		}
		t.Logf("this kernel has no dummy driver (CONFIG_DUMMY); an ifb link stands in for hkdummy0")
		kind = "ifb"
		runCmd(t, "ip", "-n", ns, "link", "add", "hkdummy0", "type", "ifb")
	}
	runCmd(t, "ip", "-n", ns, "link", "add", "hkbr0", "type", "bridge")
	runCmd(t, "ip", "-n", ns, "link", "set", "hkveth1", "master", "hkbr0")
	runCmd(t, "ip", "-n", ns, "addr", "add", "10.77.0.1/24", "dev", "hkveth0")
	for _, l := range []string{"lo", "hkveth0", "hkveth1", "hkdummy0", "hkbr0"} {
		runCmd(t, "ip", "-n", ns, "link", "set", l, "up")
	}
	return ns, kind
}

// link is the part of a report's link the tests look at.
type link struct {
	Name      string   `json:"name"`
	Kind      string   `json:"kind"`
	OperState string   `json:"oper_state"`
	Carrier   bool     `json:"carrier"`
	Addresses []string `json:"addresses"`
	SpeedMbps *int     `json:"speed_mbps"`
	Duplex    *string  `json:"duplex"`
	MAC       *string  `json:"mac"`
	Master    *string  `json:"master"`
}

func reportLinks(t *testing.T, reportJSON string) map[string]link {
	t.Helper()
	var r struct {
		Links []link `json:"links"`
	}
	if err := json.Unmarshal([]byte(reportJSON), &r); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	m := map[string]link{}
	for _, l := range r.Links {
		m[l.Name] = l
	}
	return m
}

// linksSignal waits for a PropertiesChanged whose Links satisfy ok and returns how long
// that took; it fails the test after 10 s. Other signals are skipped.
func linksSignal(t *testing.T, signals chan *dbus.Signal, what string, ok func(map[string]linkProp) bool) time.Duration {
	t.Helper()
	start := time.Now()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case s := <-signals:
			if s.Name != "org.freedesktop.DBus.Properties.PropertiesChanged" || len(s.Body) != 3 {
				continue
			}
			changed, _ := s.Body[1].(map[string]dbus.Variant)
			v, has := changed["Links"]
			if !has {
				continue
			}
			var props []linkProp
			if err := dbus.Store([]any{v.Value()}, &props); err != nil {
				t.Fatalf("Links in PropertiesChanged is %s: %v", v.Signature(), err)
			}
			byName := map[string]linkProp{}
			for _, p := range props {
				byName[p.Name] = p
			}
			if ok(byName) {
				return time.Since(start)
			}
		case <-timeout:
			t.Fatalf("no PropertiesChanged with Links showing %s within 10 s", what)
		}
	}
}

// linkProp is one element of the Links property, a(ssbusas).
type linkProp struct {
	Name      string
	OperState string
	Carrier   bool
	SpeedMbps uint32
	Duplex    string
	Addresses []string
}

// TestLinks: in a namespace of its own, the report lists the veth pair, the dummy link
// and the loopback as netlink and ethtool see them; setting one end of the veth pair
// down and adding an address reach a client that called Watch() as PropertiesChanged,
// and change Describe(); Watch() keeps the service past its idle timeout until the
// client leaves.
func TestLinks(t *testing.T) {
	ns, stubKind := linkNetns(t)
	h := setup(t, "SuperMicro-X9DBL.bin", "1s")

	out, err := exec.Command("ip", "netns", "exec", ns, h.bus.Binary(t, "hostkit-hwd"), "report", "--json").Output()
	if err != nil {
		t.Fatalf("hostkit-hwd report in %s: %v", ns, err)
	}
	links := reportLinks(t, string(out))
	names := make([]string, 0, len(links))
	for n := range links {
		names = append(names, n)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"hkbr0", "hkdummy0", "hkveth0", "hkveth1", "lo"}) {
		t.Fatalf("links in the namespace: %q, want hkbr0 hkdummy0 hkveth0 hkveth1 lo", names)
	}
	if m := links["hkveth1"].Master; m == nil || *m != "hkbr0" || links["hkbr0"].Kind != "bridge" {
		t.Errorf("hkveth1's master %v, hkbr0 %+v; want hkveth1 in the bridge hkbr0", m, links["hkbr0"])
	}
	v := links["hkveth0"]
	if v.Kind != "veth" || v.OperState != "up" || !v.Carrier || !slices.Contains(v.Addresses, "10.77.0.1/24") || v.MAC == nil {
		t.Errorf("hkveth0: %+v; want an up veth with a carrier, a MAC and 10.77.0.1/24", v)
	}
	// veth reports 10 Gb/s full duplex through ethtool; a dummy link no speed.
	if v.SpeedMbps == nil || *v.SpeedMbps != 10000 || v.Duplex == nil || *v.Duplex != "full" {
		t.Errorf("hkveth0 speed %v duplex %v; want 10000 full (ethtool netlink)", v.SpeedMbps, v.Duplex)
	}
	if d := links["hkdummy0"]; d.Kind != stubKind || d.SpeedMbps != nil {
		t.Errorf("hkdummy0: %+v; want a %s link without speed", d, stubKind)
	}
	if l := links["lo"]; l.Kind != "loopback" || !slices.Contains(l.Addresses, "127.0.0.1/8") {
		t.Errorf("lo: %+v", l)
	}

	// The service, in the namespace, watched by a client.
	d := startDaemon(t, h.bus, hwName, append([]string{"ip", "netns", "exec", ns}, h.argv(t)...))
	conn := h.connect(t)
	if err := conn.AddMatchSignal(dbus.WithMatchObjectPath(hwPath), dbus.WithMatchInterface("org.freedesktop.DBus.Properties")); err != nil {
		t.Fatal(err)
	}
	signals := make(chan *dbus.Signal, 64)
	conn.Signal(signals)
	obj := conn.Object(hwName, hwPath)
	if err := obj.Call(hwName+".Watch", 0).Err; err != nil {
		t.Fatalf("Watch(): %v", err)
	}

	// hostkitctl hw watch, as the unprivileged user, prints the change too.
	uid, gid := testbus.Unprivileged(t)
	watch := exec.Command(h.bus.Binary(t, "hostkitctl"), "--bus="+h.bus.Address, "hw", "watch")
	testbus.AsUser(watch, uid, gid)
	watchOut, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(watchOut)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitLine := func(want ...string) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("hostkitctl hw watch ended before printing %q", want)
				}
				if containsAll(l, want...) {
					return
				}
			case <-timeout:
				t.Fatalf("hostkitctl hw watch printed no line with %q within 10 s", want)
			}
		}
	}
	waitLine("watching link changes")

	runCmd(t, "ip", "-n", ns, "link", "set", "hkveth1", "down")
	took := linksSignal(t, signals, "hkveth0 without carrier", func(l map[string]linkProp) bool {
		return !l["hkveth0"].Carrier && l["hkveth1"].OperState == "down"
	})
	t.Logf("PropertiesChanged for the carrier lost %s after ip link set down returned", took.Round(time.Millisecond))
	var described string
	if err := obj.Call(hwName+".Describe", 0).Store(&described); err != nil {
		t.Fatal(err)
	}
	if l := reportLinks(t, described)["hkveth0"]; l.Carrier || l.SpeedMbps != nil {
		t.Errorf("Describe() after the peer went down: hkveth0 %+v; want no carrier and no speed", l)
	}

	waitLine("hkveth0:", "no carrier", "10.77.0.1/24")

	runCmd(t, "ip", "-n", ns, "addr", "add", "10.88.0.1/24", "dev", "hkdummy0")
	took = linksSignal(t, signals, "10.88.0.1/24 on hkdummy0", func(l map[string]linkProp) bool {
		return slices.Contains(l["hkdummy0"].Addresses, "10.88.0.1/24")
	})
	t.Logf("PropertiesChanged for the new address %s after ip addr add returned", took.Round(time.Millisecond))

	waitLine("hkdummy0:", "10.88.0.1/24")
	watch.Process.Signal(os.Interrupt)
	if err := watch.Wait(); err != nil {
		t.Errorf("hostkitctl hw watch ended with %v on SIGINT, want status 0", err)
	}

	// IdleTimeoutSec=1s: the watch keeps the service, and its end lets it go.
	time.Sleep(3 * time.Second)
	select {
	case err := <-d.exited:
		t.Fatalf("the service exited (%v) while a client watched", err)
	default:
	}
	conn.Close()
	select {
	case err := <-d.exited:
		if err != nil {
			t.Errorf("the service exited with %v after the watcher left, want status 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the service still runs 10 s after its only watcher left (IdleTimeoutSec=1s)")
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
