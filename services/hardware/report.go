// Package hardware decodes the firmware's SMBIOS tables into the hardware report that
// hostkit-hwd serves: BIOS, system, baseboard, chassis, processors and memory.
//
// The tables come from sysfs (ReadSysfs), from a file written by `dmidecode --dump-bin`
// (ReadDump) or from bytes already in memory (Decode). Decoding is tolerant: a damaged
// table yields everything that could be read plus warnings, never a half-filled error.
//
// In the JSON form every value the firmware leaves unset (string index 0, an enum coded
// "Unknown", a size or speed coded unknown, a field the structure is too short to hold)
// is null, so scripts can tell "unknown" from a real value. So is a placeholder the
// firmware left in a string ("To Be Filled By O.E.M.", "Default string", "0123456789",
// see data/placeholders.txt); the firmware's string is then kept in the object's "raw"
// map under the field's name, as is a JEDEC code the report names a maker for.
package hardware

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNoTables reports that the machine (or the given directory) has no SMBIOS tables at
// all: there is nothing to report, which is not a failure of the service.
var ErrNoTables = errors.New("no SMBIOS tables")

// SysfsDir is where the Linux kernel exposes the SMBIOS entry point and table.
const SysfsDir = "/sys/firmware/dmi/tables"

// Report is the decoded hardware report. Its JSON form is relied on by users' scripts.
type Report struct {
	Available bool `json:"available"`
	// Source is the dump file or sysfs directory the tables were read from.
	Source string `json:"source"`
	// Problem says why the report is not available; empty when Available is true.
	Problem string `json:"problem,omitempty"`
	// Warnings describe damage found in the table; what could be read is still reported.
	Warnings []string `json:"warnings,omitempty"`
	// SMBIOSVersion is the version the entry point declares, printed as dmidecode prints
	// it: "major.minor" for 32-bit entry points, "major.minor.revision" for 64-bit ones.
	SMBIOSVersion *string     `json:"smbios_version"`
	BIOS          *BIOS       `json:"bios"`
	System        *System     `json:"system"`
	Baseboard     *Baseboard  `json:"baseboard"`
	Chassis       *Chassis    `json:"chassis"`
	Processors    []Processor `json:"processors"`
	Memory        Memory      `json:"memory"`
	// Virtualization says whether this is a virtual machine, and how that was found;
	// null when nothing could tell.
	Virtualization *Virtualization `json:"virtualization"`
	// CPU is what /proc/cpuinfo says; null when the report is not of the running
	// machine (a dump) or the file could not be read (a warning says why).
	CPU *CPU `json:"cpu"`
	// Disks are the block devices, by name; null when the report is not of the
	// running machine.
	Disks []Disk `json:"disks"`
	// Links are the network interfaces, by index; null when the report is not of the
	// running machine.
	Links []Link `json:"links"`
}

// Virtualization names the hypervisor and container this runs in, with the
// identifiers systemd-detect-virt(1) prints ("kvm", "vmware", "oracle", "microsoft",
// "docker", ...), "none" for none.
type Virtualization struct {
	// VM is the hypervisor, "none" on bare metal, "vm-other" for one the tables mark as
	// virtual without naming it.
	VM string `json:"vm"`
	// Container is the container manager; null when the source cannot tell (SMBIOS
	// tables describe machines, not containers).
	Container *string `json:"container"`
	// Source is what answered: "smbios" (the tables' vendor strings and their
	// virtual-machine bit), "cpuinfo" (the processor's hypervisor flag), or "systemd"
	// (its Virtualization property).
	Source string `json:"source"`
}

// BIOS is SMBIOS type 0.
type BIOS struct {
	Vendor      *string `json:"vendor"`
	Version     *string `json:"version"`
	ReleaseDate *string `json:"release_date"`
	// Raw holds the firmware's strings where the report shows another value: a
	// placeholder shown as null, a JEDEC code shown as a name. Keys are JSON field names.
	Raw map[string]string `json:"raw,omitempty"`
}

// System is SMBIOS type 1.
type System struct {
	Manufacturer *string `json:"manufacturer"`
	Product      *string `json:"product"`
	Version      *string `json:"version"`
	Serial       *string `json:"serial"`
	// UUID is in lowercase canonical form, byte order per SMBIOS 2.6 and later (as
	// dmidecode decodes it); null when the firmware marks it not present or not settable.
	UUID   *string           `json:"uuid"`
	SKU    *string           `json:"sku"`
	Family *string           `json:"family"`
	Raw    map[string]string `json:"raw,omitempty"`
}

// Baseboard is the first SMBIOS type 2 structure.
type Baseboard struct {
	Manufacturer *string           `json:"manufacturer"`
	Product      *string           `json:"product"`
	Version      *string           `json:"version"`
	Serial       *string           `json:"serial"`
	AssetTag     *string           `json:"asset_tag"`
	Raw          map[string]string `json:"raw,omitempty"`
}

// Chassis is the first SMBIOS type 3 structure.
type Chassis struct {
	Manufacturer *string `json:"manufacturer"`
	// Type is the chassis type as dmidecode names it, e.g. "Notebook", "Rack Mount Chassis".
	Type     *string           `json:"type"`
	Version  *string           `json:"version"`
	Serial   *string           `json:"serial"`
	AssetTag *string           `json:"asset_tag"`
	Raw      map[string]string `json:"raw,omitempty"`
}

// Processor is one SMBIOS type 4 structure, i.e. one socket.
type Processor struct {
	Handle          int     `json:"handle"`
	Socket          *string `json:"socket"`
	Manufacturer    *string `json:"manufacturer"`
	Version         *string `json:"version"`
	MaxSpeedMHz     *int    `json:"max_speed_mhz"`
	CurrentSpeedMHz *int    `json:"current_speed_mhz"`
	Cores           *int    `json:"cores"`
	CoresEnabled    *int    `json:"cores_enabled"`
	Threads         *int    `json:"threads"`
	// Populated is whether a processor sits in the socket.
	Populated  *bool             `json:"populated"`
	Serial     *string           `json:"serial"`
	AssetTag   *string           `json:"asset_tag"`
	PartNumber *string           `json:"part_number"`
	Raw        map[string]string `json:"raw,omitempty"`
}

// Memory holds the physical memory arrays (type 16) with their devices (type 17), and
// the mapped address ranges (type 19).
type Memory struct {
	Arrays       []MemoryArray `json:"arrays"`
	MappedRanges []MappedRange `json:"mapped_ranges"`
	// Controllers are the obsolete type 5 structures that old firmware still gives;
	// their maxima are compared with the arrays' by the advisor. Left out when none.
	Controllers []MemoryController `json:"controllers,omitempty"`
}

// MemoryController is one SMBIOS type 5 structure (Memory Controller Information).
type MemoryController struct {
	Handle int `json:"handle"`
	// MaxModuleBytes is the largest module the controller takes.
	MaxModuleBytes *uint64 `json:"max_module_bytes"`
	// Slots is the number of memory slots the controller serves.
	Slots *int `json:"slots"`
	// MaxTotalBytes is MaxModuleBytes times Slots, as dmidecode prints it.
	MaxTotalBytes *uint64 `json:"max_total_bytes"`
}

// MemoryArray is one SMBIOS type 16 structure with the memory devices that name it.
//
// Devices whose array handle matches no type 16 structure are listed under an extra
// MemoryArray whose Handle is that dangling handle (-1 when the device has none) and
// whose other fields are null; the report carries a warning for each such device.
type MemoryArray struct {
	Handle   int     `json:"handle"`
	Location *string `json:"location"`
	Use      *string `json:"use"`
	ECC      *string `json:"ecc"`
	// MaxCapacityBytes uses the Extended Maximum Capacity when the firmware asks for it.
	MaxCapacityBytes *uint64 `json:"max_capacity_bytes"`
	// Slots is the array's "Number Of Memory Devices".
	Slots   *int           `json:"slots"`
	Devices []MemoryDevice `json:"devices"`
}

// MemoryDevice is one SMBIOS type 17 structure: a slot, empty or not.
type MemoryDevice struct {
	Handle      int     `json:"handle"`
	ArrayHandle *int    `json:"array_handle"`
	Locator     *string `json:"locator"`
	BankLocator *string `json:"bank_locator"`
	// SizeBytes is 0 for an empty slot and null when the firmware does not know the size.
	SizeBytes *uint64 `json:"size_bytes"`
	// FormFactor, Type and TypeDetail are named as dmidecode names them ("SODIMM",
	// "DDR4", "Synchronous Unbuffered (Unregistered)").
	FormFactor         *string `json:"form_factor"`
	Type               *string `json:"type"`
	TypeDetail         *string `json:"type_detail"`
	SpeedMTs           *int    `json:"speed_mts"`
	ConfiguredSpeedMTs *int    `json:"configured_speed_mts"`
	Manufacturer       *string `json:"manufacturer"`
	Serial             *string `json:"serial"`
	AssetTag           *string `json:"asset_tag"`
	PartNumber         *string `json:"part_number"`
	Rank               *int    `json:"rank"`
	// TotalWidthBits and DataWidthBits are the module's bus widths; more total than
	// data bits are the ECC bits (72 of 64).
	TotalWidthBits *int `json:"total_width_bits"`
	DataWidthBits  *int `json:"data_width_bits"`
	// MinimumVoltageMV, MaximumVoltageMV and ConfiguredVoltageMV are the module's
	// voltages in millivolts (SMBIOS 2.8).
	MinimumVoltageMV    *int `json:"minimum_voltage_mv"`
	MaximumVoltageMV    *int `json:"maximum_voltage_mv"`
	ConfiguredVoltageMV *int `json:"configured_voltage_mv"`
	// Raw is as in BIOS; a manufacturer given as a JEDEC code ("80CE") is shown by name
	// ("Samsung") with the code kept here.
	Raw map[string]string `json:"raw,omitempty"`
}

// MappedRange is one SMBIOS type 19 structure: a range of physical addresses backed by
// a memory array. EndBytes is the address of the range's last byte (inclusive).
type MappedRange struct {
	Handle         int     `json:"handle"`
	ArrayHandle    *int    `json:"array_handle"`
	StartBytes     *uint64 `json:"start_bytes"`
	EndBytes       *uint64 `json:"end_bytes"`
	PartitionWidth *int    `json:"partition_width"`
}

// Unavailable returns a report with Available false, Problem set to reason and every
// section null or empty, for machines without SMBIOS tables; source is where they were
// looked for.
func Unavailable(source, reason string) *Report {
	return &Report{
		Source:     source,
		Problem:    reason,
		Processors: []Processor{},
		Memory:     Memory{Arrays: []MemoryArray{}, MappedRanges: []MappedRange{}},
	}
}

// Empty reports whether r holds none of the structures a report shows (BIOS, system,
// baseboard, chassis, processors, memory): tables of which nothing could be decoded.
func (r *Report) Empty() bool {
	return r.BIOS == nil && r.System == nil && r.Baseboard == nil && r.Chassis == nil && len(r.Processors) == 0 &&
		len(r.Memory.Arrays) == 0 && len(r.Memory.MappedRanges) == 0
}

// WithoutSecrets returns a deep copy of r in which every serial number, UUID, asset tag
// and disk WWN is nil, also where "raw" keeps a placeholder in their place, for callers not
// allowed to read them. r itself is not changed.
func (r *Report) WithoutSecrets() *Report {
	c := r.copy()
	hide := func(serial, assetTag **string, raw map[string]string) {
		*serial = nil
		if assetTag != nil {
			*assetTag = nil
		}
		for _, k := range secretFields {
			delete(raw, k)
		}
	}
	if s := c.System; s != nil {
		hide(&s.Serial, nil, s.Raw)
		s.UUID = nil
		s.Raw = rawStrings(s.Raw).orNil()
	}
	if b := c.Baseboard; b != nil {
		hide(&b.Serial, &b.AssetTag, b.Raw)
		b.Raw = rawStrings(b.Raw).orNil()
	}
	if ch := c.Chassis; ch != nil {
		hide(&ch.Serial, &ch.AssetTag, ch.Raw)
		ch.Raw = rawStrings(ch.Raw).orNil()
	}
	for i := range c.Processors {
		p := &c.Processors[i]
		hide(&p.Serial, &p.AssetTag, p.Raw)
		p.Raw = rawStrings(p.Raw).orNil()
	}
	for i := range c.Memory.Arrays {
		for j := range c.Memory.Arrays[i].Devices {
			d := &c.Memory.Arrays[i].Devices[j]
			hide(&d.Serial, &d.AssetTag, d.Raw)
			d.Raw = rawStrings(d.Raw).orNil()
		}
	}
	for i := range c.Disks {
		c.Disks[i].Serial, c.Disks[i].WWN = nil, nil
	}
	return c
}

// secretFields are the JSON names of the fields WithoutSecrets hides.
var secretFields = []string{"serial", "uuid", "asset_tag", "wwn"}

// copy returns a deep copy of r, made through its JSON form so that a field added to
// the report is copied without more code here.
func (r *Report) copy() *Report {
	data, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("hardware report does not marshal: %v", err)) // only plain data types
	}
	var c Report
	if err := json.Unmarshal(data, &c); err != nil {
		panic(fmt.Sprintf("hardware report does not unmarshal: %v", err))
	}
	return &c
}

// Summary is the handful of facts hostkit-hwd publishes as D-Bus properties. Strings are
// "" when unknown; counts and sizes are 0 when unknown.
type Summary struct {
	Available                                                             bool
	SMBIOSVersion, BIOSVendor, BIOSVersion, BIOSDate                      string
	SystemVendor, SystemProduct, SystemVersion, BoardVendor, BoardProduct string
	ChassisType                                                           string
	ProcessorSockets, ProcessorsPopulated, Cores, Threads                 uint32
	MemorySlots, MemorySlotsUsed                                          uint32
	MemoryInstalledBytes, MemoryMaxBytes                                  uint64
	// Virtualization is the hypervisor ("none" on bare metal), CPUModel the model name
	// /proc/cpuinfo gives; "" when unknown.
	Virtualization, CPUModel string
}

// Summary condenses r. Processor counts cover every socket; cores and threads are summed
// over populated sockets. Memory figures are summed over the arrays whose use is
// "System Memory", or over all arrays when none says so. A slot is used when its device
// has a size other than 0 (an unknown size counts as used, since something is there).
func (r *Report) Summary() Summary {
	s := Summary{Available: r.Available, SMBIOSVersion: deref(r.SMBIOSVersion)}
	if b := r.BIOS; b != nil {
		s.BIOSVendor, s.BIOSVersion, s.BIOSDate = deref(b.Vendor), deref(b.Version), deref(b.ReleaseDate)
	}
	if y := r.System; y != nil {
		s.SystemVendor, s.SystemProduct, s.SystemVersion = deref(y.Manufacturer), deref(y.Product), deref(y.Version)
	}
	if b := r.Baseboard; b != nil {
		s.BoardVendor, s.BoardProduct = deref(b.Manufacturer), deref(b.Product)
	}
	if c := r.Chassis; c != nil {
		s.ChassisType = deref(c.Type)
	}
	if v := r.Virtualization; v != nil {
		s.Virtualization = v.VM
	}
	if c := r.CPU; c != nil {
		s.CPUModel = deref(c.Model)
	}
	for _, p := range r.Processors {
		s.ProcessorSockets++
		if p.Populated != nil && *p.Populated {
			s.ProcessorsPopulated++
			s.Cores += uint32(deref(p.Cores))
			s.Threads += uint32(deref(p.Threads))
		}
	}
	for _, a := range r.systemMemoryArrays() {
		if a.Slots != nil {
			s.MemorySlots += uint32(*a.Slots)
		} else {
			s.MemorySlots += uint32(len(a.Devices))
		}
		s.MemoryMaxBytes += deref(a.MaxCapacityBytes)
		for _, d := range a.Devices {
			if d.SizeBytes == nil || *d.SizeBytes > 0 {
				s.MemorySlotsUsed++
			}
			s.MemoryInstalledBytes += deref(d.SizeBytes)
		}
	}
	return s
}

// systemMemoryArrays returns the arrays used as system memory, or all arrays when the
// firmware marks none as such (old tables often leave Use unknown).
func (r *Report) systemMemoryArrays() []MemoryArray {
	var sys []MemoryArray
	for _, a := range r.Memory.Arrays {
		if a.Use != nil && *a.Use == useSystemMemory {
			sys = append(sys, a)
		}
	}
	if sys == nil {
		return r.Memory.Arrays
	}
	return sys
}

// deref returns *p, or the zero value for nil.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
