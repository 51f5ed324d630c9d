package bootorder

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDetectMode(t *testing.T) {
	const (
		usr   = "/usr/lib/systemd/system-generators/systemd-sysv-generator"
		lib   = "/lib/systemd/system-generators/systemd-sysv-generator"
		etc   = "/etc/systemd/system-generators/systemd-sysv-generator"
		run   = "/run/systemd/system-generators/systemd-sysv-generator"
		local = "/usr/local/lib/systemd/system-generators/systemd-sysv-generator"
	)
	type entry struct {
		path string
		kind string // "exe", "empty", "plain" (not executable), "null" (link to /dev/null), "dir", "host-lib" (an absolute link to /usr/lib)
	}
	cases := []struct {
		name    string
		entries []entry
		env     string
		want    string
	}{
		{"no generator at all (systemd 260)", nil, "", ModeWrappers},
		{"in /usr/lib", []entry{{usr, "exe"}}, "", ModeDropIns},
		{"in /lib (split /usr)", []entry{{lib, "exe"}}, "", ModeDropIns},
		{"masked in /etc by /dev/null", []entry{{usr, "exe"}, {etc, "null"}}, "", ModeWrappers},
		{"masked in /run by an empty file", []entry{{usr, "exe"}, {run, "empty"}}, "", ModeWrappers},
		{"masked in /usr/local/lib", []entry{{lib, "exe"}, {local, "null"}}, "", ModeWrappers},
		{"an empty file in /usr/lib is no generator", []entry{{usr, "empty"}}, "", ModeWrappers},
		{"not executable: systemd ignores it", []entry{{usr, "plain"}}, "", ModeWrappers},
		{"a directory of that name is ignored", []entry{{etc, "dir"}, {usr, "exe"}}, "", ModeDropIns},
		{"an executable in /etc replaces it and does its job", []entry{{etc, "exe"}}, "", ModeDropIns},
		{"environment forces wrappers", []entry{{usr, "exe"}}, "wrappers", ModeWrappers},
		{"environment forces drop-ins", nil, "drop-ins", ModeDropIns},
		{"unknown environment value is ignored", []entry{{usr, "exe"}}, "sideways", ModeDropIns},
		// Issue 10, fault 6: on a usrmerged root /lib links to /usr/lib; followed on the
		// host, it found the host's generator.
		{"usrmerged root without a generator", []entry{{"/lib", "host-lib"}}, "", ModeWrappers},
		{"usrmerged root with a generator", []entry{{"/lib", "host-lib"}, {usr, "exe"}}, "", ModeDropIns},
	}
	for i, c := range cases {
		root := t.TempDir()
		for _, e := range c.entries {
			path := filepath.Join(root, e.path)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			var err error
			switch e.kind {
			case "exe":
				err = os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755)
			case "plain":
				err = os.WriteFile(path, []byte("#!/bin/sh\n"), 0o644)
			case "empty":
				err = os.WriteFile(path, nil, 0o644)
			case "null":
				err = os.Symlink("/dev/null", path)
			case "dir":
				err = os.Mkdir(path, 0o755)
			case "host-lib":
				err = os.Symlink("/usr/lib", path)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		t.Setenv(ModeEnv, c.env)
		if got := DetectMode(root); got != c.want {
			t.Errorf("case %d (%s): %q, want %q", i, c.name, got, c.want)
		}
	}
}
