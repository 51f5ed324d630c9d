package hardware

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/digitalocean/go-smbios/smbios"
)

const (
	headerLength   = 4
	typeEndOfTable = 127
)

// walkTable splits table into structures the way dmidecode does, but keeps every
// complete structure read before any damage. go-smbios's Decoder returns nothing at all
// when the table ends early, which would lose a whole report to one bad byte.
//
// A 32-bit table ends after the announced number of structures (or at the end of the
// data when none is announced); a 64-bit table ends at the end-of-table structure
// (type 127), as SMBIOS 3 requires. After the walk, a 32-bit table is checked as
// dmidecode checks it: the announced count of structures, and that they fill the
// announced length; a mismatch in a table that is all there is a warning (a structure
// whose length swallows its neighbours shows no other sign). A structure with a length below 4, one that runs
// past the end of the data, or one whose string set is not terminated stops the walk:
// nothing after it can be located reliably. Each of these adds a warning.
func walkTable(table []byte, ep entryPoint) ([]*smbios.Structure, []string) {
	var (
		structures []*smbios.Structure
		warnings   []string
		sawEnd     bool
	)
	off := 0
	for ep.structures == 0 || len(structures) < ep.structures {
		if off+headerLength > len(table) {
			break
		}
		h := smbios.Header{Type: table[off], Length: table[off+1], Handle: binary.LittleEndian.Uint16(table[off+2:])}
		where := fmt.Sprintf("structure at offset 0x%X (handle 0x%04X, type %d)", off, h.Handle, h.Type)
		if h.Length < headerLength {
			warnings = append(warnings, fmt.Sprintf("%s: invalid length %d; the rest of the table cannot be located", where, h.Length))
			return structures, warnings
		}
		formattedEnd := off + int(h.Length)
		if formattedEnd > len(table) {
			warnings = append(warnings, fmt.Sprintf("%s: length %d runs past the end of the table (%d bytes left); table truncated", where, h.Length, len(table)-off))
			return structures, warnings
		}
		// The string set ends at the first pair of NULs after the formatted area; a
		// structure without strings has just that pair.
		end := bytes.Index(table[formattedEnd:], []byte{0, 0})
		if end < 0 {
			warnings = append(warnings, fmt.Sprintf("%s: string set not terminated before the end of the table; table truncated", where))
			return structures, warnings
		}
		structures = append(structures, &smbios.Structure{
			Header:    h,
			Formatted: table[off+headerLength : formattedEnd],
			Strings:   splitStrings(table[formattedEnd : formattedEnd+end]),
		})
		off = formattedEnd + end + 2
		if h.Type == typeEndOfTable {
			sawEnd = true
			if ep.is64 {
				break
			}
		}
	}
	switch {
	case ep.is64:
		if !sawEnd {
			warnings = append(warnings, fmt.Sprintf("table ends after %d structures without an end-of-table structure (type 127); table truncated", len(structures)))
		}
	case ep.structures > 0 && len(structures) < ep.structures && len(table) < ep.tableLength:
		warnings = append(warnings, fmt.Sprintf("table ends after %d of the %d structures the entry point announces; table truncated", len(structures), ep.structures))
	case ep.structures > 0 && len(structures) != ep.structures:
		// The table is all there, so a structure's length is wrong: one that claims its
		// neighbours' bytes hides them and shifts every string index after it.
		warnings = append(warnings, fmt.Sprintf("the entry point announces %d structures, but the %d-byte table holds %d: a structure length is wrong, and what follows it may be misread", ep.structures, len(table), len(structures)))
	case ep.structures > 0 && off < len(table):
		warnings = append(warnings, fmt.Sprintf("the entry point announces a %d-byte table, but its %d structures occupy %d bytes: a structure length may be wrong", len(table), len(structures), off))
	}
	return structures, warnings
}

// splitStrings splits a string set, without its terminating NUL pair, into its strings.
func splitStrings(set []byte) []string {
	if len(set) == 0 {
		return nil
	}
	parts := bytes.Split(set, []byte{0})
	strs := make([]string, len(parts))
	for i, p := range parts {
		strs[i] = string(p)
	}
	return strs
}
