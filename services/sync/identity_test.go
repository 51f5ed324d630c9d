package sync

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIdentityMadeOnceAndKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	a, err := LoadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckFingerprint(a.Fingerprint); err != nil {
		t.Errorf("%s: %v", a.Fingerprint, err)
	}
	if len(a.Fingerprint) != len("SHA256:")+43 {
		t.Errorf("fingerprint %q has the wrong length", a.Fingerprint)
	}
	info, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, mode %v, want 0600", err, info.Mode())
	}
	if d, _ := os.Stat(dir); d.Mode().Perm() != 0o700 {
		t.Errorf("state directory mode %v, want 0700", d.Mode())
	}
	b, err := LoadIdentity(dir)
	if err != nil || b.Fingerprint != a.Fingerprint {
		t.Errorf("second load: %v, %s != %s", err, b.Fingerprint, a.Fingerprint)
	}
	other, _ := LoadIdentity(t.TempDir())
	if other.Fingerprint == a.Fingerprint {
		t.Error("two state directories made the same key")
	}
}

func TestBadKeyFile(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, KeyFile), "garbage")
	if _, err := LoadIdentity(dir); err == nil || !strings.Contains(err.Error(), "not a PEM private key") {
		t.Errorf("error %v", err)
	}
}

// TestTLSPinning: a client pinned to the server's fingerprint connects with TLS 1.3 and
// both sides see each other's fingerprint; pinned to another, it refuses.
func TestTLSPinning(t *testing.T) {
	server, _ := LoadIdentity(t.TempDir())
	client, _ := LoadIdentity(t.TempDir())
	l, err := tls.Listen("tcp", "127.0.0.1:0", server.ServerTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	seen := make(chan string, 2)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			tc := c.(*tls.Conn)
			if tc.Handshake() == nil {
				fp, _ := PeerFingerprint(tc.ConnectionState())
				seen <- fp
			}
			c.Close()
		}
	}()
	c, err := tls.Dial("tcp", l.Addr().String(), client.ClientTLS(server.Fingerprint))
	if err != nil {
		t.Fatal(err)
	}
	if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("TLS version %x", v)
	}
	c.Close()
	if got := <-seen; got != client.Fingerprint {
		t.Errorf("server saw %s, want %s", got, client.Fingerprint)
	}
	_, err = tls.Dial("tcp", l.Addr().String(), client.ClientTLS(client.Fingerprint))
	if err == nil || !errors.Is(err, ErrPeerMismatch) || !strings.Contains(err.Error(), server.Fingerprint) {
		t.Errorf("pinned to the wrong key: %v", err)
	}
	var _ net.Conn = c
}
