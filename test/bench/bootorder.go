package main

// Boot order: hostkit-bootorder-generator against systemd-sysv-generator on the tree of
// the issue, 1000 chkconfig-only scripts (`# chkconfig: 2345 NN 25`, priorities spread
// over 01-98) linked as S<NN><name> in rc2.d to rc5.d. Both generators run on the same
// tree, interleaved; the table gives the median wall time, what each wrote, and the
// ordering edges (names on After= and Before= lines) systemd then loads. Then both
// configurations are compared on `systemctl daemon-reload` in a booted container.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hostkit/hostkit/internal/testcontainer"
	"github.com/hostkit/hostkit/services/bootorder"
)

const (
	benchScripts = 1000
	benchRuns    = 5
	// sysvGenerator is systemd 252's; it reads the tree from SYSTEMD_SYSVINIT_PATH
	// (the init.d directory), SYSTEMD_SYSVRCND_PATH (the directory holding rcN.d)
	// and, to find native units that shadow scripts, SYSTEMD_UNIT_PATH.
	sysvGenerator = "/usr/lib/systemd/system-generators/systemd-sysv-generator"
	ourGenerator  = "hostkit-bootorder-generator"
)

// genContender is one generator configuration and what it did.
type genContender struct {
	name  string
	argv0 string
	env   []string
	times []time.Duration
	out   genOutput
}

// genOutput is what a generator left in its three directories.
type genOutput struct {
	files  int   // regular files and symlinks
	bytes  int64 // in regular files
	after  int   // names on After= lines
	before int   // names on Before= lines
}

// benchBootOrder prints the generator table and the daemon-reload comparison.
func benchBootOrder() error {
	if _, err := os.Stat(sysvGenerator); err != nil {
		return fmt.Errorf("boot order: %s not found (apt-get install systemd; systemd 260 and later have none to compare with): %w", sysvGenerator, err)
	}
	work, err := os.MkdirTemp("", "hostkit-bench-bootorder-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	ours, err := buildOurGenerator(work)
	if err != nil {
		return err
	}
	root := filepath.Join(work, "root")
	if err := writeChkconfigTree(root, benchScripts); err != nil {
		return err
	}
	contenders := []*genContender{
		{name: "systemd-sysv-generator", argv0: sysvGenerator, env: []string{
			"SYSTEMD_SYSVINIT_PATH=" + filepath.Join(root, "etc/init.d"),
			"SYSTEMD_SYSVRCND_PATH=" + filepath.Join(root, "etc"),
			"SYSTEMD_UNIT_PATH=" + filepath.Join(root, "usr/lib/systemd/system"),
		}},
		{name: "hostkit, wrappers", argv0: ours, env: []string{"HOSTKIT_BOOTORDER_ROOT=" + root, "HOSTKIT_BOOTORDER_MODE=wrappers"}},
		{name: "hostkit, drop-ins", argv0: ours, env: []string{"HOSTKIT_BOOTORDER_ROOT=" + root, "HOSTKIT_BOOTORDER_MODE=drop-ins"}},
	}
	// Generators write to /run, a tmpfs; so do they here where /dev/shm is one.
	outBase := work
	if shm, err := os.MkdirTemp("/dev/shm", "hostkit-bench-bootorder-"); err == nil {
		defer os.RemoveAll(shm)
		outBase = shm
	}
	for run := range benchRuns {
		for _, c := range contenders {
			out := filepath.Join(outBase, "out")
			d, err := runBootGenerator(c, out)
			if err != nil {
				return err
			}
			c.times = append(c.times, d)
			if run == 0 {
				if c.out, err = measureGeneratorOutput(out); err != nil {
					return err
				}
			}
			if err := os.RemoveAll(out); err != nil {
				return err
			}
		}
	}

	fmt.Printf("\nboot order: %d chkconfig-only scripts in rc2.d-rc5.d; median wall time of %d runs each, interleaved\n",
		benchScripts, benchRuns)
	fmt.Printf("%-24s %10s %7s %12s %10s %10s\n", "generator", "time", "files", "bytes", "After=", "Before=")
	for _, c := range contenders {
		fmt.Printf("%-24s %8.1fms %7d %12d %10d %10d\n", c.name, ms(median(c.times)), c.out.files, c.out.bytes, c.out.after, c.out.before)
	}
	anchor := contenders[0]
	for _, c := range contenders[1:] {
		fmt.Printf("%s / systemd-sysv-generator: time %.3fx, bytes %.4fx, edges (After=+Before=) %.5fx\n", c.name,
			float64(median(c.times))/float64(median(anchor.times)),
			float64(c.out.bytes)/float64(anchor.out.bytes),
			float64(c.out.after+c.out.before)/float64(anchor.out.after+anchor.out.before))
	}
	fmt.Println("(hostkit's bytes include the saved plan, hostkit-bootorder.plan.json; in drop-ins mode" +
		" systemd-sysv-generator runs as well and its units and edges come on top)")

	if err := benchGeneratorStages(root, outBase); err != nil {
		return err
	}
	return benchDaemonReload(root, ours)
}

// benchGeneratorStages times the generator's stages in this process, for where the
// time goes: Scan (reading the tree), PlanOrder, Generate (wrappers mode, the most
// files) and saving the plan as JSON.
func benchGeneratorStages(root, outBase string) error {
	var scan, plan, gen, save []time.Duration
	for range benchRuns {
		t0 := time.Now()
		tree, err := bootorder.Scan(root)
		if err != nil {
			return fmt.Errorf("scan %s: %w", root, err)
		}
		t1 := time.Now()
		p := bootorder.PlanOrder(tree, bootorder.ModeWrappers)
		t2 := time.Now()
		out := filepath.Join(outBase, "stages")
		if _, err := bootorder.Generate(p, filepath.Join(out, "normal"), filepath.Join(out, "late")); err != nil {
			return err
		}
		t3 := time.Now()
		b, err := json.Marshal(p)
		if err == nil {
			err = os.WriteFile(filepath.Join(out, "plan.json"), b, 0o644)
		}
		if err != nil {
			return err
		}
		t4 := time.Now()
		scan, plan, gen, save = append(scan, t1.Sub(t0)), append(plan, t2.Sub(t1)), append(gen, t3.Sub(t2)), append(save, t4.Sub(t3))
		if err := os.RemoveAll(out); err != nil {
			return err
		}
	}
	fmt.Printf("hostkit stages in-process, median of %d: Scan %.1fms, PlanOrder %.1fms, Generate %.1fms, plan JSON %.1fms\n",
		benchRuns, ms(median(scan)), ms(median(plan)), ms(median(gen)), ms(median(save)))
	return nil
}

// buildOurGenerator builds the generator from this source tree, so that the bench never
// measures a stale binary.
func buildOurGenerator(dir string) (string, error) {
	out := filepath.Join(dir, ourGenerator)
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./cmd/"+ourGenerator)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // static: it also runs in the container
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", ourGenerator, err, b)
	}
	return out, nil
}

// writeChkconfigTree writes n scripts with only a chkconfig header under root/etc/init.d
// and their S links in root/etc/rc2.d to rc5.d, and an empty native unit directory. The
// priorities cycle through 01-98 in a scattered order, about ten scripts to each.
func writeChkconfigTree(root string, n int) error {
	for _, dir := range []string{"etc/init.d", "etc/rc2.d", "etc/rc3.d", "etc/rc4.d", "etc/rc5.d", "usr/lib/systemd/system"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			return err
		}
	}
	for i := range n {
		name := fmt.Sprintf("svc%04d", i+1)
		prio := 1 + (i*37)%98
		script := fmt.Sprintf("#!/bin/sh\n# chkconfig: 2345 %02d 25\n# description: hostkit bench service %d\n"+
			"case \"$1\" in start|stop|restart|status) exit 0 ;; esac\nexit 3\n", prio, i+1)
		if err := os.WriteFile(filepath.Join(root, "etc/init.d", name), []byte(script), 0o755); err != nil {
			return err
		}
		for rl := 2; rl <= 5; rl++ {
			link := filepath.Join(root, fmt.Sprintf("etc/rc%d.d/S%02d%s", rl, prio, name))
			if err := os.Symlink("../init.d/"+name, link); err != nil {
				return err
			}
		}
	}
	return nil
}

// runBootGenerator runs c into fresh normal, early and late directories under out and
// returns its wall time.
func runBootGenerator(c *genContender, out string) (time.Duration, error) {
	dirs := []string{filepath.Join(out, "normal"), filepath.Join(out, "early"), filepath.Join(out, "late")}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 0, err
		}
	}
	cmd := exec.Command(c.argv0, dirs...)
	cmd.Env = append(os.Environ(), c.env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr // systemd-sysv-generator warns once per script; at boot that goes to the journal
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s: %w\n%s", c.name, err, lastBytes(stderr.String(), 2000))
	}
	return d, nil
}

// measureGeneratorOutput counts what a generator wrote under dir.
func measureGeneratorOutput(dir string) (genOutput, error) {
	var o genOutput
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		o.files++
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		o.bytes += fi.Size()
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		// systemd-sysv-generator writes one name per line; hostkit wraps at 200 bytes.
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if v, ok := bytes.CutPrefix(line, []byte("After=")); ok {
				o.after += len(bytes.Fields(v))
			} else if v, ok := bytes.CutPrefix(line, []byte("Before=")); ok {
				o.before += len(bytes.Fields(v))
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	})
	return o, err
}

func lastBytes(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// benchDaemonReload times `systemctl daemon-reload` in a booted container holding the
// same tree, in the two configurations a system can have: systemd-sysv-generator alone
// (systemd 252 as shipped), and hostkit's generator in wrappers mode with
// systemd-sysv-generator masked (as on systemd 260, which has none). The tree goes in
// after boot, so that the boot does not start 1000 services; the configurations are
// switched by adding and removing the mask and the generator.
func benchDaemonReload(treeRoot, ours string) error {
	if err := testcontainer.CheckHost(); err != nil {
		return fmt.Errorf("boot order daemon-reload: cannot run containers here: %w", err)
	}
	c, err := testcontainer.Boot(testcontainer.Options{Name: "bench-bootorder", BootTimeout: 2 * time.Minute, QuietExec: true})
	if err != nil {
		return fmt.Errorf("boot order daemon-reload: %w", err)
	}
	defer c.Close()
	// Time inside the container, so that entering its namespaces is not counted.
	reload := func() (time.Duration, error) {
		out, err := c.Exec("sh", "-c", `s=$(date +%s%N); systemctl daemon-reload; e=$(date +%s%N); echo $((e-s))`)
		if err != nil {
			return 0, fmt.Errorf("daemon-reload in the container: %w: %s", err, out)
		}
		var ns int64
		if _, err := fmt.Sscan(strings.TrimSpace(out), &ns); err != nil {
			return 0, fmt.Errorf("daemon-reload timing %q: %w", out, err)
		}
		return time.Duration(ns), nil
	}
	// The container's own units alone, for scale.
	var baseline []time.Duration
	for range benchRuns {
		d, err := reload()
		if err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		baseline = append(baseline, d)
	}
	for _, dir := range []string{"etc/init.d", "etc/rc2.d", "etc/rc3.d", "etc/rc4.d", "etc/rc5.d"} {
		cp := exec.Command("cp", "-a", filepath.Join(treeRoot, dir)+"/.", filepath.Join(c.Root, dir)+"/")
		if out, err := cp.CombinedOutput(); err != nil {
			return fmt.Errorf("copy %s into the container: %w: %s", dir, err, out)
		}
	}
	genPath := filepath.Join(c.Root, "usr/lib/systemd/system-generators", ourGenerator)
	maskPath := filepath.Join(c.Root, "etc/systemd/system-generators/systemd-sysv-generator")
	binary, err := os.ReadFile(ours)
	if err != nil {
		return err
	}
	configure := func(hostkit bool) error {
		if !hostkit {
			for _, p := range []string{genPath, maskPath} {
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
			return nil
		}
		if err := os.MkdirAll(filepath.Dir(maskPath), 0o755); err != nil {
			return err
		}
		if err := os.Symlink("/dev/null", maskPath); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		return os.WriteFile(genPath, binary, 0o755)
	}
	// What each configuration loaded, as a check that the comparison is real: the
	// unit's fragment and its After= list length.
	probe := func() string {
		out, _ := c.Exec("systemctl", "show", "-P", "FragmentPath", "svc0500.service")
		after, _ := c.Exec("systemctl", "show", "-P", "After", "svc0500.service")
		return fmt.Sprintf("svc0500.service from %s, %d After= units", strings.TrimSpace(out), len(strings.Fields(after)))
	}

	names := []string{"systemd-sysv-generator", "hostkit, wrappers (sysv masked)"}
	times := make([][]time.Duration, 2)
	probes := make([]string, 2)
	// Blocks in the order A B B A, each begun with an untimed reload: the first reload
	// after a switch also tears down what the other configuration loaded (1.5 million
	// dependencies after systemd-sysv-generator), which belongs to neither.
	for _, i := range []int{0, 1, 1, 0} {
		if err := configure(i == 1); err != nil {
			return fmt.Errorf("configure %s in the container: %w", names[i], err)
		}
		if _, err := reload(); err != nil {
			return fmt.Errorf("%s: %w", names[i], err)
		}
		probes[i] = probe()
		for range benchRuns {
			d, err := reload()
			if err != nil {
				return fmt.Errorf("%s: %w", names[i], err)
			}
			times[i] = append(times[i], d)
		}
	}
	fmt.Printf("\nboot order: systemctl daemon-reload in a booted container (systemd 252) with the same tree;"+
		" median of %d, in blocks A B B A\n", 2*benchRuns)
	fmt.Printf("%-34s %8.1fms   (the container's own units, before the scripts go in)\n", "no SysV scripts", ms(median(baseline)))
	for i, name := range names {
		fmt.Printf("%-34s %8.1fms   %s\n", name, ms(median(times[i])), probes[i])
	}
	fmt.Printf("hostkit / systemd-sysv-generator: %.3fx\n", float64(median(times[1]))/float64(median(times[0])))
	return nil
}
