package bootorder

import (
	"strings"
	"testing"
)

func TestParseHeader(t *testing.T) {
	cases := []struct {
		name, text string
		check      func(h Header) string // "" when h is right
		warnings   []string              // substrings, one per expected warning, in order
	}{
		{"chkconfig only", "#!/bin/sh\n# chkconfig: 2345 55 25\n", func(h Header) string {
			if c := h.Chkconfig; c == nil || c.Line != 2 || c.Runlevels.String() != "2345" || c.Start != 55 || c.Stop != 25 {
				return "want chkconfig 2345 55 25 on line 2"
			}
			return ""
		}, nil},
		{"dash runlevels", "# chkconfig: - 85 15\n", func(h Header) string {
			if c := h.Chkconfig; c == nil || c.Runlevels != 0 || c.Start != 85 || c.Runlevels.String() != "-" {
				return "want chkconfig - 85"
			}
			return ""
		}, nil},
		{"extra spaces and case", "#   CHKCONFIG:\t345   08\t92  \n", func(h Header) string {
			if c := h.Chkconfig; c == nil || c.Runlevels.String() != "345" || c.Start != 8 || c.Stop != 92 {
				return "want 345 8 92"
			}
			return ""
		}, nil},
		{"partial: no stop", "# chkconfig: 345 60\n", func(h Header) string {
			if c := h.Chkconfig; c == nil || c.Start != 60 || c.Stop != -1 {
				return "want start 60, stop -1"
			}
			return ""
		}, []string{":1: partial chkconfig: line: no stop priority"}},
		{"partial: levels only", "# chkconfig: 2345\n", func(h Header) string {
			if c := h.Chkconfig; c == nil || c.Start != -1 {
				return "want no start"
			}
			return ""
		}, []string{"no start priority", "no stop priority"}},
		{"empty chkconfig", "# chkconfig:\n", func(h Header) string {
			if h.Chkconfig != nil {
				return "want no chkconfig"
			}
			return ""
		}, []string{":1: empty chkconfig: line"}},
		{"bad runlevels", "# chkconfig: 2x45 20 80\n", func(h Header) string {
			if h.Chkconfig != nil {
				return "want no chkconfig"
			}
			return ""
		}, []string{`runlevels "2x45" are not`}},
		{"out of range clamped", "# chkconfig: 2345 150 -3\n", func(h Header) string {
			if c := h.Chkconfig; c == nil || c.Start != 99 || c.Stop != 0 {
				return "want 99 and 0"
			}
			return ""
		}, []string{"start priority 150 is outside 0-99; using 99", "stop priority -3 is outside 0-99; using 0"}},
		{"not a number", "# chkconfig: 2345 x5 20\n", func(h Header) string {
			if c := h.Chkconfig; c == nil || c.Start != -1 || c.Stop != 20 {
				return "want no start, stop 20"
			}
			return ""
		}, []string{`start priority "x5" is not a number`}},
		{"second chkconfig", "# chkconfig: 2345 10 90\n# chkconfig: 3 20 80\n", func(h Header) string {
			if c := h.Chkconfig; c == nil || c.Start != 10 {
				return "want the first line"
			}
			return ""
		}, []string{":2: second chkconfig: line (the first is line 1)"}},
		{"continued description", "# description: one \\\n#              two \\\n#  three\n# pidfile: /run/x.pid\n", func(h Header) string {
			if h.Description != "one two three" || h.DescriptionLine != 1 || h.PIDFile != "/run/x.pid" {
				return "want description \"one two three\" and the pidfile"
			}
			return ""
		}, nil},
		{"description continuation ends at code", "# description: one \\\necho hi\n# description: two\n", func(h Header) string {
			if h.Description != "one" {
				return "want \"one\""
			}
			return ""
		}, []string{"second description: line"}},
		{"mysql.server style", "#!/bin/sh\n# chkconfig: 2345 64 36\n# description: A very fast SQL database.\n\n### BEGIN INIT INFO\n# Provides: mysql\n# Required-Start: $local_fs $network $remote_fs\n# Should-Start: ypbind nscd\n# X-Start-Before: httpd\n# Default-Start:  2 3 4 5\n# Short-Description: start and stop MySQL\n# Description: MySQL is a very fast and reliable SQL database engine.\n#\tIt continues here.\n### END INIT INFO\n", func(h Header) string {
			l := h.LSB
			switch {
			case h.Chkconfig == nil || h.Chkconfig.Start != 64:
				return "want chkconfig 64"
			case h.Description != "A very fast SQL database.":
				return "want the chkconfig description"
			case l == nil || l.Line != 5 || l.End != 14:
				return "want the LSB block on lines 5-14"
			case strings.Join(l.Provides.Names, " ") != "mysql" || l.Provides.Line != 6:
				return "want Provides mysql on line 6"
			case strings.Join(l.RequiredStart.Names, " ") != "$local_fs $network $remote_fs":
				return "want Required-Start"
			case strings.Join(l.ShouldStart.Names, " ") != "ypbind nscd" || strings.Join(l.StartBefore.Names, " ") != "httpd":
				return "want Should-Start and X-Start-Before"
			case l.DefaultStart.String() != "2345" || l.DefaultStartLine != 10:
				return "want Default-Start 2345"
			case l.ShortDescription != "start and stop MySQL" || l.Description != "MySQL is a very fast and reliable SQL database engine. It continues here.":
				return "want both descriptions, the long one continued"
			}
			return ""
		}, nil},
		{"X-Start-After, as systemd-sysv-generator reads it", "### BEGIN INIT INFO\n# Provides: x\n# X-Start-After: a $remote_fs b@d\n# x-start-after: again\n### END INIT INFO\n", func(h Header) string {
			if l := h.LSB; l == nil || strings.Join(l.StartAfter.Names, " ") != "a $remote_fs" || l.StartAfter.Line != 3 {
				return "want X-Start-After a $remote_fs on line 3"
			}
			return ""
		}, []string{`:3: X-Start-After: "b@d" cannot name`, ":4: second x-start-after line in the LSB block (the first is line 3); ignored"}},
		{"LSB without END", "### BEGIN INIT INFO\n# Provides: x\nstart() {\n# Required-Start: late\n", func(h Header) string {
			if h.LSB == nil || h.LSB.End != 0 || len(h.LSB.RequiredStart.Names) != 0 {
				return "want a block ending at line 3, without the later key"
			}
			return ""
		}, []string{":1: LSB block (### BEGIN INIT INFO) has no ### END INIT INFO before line 3"}},
		{"LSB without END at EOF", "### BEGIN INIT INFO\n# Provides: x\n", func(h Header) string {
			if h.LSB == nil || strings.Join(h.LSB.Provides.Names, "") != "x" {
				return "want Provides x"
			}
			return ""
		}, []string{":1: LSB block (### BEGIN INIT INFO) has no ### END INIT INFO; taking it to end"}},
		{"second LSB block", "### BEGIN INIT INFO\n# Provides: a\n### END INIT INFO\n### BEGIN INIT INFO\n# Provides: b\n### END INIT INFO\n", func(h Header) string {
			if strings.Join(h.LSB.Provides.Names, "") != "a" {
				return "want the first block"
			}
			return ""
		}, []string{":4: second LSB block"}},
		{"END without BEGIN", "### END INIT INFO\n", nil, []string{":1: ### END INIT INFO without ### BEGIN INIT INFO"}},
		{"bad names and levels", "### BEGIN INIT INFO\n# Provides: ok b@d $fine\n# Default-Start: 2 S 9\n### END INIT INFO\n", func(h Header) string {
			if strings.Join(h.LSB.Provides.Names, " ") != "ok $fine" || h.LSB.DefaultStart.String() != "2S" {
				return "want Provides ok $fine and Default-Start 2S (runlevel S is rcS.d)"
			}
			return ""
		}, []string{`:2: Provides: "b@d" cannot name`, `:3: Default-Start: "9" is not a runlevel`}},
		{"END line with a trailing # (syslog-ng's)", "### BEGIN INIT INFO\n# Provides: syslog-ng\n# Default-Start: 2 3 4 5\n### END INIT INFO#\nfoo\n", func(h Header) string {
			if h.LSB == nil || h.LSB.End != 4 || !strings.Contains(h.LSB.EndNote, "as insserv reads it") || h.LSB.DefaultStart.String() != "2345" {
				return "want the block to end at line 4, with a note"
			}
			return ""
		}, nil},
		{"junk bytes", "# description: a\xff\x01b\n\x00\x00\n", func(h Header) string {
			if h.Description != "a??b" {
				return "want a??b"
			}
			return ""
		}, []string{":1: description has bytes that are not UTF-8", ":2: binary data"}},
		{"relative pidfile", "# pidfile: x.pid\n", func(h Header) string {
			if h.PIDFile != "" {
				return "want no pidfile"
			}
			return ""
		}, []string{`pidfile: "x.pid" is not one absolute path`}},
		{"reload arm", "case \"$1\" in\n  start) ;;\n  reload|force-reload) kill -HUP 1 ;;\nesac\n", func(h Header) string {
			if !h.Reload || h.ReloadLine != 3 {
				return "want reload on line 3"
			}
			return ""
		}, nil},
		{"quoted reload arm", "  'reload')\n", func(h Header) string {
			if !h.Reload {
				return "want reload"
			}
			return ""
		}, nil},
		{"no reload: force-reload only, usage, comment", "  force-reload) ;;\n  *) echo \"Usage: $0 {start|reload}\" ;;\n# reload) in a comment\n", func(h Header) string {
			if h.Reload {
				return "want no reload"
			}
			return ""
		}, nil},
		{"CRLF", "# chkconfig: 2345 55 25\r\n### BEGIN INIT INFO\r\n# Provides: x\r\n### END INIT INFO\r\n", func(h Header) string {
			if h.Chkconfig == nil || h.LSB == nil || h.LSB.End != 4 || h.Chkconfig.Stop != 25 {
				return "want both headers"
			}
			return ""
		}, nil},
		{"empty", "", func(h Header) string {
			if h.Chkconfig != nil || h.LSB != nil || h.Reload {
				return "want nothing"
			}
			return ""
		}, nil},
	}
	for i, c := range cases {
		h, warnings := ParseHeader("/etc/init.d/x", []byte(c.text))
		if c.check != nil {
			if msg := c.check(h); msg != "" {
				t.Errorf("case %d (%s): %s; got %+v (LSB %+v)", i, c.name, msg, h, h.LSB)
			}
		}
		if len(warnings) != len(c.warnings) {
			t.Errorf("case %d (%s): %d warnings %v, want %d", i, c.name, len(warnings), warnings, len(c.warnings))
			continue
		}
		for j, w := range warnings {
			if got := FormatWarning(w); !strings.Contains(got, c.warnings[j]) || w.Path != "/etc/init.d/x" {
				t.Errorf("case %d (%s): warning %d is %q, want it to contain %q", i, c.name, j, got, c.warnings[j])
			}
		}
	}
}

func TestParseHeaderBoundsWarnings(t *testing.T) {
	data := strings.Repeat("# chkconfig: 2345 10 90\n", 5000)
	_, warnings := ParseHeader("x", []byte(data))
	if len(warnings) != maxWarningsPerFile+1 || !strings.Contains(warnings[len(warnings)-1].Message, "more warnings") {
		t.Errorf("got %d warnings, want %d and a note", len(warnings), maxWarningsPerFile+1)
	}
}

func TestRunlevelsTargets(t *testing.T) {
	cases := []struct {
		levels string
		want   string
	}{
		{"-", ""},
		{"0", ""},
		{"1", "rescue.target"},
		{"2345", "graphical.target multi-user.target"},
		{"3", "multi-user.target"},
		{"5", "graphical.target"},
		{"0123456", "graphical.target multi-user.target rescue.target"},
	}
	for i, c := range cases {
		r, ok := parseRunlevels(c.levels)
		if !ok {
			t.Fatalf("case %d (%s): not parsed", i, c.levels)
		}
		if got := strings.Join(r.Targets(), " "); got != c.want {
			t.Errorf("case %d (%s): targets %q, want %q", i, c.levels, got, c.want)
		}
	}
}
