package sync

import (
	"hash"
	"io"

	"github.com/zeebo/blake3"
)

// Deltas: a changed file of DeltaMinSize or more is sent as the blocks that differ from
// the file it replaces at the target. The target hashes its file in fixed blocks (the
// first 16 bytes of each block's BLAKE3); the sender hashes its own blocks at the same
// offsets and sends Copy for each run of equal blocks, Data for the others. Fixed blocks
// find changes in place (a database page, a log's tail, 4 KiB in the middle of an image),
// not insertions that shift everything after them; the whole file's BLAKE3 at FileEnd
// still checks the result end to end.

// DeltaMinSize is the size from which a changed file is sent as a delta.
const DeltaMinSize = 1 << 20

// blockHashSize is how much of each block's BLAKE3 a signature keeps.
const blockHashSize = 16

// maxBlocks bounds a signature to one frame (maxBlocks*blockHashSize < MaxPayload).
const maxBlocks = 60000

// BlockSize is the block size of a file of size bytes: 64 KiB, doubled until the file has
// at most maxBlocks blocks.
func BlockSize(size int64) int64 {
	bs := int64(64 << 10)
	for size/bs >= maxBlocks {
		bs *= 2
	}
	return bs
}

// Signature hashes r in blocks of bs bytes (the last may be shorter).
func Signature(r io.Reader, bs int64) ([]byte, error) {
	var sig []byte
	buf := make([]byte, bs)
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			sig = append(sig, blockHash(buf[:n])...)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return sig, nil
		}
		if err != nil {
			return nil, err
		}
		if len(sig) > maxBlocks*blockHashSize {
			return nil, io.ErrShortBuffer
		}
	}
}

func blockHash(b []byte) []byte {
	sum := blake3.Sum256(b)
	return sum[:blockHashSize]
}

// NewContentHash returns the hash that checks a file end to end (FileEnd, resume
// prefixes, delta blocks): BLAKE3, twice as fast as SHA-256 even with the CPU's SHA
// instructions, and as strong for this. Both ends hash every byte, so it bounds throughput.
func NewContentHash() hash.Hash { return blake3.New() }

// ContentSum is NewContentHash's sum of b.
func ContentSum(b []byte) []byte {
	sum := blake3.Sum256(b)
	return sum[:]
}
