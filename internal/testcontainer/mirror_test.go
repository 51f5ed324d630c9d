package testcontainer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFindMirror reads the sample apt directories in testdata/apt, each standing for a
// host's /etc/apt, in both source formats.
func TestFindMirror(t *testing.T) {
	for i, tc := range []struct {
		dir, env string
		want     string   // the mirror; "" when an error is wanted
		wantErr  []string // what the error must mention
	}{
		// deb822: the security suite, a disabled stanza and a scheme debootstrap
		// cannot use are passed over; continuation lines and comments are read.
		{dir: "deb822", want: "http://mirror.example/debian"},
		// One-line format: comments, deb-src, the security suite, cdrom and options in
		// brackets are passed over.
		{dir: "one-line", want: "http://mirror.example/debian"},
		// sources.list comes first, as apt reads it first.
		{dir: "both", want: "http://from-sources-list.example/debian"},
		// Files apt ignores are ignored; the only one apt reads is last in name order.
		{dir: "ignored", want: "https://mirror.example/debian/"},
		// A *.list file in sources.list.d, with a file: URI.
		{dir: "list-in-dir", want: "file:/srv/debian"},
		// The variable wins over the host's sources, and needs none.
		{dir: "one-line", env: "http://override.example/debian", want: "http://override.example/debian"},
		{dir: "missing", env: "http://override.example/debian", want: "http://override.example/debian"},
		// Nothing for the suite: the error says where it looked and what to set.
		{dir: "none", wantErr: []string{"bookworm", "sources.list", "sources.list.d", MirrorEnv}},
		{dir: "empty", wantErr: []string{"bookworm", MirrorEnv}},
		{dir: "missing", wantErr: []string{"bookworm", MirrorEnv}},
	} {
		dir := filepath.Join("testdata", "apt", tc.dir)
		got, err := findMirror(tc.env, dir, "bookworm")
		if tc.wantErr == nil {
			if err != nil || got != tc.want {
				t.Errorf("case %d (%s, env %q): findMirror = %q, %v; want %q", i, tc.dir, tc.env, got, err, tc.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("case %d (%s): findMirror = %q, want an error", i, tc.dir, got)
			continue
		}
		for _, w := range append(tc.wantErr, dir) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("case %d (%s): error %q does not mention %q", i, tc.dir, err, w)
			}
		}
	}
}

// TestFindMirrorUnreadable: a source file that cannot be read is an error naming it,
// not a silent fallback to the next file.
func TestFindMirrorUnreadable(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "sources.list")
	if err := os.Mkdir(list, 0o755); err != nil { // a directory where the file should be
		t.Fatal(err)
	}
	_, err := findMirror("", dir, "bookworm")
	if err == nil || !strings.Contains(err.Error(), list) || !strings.Contains(err.Error(), MirrorEnv) {
		t.Errorf("findMirror with %s unreadable: %v, want an error naming it and %s", list, err, MirrorEnv)
	}
}

// TestStampIgnoresMirror: a root built from another mirror is the same root; one with
// another package list is not.
func TestStampIgnoresMirror(t *testing.T) {
	if !sameRoot(stamp("http://a.example/debian")) || !sameRoot(stamp("file:/srv/debian")) {
		t.Errorf("a stamp of this harness from another mirror is not taken as the same root:\n%s", stamp("http://a.example/debian"))
	}
	other := strings.Replace(stamp("http://a.example/debian"), "include=", "include=xterm,", 1)
	if sameRoot(other) {
		t.Errorf("a stamp with another package list is taken as the same root:\n%s", other)
	}
}
