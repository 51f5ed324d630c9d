package sync

import (
	"context"
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
		if info, err := os.Stat(filepath.Join(module, "big")); err != nil || info.Size() != size {
			b.Fatalf("the file did not arrive whole: %v", err)
		}
		b.StartTimer()
	}
}
