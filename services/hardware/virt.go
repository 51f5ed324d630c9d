package hardware

import "strings"

// vmVendors are what the system, board and BIOS strings of a virtual machine's tables
// begin with, and the name systemd-detect-virt gives that hypervisor; systemd looks
// at the same strings.
var vmVendors = []struct{ prefix, vm string }{
	{"KVM", "kvm"},
	{"OpenStack", "kvm"},
	{"KubeVirt", "kvm"},
	{"QEMU", "qemu"},
	{"VMware", "vmware"},
	{"VMW", "vmware"},
	{"innotek GmbH", "oracle"},
	{"VirtualBox", "oracle"},
	{"Xen", "xen"},
	{"Bochs", "bochs"},
	{"Parallels", "parallels"},
	{"BHYVE", "bhyve"},
	{"Hyper-V", "microsoft"},
	{"Apple Virtualization", "apple"},
	{"Google Compute Engine", "google"},
	{"Amazon EC2", "amazon"},
}

// virtualMachine names the hypervisor the decoded tables describe, "vm-other" when
// only the BIOS's virtual-machine bit says so, and "none" otherwise.
func (d *decoder) virtualMachine() string {
	r := d.report
	var strs []*string
	if s := r.System; s != nil {
		strs = append(strs, s.Manufacturer, s.Product)
		// Microsoft makes laptops too: only its product "Virtual Machine" is Hyper-V.
		if deref(s.Manufacturer) == "Microsoft Corporation" && deref(s.Product) == "Virtual Machine" {
			return "microsoft"
		}
		// Amazon's bare-metal instances are "Amazon EC2" too, with a product "*.metal".
		if strings.HasSuffix(deref(s.Product), ".metal") {
			return "none"
		}
	}
	if b := r.Baseboard; b != nil {
		strs = append(strs, b.Manufacturer)
	}
	if b := r.BIOS; b != nil {
		strs = append(strs, b.Vendor)
	}
	for _, s := range strs {
		for _, v := range vmVendors {
			if s != nil && strings.HasPrefix(*s, v.prefix) {
				return v.vm
			}
		}
	}
	if d.vmBit {
		return "vm-other"
	}
	return "none"
}
