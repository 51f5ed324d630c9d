package sync

import (
	"bufio"
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// rebuilt is a deltaOut that rebuilds the new file from the old one, as the receiver does,
// and counts the bytes of Data it took.
type rebuilt struct {
	old    []byte
	out    bytes.Buffer
	data   int64
	copies int
}

func (r *rebuilt) literal(p []byte) error {
	if len(p) > DataChunk {
		return errFrameTooLarge
	}
	r.data += int64(len(p))
	r.out.Write(p)
	return nil
}

func (r *rebuilt) copy(off, n int64) error {
	r.copies++
	r.out.Write(r.old[off : off+n])
	return nil
}

var errFrameTooLarge = errors.New("a Data frame larger than DataChunk")

// delta runs the sender's side against old's signature, passed through the wire format,
// and checks that the receiver's side rebuilds new and that the whole-file hash is new's.
func delta(t *testing.T, old, new []byte) *rebuilt {
	t.Helper()
	sig, err := MakeSignature(bytes.NewReader(old), int64(len(old)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ReadMsg(bufio.NewReader(bytes.NewReader(AppendMsg(nil, sig.Msg(1)))))
	if err != nil {
		t.Fatalf("the signature does not decode: %v", err)
	}
	r := &rebuilt{old: old}
	h := NewContentHash()
	if err := newMatcher(SignatureOf(m)).diff(bytes.NewReader(new), h, r, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.out.Bytes(), new) {
		t.Fatalf("the rebuilt file differs from the new one (%d bytes, want %d)", r.out.Len(), len(new))
	}
	if !bytes.Equal(h.Sum(nil), ContentSum(new)) {
		t.Fatal("the whole-file hash is not the new file's")
	}
	return r
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestRollingChecksum(t *testing.T) {
	data := randomBytes(5000, 1)
	const n = 700
	r := newRolling(data[:n])
	for i := 0; i+n < len(data); i++ {
		r.roll(data[i], data[i+n])
		if want := newRolling(data[i+1 : i+1+n]).sum(); r.sum() != want {
			t.Fatalf("rolled to %d: %08x, computed afresh %08x", i+1, r.sum(), want)
		}
	}
}

func TestDeltaBlockSize(t *testing.T) {
	for i, c := range []struct {
		size, want int64
	}{{1 << 20, 2 << 10}, {48 << 20, 16 << 10}, {1 << 30, 64 << 10}, {1 << 40, 32 << 20}} {
		got := DeltaBlockSize(c.size)
		if got != c.want {
			t.Errorf("case %d: %d bytes: blocks of %d, want %d", i, c.size, got, c.want)
		}
		if c.size/got >= maxBlocks {
			t.Errorf("case %d: %d bytes: %d blocks, more than one frame holds", i, c.size, c.size/got)
		}
		if s := strongLen(c.size, got); s < minStrong || s > maxStrong || 4+s > int(MaxPayload/maxBlocks) {
			t.Errorf("case %d: strong hashes of %d bytes", i, s)
		}
	}
}

// TestDeltaInsertionAtStart: a few bytes inserted at the start of a large file cost those
// bytes, not the rest of the file, which moved.
func TestDeltaInsertionAtStart(t *testing.T) {
	old := randomBytes(8<<20, 2)
	new := append([]byte("#!inserted\n"), old...)
	r := delta(t, old, new)
	if r.data > 64 {
		t.Errorf("11 bytes inserted at the start: %d bytes of Data", r.data)
	}
	if r.copies != 1 {
		t.Errorf("%d Copy frames for one unchanged run", r.copies)
	}
}

// TestDeltaChanges: changes in place, in the middle and at the end, removals, a short
// last block, a file that shrank or grew, runs of equal blocks (zeros), and a file with
// nothing in common: the result is always the new file, and what travels is about the
// blocks a change touches.
func TestDeltaChanges(t *testing.T) {
	old := randomBytes(4<<20+1234, 3) // a short last block
	bs := int(DeltaBlockSize(int64(len(old))))
	changed := func(f func(b []byte) []byte) []byte { return f(append([]byte{}, old...)) }
	for i, c := range []struct {
		name string
		new  []byte
		max  int64 // bytes of Data at most
	}{
		{"unchanged", old, 0},
		{"4 KiB changed in the middle", changed(func(b []byte) []byte {
			copy(b[len(b)/2+1000:], randomBytes(4096, 4))
			return b
		}), int64(2 * bs)},
		{"a byte changed at the end", changed(func(b []byte) []byte { b[len(b)-1]++; return b }), 1234},
		{"a block removed", changed(func(b []byte) []byte { return append(b[:bs*10], b[bs*11:]...) }), 0},
		{"bytes removed in the middle", changed(func(b []byte) []byte { return append(b[:bs*10+7], b[bs*10+300:]...) }), int64(2 * bs)},
		{"appended", append(append([]byte{}, old...), randomBytes(100000, 5)...), 100000 + 1234},
		{"truncated", old[:len(old)/3], int64(bs)},
		{"nothing in common", randomBytes(len(old), 6), int64(len(old))},
	} {
		r := delta(t, old, c.new)
		t.Logf("case %d (%s): %d bytes of Data, %d Copy frames", i, c.name, r.data, r.copies)
		if r.data > c.max {
			t.Errorf("case %d (%s): %d bytes of Data, want at most %d", i, c.name, r.data, c.max)
		}
	}
	zeros := make([]byte, 4<<20)
	withHole := append([]byte{}, zeros...)
	copy(withHole[1<<20:], randomBytes(100, 7))
	if r := delta(t, zeros, withHole); r.data > int64(2*DeltaBlockSize(int64(len(zeros)))) {
		t.Errorf("100 bytes in a file of zeros: %d bytes of Data", r.data)
	}
}

func TestSignatureRefusals(t *testing.T) {
	sig, err := MakeSignature(bytes.NewReader(randomBytes(3<<20, 8)), 3<<20)
	if err != nil {
		t.Fatal(err)
	}
	good := sig.Msg(1)
	for i, c := range []struct {
		name string
		edit func(m *Msg)
	}{
		{"a block too few", func(m *Msg) { m.Data = m.Data[:len(m.Data)-4-int(m.Strong)] }},
		{"a byte too many", func(m *Msg) { m.Data = append(m.Data, 0) }},
		{"block size 0", func(m *Msg) { m.Block = 0 }},
		{"strong hash of 1 byte", func(m *Msg) { m.Strong = 1 }},
		{"size of another file", func(m *Msg) { m.Size += uint64(m.Block) }},
	} {
		m := *good
		c.edit(&m)
		if _, err := ReadMsg(bufio.NewReader(bytes.NewReader(AppendMsg(nil, &m)))); err == nil {
			t.Errorf("case %d (%s): accepted", i, c.name)
		}
	}
}
