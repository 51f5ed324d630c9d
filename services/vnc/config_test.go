package vnc

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hostkit/hostkit/internal/config"
)

func writeConf(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vnc.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadDisplaysWithDefaults(t *testing.T) {
	path := writeConf(t, `[Display]
Number=1
User=alice
Session=xterm

[Display]
Number=2
User=bob
Geometry=1920x1080
Depth=16
Session=xfce
Listen=::1
SecurityTypes=tlsvnc, VncAuth
Start=boot
XvncOptions=-AlwaysShared -FrameRate 30
XvncOptions=-dpi 96 -desktop="Bob's desk"
AllowRoot=no
PasswordFile=/etc/vnc/bob.passwd

[Daemon]
IdleTimeoutSec=10s
`)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Displays) != 2 || c.IdleTimeout.Seconds() != 10 {
		t.Fatalf("got %d displays, idle %v", len(c.Displays), c.IdleTimeout)
	}
	a, b := c.Displays[0], c.Displays[1]
	if a.At != (config.Place{File: path, Line: 1}) || a.Geometry() != "1280x800" || a.Depth != 24 || a.Listen != "127.0.0.1" ||
		!slices.Equal(a.SecurityTypes, []string{"VncAuth"}) || a.Start != StartOnConnect || a.Port() != 5901 ||
		a.ListenAddress() != "127.0.0.1:5901" || !a.LocalOnly() || !a.NeedsPassword() {
		t.Errorf("display 1 defaults: %+v", *a)
	}
	if b.Geometry() != "1920x1080" || b.Depth != 16 || b.Listen != "::1" || b.ListenAddress() != "[::1]:5902" ||
		!slices.Equal(b.SecurityTypes, []string{"TLSVnc", "VncAuth"}) || b.Start != StartBoot ||
		!slices.Equal(b.XvncOptions, []string{"-AlwaysShared", "-FrameRate=30", "-dpi", "96", "-desktop=Bob's desk"}) ||
		b.PasswordFile != "/etc/vnc/bob.passwd" {
		t.Errorf("display 2: %+v", *b)
	}
	if p := c.Problems(); len(p) != 0 {
		t.Errorf("problems: %v", p)
	}
}

// TestIssueExample: the [Display] of issue 6, comments after the values and all, as
// checks outside the project write it.
func TestIssueExample(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "issue6-example.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Displays) != 1 || len(c.Problems()) != 0 {
		t.Fatalf("displays %d, problems %v", len(c.Displays), c.Problems())
	}
	d := c.Displays[0]
	if d.Number != 1 || d.User != "alice" || d.Geometry() != "1280x800" || d.Depth != 24 || d.Session != "xterm" ||
		d.Listen != "127.0.0.1" || !slices.Equal(d.SecurityTypes, []string{"VncAuth"}) || d.Start != StartOnConnect ||
		len(d.XvncOptions) != 0 || d.Port() != 5901 {
		t.Errorf("the issue's display read as %+v", *d)
	}
}

// TestConfigErrorsNameFileAndLine: every refusal names the file and the line of the bad
// value, or of the [Display] header for what concerns the display as a whole.
func TestConfigErrorsNameFileAndLine(t *testing.T) {
	cases := []struct {
		name, text, want string
	}{
		{"bad geometry", "[Display]\nNumber=1\nGeometry=1280*800\n", ":3: [Display] Geometry=1280*800: not a geometry (WIDTHxHEIGHT"},
		{"zero geometry", "[Display]\nGeometry=0x0\n", ":2: [Display] Geometry=0x0: not a geometry"},
		{"depth 8", "[Display]\nNumber=1\n\nDepth=8\n", ":4: [Display] Depth=8: depth 8 is not offered"},
		{"depth 15", "[Display]\nDepth=15\n", ":2: [Display] Depth=15: not a depth (16, 24 or 32)"},
		{"number", "[Display]\nNumber=:1\n", ":2: [Display] Number=:1: not a display number"},
		{"number too big", "[Display]\nNumber=60000\n", ":2: [Display] Number=60000: not a display number (0 to 59635"},
		{"listen", "[Display]\nListen=example.org\n", ":2: [Display] Listen=example.org: not an IP address"},
		{"security type", "[Display]\nSecurityTypes=VncAuth,Kerberos\n", `:2: [Display] SecurityTypes=VncAuth,Kerberos: unknown security type "Kerberos"`},
		{"plain", "[Display]\nSecurityTypes=Plain\n", ":2: [Display] SecurityTypes=Plain: security type Plain is not offered: it checks passwords with PAM"},
		{"start", "[Display]\nStart=always\n", ":2: [Display] Start=always: not a start mode (on-connect or boot)"},
		{"xvnc option unknown", "[Display]\nXvncOptions=-Frobnicate\n", ":2: [Display] XvncOptions=-Frobnicate: unknown Xvnc option -Frobnicate (known: "},
		{"xvnc option refused", "[Display]\nXvncOptions=-rfbport 5999\n", ":2: [Display] XvncOptions=-rfbport 5999: option -rfbport is not allowed in XvncOptions=: the listening socket comes from systemd"},
		{"xvnc -ac", "[Display]\nXvncOptions=-ac\n", "option -ac is not allowed in XvncOptions=: it turns X access control off"},
		{"unknown key", "[Display]\nNumber=1\nResolution=800x600\n", ":3: unknown key Resolution= in [Display]"},
		{"user", "[Display]\nUser=alice smith\n", ":2: [Display] User=alice smith: not a user name"},
	}
	for i, c := range cases {
		path := writeConf(t, c.text)
		_, err := Load(path)
		var ce *config.Error
		if err == nil || !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("case %d (%s): error %v, want %s%s...", i, c.name, err, path, c.want)
		}
	}
}

// TestProblems: what one value cannot tell, at the [Display] header.
func TestProblems(t *testing.T) {
	path := writeConf(t, `[Display]
Number=1
User=alice
Session=xterm

[Display]
Number=1
User=bob
Session=xterm

[Display]
Number=101
User=carol
Session=xterm

[Display]
Number=3
User=root
Session=xterm

[Display]
Number=4
User=dave
Session=xterm
Listen=0.0.0.0
SecurityTypes=None

[Display]
Number=5
User=erin

[Display]
User=frank

[Display]
Number=6
Session=xterm

[Display]
Number=7
User=root
AllowRoot=yes
Session=xterm
Listen=127.0.0.1
SecurityTypes=None
`)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		path + ":6: display :1: configured twice (first at " + path + ":1); a display's number never moves",
		path + ":11: display :101: its VNC port 6001 is the X port of display :1 (6000+1, at " + path + ":1)",
		path + ":16: display :3: User=root is refused",
		path + ":21: display :4: SecurityTypes=None lets anyone who reaches 0.0.0.0 in without a password",
		path + ":28: display :5: no Session=",
		path + ":32: [Display] without Number=",
		path + ":35: display :6: no User=",
	}
	got := c.Problems()
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(got), len(want), got)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i].Error(), w) {
			t.Errorf("problem %d:\n got %s\nwant %s...", i, got[i], w)
		}
	}
	var usable []int
	for _, d := range c.Usable() {
		usable = append(usable, d.Number)
	}
	if !slices.Equal(usable, []int{1, 7}) {
		t.Errorf("usable displays %v, want [1 7]", usable)
	}
	if c.ProblemOf(1) != nil || c.ProblemOf(3) == nil {
		t.Errorf("ProblemOf(1) = %v, ProblemOf(3) = %v", c.ProblemOf(1), c.ProblemOf(3))
	}
}

// TestCheckHost: the password file, as vncpasswd and chmod fix it.
func TestCheckHost(t *testing.T) {
	home := t.TempDir()
	me := Account{Name: "alice", UID: os.Getuid(), GID: os.Getgid(), Home: home}
	other := Account{Name: "bob", UID: os.Getuid() + 1, GID: os.Getgid(), Home: home}
	lookup := func(a Account) func(string) (Account, error) {
		return func(string) (Account, error) { return a, nil }
	}
	path := writeConf(t, "[Display]\nNumber=1\nUser=alice\nSession=xterm\n")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d := c.Displays[0]
	d.AllowRoot = true // the test may run as root; the files are what it checks
	pw := filepath.Join(home, ".vnc", "passwd")
	check := func(a Account, want string) {
		t.Helper()
		err := CheckHost(d, lookup(a))
		if want == "" {
			if err != nil {
				t.Errorf("CheckHost: %v", err)
			}
			return
		}
		if err == nil || !strings.HasPrefix(err.Error(), path+":1: display :1: ") || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckHost: %v, want %s:1: ... %s", err, path, want)
		}
	}
	check(me, "the password file "+pw+" of alice is missing: set a password with `runuser -u alice -- vncpasswd "+pw+"`")
	if err := os.MkdirAll(filepath.Dir(pw), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pw, EncodePassword("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	check(me, "has mode 0644; it must be 0600, readable by alice only: run `chmod 600 "+pw+"`")
	os.Chmod(pw, 0o600)
	check(me, "")
	check(other, "belongs to")
	check(other, "not to bob: run `chown bob: "+pw+"`")
	os.WriteFile(pw, []byte("x"), 0o600)
	check(me, "is not a vncpasswd file (1 bytes)")

	// Where only TigerVNC 1.14's place has it, that one counts.
	os.Remove(pw)
	xdg := filepath.Join(home, ".config", "tigervnc", "passwd")
	os.MkdirAll(filepath.Dir(xdg), 0o700)
	os.WriteFile(xdg, EncodePassword("secret"), 0o600)
	if got := PasswordPath(d, me); got != xdg {
		t.Errorf("PasswordPath = %s, want %s", got, xdg)
	}
	check(me, "")

	d.AllowRoot = false
	check(Account{Name: "alice", UID: 0, Home: home}, "has uid 0 and is refused")
	d.AllowRoot = true
	err = CheckHost(d, func(string) (Account, error) { return Account{}, errors.New("no user alice") })
	if err == nil || !strings.Contains(err.Error(), ":1: display :1: User=alice: no user alice") {
		t.Errorf("missing user: %v", err)
	}
	d.SecurityTypes = []string{"None"}
	os.Remove(xdg)
	check(me, "") // no password needed
}
