package vnc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hostkit/hostkit/internal/config"
)

// What a display's unit tells hostkit-vncd, which may not be running while the display
// is: the live state in the unit's status line (sd_notify STATUS=, a property systemd keeps
// and signals), and the post-mortem in files of the unit's runtime directory
// /run/hostkit-vnc/N (RuntimeDirectory=, preserved while the machine is up).

// RuntimeBase holds the runtime directory of every display.
const RuntimeBase = "/run/hostkit-vnc"

// RuntimeDir is display n's runtime directory.
func RuntimeDir(n int) string { return filepath.Join(RuntimeBase, strconv.Itoa(n)) }

// Files in a display's runtime directory.
const (
	LastExitFile      = "last-exit"      // how the display's process last ended: "signal KILL", "status 1"
	LastErrorFile     = "last-error"     // why the last start failed, with the output that says so
	StaleCleanupsFile = "stale-cleanups" // how many stale claims were removed before starts
	HeldFile          = "held"           // written before a start when a live process holds the display
	LoginSessionFile  = "login-session"  // the display's logind session: its id and scope unit
	exitHintFile      = "exit-hint"      // the signal that ended Xvnc, when the exit status cannot carry it
)

// Exit statuses of `hostkit-vncd session`, besides those it passes on from Xvnc. The unit
// does not restart after them (RestartPreventExitStatus=): trying again cannot help.
const (
	ExitConfig      = 78 // the display's configuration or password file is refused
	ExitStartFailed = 79 // Xvnc or the session failed at start
	ExitHeld        = 80 // a live process holds the display
)

var exitMeanings = map[int]string{
	ExitConfig:      "configuration refused",
	ExitStartFailed: "failed at start",
	ExitHeld:        "display held by another process",
}

// Live is a running display as its status line tells it.
type Live struct {
	Number  int
	Address string // where it listens, host:port
	XvncPID int
	Clients int
	Blank   bool
}

// Status is the line `systemctl status` shows and hostkit-vncd reads.
func (l Live) Status() string {
	s := fmt.Sprintf("Serving :%d on %s (Xvnc pid %d): %d client", l.Number, l.Address, l.XvncPID, l.Clients)
	if l.Clients != 1 {
		s += "s"
	}
	if l.Blank {
		s += ", desktop blank"
	}
	return s
}

var statusRE = regexp.MustCompile(`^Serving :(\d+) on (\S+) \(Xvnc pid (\d+)\): (\d+) clients?(, desktop blank)?$`)

// ParseStatus reads a line Status wrote; ok is false for any other line.
func ParseStatus(s string) (l Live, ok bool) {
	m := statusRE.FindStringSubmatch(s)
	if m == nil {
		return Live{}, false
	}
	l.Number, _ = strconv.Atoi(m[1])
	l.Address = m[2]
	l.XvncPID, _ = strconv.Atoi(m[3])
	l.Clients, _ = strconv.Atoi(m[4])
	l.Blank = m[5] != ""
	return l, true
}

// DescribeExit turns what systemd passes to ExecStopPost= ($EXIT_CODE: exited, killed or
// dumped; $EXIT_STATUS: a number or a signal name) into LastExit: "status 1",
// "signal KILL", "status 79 (failed at start)". hint is the signal the process named
// before it exited 128+signal, or "".
func DescribeExit(code, status, hint string) string {
	switch code {
	case "killed", "dumped":
		s := "signal " + strings.TrimPrefix(status, "SIG")
		if code == "dumped" {
			s += " (core dumped)"
		}
		return s
	case "exited":
		n, err := strconv.Atoi(status)
		if err != nil {
			return "status " + status
		}
		if hint != "" && n > 128 && SignalName(syscall.Signal(n-128)) == hint {
			return "signal " + hint
		}
		if m, ok := exitMeanings[n]; ok {
			return fmt.Sprintf("status %d (%s)", n, m)
		}
		return "status " + status
	}
	return ""
}

// SignalName is the signal's name without SIG: KILL, TERM, SEGV.
func SignalName(s syscall.Signal) string {
	return strings.TrimPrefix(unix.SignalName(s), "SIG")
}

// RecordExit writes LastExit into dir from ExecStopPost='s environment; see DescribeExit.
func RecordExit(dir, code, status string) error {
	hint := ReadRuntimeFile(dir, exitHintFile)
	os.Remove(filepath.Join(dir, exitHintFile))
	text := DescribeExit(code, status, hint)
	if text == "" {
		return nil // the main process never ran (a failed ExecStartPre=)
	}
	return writeFile(filepath.Join(dir, LastExitFile), text+"\n")
}

// RecordOutcome writes LastExit for the end the display's process is about to make, as
// RecordExit will describe it from systemd's $EXIT_CODE and $EXIT_STATUS. Both write:
// the process itself knows why it ends (and systemd's ExecStopPost= may fail to run,
// 219/CGROUP was seen in containers), and only systemd sees the end of a process killed
// from outside.
func RecordOutcome(dir string, out Outcome) error {
	var text string
	switch {
	case out.Signal != 0:
		text = DescribeExit("killed", SignalName(out.Signal), "")
	case out.Code > 128:
		text = DescribeExit("exited", strconv.Itoa(out.Code), SignalName(syscall.Signal(out.Code-128)))
	default:
		text = DescribeExit("exited", strconv.Itoa(out.Code), "")
	}
	return writeFile(filepath.Join(dir, LastExitFile), text+"\n")
}

// maxRuntimeFile caps what is read from a runtime directory.
const maxRuntimeFile = 64 << 10

// ReadRuntimeFile returns a file of a display's runtime directory, trimmed; "" when
// missing, or not a regular file of at most 64 KiB. The directory belongs to the
// display's user, and root reads from it: a FIFO is not waited on, a symbolic link not
// followed.
func ReadRuntimeFile(dir, name string) string {
	data, err := readRuntime(filepath.Join(dir, name), maxRuntimeFile)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// readRuntime reads a regular file of at most limit bytes without following a final
// symbolic link or blocking on a FIFO.
func readRuntime(path string, limit int64) ([]byte, error) {
	f, err := config.OpenFile(path, syscall.O_NOFOLLOW, false)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return config.ReadAtMost(f, limit)
}

// AddStaleCleanups adds n to the display's count of stale claims removed.
func AddStaleCleanups(dir string, n int) error {
	old, _ := strconv.Atoi(ReadRuntimeFile(dir, StaleCleanupsFile))
	return writeFile(filepath.Join(dir, StaleCleanupsFile), strconv.Itoa(old+n)+"\n")
}

// writeFile replaces path atomically, readable by its owner's group and others (the files
// say nothing secret; the directory decides who reaches them). See writeFileMode.
func writeFile(path, text string) error { return writeFileMode(path, []byte(text), 0o644) }

// writeFileMode replaces path atomically with data. Root writes into directories the
// display's user owns: the new file gets a fresh random name, created exclusively (a
// link the user put there is never followed), and is renamed over path, which replaces
// whatever path was without following it either.
func writeFileMode(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// WriteRuntimeFile replaces a file of a display's runtime directory (see writeFileMode).
func WriteRuntimeFile(dir, name string, data []byte) error {
	return writeFileMode(filepath.Join(dir, name), data, 0o644)
}

// ReadRuntimeData reads a file of a display's runtime directory as ReadRuntimeFile does,
// with errors.
func ReadRuntimeData(dir, name string) ([]byte, error) {
	return readRuntime(filepath.Join(dir, name), maxRuntimeFile)
}

// removeFile removes path; a missing file is fine.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// LoginSession is the logind session the display's processes run in: pam_systemd moved
// them out of hostkit-vnc@N.service into a scope of their own, which outlives the
// service unless the session is ended (see TerminateLoginSession).
type LoginSession struct {
	ID    string // $XDG_SESSION_ID
	Scope string // session-ID.scope
}

// RecordLoginSession notes the session of the calling process, when it has one (a
// display started by systemd with PAMName=; not one run by hand or by the tests).
func RecordLoginSession(dir string, env []string) error {
	var id string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "XDG_SESSION_ID="); ok {
			id = v
		}
	}
	path := filepath.Join(dir, LoginSessionFile)
	if id == "" {
		return removeFile(path)
	}
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return err
	}
	return writeFile(path, id+" "+unitOfCgroup(string(cg))+"\n")
}

// ReadLoginSession returns the session RecordLoginSession noted, or ok false.
func ReadLoginSession(dir string) (s LoginSession, ok bool) {
	f := strings.Fields(ReadRuntimeFile(dir, LoginSessionFile))
	if len(f) != 2 || !strings.HasSuffix(f[1], ".scope") {
		return s, false
	}
	return LoginSession{ID: f[0], Scope: f[1]}, true
}

// RecordError keeps why a start failed as LastError.
func RecordError(dir, message string) error {
	return writeFile(filepath.Join(dir, LastErrorFile), message+"\n")
}
