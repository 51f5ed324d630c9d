package sync

import (
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"math/bits"
	"os"

	"github.com/zeebo/blake3"
)

// Deltas: a changed file of DeltaMinSize or more is sent as what differs from the file it
// replaces at the target, found as rsync finds it. The target cuts its file into blocks
// and sends a Signature: per block a weak checksum that can be rolled along a byte at a
// time, and the first bytes of the block's BLAKE3. The sender rolls the weak checksum
// over its own file; wherever it matches a block's and the strong hash agrees, it sends a
// Copy of that block instead of its bytes and jumps a block ahead, and elsewhere it moves
// on by one byte and the byte it leaves goes as Data. So an insertion costs the inserted
// bytes, a change in place about a block, and a run of unchanged blocks one weak checksum
// and one hash a block. The whole file's BLAKE3 at FileEnd still checks the result end to
// end; should a false block match ever get past the weak checksum and the strong bytes,
// that check fails and the file is sent again whole (see session.deltaFailed).
//
// Why not content-defined chunks (restic/chunker on both ends), which find insertions too:
// a change costs a whole chunk, and a chunk holding a given byte is on average about twice
// the mean chunk size (restic's mean is 1 MiB, its minimum 512 KiB), so 4 KiB changed in a
// large file would cost far more than rsync sends; smaller chunks make the chunk list as
// long as a signature while both ends must still run the chunker's fingerprint over every
// byte of both files, where the rolling match skips a block at each match. And a rolling
// checksum needs no dependency.

// DeltaMinSize is the size from which a changed file is sent as a delta.
const DeltaMinSize = 1 << 20

// Bounds of a signature: it fits one frame, blocks are at least 2 KiB and strong hashes 2
// to 16 bytes.
const (
	maxBlocks    = 50000 // 50000 x (4 + maxStrong) bytes < MaxPayload
	minBlockSize = 2 << 10
	maxBlockSize = 1 << 40
	minStrong    = 2
	maxStrong    = 16
)

// DeltaBlockSize is the block size of a signature of a file of size bytes: the largest
// power of two whose square is at most 8 x size (at least 2 KiB). A signature costs about
// 8 bytes a block and a change about a block of Data, so this keeps their sum near its
// least: 64 KiB for 1 GiB, for 144 KiB of signature. Larger files get larger blocks so
// that the signature fits one frame.
func DeltaBlockSize(size int64) int64 {
	bs := int64(minBlockSize)
	for bs < 1<<30 && (2*bs)*(2*bs)/8 <= size {
		bs *= 2
	}
	for size/bs >= maxBlocks {
		bs *= 2
	}
	return bs
}

// strongLen is how many bytes of each block's BLAKE3 a signature carries: enough that a
// false match anywhere in the file (about size x blocks chances, each 2^-32 for the weak
// checksum and 2^-8n for n strong bytes) has a chance of about 2^-20.
func strongLen(size, bs int64) int {
	chances := 2*bits.Len64(uint64(size)) - bits.Len64(uint64(bs))
	n := (20 + chances - 32 + 7) / 8
	return min(max(n, minStrong), maxStrong)
}

// rolling is the weak checksum of a window of n bytes: a, the sum of its bytes, and b, the
// sum of each byte times its distance from the window's end, each kept mod 2^16. Moving
// the window a byte on takes the first byte out of both and the new one into a.
type rolling struct {
	a, b, n uint32
}

func newRolling(p []byte) rolling {
	r := rolling{n: uint32(len(p))}
	for i, c := range p {
		r.a += uint32(c)
		r.b += (r.n - uint32(i)) * uint32(c)
	}
	return r
}

// roll moves the window on by one byte: out leaves it, in enters it.
func (r *rolling) roll(out, in byte) {
	r.a += uint32(in) - uint32(out)
	r.b += r.a - r.n*uint32(out)
}

func (r rolling) sum() uint32 { return r.a&0xffff | r.b<<16 }

// Signature is what the target sends of the file a delta replaces.
type Signature struct {
	Size      int64
	BlockSize int64
	Strong    int
	Sums      []byte // per block: the weak checksum (4 bytes, little endian), then the strong hash
}

// MakeSignature reads size bytes of r, the file a delta will replace.
func MakeSignature(r io.Reader, size int64) (*Signature, error) {
	bs := DeltaBlockSize(size)
	sig := &Signature{Size: size, BlockSize: bs, Strong: strongLen(size, bs)}
	blocks := (size + bs - 1) / bs
	sig.Sums = make([]byte, 0, blocks*int64(4+sig.Strong))
	buf := make([]byte, bs)
	for left := size; left > 0; left -= bs {
		block := buf[:min(bs, left)]
		if _, err := io.ReadFull(r, block); err != nil {
			return nil, err // shorter than it was: the caller sends no signature
		}
		sig.Sums = binary.LittleEndian.AppendUint32(sig.Sums, newRolling(block).sum())
		strong := blake3.Sum256(block)
		sig.Sums = append(sig.Sums, strong[:sig.Strong]...)
	}
	return sig, nil
}

// Msg returns the signature as a frame answering the ResumeQuery seq.
func (s *Signature) Msg(seq uint64) *Msg {
	return &Msg{Type: MsgSignature, Seq: seq, Size: uint64(s.Size), Block: uint64(s.BlockSize), Strong: uint8(s.Strong), Data: s.Sums}
}

// SignatureOf reads a Signature frame (checked by DecodeMsg); the result keeps m.Data.
func SignatureOf(m *Msg) *Signature {
	return &Signature{Size: int64(m.Size), BlockSize: int64(m.Block), Strong: int(m.Strong), Sums: m.Data}
}

func (s *Signature) blocks() int { return len(s.Sums) / (4 + s.Strong) }

func (s *Signature) weak(i int) uint32 {
	return binary.LittleEndian.Uint32(s.Sums[i*(4+s.Strong):])
}

func (s *Signature) strong(i int) []byte {
	off := i*(4+s.Strong) + 4
	return s.Sums[off : off+s.Strong]
}

// blockLen is the length of block i: BlockSize but for a short last block.
func (s *Signature) blockLen(i int) int64 {
	return min(s.BlockSize, s.Size-int64(i)*s.BlockSize)
}

// deltaOut receives a delta in order: bytes the target lacks, and runs of its old file.
type deltaOut interface {
	literal(p []byte) error
	copy(offset, n int64) error
}

// filterBits sizes the bit set that answers most rolling positions without a map lookup.
const filterBits = 1 << 20

// matcher finds the target's blocks in a file by their checksums.
type matcher struct {
	sig    *Signature
	full   int // blocks of BlockSize (the last block may be shorter)
	byWeak map[uint32][]int32
	filter []uint64
}

func newMatcher(sig *Signature) *matcher {
	m := &matcher{sig: sig, full: int(sig.Size / sig.BlockSize), byWeak: map[uint32][]int32{}, filter: make([]uint64, filterBits/64)}
	for i := 0; i < m.full; i++ {
		w := sig.weak(i)
		dup := false
		for _, j := range m.byWeak[w] {
			if string(sig.strong(int(j))) == string(sig.strong(i)) {
				dup = true // the same block again (zeros, say): the first stands for all
				break
			}
		}
		if !dup {
			m.byWeak[w] = append(m.byWeak[w], int32(i))
			f := filterIndex(w)
			m.filter[f/64] |= 1 << (f % 64)
		}
	}
	return m
}

func filterIndex(w uint32) uint32 { return (w * 0x9E3779B1) >> (32 - 20) }

// maybe reports whether some block may have the weak checksum w (false: none has).
func (m *matcher) maybe(w uint32) bool {
	f := filterIndex(w)
	return m.filter[f/64]&(1<<(f%64)) != 0
}

// find returns the full block whose checksums window has (-1: none), trying next first,
// the block after the one matched last, so that unchanged runs make one Copy each.
func (m *matcher) find(window []byte, weak uint32, next int) int {
	if next >= 0 && next < m.full && m.sig.weak(next) == weak {
		strong := blake3.Sum256(window)
		if string(strong[:m.sig.Strong]) == string(m.sig.strong(next)) {
			return next
		}
	}
	if !m.maybe(weak) {
		return -1
	}
	cands := m.byWeak[weak]
	if len(cands) == 0 {
		return -1
	}
	strong := blake3.Sum256(window)
	for _, j := range cands {
		if string(strong[:m.sig.Strong]) == string(m.sig.strong(int(j))) {
			return int(j)
		}
	}
	return -1
}

// diff reads the new file from r, hashes every byte of it into h, and sends it to out as
// Data for what the target lacks and Copy for its blocks found here. stop, asked now and
// then, ends it early with its error.
func (m *matcher) diff(r io.Reader, h hash.Hash, out deltaOut, stop func() error) error {
	bs := int(m.sig.BlockSize)
	buf := make([]byte, DataChunk+2*bs+(1<<20))
	var (
		lit, pos, end int // buf[lit:pos] is Data not sent yet, buf[pos:pos+bs] the window
		eof           bool
		win           rolling
		winOK         bool  // win is the checksum of the window at pos
		next          = -1  // the block after the last one matched
		cpOff, cpLen  int64 // a run of Copy not sent yet
	)
	flushCopy := func() error {
		if cpLen == 0 {
			return nil
		}
		err := out.copy(cpOff, cpLen)
		cpLen = 0
		return err
	}
	flushLiteral := func(upto int) error {
		if upto == lit {
			return nil
		}
		if err := flushCopy(); err != nil {
			return err
		}
		err := out.literal(buf[lit:upto])
		lit = upto
		return err
	}
	addCopy := func(off, n int64) error {
		if cpLen > 0 && cpOff+cpLen == off {
			cpLen += n
			return nil
		}
		if err := flushCopy(); err != nil {
			return err
		}
		cpOff, cpLen = off, n
		return nil
	}
	for {
		// Keep a window and the byte after it in the buffer.
		if end-pos <= bs && !eof {
			if len(buf)-end < 1<<20 {
				copy(buf, buf[lit:end])
				pos, end, lit = pos-lit, end-lit, 0
			}
			n, err := io.ReadAtLeast(r, buf[end:], 1)
			h.Write(buf[end : end+n])
			end += n
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				eof = true
			} else if err != nil {
				return err
			}
			continue
		}
		if end-pos < bs {
			break // the tail, shorter than a block
		}
		window := buf[pos : pos+bs]
		if !winOK {
			win, winOK = newRolling(window), true
			if err := stop(); err != nil {
				return err
			}
		}
		if j := m.find(window, win.sum(), next); j >= 0 {
			if err := flushLiteral(pos); err != nil {
				return err
			}
			if err := addCopy(int64(j)*m.sig.BlockSize, m.sig.BlockSize); err != nil {
				return err
			}
			pos += bs
			lit, winOK, next = pos, false, j+1
			continue
		}
		next = -1
		if pos+bs == end {
			break // at the end of the file: the window is Data
		}
		// Roll on while no block has the window's weak checksum.
		for {
			win.roll(buf[pos], buf[pos+bs])
			pos++
			if pos+bs == end || pos-lit >= DataChunk || m.maybe(win.sum()) {
				break
			}
		}
		if pos-lit >= DataChunk {
			if err := stop(); err != nil {
				return err
			}
			if err := flushLiteral(pos); err != nil {
				return err
			}
		}
	}
	// The tail: the target's short last block, if it ends the file here too.
	if last := m.sig.blocks() - 1; m.full <= last && int64(end-pos) == m.sig.blockLen(last) {
		tail := buf[pos:end]
		strong := blake3.Sum256(tail)
		if newRolling(tail).sum() == m.sig.weak(last) && string(strong[:m.sig.Strong]) == string(m.sig.strong(last)) {
			if err := flushLiteral(pos); err != nil {
				return err
			}
			if err := addCopy(int64(last)*m.sig.BlockSize, int64(end-pos)); err != nil {
				return err
			}
			lit = end
		}
	}
	for lit < end {
		if err := flushLiteral(min(end, lit+DataChunk)); err != nil {
			return err
		}
	}
	return flushCopy()
}

// NewContentHash returns the hash that checks a file end to end (FileEnd, resume
// prefixes, HashReply): BLAKE3, twice as fast as SHA-256 even with the CPU's SHA
// instructions, and as strong for this. Both ends hash every byte, so it bounds throughput.
func NewContentHash() hash.Hash { return blake3.New() }

// hashRegular returns the content hash of f, which must be a regular file (anything else,
// opened by a name from the wire or a tree, is not read).
func hashRegular(f *os.File) ([]byte, error) {
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", f.Name())
	}
	h := NewContentHash()
	if _, err := io.CopyBuffer(h, f, make([]byte, 1<<20)); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// ContentSum is NewContentHash's sum of b.
func ContentSum(b []byte) []byte {
	sum := blake3.Sum256(b)
	return sum[:]
}
