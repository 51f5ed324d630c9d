// Package vnc is the logic of hostkit-vncd: vnc.conf and its checks, the units the
// generator writes for each display, what runs inside a display's unit (Xvnc and the
// session), the diagnosis of stale displays, the importer of TigerVNC configurations, and
// small clients of the X11 and RFB protocols for screenshots and blank-desktop detection.
// Nothing here speaks to the hostkit bus; see cmd/hostkit-vncd for that.
package vnc

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hostkit/hostkit/internal/config"
)

// Port bases: a display :N takes RFB port 5900+N and, when X listens on TCP, 6000+N.
const (
	RFBPortBase = 5900
	XPortBase   = 6000
	// MaxNumber keeps 5900+N a valid TCP port.
	MaxNumber = 65535 - RFBPortBase
)

// Start= values.
const (
	StartOnConnect = "on-connect"
	StartBoot      = "boot"
)

// Defaults of the [Display] keys.
const (
	DefaultWidth, DefaultHeight = 1280, 800
	DefaultDepth                = 24
	DefaultListen               = "127.0.0.1"
)

// Display is one [Display] section of vnc.conf.
type Display struct {
	At            config.Place // the [Display] header
	Number        int          // -1 until Number= is set
	User          string
	Width, Height int
	Depth         int
	// Session is a shell command, or the name of a desktop file in /usr/share/xsessions
	// (see ResolveSession).
	Session       string
	Listen        string   // an IP address, as written (localhost reads as 127.0.0.1)
	SecurityTypes []string // canonical names, e.g. VncAuth
	Start         string   // StartOnConnect or StartBoot
	XvncOptions   []string // normalized words, checked against KnownXvncOptions
	AllowRoot     bool
	// PasswordFile is the VNC password file (written by vncpasswd); empty means the
	// user's ~/.vnc/passwd, or ~/.config/tigervnc/passwd where only that exists.
	PasswordFile string
}

// Name is the display as X writes it, ":N".
func (d *Display) Name() string { return ":" + strconv.Itoa(d.Number) }

// Port is the RFB port 5900+N.
func (d *Display) Port() uint16 { return uint16(RFBPortBase + d.Number) }

// XPort is X's TCP port 6000+N.
func (d *Display) XPort() int { return XPortBase + d.Number }

// ServiceUnit and SocketUnit name the display's systemd units.
func (d *Display) ServiceUnit() string { return ServiceUnit(d.Number) }
func (d *Display) SocketUnit() string  { return SocketUnit(d.Number) }

// ServiceUnit is the unit that runs display n's Xvnc and session.
func ServiceUnit(n int) string { return fmt.Sprintf("hostkit-vnc@%d.service", n) }

// SocketUnit is the unit that holds display n's listening socket.
func SocketUnit(n int) string { return fmt.Sprintf("hostkit-vnc@%d.socket", n) }

// Geometry is WIDTHxHEIGHT.
func (d *Display) Geometry() string { return fmt.Sprintf("%dx%d", d.Width, d.Height) }

// ListenAddress is the address:port systemd's ListenStream= takes.
func (d *Display) ListenAddress() string {
	return net.JoinHostPort(d.Listen, strconv.Itoa(int(d.Port())))
}

// LocalOnly reports whether Listen= is a loopback address, reachable only from this host.
func (d *Display) LocalOnly() bool {
	ip := net.ParseIP(d.Listen)
	return ip != nil && ip.IsLoopback()
}

// NeedsPassword reports whether a security type of the display asks for the VNC password.
func (d *Display) NeedsPassword() bool {
	for _, s := range d.SecurityTypes {
		if securityTypes[strings.ToLower(s)].password {
			return true
		}
	}
	return false
}

// Config is vnc.conf: its displays in file order and the [Daemon] settings.
type Config struct {
	Displays    []*Display
	IdleTimeout time.Duration
}

// Display returns display n, or nil.
func (c *Config) Display(n int) *Display {
	for _, d := range c.Displays {
		if d.Number == n {
			return d
		}
	}
	return nil
}

// securityType describes one of Xvnc's -SecurityTypes.
type securityType struct {
	name     string
	password bool   // asks for the VNC password file
	noAuth   bool   // lets anyone who reaches the port in
	refused  string // why hostkit does not offer it
}

var securityTypes = map[string]securityType{}

func init() {
	plain := "it checks passwords with PAM as the display's user, who cannot read /etc/shadow; use VncAuth or TLSVnc"
	for _, s := range []securityType{
		{name: "None", noAuth: true},
		{name: "VncAuth", password: true},
		{name: "TLSNone", noAuth: true},
		{name: "TLSVnc", password: true},
		{name: "X509None", noAuth: true},
		{name: "X509Vnc", password: true},
		{name: "Plain", refused: plain},
		{name: "TLSPlain", refused: plain},
		{name: "X509Plain", refused: plain},
	} {
		securityTypes[strings.ToLower(s.name)] = s
	}
}

// Load reads vnc.conf at path and its drop-ins. Every value is checked as it is read, and
// the first bad one is an error naming file and line; a file that loads may still have
// displays that Problems refuses.
func Load(path string) (*Config, error) {
	c := &Config{IdleTimeout: config.DefaultIdleTimeout}
	newDisplay := func(at config.Place) []config.Option {
		d := &Display{At: at, Number: -1, Width: DefaultWidth, Height: DefaultHeight, Depth: DefaultDepth,
			Listen: DefaultListen, SecurityTypes: []string{"VncAuth"}, Start: StartOnConnect}
		c.Displays = append(c.Displays, d)
		return []config.Option{
			{Key: "Number", Set: d.setNumber},
			{Key: "User", Set: d.setUser},
			{Key: "Geometry", Set: d.setGeometry},
			{Key: "Depth", Set: d.setDepth},
			{Key: "Session", Set: config.String(&d.Session)},
			{Key: "Listen", Set: d.setListen},
			{Key: "SecurityTypes", Set: d.setSecurityTypes},
			{Key: "Start", Set: d.setStart},
			{Key: "XvncOptions", Set: d.setXvncOptions},
			{Key: "AllowRoot", Set: config.Bool(&d.AllowRoot)},
			{Key: "PasswordFile", Set: config.AbsPath(&d.PasswordFile)},
		}
	}
	err := config.Load(path, config.DaemonOptions(&c.IdleTimeout),
		config.Repeated{Section: "Display", New: newDisplay})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (d *Display) setNumber(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > MaxNumber || strconv.Itoa(n) != v {
		return fmt.Errorf("not a display number (0 to %d; Number=1 is :1 on port 5901)", MaxNumber)
	}
	d.Number = n
	return nil
}

func (d *Display) setUser(v string) error {
	if v == "" || strings.ContainsAny(v, " \t/:\\\"'") || strings.HasPrefix(v, "-") {
		return errors.New("not a user name")
	}
	d.User = v
	return nil
}

// MaxSide is the largest width or height hostkit passes to Xvnc.
const MaxSide = 16384

func (d *Display) setGeometry(v string) error {
	w, h, err := ParseGeometry(v)
	if err != nil {
		return err
	}
	d.Width, d.Height = w, h
	return nil
}

// ParseGeometry reads WIDTHxHEIGHT, each from 16 to MaxSide pixels.
func ParseGeometry(v string) (w, h int, err error) {
	ws, hs, ok := strings.Cut(strings.ToLower(v), "x")
	bad := fmt.Errorf("not a geometry (WIDTHxHEIGHT, e.g. 1280x800, each side 16 to %d)", MaxSide)
	if !ok {
		return 0, 0, bad
	}
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if err1 != nil || err2 != nil || w < 16 || h < 16 || w > MaxSide || h > MaxSide ||
		strconv.Itoa(w) != ws || strconv.Itoa(h) != hs {
		return 0, 0, bad
	}
	return w, h, nil
}

func (d *Display) setDepth(v string) error {
	switch v {
	case "16", "24", "32":
		d.Depth, _ = strconv.Atoi(v)
		return nil
	case "8":
		return errors.New("depth 8 is not offered: Xvnc's 8-bit pseudo-colour breaks most programs (use 16, 24 or 32)")
	}
	return errors.New("not a depth (16, 24 or 32)")
}

func (d *Display) setListen(v string) error {
	if v == "" || strings.EqualFold(v, "localhost") {
		d.Listen = DefaultListen
		return nil
	}
	ip := net.ParseIP(strings.Trim(v, "[]"))
	if ip == nil || strings.Contains(v, "%") {
		return errors.New("not an IP address (e.g. 127.0.0.1, ::1, 192.0.2.10, or 0.0.0.0 for every address)")
	}
	d.Listen = ip.String()
	return nil
}

func (d *Display) setSecurityTypes(v string) error {
	var types []string
	seen := map[string]bool{}
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		st, ok := securityTypes[strings.ToLower(f)]
		if !ok {
			return fmt.Errorf("unknown security type %q (known: %s)", f, knownSecurityTypes())
		}
		if st.refused != "" {
			return fmt.Errorf("security type %s is not offered: %s", st.name, st.refused)
		}
		if !seen[st.name] {
			seen[st.name] = true
			types = append(types, st.name)
		}
	}
	if len(types) == 0 {
		return errors.New("no security type (e.g. SecurityTypes=VncAuth)")
	}
	d.SecurityTypes = types
	return nil
}

func knownSecurityTypes() string {
	var names []string
	for _, s := range securityTypes {
		if s.refused == "" {
			names = append(names, s.name)
		}
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

func (d *Display) setStart(v string) error {
	switch v {
	case StartOnConnect, StartBoot:
		d.Start = v
		return nil
	}
	return fmt.Errorf("not a start mode (%s or %s)", StartOnConnect, StartBoot)
}

func (d *Display) setXvncOptions(v string) error {
	if v == "" {
		d.XvncOptions = nil // as systemd empties a list
		return nil
	}
	opts, err := ParseXvncOptions(v)
	if err != nil {
		return err
	}
	d.XvncOptions = append(d.XvncOptions, opts...)
	return nil
}

// Problem is a display that Problems refuses, and why.
type Problem struct {
	Display *Display
	Err     error // a *config.Error naming file and line
}

func (p Problem) Error() string { return p.Err.Error() }

// Problems checks what one value cannot tell: keys a display lacks, two displays with one
// number, a display whose RFB port is another one's X port, SecurityTypes=None on an
// address others reach, root without AllowRoot=yes. The first display of a number wins;
// a later one is the problem. Nothing here asks the system (see CheckHost).
func (c *Config) Problems() []Problem {
	var out []Problem
	bad := func(d *Display, format string, args ...any) {
		out = append(out, Problem{d, config.Errorf(d.At, "display %s: "+format, append([]any{d.Name()}, args...)...)})
	}
	first := map[int]*Display{}
	for _, d := range c.Displays {
		if d.Number < 0 {
			out = append(out, Problem{d, config.Errorf(d.At, "[Display] without Number= (e.g. Number=1 for :1 on port 5901)")})
			continue
		}
		if f, ok := first[d.Number]; ok {
			bad(d, "configured twice (first at %s); a display's number never moves: remove one of them", f.At)
			continue
		}
		first[d.Number] = d
		switch {
		case d.User == "":
			bad(d, "no User= (the account whose desktop this is)")
		case d.User == "root" && !d.AllowRoot:
			bad(d, "User=root is refused: a desktop as root puts every program in it beyond the sandbox; use another account, or set AllowRoot=yes")
		case d.Session == "":
			bad(d, "no Session= (a command such as Session=xterm, or a desktop file name from /usr/share/xsessions)")
		case !d.LocalOnly() && d.hasNoAuth():
			bad(d, "SecurityTypes=%s lets anyone who reaches %s in without a password: use it only with Listen=127.0.0.1 (and ssh -L), or use VncAuth",
				strings.Join(d.SecurityTypes, ","), d.Listen)
		}
	}
	// Ports: display N's 5900+N against display M's 6000+M (N = M+100).
	for _, d := range c.Displays {
		if first[d.Number] != d {
			continue
		}
		if other, ok := first[d.Number-(XPortBase-RFBPortBase)]; ok && d.Number >= XPortBase-RFBPortBase {
			bad(d, "its VNC port %d is the X port of display %s (6000+%d, at %s): choose another number",
				d.Port(), other.Name(), other.Number, other.At)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return lessPlace(out[i].Display.At, out[j].Display.At, c) })
	return out
}

// lessPlace orders places as Load read them: by file order of the displays.
func lessPlace(a, b config.Place, c *Config) bool {
	index := func(p config.Place) int {
		for i, d := range c.Displays {
			if d.At == p {
				return i
			}
		}
		return len(c.Displays)
	}
	return index(a) < index(b)
}

func (d *Display) hasNoAuth() bool {
	for _, s := range d.SecurityTypes {
		if securityTypes[strings.ToLower(s)].noAuth {
			return true
		}
	}
	return false
}

// Usable returns the displays Problems does not refuse, in file order.
func (c *Config) Usable() []*Display {
	refused := map[*Display]bool{}
	for _, p := range c.Problems() {
		refused[p.Display] = true
	}
	var out []*Display
	for _, d := range c.Displays {
		if !refused[d] {
			out = append(out, d)
		}
	}
	return out
}

// ProblemOf returns the problem of display n, or nil.
func (c *Config) ProblemOf(n int) error {
	for _, p := range c.Problems() {
		if p.Display.Number == n && c.Display(n) == p.Display {
			return p.Err
		}
	}
	return nil
}
