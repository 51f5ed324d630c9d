package bootorder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadRules(t *testing.T) {
	cases := []struct {
		name    string
		files   map[string]string // relative to the root
		rules   []string          // Rule.Text() of each rule, in order
		warning []string          // substrings of the warnings, in order
	}{
		{"none", nil, nil, nil},
		{"order and priority", map[string]string{
			"etc/hostkit/boot-order.conf": "[Rules]\nOrder=sshd.service < nginx\nOrder = a < b < c.target\nPriority=postgresql.service 50\nPriority=docker.service 60 35\n",
		}, []string{"Order=sshd.service < nginx", "Order=a < b < c.target", "Priority=postgresql.service 50 2345", "Priority=docker.service 60 35"}, nil},
		{"drop-ins in lexical order; empty value resets", map[string]string{
			"etc/hostkit/boot-order.conf":               "[Rules]\nOrder=a < b\nPriority=p.service 10\n",
			"etc/hostkit/boot-order.conf.d/20-b.conf":   "[Rules]\nOrder=\nOrder=c < d\n",
			"etc/hostkit/boot-order.conf.d/10-a.conf":   "[Rules]\nOrder=x < y\n",
			"etc/hostkit/boot-order.conf.d/README":      "not read\n",
			"etc/hostkit/boot-order.conf.d/30-p.conf":   "[Rules]\nPriority=\nPriority=q.service 20\n",
			"etc/hostkit/boot-order.conf.d/x.conf.save": "[Rules]\nOrder=n < o\n",
		}, []string{"Order=c < d", "Priority=q.service 20 2345"}, nil},
		{"bad rules are warnings with file and line", map[string]string{
			"etc/hostkit/boot-order.conf": "[Rules]\nOrder=a\nOrder=a < < b\nOrder=a b < c\nPriority=x.service\nPriority=x.service 100\nPriority=x.service 5 7\nPriority=b@d 5\nWhat=1\n[Other]\nOrder=a < b\n[Rules]\nOrder=ok < fine\n",
		}, []string{"Order=ok < fine"}, []string{
			"boot-order.conf:2: Order=a: want two or more units",
			"boot-order.conf:3: Order=a < < b: want one unit between",
			"boot-order.conf:4: Order=a b < c: want one unit between",
			"boot-order.conf:5: Priority=x.service: want UNIT PRIORITY",
			"boot-order.conf:6: Priority=x.service 100: priority \"100\" is not a number 0-99",
			"boot-order.conf:7: Priority=x.service 5 7: runlevels \"7\"",
			"boot-order.conf:8: Priority=b@d 5: \"b@d\" is not a unit name",
			"boot-order.conf:9: unknown key What= in [Rules] (known: Order= Priority=)",
			"boot-order.conf:11: unknown section [Other] (known: [Rules] [Daemon])",
		}},
		{"runlevels that start nothing: a warning, not a rule that drops out later", map[string]string{
			"etc/hostkit/boot-order.conf": "[Rules]\nPriority=x.service 50 06\nPriority=y.service 50 0\nPriority=z.service 50 056\n",
		}, []string{"Priority=z.service 50 056"}, []string{
			"/etc/hostkit/boot-order.conf:2: Priority=x.service 50 06: runlevels 0 and 6 are halt and reboot, in which no unit starts; give runlevels 1-5, e.g. 2345; rule left out",
			"/etc/hostkit/boot-order.conf:3: Priority=y.service 50 0: runlevels 0 and 6 are halt and reboot",
		}},
		{"a syntax error leaves the file out", map[string]string{
			"etc/hostkit/boot-order.conf":             "[Rules]\nOrder=a < b\n",
			"etc/hostkit/boot-order.conf.d/50-x.conf": "[Rules]\nOrder=c < d\nbroken line\n",
		}, []string{"Order=a < b"}, []string{"/etc/hostkit/boot-order.conf.d/50-x.conf:3: expected Key=Value or [Section], got \"broken line\"; the rules of this file are left out"}},
	}
	for i, c := range cases {
		root := t.TempDir()
		for name, text := range c.files {
			write(t, filepath.Join(root, name), text, 0o644)
		}
		tr, err := Scan(root)
		if err != nil {
			t.Fatalf("case %d (%s): %v", i, c.name, err)
		}
		var got []string
		for _, r := range tr.Rules {
			got = append(got, r.Text())
			if !strings.HasPrefix(r.Path, "/etc/hostkit/boot-order.conf") || r.Line == 0 {
				t.Errorf("case %d (%s): rule %q has place %s:%d", i, c.name, r.Text(), r.Path, r.Line)
			}
		}
		if strings.Join(got, "|") != strings.Join(c.rules, "|") {
			t.Errorf("case %d (%s): rules %q, want %q", i, c.name, got, c.rules)
		}
		if len(tr.Warnings) != len(c.warning) {
			t.Errorf("case %d (%s): warnings %v, want %d", i, c.name, tr.Warnings, len(c.warning))
			continue
		}
		for j, w := range tr.Warnings {
			if !strings.Contains(FormatWarning(w), c.warning[j]) {
				t.Errorf("case %d (%s): warning %q, want %q", i, c.name, FormatWarning(w), c.warning[j])
			}
		}
	}
}

// TestRulesExample keeps the documented example valid.
func TestRulesExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "boot-order.conf.example"))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	write(t, filepath.Join(root, "etc/hostkit/boot-order.conf"), string(data), 0o644)
	tr, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range tr.Rules {
		got = append(got, r.Text())
	}
	want := "Order=sshd.service < nginx.service|Order=network-online.target < ntpdate < ntpd|Priority=postgresql.service 50 2345|Priority=docker.service 60 35"
	if strings.Join(got, "|") != want || len(tr.Warnings) != 0 {
		t.Errorf("rules %q, warnings %v; want %s and none", got, tr.Warnings, want)
	}
}
