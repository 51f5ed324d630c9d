package hardware

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
)

// maxTableBytes bounds how much of a dump is read as the table. A 64-bit entry point
// announces only a maximum size (up to 4 GiB); real tables are a few KiB, so a bigger
// claim is damage and reading stops here.
const maxTableBytes = 1 << 20

// entryPointBytes is the most an entry point occupies, and where dmidecode puts the
// table in a dump.
const entryPointBytes = 0x20

// ReadSysfs reads dir/smbios_entry_point and dir/DMI as the Linux kernel exposes them
// (dir is normally SysfsDir) and decodes them. When either file does not exist the
// error wraps ErrNoTables and names the missing path; other read errors and an unusable
// entry point are errors naming the file.
func ReadSysfs(dir string) (*Report, error) {
	epPath := filepath.Join(dir, "smbios_entry_point")
	tablePath := filepath.Join(dir, "DMI")
	ep, err := readSysfsFile(epPath)
	if err != nil {
		return nil, err
	}
	table, err := readSysfsFile(tablePath)
	if err != nil {
		return nil, err
	}
	r, err := Decode(ep, table)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", epPath, err)
	}
	r.Source = dir
	return r, nil
}

func readSysfsFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist (firmware without SMBIOS, or a kernel without DMI support)", ErrNoTables, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read SMBIOS tables: %w", err)
	}
	return b, nil
}

// ReadDump reads a file in `dmidecode --dump-bin` format — the entry point at offset 0,
// the table at the address the entry point gives (0x20 in dmidecode's dumps) — and
// decodes it. A file too short for its table decodes with a warning. Errors (missing
// file, unusable entry point) name the file.
func ReadDump(path string) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read SMBIOS dump: %w", err)
	}
	defer f.Close()
	ep := make([]byte, entryPointBytes)
	n, err := io.ReadFull(f, ep)
	// A short file is not a read error: parseEntryPoint says what is missing.
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("read SMBIOS dump %s: %w", path, err)
	}
	ep = ep[:n]
	e, err := parseEntryPoint(ep)
	if err != nil {
		return nil, fmt.Errorf("SMBIOS dump %s: %w", path, err)
	}
	length := min(int64(e.tableLength), maxTableBytes)
	if e.tableAddress > math.MaxInt64-maxTableBytes {
		return nil, fmt.Errorf("SMBIOS dump %s: table address 0x%X is beyond any file", path, e.tableAddress)
	}
	table, err := io.ReadAll(io.NewSectionReader(f, int64(e.tableAddress), length))
	if err != nil {
		return nil, fmt.Errorf("read SMBIOS dump %s: %w", path, err)
	}
	r, err := Decode(ep, table)
	if err != nil {
		return nil, fmt.Errorf("SMBIOS dump %s: %w", path, err)
	}
	if int64(len(table)) < length && !e.is64 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s holds %d of the %d table bytes the entry point announces", path, len(table), length))
	}
	r.Source = path
	return r, nil
}
