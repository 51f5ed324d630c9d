package vnc

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Fuzz targets of every parser in this package (make fuzz runs each for a while; the seed
// corpus and what the fuzzer found are in testdata/fuzz/).

// FuzzLoad: any vnc.conf loads or fails naming the file; what loads can be checked,
// generated and written back into units without a panic.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("[Display]\nNumber=1\nUser=alice\nSession=xterm\n"))
	f.Add([]byte("[Display]\nNumber=101\nUser=root\nListen=::\nSecurityTypes=None\nXvncOptions=-dpi 96 \\\n -desktop='a b'\n[Display]\nNumber=1\n"))
	f.Add([]byte("[Daemon]\nIdleTimeoutSec=5\n[Display]\nGeometry=16x16\nDepth=32\nStart=boot\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "vnc.conf")
		os.WriteFile(path, data, 0o644)
		c, err := Load(path)
		if err != nil {
			if !strings.HasPrefix(err.Error(), path+":") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for _, p := range c.Problems() {
			if !strings.HasPrefix(p.Error(), path+":") {
				t.Fatalf("problem %q does not name the file", p)
			}
		}
		if _, err := Generate(c, filepath.Join(dir, "out")); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzXvncOptions: what ParseXvncOptions accepts, normalized and quoted as the importer
// writes it, reads back the same.
func FuzzXvncOptions(f *testing.F) {
	for _, s := range []string{"-AlwaysShared -FrameRate 30", `-desktop "a b" -dpi 96`, "-listen tcp -nolisten tcp", "-desktop=it's"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		opts, err := ParseXvncOptions(s)
		if err != nil || len(opts) == 0 {
			return
		}
		im := &Imported{Displays: []ImportedDisplay{{Number: 1, User: "u", XvncOptions: opts}}}
		conf := im.Conf()
		line := conf[strings.Index(conf, "XvncOptions=")+len("XvncOptions="):]
		line = strings.TrimSuffix(line, "\n")
		again, err := ParseXvncOptions(line)
		if err != nil || !slices.Equal(again, opts) {
			t.Fatalf("%q normalized to %q, written %q, read back %q, %v", s, opts, line, again, err)
		}
	})
}

// FuzzImport: the three formats the importer reads never panic it, and what it makes of
// a TigerVNC config file or VNCSERVERARGS loads as vnc.conf.
func FuzzImport(f *testing.F) {
	for _, s := range []string{
		":1=alice\n# c\n:2 = bob\n",
		"session=xfce\ngeometry=800x600\nlocalhost\nalwaysshared\nsecuritytypes=vncauth\n",
		"VNCSERVERS=\"1:alice 2:bob\"\nVNCSERVERARGS[1]=\"-geometry 800x600 -nolisten tcp -localhost\"\n",
		"VNCSERVERARGS[2]='-desktop \"x y\" -interface 10.0.0.1'\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseUsersFile("users", data)
		s, _ := ParseSysconfig("sysconfig", data)
		lines, _ := ParseTigerConfig("config", data)
		d := ImportedDisplay{Number: 1, User: "alice", From: []string{"x"}}
		for _, l := range lines {
			arg := "-" + l.Key
			if l.HasValue {
				arg += "=" + l.Value
			}
			applyArgs(&d, []string{arg}, Note{File: "config", Line: l.Line})
		}
		for n, args := range s.Args {
			if n < 1000 {
				applyArgs(&d, args, Note{File: "sysconfig"})
			}
		}
		im := &Imported{Displays: []ImportedDisplay{d}}
		path := filepath.Join(t.TempDir(), "vnc.conf")
		os.WriteFile(path, []byte(im.Conf()), 0o644)
		if _, err := Load(path); err != nil {
			t.Fatalf("imported configuration does not load: %v\n%s", err, im.Conf())
		}
	})
}

// FuzzRuntimeText: the status line, desktop files, Xauthority files, /proc tables and
// cgroup lines never panic their readers, and a status line reads back as written.
func FuzzRuntimeText(f *testing.F) {
	f.Add([]byte("Serving :1 on 127.0.0.1:5901 (Xvnc pid 12): 2 clients, desktop blank"))
	f.Add([]byte("[Desktop Entry]\nName=Xfce\nExec=startxfce4 %U\n"))
	f.Add([]byte("0000000000000000: 00000002 00000000 00010000 0001 01 62396 @/tmp/.X11-unix/X77\n"))
	f.Add([]byte("   0: 0100007F:170D 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 12345 1\n"))
	f.Add([]byte("\xff\xff\x00\x00\x00\x011\x00\x12MIT-MAGIC-COOKIE-1\x00\x02ab"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if l, ok := ParseStatus(string(data)); ok {
			if back, ok := ParseStatus(l.Status()); !ok || back != l {
				t.Fatalf("%+v wrote %q, read back %+v", l, l.Status(), back)
			}
		}
		DesktopExec(data)
		parseXauthority(data, 1)
		parseUnixTable(data)
		for _, s := range parseTCPTable(data) {
			_ = s.addr
		}
		unitOfCgroup(string(data))
		DescribeExit(string(data), string(data), "")
	})
}
