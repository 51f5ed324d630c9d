package hardware

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/hostkit/hostkit/internal/config"
)

// MaxSourceBytes caps every file the hardware report is read from: the sysfs entry
// point and table and a dump, whatever they turn out to be (a link to /dev/zero, a huge
// image). Real tables are a few KiB; a 64-bit entry point announces only a maximum size
// (up to 4 GiB), so a bigger claim is damage. It is the cap of every hostkit
// configuration file.
const MaxSourceBytes = config.MaxFileSize

// entryPointBytes is the most an entry point occupies, and where dmidecode puts the
// table in a dump.
const entryPointBytes = 0x20

// readSource reads one source file: opened without blocking, at most MaxSourceBytes, a
// regular file or (pipes) a pipe read to its end. A FIFO without a writer reads as empty.
func readSource(path string, pipes bool) ([]byte, error) {
	f, err := config.OpenFile(path, 0, pipes)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return config.ReadAtMost(f, MaxSourceBytes)
}

// ReadSysfs reads dir/smbios_entry_point and dir/DMI as the Linux kernel exposes them
// (dir is normally SysfsDir) and decodes them. Both must be regular files of at most
// MaxSourceBytes, opened without blocking (a FIFO or device there is an error, never a
// hang). When either file does not exist the error wraps ErrNoTables and names the
// missing path; other read errors and an unusable entry point are errors naming the file.
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
	b, err := readSource(path, false)
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
// decodes it. The file is a regular file or a pipe (/dev/stdin), read to its end, at most
// MaxSourceBytes; anything else (a device, a directory) is an error, and a FIFO without
// a writer reads as empty. A file too short for its table decodes with a warning.
// Errors (missing file, unusable entry point) name the file.
func ReadDump(path string) (*Report, error) {
	data, err := readSource(path, true)
	if err != nil {
		return nil, fmt.Errorf("read SMBIOS dump: %w", err)
	}
	ep := data[:min(len(data), entryPointBytes)]
	e, err := parseEntryPoint(ep)
	if err != nil {
		return nil, fmt.Errorf("SMBIOS dump %s: %w", path, err)
	}
	var table []byte
	if e.tableAddress < uint64(len(data)) {
		table = data[e.tableAddress:]
	}
	table = table[:min(len(table), e.tableLength)]
	r, err := Decode(ep, table)
	if err != nil {
		return nil, fmt.Errorf("SMBIOS dump %s: %w", path, err)
	}
	switch {
	case e.tableAddress >= uint64(len(data)):
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s: the table address 0x%X the entry point gives is past the end of the file (%d bytes)", path, e.tableAddress, len(data)))
	case len(table) < e.tableLength && !e.is64:
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s holds %d of the %d table bytes the entry point announces", path, len(table), e.tableLength))
	}
	r.Source = path
	return r, nil
}
