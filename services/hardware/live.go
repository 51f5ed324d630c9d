package hardware

// Live names where the parts of the report that describe the running machine, rather
// than its firmware tables, are read from. DefaultLive gives this machine's files;
// tests give their own.
type Live struct {
	CPUInfo       string // /proc/cpuinfo
	ContainerFile string // /run/systemd/container
	SysBlock      string // /sys/block
	UdevData      string // /run/udev/data; "" reads no udev data
	// ReadTables lets ReadDisks read partition tables from the devices themselves
	// where udev knows none (it needs read access to them: root).
	ReadTables bool
	// Smart reads a device's SMART data; nil leaves SMART out of the report.
	Smart SmartReader
	// Links reads the network links; nil leaves them out.
	Links *LinkReader
}

// DefaultLive returns the sources of the running machine, with SMART read by running
// smartctl and partition tables read from the devices where udev knows none.
func DefaultLive() Live {
	return Live{CPUInfo: CPUInfoPath, ContainerFile: ContainerFile, SysBlock: SysBlockDir, UdevData: UdevDataDir,
		ReadTables: true, Smart: RunSmartctl}
}

// AddLive adds the running machine's parts to r: the processors as the kernel lists
// them, the disks, and, when r holds the machine's own tables (ownTables; not a dump
// of another machine's), the virtualization found by systemd-detect-virt's method (see
// LiveVirtualization). A source that cannot be read leaves its part null and adds a
// warning naming it; so does damage in it.
func (r *Report) AddLive(l Live, ownTables bool) {
	cpu, warnings := ReadCPUInfo(l.CPUInfo)
	r.CPU = cpu
	r.Warnings = append(r.Warnings, warnings...)
	if ownTables {
		r.Virtualization = LiveVirtualization(r.Virtualization, cpu, l.ContainerFile)
	}
	disks, warnings := ReadDisks(l)
	r.Disks = disks
	r.Warnings = append(r.Warnings, warnings...)
	if l.Links != nil {
		links, warnings := l.Links.ReadLinks()
		r.Links = links
		r.Warnings = append(r.Warnings, warnings...)
	}
}
