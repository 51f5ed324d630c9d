package system

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hostkit/hostkit/internal/repo"
	"github.com/hostkit/hostkit/internal/testcontainer"
)

// The version the test builds as "the next release", from the same files as dist/.
const nextVersion = "99.0.0"

// buildNext makes the .deb and .rpm of nextVersion into dir with nfpm, from the build/
// that `make packages` left, and with packaging/hwd.conf changed (so that dpkg has a
// conffile to ask about). It returns their paths.
func buildNext(t *testing.T, dir string) (deb, rpm string) {
	t.Helper()
	root := repo.RootT(t)
	conf, err := os.ReadFile(filepath.Join(root, "packaging/hwd.conf"))
	if err != nil {
		t.Fatal(err)
	}
	newConf := filepath.Join(dir, "hwd.conf")
	if err := os.WriteFile(newConf, append(conf, "# changed in "+nextVersion+"\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := os.ReadFile(filepath.Join(root, "nfpm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(spec), "src: ./packaging/hwd.conf\n") {
		t.Fatal("nfpm.yaml has no `src: ./packaging/hwd.conf` to change for the newer build")
	}
	spec = []byte(strings.Replace(string(spec), "src: ./packaging/hwd.conf\n", "src: "+newConf+"\n", 1))
	config := filepath.Join(dir, "nfpm.yaml")
	if err := os.WriteFile(config, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("go not found on PATH: the test builds the newer packages with `go tool nfpm`")
	}
	deb = filepath.Join(dir, "hostkit_"+nextVersion+"_amd64.deb")
	rpm = filepath.Join(dir, "hostkit-"+nextVersion+".x86_64.rpm")
	for _, p := range []struct{ packager, target string }{{"deb", deb}, {"rpm", rpm}} {
		cmd := exec.Command(goTool, "tool", "nfpm", "package", "--config", config, "--packager", p.packager, "--target", p.target)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "VERSION="+nextVersion)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nfpm %s %s: %v\n%s", p.packager, nextVersion, err, out)
		}
	}
	return deb, rpm
}

// mkrepo runs packaging/repo/mkrepo, as `make repo` does, into out.
func mkrepo(t *testing.T, out, gnupg string, files ...string) {
	t.Helper()
	for _, tool := range []string{"gpg", "apt-ftparchive", "createrepo_c", "rpmsign"} {
		need(t, tool, "apt-get install gnupg apt-utils createrepo-c rpm (make deps does)")
	}
	cmd := exec.Command(filepath.Join(repo.RootT(t), "packaging/repo/mkrepo"), append([]string{out, gnupg}, files...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mkrepo: %v\n%s", err, b)
	}
}

// copyTree copies the regular files below src to dst (made world-readable: apt reads a
// file: repository as its _apt user).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("cp", "-r", "--no-preserve=mode,ownership", src, dst)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cp -r %s %s: %v\n%s", src, dst, err, b)
	}
}

// daemons are the on-demand services `hostkitctl status` starts.
var daemons = []string{"hostkit-hwd.service", "hostkit-bootorder.service", "hostkit-vncd.service"}

// mainPIDs returns the MainPID of each running daemon.
func mainPIDs(t *testing.T, c *testcontainer.Container) map[string]string {
	t.Helper()
	pids := map[string]string{}
	for _, u := range daemons {
		if pid := strings.TrimSpace(mustExec(t, c, "systemctl", "show", "-P", "MainPID", u)); pid != "0" {
			pids[u] = pid
		}
	}
	return pids
}

// checkRestarted: every daemon that ran before (old PIDs) runs now from the binary on
// disk: a new process whose executable is not a deleted file. One that exited in
// between (idle) is started by bus activation and checked the same way.
func checkRestarted(t *testing.T, c *testcontainer.Container, old map[string]string) {
	t.Helper()
	if len(old) == 0 {
		t.Fatal("no daemon ran before the upgrade: nothing to see restarted")
	}
	mustExec(t, c, "hostkitctl", "status")
	now := mainPIDs(t, c)
	for u, pid := range old {
		if now[u] == "" {
			t.Errorf("%s does not run after the upgrade and hostkitctl status", u)
			continue
		}
		if now[u] == pid {
			t.Errorf("%s still runs as PID %s from before the upgrade", u, pid)
		}
		exe := strings.TrimSpace(mustExec(t, c, "readlink", "/proc/"+now[u]+"/exe"))
		if strings.HasSuffix(exe, "(deleted)") || !strings.HasPrefix(exe, "/usr/sbin/hostkit-") {
			t.Errorf("%s runs %s, not the upgraded binary", u, exe)
		}
	}
	if failed := strings.TrimSpace(mustExec(t, c, "systemctl", "--failed", "--no-legend", "--plain")); failed != "" {
		t.Errorf("failed units after the upgrade:\n%s", failed)
	}
}

// leftovers lists what has hostkit in its name anywhere on the container's file system,
// and the lines of the account files that name it.
func leftovers(t *testing.T, c *testcontainer.Container) []string {
	t.Helper()
	out, _ := c.Exec("sh", "-c", `find / -xdev \( -path /proc -o -path /sys -o -path /srv -o -path /dev \) -prune -o -name '*hostkit*' -print; `+
		`grep -H hostkit /etc/passwd /etc/group /etc/shadow /etc/gshadow | cut -d: -f1,2`)
	return lines(out)
}

// leftAfterPurge says why each thing that `apt-get purge hostkit` leaves is left.
var leftAfterPurge = []struct{ pattern, why string }{
	{`^/etc/apt/sources\.list\.d/hostkit\.sources$`, "the admin's apt source, not a file of the package"},
	{`^/usr/share/keyrings/hostkit-archive-keyring\.gpg$`, "the admin's copy of the repository key"},
	{`^/var/lib/apt/lists/.*hostkit.*$`, "apt's index of the hostkit repository"},
	{`^/var/cache/apt/archives/hostkit_.*\.deb$`, "apt's download cache (apt-get clean)"},
	{`^/etc/(passwd|group|shadow|gshadow):hostkit-exporter$`, "the system user hostkit-exporter: Debian keeps system users on purge (files and processes may still carry its uid)"},
}

// TestRepositoryInstallUpgradePurge: the signed apt repository `make repo` makes, used as
// a user would: apt-get install with its key, an upgrade to a newer build that changes
// a conffile the admin changed too (dpkg's question answered with --force-confold),
// daemons restarted on the new binary, remove keeps the configuration, purge leaves
// nothing of hostkit but what it lists and says why. Then the same with rpm -i/-U/-e
// of the signed .rpm against the container's systemd (--nodeps: the Debian container
// has no rpm database of dbus and procps; --force-debian: Debian's rpm refuses to
// install otherwise), and dnf repoquery reading the yum repository.
func TestRepositoryInstallUpgradePurge(t *testing.T) {
	root := repo.RootT(t)
	deb := findDeb(t, root)
	rpms, _ := filepath.Glob(filepath.Join(root, "dist", "hostkit-*.x86_64.rpm"))
	if len(rpms) != 1 {
		t.Fatalf("want one dist/hostkit-*.x86_64.rpm (make packages), have %q", rpms)
	}
	version := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(deb), "hostkit_"), "_amd64.deb")
	work := t.TempDir()
	gnupg := filepath.Join(work, "gnupg")
	nextDeb, nextRPM := buildNext(t, work)
	first, next := filepath.Join(work, "repo-first"), filepath.Join(work, "repo-next")
	mkrepo(t, first, gnupg, deb, rpms[0])
	mkrepo(t, next, gnupg, nextDeb, nextRPM)

	log := &stepLog{cur: t}
	c := testcontainer.New(t, testcontainer.Options{Name: "repo", Logf: log.Logf})
	repoDir := filepath.Join(c.Root, "srv/hostkit-repo")
	copyTree(t, first, repoDir)
	version0 := func() string {
		return strings.TrimSpace(mustExec(t, c, "dpkg-query", "-W", "-f=${Version}", "hostkit"))
	}
	// Only the hostkit source: the container has no network for Debian's.
	apt := func(args ...string) string {
		return mustExec(t, c, append([]string{"apt-get", "-q", "-y", "-o", "Dir::Etc::SourceList=/dev/null"}, args...)...)
	}

	ok := log.step(t, "1_apt_install", func(t *testing.T) {
		mustExec(t, c, "cp", "/srv/hostkit-repo/apt/hostkit-archive-keyring.gpg", "/usr/share/keyrings/")
		sources := "Types: deb\nURIs: file:/srv/hostkit-repo/apt\nSuites: stable\nComponents: main\n" +
			"Signed-By: /usr/share/keyrings/hostkit-archive-keyring.gpg\n"
		if err := c.WriteFile("/etc/apt/sources.list.d/hostkit.sources", []byte(sources), 0o644); err != nil {
			t.Fatal(err)
		}
		apt("update")
		apt("install", "hostkit")
		if v := version0(); v != version {
			t.Fatalf("installed version %q, want %q", v, version)
		}
		// A repository signed by another key is refused.
		mustExec(t, c, "cp", "/srv/hostkit-repo/apt/dists/stable/InRelease", "/srv/InRelease.good")
		mustExec(t, c, "sed", "-i", "s/^Label: hostkit$/Label: tampered/", "/srv/hostkit-repo/apt/dists/stable/InRelease")
		out, err := c.Exec("apt-get", "-q", "-o", "Dir::Etc::SourceList=/dev/null", "update")
		if ee, ok := err.(*testcontainer.ExecError); ok {
			out += ee.Stderr
		}
		if !strings.Contains(out, "BADSIG") {
			t.Errorf("apt-get update said nothing of a bad signature on a tampered InRelease (%v):\n%s", err, out)
		}
		mustExec(t, c, "cp", "/srv/InRelease.good", "/srv/hostkit-repo/apt/dists/stable/InRelease")
		apt("update")
	})
	if !ok {
		t.FailNow()
	}

	log.step(t, "2_apt_upgrade", func(t *testing.T) {
		mustExec(t, c, "sh", "-c", "echo '# the admin was here' >>/etc/hostkit/hwd.conf")
		mustExec(t, c, "hostkitctl", "status") // starts the on-demand daemons
		before := mainPIDs(t, c)
		copyTree(t, next, repoDir)
		apt("update")
		apt("-o", "Dpkg::Options::=--force-confold", "upgrade")
		if v := version0(); v != nextVersion {
			t.Fatalf("after apt-get upgrade: version %q, want %q", v, nextVersion)
		}
		conf := mustExec(t, c, "cat", "/etc/hostkit/hwd.conf")
		if !strings.Contains(conf, "# the admin was here") {
			t.Errorf("the upgrade replaced the admin's /etc/hostkit/hwd.conf:\n%s", conf)
		}
		if dist, err := c.Exec("cat", "/etc/hostkit/hwd.conf.dpkg-dist"); err != nil || !strings.Contains(dist, "# changed in "+nextVersion) {
			t.Errorf("no /etc/hostkit/hwd.conf.dpkg-dist with the new version's file (%v)", err)
		}
		checkRestarted(t, c, before)
	})

	log.step(t, "3_apt_remove_keeps_config", func(t *testing.T) {
		apt("remove", "hostkit")
		if out, _ := c.Exec("pgrep", "-a", "-f", "/usr/sbin/hostkit-"); strings.TrimSpace(out) != "" {
			t.Errorf("hostkit processes after apt-get remove:\n%s", out)
		}
		for _, u := range append(slices.Clone(daemons), "hostkit-exporter.socket") {
			if s := activeState(c, u); s == "active" {
				t.Errorf("%s is %s after apt-get remove", u, s)
			}
		}
		if _, err := c.Exec("test", "-f", "/etc/hostkit/hwd.conf"); err != nil {
			t.Error("apt-get remove removed /etc/hostkit/hwd.conf")
		}
		if s := strings.TrimSpace(mustExec(t, c, "dpkg-query", "-W", "-f=${db:Status-Abbrev}", "hostkit")); s != "rc" {
			t.Errorf("dpkg status after remove %q, want rc (removed, config files kept)", s)
		}
	})

	log.step(t, "4_apt_purge_leaves_nothing", func(t *testing.T) {
		apt("purge", "hostkit")
		for _, l := range leftovers(t, c) {
			why := ""
			for _, a := range leftAfterPurge {
				if regexp.MustCompile(a.pattern).MatchString(l) {
					why = a.why
				}
			}
			if why == "" {
				t.Errorf("left after apt-get purge: %s", l)
			} else {
				t.Logf("left after apt-get purge: %s: %s", l, why)
			}
		}
	})

	rpmFirst := filepath.Join("/srv/rpm-first", filepath.Base(rpms[0]))
	rpmNext := filepath.Join("/srv/rpm-next", filepath.Base(nextRPM))
	copyTree(t, filepath.Join(first, "rpm"), filepath.Join(c.Root, "srv/rpm-first"))
	copyTree(t, filepath.Join(next, "rpm"), filepath.Join(c.Root, "srv/rpm-next"))
	rpmCmd := func(args ...string) string { return mustExec(t, c, append([]string{"rpm"}, args...)...) }

	log.step(t, "5_rpm_signature", func(t *testing.T) {
		rpmCmd("--import", "/srv/rpm-first/RPM-GPG-KEY-hostkit")
		for _, f := range []string{rpmFirst, rpmNext} {
			if out := rpmCmd("-K", f); !strings.Contains(out, "signatures OK") {
				t.Errorf("rpm -K %s: %s", f, out)
			}
		}
	})

	log.step(t, "6_rpm_install_upgrade_erase", func(t *testing.T) {
		rpmCmd("-i", "--nodeps", "--force-debian", rpmFirst)
		if got := strings.TrimSpace(mustExec(t, c, "systemctl", "is-enabled", "hostkit-bootorder-verify.service")); got != "enabled" {
			t.Errorf("after rpm -i: hostkit-bootorder-verify.service is %s, want enabled (%%post's preset)", got)
		}
		if got, _ := c.Exec("systemctl", "is-enabled", "hostkit-exporter.socket"); strings.TrimSpace(got) != "disabled" {
			t.Errorf("after rpm -i: hostkit-exporter.socket is %q, want disabled", strings.TrimSpace(got))
		}
		mustExec(t, c, "getent", "passwd", "hostkit-exporter")
		mustExec(t, c, "sh", "-c", "echo '# the admin was here' >>/etc/hostkit/hwd.conf")
		mustExec(t, c, "hostkitctl", "status")
		before := mainPIDs(t, c)
		rpmCmd("-U", "--nodeps", "--force-debian", rpmNext)
		if v := strings.TrimSpace(rpmCmd("-q", "--qf", "%{VERSION}", "hostkit")); v != nextVersion {
			t.Errorf("after rpm -U: version %q, want %q", v, nextVersion)
		}
		if conf := mustExec(t, c, "cat", "/etc/hostkit/hwd.conf"); !strings.Contains(conf, "# the admin was here") {
			t.Errorf("rpm -U replaced the admin's /etc/hostkit/hwd.conf")
		}
		if _, err := c.Exec("test", "-f", "/etc/hostkit/hwd.conf.rpmnew"); err != nil {
			t.Errorf("no /etc/hostkit/hwd.conf.rpmnew after rpm -U with a changed %%config(noreplace)")
		}
		checkRestarted(t, c, before)
		rpmCmd("-e", "--nodeps", "hostkit")
		if out, _ := c.Exec("pgrep", "-a", "-f", "/usr/sbin/hostkit-"); strings.TrimSpace(out) != "" {
			t.Errorf("hostkit processes after rpm -e:\n%s", out)
		}
		if _, err := c.Exec("test", "-e", "/usr/sbin/hostkit-hwd"); err == nil {
			t.Error("/usr/sbin/hostkit-hwd is still there after rpm -e")
		}
		if _, err := c.Exec("test", "-f", "/etc/hostkit/hwd.conf.rpmsave"); err != nil {
			t.Error("rpm -e did not keep the admin's hwd.conf as hwd.conf.rpmsave")
		}
		if failed := strings.TrimSpace(mustExec(t, c, "systemctl", "--failed", "--no-legend", "--plain")); failed != "" {
			t.Errorf("failed units after rpm -e:\n%s", failed)
		}
	})

	log.step(t, "7_dnf_reads_the_yum_repository", func(t *testing.T) {
		need(t, "dnf", "apt-get install dnf (make deps does)")
		query := func(dir string) (string, error) {
			installroot := t.TempDir()
			cmd := exec.Command("dnf", "-q", "-y", "--installroot="+installroot, "--setopt=reposdir=/dev/null", "--releasever=1",
				"--repofrompath=hostkit,file://"+dir, "--repo=hostkit", "--setopt=hostkit.gpgcheck=1", "--setopt=hostkit.repo_gpgcheck=1",
				"--setopt=hostkit.skip_if_unavailable=False", "--setopt=hostkit.gpgkey=file://"+filepath.Join(first, "rpm/RPM-GPG-KEY-hostkit"),
				"repoquery", "--qf", "%{name} %{version} %{arch}", "hostkit")
			out, err := cmd.CombinedOutput()
			t.Logf("dnf repoquery of %s:\n%s", dir, out)
			return string(out), err
		}
		out, err := query(filepath.Join(next, "rpm"))
		if err != nil || !strings.Contains(out, "hostkit "+nextVersion+" x86_64") {
			t.Errorf("dnf repoquery: %v, want hostkit %s x86_64", err, nextVersion)
		}
		bad := filepath.Join(t.TempDir(), "rpm")
		copyTree(t, filepath.Join(next, "rpm"), bad)
		f, err := os.OpenFile(filepath.Join(bad, "repodata/repomd.xml"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("<!-- tampered -->\n")
		f.Close()
		if out, err := query(bad); err == nil || !strings.Contains(out, "signature") {
			t.Errorf("dnf read a repository whose repomd.xml no longer matches its signature (%v)", err)
		}
	})
}
