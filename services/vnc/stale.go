package vnc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Before display :N starts, everything that claims :N is looked at: the lock file
// /tmp/.XN-lock, the X socket (the file /tmp/.X11-unix/XN and the abstract one of the same
// name), and the ports 5900+N and 6000+N. A claim by a process that is gone is stale and
// removed; a claim by a live process is a holder, named with pid, command, user and unit.

// Holder is a live process that holds part of a display.
type Holder struct {
	PID     int    `json:"pid"`
	Command string `json:"command"`
	User    string `json:"user"`
	Unit    string `json:"unit,omitempty"`
	// OpenedBy is, for a process in a login session's scope, the unit of the process
	// that opened the session: tigervncserver@:1.service for a vncsession, ssh.service
	// for an ssh login.
	OpenedBy string `json:"opened_by,omitempty"`
}

func (h Holder) String() string {
	s := fmt.Sprintf("pid %d %s of user %s", h.PID, h.Command, h.User)
	switch {
	case h.OpenedBy != "":
		s += ", unit " + h.OpenedBy + " (its login session " + h.Unit + ")"
	case h.Unit != "":
		s += ", unit " + h.Unit
	}
	return s
}

// Finding is one claim on the display.
type Finding struct {
	What   string  `json:"what"`   // e.g. "lock file /tmp/.X1-lock", "port 5901"
	Stale  bool    `json:"stale"`  // nobody alive behind it: Path can go
	Path   string  `json:"path"`   // the file to remove when stale
	Reason string  `json:"reason"` // why it is stale, or what holds it
	Holder *Holder `json:"holder,omitempty"`
}

// Diagnosis is what Diagnose found about display :Number.
type Diagnosis struct {
	Number   int       `json:"number"`
	Findings []Finding `json:"findings"`
}

// Holders returns the live processes holding the display, each once.
func (d *Diagnosis) Holders() []Holder {
	var out []Holder
	seen := map[int]bool{}
	for _, f := range d.Findings {
		if f.Holder != nil && !seen[f.Holder.PID] {
			seen[f.Holder.PID] = true
			out = append(out, *f.Holder)
		}
	}
	return out
}

// HeldError says who holds the display, or is nil when nobody alive does.
func (d *Diagnosis) HeldError() error {
	hs := d.Holders()
	if len(hs) == 0 {
		return nil
	}
	var parts []string
	for _, h := range hs {
		var what []string
		for _, f := range d.Findings {
			if f.Holder != nil && f.Holder.PID == h.PID && !slices.Contains(what, f.What) {
				what = append(what, f.What) // a port on IPv4 and IPv6 once
			}
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", h, strings.Join(what, ", ")))
	}
	return fmt.Errorf("display :%d is held by %s", d.Number, strings.Join(parts, "; "))
}

// Host is where Diagnose looks: the directory of X's lock and socket files and /proc.
// Ours tells the display's own holders apart (systemd holding the display's socket unit,
// a process of the display's unit); they are not findings.
type Host struct {
	Tmp      string // "/tmp"
	Proc     string // "/proc"
	Sessions string // logind's session files, "/run/systemd/sessions"; "": none
	Ours     func(h Holder) bool
	// UnitByPID asks systemd which service has pid as its main process (a service
	// keeps its main process even after pam_systemd moved it into a session's scope),
	// "" for none; nil where systemd cannot be asked.
	UnitByPID func(pid int) string
}

// SystemHost is this machine, with socketHolder (systemd, PID 1, which holds the socket
// unit's listening socket), the processes of the display's own unit and those of scope,
// its login session's scope (none: ""), as ours.
func SystemHost(n, socketHolder int, scope string) Host {
	unit := ServiceUnit(n)
	return Host{Tmp: "/tmp", Proc: "/proc", Sessions: "/run/systemd/sessions", Ours: func(h Holder) bool {
		return h.PID == socketHolder || h.Unit == unit || scope != "" && h.Unit == scope
	}}
}

// LockPath and SocketPath are display n's lock file and X socket file under tmp.
func LockPath(tmp string, n int) string { return filepath.Join(tmp, fmt.Sprintf(".X%d-lock", n)) }
func SocketPath(tmp string, n int) string {
	return filepath.Join(tmp, ".X11-unix", fmt.Sprintf("X%d", n))
}

// Diagnose looks at everything that claims display n.
func Diagnose(n int, host Host) (*Diagnosis, error) {
	d := &Diagnosis{Number: n}
	sockets, err := listeningSockets(host.Proc)
	if err != nil {
		return nil, err
	}
	owners := socketOwners(host.Proc)
	holder := func(inode uint64) *Holder {
		pid, ok := owners[inode]
		if !ok {
			return nil
		}
		h := describeProcess(host, pid)
		if host.Ours != nil && host.Ours(h) {
			return nil
		}
		return &h
	}

	// The X socket: the abstract one is held for as long as its listener lives; the
	// file is stale when nothing accepts on it.
	sockPath := SocketPath(host.Tmp, n)
	abstract := "@/tmp/.X11-unix/X" + strconv.Itoa(n)
	xAccepts := false
	for _, s := range sockets.unix {
		if s.path != abstract && s.path != sockPath {
			continue
		}
		xAccepts = true
		if h := holder(s.inode); h != nil {
			what := "X socket " + s.path
			d.Findings = append(d.Findings, Finding{What: what, Reason: "accepts X connections: " + h.String(), Holder: h})
		}
	}
	if _, err := os.Lstat(sockPath); err == nil && !listensOn(sockets.unix, sockPath) {
		if !connects(sockPath) {
			d.Findings = append(d.Findings, Finding{What: "X socket file " + sockPath, Stale: true, Path: sockPath,
				Reason: "nothing accepts on it"})
		} else {
			xAccepts = true
		}
	}

	// The lock file, as X servers write it: the pid in ten columns.
	lockPath := LockPath(host.Tmp, n)
	if _, err := os.Lstat(lockPath); err == nil {
		f := Finding{What: "lock file " + lockPath, Path: lockPath}
		// /tmp is everybody's: whatever is there is read as a lock only when it is a
		// small regular file (not a FIFO to hang on, not a link to follow).
		data, rerr := readRuntime(lockPath, 64)
		pid, perr := strconv.Atoi(strings.TrimSpace(string(data)))
		switch {
		case rerr != nil:
			f.Stale, f.Reason = true, fmt.Sprintf("not a lock file: %v", rerr)
		case perr != nil || pid <= 0:
			f.Stale, f.Reason = true, fmt.Sprintf("it holds no pid (%q)", truncate(string(data), 20))
		case !alive(host.Proc, pid):
			f.Stale, f.Reason = true, fmt.Sprintf("pid %d in it is dead", pid)
		default:
			h := describeProcess(host, pid)
			switch {
			case host.Ours != nil && host.Ours(h):
				f.What = "" // our own Xvnc
			case !isXServer(h.Command) && !xAccepts:
				f.Stale, f.Reason = true, fmt.Sprintf("pid %d in it is %s, not an X server, and nothing accepts on the X socket", pid, h.Command)
			default:
				f.Reason, f.Holder = "names a live process: "+h.String(), &h
			}
		}
		if f.What != "" {
			d.Findings = append(d.Findings, f)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("display :%d: looking at %s: %w", n, lockPath, err)
	}

	// The ports: VNC's 5900+N and X's 6000+N.
	for _, port := range []int{RFBPortBase + n, XPortBase + n} {
		if port > 65535 {
			continue
		}
		for _, s := range sockets.tcp {
			if s.port != port {
				continue
			}
			if h := holder(s.inode); h != nil {
				d.Findings = append(d.Findings, Finding{What: fmt.Sprintf("port %d", port),
					Reason: fmt.Sprintf("listening on %s: %s", net.JoinHostPort(s.addr, strconv.Itoa(port)), h), Holder: h})
			}
		}
	}
	return d, nil
}

// Clean removes the stale files d found and, with kill, ends the live holders first
// (SIGTERM, then SIGKILL after grace) and removes what they leave behind. It returns what
// it removed and whom it ended; it never signals PID 1.
func Clean(d *Diagnosis, host Host, kill bool, grace time.Duration) (removed []string, ended []Holder, err error) {
	if kill {
		for _, h := range d.Holders() {
			if h.PID <= 1 {
				continue
			}
			if err := terminate(host.Proc, h.PID, grace); err != nil {
				return removed, ended, fmt.Errorf("display :%d: ending %s: %w", d.Number, h, err)
			}
			ended = append(ended, h)
		}
		if len(ended) > 0 {
			if d, err = Diagnose(d.Number, host); err != nil {
				return removed, ended, err
			}
		}
	}
	for _, f := range d.Findings {
		if !f.Stale || f.Path == "" {
			continue
		}
		if err := os.Remove(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, ended, fmt.Errorf("display :%d: removing stale %s: %w", d.Number, f.What, err)
		}
		removed = append(removed, f.What+" ("+f.Reason+")")
	}
	return removed, ended, nil
}

func terminate(proc string, pid int, grace time.Duration) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !alive(proc, pid) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	for i := 0; i < 100 && alive(proc, pid); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// isXServer tells X servers by their command name (Xorg, Xvnc, Xtigervnc, Xvfb, ...).
func isXServer(comm string) bool {
	if comm == "X" {
		return true
	}
	return len(comm) > 1 && comm[0] == 'X' && comm[1] >= 'a' && comm[1] <= 'z' && !strings.ContainsAny(comm, " -")
}

// alive reports whether pid exists and is not a zombie.
func alive(proc string, pid int) bool {
	data, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i < 0 || i+2 >= len(data) || data[i+2] != 'Z'
}

// describeProcess names pid: command, user and the unit its cgroup says.
func describeProcess(host Host, pid int) Holder {
	proc := host.Proc
	h := Holder{PID: pid, Command: "?", User: "?"}
	dir := filepath.Join(proc, strconv.Itoa(pid))
	if comm, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
		h.Command = strings.TrimSpace(string(comm))
	}
	if status, err := os.ReadFile(filepath.Join(dir, "status")); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "Uid:" {
				h.User = f[1]
				if u, err := user.LookupId(f[1]); err == nil {
					h.User = u.Username
				}
			}
		}
	}
	h.Unit = unitOf(proc, pid)
	if id, ok := strings.CutPrefix(strings.TrimSuffix(h.Unit, ".scope"), "session-"); ok && strings.HasSuffix(h.Unit, ".scope") {
		// The session's leader called pam_open_session; what started it is outside the
		// scope. The holder's own parents may not lead there: servers daemonize.
		start := pid
		if leader := sessionLeader(host.Sessions, id); leader > 0 {
			start = leader
			if host.UnitByPID != nil {
				if u := host.UnitByPID(leader); u != "" && u != h.Unit {
					h.OpenedBy = u
					return h
				}
			}
		}
		h.OpenedBy = sessionOpener(proc, start, h.Unit)
	}
	return h
}

// sessionLeader reads LEADER= from logind's file of session id, or 0.
func sessionLeader(dir, id string) int {
	if dir == "" {
		return 0
	}
	data, err := os.ReadFile(filepath.Join(dir, id))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "LEADER="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

func unitOf(proc string, pid int) string {
	cg, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return ""
	}
	return unitOfCgroup(string(cg))
}

// sessionOpener follows pid and its parents out of the login session's scope: the first
// one outside it opened the session (pam_systemd moved only its child in), and its unit
// says what did.
func sessionOpener(proc string, pid int, scope string) string {
	for i := 0; i < 32 && pid > 1; i++ {
		if u := unitOf(proc, pid); u != scope {
			return u
		}
		pid = parentOf(proc, pid)
	}
	return ""
}

// parentOf returns the parent pid from /proc/PID/stat, or 0.
func parentOf(proc string, pid int) int {
	data, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// unitOfCgroup returns the service or scope a /proc/PID/cgroup text names: the innermost
// path element ending in .service or .scope of the unified (0::) or name=systemd line.
func unitOfCgroup(text string) string {
	for _, line := range strings.Split(text, "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || (f[0] != "0" && f[1] != "name=systemd") {
			continue
		}
		parts := strings.Split(f[2], "/")
		for i := len(parts) - 1; i >= 0; i-- {
			if strings.HasSuffix(parts[i], ".service") || strings.HasSuffix(parts[i], ".scope") {
				return parts[i]
			}
		}
	}
	return ""
}

type unixSocket struct {
	path  string
	inode uint64
}

type tcpSocket struct {
	addr  string
	port  int
	inode uint64
}

type socketTable struct {
	unix []unixSocket
	tcp  []tcpSocket
}

// listeningSockets reads the listening sockets of this network namespace from
// /proc/net/unix, /proc/net/tcp and /proc/net/tcp6.
func listeningSockets(proc string) (socketTable, error) {
	var t socketTable
	data, err := os.ReadFile(filepath.Join(proc, "net", "unix"))
	if err != nil {
		return t, fmt.Errorf("reading the socket table: %w", err)
	}
	t.unix = parseUnixTable(data)
	for _, name := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(filepath.Join(proc, "net", name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // no IPv6
		}
		if err != nil {
			return t, fmt.Errorf("reading the socket table: %w", err)
		}
		t.tcp = append(t.tcp, parseTCPTable(data)...)
	}
	return t, nil
}

// parseUnixTable returns the listening sockets of a /proc/net/unix text:
// "Num RefCount Protocol Flags Type St Inode Path", listening when Flags has
// __SO_ACCEPTCON (0x10000).
func parseUnixTable(data []byte) []unixSocket {
	var out []unixSocket
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		flags, err1 := strconv.ParseUint(f[3], 16, 32)
		inode, err2 := strconv.ParseUint(f[6], 10, 64)
		if err1 != nil || err2 != nil || flags&0x10000 == 0 {
			continue
		}
		out = append(out, unixSocket{path: f[7], inode: inode})
	}
	return out
}

// parseTCPTable returns the listening sockets (st 0A) of a /proc/net/tcp or tcp6 text.
func parseTCPTable(data []byte) []tcpSocket {
	var out []tcpSocket
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != "0A" {
			continue
		}
		hexAddr, hexPort, ok := strings.Cut(f[1], ":")
		port, err1 := strconv.ParseUint(hexPort, 16, 16)
		inode, err2 := strconv.ParseUint(f[9], 10, 64)
		if !ok || err1 != nil || err2 != nil {
			continue
		}
		out = append(out, tcpSocket{addr: procNetIP(hexAddr), port: int(port), inode: inode})
	}
	return out
}

// procNetIP decodes /proc/net/tcp's address: 32-bit words in host (little-endian) order.
func procNetIP(h string) string {
	b := make([]byte, len(h)/2)
	for i := range b {
		v, err := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		if err != nil {
			return h
		}
		b[i] = byte(v)
	}
	if len(b) != 4 && len(b) != 16 {
		return h
	}
	for i := 0; i+4 <= len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	return net.IP(b).String()
}

// socketOwners maps socket inodes to the pid of a process that has them open.
func socketOwners(proc string) map[uint64]int {
	owners := map[uint64]int{}
	dirs, _ := os.ReadDir(proc)
	for _, e := range dirs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join(proc, e.Name(), "fd"))
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(proc, e.Name(), "fd", fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			inode, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64)
			if err != nil {
				continue
			}
			// The lowest pid wins: a parent (systemd) before the children it passed a socket to.
			if old, ok := owners[inode]; !ok || pid < old {
				owners[inode] = pid
			}
		}
	}
	return owners
}

func listensOn(socks []unixSocket, path string) bool {
	for _, s := range socks {
		if s.path == path {
			return true
		}
	}
	return false
}

// connects reports whether something accepts connections on the unix socket at path.
func connects(path string) bool {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
