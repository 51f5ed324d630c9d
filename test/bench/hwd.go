package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hostkit/hostkit/internal/repo"
	"github.com/hostkit/hostkit/internal/testcontainer"
)

// hwdBenchRuns is how often each command runs in the container.
const hwdBenchRuns = 15

// benchHardwareReport installs the package into a booted container and times, side by
// side and interleaved, what an admin runs to see the hardware:
//
//   - hostkitctl hw report, cold: the service stopped before each run, so that the call
//     includes bus activation, the start of hostkit-hwd and everything it reads (the
//     tables, /proc/cpuinfo, /sys/block, SMART through the helper, the links);
//   - hostkitctl hw report, warm: the service running;
//   - dmidecode --from-dump (the same tables as the service, which serves that dump:
//     the container has no tables of its own), lshw -json and inxi -Fxz, the tools
//     it replaces.
//
// Each command is timed inside the container with bash's $EPOCHREALTIME, so that
// entering the container is not counted; the medians and their ratios are printed.
func benchHardwareReport() error {
	if err := testcontainer.CheckHost(); err != nil {
		return fmt.Errorf("hardware report in a container: cannot run containers here: %w", err)
	}
	root, err := repo.Root()
	if err != nil {
		return err
	}
	debs, _ := filepath.Glob(filepath.Join(root, "dist", "hostkit_*_amd64.deb"))
	if len(debs) == 0 {
		return fmt.Errorf("no dist/hostkit_*_amd64.deb: run make packages (make bench does)")
	}
	dumps, err := repo.SMBIOSDumps()
	if err != nil {
		return err
	}
	dump := filepath.Join(dumps, "SuperMicro-X9DBL.bin")

	c, err := testcontainer.Boot(testcontainer.Options{Name: "bench-hwd", BootTimeout: 2 * time.Minute, QuietExec: true})
	if err != nil {
		return fmt.Errorf("hardware report: %w", err)
	}
	defer c.Close()
	if err := c.InstallDeb(debs[len(debs)-1]); err != nil {
		return err
	}
	const dumpCT = "/var/lib/hostkit-bench/x9dbl.bin"
	if err := c.CopyIn(dump, dumpCT); err != nil {
		return err
	}
	conf := "[Hardware]\nSMBIOSDump=" + dumpCT + "\n"
	if err := c.WriteFile("/etc/hostkit/hwd.conf.d/50-bench.conf", []byte(conf), 0o644); err != nil {
		return err
	}

	type tool struct {
		name, script string
	}
	tools := []tool{
		{"hostkitctl hw report (cold)", "systemctl stop hostkit-hwd.service; t hostkitctl hw report"},
		{"hostkitctl hw report (warm)", "t hostkitctl hw report"},
		{"hostkitctl hw report --json (warm)", "t hostkitctl hw report --json"},
		{"dmidecode --from-dump", "t dmidecode --from-dump " + dumpCT},
		{"lshw -json", "t lshw -json"},
		{"inxi -Fxz", "t inxi -Fxz"},
	}
	// One bash per round, every tool once in it, in this order; t prints microseconds.
	var script strings.Builder
	script.WriteString(`t() { local s=$EPOCHREALTIME; "$@" >/dev/null 2>&1 || echo "failed: $*" >&2; local e=$EPOCHREALTIME; echo $(( ${e/./} - ${s/./} )); }` + "\n")
	for _, tl := range tools {
		script.WriteString(tl.script + "\n")
	}
	// Warm up once: the first start reads the package's files from disk.
	if out, err := c.Exec("bash", "-c", script.String()); err != nil {
		return fmt.Errorf("hardware report tools in the container: %w: %s", err, out)
	}
	times := make([][]time.Duration, len(tools))
	for range hwdBenchRuns {
		out, err := c.Exec("bash", "-c", script.String())
		if err != nil {
			return fmt.Errorf("hardware report tools in the container: %w: %s", err, out)
		}
		fields := strings.Fields(out)
		if len(fields) != len(tools) {
			return fmt.Errorf("hardware report timings: %q, want %d numbers", out, len(tools))
		}
		for i, f := range fields {
			us, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return fmt.Errorf("hardware report timing %q: %w", f, err)
			}
			times[i] = append(times[i], time.Duration(us)*time.Microsecond)
		}
	}
	fmt.Printf("\nhardware report in a booted container (systemd 252, SMBIOS dump of a two-socket server served);"+
		" median of %d interleaved rounds, timed inside\n", hwdBenchRuns)
	medians := make([]time.Duration, len(tools))
	for i, tl := range tools {
		medians[i] = median(times[i])
		fmt.Printf("%-36s %9.1fms   (min %.1f, max %.1f)\n", tl.name, ms(medians[i]), ms(slices.Min(times[i])), ms(slices.Max(times[i])))
	}
	cold, warm, lshw := medians[0], medians[1], medians[4]
	fmt.Printf("goals: cold %.1f ms (at most 100), warm %.1f ms (at most 10); lshw -json / cold %.1fx, lshw -json / warm %.1fx (at least 10x)\n",
		ms(cold), ms(warm), float64(lshw)/float64(cold), float64(lshw)/float64(warm))
	fmt.Printf("warm / dmidecode --from-dump %.2fx, inxi -Fxz / warm %.1fx\n",
		float64(warm)/float64(medians[3]), float64(medians[5])/float64(warm))
	return nil
}
