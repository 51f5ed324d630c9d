package sync

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hostkit/hostkit/internal/config"
)

const fp1 = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"

func TestLoadExample(t *testing.T) {
	c, err := Load("testdata/sync.conf.example")
	if err != nil {
		t.Fatal(err)
	}
	if c.StateDirectory != "/var/lib/hostkit/sync" || c.Listen != "" {
		t.Errorf("StateDirectory=%q Listen=%q", c.StateDirectory, c.Listen)
	}
	want := KeepAlive{30 * time.Second, time.Second, 3, 33 * time.Second}
	if c.KeepAlive != want {
		t.Errorf("keepalive %+v, want %+v", c.KeepAlive, want)
	}
	if c.RescanInterval != DefaultRescanInterval || c.IdleTimeout != config.DefaultIdleTimeout {
		t.Errorf("RescanIntervalSec= defaults to %s, IdleTimeoutSec= to %s", c.RescanInterval, c.IdleTimeout)
	}
	if c.KeepAlive.DeadPeerTimeout() != 33*time.Second {
		t.Errorf("dead peer timeout %s", c.KeepAlive.DeadPeerTimeout())
	}
	if len(c.Modules) != 1 || c.Modules[0].Name != "www" || c.Modules[0].Path != "/srv/www" || c.Modules[0].Peers[0] != fp1 {
		t.Errorf("modules %+v", c.Modules)
	}
	if len(c.Jobs) != 1 {
		t.Fatalf("jobs %+v", c.Jobs)
	}
	j := c.Jobs[0]
	if j.Name != "www" || j.Source != "/srv/www" || j.Address != "hostb.example.com:8730" || j.Module != "www" ||
		j.Rsync || j.Peer != fp1 || len(j.Exclude) != 1 || j.Exclude[0] != "*.tmp" || !j.Delete || j.Delay != 0 {
		t.Errorf("job %+v", j)
	}
	if j.At.Line != 15 {
		t.Errorf("job at %s, want line 15", j.At)
	}
}

func TestLoadDefaultsAndDropIns(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sync.conf")
	write(t, file, "[Job]\nName=a\nSource=/a\nTarget=h/a\nPeer="+fp1+"\n")
	write(t, file+".d/10-more.conf", "[Job]\nName=b\nSource=/b\nTarget=rsync://h/b\nPasswordFile=/etc/pw\nDelete=no\nDelay=2s\nBandwidthLimit=10M\n"+
		"[Module]\nName=in\nPath=/in\nPeer="+fp1+"\nPeer="+fp1+"\n[Sync]\nListen=127.0.0.1:9000\nRescanIntervalSec=10s\n[Daemon]\nIdleTimeoutSec=0\n")
	c, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if c.StateDirectory != DefaultStateDirectory || c.Listen != "127.0.0.1:9000" || c.RescanInterval != 10*time.Second || c.IdleTimeout != 0 {
		t.Errorf("state %q listen %q rescan %s idle %s", c.StateDirectory, c.Listen, c.RescanInterval, c.IdleTimeout)
	}
	a, b := c.Jobs[0], c.Jobs[1]
	if a.Address != "h:8730" || !a.Delete {
		t.Errorf("job a %+v", a)
	}
	if !b.Rsync || b.Address != "h:873" || b.Module != "b" || b.Delete || b.Delay != 2*time.Second || b.BandwidthLimit != 10<<20 || b.PasswordFile != "/etc/pw" {
		t.Errorf("job b %+v", b)
	}
	if len(c.Modules[0].Peers) != 2 {
		t.Errorf("module peers %v", c.Modules[0].Peers)
	}
}

func TestLoadErrors(t *testing.T) {
	for i, c := range []struct{ name, text, want string }{
		{"no target", "[Sync]\n\n[Job]\nName=a\nSource=/a\nPeer=" + fp1 + "\n", ":3: [Job] a without Target="},
		{"no name", "[Job]\nSource=/a\n", ":1: [Job] without Name="},
		{"no peer", "[Job]\nName=a\nSource=/a\nTarget=h:1/m\n", ":1: [Job] a without Peer="},
		{"module no path", "[Module]\nName=m\nPeer=" + fp1 + "\n", ":1: [Module] m without Path="},
		{"module no peer", "[Module]\nName=m\nPath=/m\n", ":1: [Module] m without Peer="},
		{"twice", "[Module]\nName=m\nPath=/m\nPeer=" + fp1 + "\n[Module]\nName=m\nPath=/n\nPeer=" + fp1 + "\n", ":5: [Module] m is defined twice (also at"},
		{"bad fingerprint", "[Job]\nName=a\nPeer=MD5:xx\n", ":3: [Job] Peer=MD5:xx: not a fingerprint"},
		{"bad target", "[Job]\nName=a\nTarget=nomodule\n", ":3: [Job] Target=nomodule: not host:port/module"},
		{"relative source", "[Job]\nSource=srv\n", ":2: [Job] Source=srv: not an absolute path"},
		{"bad name", "[Job]\nName=../x\n", ":2: [Job] Name=../x: a name is"},
		{"unknown key", "[Job]\nFrobnicate=1\n", ":2: unknown key Frobnicate= in [Job]"},
		{"bad probes", "[Sync]\nKeepAliveProbes=0\n", ":2: [Sync] KeepAliveProbes=0: not a number of probes"},
		{"short keepalive", "[Sync]\nKeepAliveTimeSec=500ms\n", "must be at least 1s"},
		{"no rescan", "[Sync]\nRescanIntervalSec=0\n", ":2: [Sync] RescanIntervalSec=0: must be at least 1s"},
		{"bad listen", "[Sync]\nListen=8730\n", ":2: [Sync] Listen=8730: not host:port"},
		{"password without rsync", "[Job]\nName=a\nSource=/a\nTarget=h/m\nPeer=" + fp1 + "\nPasswordFile=/p\n", "PasswordFile= is for rsync:// targets only"},
		{"bad glob", "[Job]\nExclude=[\n", "bad glob"},
	} {
		file := filepath.Join(t.TempDir(), "sync.conf")
		write(t, file, c.text)
		_, err := Load(file)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), file+":") {
			t.Errorf("case %d (%s): error %v, want %s:...%q", i, c.name, err, file, c.want)
		}
		var ce *config.Error
		if err != nil && !errors.As(err, &ce) {
			t.Errorf("case %d (%s): %T is not a *config.Error", i, c.name, err)
		}
	}
}

func FuzzLoad(f *testing.F) {
	data, err := os.ReadFile("testdata/sync.conf.example")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("[Job]\nName=a\nTarget=rsync://[::1]/m\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file := filepath.Join(t.TempDir(), "sync.conf")
		write(t, file, string(data))
		c, err := Load(file)
		if err != nil {
			if !strings.HasPrefix(err.Error(), file) && !strings.Contains(err.Error(), "reading configuration") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, j := range c.Jobs {
			if j.Name == "" || j.Target == "" || j.Address == "" || CheckName(j.Module) != nil {
				t.Fatalf("accepted an incomplete job %+v", j)
			}
		}
		for _, m := range c.Modules {
			if m.Name == "" || m.Path == "" || len(m.Peers) == 0 {
				t.Fatalf("accepted an incomplete module %+v", m)
			}
		}
	})
}

func write(t testing.TB, file, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestShippedConfig: the sync.conf the package installs loads, with the defaults and
// nothing to send or receive.
func TestShippedConfig(t *testing.T) {
	c, err := Load("../../packaging/sync.conf")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Jobs) != 0 || len(c.Modules) != 0 || c.StateDirectory != DefaultStateDirectory || c.KeepAlive.DeadPeerTimeout() != 33*time.Second {
		t.Errorf("shipped config: %+v", c)
	}
}
