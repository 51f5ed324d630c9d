package vnc

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// vncpasswd -f <<< secret12 writes these bytes (TigerVNC 1.12); and the VncAuth response
// of RFC 6143 for the test vector below.
func TestPasswordFileAsVncpasswdWritesIt(t *testing.T) {
	want, _ := hex.DecodeString("24b5ae4ce15503c6")
	if got := EncodePassword("secret12"); !bytes.Equal(got, want) {
		t.Errorf("EncodePassword(secret12) = %x, want %x (vncpasswd's)", got, want)
	}
	if got := DecodePassword(want); got != "secret12" {
		t.Errorf("DecodePassword = %q", got)
	}
	path := filepath.Join(t.TempDir(), "passwd")
	os.WriteFile(path, append(EncodePassword("pw"), EncodePassword("view")...), 0o600)
	if got, err := ReadPasswordFile(path); err != nil || got != "pw" {
		t.Errorf("ReadPasswordFile = %q, %v; want pw (the view-only half ignored)", got, err)
	}
	os.WriteFile(path, []byte("short"), 0o600)
	if _, err := ReadPasswordFile(path); err == nil {
		t.Error("a 5-byte file read as a password file")
	}
}

func TestVNCAuthResponse(t *testing.T) {
	// The key is "password" with each byte's bits reversed (0e86ceceeef64e26); the answer
	// is what `openssl enc -des-ecb -K 0e86ceceeef64e26 -nopad` makes of the challenge.
	challenge := []byte("0123456789abcdef")
	want, _ := hex.DecodeString("5645abeb5f1e6475e8feb11beb66ea19")
	if got := VNCAuthResponse("password", challenge); !bytes.Equal(got, want) {
		t.Errorf("VNCAuthResponse = %x, want %x", got, want)
	}
	if got := VNCAuthResponse("password12345", challenge); !bytes.Equal(got, want) {
		t.Errorf("characters beyond 8 changed the response: %x", got)
	}
}
