package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

type settings struct {
	dump string
	idle time.Duration
	on   bool
}

func (s *settings) options() []Option {
	return []Option{
		{"Hardware", "SMBIOSDump", AbsPath(&s.dump)},
		{"Daemon", "IdleTimeoutSec", Duration(&s.idle)},
		{"Daemon", "Verbose", Bool(&s.on)},
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDropinsOverrideInLexicalOrder(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "hwd.conf")
	write(t, main, "# comment\n[Hardware]\nSMBIOSDump=/a.bin\n\n[Daemon]\nIdleTimeoutSec=10s\n")
	write(t, main+".d/20-late.conf", "[Hardware]\nSMBIOSDump = /c.bin\n")
	write(t, main+".d/10-early.conf", "[Hardware]\nSMBIOSDump=/b.bin\n[Daemon]\nVerbose=yes\n")
	write(t, main+".d/README", "not a drop-in: ignored\n")

	s := settings{idle: 30 * time.Second}
	if err := Load(main, s.options()); err != nil {
		t.Fatal(err)
	}
	if s.dump != "/c.bin" || s.idle != 10*time.Second || !s.on {
		t.Errorf("got %+v, want dump /c.bin, idle 10s, verbose", s)
	}
}

func TestLoadMissingFileKeepsDefaults(t *testing.T) {
	s := settings{idle: 30 * time.Second}
	if err := Load(filepath.Join(t.TempDir(), "none.conf"), s.options()); err != nil {
		t.Fatal(err)
	}
	if s.idle != 30*time.Second {
		t.Errorf("idle = %v, want the default 30s", s.idle)
	}
}

func TestLoadErrorsNameFileAndLine(t *testing.T) {
	cases := []struct {
		name, text, want string
	}{
		{"unknown key", "[Hardware]\n\nSMBIOSDumb=/x\n", "x.conf:3: unknown key SMBIOSDumb= in [Hardware] (known: SMBIOSDump=)"},
		{"unknown section", "[Hardwar]\nSMBIOSDump=/x\n", "x.conf:2: unknown section [Hardwar] (known: [Hardware] [Daemon])"},
		{"bad value", "[Daemon]\nIdleTimeoutSec=soon\n", "x.conf:2: [Daemon] IdleTimeoutSec=soon: bad time span"},
		{"relative path", "[Hardware]\nSMBIOSDump=dump.bin\n", "x.conf:2: [Hardware] SMBIOSDump=dump.bin: not an absolute path"},
		{"bad bool", "[Daemon]\nVerbose=maybe\n", "x.conf:2: [Daemon] Verbose=maybe: not a boolean"},
		{"no section", "SMBIOSDump=/x\n", "x.conf:1: SMBIOSDump= outside of any [Section]"},
		{"no equals", "[Daemon]\nIdleTimeoutSec\n", "x.conf:2: expected Key=Value"},
		{"bad header", "[Daemon\n", "x.conf:1: malformed section header"},
	}
	for i, c := range cases {
		path := filepath.Join(t.TempDir(), "x.conf")
		write(t, path, c.text)
		var s settings
		err := Load(path, s.options())
		var cerr *Error
		if err == nil || !errors.As(err, &cerr) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("case %d (%s): error %v, want one containing %q", i, c.name, err, c.want)
		}
	}
}

func TestLoadErrorInDropinNamesDropin(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "hwd.conf")
	write(t, main, "[Daemon]\nIdleTimeoutSec=5s\n")
	write(t, main+".d/50-bad.conf", "[Daemon]\n# why\nIdleTimeoutSec=5 parsecs\n")
	var s settings
	err := Load(main, s.options())
	if err == nil || !strings.HasPrefix(err.Error(), main+".d/50-bad.conf:3: ") {
		t.Errorf("error %v, want it to start with the drop-in's path and line 3", err)
	}
}

func TestParseContinuation(t *testing.T) {
	got, err := Parse("c.conf", []byte("[S]\nA=one \\\n  # comment inside\n  two \\\n three\nB=\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Value != "one two three" || got[0].Line != 2 || got[1].Key != "B" || got[1].Value != "" {
		t.Errorf("got %+v", got)
	}
}

func TestParseTimespan(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30", 30 * time.Second, true},
		{"30s", 30 * time.Second, true},
		{"5min", 5 * time.Minute, true},
		{"1h 30min", 90 * time.Minute, true},
		{"500ms", 500 * time.Millisecond, true},
		{"1.5s", 1500 * time.Millisecond, true},
		{"infinity", 0, true},
		{"0", 0, true},
		{"", 0, false},
		{"5 fortnights", 0, false},
		{"-5s", 0, false},
		{"99999999999999999999d", 0, false},
	}
	for i, c := range cases {
		got, err := ParseTimespan(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("case %d (%q): got %v, %v; want %v, ok=%v", i, c.in, got, err, c.want, c.ok)
		}
	}
}

// FuzzParse checks that no input makes the parser panic or lose the file name.
func FuzzParse(f *testing.F) {
	f.Add([]byte("[Hardware]\nSMBIOSDump=/x.bin\n"))
	f.Add([]byte("[A]\nB=c \\\n d\n;x\n#y\n"))
	f.Add([]byte("[\n=\n[]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		as, err := Parse("f.conf", data)
		if err != nil && !strings.HasPrefix(err.Error(), "f.conf:") {
			t.Fatalf("error %q does not name the file", err)
		}
		for _, a := range as {
			if a.Section == "" || a.Key == "" || a.Line < 1 {
				t.Fatalf("bad assignment %+v", a)
			}
			_, _ = ParseTimespan(a.Value)
		}
	})
}

func TestLoadWildcardKeyTakesAnyKeyOfItsSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.conf")
	write(t, path, "[Rules]\nOrder=a < b\nAnything=at all\n[Daemon]\nIdleTimeoutSec=5s\n")
	var idle time.Duration
	var seen []string
	opts := append(DaemonOptions(&idle), Option{"Rules", "*", func(v string) error { seen = append(seen, v); return nil }})
	if err := Load(path, opts); err != nil {
		t.Fatal(err)
	}
	if idle != 5*time.Second || len(seen) != 2 {
		t.Errorf("idle %v, rules seen %q; want 5s and both values", idle, seen)
	}
	write(t, path, "[Daemon]\nIdleTimeoutSecs=5s\n")
	if err := Load(path, opts); err == nil || !strings.Contains(err.Error(), "unknown key IdleTimeoutSecs=") {
		t.Errorf("a wildcard in [Rules] let an unknown key of [Daemon] through: %v", err)
	}
}

// display is an item of a repeated section in the tests below.
type display struct {
	at     Place
	number string
	peers  []string
}

func loadDisplays(t *testing.T, path string) ([]*display, error) {
	t.Helper()
	var items []*display
	var idle time.Duration
	err := Load(path, DaemonOptions(&idle), Repeated{Section: "Display", New: func(at Place) []Option {
		d := &display{at: at}
		items = append(items, d)
		return []Option{
			{Key: "Number", Set: String(&d.number)},
			{Key: "Peer", Set: List(&d.peers)},
		}
	}})
	return items, err
}

func TestRepeatedSectionsAreItems(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "vnc.conf")
	write(t, main, "[Display]\nNumber=1\nPeer=a\nPeer=b\n\n[Daemon]\nIdleTimeoutSec=5\n[Display]\nNumber=2\nPeer=c\nPeer=\nPeer=d\n[Display]\n")
	write(t, main+".d/10-more.conf", "[Display]\nNumber=7\n")
	items, err := loadDisplays(t, main)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		line   int
		file   string
		number string
		peers  string
	}{
		{1, main, "1", "a,b"},
		{8, main, "2", "d"},
		{13, main, "", ""},
		{1, main + ".d/10-more.conf", "7", ""},
	}
	if len(items) != len(want) {
		t.Fatalf("got %d items, want %d", len(items), len(want))
	}
	for i, w := range want {
		got := items[i]
		if got.at != (Place{w.file, w.line}) || got.number != w.number || strings.Join(got.peers, ",") != w.peers {
			t.Errorf("item %d: got %+v, want %+v", i, *got, w)
		}
	}
	if s := items[1].at.String(); s != main+":8" {
		t.Errorf("Place.String() = %q", s)
	}
}

func TestRepeatedSectionErrorsNameFileAndLine(t *testing.T) {
	cases := []struct {
		text, want string
	}{
		{"[Display]\nNumber=1\nColour=red\n", ":3: unknown key Colour= in [Display] (known: Number= Peer=)"},
		{"[Daemon]\nIdleTimeoutSec=1\n[Screen]\nX=1\n", ":4: unknown section [Screen] (known: [Daemon] [Display])"},
	}
	for i, c := range cases {
		path := filepath.Join(t.TempDir(), "vnc.conf")
		write(t, path, c.text)
		_, err := loadDisplays(t, path)
		if err == nil || !strings.HasSuffix(err.Error(), c.want) || !strings.HasPrefix(err.Error(), path) {
			t.Errorf("case %d: got %v, want %s%s", i, err, path, c.want)
		}
	}
	err := Errorf(Place{"/etc/x.conf", 4}, "[Job] without %s", "Target=")
	var ce *Error
	if !errors.As(err, &ce) || err.Error() != "/etc/x.conf:4: [Job] without Target=" {
		t.Errorf("Errorf = %v", err)
	}
}

func TestLoadRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "vnc.conf")
	write(t, main, "[Display]\n")
	if err := os.MkdirAll(main+".d", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(main+".d/10-fifo.conf", 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := loadDisplays(t, main); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "10-fifo.conf: not a regular file") {
			t.Errorf("FIFO drop-in: got %v, want 'not a regular file'", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Load blocked on a FIFO drop-in")
	}
	big := filepath.Join(dir, "big.conf")
	write(t, big, "[Display]\n#"+strings.Repeat("x", MaxFileSize)+"\n")
	if _, err := loadDisplays(t, big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized file: got %v", err)
	}
}

func TestParseSkipsByteOrderMark(t *testing.T) {
	as, err := Parse("bom.conf", []byte("\xef\xbb\xbf[Display]\nNumber=1\n"))
	if err != nil || len(as) != 1 || as[0].Section != "Display" || as[0].Line != 2 {
		t.Errorf("Parse with a BOM: %+v, %v; want [Display] Number= at line 2", as, err)
	}
	if as, _ := Parse("mid.conf", []byte("[Display]\n\xef\xbb\xbfNumber=1\n")); len(as) == 1 && as[0].Key == "Number" {
		t.Error("a BOM in the middle of a file was dropped: only the first bytes of a file may be one")
	}
}

func TestOpenFileNeverBlocks(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	type result struct {
		data []byte
		err  error
	}
	read := func(path string, pipes bool) result {
		done := make(chan result, 1)
		go func() {
			f, err := OpenFile(path, 0, pipes)
			if err != nil {
				done <- result{nil, err}
				return
			}
			defer f.Close()
			data, err := ReadAtMost(f, 16)
			done <- result{data, err}
		}()
		select {
		case r := <-done:
			return r
		case <-time.After(5 * time.Second):
			t.Fatalf("reading %s (pipes %v) blocked", path, pipes)
			return result{}
		}
	}
	cases := []struct {
		name  string
		path  string
		pipes bool
		want  string // in the error; "" for no error and no data
	}{
		{"FIFO refused", fifo, false, "fifo: not a regular file but a FIFO"},
		{"FIFO without a writer reads as empty", fifo, true, ""},
		{"link to /dev/zero refused", zero, true, "zero: not a regular file but a character device"},
		{"directory refused", dir, false, "not a regular file but a directory"},
	}
	for i, c := range cases {
		r := read(c.path, c.pipes)
		switch {
		case c.want == "" && (r.err != nil || len(r.data) != 0):
			t.Errorf("case %d (%s): %q, %v; want nothing read and no error", i, c.name, r.data, r.err)
		case c.want != "" && (r.err == nil || !strings.Contains(r.err.Error(), c.want) || !errors.Is(r.err, ErrNotRegular)):
			t.Errorf("case %d (%s): error %v, want ErrNotRegular saying %q", i, c.name, r.err, c.want)
		}
	}

	// A pipe is read to its end, but not past the cap.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { pw.Write([]byte(strings.Repeat("x", 17))); pw.Close() }()
	if _, err := ReadAtMost(pr, 16); err == nil || !strings.Contains(err.Error(), "larger than 16 bytes") {
		t.Errorf("17 bytes from a pipe with a cap of 16: %v", err)
	}
}

func TestParseHeaderComment(t *testing.T) {
	got, err := Parse("c.conf", []byte("[Job]   # a comment\nA=1\n[Job];x\nB=2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Section != "Job" || got[1].Section != "Job" || got[1].Header != 3 {
		t.Errorf("got %+v", got)
	}
	if _, err := Parse("c.conf", []byte("[Job] trailing\n")); err == nil {
		t.Error("a header with text after it is accepted")
	}
}

func TestCommentsAfterValues(t *testing.T) {
	for i, c := range [][2]string{{"a # b", "a"}, {"#*#", "#*#"}, {"a#b", "a#b"}, {"", ""}, {"x\t# y # z", "x"},
		{" # only", ""}, {"# only", ""}, {"#", ""}, {"/srv/www   # the tree", "/srv/www"}} {
		as, err := Parse("c.conf", []byte("[S]\nK="+c[0]+"\n"))
		if err != nil || len(as) != 1 || as[0].Value != c[1] {
			t.Errorf("case %d: K=%s gives %+v, %v; want the value %q", i, c[0], as, err, c[1])
		}
	}
	as, err := Parse("c.conf", []byte("[S]\nK=a \\\n b # more\n"))
	if err != nil || len(as) != 1 || as[0].Value != "a b" {
		t.Errorf("continued value with a comment: %+v, %v; want \"a b\"", as, err)
	}
}
