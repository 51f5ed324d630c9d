package sync

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hostkit/hostkit/internal/config"
)

// The files an admin names (PasswordFile=, the key and the queue in StateDirectory=) are
// read as every hostkit program reads such a file: a FIFO is refused, not waited on (a
// test that blocks here fails by the test timeout), and only regular files are read.
func TestFilesAdminsName(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	job := func(pw string) *Job {
		return &Job{Name: "r", PasswordFile: pw, At: config.Place{File: "/etc/hostkit/sync.conf", Line: 7}}
	}
	if _, err := rsyncPassword(job(fifo)); !errors.Is(err, config.ErrNotRegular) || !strings.Contains(err.Error(), "sync.conf:7: [Job] r") {
		t.Errorf("a FIFO as PasswordFile=: %v, want a refusal naming the job's place", err)
	}
	open := filepath.Join(dir, "open")
	os.WriteFile(open, []byte("pw\n"), 0o644)
	if _, err := rsyncPassword(job(open)); err == nil || !strings.Contains(err.Error(), "chmod o-rw") {
		t.Errorf("a PasswordFile= others may read: %v", err)
	}
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("s3cret\r\nnot this line\n"), 0o600)
	if pw, err := rsyncPassword(job(good)); pw != "s3cret" || err != nil {
		t.Errorf("password %q, %v; want the first line", pw, err)
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, maxPasswordFile+1), 0o600)
	if _, err := rsyncPassword(job(big)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a PasswordFile= of %d bytes: %v", maxPasswordFile+1, err)
	}

	state := filepath.Join(dir, "state")
	os.MkdirAll(state, 0o700)
	if err := syscall.Mkfifo(filepath.Join(state, KeyFile), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIdentity(state); !errors.Is(err, config.ErrNotRegular) {
		t.Errorf("a FIFO as key.pem: %v", err)
	}
	queue := QueueFile(state, "j")
	os.MkdirAll(filepath.Dir(queue), 0o700)
	if err := syscall.Mkfifo(queue, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenQueue(queue); !errors.Is(err, config.ErrNotRegular) {
		t.Errorf("a FIFO as the queue file: %v", err)
	}
}
