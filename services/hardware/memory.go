package hardware

const (
	kib = 1 << 10
	mib = 1 << 20
)

// decodeMemoryArray decodes type 16 (DSP0134 7.17). A Maximum Capacity of 0x80000000
// defers to the Extended Maximum Capacity (SMBIOS 2.7, bytes); without it the capacity
// is unknown.
func decodeMemoryArray(f fields) MemoryArray {
	a := MemoryArray{Handle: int(f.s.Header.Handle), Devices: []MemoryDevice{}}
	if v, ok := f.byte(0x04); ok {
		a.Location = arrayLocations.name(int(v))
	}
	if v, ok := f.byte(0x05); ok {
		a.Use = arrayUses.name(int(v))
	}
	if v, ok := f.byte(0x06); ok {
		a.ECC = arrayECC.name(int(v))
	}
	if kb, ok := f.dword(0x07); ok {
		if kb == 0x80000000 {
			if b, ok := f.qword(0x0F); ok {
				a.MaxCapacityBytes = &b
			}
		} else {
			b := uint64(kb) * kib
			a.MaxCapacityBytes = &b
		}
	}
	if n, ok := f.word(0x0D); ok {
		slots := int(n)
		a.Slots = &slots
	}
	return a
}

// decodeMemoryController decodes type 5 (DSP0134 7.6): the largest module is 2^n MiB
// for the byte n at 08h, and 0Eh is the number of slots.
func decodeMemoryController(f fields) MemoryController {
	c := MemoryController{Handle: int(f.s.Header.Handle)}
	if n, ok := f.byte(0x08); ok && n < 44 { // beyond 2^43 MiB is no module size
		b := uint64(1) << n * mib
		c.MaxModuleBytes = &b
	}
	if n, ok := f.byte(0x0E); ok {
		slots := int(n)
		c.Slots = &slots
	}
	if c.MaxModuleBytes != nil && c.Slots != nil {
		total := *c.MaxModuleBytes * uint64(*c.Slots)
		c.MaxTotalBytes = &total
	}
	return c
}

// decodeMemoryDevice decodes type 17 (DSP0134 7.18). For an empty slot the fields from
// offset 15h on (speeds, manufacturer, serial, asset tag, part number, rank) describe no
// module, so they are null whatever the firmware left there, as dmidecode omits them.
func decodeMemoryDevice(f fields) MemoryDevice {
	m := MemoryDevice{
		Handle: int(f.s.Header.Handle), ArrayHandle: f.handle(0x04),
		Locator: f.str(0x10), BankLocator: f.str(0x11), SizeBytes: deviceSize(f),
	}
	if v, ok := f.byte(0x0E); ok {
		m.FormFactor = formFactors.name(int(v))
	}
	if v, ok := f.byte(0x12); ok {
		m.Type = memoryTypes.name(int(v))
	}
	if v, ok := f.word(0x13); ok {
		m.TypeDetail = typeDetail(v)
	}
	m.TotalWidthBits, m.DataWidthBits = f.width(0x08), f.width(0x0A)
	if m.SizeBytes != nil && *m.SizeBytes == 0 {
		return m
	}
	m.MinimumVoltageMV, m.MaximumVoltageMV, m.ConfiguredVoltageMV = f.nonZeroWord(0x22), f.nonZeroWord(0x24), f.nonZeroWord(0x26)
	m.SpeedMTs, m.ConfiguredSpeedMTs = deviceSpeed(f, 0x15, 0x54), deviceSpeed(f, 0x20, 0x58)
	m.Manufacturer, m.Serial = f.text(0x17, "manufacturer"), f.text(0x18, "serial")
	m.AssetTag, m.PartNumber = f.text(0x19, "asset_tag"), f.text(0x1A, "part_number")
	if m.Manufacturer != nil {
		if name, ok := jedecMaker(*m.Manufacturer); ok {
			f.raw["manufacturer"] = *m.Manufacturer
			m.Manufacturer = &name
		}
	}
	// Attributes bits 3:0 are the rank; 0 is unknown.
	if v, ok := f.byte(0x1B); ok && v&0x0F != 0 {
		rank := int(v & 0x0F)
		m.Rank = &rank
	}
	m.Raw = f.raw.orNil()
	return m
}

// width decodes a type 17 width word in bits: 0xFFFF is unknown, and so is 0, which
// dmidecode prints as "Unknown" as well.
func (f fields) width(off int) *int {
	w, ok := f.word(off)
	if !ok || w == 0xFFFF || w == 0 {
		return nil
	}
	v := int(w)
	return &v
}

// deviceSize decodes the type 17 Size word: 0 is an empty slot, 0xFFFF unknown, 0x7FFF
// defers to the Extended Size dword (SMBIOS 2.7, MiB in bits 30:0), and otherwise bit 15
// selects KiB (set) or MiB (clear) units for bits 14:0.
//
// dmidecode prints 0x7FFF without an Extended Size field as 32767 MB; here it is
// unknown, since 0x7FFF is the spec's marker and not a size.
func deviceSize(f fields) *uint64 {
	w, ok := f.word(0x0C)
	if !ok || w == 0xFFFF {
		return nil
	}
	var size uint64
	switch {
	case w == 0x7FFF:
		ext, ok := f.dword(0x1C)
		if !ok {
			return nil
		}
		size = uint64(ext&0x7FFFFFFF) * mib
	case w&0x8000 != 0:
		size = uint64(w&0x7FFF) * kib
	default:
		size = uint64(w) * mib
	}
	return &size
}

// deviceSpeed decodes a type 17 speed word at off in MT/s: 0 is unknown and 0xFFFF
// defers to the extended speed dword at extOff (SMBIOS 3.3), itself 0 when unknown.
func deviceSpeed(f fields, off, extOff int) *int {
	w, ok := f.word(off)
	if !ok || w == 0 {
		return nil
	}
	speed := int(w)
	if w == 0xFFFF {
		ext, ok := f.dword(extOff)
		// Bit 31 is reserved.
		if !ok || ext&0x7FFFFFFF == 0 {
			return nil
		}
		speed = int(ext & 0x7FFFFFFF)
	}
	return &speed
}

// decodeMappedRange decodes type 19 (DSP0134 7.20). Addresses are in KiB unless the
// starting address is 0xFFFFFFFF, which defers to the extended addresses (SMBIOS 2.7,
// bytes). The end is made inclusive of the last byte, as dmidecode prints it.
func decodeMappedRange(f fields) MappedRange {
	m := MappedRange{Handle: int(f.s.Header.Handle), ArrayHandle: f.handle(0x0C)}
	if v, ok := f.byte(0x0E); ok {
		width := int(v)
		m.PartitionWidth = &width
	}
	start, ok1 := f.dword(0x04)
	end, ok2 := f.dword(0x08)
	switch {
	case !ok1 || !ok2:
	case start == 0xFFFFFFFF:
		xs, ok1 := f.qword(0x0F)
		xe, ok2 := f.qword(0x17)
		if ok1 && ok2 {
			m.StartBytes, m.EndBytes = &xs, &xe
		}
	default:
		s, e := uint64(start)*kib, uint64(end)*kib+kib-1
		m.StartBytes, m.EndBytes = &s, &e
	}
	return m
}

// attachDevices puts each memory device under the array its handle names, in table
// order. Devices naming no array (or a missing array handle) go under an extra array
// entry carrying just that handle, so that they stay visible, and each adds a warning.
func (d *decoder) attachDevices() {
	arrays := &d.report.Memory.Arrays
	realArrays := len(*arrays)
	index := make(map[int]int, realArrays)
	for i, a := range *arrays {
		if _, dup := index[a.Handle]; !dup {
			index[a.Handle] = i
		}
	}
	for _, m := range d.devices {
		h := -1
		if m.ArrayHandle != nil {
			h = *m.ArrayHandle
		}
		i, ok := index[h]
		if !ok {
			*arrays = append(*arrays, MemoryArray{Handle: h, Devices: []MemoryDevice{}})
			i = len(*arrays) - 1
			index[h] = i
		}
		if i >= realArrays {
			d.warn("memory device 0x%04X: array handle %s matches no physical memory array (type 16); listed under an array with only that handle",
				m.Handle, hexHandle(m.ArrayHandle))
		}
		(*arrays)[i].Devices = append((*arrays)[i].Devices, m)
	}
}
