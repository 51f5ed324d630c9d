package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hostkit/hostkit/internal/repo"
	"github.com/hostkit/hostkit/internal/testcontainer"
)

// VNC: a hostkit display against Debian 12's tigervncserver@:1.service, side by side in
// one booted container (internal/testcontainer), same user, same session (xterm):
//
//   - memory of a configured display before anyone connects (the processes that exist
//     for it: those of its user and of its unit, RSS);
//   - connect to RFB greeting, cold (hostkit: the display waiting, Xvnc not running;
//     the anchor cannot be cold, as it refuses connections until started, so its row is
//     `systemctl start` to the first greeting) and warm (Xvnc running);
//   - kill -9 of Xvnc until the display greets again (the anchor never does: bounded).
//
// The timings are taken inside the container by this same binary (vnc-probe), as the
// container has its own network.

const (
	benchUser      = testcontainer.TestUser
	anchorUnit     = "tigervncserver@:1.service"
	anchorPort     = 5901
	hostkitDisplay = 2
	hostkitPort    = 5900 + hostkitDisplay
	probePath      = "/usr/local/bin/hostkit-bench-probe"
	reviveTimeout  = 10 * time.Second
)

// probeMain is what the bench binary does inside the container:
//
//	vnc-probe greeting PORT           the time from connect to the 12-byte greeting
//	vnc-probe start UNIT PORT         `systemctl start UNIT` to the first greeting
//	vnc-probe revive PID PORT         kill -9 PID, then the time until PORT greets again
func probeMain(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: vnc-probe greeting PORT | start UNIT PORT | revive PID PORT")
	}
	port := args[len(args)-1]
	switch args[0] {
	case "greeting":
		start := time.Now()
		if err := greet(port, 30*time.Second); err != nil {
			return err
		}
		fmt.Println(time.Since(start).Microseconds())
	case "start":
		start := time.Now()
		if err := runQuiet("systemctl", "start", args[1]); err != nil {
			return err
		}
		if err := greetEventually(port, 30*time.Second); err != nil {
			return err
		}
		fmt.Println(time.Since(start).Microseconds())
	case "revive":
		pid, err := strconv.Atoi(args[1])
		if err != nil {
			return err
		}
		start := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return err
		}
		// Until the old Xvnc is gone its socket may still answer; wait for that first.
		for syscall.Kill(pid, 0) == nil && time.Since(start) < time.Second {
			time.Sleep(time.Millisecond)
		}
		if err := greetEventually(port, reviveTimeout); err != nil {
			fmt.Println(-1)
			return nil
		}
		fmt.Println(time.Since(start).Microseconds())
	default:
		return fmt.Errorf("vnc-probe: unknown %q", args[0])
	}
	return nil
}

func greet(port string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	buf := make([]byte, 12)
	if _, err := c.Read(buf[:12]); err != nil {
		return err
	}
	if !strings.HasPrefix(string(buf), "RFB ") {
		return fmt.Errorf("not a greeting: %q", buf)
	}
	return nil
}

func greetEventually(port string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if err := greet(port, time.Second); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func runQuiet(name string, args ...string) error {
	p, err := os.StartProcess(lookPath(name), append([]string{name}, args...), &os.ProcAttr{Files: []*os.File{nil, nil, os.Stderr}})
	if err != nil {
		return err
	}
	st, err := p.Wait()
	if err != nil {
		return err
	}
	if !st.Success() {
		return fmt.Errorf("%s %s: %v", name, strings.Join(args, " "), st)
	}
	return nil
}

func lookPath(name string) string {
	for _, dir := range []string{"/usr/bin", "/bin", "/usr/sbin", "/sbin"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return filepath.Join(dir, name)
		}
	}
	return name
}

// benchVNC boots the container, sets up both and prints the comparison.
func benchVNC(runs int) error {
	root, err := repo.Root()
	if err != nil {
		return err
	}
	debs, _ := filepath.Glob(filepath.Join(root, "dist", "hostkit_*_amd64.deb"))
	if len(debs) == 0 {
		return errors.New("vnc: no dist/hostkit_*_amd64.deb: run make packages (make bench does)")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	c, err := testcontainer.Boot(testcontainer.Options{Name: "bench-vnc", QuietExec: true})
	if err != nil {
		return fmt.Errorf("vnc: %w", err)
	}
	defer c.Close()
	ex := func(args ...string) (string, error) {
		out, err := c.Exec(args...)
		if err != nil {
			return out, fmt.Errorf("vnc: %w", err)
		}
		return strings.TrimSpace(out), nil
	}
	if err := c.InstallDeb(debs[len(debs)-1]); err != nil {
		return err
	}
	if err := c.CopyIn(self, probePath); err != nil {
		return err
	}
	setup := []string{
		// tigervncserver needs `hostname -f`; Debian's installer writes this line, the
		// test root has none (without it the anchor exits at once, and says "Started").
		`echo "127.0.1.1 $(hostname)" >> /etc/hosts`,
		"runuser -u " + benchUser + " -- sh -c 'mkdir -p ~/.vnc && echo benchpw1 | vncpasswd -f > ~/.vnc/passwd && chmod 600 ~/.vnc/passwd && echo session=xterm > ~/.vnc/config'",
		"echo :1=" + benchUser + " >> /etc/tigervnc/vncserver.users",
		fmt.Sprintf("printf '[Display]\\nNumber=%d\\nUser=%s\\nSession=xterm\\n' > /etc/hostkit/vnc.conf", hostkitDisplay, benchUser),
		"hostkitctl vnc reload",
	}
	for _, s := range setup {
		if _, err := ex("sh", "-c", s); err != nil {
			return err
		}
	}
	probe := func(args ...string) (time.Duration, error) {
		out, err := ex(append([]string{probePath, "vnc-probe"}, args...)...)
		if err != nil {
			return 0, err
		}
		us, err := strconv.ParseInt(out, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("vnc-probe printed %q", out)
		}
		if us < 0 {
			return -1, nil
		}
		return time.Duration(us) * time.Microsecond, nil
	}
	// The processes that exist for a display: its unit's, its login session's (the scope
	// its Xvnc is in) and its user's systemd --user, which the session started.
	memory := func(unit string, display int) (kib, procs int, err error) {
		scope, _ := ex("sh", "-c", fmt.Sprintf("ps -o unit= -p $(tr -d ' \\n' < /tmp/.X%d-lock 2>/dev/null) 2>/dev/null || true", display))
		out, err := ex("ps", "-e", "-o", "rss=,unit=")
		if err != nil {
			return 0, 0, err
		}
		for _, l := range strings.Split(out, "\n") {
			f := strings.Fields(l)
			if len(f) == 2 && (f[1] == unit || f[1] == scope && scope != "" || f[1] == fmt.Sprintf("user@%d.service", testcontainer.TestUID)) {
				n, _ := strconv.Atoi(f[0])
				kib += n
				procs++
			}
		}
		return kib, procs, nil
	}
	// A stop, and the start limit forgotten: the unit allows 5 starts in 60 s, which
	// the runs here go beyond in seconds.
	stopHostkit := func() error {
		unit := fmt.Sprintf("hostkit-vnc@%d.service", hostkitDisplay)
		if _, err := ex("systemctl", "stop", unit); err != nil {
			return err
		}
		_, err := ex("systemctl", "reset-failed", unit)
		return err
	}
	// Xvnc's pid, from its lock file.
	xvncPID := func(display int) (string, error) {
		return ex("sh", "-c", fmt.Sprintf("tr -d ' \\n' < /tmp/.X%d-lock", display))
	}

	fmt.Printf("VNC display: hostkit-vncd against %s (Debian 12, TigerVNC 1.12), one container, user %s, session xterm\n", anchorUnit, benchUser)
	// 1. Memory before anyone connects; hostkit first, while the anchor is not running.
	hkMem, hkProcs, err := memory(fmt.Sprintf("hostkit-vnc@%d.service", hostkitDisplay), hostkitDisplay)
	if err != nil {
		return err
	}
	anchorStart, err := probe("start", anchorUnit, strconv.Itoa(anchorPort))
	if err != nil {
		journal, _ := c.Exec("journalctl", "--no-pager", "-n", "30", "-u", anchorUnit)
		return fmt.Errorf("%w\nthe anchor's journal:\n%s", err, journal)
	}
	time.Sleep(2 * time.Second) // the session settles
	anMem, anProcs, err := memory(anchorUnit, 1)
	if err != nil {
		return err
	}
	fmt.Printf("%-44s %14s %14s %8s\n", "", "anchor", "hostkit", "ratio")
	fmt.Printf("%-44s %11.1f MB %11.1f MB %8s\n", "memory before the first connection", float64(anMem)/1024, float64(hkMem)/1024, ratio(float64(hkMem), float64(anMem)))
	fmt.Printf("%-44s %14d %14d\n", "  processes", anProcs, hkProcs)

	// 2. Cold: hostkit's display waiting; the anchor's nearest is a start.
	var cold []time.Duration
	for i := 0; i < runs; i++ {
		if err := stopHostkit(); err != nil {
			return err
		}
		d, err := probe("greeting", strconv.Itoa(hostkitPort))
		if err != nil {
			return err
		}
		cold = append(cold, d)
	}
	fmt.Printf("%-44s %14s %14s %8s\n", "connect to greeting, cold (median of "+strconv.Itoa(runs)+")", "-", msText(median(cold)), "")
	fmt.Printf("%-44s %14s %14s %8s\n", "  anchor: systemctl start to first greeting", msText(anchorStart), msText(median(cold)), ratio(float64(median(cold)), float64(anchorStart)))

	// 3. Warm: both running.
	var warmA, warmH []time.Duration
	for i := 0; i < runs; i++ {
		a, err := probe("greeting", strconv.Itoa(anchorPort))
		if err != nil {
			return err
		}
		h, err := probe("greeting", strconv.Itoa(hostkitPort))
		if err != nil {
			return err
		}
		warmA, warmH = append(warmA, a), append(warmH, h)
	}
	fmt.Printf("%-44s %14s %14s %8s\n", "connect to greeting, warm (median of "+strconv.Itoa(runs)+")", msText(median(warmA)), msText(median(warmH)),
		ratio(float64(median(warmH)), float64(median(warmA))))
	hkRunning, hkRunProcs, _ := memory(fmt.Sprintf("hostkit-vnc@%d.service", hostkitDisplay), hostkitDisplay)
	anRunning, _, _ := memory(anchorUnit, 1)
	fmt.Printf("%-44s %11.1f MB %11.1f MB %8s\n", fmt.Sprintf("memory once connected (hostkit: %d processes)", hkRunProcs),
		float64(anRunning)/1024, float64(hkRunning)/1024, ratio(float64(hkRunning), float64(anRunning)))

	// 4. kill -9 of Xvnc until the display greets again.
	var revive []time.Duration
	for i := 0; i < 3; i++ {
		if err := stopHostkit(); err != nil { // the start limit, again
			return err
		}
		if _, err := probe("greeting", strconv.Itoa(hostkitPort)); err != nil {
			return err
		}
		pid, err := xvncPID(hostkitDisplay)
		if err != nil {
			return err
		}
		d, err := probe("revive", pid, strconv.Itoa(hostkitPort))
		if err != nil {
			return err
		}
		revive = append(revive, d)
	}
	pid, err := xvncPID(1)
	if err != nil {
		return err
	}
	anchorRevive, err := probe("revive", pid, strconv.Itoa(anchorPort))
	if err != nil {
		return err
	}
	anchorText := msText(anchorRevive)
	if anchorRevive < 0 {
		anchorText = fmt.Sprintf("never (>%s)", reviveTimeout)
	}
	fmt.Printf("%-44s %14s %14s %8s\n", fmt.Sprintf("kill -9 of Xvnc to serving again (median of %d)", len(revive)), anchorText, msText(median(revive)), "")
	result, _ := ex("systemctl", "show", "-P", "Result", anchorUnit)
	restarts, _ := ex("systemctl", "show", "-P", "NRestarts", anchorUnit)
	fmt.Printf("  anchor after kill -9: Result=%s NRestarts=%s\n", result, restarts)
	return nil
}

func msText(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

// ratio is hostkit's value over the anchor's.
func ratio(hostkit, anchor float64) string {
	if anchor <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", hostkit/anchor)
}
