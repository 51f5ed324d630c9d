package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hostkit/hostkit/internal/lifecycle"
)

func TestSSHCommand(t *testing.T) {
	t.Setenv("HOSTKIT_SSH", "")
	tail := []string{"systemd-stdio-bridge"}
	for i, c := range []struct {
		host string
		want []string // after ssh -xT -o BatchMode=yes, before "--"
		name string
	}{
		{"db1", nil, "db1"},
		{"root@db1", []string{"-l", "root"}, "db1"},
		{"admin@10.0.0.7:2222", []string{"-p", "2222", "-l", "admin"}, "10.0.0.7"},
		{"[fd00::7]:22", []string{"-p", "22"}, "fd00::7"},
		{"[fd00::7]", nil, "fd00::7"},
	} {
		got, err := sshCommand(c.host, 0)
		if err != nil {
			t.Errorf("case %d (%s): %v", i, c.host, err)
			continue
		}
		want := append(append(append([]string{"ssh", "-xT", "-o", "BatchMode=yes"}, c.want...), "--", c.name), tail...)
		if !slices.Equal(got, want) {
			t.Errorf("case %d (%s): %q, want %q", i, c.host, got, want)
		}
	}
	for i, bad := range []string{"", "-oProxyCommand=x", "@db1", "-x@db1", "db1:0", "db1:http", "fd00::7", "[fd00::7", "[fd00::7]x", "a b"} {
		if _, err := sshCommand(bad, 0); err == nil {
			t.Errorf("case %d: %q accepted", i, bad)
		}
	}
	t.Setenv("HOSTKIT_SSH", "ssh -F /etc/x")
	if got, _ := sshCommand("db1", 0); !slices.Equal(got[:3], []string{"ssh", "-F", "/etc/x"}) {
		t.Errorf("HOSTKIT_SSH not used: %q", got)
	}
	if got, _ := sshCommand("db1", 2500*time.Millisecond); !slices.Contains(got, "ConnectTimeout=3") {
		t.Errorf("--timeout 2.5s gives no ConnectTimeout=3: %q", got)
	}
}

func TestHostsFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(file, []byte("# db servers\ndb1\n\n root@db2:2222  # the old one\n"), 0o644)
	var h hostList
	if err := h.Set("@" + file); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h.hosts, []string{"db1", "root@db2:2222"}) || !h.several() {
		t.Errorf("hosts %q, several %v", h.hosts, h.several())
	}
	os.WriteFile(file, []byte("db1\n-oProxyCommand=x\n"), 0o644)
	if err := (&hostList{}).Set("@" + file); err == nil || !strings.Contains(err.Error(), file+":2") {
		t.Errorf("a bad line gives %v, want an error naming %s:2", err, file)
	}
}

// TestRunHostsShapes: one object per host with --json, a section per host in text, exit
// status 1 when one failed, and a usage error said once. The hosts are unreachable
// through an ssh that fails at once; what answers is a stand-in command for the results.
func TestRunHostsShapes(t *testing.T) {
	t.Setenv("HOSTKIT_SSH", "/bin/false")
	ok := command{"[--json]", func(busSpec string, args []string, w io.Writer) error {
		if strings.Contains(busSpec, "down") {
			_, err := connect(busSpec)
			return err
		}
		if wantsJSON(args) {
			_, err := io.WriteString(w, `{"answer": 42}`+"\n")
			return err
		}
		_, err := io.WriteString(w, "fine\n")
		return err
	}}
	hosts := &hostList{hosts: []string{"up1", "down", "up2"}}
	var out bytes.Buffer
	err := runHosts(hosts, ok, []string{"--json"}, &out, time.Minute, 2)
	if err == nil || lifecycle.ExitCode(err) != 1 || !strings.Contains(err.Error(), "down") {
		t.Errorf("runHosts with a host down = %v, want exit status 1 naming it", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want one per host:\n%s", len(lines), out.String())
	}
	for i, line := range lines {
		var got struct {
			Host   string
			OK     bool
			Error  *string
			Result map[string]int
		}
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d %q: %v", i, line, err)
		}
		wantOK := hosts.hosts[i] != "down"
		if got.Host != hosts.hosts[i] || got.OK != wantOK || (got.Error == nil) != wantOK || (got.Result["answer"] == 42) != wantOK {
			t.Errorf("line %d: %s", i, line)
		}
	}
	out.Reset()
	runHosts(hosts, ok, nil, &out, time.Minute, 1)
	if want := "== up1 ==\nfine\n\n== down ==\nerror: "; !strings.HasPrefix(out.String(), want) || !strings.Contains(out.String(), "== up2 ==\nfine\n") {
		t.Errorf("text output:\n%s", out.String())
	}
	// A host's error with a C1 control (CSI) reaches the JSON line as a \u escape.
	csi := command{"[--json]", func(string, []string, io.Writer) error { return errors.New("bad\u009b2J") }}
	out.Reset()
	runHosts(&hostList{hosts: []string{"a", "b"}}, csi, []string{"--json"}, &out, time.Minute, 2)
	if !strings.Contains(out.String(), `bad\u009b2J`) || strings.ContainsRune(out.String(), 0x9b) {
		t.Errorf("a C1 control in a host's error is not escaped in the JSON line: %q", out.String())
	}
	usage := command{"", func(string, []string, io.Writer) error { return lifecycle.UsageError(errors.New("bad flag")) }}
	out.Reset()
	if err := runHosts(hosts, usage, nil, &out, time.Minute, 3); lifecycle.ExitCode(err) != lifecycle.ExitUsage || out.Len() != 0 {
		t.Errorf("usage error: %v (exit %d), output %q", err, lifecycle.ExitCode(err), out.String())
	}
	slow := command{"", func(string, []string, io.Writer) error { time.Sleep(time.Minute); return nil }}
	if err := runHosts(&hostList{hosts: []string{"a"}}, slow, nil, &out, 50*time.Millisecond, 1); err == nil || !strings.Contains(err.Error(), "a: no answer within 50ms") {
		t.Errorf("a host past --timeout gives %v", err)
	}
}
