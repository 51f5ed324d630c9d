package bootorder

import (
	"strings"
	"testing"
)

// TestFacilities: insserv.conf and insserv.conf.d define facilities by their providers;
// "+" providers may be missing, others are warned about, included facilities count,
// and a line that defines nothing is a warning naming its place.
func TestFacilities(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/etc/insserv.conf", "# comment\n$network +networking +ifupdown\n$named +named $network\n<interactive> glibc udev\nbogus line\n", 0o644)
	write(t, root+"/etc/insserv.conf.d/dns", "$named bind9 # the package's own\n$mail-transport-agent postfix\n", 0o644)
	write(t, root+"/etc/insserv.conf.d/dns.dpkg-old", "$named nothing\n", 0o644) // skipped, as insserv does
	write(t, root+"/etc/init.d/networking", "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: networking\n# Default-Start: S\n### END INIT INFO\n", 0o755)
	write(t, root+"/etc/init.d/named", "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: bind9\n# Default-Start: 2 3 4 5\n### END INIT INFO\n", 0o755)
	write(t, root+"/etc/init.d/web", "#!/bin/sh\n### BEGIN INIT INFO\n# Required-Start: $named\n# X-Start-Before: $mail-transport-agent\n# Default-Start: 2 3 4 5\n### END INIT INFO\n", 0o755)
	tr, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Facilities) != 4 {
		t.Fatalf("%d facilities %+v, want 4", len(tr.Facilities), tr.Facilities)
	}
	p := PlanOrder(tr, ModeDropIns)
	checkPlan(t, "facilities", p)
	web := p.Find("web.service")
	if web == nil || strings.Join(web.After, " ") != "basic.target network-online.target nss-lookup.target" {
		t.Errorf("web.service after %v, want basic.target (networking is in rcS.d) network-online.target nss-lookup.target", web)
	}
	for _, e := range []Edge{{"named.service", "nss-lookup.target"}, {"networking.service", "network-online.target"}} {
		if !reaches(p, e.Earlier, e.Later) {
			t.Errorf("%s is not before %s", e.Earlier, e.Later)
		}
	}
	text := warningsText(p)
	for _, want := range []string{
		`/etc/insserv.conf:5: "bogus line" is not a facility definition`,
		"/etc/insserv.conf.d/dns:2: $mail-transport-agent: no init script, Provides name or unit file postfix (write +postfix if it may be missing)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no warning %q in:\n%s", want, text)
		}
	}
	if strings.Contains(text, "nothing") || strings.Contains(text, "ifupdown") || strings.Contains(text, "glibc") {
		t.Errorf("warnings about optional providers, <interactive> or a skipped file:\n%s", text)
	}
}
