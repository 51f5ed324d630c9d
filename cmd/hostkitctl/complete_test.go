package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hostkit/hostkit/internal/repo"
)

// TestMain lets the test binary be hostkitctl for the shells' completion scripts.
func TestMain(m *testing.M) {
	if os.Getenv("HOSTKITCTL_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func completions(t *testing.T, words ...string) []string {
	t.Helper()
	var out bytes.Buffer
	if err := run(append([]string{completeCommand}, words...), &out); err != nil {
		t.Fatalf("__complete %q: %v", words, err)
	}
	return strings.Fields(out.String())
}

// TestCompleteEveryCommand: every registered command completes, group then verb, and its
// flags after it.
func TestCompleteEveryCommand(t *testing.T) {
	for key, cmd := range commands {
		words := strings.Fields(key)
		for i, w := range words {
			prefix := append(append([]string{"-H", "db1", "--bus=system"}, words[:i]...), "")
			if got := completions(t, prefix...); !slices.Contains(got, w) {
				t.Errorf("%s: after %q the completion offers %q, not %q", key, prefix, got, w)
			}
		}
		got := completions(t, append(words, "-")...)
		if strings.Contains(cmd.usage, "--json") && !slices.Contains(got, "--json") {
			t.Errorf("%s: flags offered %q lack --json", key, got)
		}
		if !slices.Contains(got, "--help") {
			t.Errorf("%s: flags offered %q lack --help", key, got)
		}
	}
	for i, c := range []struct {
		words []string
		want  []string
	}{
		{[]string{"h"}, []string{"hw"}},
		{[]string{"hw", "re"}, []string{"reload", "report"}},
		{[]string{"--"}, []string{"--bus", "--help", "--host", "--parallel", "--timeout", "--version"}},
		{[]string{"-H", ""}, nil}, // the shell completes host names
		{[]string{"--timeout", "5s", "st"}, []string{"status"}},
		{[]string{"vnc", "screenshot", ":1", "-"}, []string{"--help", "-o"}},
	} {
		if got := completions(t, c.words...); !slices.Equal(got, c.want) {
			t.Errorf("case %d (%q): %q, want %q", i, c.words, got, c.want)
		}
	}
}

// TestShellCompletion runs the packaged bash and zsh completion functions with the test
// binary as hostkitctl.
func TestShellCompletion(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctl := filepath.Join(dir, "hostkitctl")
	if err := os.Symlink(self, ctl); err != nil {
		t.Fatal(err)
	}
	root := repo.RootT(t)
	env := append(os.Environ(), "HOSTKITCTL_TEST_AS_MAIN=1")
	for i, c := range []struct {
		shell, script string
		want          []string
	}{
		{"bash", `source "$1"; COMP_WORDS=("$2" hw re); COMP_CWORD=2; _hostkitctl; printf '%s\n' "${COMPREPLY[@]}"`,
			[]string{"reload", "report"}},
		{"bash", `source "$1"; COMP_WORDS=("$2" -H db1 bo); COMP_CWORD=3; _hostkitctl; printf '%s\n' "${COMPREPLY[@]}"`,
			[]string{"boot"}},
		{"zsh", `compadd() { [[ $1 == -a ]] && print -rl -- "${(@P)2}"; }; words=("$2" hw re); CURRENT=3; source "$1"`,
			[]string{"reload", "report"}},
		{"zsh", `compadd() { [[ $1 == -a ]] && print -rl -- "${(@P)2}"; }; words=("$2" sync status ""); CURRENT=4; source "$1"`,
			[]string{"--help", "--json"}},
		{"zsh", `_hosts() { print zsh-hosts; }; words=("$2" -H ""); CURRENT=3; source "$1"`,
			[]string{"zsh-hosts"}},
	} {
		file := filepath.Join(root, "packaging/completion/hostkitctl.bash")
		if c.shell == "zsh" {
			file = filepath.Join(root, "packaging/completion/_hostkitctl")
		}
		if _, err := exec.LookPath(c.shell); err != nil {
			t.Fatalf("%s not found: apt-get install %s (make deps does)", c.shell, c.shell)
		}
		cmd := exec.Command(c.shell, "-c", c.script, c.shell, file, ctl)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("case %d (%s): %v\n%s", i, c.shell, err, out)
			continue
		}
		if got := strings.Fields(string(out)); !slices.Equal(got, c.want) {
			t.Errorf("case %d (%s %s): %q, want %q", i, c.shell, c.script, got, c.want)
		}
	}
}
