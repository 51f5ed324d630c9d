package system

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hostkit/hostkit/internal/repo"
	"github.com/hostkit/hostkit/internal/testcontainer"
)

// fleetHost is a container with hostkit installed, reachable from the host over its
// host link with ssh (key authentication for root and the test user), as one of many
// machines `hostkitctl -H` speaks to.
type fleetHost struct {
	*testcontainer.Container
	sshEnv []string // HOSTKIT_SSH for the host's hostkitctl: the key, no known_hosts
}

// newFleetHost boots it and waits for sshd. The SMBIOS tables are a real dump's.
func newFleetHost(t *testing.T, name string, logf func(string, ...any)) *fleetHost {
	t.Helper()
	need(t, "ssh", "apt-get install openssh-client (make deps does)")
	need(t, "ssh-keygen", "apt-get install openssh-client (make deps does)")
	deb := findDeb(t, repo.RootT(t))
	dumps := repo.SMBIOSDumpsT(t)
	c := testcontainer.New(t, testcontainer.Options{Name: name, Logf: logf, HostLink: true})
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hostkit-test", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.InstallDeb(deb); err != nil {
		t.Fatal(err)
	}
	if err := c.CopyIn(filepath.Join(dumps, dumpName+".bin"), dumpInCT); err != nil {
		t.Fatal(err)
	}
	conf := "# written by newFleetHost\n[Hardware]\nSMBIOSDump=" + dumpInCT + "\n"
	if err := c.WriteFile("/etc/hostkit/hwd.conf.d/50-test.conf", []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, home := range []string{"/root", "/home/" + testcontainer.TestUser} {
		if err := c.WriteFile(home+"/.ssh/authorized_keys", pub, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mustExec(t, c, "chmod", "700", "/root/.ssh", "/home/"+testcontainer.TestUser+"/.ssh")
	mustExec(t, c, "chown", "-R", testcontainer.TestUser+":"+testcontainer.TestUser, "/home/"+testcontainer.TestUser+"/.ssh")
	if !eventually(30*time.Second, func() bool { return activeState(c, "ssh.service") == "active" }) {
		t.Fatalf("ssh.service in %s is %s, not active", c.Name, activeState(c, "ssh.service"))
	}
	ssh := "ssh -i " + key + " -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR -o ConnectTimeout=10"
	return &fleetHost{Container: c, sshEnv: append(os.Environ(), "HOSTKIT_SSH="+ssh)}
}

// need fails the test when tool is not on the host's PATH.
func need(t *testing.T, tool, install string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Fatalf("%s not found: %s", tool, install)
	}
}

// hostkitctl runs the host's bin/hostkitctl with args and returns its stdout, stderr and
// exit status.
func (h *fleetHost) hostkitctl(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(repo.RootT(t), "bin", "hostkitctl"), args...)
	cmd.Env = h.sshEnv
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	code := 0
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("hostkitctl %s: %v", strings.Join(args, " "), err)
	}
	t.Logf("$ hostkitctl %s  (exit status %d)\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	return stdout.String(), stderr.String(), code
}

// TestManyHosts: one container seen as one of many machines. `hostkitctl -H` from the
// host against its sshd: the same report as run there, polkit deciding on the remote
// side, two hosts with one down in one run, a hosts file, and `hostkitctl status` there
// and from here. Then hostkit-exporter there, socket-activated, scraped by a real
// Prometheus server on the host whose HTTP API returns hostkit's series.
func TestManyHosts(t *testing.T) {
	log := &stepLog{cur: t}
	h := newFleetHost(t, "fleet", log.Logf)
	root, tester := "root@"+h.Address, testcontainer.TestUser+"@"+h.Address

	log.step(t, "1_report_over_ssh", func(t *testing.T) {
		local := mustExec(t, h.Container, "hostkitctl", "hw", "report", "--json")
		remote, stderr, code := h.hostkitctl(t, "-H", root, "hw", "report", "--json")
		if code != 0 {
			t.Fatalf("hostkitctl -H %s hw report --json: exit status %d: %s", root, code, stderr)
		}
		var l, r any
		decodeJSON(t, "report in the container", local, &l)
		decodeJSON(t, "report over -H", remote, &r)
		if !reflect.DeepEqual(l, r) {
			t.Errorf("the report over -H differs from the one in the container:\n%s\n---\n%s", remote, local)
		}
		if lookup(r, "system", "serial") == nil {
			t.Errorf("root over ssh got no system serial: %v", lookup(r, "system"))
		}
	})

	log.step(t, "2_polkit_decides_remotely", func(t *testing.T) {
		serial, _, code := h.hostkitctl(t, "-H", root, "hw", "serial")
		if local := mustExec(t, h.Container, "hostkitctl", "hw", "serial"); code != 0 || serial != local {
			t.Errorf("hw serial as root over -H = %q (exit %d), in the container %q", serial, code, local)
		}
		out, stderr, code := h.hostkitctl(t, "-H", tester, "hw", "serial")
		if code != 1 || out != "" || !strings.Contains(stderr, h.Address) || !strings.Contains(stderr, "not authorized") {
			t.Errorf("hw serial as %s over -H: exit %d, stdout %q, stderr %q; want exit status 1, access denied, naming the host", tester, code, out, stderr)
		}
		if _, err := h.ExecAs(testcontainer.TestUser, "hostkitctl", "hw", "serial"); err == nil {
			t.Errorf("hw serial as %s in the container succeeded; the remote refusal above means nothing", testcontainer.TestUser)
		}
		remote, _, code := h.hostkitctl(t, "-H", tester, "hw", "report", "--json")
		local := mustExecAs(t, h.Container, testcontainer.TestUser, "hostkitctl", "hw", "report", "--json")
		var l, r any
		decodeJSON(t, "tester's report in the container", local, &l)
		decodeJSON(t, "tester's report over -H", remote, &r)
		if code != 0 || !reflect.DeepEqual(l, r) {
			t.Errorf("tester's report over -H (exit %d) differs from the one in the container", code)
		}
		if s := lookup(r, "system", "serial"); s != nil {
			t.Errorf("tester over ssh sees the system serial %v", s)
		}
	})

	down := root + ":1" // nothing listens on port 1 there: ssh is refused
	log.step(t, "3_two_hosts_one_down", func(t *testing.T) {
		out, stderr, code := h.hostkitctl(t, "-H", root, "--host="+down, "hw", "report", "--json")
		if code != 1 {
			t.Errorf("exit status %d with one host down, want 1 (stderr %q)", code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			t.Fatalf("%d lines of JSON, want one per host:\n%s", len(lines), out)
		}
		var results []map[string]any
		for i, line := range lines {
			var r map[string]any
			decodeJSON(t, fmt.Sprintf("JSON line %d", i+1), line, &r)
			results = append(results, r)
		}
		if r := results[0]; r["host"] != root || r["ok"] != true || r["error"] != nil || lookup(r["result"], "system", "serial") == nil {
			t.Errorf("the host that is up: %s", lines[0])
		}
		if r := results[1]; r["host"] != down || r["ok"] != false || r["result"] != nil ||
			!strings.Contains(strings.ToLower(r["error"].(string)), "connection refused") {
			t.Errorf("the host that is down: %s", lines[1])
		}
		if !strings.Contains(stderr, "1 of 2 hosts failed: "+down) {
			t.Errorf("stderr %q does not name the host that failed", stderr)
		}
	})

	log.step(t, "4_hosts_file_and_status", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "hosts")
		if err := os.WriteFile(file, []byte("# the test's hosts\n"+root+"\n"+down+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, _, code := h.hostkitctl(t, "-H", "@"+file, "status")
		if code != 1 || !strings.HasPrefix(out, "== "+root+" ==\nSERVICE") || !strings.Contains(out, "\n== "+down+" ==\nerror: ") {
			t.Errorf("status to a hosts file: exit %d, want 1 and a section per host:\n%s", code, out)
		}
		remote, _, code := h.hostkitctl(t, "-H", root, "status", "--json")
		var st struct {
			Services []struct {
				Service, State, Headline, Error string
				Installed                       bool
			}
		}
		decodeJSON(t, "status --json over -H", remote, &st)
		want := map[string]string{"hostkit-hwd": "running", "hostkit-bootorder": "", "hostkit-syncd": "stopped", "hostkit-vncd": ""}
		if code != 0 || len(st.Services) != len(want) {
			t.Fatalf("status --json: exit %d, %d services, want %d", code, len(st.Services), len(want))
		}
		for _, s := range st.Services {
			w, ok := want[s.Service]
			if !ok || !s.Installed || s.Error != "" || (w != "" && s.State != w) || s.Headline == "" {
				t.Errorf("status of %s: %+v (want installed, state %q, a headline, no error)", s.Service, s, w)
			}
		}
		table := mustExec(t, h.Container, "hostkitctl")
		for _, want := range []string{"hostkit-hwd ", " running ", "memory: ", " of ", " slots used", "hostkit-syncd ", " stopped ", "boot: "} {
			if !strings.Contains(table, want) {
				t.Errorf("hostkitctl alone in the container does not say %q:\n%s", want, table)
			}
		}
	})

	log.step(t, "5_exporter_socket", func(t *testing.T) {
		if got, _ := h.Exec("systemctl", "is-enabled", "hostkit-exporter.socket"); strings.TrimSpace(got) != "disabled" {
			t.Errorf("hostkit-exporter.socket is %q after installation, want disabled (the admin enables it)", strings.TrimSpace(got))
		}
		mustExec(t, h.Container, "systemctl", "enable", "--now", "hostkit-exporter.socket")
		if got := activeState(h.Container, "hostkit-exporter.service"); got != "inactive" {
			t.Errorf("hostkit-exporter.service is %s before the first scrape, want inactive", got)
		}
		body := httpGet(t, "http://"+h.Address+":9810/metrics")
		if got := activeState(h.Container, "hostkit-exporter.service"); got != "active" {
			t.Errorf("hostkit-exporter.service is %s after a scrape, want active (socket activation)", got)
		}
		check := exec.Command("promtool", "check", "metrics")
		check.Stdin = strings.NewReader(body)
		if out, err := check.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
		for _, want := range []string{`hostkit_scrape_error{service="hostkit-hwd"} 0`, `hostkit_scrape_error{service="hostkit-syncd"} 0`,
			`hostkit_service_active{service="hostkit-syncd"} 0`, "hostkit_boot_order_edges ", "hostkit_vnc_displays 0"} {
			if !strings.Contains(body, want) {
				t.Errorf("the exposition lacks %q", want)
			}
		}
		if strings.Contains(body, "hostkit_sync_job") {
			t.Errorf("sync job families while hostkit-syncd does not run")
		}
		if t.Failed() {
			t.Logf("the exposition:\n%s", body)
			h.Exec("journalctl", "--no-pager", "-u", "hostkit-exporter.service")
		}
		checkExposure(t, h.Container, 2.0, "hostkit-exporter.service")
	})

	log.step(t, "6_prometheus_scrapes", func(t *testing.T) {
		api := startPrometheus(t, h.Address+":9810")
		slots := property(t, h.Container, "MemorySlots")
		var got []promSample
		if !eventually(60*time.Second, func() bool {
			got = promQuery(t, api, "hostkit_memory_slots")
			return len(got) > 0
		}) {
			t.Fatalf("Prometheus has no hostkit_memory_slots after 60 s")
		}
		if got[0].Metric["job"] != "hostkit" || got[0].Metric["instance"] != h.Address+":9810" || got[0].Value != fmt.Sprint(slots) {
			t.Errorf("hostkit_memory_slots in Prometheus: %+v, want %v from job hostkit, instance %s:9810", got, slots, h.Address)
		}
		for i, c := range []struct{ query, want string }{
			{`up{job="hostkit"}`, "1"},
			{`hostkit_scrape_error{service="hostkit-hwd"}`, "0"},
			{`count(hostkit_memory_dimm_info)`, fmt.Sprint(property(t, h.Container, "MemorySlotsUsed"))},
			{`count(count by (service) (hostkit_scrape_error))`, "4"},
		} {
			if r := promQuery(t, api, c.query); len(r) != 1 || r[0].Value != c.want {
				t.Errorf("case %d: %s = %+v, want one series of %s", i, c.query, r, c.want)
			}
		}
	})
}

// httpGet returns the body of a 200 answer to url.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v\n%s", url, resp.Status, err, body)
	}
	return string(body)
}

// startPrometheus runs the Debian prometheus server on the host, scraping target every
// second, and returns its API's base URL. It stops with the test.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	need(t, "prometheus", "apt-get install prometheus (make deps does)")
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	text := "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: hostkit\n    static_configs:\n      - targets: ['" + target + "']\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command("prometheus", "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	var logs lockedLog
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus said:\n%s", logs.String())
		}
	})
	return "http://" + addr
}

type promSample struct {
	Metric map[string]string
	Value  string
}

// promQuery asks Prometheus's HTTP API for an instant vector; an error answer fails the
// test, a Prometheus not yet listening gives no samples.
func promQuery(t *testing.T, api, query string) []promSample {
	t.Helper()
	resp, err := http.Get(api + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  []any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v %s %s", query, err, r.Status, r.Error)
	}
	var out []promSample
	for _, s := range r.Data.Result {
		v := ""
		if len(s.Value) == 2 {
			v, _ = s.Value[1].(string)
		}
		out = append(out, promSample{s.Metric, v})
	}
	return out
}
