package testcontainer

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// MirrorEnv names the environment variable that sets the Debian mirror debootstrap builds
// the base root from, instead of the one the host's apt uses.
const MirrorEnv = "HOSTKIT_TEST_MIRROR"

// aptDir is where Mirror reads the host's apt sources.
const aptDir = "/etc/apt"

// Mirror returns the URL of the Debian mirror the base root is built from:
// $HOSTKIT_TEST_MIRROR when set, else the first mirror the host's apt uses for Suite.
//
// The host's sources are read as apt reads them: /etc/apt/sources.list, then the files
// of /etc/apt/sources.list.d in name order, *.list in the one-line format ("deb [options]
// URI SUITE COMPONENT...") and *.sources in the deb822 format (stanzas with Types:, URIs:,
// Suites:). Files apt ignores are ignored (any other name, such as *.list.disabled or
// *.sources.save), and so are deb822 stanzas with "Enabled: no". The first source of type
// deb whose suites include Suite itself (not Suite-security or Suite-updates) and whose
// URI debootstrap can fetch from (http, https or file) gives the mirror.
//
// When there is none, or a source file cannot be read, the error says where it looked
// and how to set HOSTKIT_TEST_MIRROR.
func Mirror() (string, error) {
	return findMirror(os.Getenv(MirrorEnv), aptDir, Suite)
}

// findMirror is Mirror with the variable's value, the apt directory and the suite as
// arguments.
func findMirror(env, dir, suite string) (string, error) {
	if env != "" {
		return env, nil
	}
	files, err := sourceFiles(dir)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("read apt source %s (or set %s to a Debian mirror's URL): %w", f, MirrorEnv, err)
		}
		parse := oneLineMirror
		if strings.HasSuffix(f, ".sources") {
			parse = deb822Mirror
		}
		if uri := parse(string(data), suite); uri != "" {
			return uri, nil
		}
	}
	return "", fmt.Errorf("no Debian mirror for %s in the host's apt sources: looked for a source of type deb "+
		"with suite %s and an http, https or file URI in %s and %s; set %s to the URL of a Debian mirror "+
		"that has %s, as in `make check %s=http://MIRROR/debian`",
		suite, suite, filepath.Join(dir, "sources.list"), filepath.Join(dir, "sources.list.d", "*.{list,sources}"),
		MirrorEnv, suite, MirrorEnv)
}

// aptSourceName is what apt accepts as the name of a file in sources.list.d.
var aptSourceName = regexp.MustCompile(`^[A-Za-z0-9_.-]+\.(list|sources)$`)

// sourceFiles lists dir/sources.list and the files of dir/sources.list.d that apt reads,
// in the order it reads them. Missing files and directories are left out.
func sourceFiles(dir string) ([]string, error) {
	files := []string{filepath.Join(dir, "sources.list")}
	entries, err := os.ReadDir(filepath.Join(dir, "sources.list.d"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read apt sources (or set %s to a Debian mirror's URL): %w", MirrorEnv, err)
	}
	for _, e := range entries { // ReadDir sorts by name
		if !e.IsDir() && aptSourceName.MatchString(e.Name()) {
			files = append(files, filepath.Join(dir, "sources.list.d", e.Name()))
		}
	}
	return files, nil
}

// oneLineMirror returns the URI of the first "deb" line of a sources.list for suite that
// debootstrap can use, or "".
func oneLineMirror(text, suite string) string {
	for _, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if len(f) > 0 && strings.HasPrefix(f[0], "[") { // [arch=amd64 signed-by=...]
			end := slices.IndexFunc(f, func(s string) bool { return strings.HasSuffix(s, "]") })
			if end < 0 {
				continue
			}
			f = f[end+1:]
		}
		if len(f) >= 2 && f[1] == suite && fetchable(f[0]) {
			return f[0]
		}
	}
	return ""
}

// deb822Mirror returns the first URI of the first enabled stanza of a .sources file with
// type deb and suite that debootstrap can use, or "".
func deb822Mirror(text, suite string) string {
	for _, stanza := range deb822Stanzas(text) {
		if strings.EqualFold(strings.Join(stanza["enabled"], ""), "no") ||
			!slices.Contains(stanza["types"], "deb") || !slices.Contains(stanza["suites"], suite) {
			continue
		}
		for _, uri := range stanza["uris"] {
			if fetchable(uri) {
				return uri
			}
		}
	}
	return ""
}

// deb822Stanzas splits a deb822 file into stanzas, each a map from lower-cased field
// name to the whitespace-separated words of its value (continuation lines included).
// Comment lines are dropped; blank lines end a stanza.
func deb822Stanzas(text string) []map[string][]string {
	var stanzas []map[string][]string
	cur, field := map[string][]string{}, ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
		case strings.TrimSpace(line) == "":
			if len(cur) > 0 {
				stanzas = append(stanzas, cur)
			}
			cur, field = map[string][]string{}, ""
		case line[0] == ' ' || line[0] == '\t':
			if field != "" {
				cur[field] = append(cur[field], strings.Fields(line)...)
			}
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok {
				field = ""
				continue
			}
			field = strings.ToLower(strings.TrimSpace(name))
			cur[field] = append(cur[field], strings.Fields(value)...)
		}
	}
	if len(cur) > 0 {
		stanzas = append(stanzas, cur)
	}
	return stanzas
}

// fetchable reports whether debootstrap can fetch from uri: http, https or file.
func fetchable(uri string) bool {
	for _, scheme := range []string{"http://", "https://", "file:/"} {
		if strings.HasPrefix(uri, scheme) {
			return true
		}
	}
	return false
}
