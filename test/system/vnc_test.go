package system

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hostkit/hostkit/internal/repo"
	"github.com/hostkit/hostkit/internal/testcontainer"
)

const (
	vncBus     = "org.hostkit.VNC1"
	vncDisplay = "org.hostkit.VNC1.Display"
	vncOther   = "bob" // a user who does not own display :1
	vncPW      = "tester12"
	// The session: a leftover vncconfig and a process in a session of its own, as
	// desktops leave them, must both end with the display.
	vncSession = "setsid -f sleep 1000; tigervncconfig -nowin & exec xterm"
)

// TestVNCService installs the .deb into a booted container with
// tigervnc-standalone-server and checks hostkit-vncd as an admin and a user meet it:
// vnc.conf and `hostkitctl vnc reload` make a socket and no Xvnc; the first connection
// gets the RFB greeting and a display running as its user in a logind session; the state
// on the bus; a screenshot for the owner, refusals for another user; kill -9 of Xvnc
// restarted with LastExit and Restarts; a stop that leaves no process of the session; a
// session that cannot start; a stale lock removed; the sandboxes' exposure; and a reboot
// that brings the socket back without Xvnc.
func TestVNCService(t *testing.T) {
	deb := findDeb(t, repo.RootT(t))
	log := &stepLog{cur: t}
	c := testcontainer.New(t, testcontainer.Options{Name: "vnc", Logf: log.Logf})
	t.Logf("container %s booted in %s", c.Name, c.BootTime.Round(time.Millisecond))

	installed := log.step(t, "1_install", func(t *testing.T) {
		if err := c.InstallDeb(deb); err != nil {
			t.Fatal(err)
		}
		packaged := lines(mustExec(t, c, "dpkg", "-L", "hostkit"))
		for _, f := range []string{"/usr/sbin/hostkit-vncd", "/usr/lib/systemd/system-generators/hostkit-vnc-generator",
			"/usr/lib/systemd/system/hostkit-vncd.service", "/usr/lib/systemd/system/hostkit-vnc@.service",
			"/usr/share/dbus-1/system-services/org.hostkit.VNC1.service", "/usr/share/polkit-1/actions/org.hostkit.VNC1.policy",
			"/etc/hostkit/vnc.conf", "/etc/pam.d/hostkit-vnc"} {
			if !slices.Contains(packaged, f) {
				t.Errorf("the package does not install %s", f)
			}
		}
		mustExec(t, c, "useradd", "--create-home", "--shell", "/bin/bash", vncOther)
		for _, u := range []string{testcontainer.TestUser, vncOther} {
			mustExecAs(t, c, u, "sh", "-c", "mkdir -p ~/.vnc && echo "+vncPW+" | vncpasswd -f > ~/.vnc/passwd && chmod 600 ~/.vnc/passwd")
		}
	})
	if !installed {
		t.FailNow()
	}

	conf := fmt.Sprintf(`# written by TestVNCService
[Display]
Number=1
User=%s
Geometry=800x600
Session=%s

[Display]
Number=2
User=%s
Session=no-such-desktop --please
`, testcontainer.TestUser, vncSession, vncOther)

	log.step(t, "2_reload", func(t *testing.T) {
		// Before vnc.conf says anything, nothing listens.
		if got := isActiveUnit(c, "hostkit-vnc@1.socket"); got == "active" {
			t.Fatalf("hostkit-vnc@1.socket is active before vnc.conf names display :1")
		}
		if err := c.WriteFile("/etc/hostkit/vnc.conf", []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		out := mustExec(t, c, "hostkitctl", "vnc", "reload")
		if !regexp.MustCompile(`(?m)^:1\s+tester\s+127\.0\.0\.1:5901\s+waiting\s`).MatchString(out) {
			t.Errorf("hostkitctl vnc reload printed:\n%s\nwant :1 waiting on 127.0.0.1:5901", out)
		}
		for _, u := range []string{"hostkit-vnc@1.socket", "hostkit-vnc@2.socket"} {
			if got := isActiveUnit(c, u); got != "active" {
				t.Errorf("%s is %s after reload, want active", u, got)
			}
		}
		if !listening(t, c, 5901) {
			t.Error("nothing listens on port 5901")
		}
		if xvnc := pgrep(c, "Xvnc"); len(xvnc) > 0 {
			t.Errorf("Xvnc runs before anyone connected: %v", xvnc)
		}
		if got := vncProp(t, c, 1, "State"); got != "waiting" {
			t.Errorf("State of :1 = %v, want waiting", got)
		}
		if got := mustExec(t, c, "systemctl", "show", "-P", "KeepAlive", "hostkit-vnc@1.socket"); strings.TrimSpace(got) != "yes" {
			t.Errorf("KeepAlive of the socket = %q", got)
		}
	})

	var xvncPID int
	log.step(t, "3_first_connection", func(t *testing.T) {
		// A stale lock left by a killed server: removed before the start.
		if err := c.WriteFile("/tmp/.X1-lock", []byte(fmt.Sprintf("%10d\n", 4000000)), 0o444); err != nil {
			t.Fatal(err)
		}
		if got := rfbGreeting(t, c, 5901); got != "RFB 003.008" {
			t.Fatalf("the first connection to 5901 got %q, want the greeting RFB 003.008", got)
		}
		waitProp(t, c, 1, "State", "running")
		xvncPID = int(vncProp(t, c, 1, "MainPID").(float64))
		comm := strings.TrimSpace(mustExec(t, c, "cat", fmt.Sprintf("/proc/%d/comm", xvncPID)))
		user := strings.TrimSpace(mustExec(t, c, "ps", "-o", "user=", "-p", strconv.Itoa(xvncPID)))
		if comm != "Xvnc" || user != testcontainer.TestUser {
			t.Errorf("MainPID %d is %s of %s, want Xvnc of %s", xvncPID, comm, user, testcontainer.TestUser)
		}
		if got := vncProp(t, c, 1, "StaleCleanups"); got != float64(1) {
			t.Errorf("StaleCleanups = %v, want 1 (the dead server's lock)", got)
		}
		for name, want := range map[string]any{"User": testcontainer.TestUser, "Port": float64(5901), "Number": float64(1), "Restarts": float64(0)} {
			if got := vncProp(t, c, 1, name); got != want {
				t.Errorf("%s = %v, want %v", name, got, want)
			}
		}
		// A real login session: logind knows it, as x11 of class user.
		sessions := mustExec(t, c, "loginctl", "list-sessions", "--no-legend")
		var id string
		for _, l := range lines(sessions) {
			if f := strings.Fields(l); len(f) >= 3 && f[2] == testcontainer.TestUser {
				id = f[0]
			}
		}
		if id == "" {
			t.Fatalf("no logind session of %s:\n%s", testcontainer.TestUser, sessions)
		}
		props := mustExec(t, c, "loginctl", "show-session", id, "-p", "Type", "-p", "Class", "-p", "Service")
		for _, w := range []string{"Type=x11", "Class=user", "Service=hostkit-vnc"} {
			if !strings.Contains(props, w) {
				t.Errorf("session %s: %s lacks %s", id, props, w)
			}
		}
		out := mustExec(t, c, "hostkitctl", "vnc", "status", ":1")
		if !regexp.MustCompile(`(?m)^:1\s+tester\s+127\.0\.0\.1:5901\s+running\s+\d+\s+` + strconv.Itoa(xvncPID) + `\s`).MatchString(out) {
			t.Errorf("hostkitctl vnc status :1:\n%s", out)
		}
		if journal := mustExec(t, c, "journalctl", "-o", "cat", "DISPLAY=:1", "SYSLOG_IDENTIFIER=hostkit-vncd"); !strings.Contains(journal, "Xvnc serves") {
			t.Errorf("the journal has no DISPLAY=:1 entry saying Xvnc serves:\n%s", journal)
		}
	})

	log.step(t, "4_screenshot_and_polkit", func(t *testing.T) {
		// The owner, without a password (org.hostkit.vnc1.manage-own).
		mustExecAs(t, c, testcontainer.TestUser, "hostkitctl", "vnc", "screenshot", ":1", "-o", "/tmp/shot.png")
		data := mustExec(t, c, "cat", "/tmp/shot.png")
		img, err := png.Decode(bytes.NewReader([]byte(data)))
		if err != nil {
			t.Fatalf("the screenshot is not a PNG: %v", err)
		}
		if b := img.Bounds(); b.Dx() != 800 || b.Dy() != 600 {
			t.Errorf("the screenshot is %dx%d, want the configured 800x600", b.Dx(), b.Dy())
		}
		// Anyone else is refused, to look and to stop.
		for _, args := range [][]string{{"screenshot", ":1", "-o", "/tmp/bob.png"}, {"stop", ":1"}, {"clean", ":1", "--kill"}} {
			_, err := c.ExecAs(vncOther, append([]string{"hostkitctl", "vnc"}, args...)...)
			if err == nil || !strings.Contains(err.Error(), "not authorized for org.hostkit.vnc1.manage ") {
				t.Errorf("hostkitctl vnc %s as %s: %v, want refused (org.hostkit.vnc1.manage)", strings.Join(args, " "), vncOther, err)
			}
		}
		if got := vncProp(t, c, 1, "State"); got != "running" {
			t.Errorf("State after the refused stop = %v", got)
		}
		// clean on a running display finds nothing of its own to clean.
		if out := mustExec(t, c, "hostkitctl", "vnc", "clean", ":1"); !strings.Contains(out, "display :1 is clean") {
			t.Errorf("clean :1: %s", out)
		}
		if got := vncProp(t, c, 1, "MainPID"); got != float64(xvncPID) {
			t.Errorf("clean touched the running display: MainPID %v, was %d", got, xvncPID)
		}
		// A reload leaves the running session alone.
		mustExec(t, c, "hostkitctl", "vnc", "reload")
		if got := vncProp(t, c, 1, "MainPID"); got != float64(xvncPID) {
			t.Errorf("reload touched the running display: MainPID %v, was %d", got, xvncPID)
		}
		// A viewer that stays is counted.
		out := mustExec(t, c, "sh", "-c", `(timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5901; head -c 12 <&3 >/dev/null; sleep 4' &); sleep 1.5; `+
			`busctl get-property `+vncBus+` /org/hostkit/VNC1/display/1 `+vncDisplay+` Clients`)
		if strings.TrimSpace(out) != "u 1" {
			t.Errorf("Clients with one viewer connected: %q, want u 1", out)
		}
	})

	log.step(t, "5_kill_9", func(t *testing.T) {
		mustExec(t, c, "kill", "-9", strconv.Itoa(xvncPID))
		var newPID float64
		if !eventually(20*time.Second, func() bool {
			pid, _ := vncPropErr(c, 1, "MainPID")
			state, _ := vncPropErr(c, 1, "State")
			newPID, _ = pid.(float64)
			return state == "running" && newPID != 0 && int(newPID) != xvncPID
		}) {
			t.Fatalf("display :1 not running again 20 s after kill -9 of Xvnc: %s", mustExec(t, c, "systemctl", "status", "--no-pager", "hostkit-vnc@1.service"))
		}
		for name, want := range map[string]any{"LastExit": "signal KILL", "Restarts": float64(1)} {
			if got := vncProp(t, c, 1, name); got != want {
				journal, _ := c.Exec("journalctl", "--no-pager", "-n", "30", "-u", "hostkit-vnc@1.service", "-u", "hostkit-vncd.service")
				files, _ := c.Exec("sh", "-c", "grep -H . /run/hostkit-vnc/1/last-*")
				t.Errorf("%s = %v, want %v\n%s\n%s", name, got, want, files, journal)
			}
		}
		if got := rfbGreeting(t, c, 5901); got != "RFB 003.008" {
			t.Errorf("after the restart: %q", got)
		}
	})

	log.step(t, "6_stop_leaves_nothing", func(t *testing.T) {
		if len(pgrep(c, "tigervncconfig")) == 0 || len(pgrep(c, "sleep")) == 0 {
			t.Errorf("the session's vncconfig or sleep is not running: %s", mustExec(t, c, "ps", "-u", testcontainer.TestUser, "-o", "pid,comm"))
		}
		// The owner stops it, without a password.
		mustExecAs(t, c, testcontainer.TestUser, "hostkitctl", "vnc", "stop", ":1")
		waitProp(t, c, 1, "State", "waiting")
		for _, name := range []string{"Xvnc", "xterm", "tigervncconfig", "sleep"} {
			if pids := pgrep(c, name); len(pids) > 0 {
				t.Errorf("%s of the session survived the stop: %v", name, pids)
			}
		}
		if got := isActiveUnit(c, "hostkit-vnc@1.socket"); got != "active" {
			t.Errorf("the socket is %s after the stop, want active (the display waits)", got)
		}
		// The display ended its own login session, and ExecStopPost= found nothing left.
		if j := mustExec(t, c, "journalctl", "-o", "cat", "DISPLAY=:1"); strings.Contains(j, "cannot end the login session") {
			t.Errorf("the display could not end its login session:\n%s", j)
		}
		// The next viewer starts it afresh: the restarts counted are those of this run.
		rfbGreeting(t, c, 5901)
		waitProp(t, c, 1, "State", "running")
		if got := vncProp(t, c, 1, "Restarts"); got != float64(0) {
			t.Errorf("Restarts after a stop and a new connection = %v, want 0", got)
		}
		if got := vncProp(t, c, 1, "LastExit"); got != "status 0" {
			t.Errorf("LastExit after a stop = %v, want status 0", got)
		}
	})

	log.step(t, "7_session_that_does_not_start", func(t *testing.T) {
		rfbGreeting(t, c, 5902) // the greeting comes; the session then fails
		waitProp(t, c, 2, "State", "failed")
		lastError, _ := vncProp(t, c, 2, "LastError").(string)
		if !strings.Contains(lastError, "no-such-desktop: not found") || !strings.Contains(lastError, "failed at start") {
			t.Errorf("LastError of :2 = %q", lastError)
		}
		if got := vncProp(t, c, 2, "LastExit"); got != "status 79 (failed at start)" {
			t.Errorf("LastExit of :2 = %v", got)
		}
		if got := vncProp(t, c, 2, "Restarts"); got != float64(0) {
			t.Errorf("a session that cannot start was restarted %v times", got)
		}
		// Removed from vnc.conf: it stops listening; :1 runs on.
		pid := vncProp(t, c, 1, "MainPID")
		first, _, _ := strings.Cut(conf, "\n[Display]\nNumber=2")
		if err := c.WriteFile("/etc/hostkit/vnc.conf", []byte(first+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out := mustExec(t, c, "hostkitctl", "vnc", "reload")
		if strings.Contains(out, ":2 ") || isActiveUnit(c, "hostkit-vnc@2.socket") == "active" || listening(t, c, 5902) {
			t.Errorf("display :2 removed from vnc.conf still listens:\n%s", out)
		}
		if got := vncProp(t, c, 1, "MainPID"); got != pid {
			t.Errorf("the reload touched :1: MainPID %v, was %v", got, pid)
		}
	})

	log.step(t, "8_held_by_tigervncserver", func(t *testing.T) {
		// Debian's own unit runs :4 for bob, as before the switch to hostkit.
		for _, s := range []string{
			`echo "127.0.1.1 $(hostname)" >> /etc/hosts`, // tigervncserver needs hostname -f
			"echo :4=" + vncOther + " >> /etc/tigervnc/vncserver.users",
			"systemctl start tigervncserver@:4.service",
		} {
			mustExec(t, c, "sh", "-c", s)
		}
		if !eventually(20*time.Second, func() bool { return listening(t, c, 5904) }) {
			t.Fatalf("tigervncserver@:4 does not listen: %s", mustExec(t, c, "journalctl", "--no-pager", "-u", "tigervncserver@:4.service"))
		}
		more := fmt.Sprintf("\n[Display]\nNumber=4\nUser=%s\nSession=xterm\n\n[Display]\nNumber=3\nUser=%s\nSession=xterm\nStart=boot\n",
			testcontainer.TestUser, vncOther)
		first, _, _ := strings.Cut(conf, "\n[Display]\nNumber=2")
		if err := c.WriteFile("/etc/hostkit/vnc.conf", []byte(first+more), 0o644); err != nil {
			t.Fatal(err)
		}
		// The port is taken: the socket cannot listen, and the reload says so.
		if _, err := c.Exec("hostkitctl", "vnc", "reload"); err == nil || !strings.Contains(err.Error(), "hostkit-vnc@4.socket") {
			t.Errorf("reload while tigervncserver@:4 holds port 5904: %v, want it to name hostkit-vnc@4.socket", err)
		}
		waitProp(t, c, 4, "State", "failed")
		if got, _ := vncProp(t, c, 4, "LastError").(string); !strings.Contains(got, "port 5904") {
			t.Errorf("LastError of :4 = %q, want it to speak of port 5904", got)
		}
		// Named, with the unit that opened its session; ended on request.
		_, err := c.Exec("hostkitctl", "vnc", "clean", ":4")
		for _, w := range []string{"display :4 is held by pid ", " Xtigervnc of user " + vncOther + ", unit tigervncserver@:4.service (its login session session-",
			"port 5904", "--kill"} {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("clean :4: %v\nwant %q", err, w)
			}
		}
		mustExec(t, c, "hostkitctl", "vnc", "clean", ":4", "--kill")
		mustExec(t, c, "hostkitctl", "vnc", "reload")
		waitProp(t, c, 4, "State", "waiting")
		if got := rfbGreeting(t, c, 5904); got != "RFB 003.008" {
			t.Errorf(":4 after the switch: %q", got)
		}
		waitProp(t, c, 4, "State", "running")
		// Start=boot: the reload started :3 without a viewer.
		waitProp(t, c, 3, "State", "running")
	})

	log.step(t, "9_sandbox", func(t *testing.T) {
		checkExposure(t, c, 2.0, "hostkit-vncd.service")
		// The display runs a desktop session as its user: it needs more than the manager.
		checkExposure(t, c, 4.0, "hostkit-vnc@1.service")
	})

	log.step(t, "10_reboot", func(t *testing.T) {
		if err := c.Reboot(); err != nil {
			t.Fatal(err)
		}
		if got := isActiveUnit(c, "hostkit-vnc@1.socket"); got != "active" {
			t.Fatalf("after the reboot hostkit-vnc@1.socket is %s, want active", got)
		}
		if out, _ := c.Exec("pgrep", "-f", "^Xvnc :1 "); out != "" {
			t.Errorf("Xvnc of :1 runs after the reboot before anyone connected: %s", out)
		}
		if got := vncProp(t, c, 1, "MainPID"); got != float64(0) {
			t.Errorf("MainPID of :1 after the reboot = %v, want 0", got)
		}
		waitProp(t, c, 3, "State", "running") // Start=boot
		if got := rfbGreeting(t, c, 5901); got != "RFB 003.008" {
			t.Errorf("after the reboot: %q", got)
		}
		waitProp(t, c, 1, "State", "running")
	})
}

func isActiveUnit(c *testcontainer.Container, unit string) string {
	out, _ := c.Exec("systemctl", "is-active", unit)
	return strings.TrimSpace(out)
}

// rfbGreeting connects to port inside the container and returns the first 12 bytes the
// server sends, without the newline (bash's /dev/tcp: the base root has no other client).
func rfbGreeting(t *testing.T, c *testcontainer.Container, port int) string {
	t.Helper()
	out, err := c.Exec("timeout", "20", "bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d; head -c 12 <&3", port))
	if err != nil {
		t.Fatalf("connecting to port %d: %v", port, err)
	}
	return strings.TrimSuffix(out, "\n")
}

// listening reports whether a TCP socket listens on port, from /proc/net/tcp.
func listening(t *testing.T, c *testcontainer.Container, port int) bool {
	t.Helper()
	out := mustExec(t, c, "cat", "/proc/net/tcp", "/proc/net/tcp6")
	re := regexp.MustCompile(fmt.Sprintf(`(?m)^\s*\d+: [0-9A-F]+:%04X [0-9A-F]+:0000 0A `, port))
	return re.MatchString(out)
}

func pgrep(c *testcontainer.Container, name string) []string {
	out, _ := c.Exec("pgrep", "-x", name)
	return lines(out)
}

func vncPropErr(c *testcontainer.Container, n int, name string) (any, error) {
	out, err := c.Exec("busctl", "--json=short", "get-property", vncBus, fmt.Sprintf("/org/hostkit/VNC1/display/%d", n), vncDisplay, name)
	if err != nil {
		return nil, err
	}
	var v struct{ Data any }
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		return nil, fmt.Errorf("busctl printed %q: %w", out, err)
	}
	return v.Data, nil
}

func vncProp(t *testing.T, c *testcontainer.Container, n int, name string) any {
	t.Helper()
	v, err := vncPropErr(c, n, name)
	if err != nil {
		t.Fatalf("property %s of display :%d: %v", name, n, err)
	}
	return v
}

func waitProp(t *testing.T, c *testcontainer.Container, n int, name string, want any) {
	t.Helper()
	var got any
	if !eventually(30*time.Second, func() bool { got, _ = vncPropErr(c, n, name); return got == want }) {
		journal, _ := c.Exec("journalctl", "--no-pager", "-n", "40", "-u", fmt.Sprintf("hostkit-vnc@%d.service", n))
		t.Fatalf("property %s of display :%d is %v after 30 s, want %v; LastError %v; the journal of its unit:\n%s",
			name, n, got, want, vncProp(t, c, n, "LastError"), journal)
	}
}
