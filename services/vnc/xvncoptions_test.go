package vnc

import (
	"slices"
	"strings"
	"testing"
)

func TestParseXvncOptions(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		err  string
	}{
		{"-AlwaysShared", []string{"-AlwaysShared"}, ""},
		{"-alwaysshared=0 --NeverShared=yes", []string{"-AlwaysShared=0", "-NeverShared=1"}, ""},
		{"-FrameRate 30 -MaxIdleTime=3600", []string{"-FrameRate=30", "-MaxIdleTime=3600"}, ""},
		{`-desktop "My desk" -dpi 96`, []string{"-desktop=My desk", "-dpi", "96"}, ""},
		{"-listen tcp", []string{"-listen", "tcp"}, ""},
		{"-listen udp", nil, "-listen udp: not one of tcp unix local"},
		{"-FrameRate", nil, "-FrameRate needs a value"},
		{"-s ''", nil, "-s needs a value"},
		{"-FrameRate=-1", nil, "not a non-negative integer"},
		{"-AlwaysShared=maybe", nil, "not a boolean"},
		{"AlwaysShared", nil, "is not an option"},
		{"-dpi=96", nil, "takes its value as the next word"},
		{"-br=1", nil, "-br takes no value"},
		{"-geometry 800x600", nil, "set by Geometry="},
		{"-PasswordFile /tmp/p", nil, "set by PasswordFile="},
		{"-Password secret", nil, "visible to every user in ps"},
		{"-inetd", nil, "the listening socket comes from systemd"},
		{"-desktop 'unterminated", nil, "unterminated quote"},
		{"-", nil, "is not an option"},
	}
	for i, c := range cases {
		got, err := ParseXvncOptions(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("case %d (%q): error %v, want %q", i, c.in, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("case %d (%q): %q, %v; want %q", i, c.in, got, err, c.want)
		}
	}
	if !ListensOnTCP([]string{"-listen", "tcp"}) || ListensOnTCP([]string{"-listen", "tcp", "-nolisten", "tcp"}) || ListensOnTCP(nil) {
		t.Error("ListensOnTCP")
	}
}
