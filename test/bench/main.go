// Command bench measures hostkit against the tools it replaces, side by side in one run,
// and prints ratios (make bench). It is not a test: nothing here passes or fails on time.
//
// Hardware report: `hostkit-hwd report --from-dump F --json` against the anchor
// `dmidecode --from-dump F` on every shared SMBIOS dump, runs interleaved so that both
// see the same machine load; the median wall time of each is compared. Then, in a
// booted container with the package, `hostkitctl hw report` cold and warm against
// dmidecode, lshw -json and inxi -Fxz (see hwd.go).
//
// Boot order: hostkit-bootorder-generator against systemd-sysv-generator on the same
// 1000 chkconfig-only scripts (see bootorder.go); and the planner on the hostile inputs
// of issue 10 against the same orderings in a harmless shape (see hostile.go).
//
// VNC: a hostkit display against Debian's tigervncserver@:1.service in one booted
// container (see vnc.go); needs dist/hostkit_*_amd64.deb.
//
// Many hosts: hostkitctl -H to ten containers against one, and an exporter scrape cold
// and warm (see fleet.go); needs dist/hostkit_*_amd64.deb.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/hostkit/hostkit/internal/repo"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "vnc-probe" { // inside the VNC container
		if err := probeMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "vnc-probe:", err)
			os.Exit(1)
		}
		return
	}
	runs := flag.Int("runs", 30, "runs of each command per dump")
	dumps := flag.String("dumps", "", "directory of SMBIOS dumps (default: as the tests find them, see internal/repo)")
	hwd := flag.String("hwd", "bin/hostkit-hwd", "hostkit-hwd binary")
	syncOnly := flag.Bool("sync-only", false, "run only the hostkit-syncd part (see sync.go)")
	vncOnly := flag.Bool("vnc-only", false, "run only the hostkit-vncd part (see vnc.go)")
	vncRuns := flag.Int("vnc-runs", 10, "connections timed per VNC case")
	fleetOnly := flag.Bool("fleet-only", false, "run only the many-hosts part (see fleet.go)")
	fleetRuns := flag.Int("fleet-runs", 20, "runs timed per many-hosts case")
	hwdOnly := flag.Bool("hwd-only", false, "run only the hostkit-hwd parts (this file and hwd.go)")
	flag.Parse()
	if *fleetOnly {
		if err := benchFleet(*fleetRuns); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *vncOnly {
		if err := benchVNC(*vncRuns); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *syncOnly {
		if err := benchSync(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *dumps == "" {
		dir, err := repo.SMBIOSDumps()
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		*dumps = dir
	}
	if err := run(*runs, *dumps, *hwd); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if err := benchHardwareReport(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if *hwdOnly {
		return
	}
	if err := benchHostile(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Println()
	if err := benchBootOrder(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Println()
	if err := benchSync(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Println()
	if err := benchVNC(*vncRuns); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Println()
	if err := benchFleet(*fleetRuns); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(runs int, dumpDir, hwd string) error {
	dmidecode, err := exec.LookPath("dmidecode")
	if err != nil {
		return fmt.Errorf("dmidecode not found: apt-get install dmidecode")
	}
	files, err := filepath.Glob(filepath.Join(dumpDir, "*.bin"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no dumps in %s", dumpDir)
	}
	fmt.Printf("hardware report: median wall time of %d runs each, interleaved\n", runs)
	fmt.Printf("%-28s %14s %14s %8s\n", "dump", "dmidecode", "hostkit-hwd", "ratio")
	var ratios []float64
	for _, f := range files {
		anchor := []string{dmidecode, "--from-dump", f}
		ours := []string{hwd, "report", "--from-dump", f, "--json"}
		var ta, to []time.Duration
		for i := 0; i < runs; i++ {
			d, err := timeRun(anchor)
			if err != nil {
				return err
			}
			ta = append(ta, d)
			if d, err = timeRun(ours); err != nil {
				return err
			}
			to = append(to, d)
		}
		ma, mo := median(ta), median(to)
		r := float64(mo) / float64(ma)
		ratios = append(ratios, r)
		fmt.Printf("%-28s %12.2fms %12.2fms %7.2fx\n", filepath.Base(f), ms(ma), ms(mo), r)
	}
	sort.Float64s(ratios)
	fmt.Printf("hostkit-hwd / dmidecode, median over dumps: %.2fx (below 1 is faster)\n", ratios[len(ratios)/2])
	return nil
}

func timeRun(argv []string) (time.Duration, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%v: %w\n%s", argv, err, out)
	}
	return time.Since(start), nil
}

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
