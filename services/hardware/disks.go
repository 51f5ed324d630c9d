package hardware

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// SysBlockDir is where the kernel lists block devices.
const SysBlockDir = "/sys/block"

// Disk is one block device: what fdisk -l and smartctl -a are run for.
type Disk struct {
	// Name is the kernel's name ("sda", "nvme0n1"), Path its node ("/dev/sda").
	Name string `json:"name"`
	Path string `json:"path"`
	// Model, Vendor and Firmware are as the device reports them; Serial and WWN
	// identify the device and are withheld like the other serial numbers.
	Model    *string `json:"model"`
	Vendor   *string `json:"vendor"`
	Serial   *string `json:"serial"`
	WWN      *string `json:"wwn"`
	Firmware *string `json:"firmware"`
	// SizeBytes and the sector sizes are the kernel's.
	SizeBytes           uint64 `json:"size_bytes"`
	LogicalSectorBytes  *int   `json:"logical_sector_bytes"`
	PhysicalSectorBytes *int   `json:"physical_sector_bytes"`
	Rotational          *bool  `json:"rotational"`
	Removable           *bool  `json:"removable"`
	ReadOnly            *bool  `json:"read_only"`
	// Transport is how the device is attached: "sata", "pata", "sas", "scsi", "nvme",
	// "usb", "virtio", "mmc", "xen", or "virtual" (loop, device mapper, RAID, zram);
	// null when neither udev nor the device's place in sysfs says.
	Transport *string `json:"transport"`
	// PartitionTable is "gpt" or "dos" (MBR), null for none or unknown.
	PartitionTable *string     `json:"partition_table"`
	Partitions     []Partition `json:"partitions"`
	// SMART is the device's health from smartctl; null for a device that cannot have
	// SMART (virtual, virtio: Smart says why).
	SMART *Smart `json:"smart"`
}

// Partition is one partition of a disk.
type Partition struct {
	Name       string `json:"name"`
	Number     int    `json:"number"`
	StartBytes uint64 `json:"start_bytes"`
	SizeBytes  uint64 `json:"size_bytes"`
	// Type is the partition type as the table gives it: a GUID for GPT
	// ("0fc63daf-8483-4772-8e79-3d69d8477de4"), "0x83" for MBR; TypeName names the
	// common ones ("Linux filesystem").
	Type     *string `json:"type"`
	TypeName *string `json:"type_name"`
	// Label is the GPT partition name; Filesystem and FilesystemLabel what udev found
	// in the partition (null without udev).
	Label           *string `json:"label"`
	Filesystem      *string `json:"filesystem"`
	FilesystemLabel *string `json:"filesystem_label"`
}

// sysfsAttr reads a small sysfs attribute, trimmed; ok is false when it is missing or
// unreadable.
func sysfsAttr(path string) (string, bool) {
	data, err := readSource(path, false)
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(data)), true
}

func sysfsInt(path string) (int64, bool) {
	s, ok := sysfsAttr(path)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func sysfsBool(path string) *bool {
	n, ok := sysfsInt(path)
	if !ok {
		return nil
	}
	b := n != 0
	return &b
}

// sysfsString returns a sysfs attribute as a report string: nil when missing, empty or
// a placeholder.
func sysfsString(path string) *string {
	s, ok := sysfsAttr(path)
	if !ok || isPlaceholder(s) {
		return nil
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return &s
}

// kernelName is what a block device's name may be; anything else in /sys/block is
// skipped, as it could not be a device node's name.
var kernelName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:!+-]{0,63}$`)

// ReadDisks lists the block devices in l.SysBlock with what udev (l.UdevData) knows of
// them, their partitions, and, through l.Smart, their SMART health. Devices of size 0
// (an unused loop device, an empty card reader) are left out. Partition types and labels
// come from udev; where udev knows none and l.ReadTables is set, from the partition
// table on the device itself, read and never written. What cannot be read is left
// null with a warning naming the file or device.
func ReadDisks(l Live) ([]Disk, []string) {
	var warnings []string
	entries, err := os.ReadDir(l.SysBlock)
	if err != nil {
		return nil, []string{fmt.Sprintf("disks from %s skipped: %v", l.SysBlock, err)}
	}
	disks := []Disk{}
	for _, e := range entries {
		name := e.Name()
		if !kernelName.MatchString(name) {
			warnings = append(warnings, fmt.Sprintf("%s/%q: not a device name; skipped", l.SysBlock, name))
			continue
		}
		d, ws := readDisk(l, name)
		warnings = append(warnings, ws...)
		if d != nil {
			disks = append(disks, *d)
		}
	}
	sort.Slice(disks, func(i, j int) bool { return disks[i].Name < disks[j].Name })
	if l.Smart != nil {
		smartAll(l.Smart, disks)
	}
	return disks, warnings
}

func readDisk(l Live, name string) (*Disk, []string) {
	var warnings []string
	dir := filepath.Join(l.SysBlock, name)
	sectors, ok := sysfsInt(filepath.Join(dir, "size"))
	if !ok {
		return nil, []string{fmt.Sprintf("%s: no readable size; skipped", filepath.Join(dir, "size"))}
	}
	if sectors <= 0 {
		return nil, nil
	}
	d := &Disk{Name: name, Path: "/dev/" + name, SizeBytes: uint64(sectors) * 512, Partitions: []Partition{}}
	if n, ok := sysfsInt(filepath.Join(dir, "queue", "logical_block_size")); ok {
		d.LogicalSectorBytes = ptr(int(n))
	}
	if n, ok := sysfsInt(filepath.Join(dir, "queue", "physical_block_size")); ok {
		d.PhysicalSectorBytes = ptr(int(n))
	}
	d.Rotational = sysfsBool(filepath.Join(dir, "queue", "rotational"))
	d.Removable = sysfsBool(filepath.Join(dir, "removable"))
	d.ReadOnly = sysfsBool(filepath.Join(dir, "ro"))

	env := map[string]string{}
	if dev, ok := sysfsAttr(filepath.Join(dir, "dev")); ok && l.UdevData != "" {
		var ws []string
		env, ws = readUdev(l.UdevData, "b"+dev)
		warnings = append(warnings, ws...)
	}
	target, _ := filepath.EvalSymlinks(dir)
	d.Transport = transport(env, target)
	virtual := strings.Contains(target, "/devices/virtual/")

	// What the device says of itself, udev first (it knows the ATA serial number the
	// kernel does not show), then the attributes of the device in sysfs.
	d.Model = orString(udevString(env, "ID_MODEL_ENC", "ID_MODEL"), sysfsString(filepath.Join(dir, "device", "model")))
	if vendor := sysfsString(filepath.Join(dir, "device", "vendor")); vendor != nil && !strings.HasPrefix(*vendor, "0x") {
		d.Vendor = vendor // SCSI's vendor; virtio's "0x1af4" is a PCI ID, not a name
	}
	if !virtual {
		d.Serial = orString(udevString(env, "ID_SERIAL_SHORT"), sysfsString(filepath.Join(dir, "device", "serial")),
			sysfsString(filepath.Join(dir, "serial")))
		d.WWN = orString(udevString(env, "ID_WWN_WITH_EXTENSION", "ID_WWN"), sysfsString(filepath.Join(dir, "wwid")),
			sysfsString(filepath.Join(dir, "device", "wwid")))
		d.Firmware = orString(udevString(env, "ID_REVISION"), sysfsString(filepath.Join(dir, "device", "firmware_rev")),
			sysfsString(filepath.Join(dir, "device", "rev")))
	}
	d.PartitionTable = udevString(env, "ID_PART_TABLE_TYPE")

	ws := readPartitions(l, d, dir)
	warnings = append(warnings, ws...)
	return d, warnings
}

// readUdev reads the udev database's file for a device ("b8:0"); a missing file is no
// warning (udev does not run in containers), any other failure is.
func readUdev(dir, id string) (map[string]string, []string) {
	path := filepath.Join(dir, id)
	data, err := readSource(path, false)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return map[string]string{}, []string{fmt.Sprintf("udev data %s skipped: %v", path, err)}
	}
	return ParseUdevData(path, data)
}

// transport says how a device is attached: from udev's ID_BUS and ID_PATH, else from
// where the device sits in sysfs (target, the resolved /sys/block link).
func transport(env map[string]string, target string) *string {
	path := env["ID_PATH"]
	switch {
	case strings.Contains(target, "/devices/virtual/"):
		return ptr("virtual")
	case env["ID_BUS"] == "nvme" || strings.Contains(target, "/nvme/"):
		return ptr("nvme")
	case strings.Contains(path, "-usb-") || env["ID_BUS"] == "usb" || strings.Contains(target, "/usb"):
		return ptr("usb")
	case strings.Contains(path, "-sas-") || strings.Contains(target, "/end_device-"):
		return ptr("sas")
	case env["ID_ATA_SATA"] == "1" || strings.Contains(path, "-ata-") && env["ID_ATA"] == "1":
		return ptr("sata")
	case env["ID_BUS"] == "ata" || strings.Contains(target, "/ata"):
		if strings.Contains(target, "/ata") && env["ID_BUS"] == "" {
			return ptr("sata") // libata without udev: nearly always SATA
		}
		return ptr("pata")
	case strings.Contains(path, "virtio") || strings.Contains(target, "/virtio"):
		return ptr("virtio")
	case strings.Contains(target, "/mmc_host/"):
		return ptr("mmc")
	case strings.Contains(target, "/vbd-"):
		return ptr("xen")
	case env["ID_BUS"] == "scsi" || strings.Contains(target, "/host") && strings.Contains(target, "/target"):
		return ptr("scsi")
	}
	return nil
}

func orString(values ...*string) *string {
	for _, v := range values {
		if v != nil {
			return v
		}
	}
	return nil
}

// readPartitions fills d.Partitions from the partition directories in dir
// (/sys/block/sda/sda1/{partition,start,size}), with type and labels from udev, or
// from the table on the device when udev knows none and l.ReadTables is set.
func readPartitions(l Live, d *Disk, dir string) []string {
	var warnings []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		return []string{fmt.Sprintf("partitions of %s skipped: %v", d.Name, err)}
	}
	udevKnows := false
	for _, e := range entries {
		pdir := filepath.Join(dir, e.Name())
		number, ok := sysfsInt(filepath.Join(pdir, "partition"))
		if !ok || !e.IsDir() && e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		start, ok1 := sysfsInt(filepath.Join(pdir, "start"))
		size, ok2 := sysfsInt(filepath.Join(pdir, "size"))
		if !ok1 || !ok2 || !kernelName.MatchString(e.Name()) {
			warnings = append(warnings, fmt.Sprintf("%s: partition without a readable start and size; skipped", pdir))
			continue
		}
		p := Partition{Name: e.Name(), Number: int(number), StartBytes: uint64(start) * 512, SizeBytes: uint64(size) * 512}
		if dev, ok := sysfsAttr(filepath.Join(pdir, "dev")); ok && l.UdevData != "" {
			env, ws := readUdev(l.UdevData, "b"+dev)
			warnings = append(warnings, ws...)
			p.Type = udevString(env, "ID_PART_ENTRY_TYPE")
			p.Label = udevString(env, "ID_PART_ENTRY_NAME")
			p.Filesystem = udevString(env, "ID_FS_TYPE")
			p.FilesystemLabel = udevString(env, "ID_FS_LABEL_ENC", "ID_FS_LABEL")
			udevKnows = udevKnows || p.Type != nil
			if d.PartitionTable == nil {
				d.PartitionTable = udevString(env, "ID_PART_ENTRY_SCHEME")
			}
		}
		d.Partitions = append(d.Partitions, p)
	}
	sort.Slice(d.Partitions, func(i, j int) bool { return d.Partitions[i].Number < d.Partitions[j].Number })
	if !udevKnows && l.ReadTables && len(d.Partitions) > 0 {
		warnings = append(warnings, fromTable(d)...)
	}
	for i := range d.Partitions {
		if t := d.Partitions[i].Type; t != nil {
			d.Partitions[i].TypeName = partitionTypeName(*t)
		}
	}
	return warnings
}

// fromTable reads the partition table from the device node itself, read-only and
// without blocking, and takes the partitions' types and labels from it. It refuses
// anything that is not a block device.
func fromTable(d *Disk) []string {
	f, err := os.OpenFile(d.Path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return []string{fmt.Sprintf("partition table of %s not read: %v", d.Path, err)}
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || info.Mode()&fs.ModeDevice == 0 || info.Mode()&fs.ModeCharDevice != 0 {
		return []string{fmt.Sprintf("partition table of %s not read: not a block device", d.Path)}
	}
	sector := 512
	if d.LogicalSectorBytes != nil {
		sector = *d.LogicalSectorBytes
	}
	t, err := parsePartitionTable(f, sector, int64(d.SizeBytes))
	if errors.Is(err, errNoTable) {
		return nil
	}
	if err != nil {
		return []string{fmt.Sprintf("partition table of %s: %v", d.Path, err)}
	}
	d.PartitionTable = &t.scheme
	var warnings []string
	for i := range d.Partitions {
		p := &d.Partitions[i]
		e, ok := t.entries[p.Number]
		if !ok || e.startLBA*uint64(sector) != p.StartBytes {
			warnings = append(warnings, fmt.Sprintf("%s: partition %d is not where the table on %s puts it (changed since the kernel read it?)", p.Name, p.Number, d.Path))
			continue
		}
		p.Type = ptr(e.typ)
		if e.name != "" {
			p.Label = ptr(e.name)
		}
	}
	return warnings
}

// partitionTypes names common partition types.
var partitionTypes = map[string]string{
	"c12a7328-f81f-11d2-ba4b-00a0c93ec93b": "EFI System",
	"21686148-6449-6e6f-744e-656564454649": "BIOS boot",
	"0fc63daf-8483-4772-8e79-3d69d8477de4": "Linux filesystem",
	"4f68bce3-e8cd-4db1-96e7-fbcaf984b709": "Linux root (x86-64)",
	"0657fd6d-a4ab-43c4-84e5-0933c84b4f4f": "Linux swap",
	"e6d6d379-f507-44c2-a23c-238f2a3df928": "Linux LVM",
	"a19d880f-05fc-4d3b-a006-743f0f84911e": "Linux RAID",
	"933ac7e1-2eb4-4f13-b844-0e14e2aef915": "Linux home",
	"bc13c2ff-59e6-4262-a352-b275fd6f7172": "Linux extended boot",
	"ebd0a0a2-b9e5-4433-87c0-68b6b72699c7": "Microsoft basic data",
	"e3c9e316-0b5c-4db8-817d-f92df00215ae": "Microsoft reserved",
	"de94bba4-06d1-4d40-a16a-bfd50179d6ac": "Windows recovery",
	"0x83":                                 "Linux", "0x82": "Linux swap", "0x8e": "Linux LVM", "0xfd": "Linux RAID",
	"0x05": "Extended", "0x0f": "Extended (LBA)", "0x85": "Linux extended", "0xef": "EFI System",
	"0x07": "NTFS/exFAT", "0x0b": "FAT32", "0x0c": "FAT32 (LBA)", "0xee": "GPT protective",
}

func partitionTypeName(t string) *string {
	if n, ok := partitionTypes[strings.ToLower(t)]; ok {
		return &n
	}
	return nil
}
