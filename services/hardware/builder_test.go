package hardware

import "encoding/binary"

// tableBuilder builds SMBIOS structure tables for tests.
type tableBuilder struct {
	buf   []byte
	count int
}

// add appends a structure: its formatted area (the header is added) and its strings.
func (b *tableBuilder) add(typ byte, handle uint16, s *area, strs ...string) *tableBuilder {
	formatted := s.bytes()
	b.buf = append(b.buf, typ, byte(headerLength+len(formatted)), byte(handle), byte(handle>>8))
	b.buf = append(b.buf, formatted...)
	for _, str := range strs {
		b.buf = append(b.buf, str...)
		b.buf = append(b.buf, 0)
	}
	if len(strs) == 0 {
		b.buf = append(b.buf, 0)
	}
	b.buf = append(b.buf, 0)
	b.count++
	return b
}

// end appends the end-of-table structure (type 127).
func (b *tableBuilder) end() *tableBuilder {
	return b.add(typeEndOfTable, 0xFEFF, newArea(4))
}

func (b *tableBuilder) bytes() []byte { return b.buf }

// entry32 returns a valid 32-bit entry point for this table at address 0x20.
func (b *tableBuilder) entry32(major, minor byte) []byte {
	ep := make([]byte, 0x1F)
	copy(ep, "_SM_")
	ep[5] = 0x1F
	ep[6], ep[7] = major, minor
	copy(ep[0x10:], "_DMI_")
	binary.LittleEndian.PutUint16(ep[0x16:], uint16(len(b.buf)))
	binary.LittleEndian.PutUint32(ep[0x18:], 0x20)
	binary.LittleEndian.PutUint16(ep[0x1C:], uint16(b.count))
	ep[0x15] = -sum(ep[0x10:0x1F])
	ep[4] = -sum(ep)
	return ep
}

// entry64 returns a valid 64-bit entry point for this table at address 0x20.
func (b *tableBuilder) entry64(major, minor, revision byte) []byte {
	ep := make([]byte, 0x18)
	copy(ep, "_SM3_")
	ep[6] = 0x18
	ep[7], ep[8], ep[9] = major, minor, revision
	ep[10] = 1
	binary.LittleEndian.PutUint32(ep[0x0C:], uint32(len(b.buf)))
	binary.LittleEndian.PutUint64(ep[0x10:], 0x20)
	ep[5] = -sum(ep)
	return ep
}

// area is a structure's bytes addressed by the offsets DSP0134 uses, which count the
// 4-byte header.
type area struct{ b []byte }

// newArea returns a zeroed structure of the given total length (header included).
func newArea(length int) *area { return &area{b: make([]byte, length)} }

func (a *area) u8(off int, v byte) *area { a.b[off] = v; return a }
func (a *area) u16(off int, v uint16) *area {
	binary.LittleEndian.PutUint16(a.b[off:], v)
	return a
}
func (a *area) u32(off int, v uint32) *area {
	binary.LittleEndian.PutUint32(a.b[off:], v)
	return a
}
func (a *area) u64(off int, v uint64) *area {
	binary.LittleEndian.PutUint64(a.b[off:], v)
	return a
}
func (a *area) raw(off int, v []byte) *area { copy(a.b[off:], v); return a }

// bytes returns the formatted area after the header.
func (a *area) bytes() []byte { return a.b[headerLength:] }
