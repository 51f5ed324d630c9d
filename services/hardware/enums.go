package hardware

import "strings"

// Names of enumerated values from DSP0134, spelled as dmidecode prints them so that
// reports can be compared with dmidecode output and users' greps keep working.

const useSystemMemory = "System Memory"

// enum maps a code to its name; codes outside the table and the code meaning
// "Unknown" (2 in every SMBIOS enum decoded here) have no name.
type enum struct {
	first int
	names []string
}

// name returns the name of code, or nil when the code means "Unknown" or is not defined.
func (e enum) name(code int) *string {
	i := code - e.first
	if i < 0 || i >= len(e.names) || e.names[i] == "Unknown" {
		return nil
	}
	n := e.names[i]
	return &n
}

// enumSet is several enums covering disjoint code ranges.
type enumSet []enum

func (s enumSet) name(code int) *string {
	for _, e := range s {
		if n := e.name(code); n != nil {
			return n
		}
	}
	return nil
}

// chassisTypes is type 3 offset 05h, bits 6:0 (DSP0134 7.4.1).
var chassisTypes = enum{1, []string{
	"Other", "Unknown", "Desktop", "Low Profile Desktop", "Pizza Box", "Mini Tower", "Tower",
	"Portable", "Laptop", "Notebook", "Hand Held", "Docking Station", "All In One",
	"Sub Notebook", "Space-saving", "Lunch Box", "Main Server Chassis", "Expansion Chassis",
	"Sub Chassis", "Bus Expansion Chassis", "Peripheral Chassis", "RAID Chassis",
	"Rack Mount Chassis", "Sealed-case PC", "Multi-system", "CompactPCI", "AdvancedTCA",
	"Blade", "Blade Enclosing", "Tablet", "Convertible", "Detachable", "IoT Gateway",
	"Embedded PC", "Mini PC", "Stick PC",
}}

// arrayLocations is type 16 offset 04h (DSP0134 7.17.1).
var arrayLocations = enumSet{
	{0x01, []string{
		"Other", "Unknown", "System Board Or Motherboard", "ISA Add-on Card", "EISA Add-on Card",
		"PCI Add-on Card", "MCA Add-on Card", "PCMCIA Add-on Card", "Proprietary Add-on Card", "NuBus",
	}},
	{0xA0, []string{
		"PC-98/C20 Add-on Card", "PC-98/C24 Add-on Card", "PC-98/E Add-on Card",
		"PC-98/Local Bus Add-on Card", "CXL Flexbus 1.0",
	}},
}

// arrayUses is type 16 offset 05h (DSP0134 7.17.2).
var arrayUses = enum{1, []string{
	"Other", "Unknown", useSystemMemory, "Video Memory", "Flash Memory", "Non-volatile RAM", "Cache Memory",
}}

// arrayECC is type 16 offset 06h (DSP0134 7.17.3).
var arrayECC = enum{1, []string{
	"Other", "Unknown", "None", "Parity", "Single-bit ECC", "Multi-bit ECC", "CRC",
}}

// formFactors is type 17 offset 0Eh (DSP0134 7.18.1).
var formFactors = enum{1, []string{
	"Other", "Unknown", "SIMM", "SIP", "Chip", "DIP", "ZIP", "Proprietary Card", "DIMM", "TSOP",
	"Row Of Chips", "RIMM", "SODIMM", "SRIMM", "FB-DIMM", "Die",
}}

// memoryTypes is type 17 offset 12h (DSP0134 7.18.2).
var memoryTypes = enum{1, []string{
	"Other", "Unknown", "DRAM", "EDRAM", "VRAM", "SRAM", "RAM", "ROM", "Flash", "EEPROM", "FEPROM",
	"EPROM", "CDRAM", "3DRAM", "SDRAM", "SGRAM", "RDRAM", "DDR", "DDR2", "DDR2 FB-DIMM",
	"Reserved", "Reserved", "Reserved", "DDR3", "FBD2", "DDR4", "LPDDR", "LPDDR2", "LPDDR3",
	"LPDDR4", "Logical non-volatile device", "HBM", "HBM2", "DDR5", "LPDDR5",
}}

// typeDetailBits is type 17 offset 13h, bits 1 to 15 (DSP0134 7.18.3); bit 0 is reserved.
var typeDetailBits = []string{
	"Other", "Unknown", "Fast-paged", "Static Column", "Pseudo-static", "RAMBus", "Synchronous",
	"CMOS", "EDO", "Window DRAM", "Cache DRAM", "Non-Volatile", "Registered (Buffered)",
	"Unbuffered (Unregistered)", "LRDIMM",
}

// typeDetail names the bits set in a type 17 Type Detail word, space-separated as
// dmidecode prints them. No bit set is "None"; only the "Unknown" bit set is nil.
func typeDetail(code uint16) *string {
	const unknownBit = 1 << 2
	if code&0xFFFE == unknownBit {
		return nil
	}
	var names []string
	for bit := 1; bit <= len(typeDetailBits); bit++ {
		if code&(1<<bit) != 0 {
			names = append(names, typeDetailBits[bit-1])
		}
	}
	if names == nil {
		names = []string{"None"}
	}
	s := strings.Join(names, " ")
	return &s
}
