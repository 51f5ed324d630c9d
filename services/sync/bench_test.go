package sync

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkLargeFile sends one 256 MiB file from a Sender to a Receiver over TLS on
// loopback, both in this process, each iteration into an empty module: the whole path a
// large file takes (read, hash, frames, TLS both ways, write, hash, fsync, rename), for
// `go test -cpuprofile` (make bench runs it; test/bench measures the daemons against rsync).
func BenchmarkLargeFile(b *testing.B) {
	const size = 256 << 20
	src := b.TempDir()
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{1}).Read(data) // incompressible, and quick to make
	if err := os.WriteFile(filepath.Join(src, "big"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	sendEach(b, src, func(module string) {
		if info, err := os.Stat(filepath.Join(module, "big")); err != nil || info.Size() != size {
			b.Fatalf("the file did not arrive whole: %v", err)
		}
	})
}

// sendEach times, b.N times, a Sender sending src to a new Receiver's empty module until
// the initial sync is acknowledged; check looks at the module after each (not timed).
func sendEach(b *testing.B, src string, check func(module string)) {
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		addr, r, client, module := testReceiver(b)
		j := &Job{Name: "j", Source: src, Address: addr, Module: "m", Peer: r.ID.Fingerprint}
		s := NewSender(j, client, r.KeepAlive, b.TempDir())
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan error, 1)
		b.StartTimer()
		go func() { ran <- s.Run(ctx) }()
		for s.Status().LastSync.IsZero() {
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		cancel()
		<-ran
		check(module)
		b.StartTimer()
	}
}

// BenchmarkSmallFiles sends 10,000 x 4 KiB files in 100 directories, as make bench's
// initial sync does, from a Sender to a Receiver in this process: the per-file path (scan,
// frames, TLS, create, hash, chmod, times, commit) for `go test -cpuprofile`.
func BenchmarkSmallFiles(b *testing.B) {
	src := b.TempDir()
	data := make([]byte, 4096)
	for i := range 10000 {
		dir := filepath.Join(src, fmt.Sprintf("d%02d", i%100))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		data[0] = byte(i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	sendEach(b, src, func(module string) {
		if _, err := os.Stat(filepath.Join(module, "d99", "f09999")); err != nil {
			b.Fatalf("the last file did not arrive: %v", err)
		}
	})
}
