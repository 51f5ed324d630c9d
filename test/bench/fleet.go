package main

// Many hosts: `hostkitctl -H` against ten booted containers with sshd (each reached over
// its own host link, internal/testcontainer), `hw report --json` to all ten at once
// against the same to one of them; and one scrape of hostkit-exporter, cold (exporter and
// services stopped: socket and bus activation on the way) and warm. Goals of issue 9:
// ten hosts at most 2x one host; a warm scrape at most 20 ms.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hostkit/hostkit/internal/repo"
	"github.com/hostkit/hostkit/internal/testcontainer"
)

func benchFleet(runs int) error {
	root, err := repo.Root()
	if err != nil {
		return err
	}
	debs, _ := filepath.Glob(filepath.Join(root, "dist", "hostkit_*_amd64.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("want one dist/hostkit_*_amd64.deb (make packages), have %q", debs)
	}
	dumps, err := repo.SMBIOSDumps()
	if err != nil {
		return err
	}
	dump := filepath.Join(dumps, "SuperMicro-X9DBL.bin")
	dir, err := os.MkdirTemp("", "hostkit-bench-fleet-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	key := filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		return fmt.Errorf("ssh-keygen (apt-get install openssh-client): %v: %s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		return err
	}

	const n = 10
	fmt.Printf("many hosts: booting %d containers with sshd and hostkit\n", n)
	hosts := make([]*testcontainer.Container, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := testcontainer.Boot(testcontainer.Options{Name: fmt.Sprintf("bench-fleet%d", i), HostLink: true, QuietExec: true})
			if err != nil {
				errs[i] = err
				return
			}
			hosts[i] = c
			errs[i] = prepareFleetHost(c, debs[0], dump, pub)
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range hosts {
			if c != nil {
				c.Close()
			}
		}
	}()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}

	ctl := filepath.Join(root, "bin", "hostkitctl")
	env := append(os.Environ(), "HOSTKIT_SSH=ssh -i "+key+" -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR")
	one := []string{"-H", "root@" + hosts[0].Address, "hw", "report", "--json"}
	var all []string
	for _, c := range hosts {
		all = append(all, "-H", "root@"+c.Address)
	}
	all = append(all, "hw", "report", "--json")
	var cpu1, cpu10 []time.Duration // busy CPU time of the whole machine during a run
	run := func(args []string) (time.Duration, error) {
		cmd := exec.Command(ctl, args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		busy0 := busyCPU()
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return 0, fmt.Errorf("hostkitctl %v: %v: %s", args, err, stderr.String())
		}
		d := time.Since(start)
		if len(args) > len(one) {
			cpu10 = append(cpu10, busyCPU()-busy0)
		} else {
			cpu1 = append(cpu1, busyCPU()-busy0)
		}
		return d, nil
	}
	for _, args := range [][]string{one, all} { // bus activation of every hwd, ssh warm-up
		if _, err := run(args); err != nil {
			return err
		}
	}
	cpu1, cpu10 = nil, nil
	var t1, t10 []time.Duration
	for i := 0; i < runs; i++ {
		d, err := run(one)
		if err != nil {
			return err
		}
		t1 = append(t1, d)
		if d, err = run(all); err != nil {
			return err
		}
		t10 = append(t10, d)
	}
	m1, m10 := median(t1), median(t10)
	fmt.Printf("hostkitctl -H ... hw report --json, median of %d interleaved runs (ssh + systemd-stdio-bridge + Describe)\n", runs)
	fmt.Printf("  %-10s %10.1fms wall %10.1fms CPU (all processes of the machine, %d cores)\n", "1 host", ms(m1), ms(median(cpu1)), runtime.NumCPU())
	fmt.Printf("  %-10s %10.1fms wall %10.1fms CPU\n", fmt.Sprintf("%d hosts", n), ms(m10), ms(median(cpu10)))
	fmt.Printf("  ratio %.2fx (goal: at most 2x); CPU-bound floor here: %.2fx (CPU of 10 hosts / cores / wall of 1)\n",
		float64(m10)/float64(m1), float64(median(cpu10))/float64(runtime.NumCPU())/float64(m1))

	// The exporter on the first host, scraped from here.
	c := hosts[0]
	if _, err := c.Exec("systemctl", "enable", "--now", "hostkit-exporter.socket"); err != nil {
		return err
	}
	url := "http://" + c.Address + ":9810/metrics"
	client := &http.Client{Timeout: 30 * time.Second}
	scrape := func() (time.Duration, error) {
		start := time.Now()
		resp, err := client.Get(url)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return time.Since(start), err
	}
	var cold, warm []time.Duration
	coldRuns := min(runs, 5)
	for i := 0; i < coldRuns; i++ {
		if _, err := c.Exec("systemctl", "stop", "hostkit-exporter.service", "hostkit-hwd.service",
			"hostkit-bootorder.service", "hostkit-vncd.service"); err != nil {
			return err
		}
		d, err := scrape()
		if err != nil {
			return err
		}
		cold = append(cold, d)
	}
	for i := 0; i < runs; i++ {
		d, err := scrape()
		if err != nil {
			return err
		}
		warm = append(warm, d)
	}
	fmt.Printf("hostkit-exporter scrape over the host link\n")
	fmt.Printf("  cold (exporter and services stopped), median of %d: %8.1fms\n", coldRuns, ms(median(cold)))
	fmt.Printf("  warm, median of %d:                              %8.1fms (goal: at most 20 ms)\n", runs, ms(median(warm)))
	if resp, err := client.Get(url); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, "hostkit_scrape_duration_seconds{") {
				fmt.Printf("  in the last warm scrape: %s\n", line)
			}
		}
	}
	return nil
}

// busyCPU returns the CPU time the whole machine spent outside idle and iowait so far
// (/proc/stat), so that a run's cost includes ssh, sshd, the bridges and the daemons.
func busyCPU() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	var total int64
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		if i != 3 && i != 4 { // idle, iowait
			total += v
		}
	}
	return time.Duration(total) * time.Second / 100 // USER_HZ
}

// prepareFleetHost installs hostkit with a real SMBIOS dump and root's authorized key,
// and waits for sshd.
func prepareFleetHost(c *testcontainer.Container, deb, dump string, pub []byte) error {
	if err := c.InstallDeb(deb); err != nil {
		return err
	}
	if err := c.CopyIn(dump, "/var/lib/hostkit-bench/dump.bin"); err != nil {
		return err
	}
	if err := c.WriteFile("/etc/hostkit/hwd.conf.d/50-bench.conf", []byte("[Hardware]\nSMBIOSDump=/var/lib/hostkit-bench/dump.bin\n"), 0o644); err != nil {
		return err
	}
	if err := c.WriteFile("/root/.ssh/authorized_keys", pub, 0o600); err != nil {
		return err
	}
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, _ := c.Exec("systemctl", "is-active", "ssh.service")
		if string(bytes.TrimSpace([]byte(out))) == "active" {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("container %s: ssh.service is %q, not active", c.Name, bytes.TrimSpace([]byte(out)))
		}
	}
}
