package sync

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hostkit/hostkit/internal/config"
)

// KeyFile is the name of this host's private key in the state directory.
const KeyFile = "key.pem"

// Identity is this host's key and the self-signed certificate made from it for TLS.
type Identity struct {
	Fingerprint string
	Cert        tls.Certificate
}

// Fingerprint returns "SHA256:" and the unpadded base64 of the SHA-256 of a public key's
// DER SubjectPublicKeyInfo, the form ssh-keygen -l prints. Peers are pinned by it, as
// Syncthing pins device IDs: no certificate authority is involved.
func Fingerprint(pub any) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:]), nil
}

// CheckFingerprint accepts what Fingerprint returns.
func CheckFingerprint(v string) error {
	b64, ok := strings.CutPrefix(v, "SHA256:")
	sum, err := base64.RawStdEncoding.DecodeString(b64)
	if !ok || err != nil || len(sum) != sha256.Size {
		return fmt.Errorf("not a fingerprint: want SHA256: and 43 base64 characters, as `hostkit-syncd id` prints")
	}
	return nil
}

// maxKeyFile bounds what is read of key.pem: an Ed25519 key in PEM is about 120 bytes.
const maxKeyFile = 64 << 10

// LoadIdentity reads the key in dir, making it (and dir, mode 0700) when there is none.
// The key is written to a temporary file and renamed, so two first starts at once agree.
// It is read as every hostkit program reads a file an admin names (config.ReadFile): a
// regular file only, without blocking, and capped.
func LoadIdentity(dir string) (*Identity, error) {
	file := filepath.Join(dir, KeyFile)
	data, err := config.ReadFile(file, maxKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		if data, err = makeKey(dir, file); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("reading this host's key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: not a PEM private key (move it away to make a new one; peers must then be given the new fingerprint)", file)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	key, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 key", file)
	}
	fp, err := Fingerprint(key.Public())
	if err != nil {
		return nil, err
	}
	// The certificate only carries the key: peers check the key's fingerprint, never
	// names or dates, so it is made anew at every start.
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "hostkit-syncd " + fp},
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("making a certificate for this host's key: %w", err)
	}
	return &Identity{Fingerprint: fp, Cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}, nil
}

func makeKey(dir, file string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	tmp, err := os.CreateTemp(dir, ".key-*")
	if err != nil {
		return nil, fmt.Errorf("making this host's key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	// Link, not rename: if another process made a key meanwhile, its key stays.
	if err := os.Link(tmp.Name(), file); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("making this host's key: %w", err)
	}
	return config.ReadFile(file, maxKeyFile)
}

// PeerFingerprint returns the fingerprint of the key the other end of a TLS connection
// presented.
func PeerFingerprint(cs tls.ConnectionState) (string, error) {
	if len(cs.PeerCertificates) == 0 {
		return "", errors.New("the peer presented no certificate")
	}
	return Fingerprint(cs.PeerCertificates[0].PublicKey)
}

// ServerTLS is the receiver's TLS configuration: TLS 1.3 only, and a client certificate
// required but not judged here; the receiver checks its fingerprint against the module's
// Peer= once it knows which module the client wants.
func (id *Identity) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.Cert},
		ClientAuth:   tls.RequireAnyClientCert,
	}
}

// ErrPeerMismatch is returned by a sender's handshake when the target presents another key
// than the job's Peer=.
var ErrPeerMismatch = errors.New("the target presented another key than Peer=")

// ClientTLS is the sender's TLS configuration: TLS 1.3 only, this host's certificate, and
// the target pinned by fingerprint instead of a certificate authority.
func (id *Identity) ClientTLS(peer string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{id.Cert},
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			fp, err := PeerFingerprint(cs)
			if err != nil {
				return err
			}
			if fp != peer {
				return fmt.Errorf("%w: it is %s, Peer= says %s (if the target's key was made anew, put its new fingerprint in Peer=)", ErrPeerMismatch, fp, peer)
			}
			return nil
		},
	}
}
