// Command demo shows hostkit at work on a throwaway Debian system: it boots a container
// with systemd as PID 1 (internal/testcontainer, building the cached base root on first
// use), installs dist/hostkit_*_amd64.deb and walks through what a sysadmin would do,
// printing for each step what it shows, the command as typed and its real output.
//
// Run it as root with `make demo` (which builds the package first) or, after
// `make packages`, with `go run ./test/demo`. It exits 1 when a step does not do what it
// should, 130 when interrupted; the container is removed in every case.
//
// Each hostkit service adds its part of the walk-through as one function in parts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hostkit/hostkit/internal/repo"
	"github.com/hostkit/hostkit/internal/testcontainer"
)

// parts build the walk-through, in order; a new hostkit service appends its own.
var parts = []func(d *demo) []step{
	installPart,
	hardwarePart,
	bootOrderPart,
	syncPart,
}

// step is one thing a user does. Either Command runs inside the container (through
// `sh -c`, stderr folded into stdout, exactly as typed) or Do runs on the host (copying
// files in) and Shown is printed in its place.
type step struct {
	Title   string // a heading: what the step shows
	Explain string // one or two sentences for someone new to hostkit
	User    string // who runs Command: "" for root, or testcontainer.TestUser
	Command string
	// WantExit is the exit status Command must end with (0 unless the step shows a
	// refusal or an inactive unit).
	WantExit int
	// Expect lists strings the output must contain, so a broken build does not go
	// unnoticed between screens of output.
	Expect []string
	Do     func() error
	Shown  string // what Do amounts to, as a command line
}

// demo is what the parts need to build their steps.
type demo struct {
	c    *testcontainer.Container
	deb  string // host path of the package
	dump string // host path of the SMBIOS dump
}

func main() {
	deb := flag.String("deb", "", "package to install (default: the newest dist/hostkit_*_amd64.deb)")
	dump := flag.String("dump", "", "SMBIOS dump to replay (default: ../shared/smbios-dumps/SuperMicro-X9DBL.bin beside the repository)")
	flag.Parse()
	os.Exit(run(*deb, *dump))
}

func run(deb, dump string) int {
	start := time.Now()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	d, err := prepare(deb, dump)
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 1
	}
	fmt.Printf("hostkit demo: %s on a throwaway Debian %s with systemd as PID 1\n\n", filepath.Base(d.deb), testcontainer.Suite)

	progress := func(format string, args ...any) { fmt.Printf("  . "+format+"\n", args...) }
	// The boot order part's story has an sshd init script of its own, not Debian's ssh.
	c, err := testcontainer.BootContext(ctx, testcontainer.Options{Name: "hostkit-demo", Logf: progress, QuietExec: true,
		Setup: testcontainer.WithoutOpenSSH})
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: boot the container: %v\n", err)
		if ctx.Err() != nil {
			return 130
		}
		return 1
	}
	d.c = c
	defer func() {
		if err := c.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "demo: clean up the container: %v\n", err)
		}
		fmt.Printf("\ndemo took %s (container boot %s)\n", time.Since(start).Round(100*time.Millisecond), c.BootTime.Round(time.Millisecond))
	}()

	var steps []step
	for _, part := range parts {
		steps = append(steps, part(d)...)
	}
	done := make(chan error, 1)
	go func() { done <- walk(c, steps) }()
	select {
	case err := <-done:
		if err != nil {
			fmt.Fprintf(os.Stderr, "\ndemo: %v\n", err)
			return 1
		}
		fmt.Printf("\nall %d steps did what they should.\n", len(steps))
		return 0
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "\ndemo: interrupted; removing the container")
		return 130 // the deferred Close stops the step running inside
	}
}

// prepare finds the package and the dump and checks that this host can run containers.
func prepare(deb, dump string) (*demo, error) {
	if err := testcontainer.CheckHost(); err != nil {
		return nil, err
	}
	root, err := repo.Root()
	if err != nil {
		return nil, err
	}
	if deb == "" {
		debs, _ := filepath.Glob(filepath.Join(root, "dist", "hostkit_*_amd64.deb"))
		if len(debs) == 0 {
			return nil, fmt.Errorf("no dist/hostkit_*_amd64.deb in %s: run make packages first (or make demo)", root)
		}
		deb = newest(debs)
	}
	if _, err := os.Stat(deb); err != nil {
		return nil, fmt.Errorf("package to install: %w", err)
	}
	if dump == "" {
		dumps, err := repo.SMBIOSDumps()
		if err != nil {
			return nil, err
		}
		dump = filepath.Join(dumps, "SuperMicro-X9DBL.bin")
	}
	if _, err := os.Stat(dump); err != nil {
		return nil, fmt.Errorf("SMBIOS dump to replay (pass one written by `dmidecode --dump-bin` with -dump): %w", err)
	}
	return &demo{deb: deb, dump: dump}, nil
}

// newest returns the most recently modified of paths.
func newest(paths []string) string {
	best, bestTime := paths[0], time.Time{}
	for _, p := range paths {
		if info, err := os.Stat(p); err == nil && info.ModTime().After(bestTime) {
			best, bestTime = p, info.ModTime()
		}
	}
	return best
}

// walk runs the steps in order and stops at the first that fails.
func walk(c *testcontainer.Container, steps []step) error {
	for i, s := range steps {
		fmt.Printf("\n==> [%d/%d] %s\n", i+1, len(steps), s.Title)
		if s.Explain != "" {
			fmt.Printf("    %s\n", s.Explain)
		}
		if err := s.run(c); err != nil {
			return fmt.Errorf("step %d (%s): %w", i+1, s.Title, err)
		}
	}
	return nil
}

// run runs the step in c, prints the command and its output, and fails when the exit
// status or output is not what the step wants.
func (s step) run(c *testcontainer.Container) error {
	prompt := "    $ "
	if s.User != "" {
		prompt = fmt.Sprintf("    [%s] $ ", s.User)
	}
	if s.Do != nil {
		fmt.Printf("%s%s\n", prompt, s.Shown)
		return s.Do()
	}
	fmt.Printf("%s%s\n", prompt, s.Command)
	out, err := c.ExecAs(s.User, "sh", "-c", s.Command+" 2>&1")
	exit := 0
	var ee *testcontainer.ExecError
	if errors.As(err, &ee) && ee.ExitCode >= 0 {
		exit = ee.ExitCode
	} else if err != nil {
		return err
	}
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		fmt.Printf("      %s\n", l)
	}
	if exit != s.WantExit {
		return fmt.Errorf("%s exited with status %d, want %d", s.Command, exit, s.WantExit)
	}
	for _, e := range s.Expect {
		if !strings.Contains(out, e) {
			return fmt.Errorf("the output of %s lacks %q", s.Command, e)
		}
	}
	return nil
}

// installPart installs the package the way an admin installs a downloaded .deb.
func installPart(d *demo) []step {
	inCT := "/root/" + filepath.Base(d.deb)
	return []step{
		{
			Title:   "Copy the package into the machine",
			Explain: "The container stands for a fresh Debian server; the package is the one `make packages` built.",
			Shown:   "cp " + filepath.Base(d.deb) + " /root/",
			Do:      func() error { return d.c.CopyIn(d.deb, inCT) },
		},
		{
			Title:   "Install it",
			Explain: "One .deb holds every hostkit service, hostkitctl, the units, bus policy, polkit actions and man pages.",
			Command: "dpkg -i " + inCT,
			Expect:  []string{"Setting up hostkit"},
		},
	}
}

// hardwarePart shows hostkit-hwd: the SMBIOS hardware report on the system bus.
func hardwarePart(d *demo) []step {
	const (
		dest   = "org.hostkit.Hardware1 /org/hostkit/Hardware1 org.hostkit.Hardware1"
		conf   = "/etc/hostkit/hwd.conf.d/50-demo.conf"
		dumpCT = "/var/lib/hostkit-demo/"
	)
	dump := dumpCT + filepath.Base(d.dump)
	confText := fmt.Sprintf("[Hardware]\nSMBIOSDump=%s\n\n[Daemon]\nIdleTimeoutSec=5s\n", dump)
	return []step{
		{
			Title:    "hostkit-hwd is not running",
			Explain:  "It is started on demand by D-Bus activation, not at boot.",
			Command:  "systemctl is-active hostkit-hwd",
			WantExit: 3,
			Expect:   []string{"inactive"},
		},
		{
			Title: "Replay a real server's firmware tables",
			Explain: "A container has no SMBIOS tables of its own, so hostkit-hwd reads a dump of a two-socket " +
				"server's instead (written by `dmidecode --dump-bin`).",
			Shown: "cp " + filepath.Base(d.dump) + " " + dumpCT,
			Do:    func() error { return d.c.CopyIn(d.dump, dump) },
		},
		{
			Title:   "Point hostkit-hwd at it with a drop-in",
			Explain: "Drop-ins in /etc/hostkit/hwd.conf.d override /etc/hostkit/hwd.conf; a short idle timeout shows idle exit below.",
			Shown:   "printf '" + strings.ReplaceAll(confText, "\n", `\n`) + "' > " + conf,
			Do:      func() error { return d.c.WriteFile(conf, []byte(confText), 0o644) },
		},
		{
			Title:   "The hardware report",
			Explain: "What `dmidecode | grep -A16 \"Memory Device\"` was used for, as one readable report.",
			Command: "hostkitctl hw report",
			Expect:  []string{"SLOT", "PART NUMBER"},
		},
		{
			Title:   "The first call started the service",
			Explain: "The bus asked systemd to start hostkit-hwd.service (Type=dbus: ready once it owns its name).",
			Command: "systemctl status hostkit-hwd",
			Expect:  []string{"active (running)"},
		},
		{
			Title:   "Any D-Bus client can read the properties",
			Explain: "hostkitctl is one client; busctl, scripts and monitoring agents read the same properties.",
			Command: "busctl get-property " + dest + " SystemVendor SystemProduct ProcessorSockets MemorySlots MemorySlotsUsed MemoryInstalledBytes",
		},
		{
			Title:   "Describe() returns the whole report as JSON",
			Explain: "As root, serial numbers and UUIDs are included.",
			Command: "busctl --json=short call " + dest + " Describe | jq -r '.data[0]' | jq '.system'",
			Expect:  []string{`"serial"`},
		},
		{
			Title: "The disks, with partitions and SMART health",
			Explain: "What `fdisk -l` and `smartctl -a` were run for. The container sees the host's disks in /sys/block; " +
				"SMART comes from hostkit-hwd-smart.socket, whose helper alone may read the disks (virtual and virtio ones have none).",
			Command: "hostkitctl hw report | sed -n '/^DISK/,/^$/p'; systemctl is-active hostkit-hwd-smart.socket",
			Expect:  []string{"DISK", "SMART", "active"},
		},
		{
			Title: "The network links, read over netlink",
			Explain: "What `ip addr`, `mii-tool` and `ethtool` were run for: state, carrier, speed, addresses. " +
				"While a client runs `hostkitctl hw watch`, every change reaches it as PropertiesChanged.",
			Command: "hostkitctl hw report --json | jq -c '.links[] | {name, kind, oper_state, carrier, speed_mbps, addresses}'; " +
				"busctl get-property " + dest + " Links",
			Expect: []string{`"name":"lo"`, "a(ssbusas)"},
		},
		{
			Title: "Can I add 2 x 8 GiB of DDR3 RDIMMs?",
			Explain: "The memory upgrade advisor answers from the tables, rule by rule; its exit status is the verdict " +
				"(0 fits, 1 with warnings, 2 does not fit, 3 cannot tell). This server's six slots are all in use.",
			Command:  "hostkitctl hw advise --add 2x8GiB --type DDR3 --registered",
			WantExit: 2,
			Expect:   []string{"Verdict: does not fit", "all 6 slots are in use", "buy ECC modules"},
		},
		{
			Title: "An unprivileged user gets the report without secrets",
			Explain: "Serial numbers, UUIDs and asset tags are null unless polkit authorizes " +
				"org.hostkit.hardware1.get-hardware-serial.",
			User:    testcontainer.TestUser,
			Command: "hostkitctl hw report --json | jq '{system: .system.serial, uuid: .system.uuid, dimm_serials: [.memory.arrays[].devices[].serial]}'",
			Expect:  []string{`"system": null`, `"uuid": null`},
		},
		{
			Title:    "... and asking for the serial number is refused",
			User:     testcontainer.TestUser,
			Command:  "busctl call " + dest + " GetHardwareSerial",
			WantExit: 1,
		},
		{
			Title:   "root may read it",
			Command: "busctl call " + dest + " GetHardwareSerial",
		},
		{
			Title:    "Idle, it exits on its own",
			Explain:  "After IdleTimeoutSec without calls it releases its name and exits 0; the next call starts it again.",
			Command:  "sleep 8; systemctl is-active hostkit-hwd",
			WantExit: 3,
			Expect:   []string{"inactive"},
		},
		{
			Title:   "The journal tells the story",
			Command: "journalctl -u hostkit-hwd --no-pager -o short-monotonic",
			Expect:  []string{"Deactivated successfully"},
		},
	}
}

// bootOrderPart shows hostkit-bootorder on the story of issue 3: nginx and sshd, both
// `# chkconfig: 2345 55 25`, which systemd-sysv-generator leaves unordered and SysV's rc
// ran by name. The demo cannot reboot its container, so it does what a boot does on the
// running system: daemon-reload runs the generators, and starting multi-user.target
// starts everything it wants in one transaction, in the order the units say.
func bootOrderPart(d *demo) []step {
	const orderLog = "/var/log/hostkit-demo-order.log"
	script := func(name string) string {
		return "#!/bin/sh\n# chkconfig: 2345 55 25\n# description: " + name + " (hostkit demo)\n\n" +
			"case \"$1\" in\n" +
			"start)\n\techo \"$(cut -d' ' -f1 /proc/uptime) begin " + name + "\" >>" + orderLog + "\n" +
			"\tsleep 1\n\techo \"$(cut -d' ' -f1 /proc/uptime) end   " + name + "\" >>" + orderLog + "\n\t;;\n" +
			"stop|status|restart|force-reload) ;;\n" +
			"*) echo \"usage: $0 {start|stop|status|restart|force-reload}\" >&2; exit 2 ;;\n" +
			"esac\nexit 0\n"
	}
	return []step{
		{
			Title: "Two init scripts at the same priority",
			Explain: "The story: nginx sometimes came up before sshd, both with `# chkconfig: 2345 55 25`. " +
				"Under systemd, systemd-sysv-generator never orders equal priorities; SysV's rc ran them by name.",
			Shown: "cp nginx sshd /etc/init.d/",
			Do: func() error {
				for _, n := range []string{"nginx", "sshd"} {
					if err := d.c.WriteFile("/etc/init.d/"+n, []byte(script(n)), 0o755); err != nil {
						return err
					}
				}
				return nil
			},
		},
		{
			Title:   "Link them into the runlevels, as chkconfig --add does",
			Command: "for n in nginx sshd; do for l in 2 3 4 5; do ln -s ../init.d/$n /etc/rc$l.d/S55$n; done; done; grep -H '^# chkconfig' /etc/init.d/nginx /etc/init.d/sshd; ls /etc/rc3.d",
			Expect:  []string{"2345 55 25", "S55nginx", "S55sshd"},
		},
		{
			Title: "hostkit's generator adds the order rc had",
			Explain: "At every boot and daemon-reload, hostkit-bootorder-generator plans the order and writes it " +
				"as drop-ins to the units systemd-sysv-generator makes.",
			Command: "systemctl daemon-reload && systemctl cat sshd.service | sed -n '/50-hostkit-bootorder/,$p'",
			Expect:  []string{"After=nginx.service"},
		},
		{
			Title:   "The plan",
			Command: "hostkitctl boot plan",
			Expect:  []string{"nginx.service", "sshd.service"},
		},
		{
			Title:   "Why sshd starts where it does",
			Command: "hostkitctl boot explain sshd.service",
			Expect:  []string{"S55 link in /etc/rc2.d", "nginx.service"},
		},
		{
			Title: "Start what the boot starts",
			Explain: "One transaction, as at boot: each script records when it began and ended, and sshd waits " +
				"for nginx although both take a second.",
			Command: "systemctl start multi-user.target && cat " + orderLog,
			Expect:  []string{"begin nginx", "end   nginx", "begin sshd"},
		},
		{
			Title:   "hostkit verifies the order from systemd's own timestamps",
			Explain: "hostkit-bootorder-verify.service does the same after every boot and logs violations to the journal.",
			Command: "hostkitctl boot verify",
			Expect:  []string{" 0 violations"},
		},
	}
}
