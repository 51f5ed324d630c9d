package hardware

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/digitalocean/go-smbios/smbios"
)

// SMBIOS structure types decoded here.
const (
	typeBIOS        = 0
	typeSystem      = 1
	typeBaseboard   = 2
	typeChassis     = 3
	typeProcessor   = 4
	typeMemoryCtrl  = 5
	typeMemoryArray = 16
	typeMemory      = 17
	typeMappedRange = 19
)

// Decode decodes an SMBIOS entry point and the structure table it describes. The table
// address in the entry point is ignored: table holds the table itself.
//
// It returns an error only when the entry point is unusable (wrong anchor, bad checksum,
// impossible length). Damage in the table — a structure that ends early, an invalid
// length, a string index past the strings — keeps everything decoded before it and adds
// a warning to the report. The report's Source is empty; ReadSysfs and ReadDump set it.
func Decode(entryPoint, table []byte) (*Report, error) {
	ep, err := parseEntryPoint(entryPoint)
	if err != nil {
		return nil, err
	}
	r := Unavailable("", "")
	r.Available = true
	version := ep.versionString()
	r.SMBIOSVersion = &version
	r.Warnings = append(r.Warnings, ep.warnings...)
	if len(table) > ep.tableLength {
		table = table[:ep.tableLength]
	}
	structures, warnings := walkTable(table, ep)
	r.Warnings = append(r.Warnings, warnings...)

	d := decoder{report: r, version: ep.version()}
	for _, s := range structures {
		d.decode(s)
	}
	d.attachDevices()
	r.Virtualization = &Virtualization{VM: d.virtualMachine(), Source: "smbios"}
	return r, nil
}

// decoder fills a report from structures, in table order.
type decoder struct {
	report  *Report
	version int
	devices []MemoryDevice
	vmBit   bool // type 0 says "virtual machine"
}

func (d *decoder) warn(format string, args ...any) {
	d.report.Warnings = append(d.report.Warnings, fmt.Sprintf(format, args...))
}

func (d *decoder) decode(s *smbios.Structure) {
	f := fields{s: s, d: d, raw: rawStrings{}}
	r := d.report
	switch s.Header.Type {
	case typeBIOS:
		// Characteristics extension byte 2, bit 4: the table describes a virtual machine.
		if v, ok := f.byte(0x13); ok && v&(1<<4) != 0 {
			d.vmBit = true
		}
		if r.BIOS == nil {
			r.BIOS = &BIOS{Vendor: f.text(0x04, "vendor"), Version: f.text(0x05, "version"),
				ReleaseDate: f.text(0x08, "release_date"), Raw: f.raw.orNil()}
		}
	case typeSystem:
		if r.System == nil {
			r.System = &System{
				Manufacturer: f.text(0x04, "manufacturer"), Product: f.text(0x05, "product"),
				Version: f.text(0x06, "version"), Serial: f.text(0x07, "serial"), UUID: f.uuid(0x08, d.version),
				SKU: f.text(0x19, "sku"), Family: f.text(0x1A, "family"),
			}
			r.System.Raw = f.raw.orNil()
		}
	case typeBaseboard:
		if r.Baseboard == nil {
			r.Baseboard = &Baseboard{
				Manufacturer: f.text(0x04, "manufacturer"), Product: f.text(0x05, "product"),
				Version: f.text(0x06, "version"), Serial: f.text(0x07, "serial"), AssetTag: f.text(0x08, "asset_tag"),
			}
			r.Baseboard.Raw = f.raw.orNil()
		}
	case typeChassis:
		if r.Chassis == nil {
			r.Chassis = &Chassis{
				Manufacturer: f.text(0x04, "manufacturer"), Version: f.text(0x06, "version"),
				Serial: f.text(0x07, "serial"), AssetTag: f.text(0x08, "asset_tag"),
			}
			if t, ok := f.byte(0x05); ok {
				// Bit 7 is the chassis lock, not part of the type.
				r.Chassis.Type = chassisTypes.name(int(t & 0x7F))
			}
			r.Chassis.Raw = f.raw.orNil()
		}
	case typeProcessor:
		r.Processors = append(r.Processors, decodeProcessor(f))
	case typeMemoryCtrl:
		r.Memory.Controllers = append(r.Memory.Controllers, decodeMemoryController(f))
	case typeMemoryArray:
		r.Memory.Arrays = append(r.Memory.Arrays, decodeMemoryArray(f))
	case typeMemory:
		d.devices = append(d.devices, decodeMemoryDevice(f))
	case typeMappedRange:
		r.Memory.MappedRanges = append(r.Memory.MappedRanges, decodeMappedRange(f))
	}
}

// decodeProcessor decodes type 4 (DSP0134 7.5).
func decodeProcessor(f fields) Processor {
	p := Processor{
		Handle: int(f.s.Header.Handle), Socket: f.str(0x04), Manufacturer: f.text(0x07, "manufacturer"),
		Version: f.text(0x10, "version"), MaxSpeedMHz: f.nonZeroWord(0x14), CurrentSpeedMHz: f.nonZeroWord(0x16),
		Serial: f.text(0x20, "serial"), AssetTag: f.text(0x21, "asset_tag"), PartNumber: f.text(0x22, "part_number"),
		Cores: f.count(0x23, 0x2A), CoresEnabled: f.count(0x24, 0x2C), Threads: f.count(0x25, 0x2E),
	}
	if status, ok := f.byte(0x18); ok {
		populated := status&(1<<6) != 0
		p.Populated = &populated
	}
	p.Raw = f.raw.orNil()
	return p
}

// fields reads a structure's formatted area by the offsets DSP0134 gives, which count
// from the start of the header. A field the structure is too short to hold reads as
// absent: that is how older SMBIOS versions (and damaged tables) look.
type fields struct {
	s *smbios.Structure
	d *decoder
	// raw keeps the firmware's strings that text and the callers replace.
	raw rawStrings
}

func (f fields) bytes(off, n int) ([]byte, bool) {
	i := off - headerLength
	if i < 0 || i+n > len(f.s.Formatted) {
		return nil, false
	}
	return f.s.Formatted[i : i+n], true
}

func (f fields) byte(off int) (uint8, bool) {
	b, ok := f.bytes(off, 1)
	if !ok {
		return 0, false
	}
	return b[0], true
}

func (f fields) word(off int) (uint16, bool) {
	b, ok := f.bytes(off, 2)
	if !ok {
		return 0, false
	}
	return binary.LittleEndian.Uint16(b), true
}

func (f fields) dword(off int) (uint32, bool) {
	b, ok := f.bytes(off, 4)
	if !ok {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b), true
}

func (f fields) qword(off int) (uint64, bool) {
	b, ok := f.bytes(off, 8)
	if !ok {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b), true
}

// handle returns the handle-valued word at off, nil when absent.
func (f fields) handle(off int) *int {
	w, ok := f.word(off)
	if !ok {
		return nil
	}
	h := int(w)
	return &h
}

// nonZeroWord returns the word at off, nil when absent or 0 (SMBIOS's "unknown" for
// speeds).
func (f fields) nonZeroWord(off int) *int {
	w, ok := f.word(off)
	if !ok || w == 0 {
		return nil
	}
	v := int(w)
	return &v
}

// count decodes a type 4 core or thread count: the byte at off, where 0 is unknown and
// 0xFF defers to the word at off2 (SMBIOS 3.0, for more than 254) when the structure
// has it. Without that word 0xFF is taken literally, as dmidecode does.
func (f fields) count(off, off2 int) *int {
	b, ok := f.byte(off)
	if !ok || b == 0 {
		return nil
	}
	v := int(b)
	if b == 0xFF {
		if w, ok := f.word(off2); ok {
			if w == 0 || w == 0xFFFF {
				return nil
			}
			v = int(w)
		}
	}
	return &v
}

// str returns the string the byte at off refers to, trimmed of surrounding whitespace,
// with control characters shown as '.' (as dmidecode does) and invalid UTF-8 replaced.
// Index 0 ("no string") and an absent field are nil; an index past the structure's
// strings is nil and adds a warning.
func (f fields) str(off int) *string {
	i, ok := f.byte(off)
	if !ok || i == 0 {
		return nil
	}
	if int(i) > len(f.s.Strings) {
		f.d.warn("handle 0x%04X (type %d): string index %d at offset 0x%02X, but the structure has %d strings",
			f.s.Header.Handle, f.s.Header.Type, i, off, len(f.s.Strings))
		return nil
	}
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7F {
			return '.'
		}
		return r
	}, f.s.Strings[i-1])
	s = strings.TrimSpace(strings.ToValidUTF8(s, string(utf8.RuneError)))
	return &s
}

// text is str for a value the firmware may leave as a placeholder (see isPlaceholder):
// a placeholder is nil, and the firmware's string is kept in f.raw under key (an empty
// string is only nil: there is nothing to keep).
func (f fields) text(off int, key string) *string {
	s := f.str(off)
	if s == nil || !isPlaceholder(*s) {
		return s
	}
	if *s != "" {
		f.raw[key] = *s
	}
	return nil
}

// uuid decodes the 16-byte UUID at off. From SMBIOS 2.6 the first three fields are
// little-endian; earlier firmware used network order, so (like dmidecode) the bytes are
// only swapped for 2.6 and later. All-0xFF (not present) and all-0 (not set) are nil;
// so is a firmware template's UUID from data/placeholders.txt, kept in f.raw.
func (f fields) uuid(off int, version int) *string {
	b, ok := f.bytes(off, 16)
	if !ok {
		return nil
	}
	allFF, all00 := true, true
	for _, c := range b {
		allFF = allFF && c == 0xFF
		all00 = all00 && c == 0
	}
	if allFF || all00 {
		return nil
	}
	u := [16]byte(b)
	if version >= 0x0206 {
		u[0], u[1], u[2], u[3] = b[3], b[2], b[1], b[0]
		u[4], u[5] = b[5], b[4]
		u[6], u[7] = b[7], b[6]
	}
	s := fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
	if isPlaceholder(s) {
		f.raw["uuid"] = s
		return nil
	}
	return &s
}
