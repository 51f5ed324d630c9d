package hardware

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/digitalocean/go-smbios/smbios"
)

// Entry point layout constants from DSP0134 section 5.2.
const (
	entry32Length    = 0x1F
	entry32MinLength = 0x1E // 2.1 firmware often declares 0x1E instead of 0x1F
	entry32MaxLength = 0x20
	entry64Length    = 0x18
)

var (
	anchor32     = []byte("_SM_")
	anchor64     = []byte("_SM3_")
	anchorLegacy = []byte("_DMI_")
)

// entryPoint is what the decoder needs from an SMBIOS entry point.
type entryPoint struct {
	major, minor, revision int
	is64                   bool
	tableAddress           uint64
	// tableLength is the exact table length for 32-bit entry points and the maximum
	// table size for 64-bit ones.
	tableLength int
	// structures is the structure count a 32-bit entry point announces (0: none).
	structures int
	// warnings note oddities that were fixed up rather than rejected.
	warnings []string
}

// version returns the version as 0xMMmm for comparisons, as dmidecode keeps it.
func (e entryPoint) version() int { return e.major<<8 | e.minor }

// versionString prints the version as dmidecode's "SMBIOS X present." line does.
func (e entryPoint) versionString() string {
	if e.is64 {
		return fmt.Sprintf("%d.%d.%d", e.major, e.minor, e.revision)
	}
	return fmt.Sprintf("%d.%d", e.major, e.minor)
}

// parseEntryPoint validates a 32-bit (_SM_) or 64-bit (_SM3_) entry point: anchor,
// length and checksums. The error says what is wrong; it does not name a file.
func parseEntryPoint(b []byte) (entryPoint, error) {
	switch {
	case bytes.HasPrefix(b, anchor64):
		return parseEntryPoint64(b)
	case bytes.HasPrefix(b, anchor32):
		return parseEntryPoint32(b)
	case bytes.HasPrefix(b, anchorLegacy):
		return entryPoint{}, errors.New("legacy DMI entry point (_DMI_) without SMBIOS is not supported")
	}
	n := min(len(b), 5)
	return entryPoint{}, fmt.Errorf("no SMBIOS entry point: expected anchor _SM_ or _SM3_, found %q", b[:n])
}

func parseEntryPoint32(b []byte) (entryPoint, error) {
	if len(b) < entry32Length {
		return entryPoint{}, fmt.Errorf("SMBIOS 32-bit entry point is %d bytes, need %d", len(b), entry32Length)
	}
	length := int(b[5])
	if length < entry32MinLength || length > entry32MaxLength || length > len(b) {
		return entryPoint{}, fmt.Errorf("SMBIOS 32-bit entry point declares length %d, expected 0x1F", length)
	}
	// go-smbios wants 31 bytes even when the declared length is 0x1E; it checksums
	// only the declared length.
	ep, err := smbios.ParseEntryPoint(bytes.NewReader(b[:max(length, entry32Length)]))
	if err != nil {
		return entryPoint{}, fmt.Errorf("SMBIOS 32-bit entry point: %w", err)
	}
	// go-smbios does not check the intermediate (_DMI_) checksum; dmidecode does.
	if sum(b[0x10:0x1F]) != 0 {
		return entryPoint{}, errors.New("SMBIOS 32-bit entry point: invalid intermediate (_DMI_) checksum")
	}
	e32 := ep.(*smbios.EntryPoint32Bit)
	e := entryPoint{
		major:        int(e32.Major),
		minor:        int(e32.Minor),
		tableAddress: uint64(e32.StructureTableAddress),
		tableLength:  int(e32.StructureTableLength),
		structures:   int(e32.NumberStructures),
	}
	// Some firmware declares versions that never existed; dmidecode maps them to the
	// version they meant, and so do we, so that field decoding picks the right layout.
	switch e.version() {
	case 0x021F, 0x0221:
		e.warnings = append(e.warnings, fmt.Sprintf("SMBIOS version fixup (%d.%d -> 2.3)", e.major, e.minor))
		e.minor = 3
	case 0x0233:
		e.warnings = append(e.warnings, "SMBIOS version fixup (2.51 -> 2.6)")
		e.minor = 6
	}
	return e, nil
}

func parseEntryPoint64(b []byte) (entryPoint, error) {
	if len(b) < entry64Length {
		return entryPoint{}, fmt.Errorf("SMBIOS 64-bit entry point is %d bytes, need %d", len(b), entry64Length)
	}
	length := int(b[6])
	if length < entry64Length || length > len(b) {
		return entryPoint{}, fmt.Errorf("SMBIOS 64-bit entry point declares length %d, expected 0x18", length)
	}
	// go-smbios checksums every byte it is given, so give it only the declared length.
	ep, err := smbios.ParseEntryPoint(bytes.NewReader(b[:length]))
	if err != nil {
		return entryPoint{}, fmt.Errorf("SMBIOS 64-bit entry point: %w", err)
	}
	e64 := ep.(*smbios.EntryPoint64Bit)
	return entryPoint{
		major:        int(e64.Major),
		minor:        int(e64.Minor),
		revision:     int(e64.Revision),
		is64:         true,
		tableAddress: e64.StructureTableAddress,
		tableLength:  int(e64.StructureTableMaxSize),
	}, nil
}

// sum adds bytes modulo 256; a valid checksummed block sums to 0.
func sum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}
