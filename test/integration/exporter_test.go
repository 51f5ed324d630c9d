package integration

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hostkit/hostkit/internal/testbus"
)

// startExporter runs hostkit-exporter on bus as systemd would, socket-activated
// (systemd-socket-activate holds the listening socket and starts the exporter on the
// first connection), and returns the /metrics URL.
func startExporter(t *testing.T, bus *testbus.Bus, extra ...string) string {
	t.Helper()
	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Fatal("systemd-socket-activate not found: apt-get install systemd")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	argv := append([]string{"-l", addr, bus.Binary(t, "hostkit-exporter"), "--bus=" + bus.Address}, extra...)
	cmd := exec.Command(activate, argv...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			t.Log("exporter: " + sc.Text())
			if strings.Contains(sc.Text(), "Listening on") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("systemd-socket-activate did not say it listens")
	}
	return "http://" + addr + "/metrics"
}

// scrape gets url and parses the text exposition; the client's timeout is far past the
// exporter's per-service deadline, so a scrape that hangs on a service fails the test.
func scrape(t *testing.T, url string) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape %s: status %d, %v\n%s", url, resp.StatusCode, err, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the exposition of %s does not parse: %v\n%s", url, err, body)
	}
	return families, body
}

// value returns the value of the family's series with the given labels ("k=v" each).
func value(families map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := families[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// TestExporter: hostkit-exporter, socket-activated on a private bus where hostkit-hwd is
// bus-activatable and hostkit-bootorder runs but is stuck (stopped with SIGSTOP). The
// scrape starts hwd and exports its families with the values its properties have, marks
// bootorder's deadline with hostkit_scrape_error, lists no family of the services that
// are not installed, and is clean for promtool check metrics.
func TestExporter(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: apt-get install prometheus (make deps does)")
	}
	h := setup(t, "SuperMicro-X9DBL.bin", "infinity")
	h.bus.AddService(t, hwName, h.argv(t)...)
	b := setupBootOrder(t, "infinity", storyPlan())
	b.bus = h.bus // one bus for both
	b.systemdBus = h.bus.Address
	stuck := b.start(t)
	if err := stuck.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stuck.cmd.Process.Signal(syscall.SIGCONT) })

	url := startExporter(t, h.bus, "--service-timeout=1s")
	families, body := scrape(t, url)

	conn := h.connect(t)
	var props map[string]dbus.Variant
	if err := conn.Object(hwName, hwPath).Call("org.freedesktop.DBus.Properties.GetAll", 0, hwName).Store(&props); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		metric, property string
	}{
		{"hostkit_memory_slots", "MemorySlots"},
		{"hostkit_memory_slots_used", "MemorySlotsUsed"},
		{"hostkit_memory_installed_bytes", "MemoryInstalledBytes"},
		{"hostkit_memory_max_bytes", "MemoryMaxBytes"},
		{"hostkit_processor_sockets", "ProcessorSockets"},
	} {
		var want float64
		switch v := props[c.property].Value().(type) {
		case uint32:
			want = float64(v)
		case uint64:
			want = float64(v)
		}
		if got, ok := value(families, c.metric); !ok || got != want || want == 0 {
			t.Errorf("case %d: %s = %v (present %v), property %s = %v", i, c.metric, got, ok, c.property, props[c.property].Value())
		}
	}
	used := props["MemorySlotsUsed"].Value().(uint32)
	if f := families["hostkit_memory_dimm_info"]; f == nil || len(f.Metric) != int(used) || used == 0 {
		t.Errorf("hostkit_memory_dimm_info has %v series, want one per used slot (%d)", f, used)
	} else if v, _ := value(families, "hostkit_memory_dimm_info", "locator=P1-DIMM1A", "type=DDR3"); v != 1 {
		t.Errorf("no hostkit_memory_dimm_info for P1-DIMM1A (DDR3)")
	}
	for i, c := range []struct {
		service string
		want    float64
	}{{"hostkit-hwd", 0}, {"hostkit-bootorder", 1}} {
		if got, ok := value(families, "hostkit_scrape_error", "service="+c.service); !ok || got != c.want {
			t.Errorf("case %d: hostkit_scrape_error{service=%q} = %v (present %v), want %v", i, c.service, got, ok, c.want)
		}
	}
	if _, ok := value(families, "hostkit_boot_order_edges"); ok {
		t.Error("the stuck hostkit-bootorder still gave hostkit_boot_order_edges")
	}
	for name := range families {
		for _, absent := range []string{"hostkit_sync_", "hostkit_vnc_"} {
			if strings.HasPrefix(name, absent) {
				t.Errorf("family %s, but that service is not installed on this bus", name)
			}
		}
		if f := families[name]; strings.HasPrefix(name, "hostkit_") && name != "hostkit_exporter_build_info" {
			for _, m := range f.Metric {
				for _, l := range m.Label {
					if l.GetName() == "service" && (l.GetValue() == "hostkit-syncd" || l.GetValue() == "hostkit-vncd") {
						t.Errorf("%s has a series for %s, which is not installed", name, l.GetValue())
					}
				}
			}
		}
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = bytes.NewReader(body)
	if out, err := check.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// Once bootorder answers again, so does its family.
	stuck.cmd.Process.Signal(syscall.SIGCONT)
	families, _ = scrape(t, url)
	if got, ok := value(families, "hostkit_boot_order_edges"); !ok || got != float64(storyPlan().Edges()) {
		t.Errorf("after SIGCONT hostkit_boot_order_edges = %v (present %v), want %d", got, ok, storyPlan().Edges())
	}
	if got, _ := value(families, "hostkit_scrape_error", "service=hostkit-bootorder"); got != 0 {
		t.Errorf("after SIGCONT hostkit_scrape_error{service=\"hostkit-bootorder\"} = %v, want 0", got)
	}
}
