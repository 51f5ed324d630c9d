// Package packaging checks the .deb and .rpm that `make packages` leaves in dist/:
// lintian, the payload of both packages against each other and against the repository,
// the control data and scriptlets, and the maintainer scripts themselves (syntax under
// dash, what they call with systemd and the bus up or down, and a dpkg --root
// install/remove/purge cycle).
//
// Run `make packages` first. Needs dpkg-deb, lintian, rpm, dash and unshare, and root
// (for the namespace and dpkg --root); a missing tool is a failure, never a skip.
package packaging

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hostkit/hostkit/internal/repo"
)

// Paths that only one of the two packages has, on purpose.
var (
	// Debian keeps the license and changelog in /usr/share/doc/PKG (policy 12.5, 12.7) and
	// lintian reads overrides from /usr/share/lintian/overrides; rpm has no such files.
	debOnly = []string{
		"/usr/share/doc/hostkit/copyright",
		"/usr/share/doc/hostkit/changelog.gz",
		"/usr/share/lintian/overrides/hostkit",
		// zsh's place for packaged completions differs between the distributions.
		"/usr/share/zsh/vendor-completions/_hostkitctl",
	}
	// rpm's place for the license (%license); Debian's is the copyright file above.
	rpmOnly = []string{
		"/usr/share/licenses/hostkit/copyright",
		"/usr/share/zsh/site-functions/_hostkitctl",
	}
	// Files in both whose content differs, on purpose: the PAM service of the VNC
	// displays includes Debian's common-* files on one and system-auth on the other.
	ownContent = []string{
		"/etc/pam.d/hostkit-vnc",
	}
)

const sysPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// need fails the test when tool is not on PATH.
func need(t *testing.T, tool, install string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s not found: %s", tool, install)
	}
	return p
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("run as root: this test uses unshare -m and dpkg --root")
	}
}

type pkgs struct {
	root    string
	version string // from the .deb's file name
	deb     string
	rpm     string
}

// packages finds dist/hostkit_VERSION_amd64.deb and dist/hostkit-VERSION.x86_64.rpm.
func packages(t *testing.T) pkgs {
	t.Helper()
	root := repo.RootT(t)
	debs, _ := filepath.Glob(filepath.Join(root, "dist", "hostkit_*_amd64.deb"))
	rpms, _ := filepath.Glob(filepath.Join(root, "dist", "hostkit-*.x86_64.rpm"))
	if len(debs) == 0 || len(rpms) == 0 {
		t.Fatalf("dist/ lacks hostkit_VERSION_amd64.deb or hostkit-VERSION.x86_64.rpm: run make packages first")
	}
	if len(debs) > 1 || len(rpms) > 1 {
		t.Fatalf("dist/ holds several versions (%v %v): run make packages first, it removes the old ones", debs, rpms)
	}
	version := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(debs[0]), "hostkit_"), "_amd64.deb")
	if want := "hostkit-" + version + ".x86_64.rpm"; filepath.Base(rpms[0]) != want {
		t.Fatalf("dist/ has %s and %s: versions differ; run make packages first", filepath.Base(debs[0]), filepath.Base(rpms[0]))
	}
	return pkgs{root: root, version: version, deb: debs[0], rpm: rpms[0]}
}

// run runs a command and returns its stdout, failing the test on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// entry is one path in a package's payload.
type entry struct {
	dir  bool
	mode string // ls-style, e.g. -rwxr-xr-x
	size string
}

// debPayload is `dpkg-deb -c`, keyed by absolute path.
func debPayload(t *testing.T, deb string) map[string]entry {
	t.Helper()
	out := run(t, need(t, "dpkg-deb", "apt-get install dpkg"), "-c", deb)
	m := map[string]entry{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		// drwxr-xr-x root/root 0 2026-01-01 00:00 ./etc/
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb -c: cannot parse %q", line)
		}
		p := "/" + strings.TrimSuffix(strings.TrimPrefix(f[5], "./"), "/")
		if p == "/" {
			continue
		}
		m[p] = entry{dir: f[0][0] == 'd', mode: f[0], size: f[2]}
	}
	return m
}

// rpmPayload is `rpm -qpl` with modes and sizes, keyed by path.
func rpmPayload(t *testing.T, rpm string) map[string]entry {
	t.Helper()
	rpmBin := need(t, "rpm", "apt-get install rpm")
	list := strings.Fields(run(t, rpmBin, "-qpl", rpm))
	out := run(t, rpmBin, "-qp", "--qf", `[%{FILEMODES:perms} %{FILESIZES} %{FILENAMES}\n]`, rpm)
	m := map[string]entry{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("rpm -qp --qf: cannot parse %q", line)
		}
		m[f[2]] = entry{dir: f[0][0] == 'd', mode: f[0], size: f[1]}
	}
	if len(list) != len(m) {
		t.Fatalf("rpm -qpl lists %d paths, --qf %d", len(list), len(m))
	}
	for _, p := range list {
		if _, ok := m[p]; !ok {
			t.Fatalf("rpm -qpl lists %s, --qf does not", p)
		}
	}
	return m
}

// files returns the non-directory paths of a payload, sorted.
func files(m map[string]entry) []string {
	var out []string
	for p, e := range m {
		if !e.dir {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// debFiles reads the .deb's data archive: path -> content of every regular file.
func debFiles(t *testing.T, deb string) map[string][]byte {
	t.Helper()
	cmd := exec.Command(need(t, "dpkg-deb", "apt-get install dpkg"), "--fsys-tarfile", deb)
	return untar(t, cmd)
}

// debControl reads the .deb's control archive: name -> content.
func debControl(t *testing.T, deb string) map[string][]byte {
	t.Helper()
	cmd := exec.Command(need(t, "dpkg-deb", "apt-get install dpkg"), "--ctrl-tarfile", deb)
	return untar(t, cmd)
}

func untar(t *testing.T, cmd *exec.Cmd) map[string][]byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	tr := tar.NewReader(stdout)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		m["/"+strings.TrimPrefix(path.Clean(h.Name), "./")] = b
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, stderr.String())
	}
	return m
}

func readRepo(t *testing.T, root, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLintian(t *testing.T) {
	p := packages(t)
	lintian := need(t, "lintian", "apt-get install lintian")
	// --fail-on error: exit status 2 on any error that is not overridden. (Not with
	// --show-overrides: lintian then fails on overridden errors too.)
	cmd := exec.Command(lintian, "--fail-on", "error", "--display-info", "--pedantic",
		"--display-experimental", "--tag-display-limit", "0", p.deb)
	out, err := cmd.CombinedOutput()
	t.Logf("lintian %s:\n%s", filepath.Base(p.deb), out)
	var errs, warns []string
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "E: "):
			errs = append(errs, line)
		case strings.HasPrefix(line, "W: "):
			warns = append(warns, line)
		}
		// An override that no longer matches, or that lintian cannot read, is a stale
		// or broken explanation: fix the overrides file.
		for _, tag := range []string{"unused-override", "mismatched-override", "malformed-override"} {
			if strings.Contains(line, " "+tag) {
				t.Errorf("lintian: %s", line)
			}
		}
	}
	if err != nil || len(errs) > 0 {
		t.Errorf("lintian reports errors (exit: %v):\n%s", err, strings.Join(errs, "\n"))
	}
	t.Logf("lintian: %d errors, %d warnings", len(errs), len(warns))

	// The overridden tags, for the log.
	out, _ = exec.Command(lintian, "--show-overrides", "--display-info", "--tag-display-limit", "0", p.deb).CombinedOutput()
	var o []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "O: ") {
			o = append(o, line)
		}
	}
	t.Logf("overridden (reasons in packaging/deb/hostkit.lintian-overrides):\n%s", strings.Join(o, "\n"))
}

// TestLintianOverridesExplained: every override carries a comment saying why, and the
// file in the package is the one in the repository.
func TestLintianOverridesExplained(t *testing.T) {
	p := packages(t)
	const rel = "packaging/deb/hostkit.lintian-overrides"
	src := readRepo(t, p.root, rel)
	commented := false // a comment block stands directly above (overrides may share one)
	n := 0
	for i, line := range strings.Split(string(src), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
			commented = false
		case strings.HasPrefix(line, "#"):
			commented = true
		default:
			n++
			if !strings.HasPrefix(line, "hostkit: ") {
				t.Errorf("%s:%d: override %q does not start with \"hostkit: \"", rel, i+1, line)
			}
			if !commented {
				t.Errorf("%s:%d: override %q has no comment above it saying why", rel, i+1, line)
			}
		}
	}
	t.Logf("%s: %d overrides, each explained", rel, n)
	inPkg, ok := debFiles(t, p.deb)["/usr/share/lintian/overrides/hostkit"]
	if !ok {
		t.Fatal("the .deb lacks /usr/share/lintian/overrides/hostkit")
	}
	if !bytes.Equal(inPkg, src) {
		t.Errorf("/usr/share/lintian/overrides/hostkit in the .deb differs from %s: run make packages", rel)
	}
}

// TestPayloadSame: the .deb and the .rpm install the same files, with the same modes and
// sizes, apart from the listed distribution-specific ones.
func TestPayloadSame(t *testing.T) {
	p := packages(t)
	deb, rpm := debPayload(t, p.deb), rpmPayload(t, p.rpm)
	t.Logf("excluded from the comparison: directories (the .deb lists every parent, the .rpm "+
		"only those it owns), .deb only %v (Debian's doc and lintian places), .rpm only %v (%%license)",
		debOnly, rpmOnly)
	for _, f := range debOnly {
		if e, ok := deb[f]; !ok || e.dir {
			t.Errorf("the .deb lacks %s", f)
		}
		delete(deb, f)
	}
	for _, f := range rpmOnly {
		if e, ok := rpm[f]; !ok || e.dir {
			t.Errorf("the .rpm lacks %s", f)
		}
		delete(rpm, f)
	}
	df, rf := files(deb), files(rpm)
	for _, f := range df {
		if _, ok := rpm[f]; !ok {
			t.Errorf("%s is in the .deb, not in the .rpm", f)
		}
	}
	for _, f := range rf {
		if _, ok := deb[f]; !ok {
			t.Errorf("%s is in the .rpm, not in the .deb", f)
		}
	}
	for _, f := range df {
		r, ok := rpm[f]
		if !ok {
			continue
		}
		if d := deb[f]; d.mode != r.mode || d.size != r.size && !slices.Contains(ownContent, f) {
			t.Errorf("%s: .deb %s %s bytes, .rpm %s %s bytes", f, d.mode, d.size, r.mode, r.size)
		}
	}
	t.Logf("payload (%d files):\n%s", len(df), strings.Join(df, "\n"))
}

// TestPayloadFromRepo: what the repository has is in the package, where
// ARCHITECTURE.md puts it, so that a missing glob in nfpm.yaml cannot go unnoticed.
func TestPayloadFromRepo(t *testing.T) {
	p := packages(t)
	deb := debPayload(t, p.deb)
	want := map[string]string{ // path in the package -> mode
		"/usr/bin/hostkitctl":         "-rwxr-xr-x",
		"/usr/sbin/hostkit-hwd":       "-rwxr-xr-x",
		"/usr/sbin/hostkit-bootorder": "-rwxr-xr-x",
		"/usr/lib/systemd/system-generators/hostkit-bootorder-generator": "-rwxr-xr-x",
		"/usr/lib/systemd/system-preset/80-hostkit.preset":               "-rw-r--r--",
		"/etc/hostkit/hwd.conf":                                          "-rw-r--r--",
		"/etc/hostkit/hwd.conf.d":                                        "drwxr-xr-x",
		"/etc/hostkit/boot-order.conf":                                   "-rw-r--r--",
		"/etc/hostkit/boot-order.conf.d":                                 "drwxr-xr-x",
		"/etc/hostkit/sync.conf":                                         "-rw-r--r--",
		"/etc/hostkit/sync.conf.d":                                       "drwxr-xr-x",
	}
	glob := func(pattern, dst string) {
		m, _ := filepath.Glob(filepath.Join(p.root, pattern))
		for _, f := range m {
			want[path.Join(dst, filepath.Base(f))] = "-rw-r--r--"
		}
	}
	// Every daemon that `make build` left in bin/, and every generator (named
	// hostkit-*-generator) in systemd's directory for them, never in /usr/sbin.
	daemons, _ := filepath.Glob(filepath.Join(p.root, "bin", "hostkit-*"))
	for _, f := range daemons {
		name := filepath.Base(f)
		if strings.HasSuffix(name, "-generator") {
			want["/usr/lib/systemd/system-generators/"+name] = "-rwxr-xr-x"
			if _, ok := deb["/usr/sbin/"+name]; ok {
				t.Errorf("the generator %s is also packaged as /usr/sbin/%s", name, name)
			}
			continue
		}
		want["/usr/sbin/"+name] = "-rwxr-xr-x"
	}
	for f := range deb {
		if strings.HasPrefix(f, "/usr/sbin/") && strings.HasSuffix(f, "-generator") {
			t.Errorf("%s: generators belong in /usr/lib/systemd/system-generators", f)
		}
	}
	glob("units/*.service", "/usr/lib/systemd/system")
	glob("units/*.socket", "/usr/lib/systemd/system")
	glob("dbus/*.conf", "/usr/share/dbus-1/system.d")
	glob("dbus/*.service", "/usr/share/dbus-1/system-services")
	glob("dbus/*.policy", "/usr/share/polkit-1/actions")
	glob("dbus/*.xml", "/usr/share/dbus-1/interfaces")
	mans, _ := filepath.Glob(filepath.Join(p.root, "man", "*.md"))
	if len(mans) == 0 {
		t.Errorf("man/ has no *.md: the package would ship no man pages")
	}
	for _, m := range mans {
		page := strings.TrimSuffix(filepath.Base(m), ".md") // NAME.SECTION
		section := page[strings.LastIndex(page, ".")+1:]
		want["/usr/share/man/man"+section+"/"+page+".gz"] = "-rw-r--r--"
	}
	var paths []string
	for p := range want {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, f := range paths {
		e, ok := deb[f]
		switch {
		case !ok:
			t.Errorf("the .deb lacks %s", f)
		case e.mode != want[f]:
			t.Errorf("%s: mode %s, want %s", f, e.mode, want[f])
		}
	}
}

// TestPayloadContent looks inside the files: conffile and copyright as in the repository,
// man pages gzipped reproducibly, binaries static and stripped, every Go module linked
// into them named in the copyright file.
func TestPayloadContent(t *testing.T) {
	p := packages(t)
	content := debFiles(t, p.deb)
	for dst, src := range map[string]string{
		"/etc/hostkit/hwd.conf":                            "packaging/hwd.conf",
		"/etc/hostkit/boot-order.conf":                     "packaging/boot-order.conf",
		"/etc/hostkit/sync.conf":                           "packaging/sync.conf",
		"/usr/lib/systemd/system-preset/80-hostkit.preset": "packaging/80-hostkit.preset",
		"/usr/share/doc/hostkit/copyright":                 "packaging/copyright",
	} {
		if !bytes.Equal(content[dst], readRepo(t, p.root, src)) {
			t.Errorf("%s differs from %s: run make packages", dst, src)
		}
	}

	for f, b := range content {
		if !strings.HasPrefix(f, "/usr/share/man/") && !strings.HasSuffix(f, "/changelog.gz") {
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Errorf("%s: not gzip: %v", f, err)
			continue
		}
		// gzip -n: no file name, no time stamp, so the bytes depend on the text alone.
		if zr.Name != "" || !zr.ModTime.IsZero() {
			t.Errorf("%s: gzip header has name %q time %v: use gzip -9n", f, zr.Name, zr.ModTime)
		}
		text, err := io.ReadAll(zr)
		if err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if strings.HasPrefix(f, "/usr/share/man/") && !bytes.Contains(text, []byte(".TH ")) {
			t.Errorf("%s: no .TH line: not a rendered man page", f)
		}
		if strings.HasSuffix(f, "/changelog.gz") && !bytes.HasPrefix(text, []byte("hostkit ("+p.version+") ")) {
			t.Errorf("%s: first entry is not for %s:\n%s", f, p.version, text)
		}
	}

	copyright := string(content["/usr/share/doc/hostkit/copyright"])
	bins := []string{"/usr/bin/hostkitctl", "/usr/sbin/hostkit-hwd", "/usr/sbin/hostkit-bootorder",
		"/usr/lib/systemd/system-generators/hostkit-bootorder-generator"}
	for f := range content { // and any other program the package gains
		if (strings.HasPrefix(f, "/usr/sbin/") || strings.HasPrefix(f, "/usr/lib/systemd/system-generators/")) && !slices.Contains(bins, f) {
			bins = append(bins, f)
		}
	}
	for _, bin := range bins {
		b, ok := content[bin]
		if !ok {
			t.Errorf("the .deb lacks %s", bin)
			continue
		}
		ef, err := elf.NewFile(bytes.NewReader(b))
		if err != nil {
			t.Errorf("%s: not ELF: %v", bin, err)
			continue
		}
		for _, prog := range ef.Progs {
			if prog.Type == elf.PT_INTERP {
				t.Errorf("%s: dynamically linked (has PT_INTERP); build with CGO_ENABLED=0", bin)
			}
		}
		if ef.Section(".symtab") != nil || ef.Section(".debug_info") != nil {
			t.Errorf("%s: not stripped", bin)
		}
		info, err := buildinfo.Read(bytes.NewReader(b))
		if err != nil {
			t.Errorf("%s: no Go build info: %v", bin, err)
			continue
		}
		for _, dep := range info.Deps {
			if !strings.Contains(copyright, "\nFiles: "+dep.Path+"/*\n") {
				t.Errorf("%s links %s %s, which packaging/copyright does not name (add a Files: %s/* paragraph with its license)",
					bin, dep.Path, dep.Version, dep.Path)
			}
		}
	}
}

// TestDebControl: control fields and conffiles of the .deb.
func TestDebControl(t *testing.T) {
	p := packages(t)
	dpkgDeb := need(t, "dpkg-deb", "apt-get install dpkg")
	info := run(t, dpkgDeb, "-I", p.deb)
	t.Logf("dpkg-deb -I:\n%s", info)
	if !regexp.MustCompile(`(?m)^\s+\d+ bytes,\s+\d+ lines\s+conffiles\s*$`).MatchString(info) {
		t.Errorf("dpkg-deb -I shows no conffiles")
	}
	ctrl := debControl(t, p.deb)
	conffiles := strings.Fields(string(ctrl["/conffiles"]))
	for _, f := range []string{"/etc/hostkit/hwd.conf", "/etc/hostkit/boot-order.conf", "/etc/hostkit/sync.conf"} {
		if !slices.Contains(conffiles, f) {
			t.Errorf("conffiles %q lacks %s", conffiles, f)
		}
	}
	for field, want := range map[string]string{
		"Package":      "hostkit",
		"Version":      p.version,
		"Architecture": "amd64",
		"Homepage":     "https://github.com/hostkit/hostkit",
	} {
		if got := strings.TrimSpace(run(t, dpkgDeb, "-f", p.deb, field)); got != want {
			t.Errorf("%s: %q, want %q", field, got, want)
		}
	}
	if got := run(t, dpkgDeb, "-f", p.deb, "Depends"); !regexp.MustCompile(`(^|, )dbus\b`).MatchString(got) {
		t.Errorf("Depends: %q lacks dbus", got)
	}
	if got := run(t, dpkgDeb, "-f", p.deb, "Maintainer"); !strings.Contains(got, "<") {
		t.Errorf("Maintainer: %q has no address", got)
	}
	// The maintainer scripts in the package are those in the repository.
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		if !bytes.Equal(ctrl["/"+s], readRepo(t, p.root, "packaging/deb/"+s)) {
			t.Errorf("%s in the .deb differs from packaging/deb/%s: run make packages", s, s)
		}
	}
}

// TestRPMHeader: version, config files and scriptlets of the .rpm.
func TestRPMHeader(t *testing.T) {
	p := packages(t)
	rpm := need(t, "rpm", "apt-get install rpm")
	if got := run(t, rpm, "-qp", "--qf", "%{NAME} %{VERSION} %{ARCH} %{LICENSE} %{URL}", p.rpm); got != "hostkit "+p.version+" x86_64 MIT https://github.com/hostkit/hostkit" {
		t.Errorf("rpm header: %q", got)
	}
	cf := strings.Fields(run(t, rpm, "-qp", "--configfiles", p.rpm))
	// %config(noreplace): RPMFILE_CONFIG (1) | RPMFILE_NOREPLACE (16).
	flags := run(t, rpm, "-qp", "--qf", `[%{FILEFLAGS} %{FILENAMES}\n]`, p.rpm)
	for _, f := range []string{"/etc/hostkit/hwd.conf", "/etc/hostkit/boot-order.conf", "/etc/hostkit/sync.conf"} {
		if !slices.Contains(cf, f) {
			t.Errorf("rpm -qp --configfiles: %q lacks %s", cf, f)
		}
		if !regexp.MustCompile(`(?m)^17 ` + regexp.QuoteMeta(f) + `$`).MatchString(flags) {
			t.Errorf("%s is not %%config(noreplace):\n%s", f, flags)
		}
	}
	if req := run(t, rpm, "-qpR", p.rpm); !regexp.MustCompile(`(?m)^dbus\b`).MatchString(req) {
		t.Errorf("rpm -qpR lacks dbus:\n%s", req)
	}

	scripts := run(t, rpm, "-qp", "--scripts", p.rpm)
	t.Logf("rpm -qp --scripts:\n%s", scripts)
	bodies := splitRPMScripts(scripts)
	for _, s := range []struct{ header, file string }{
		{"postinstall", "post"}, {"preuninstall", "preun"}, {"postuninstall", "postun"},
	} {
		body, ok := bodies[s.header]
		if !ok {
			t.Errorf("rpm -qp --scripts: no %s scriptlet", s.header)
			continue
		}
		if !strings.Contains(body, "systemctl ") {
			t.Errorf("%s scriptlet does not call systemctl", s.header)
		}
		if s.file != "preun" && !strings.Contains(body, "org.freedesktop.DBus.ReloadConfig") {
			t.Errorf("%s scriptlet does not reload the bus configuration", s.header)
		}
		if strings.TrimSpace(body) != strings.TrimSpace(string(readRepo(t, p.root, "packaging/rpm/"+s.file))) {
			t.Errorf("%s scriptlet differs from packaging/rpm/%s: run make packages", s.header, s.file)
		}
	}
}

// splitRPMScripts splits `rpm -qp --scripts` into scriptlet name -> body.
func splitRPMScripts(out string) map[string]string {
	head := regexp.MustCompile(`(?m)^(\w+) scriptlet \(using [^)]*\):\n`)
	m := map[string]string{}
	idx := head.FindAllStringSubmatchIndex(out, -1)
	for i, loc := range idx {
		end := len(out)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		m[out[loc[2]:loc[3]]] = out[loc[1]:end]
	}
	return m
}

// scripts are the maintainer scripts, relative to the repository root.
var scripts = []string{
	"packaging/deb/postinst", "packaging/deb/prerm", "packaging/deb/postrm",
	"packaging/rpm/post", "packaging/rpm/preun", "packaging/rpm/postun",
}

// TestMaintainerScriptsSyntax: every script is a /bin/sh script with set -e that dash parses.
func TestMaintainerScriptsSyntax(t *testing.T) {
	root := repo.RootT(t)
	dash := need(t, "dash", "apt-get install dash")
	for _, s := range scripts {
		b := readRepo(t, root, s)
		if !bytes.HasPrefix(b, []byte("#!/bin/sh\n")) {
			t.Errorf("%s: does not start with #!/bin/sh", s)
		}
		if !regexp.MustCompile(`(?m)^set -e$`).Match(b) {
			t.Errorf("%s: no set -e", s)
		}
		if out, err := exec.Command(dash, "-n", filepath.Join(root, s)).CombinedOutput(); err != nil {
			t.Errorf("dash -n %s: %v\n%s", s, err, out)
		}
		if fi, err := os.Stat(filepath.Join(root, s)); err == nil && fi.Mode()&0o111 == 0 {
			t.Errorf("%s: not executable", s)
		}
	}
}

// unitLists returns the units the repository ships and those of them with an [Install]
// section, as the maintainer scripts must list them.
// adminEnabled marks a unit with an [Install] section that the package does not enable.
const adminEnabled = "# hostkit-packaging: enabled by the admin, not on install"

func unitLists(t *testing.T, root string) (units, enable []string) {
	t.Helper()
	for _, pat := range []string{"*.service", "*.socket", "*.timer", "*.path"} {
		m, _ := filepath.Glob(filepath.Join(root, "units", pat))
		for _, f := range m {
			if strings.Contains(filepath.Base(f), "@.") {
				continue // a template: its instances are in INSTANCES (instanceList)
			}
			units = append(units, filepath.Base(f))
			text := readRepo(t, root, filepath.Join("units", filepath.Base(f)))
			// A unit the admin enables (hostkit-syncd's) says so and is left alone.
			if regexp.MustCompile(`(?m)^\[Install\]`).Match(text) && !bytes.Contains(text, []byte(adminEnabled)) {
				enable = append(enable, filepath.Base(f))
			}
		}
	}
	sort.Strings(units)
	sort.Strings(enable)
	return units, enable
}

// instanceList returns INSTANCES="..." of a script that stops units, checked to have
// for every template X@.service in units/ the glob X@*.service: the instances are stopped
// on removal, never restarted on upgrade (that would end a display's session).
func instanceList(t *testing.T, root, script string) []string {
	t.Helper()
	got, _ := scriptList(t, root, script, "INSTANCES")
	templates, _ := filepath.Glob(filepath.Join(root, "units", "*@.service"))
	for _, tmpl := range templates {
		want := strings.Replace(filepath.Base(tmpl), "@.", "@*.", 1)
		if !slices.Contains(got, want) {
			t.Errorf("%s: INSTANCES=%q lacks %s for the template %s", script, got, want, filepath.Base(tmpl))
		}
	}
	return got
}

// scriptList reads NAME="..." from a script.
func scriptList(t *testing.T, root, script, name string) ([]string, bool) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `="([^"]*)"$`).FindSubmatch(readRepo(t, root, script))
	if m == nil {
		return nil, false
	}
	l := strings.Fields(string(m[1]))
	sort.Strings(l)
	return l, true
}

// TestMaintainerScriptsUnitLists: each script names exactly the units in units/.
func TestMaintainerScriptsUnitLists(t *testing.T) {
	root := repo.RootT(t)
	units, enable := unitLists(t, root)
	for _, s := range scripts {
		if got, ok := scriptList(t, root, s, "UNITS"); ok && !slices.Equal(got, units) {
			t.Errorf("%s: UNITS=%q, but units/ has %q", s, got, units)
		}
		if got, ok := scriptList(t, root, s, "ENABLE_UNITS"); ok && !slices.Equal(got, enable) {
			t.Errorf("%s: ENABLE_UNITS=%q, but the units with [Install] are %q", s, got, enable)
		}
	}
}

// scriptEnv runs maintainer scripts with stub systemctl, deb-systemd-invoke,
// deb-systemd-helper and dbus-send that log their arguments (and print noise, so that a
// missing redirection shows), in a mount namespace whose /run is a directory of the
// test's: with /run/systemd/system and a listening /run/dbus/system_bus_socket ("up", a
// booted system) or empty ("down", a chroot or image build).
type scriptEnv struct {
	stubs, up, down, log string
}

func newScriptEnv(t *testing.T) *scriptEnv {
	t.Helper()
	needRoot(t)
	need(t, "unshare", "apt-get install util-linux")
	need(t, "mount", "apt-get install mount")
	dir := t.TempDir()
	e := &scriptEnv{
		stubs: filepath.Join(dir, "bin"),
		up:    filepath.Join(dir, "up"),
		down:  filepath.Join(dir, "down"),
		log:   filepath.Join(dir, "calls"),
	}
	for _, d := range []string{e.stubs, filepath.Join(e.up, "systemd", "system"), filepath.Join(e.up, "dbus"), e.down} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stub := "#!/bin/sh\necho \"${0##*/} $*\" >>\"$STUB_LOG\"\necho \"stdout noise from ${0##*/}\"\necho \"stderr noise from ${0##*/}\" >&2\n"
	for _, name := range []string{"systemctl", "deb-systemd-invoke", "deb-systemd-helper", "dbus-send", "systemd-sysusers"} {
		if err := os.WriteFile(filepath.Join(e.stubs, name), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("unix", filepath.Join(e.up, "dbus", "system_bus_socket"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return e
}

// run runs script with args, /run from up or down, and extra environment; it returns the
// stub calls. The script must exit 0, print nothing on stdout, and nothing at all when
// systemd is down.
func (e *scriptEnv) run(t *testing.T, script string, up bool, env []string, args ...string) []string {
	t.Helper()
	if err := os.WriteFile(e.log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	runDir := e.down
	if up {
		runDir = e.up
	}
	argv := append([]string{"-m", "--propagation", "private", "sh", "-c",
		`mount --bind "$1" /run && shift && exec "$@"`, "_", runDir,
		"env", "-i", "PATH=" + e.stubs + ":" + sysPath, "STUB_LOG=" + e.log}, env...)
	argv = append(argv, "sh", script)
	argv = append(argv, args...)
	cmd := exec.Command("unshare", argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	name := fmt.Sprintf("%s %s (systemd %s)", filepath.Base(filepath.Dir(script))+"/"+filepath.Base(script),
		strings.Join(args, " "), map[bool]string{true: "up", false: "down"}[up])
	switch {
	case err != nil:
		t.Errorf("%s: %v\n%s%s", name, err, stdout.String(), stderr.String())
	case stdout.Len() > 0:
		t.Errorf("%s: prints on stdout:\n%s", name, stdout.String())
	case !up && stderr.Len() > 0:
		// With systemd up, the Debian scripts let systemctl's and deb-systemd-invoke's
		// errors through, as debhelper's do; in a chroot there must be nothing to say.
		t.Errorf("%s: not quiet without systemd:\n%s", name, stderr.String())
	}
	b, err := os.ReadFile(e.log)
	if err != nil {
		t.Fatal(err)
	}
	var calls []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		calls = append(calls, sc.Text())
	}
	return calls
}

const reload = "dbus-send --print-reply --system --type=method_call --dest=org.freedesktop.DBus / org.freedesktop.DBus.ReloadConfig"
const rpmReload = "dbus-send --system --type=method_call --dest=org.freedesktop.DBus / org.freedesktop.DBus.ReloadConfig"

// TestMaintainerScriptsBehaviour: what each script calls for each way dpkg or rpm runs it.
func TestMaintainerScriptsBehaviour(t *testing.T) {
	root := repo.RootT(t)
	e := newScriptEnv(t)
	units, enable := unitLists(t, root)
	u := strings.Join(units, " ")
	var debEnable, rpmPreset []string
	for _, unit := range enable {
		debEnable = append(debEnable,
			"deb-systemd-helper unmask "+unit,
			"deb-systemd-helper --quiet was-enabled "+unit, // the stub says yes
			"deb-systemd-helper enable "+unit)
	}
	if len(enable) > 0 {
		rpmPreset = []string{"systemctl --no-reload preset " + strings.Join(enable, " ")}
	}
	var debMask, debPurge []string
	if len(enable) > 0 {
		debMask = []string{"deb-systemd-helper mask " + strings.Join(enable, " ")}
		debPurge = []string{"deb-systemd-helper purge " + strings.Join(enable, " "),
			"deb-systemd-helper unmask " + strings.Join(enable, " ")}
	}
	cat := func(l ...[]string) []string { return slices.Concat(l...) }
	s := func(l ...string) []string { return l }
	sysusers := s("systemd-sysusers hostkit.conf") // the exporter's system user
	debEnable = cat(sysusers, debEnable)
	rpmPreset = cat(sysusers, rpmPreset)
	debStop := "deb-systemd-invoke stop " + strings.Join(append(slices.Clone(units), instanceList(t, root, "packaging/deb/prerm")...), " ")
	rpmStop := s("systemctl --no-reload disable --now "+u, "systemctl stop "+strings.Join(instanceList(t, root, "packaging/rpm/preun"), " "))

	type tc struct {
		script string
		args   []string
		up     []string // calls with systemd and the bus running
		down   []string // calls in a chroot
	}
	cases := []tc{
		// dpkg: postinst configure [old-version]
		{"deb/postinst", s("configure", ""), cat(debEnable, s("systemctl --system daemon-reload", reload)), debEnable},
		{"deb/postinst", s("configure", "0.0.1"), cat(debEnable, s("systemctl --system daemon-reload", "deb-systemd-invoke try-restart "+u, reload)), debEnable},
		{"deb/postinst", s("abort-upgrade", "0.0.1"), cat(debEnable, s("systemctl --system daemon-reload", "deb-systemd-invoke try-restart "+u, reload)), debEnable},
		// dpkg: prerm remove | upgrade new-version
		{"deb/prerm", s("remove"), s(debStop), nil},
		{"deb/prerm", s("upgrade", "9.9.9"), nil, nil},
		// dpkg: postrm remove | upgrade | purge (purge below, with DPKG_ROOT)
		{"deb/postrm", s("remove"), cat(s("systemctl --system daemon-reload"), debMask, s(reload)), debMask},
		{"deb/postrm", s("upgrade", "9.9.9"), nil, nil},
		// rpm: $1 = instances after the transaction
		{"rpm/post", s("1"), cat(rpmPreset, s("systemctl daemon-reload", rpmReload)), rpmPreset},
		{"rpm/post", s("2"), cat(sysusers, s("systemctl daemon-reload", rpmReload)), sysusers},
		{"rpm/preun", s("0"), rpmStop, rpmStop},
		{"rpm/preun", s("1"), nil, nil},
		{"rpm/postun", s("0"), s("systemctl daemon-reload", rpmReload), nil},
		{"rpm/postun", s("1"), s("systemctl daemon-reload", "systemctl try-restart "+u, rpmReload), nil},
	}
	for _, c := range cases {
		script := filepath.Join(root, "packaging", c.script)
		for _, up := range []bool{true, false} {
			want := c.down
			if up {
				want = c.up
			}
			got := e.run(t, script, up, nil, c.args...)
			if !slices.Equal(got, want) {
				t.Errorf("%s %q (systemd up: %v) called\n  %q\nwant\n  %q", c.script, c.args, up, got, want)
			}
		}
	}

	// postrm purge, with DPKG_ROOT so that it works on a root of the test's: removes the
	// drop-in directory of every configuration file the package ships
	// (packaging/NAME.conf -> /etc/hostkit/NAME.conf.d) and /etc/hostkit when empty,
	// keeps an admin's drop-in.
	dpkgRoot := t.TempDir()
	confd := filepath.Join(dpkgRoot, "etc", "hostkit", "hwd.conf.d")
	confs, _ := filepath.Glob(filepath.Join(root, "packaging", "*.conf"))
	if len(confs) == 0 {
		t.Fatal("no packaging/*.conf")
	}
	for _, c := range confs {
		if err := os.MkdirAll(filepath.Join(dpkgRoot, "etc", "hostkit", filepath.Base(c)+".d"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dropin := filepath.Join(confd, "local.conf")
	if err := os.WriteFile(dropin, []byte("[Daemon]\nIdleTimeoutSec=5s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "packaging", "deb", "postrm")
	calls := e.run(t, script, true, []string{"DPKG_ROOT=" + dpkgRoot}, "purge")
	if want := debPurge; !slices.Equal(calls, want) {
		t.Errorf("postrm purge (DPKG_ROOT) called %q, want %q", calls, want)
	}
	if _, err := os.Stat(dropin); err != nil {
		t.Errorf("postrm purge removed an admin's drop-in: %v", err)
	}
	if err := os.Remove(dropin); err != nil {
		t.Fatal(err)
	}
	e.run(t, script, true, []string{"DPKG_ROOT=" + dpkgRoot}, "purge")
	if _, err := os.Stat(filepath.Join(dpkgRoot, "etc", "hostkit")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postrm purge left the empty /etc/hostkit (stat: %v)", err)
	}
}

// TestDebInstallRemovePurge installs the .deb into an empty root with dpkg --root
// (scripts run outside it with DPKG_ROOT set, as for a foreign-root install), upgrades
// it in place, removes it and purges it.
func TestDebInstallRemovePurge(t *testing.T) {
	p := packages(t)
	needRoot(t)
	dpkg := need(t, "dpkg", "apt-get install dpkg")
	r := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		if err := os.MkdirAll(filepath.Join(r, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		if err := os.WriteFile(filepath.Join(r, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dpkgRun := func(args ...string) {
		t.Helper()
		cmd := exec.Command(dpkg, append([]string{"--root=" + r, "--force-script-chrootless",
			"--force-depends", "--force-unsafe-io", "--log=/dev/null"}, args...)...)
		cmd.Env = []string{"PATH=" + sysPath, "LC_ALL=C"}
		out, err := cmd.CombinedOutput()
		t.Logf("dpkg %s:\n%s", strings.Join(args, " "), out)
		if err != nil {
			t.Fatalf("dpkg %s: %v", strings.Join(args, " "), err)
		}
	}
	exists := func(rel string) bool {
		_, err := os.Lstat(filepath.Join(r, rel))
		return err == nil
	}

	dpkgRun("-i", p.deb)
	for _, f := range []string{"usr/sbin/hostkit-hwd", "usr/bin/hostkitctl", "etc/hostkit/hwd.conf",
		"etc/hostkit/hwd.conf.d", "usr/lib/systemd/system/hostkit-hwd.service",
		"usr/sbin/hostkit-bootorder", "usr/lib/systemd/system-generators/hostkit-bootorder-generator",
		"etc/hostkit/boot-order.conf", "etc/hostkit/boot-order.conf.d"} {
		if !exists(f) {
			t.Errorf("after dpkg -i: /%s missing", f)
		}
	}
	// postinst enabled the units with an [Install] section in the foreign root, through
	// deb-systemd-helper and DPKG_ROOT, as on an image build.
	_, enable := unitLists(t, p.root)
	if len(enable) == 0 {
		t.Error("units/ has no unit with an [Install] section; hostkit-bootorder-verify.service should have one")
	}
	for _, u := range enable {
		link := "etc/systemd/system/multi-user.target.wants/" + u
		if target, err := os.Readlink(filepath.Join(r, link)); err != nil {
			t.Errorf("after dpkg -i: %s is not enabled (/%s: %v)", u, link, err)
		} else {
			t.Logf("after dpkg -i: /%s -> %s", link, target)
		}
	}
	// An admin's edit and drop-in.
	conf := filepath.Join(r, "etc/hostkit/hwd.conf")
	if err := os.WriteFile(conf, []byte("[Daemon]\nIdleTimeoutSec=60s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r, "etc/hostkit/hwd.conf.d/local.conf"), []byte("[Daemon]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dpkgRun("--force-confold", "-i", p.deb) // upgrade over itself: postinst configure VERSION
	if b, _ := os.ReadFile(conf); !bytes.Contains(b, []byte("60s")) {
		t.Errorf("reinstall replaced the admin's /etc/hostkit/hwd.conf")
	}
	dpkgRun("-r", "hostkit")
	if exists("usr/sbin/hostkit-hwd") || !exists("etc/hostkit/hwd.conf") {
		t.Errorf("after dpkg -r: binary present %v, conffile present %v (want false, true)",
			exists("usr/sbin/hostkit-hwd"), exists("etc/hostkit/hwd.conf"))
	}
	dpkgRun("-P", "hostkit")
	if exists("etc/hostkit/hwd.conf") || !exists("etc/hostkit/hwd.conf.d/local.conf") {
		t.Errorf("after dpkg -P: conffile present %v, admin's drop-in present %v (want false, true)",
			exists("etc/hostkit/hwd.conf"), exists("etc/hostkit/hwd.conf.d/local.conf"))
	}
	// Without drop-ins, purge leaves no /etc/hostkit.
	if err := os.RemoveAll(filepath.Join(r, "etc/hostkit")); err != nil {
		t.Fatal(err)
	}
	dpkgRun("-i", p.deb)
	dpkgRun("-P", "hostkit")
	if exists("etc/hostkit") {
		t.Errorf("after dpkg -i, dpkg -P: /etc/hostkit left behind")
	}
	for _, u := range enable {
		if link := "etc/systemd/system/multi-user.target.wants/" + u; exists(link) {
			t.Errorf("after dpkg -P: /%s left behind", link)
		}
	}
}

// TestPresetMatchesInstall: packaging/80-hostkit.preset enables exactly the units with an
// [Install] section, so that rpm's `systemctl preset` (and `systemctl preset-all` anywhere)
// enables what Debian's postinst enables with deb-systemd-helper.
func TestPresetMatchesInstall(t *testing.T) {
	root := repo.RootT(t)
	_, enable := unitLists(t, root)
	var enabled []string
	for i, line := range strings.Split(string(readRepo(t, root, "packaging/80-hostkit.preset")), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0 || strings.HasPrefix(f[0], "#"):
		case len(f) == 2 && f[0] == "enable":
			enabled = append(enabled, f[1])
		default:
			// A "disable" line would override the distribution's own preset policy.
			t.Errorf("packaging/80-hostkit.preset:%d: %q, want only \"enable UNIT\" lines", i+1, line)
		}
	}
	sort.Strings(enabled)
	if !slices.Equal(enabled, enable) {
		t.Errorf("packaging/80-hostkit.preset enables %q, but the units with [Install] are %q", enabled, enable)
	}
}

// TestDefaultBootOrderConf: the shipped /etc/hostkit/boot-order.conf orders nothing and
// gives no warning, and each of its commented examples, uncommented, is a rule the
// planner uses (so the examples cannot drift from the syntax). Runs the packaged
// hostkit-bootorder, `plan --root` on a root holding only the file.
func TestDefaultBootOrderConf(t *testing.T) {
	p := packages(t)
	bin := filepath.Join(t.TempDir(), "hostkit-bootorder")
	if err := os.WriteFile(bin, debFiles(t, p.deb)["/usr/sbin/hostkit-bootorder"], 0o755); err != nil {
		t.Fatal(err)
	}
	conf := readRepo(t, p.root, "packaging/boot-order.conf")
	plan := func(t *testing.T, text []byte) (units, warnings []string) {
		t.Helper()
		r := t.TempDir()
		if err := os.MkdirAll(filepath.Join(r, "etc/hostkit"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(r, "etc/hostkit/boot-order.conf"), text, 0o644); err != nil {
			t.Fatal(err)
		}
		out := run(t, bin, "plan", "--root", r, "--json")
		var pl struct {
			Units []struct {
				Unit string `json:"unit"`
			} `json:"units"`
			Warnings []struct {
				Path    string `json:"path"`
				Line    int    `json:"line"`
				Message string `json:"message"`
			} `json:"warnings"`
		}
		if err := json.Unmarshal([]byte(out), &pl); err != nil {
			t.Fatalf("hostkit-bootorder plan --json: %v\n%s", err, out)
		}
		for _, u := range pl.Units {
			units = append(units, u.Unit)
		}
		for _, w := range pl.Warnings {
			warnings = append(warnings, fmt.Sprintf("%s:%d: %s", w.Path, w.Line, w.Message))
		}
		return units, warnings
	}

	units, warnings := plan(t, conf)
	if len(units) != 0 || len(warnings) != 0 {
		t.Errorf("the shipped boot-order.conf plans units %q with warnings %q, want none of either", units, warnings)
	}

	example := regexp.MustCompile(`^#((Order|Priority)=\S.*)$`)
	n := 0
	for i, line := range strings.Split(string(conf), "\n") {
		m := example.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n++
		text := "[Rules]\n" + m[1] + "\n"
		units, warnings := plan(t, []byte(text))
		t.Logf("line %d, %s: plans %q", i+1, m[1], units)
		// On a root without those units the planner says so ("no unit file ... the rule
		// still names it") and keeps the rule; a rule it cannot use is "left out".
		for _, w := range warnings {
			if strings.Contains(w, "left out") || !strings.Contains(w, "still names it") {
				t.Errorf("packaging/boot-order.conf:%d: the example %q, uncommented, is not accepted: %s", i+1, m[1], w)
			}
		}
		if len(units) == 0 {
			t.Errorf("packaging/boot-order.conf:%d: the example %q, uncommented, plans nothing", i+1, m[1])
		}
	}
	if n == 0 {
		t.Error("packaging/boot-order.conf has no commented Order= or Priority= example")
	}
}
