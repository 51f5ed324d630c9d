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
	server, err := LoadIdentity(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	client, err := LoadIdentity(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	k := KeepAlive{Time: 30 * time.Second, Interval: time.Second, Probes: 3, UserTimeout: 33 * time.Second}
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		module := filepath.Join(b.TempDir(), "module")
		r := &Receiver{ID: server, KeepAlive: k, Modules: []*Module{{Name: "m", Path: module, Peers: []string{client.Fingerprint}}}}
		l, err := Listen("127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- r.Serve(ctx, l) }()
		j := &Job{Name: "j", Source: src, Address: l.Addr().String(), Module: "m", Peer: server.Fingerprint}
		s := NewSender(j, client, k, b.TempDir())
		b.StartTimer()
		ran := make(chan error, 1)
		go func() { ran <- s.Run(ctx) }()
		for s.Status().LastSync.IsZero() {
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		cancel()
		<-ran
		<-served
		if info, err := os.Stat(filepath.Join(module, "big")); err != nil || info.Size() != size {
			b.Fatalf("the file did not arrive whole: %v", err)
		}
		b.StartTimer()
	}
}
