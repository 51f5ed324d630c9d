package vnc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/hostkit/hostkit/internal/config"
)

// The importer turns what TigerVNC's and CentOS's vncserver scripts read into vnc.conf:
//
//   - /etc/tigervnc/vncserver.users   ":1=alice" per line (TigerVNC 1.10+, Debian, Fedora)
//   - ~/.vnc/config, ~/.config/tigervnc/config of each of those users: "key=value" or a
//     bare "key" per line, Xvnc's parameters plus vncsession's session=
//   - /etc/sysconfig/vncservers       VNCSERVERS="1:alice 2:bob" and
//     VNCSERVERARGS[1]="-geometry 800x600 ..." (CentOS/RHEL 6)
//
// It reads files only, under a root directory, so that a copy of another machine's /etc
// and /home can be converted too.

// Paths the importer reads, relative to its root.
const (
	UsersFile     = "/etc/tigervnc/vncserver.users"
	SysconfigFile = "/etc/sysconfig/vncservers"
)

// UserMapping is one ":N=user" of vncserver.users or "N:user" of VNCSERVERS=.
type UserMapping struct {
	Number int
	User   string
	File   string
	Line   int
}

// Note is a remark about an input line: something left out, or to check.
type Note struct {
	File string
	Line int
	Text string
}

func (n Note) String() string {
	if n.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", n.File, n.Line, n.Text)
	}
	return fmt.Sprintf("%s: %s", n.File, n.Text)
}

// ParseUsersFile reads vncserver.users: ":N=user" lines, # comments.
func ParseUsersFile(file string, data []byte) ([]UserMapping, []Note) {
	var out []UserMapping
	var notes []Note
	eachLine(data, func(n int, line string) {
		if line == "" || line[0] == '#' {
			return
		}
		num, user, ok := strings.Cut(line, "=")
		num, user = strings.TrimSpace(num), strings.TrimSpace(user)
		d, err := strconv.Atoi(strings.TrimPrefix(num, ":"))
		if !ok || !strings.HasPrefix(num, ":") || err != nil || d < 0 || d > MaxNumber || user == "" || strings.ContainsAny(user, " \t") {
			notes = append(notes, Note{file, n, fmt.Sprintf("not a :N=user line: %q", line)})
			return
		}
		out = append(out, UserMapping{Number: d, User: user, File: file, Line: n})
	})
	return out, notes
}

// ConfigLine is one setting of a TigerVNC config file.
type ConfigLine struct {
	Key, Value string
	HasValue   bool
	Line       int
}

// ParseTigerConfig reads a TigerVNC config file (~/.vnc/config): "key=value" or a bare
// "key" (a boolean turned on), # comments.
func ParseTigerConfig(file string, data []byte) ([]ConfigLine, []Note) {
	var out []ConfigLine
	var notes []Note
	eachLine(data, func(n int, line string) {
		if line == "" || line[0] == '#' {
			return
		}
		k, v, has := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if k == "" || strings.ContainsAny(k, " \t") {
			notes = append(notes, Note{file, n, fmt.Sprintf("not a key=value line: %q", line)})
			return
		}
		out = append(out, ConfigLine{Key: k, Value: strings.TrimSpace(v), HasValue: has, Line: n})
	})
	return out, notes
}

// Sysconfig is /etc/sysconfig/vncservers.
type Sysconfig struct {
	Servers []UserMapping
	Args    map[int][]string // VNCSERVERARGS[N], split into words
	ArgLine map[int]int
}

// ParseSysconfig reads the shell assignments VNCSERVERS="N:user ..." and
// VNCSERVERARGS[N]="..." of /etc/sysconfig/vncservers; anything else is noted and skipped.
func ParseSysconfig(file string, data []byte) (*Sysconfig, []Note) {
	s := &Sysconfig{Args: map[int][]string{}, ArgLine: map[int]int{}}
	var notes []Note
	eachLine(data, func(n int, line string) {
		if line == "" || line[0] == '#' {
			return
		}
		name, raw, ok := strings.Cut(line, "=")
		if !ok {
			notes = append(notes, Note{file, n, fmt.Sprintf("not an assignment: %q", line)})
			return
		}
		value, err := shellValue(raw)
		if err != nil {
			notes = append(notes, Note{file, n, err.Error()})
			return
		}
		switch {
		case name == "VNCSERVERS":
			for _, f := range strings.Fields(value) {
				num, user, ok := strings.Cut(f, ":")
				d, err := strconv.Atoi(num)
				if !ok || err != nil || d < 0 || d > MaxNumber || user == "" {
					notes = append(notes, Note{file, n, fmt.Sprintf("not an N:user pair: %q", f)})
					continue
				}
				s.Servers = append(s.Servers, UserMapping{Number: d, User: user, File: file, Line: n})
			}
		case strings.HasPrefix(name, "VNCSERVERARGS[") && strings.HasSuffix(name, "]"):
			d, err := strconv.Atoi(name[len("VNCSERVERARGS[") : len(name)-1])
			if err != nil || d < 0 || d > MaxNumber {
				notes = append(notes, Note{file, n, fmt.Sprintf("not a display number: %q", name)})
				return
			}
			words, err := splitWords(value)
			if err != nil {
				notes = append(notes, Note{file, n, err.Error()})
				return
			}
			s.Args[d], s.ArgLine[d] = words, n
		default:
			notes = append(notes, Note{file, n, fmt.Sprintf("%s= is not read by the importer", name)})
		}
	})
	return s, notes
}

// shellValue reads the right side of a shell assignment: "double", 'single' or bare.
func shellValue(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if i := strings.Index(raw, " #"); i >= 0 && !strings.ContainsAny(raw[:1], `"'`) {
		raw = strings.TrimSpace(raw[:i])
	}
	if raw == "" {
		return "", nil
	}
	q := raw[0]
	if q != '"' && q != '\'' {
		if strings.ContainsAny(raw, " \t") {
			return "", fmt.Errorf("unquoted value with spaces: %q", raw)
		}
		return raw, nil
	}
	end := strings.IndexByte(raw[1:], q)
	if end < 0 {
		return "", fmt.Errorf("unterminated quote: %q", raw)
	}
	if rest := strings.TrimSpace(raw[end+2:]); rest != "" && rest[0] != '#' {
		return "", fmt.Errorf("text after the closing quote: %q", raw)
	}
	return raw[1 : end+1], nil
}

func eachLine(data []byte, f func(n int, line string)) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		f(n, strings.TrimSpace(sc.Text()))
	}
}

// ImportedDisplay is one display the importer found, as vnc.conf keys.
type ImportedDisplay struct {
	Number int
	User   string
	From   []string // the files and lines it came from
	Keys   [][2]string
	// XvncOptions gathers the options of every input line, normalized.
	XvncOptions []string
	Notes       []Note
}

// Imported is what Import found.
type Imported struct {
	Displays []ImportedDisplay
	Notes    []Note
	// Disable are the commands that stop the old units, once hostkit has the displays.
	Disable []string
}

// Import reads the TigerVNC and sysconfig files under root ("/" for this machine) and
// converts every display they configure. Displays whose number already has a [Display]
// in existing are left out with a note. An unreadable file is an error; a missing one is
// not (most machines have only one of the formats).
func Import(root string, existing *Config) (*Imported, error) {
	im := &Imported{}
	byNumber := map[int]*ImportedDisplay{}
	add := func(m UserMapping) *ImportedDisplay {
		if existing != nil && existing.Display(m.Number) != nil {
			im.Notes = append(im.Notes, Note{m.File, m.Line, fmt.Sprintf("display :%d is in vnc.conf already (%s); left out",
				m.Number, existing.Display(m.Number).At)})
			return nil
		}
		if d, ok := byNumber[m.Number]; ok {
			im.Notes = append(im.Notes, Note{m.File, m.Line, fmt.Sprintf("display :%d was found before (%s); left out", m.Number, d.From[0])})
			return nil
		}
		var probe Display
		if err := probe.setUser(m.User); err != nil {
			im.Notes = append(im.Notes, Note{m.File, m.Line, fmt.Sprintf("user %q left out: %v", m.User, err)})
			return nil
		}
		d := &ImportedDisplay{Number: m.Number, User: m.User, From: []string{fmt.Sprintf("%s:%d", m.File, m.Line)}}
		byNumber[m.Number] = d
		return d
	}

	data, err := readOptional(root, UsersFile)
	if err != nil {
		return nil, err
	}
	tigerUnit := templateUnit(root, "tigervncserver@.service", "vncserver@.service")
	if data != nil {
		maps, notes := ParseUsersFile(UsersFile, data)
		im.Notes = append(im.Notes, notes...)
		for _, m := range maps {
			d := add(m)
			if d == nil {
				continue
			}
			if err := importUserConfig(root, d); err != nil {
				return nil, err
			}
			im.Disable = append(im.Disable, fmt.Sprintf("systemctl disable --now %s", strings.Replace(tigerUnit, "@", "@:"+strconv.Itoa(m.Number), 1)))
		}
	}

	data, err = readOptional(root, SysconfigFile)
	if err != nil {
		return nil, err
	}
	if data != nil {
		s, notes := ParseSysconfig(SysconfigFile, data)
		im.Notes = append(im.Notes, notes...)
		for _, m := range s.Servers {
			d := add(m)
			if d == nil {
				continue
			}
			// The vncserver of CentOS 6 (TigerVNC 1.1) listened on every address unless
			// told -localhost; TigerVNC 1.10 and later listen on localhost unless told
			// localhost=no (the default of Listen=).
			d.Keys = append(d.Keys, [2]string{"Listen", "0.0.0.0"})
			if args, ok := s.Args[m.Number]; ok {
				d.From = append(d.From, fmt.Sprintf("%s:%d", SysconfigFile, s.ArgLine[m.Number]))
				applyArgs(d, args, Note{File: SysconfigFile, Line: s.ArgLine[m.Number]})
			}
			fillSession(root, d)
		}
		if len(s.Servers) > 0 {
			// CentOS 7 and later have a vncserver@.service template; CentOS 6 an init script.
			if unit := templateUnit(root, "vncserver@.service"); unitInstalled(root, unit) {
				for _, m := range s.Servers {
					im.Disable = append(im.Disable, fmt.Sprintf("systemctl disable --now vncserver@:%d.service", m.Number))
				}
			} else {
				im.Disable = append(im.Disable, "service vncserver stop && chkconfig vncserver off")
			}
		}
	}
	for _, d := range byNumber {
		im.Displays = append(im.Displays, *d)
	}
	sort.Slice(im.Displays, func(i, j int) bool { return im.Displays[i].Number < im.Displays[j].Number })
	return im, nil
}

// importUserConfig reads the user's TigerVNC config file into d.
func importUserConfig(root string, d *ImportedDisplay) error {
	home := homeOf(root, d.User)
	for _, rel := range []string{".vnc/config", ".config/tigervnc/config"} {
		path := filepath.Join(home, rel)
		data, err := readOptional(root, path)
		if err != nil {
			return err
		}
		if data == nil {
			continue
		}
		lines, notes := ParseTigerConfig(path, data)
		d.Notes = append(d.Notes, notes...)
		d.From = append(d.From, path)
		for _, l := range lines {
			arg := "-" + l.Key
			if l.HasValue {
				arg += "=" + l.Value
			}
			applyArgs(d, []string{arg}, Note{File: path, Line: l.Line})
		}
		break // vncsession reads the first of the two it finds
	}
	fillSession(root, d)
	return nil
}

// fillSession leaves Session= to be chosen where the old configuration named none, or
// takes the user's ~/.vnc/xstartup, which is what Debian's vncserver ran then.
func fillSession(root string, d *ImportedDisplay) {
	for _, kv := range d.Keys {
		if kv[0] == "Session" {
			return
		}
	}
	xstartup := filepath.Join(homeOf(root, d.User), ".vnc", "xstartup")
	if info, err := os.Stat(filepath.Join(root, xstartup)); err == nil && info.Mode()&0o111 != 0 {
		d.Keys = append(d.Keys, [2]string{"Session", xstartup})
		return
	}
	d.Notes = append(d.Notes, Note{File: d.From[0], Text: fmt.Sprintf(
		"display :%d has no session= and no executable ~/.vnc/xstartup: choose Session= (e.g. xterm, or a desktop from /usr/share/xsessions), or its desktop stays black", d.Number)})
}

// valueOptions take their value as the next word in VNCSERVERARGS.
var valueOptions = map[string]bool{"geometry": true, "depth": true, "securitytypes": true, "rfbauth": true,
	"passwordfile": true, "interface": true, "rfbport": true, "session": true, "pixelformat": true}

// applyArgs converts Xvnc arguments (from VNCSERVERARGS or a config file) into keys of d.
func applyArgs(d *ImportedDisplay, args []string, at Note) {
	note := func(format string, a ...any) {
		d.Notes = append(d.Notes, Note{at.File, at.Line, fmt.Sprintf(format, a...)})
	}
	set := func(k, v string) {
		for i, kv := range d.Keys {
			if kv[0] == k {
				d.Keys[i][1] = v
				return
			}
		}
		d.Keys = append(d.Keys, [2]string{k, v})
	}
	for i := 0; i < len(args); i++ {
		name, value, has := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		key := strings.ToLower(name)
		o, known := knownXvncOptions[key]
		takesValue := valueOptions[key] || known && (o.kind == kindInt || o.kind == kindString || o.kind == kindXArg)
		if !has && takesValue && i+1 < len(args) {
			i++
			value, has = args[i], true
		}
		switch key {
		case "geometry":
			if _, _, err := ParseGeometry(value); err != nil {
				note("geometry %q left out: %v", value, err)
			} else {
				set("Geometry", value)
			}
		case "depth":
			var d Display
			if err := d.setDepth(value); err != nil {
				note("depth %q left out: %v", value, err)
			} else {
				set("Depth", value)
			}
		case "localhost":
			if b, ok := parseBool(value); has && ok && b == 0 {
				set("Listen", "0.0.0.0")
			} else {
				set("Listen", "127.0.0.1")
			}
		case "interface":
			var probe Display
			if err := probe.setListen(value); err != nil {
				note("interface %q left out: %v", value, err)
			} else {
				set("Listen", probe.Listen)
			}
		case "securitytypes":
			var probe Display
			if err := probe.setSecurityTypes(value); err != nil {
				note("securitytypes %q left out: %v", value, err)
			} else {
				set("SecurityTypes", strings.Join(probe.SecurityTypes, ","))
			}
		case "rfbauth", "passwordfile":
			if !strings.HasPrefix(value, "/") || !safeValue(value) {
				note("password file %q left out: not an absolute path (the default is ~/.vnc/passwd)", value)
			} else {
				set("PasswordFile", value)
			}
		case "session":
			if !safeValue(value) {
				note("session %q left out: not a one-line value", value)
			} else {
				set("Session", value)
			}
		case "rfbport":
			note("rfbport %s left out: hostkit listens on 5900+N, port %d for :%d", value, RFBPortBase+d.Number, d.Number)
		case "nolisten":
			// X does not listen on TCP unless asked: the default already.
		case "fg", "autokill", "useold": // vncserver script options, not Xvnc's
			note("vncserver option -%s left out: hostkit has no use for it", name)
		default:
			arg := "-" + name
			if has {
				if known && o.kind == kindXArg {
					arg += " " + value
				} else {
					arg += "=" + value
				}
			}
			opts, err := ParseXvncOptions(arg)
			if err != nil {
				note("left out: %v", err)
				continue
			}
			if !safeValue(strings.Join(opts, " ")) {
				note("%s left out: a # in it would start a comment in vnc.conf", arg)
				continue
			}
			d.XvncOptions = append(d.XvncOptions, opts...)
		}
	}
}

// Conf renders the imported displays as a vnc.conf drop-in.
func (im *Imported) Conf() string {
	var b strings.Builder
	b.WriteString("# Imported by `hostkitctl vnc import`; see vnc.conf(5).\n")
	for _, d := range im.Displays {
		fmt.Fprintf(&b, "\n# from %s\n[Display]\nNumber=%d\nUser=%s\n", strings.Join(d.From, ", "), d.Number, d.User)
		for _, kv := range d.Keys {
			fmt.Fprintf(&b, "%s=%s\n", kv[0], kv[1])
		}
		if len(d.XvncOptions) > 0 {
			var words []string
			for _, w := range d.XvncOptions {
				switch {
				case strings.ContainsAny(w, `"`):
					w = "'" + w + "'" // ParseXvncOptions lets no word have both quotes
				case strings.ContainsAny(w, " \t'"):
					w = `"` + w + `"`
				}
				words = append(words, w)
			}
			fmt.Fprintf(&b, "XvncOptions=%s\n", strings.Join(words, " "))
		}
		for _, n := range d.Notes {
			fmt.Fprintf(&b, "# note: %s\n", n)
		}
	}
	return b.String()
}

// safeValue reports whether v can be written as a vnc.conf value as it is: not empty,
// no line break, no trailing backslash (which would continue the line), and no "#" that
// would start a comment (at its start, or after white space).
func safeValue(v string) bool {
	return v != "" && !strings.ContainsAny(v, "\n\r\x00") && !strings.HasSuffix(v, "\\") &&
		!strings.HasPrefix(v, "#") && !strings.Contains(v, " #") && !strings.Contains(v, "\t#")
}

// homeOf returns user's home directory from root's /etc/passwd, or /home/USER.
func homeOf(root, user string) string {
	data, _ := readOptional(root, "/etc/passwd")
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 7 && f[0] == user && strings.HasPrefix(f[5], "/") {
			return f[5]
		}
	}
	return "/home/" + user
}

// readOptional reads path under root; a missing file is (nil, nil).
func readOptional(root, path string) ([]byte, error) {
	data, err := config.ReadFile(filepath.Join(root, path), config.MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return data, nil
}

func exists(root, path string) bool {
	_, err := os.Stat(filepath.Join(root, path))
	return err == nil
}

// unitDirs are where units are installed, searched in systemd's order.
var unitDirs = []string{"/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}

// templateUnit returns the first of names installed as a unit under root, or names[0].
func templateUnit(root string, names ...string) string {
	for _, n := range names {
		if unitInstalled(root, n) {
			return n
		}
	}
	return names[0]
}

func unitInstalled(root, name string) bool {
	for _, dir := range unitDirs {
		if exists(root, filepath.Join(dir, name)) {
			return true
		}
	}
	return false
}
