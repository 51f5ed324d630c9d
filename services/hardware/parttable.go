package hardware

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"unicode/utf16"
)

// tableEntry is what a partition table says of one partition.
type tableEntry struct {
	number   int
	startLBA uint64 // in logical sectors
	sectors  uint64
	typ      string // GPT: the type GUID, lower case; MBR: "0x83"
	name     string // GPT only
}

// partitionTable is a disk's partition table as read from the disk itself, for when
// udev does not know it (containers, systems without udev).
type partitionTable struct {
	scheme  string // "gpt" or "dos", as udev's ID_PART_TABLE_TYPE
	entries map[int]tableEntry
}

// Limits on what a partition table may make the reader read.
const (
	maxGPTEntries    = 1024
	maxGPTEntryBytes = 4096
	maxLogical       = 128 // logical partitions in an extended partition
)

var errNoTable = errors.New("no partition table")

// parsePartitionTable reads the partition table of a disk through r, which reads the
// disk (or an image of it) of size bytes with logical sectors of sectorSize bytes: GPT
// (checksums verified, the primary header only), else MBR with its extended partition's
// chain of logical partitions. It returns errNoTable for a disk without either, and an
// error saying what is wrong with a damaged table. It only reads.
func parsePartitionTable(r io.ReaderAt, sectorSize int, size int64) (*partitionTable, error) {
	if sectorSize < 512 || sectorSize > 65536 || sectorSize&(sectorSize-1) != 0 {
		return nil, fmt.Errorf("logical sector size %d is not a power of two from 512 to 65536", sectorSize)
	}
	mbr := make([]byte, 512)
	if _, err := r.ReadAt(mbr, 0); err != nil {
		return nil, fmt.Errorf("reading sector 0: %w", err)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xAA {
		return nil, errNoTable
	}
	protective := false
	for i := 0; i < 4; i++ {
		if mbr[446+16*i+4] == 0xEE {
			protective = true
		}
	}
	if protective {
		return parseGPT(r, sectorSize, size)
	}
	return parseMBR(r, mbr, sectorSize, size)
}

func parseGPT(r io.ReaderAt, sectorSize int, size int64) (*partitionTable, error) {
	hdr := make([]byte, sectorSize)
	if _, err := r.ReadAt(hdr, int64(sectorSize)); err != nil {
		return nil, fmt.Errorf("reading the GPT header: %w", err)
	}
	if !bytes.Equal(hdr[:8], []byte("EFI PART")) {
		return nil, errors.New("protective MBR without a GPT header at sector 1")
	}
	hdrSize := binary.LittleEndian.Uint32(hdr[12:])
	if hdrSize < 92 || int(hdrSize) > sectorSize {
		return nil, fmt.Errorf("GPT header size %d is not between 92 and %d", hdrSize, sectorSize)
	}
	want := binary.LittleEndian.Uint32(hdr[16:])
	check := append([]byte(nil), hdr[:hdrSize]...)
	copy(check[16:20], []byte{0, 0, 0, 0})
	if crc32.ChecksumIEEE(check) != want {
		return nil, errors.New("GPT header checksum does not match")
	}
	entriesLBA := binary.LittleEndian.Uint64(hdr[72:])
	count := binary.LittleEndian.Uint32(hdr[80:])
	entrySize := binary.LittleEndian.Uint32(hdr[84:])
	if count > maxGPTEntries || entrySize < 128 || entrySize > maxGPTEntryBytes || entrySize%8 != 0 {
		return nil, fmt.Errorf("GPT declares %d entries of %d bytes; at most %d of 128 to %d bytes are read", count, entrySize, maxGPTEntries, maxGPTEntryBytes)
	}
	off := entriesLBA * uint64(sectorSize)
	total := uint64(count) * uint64(entrySize)
	if entriesLBA == 0 || off/uint64(sectorSize) != entriesLBA || off+total > uint64(size) {
		return nil, fmt.Errorf("GPT entries at sector %d lie outside the disk", entriesLBA)
	}
	entries := make([]byte, total)
	if _, err := r.ReadAt(entries, int64(off)); err != nil {
		return nil, fmt.Errorf("reading the GPT entries: %w", err)
	}
	if crc32.ChecksumIEEE(entries) != binary.LittleEndian.Uint32(hdr[88:]) {
		return nil, errors.New("GPT entries checksum does not match")
	}
	t := &partitionTable{scheme: "gpt", entries: map[int]tableEntry{}}
	for i := 0; i < int(count); i++ {
		e := entries[i*int(entrySize) : (i+1)*int(entrySize)]
		if bytes.Equal(e[:16], make([]byte, 16)) {
			continue // unused entry
		}
		first, last := binary.LittleEndian.Uint64(e[32:]), binary.LittleEndian.Uint64(e[40:])
		if last < first {
			continue
		}
		t.entries[i+1] = tableEntry{number: i + 1, startLBA: first, sectors: last - first + 1,
			typ: guidString(e[:16]), name: utf16Name(e[56:128])}
	}
	return t, nil
}

// guidString writes a GUID stored as GPT stores it (the first three fields little
// endian) in its canonical lower-case form.
func guidString(b []byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", binary.LittleEndian.Uint32(b[0:]), binary.LittleEndian.Uint16(b[4:]),
		binary.LittleEndian.Uint16(b[6:]), b[8:10], b[10:16])
}

// utf16Name decodes a GPT partition name: UTF-16LE, ended by the first NUL.
func utf16Name(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

func parseMBR(r io.ReaderAt, mbr []byte, sectorSize int, size int64) (*partitionTable, error) {
	t := &partitionTable{scheme: "dos", entries: map[int]tableEntry{}}
	var extended uint64
	for i := 0; i < 4; i++ {
		e := mbr[446+16*i:]
		typ := e[4]
		start, n := uint64(binary.LittleEndian.Uint32(e[8:])), uint64(binary.LittleEndian.Uint32(e[12:]))
		if typ == 0 || n == 0 {
			continue
		}
		t.entries[i+1] = tableEntry{number: i + 1, startLBA: start, sectors: n, typ: fmt.Sprintf("0x%02x", typ)}
		if isExtended(typ) && extended == 0 {
			extended = start
		}
	}
	if extended == 0 {
		return t, nil
	}
	// The extended partition holds a chain of EBRs, each describing one logical
	// partition (relative to the EBR) and the next EBR (relative to the extended
	// partition). A chain that loops or runs long is cut.
	ebr := make([]byte, 512)
	seen := map[uint64]bool{}
	next, n := uint64(0), 5 // logical partitions are numbered from 5, as Linux does
	for range maxLogical {
		at := extended + next
		if seen[at] || int64(at)*int64(sectorSize) >= size {
			break
		}
		seen[at] = true
		if _, err := r.ReadAt(ebr, int64(at)*int64(sectorSize)); err != nil || ebr[510] != 0x55 || ebr[511] != 0xAA {
			break
		}
		e := ebr[446:]
		if e[4] != 0 && binary.LittleEndian.Uint32(e[12:]) != 0 {
			t.entries[n] = tableEntry{number: n, startLBA: at + uint64(binary.LittleEndian.Uint32(e[8:])),
				sectors: uint64(binary.LittleEndian.Uint32(e[12:])), typ: fmt.Sprintf("0x%02x", e[4])}
			n++
		}
		link := ebr[446+16:]
		if !isExtended(link[4]) {
			break
		}
		next = uint64(binary.LittleEndian.Uint32(link[8:]))
	}
	return t, nil
}

func isExtended(typ byte) bool { return typ == 0x05 || typ == 0x0F || typ == 0x85 }
