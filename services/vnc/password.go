package vnc

import (
	"bytes"
	"crypto/des"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/hostkit/hostkit/internal/config"
)

// Account is the part of a passwd entry hostkit needs.
type Account struct {
	Name     string
	UID, GID int
	Home     string
}

// LookupAccount finds a user by name through NSS (os/user).
func LookupAccount(name string) (Account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return Account{}, fmt.Errorf("no user %s (getent passwd %s finds nothing)", name, name)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return Account{}, fmt.Errorf("user %s has a non-numeric uid or gid", name)
	}
	return Account{Name: u.Username, UID: uid, GID: gid, Home: u.HomeDir}, nil
}

// PasswordPath is the password file of display d for account a: PasswordFile=, or the
// user's ~/.vnc/passwd, or ~/.config/tigervnc/passwd (TigerVNC 1.14's place) where only
// that one exists.
func PasswordPath(d *Display, a Account) string {
	if d.PasswordFile != "" {
		return d.PasswordFile
	}
	classic := filepath.Join(a.Home, ".vnc", "passwd")
	xdg := filepath.Join(a.Home, ".config", "tigervnc", "passwd")
	if _, err := os.Lstat(classic); errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Lstat(xdg); err == nil {
			return xdg
		}
	}
	return classic
}

// CheckHost checks display d against this machine: its user exists and, when a security
// type asks for a password, the password file is there, a vncpasswd file, owned by the
// user and readable by nobody else. lookup finds accounts (LookupAccount, or a test's).
// Errors name the display's place in vnc.conf and say the command that fixes them.
func CheckHost(d *Display, lookup func(string) (Account, error)) error {
	a, err := lookup(d.User)
	if err != nil {
		return config.Errorf(d.At, "display %s: User=%s: %v", d.Name(), d.User, err)
	}
	if a.UID == 0 && !d.AllowRoot {
		return config.Errorf(d.At, "display %s: User=%s has uid 0 and is refused as root is: set AllowRoot=yes to allow it", d.Name(), d.User)
	}
	if !d.NeedsPassword() {
		return nil
	}
	if err := CheckPasswordFile(PasswordPath(d, a), a); err != nil {
		return config.Errorf(d.At, "display %s: %v", d.Name(), err)
	}
	return nil
}

// CheckPasswordFile checks the VNC password file at path for account a; the error says
// what is wrong and the command that fixes it.
func CheckPasswordFile(path string, a Account) error {
	write := fmt.Sprintf("runuser -u %s -- vncpasswd %s", a.Name, path)
	info, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the password file %s of %s is missing: set a password with `%s`", path, a.Name, write)
	}
	if err != nil {
		return fmt.Errorf("the password file of %s: %w", a.Name, err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("the password file %s of %s is not a regular file (%s): remove it and run `%s`", path, a.Name, info.Mode().Type(), write)
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if ok && int(st.Uid) != a.UID {
		owner := strconv.Itoa(int(st.Uid))
		if u, err := user.LookupId(owner); err == nil {
			owner = u.Username
		}
		return fmt.Errorf("the password file %s belongs to %s, not to %s: run `chown %s: %s`", path, owner, a.Name, a.Name, path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 || perm&0o400 == 0 {
		return fmt.Errorf("the password file %s has mode %04o; it must be 0600, readable by %s only: run `chmod 600 %s`", path, perm, a.Name, path)
	}
	if info.Size() < 8 || info.Size() > 64 {
		return fmt.Errorf("the password file %s is not a vncpasswd file (%d bytes): write it again with `%s`", path, info.Size(), write)
	}
	return nil
}

// vncpasswd stores the password DES-encrypted with a fixed key, so that it is not plain
// text on disk; this is the d3des key {23,82,107,6,35,78,88,7} with each byte's bits
// reversed, as crypto/des orders them.
var passwdKey = []byte{0xe8, 0x4a, 0xd6, 0x60, 0xc4, 0x72, 0x1a, 0xe0}

// ReadPasswordFile returns the password stored in a vncpasswd file (its first 8 bytes;
// a second 8 are the view-only password).
func ReadPasswordFile(path string) (string, error) {
	data, err := config.ReadFile(path, 64)
	if err != nil {
		return "", err
	}
	if len(data) < 8 {
		return "", fmt.Errorf("%s: not a vncpasswd file (%d bytes)", path, len(data))
	}
	return DecodePassword(data), nil
}

// DecodePassword decrypts the 8 bytes vncpasswd writes.
func DecodePassword(data []byte) string {
	c, _ := des.NewCipher(passwdKey)
	out := make([]byte, 8)
	c.Decrypt(out, data[:8])
	if i := bytes.IndexByte(out, 0); i >= 0 {
		out = out[:i]
	}
	return string(out)
}

// EncodePassword is what vncpasswd writes for password (at most 8 bytes are kept).
func EncodePassword(password string) []byte {
	c, _ := des.NewCipher(passwdKey)
	in := make([]byte, 8)
	copy(in, password)
	out := make([]byte, 8)
	c.Encrypt(out, in)
	return out
}

// VNCAuthResponse answers the 16-byte VncAuth challenge: DES with the password (padded to
// 8 bytes, each byte's bits reversed) as the key, on both halves.
func VNCAuthResponse(password string, challenge []byte) []byte {
	key := make([]byte, 8)
	copy(key, password)
	for i, b := range key {
		key[i] = reverseBits(b)
	}
	c, _ := des.NewCipher(key)
	out := make([]byte, 16)
	c.Encrypt(out[:8], challenge[:8])
	c.Encrypt(out[8:], challenge[8:16])
	return out
}

func reverseBits(b byte) byte {
	var r byte
	for i := 0; i < 8; i++ {
		r = r<<1 | b&1
		b >>= 1
	}
	return r
}
