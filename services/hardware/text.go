package hardware

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/hostkit/hostkit/internal/term"
)

// WriteText writes r for people: aligned "Label: value" lines for BIOS, system, board,
// chassis and processors as hostnamectl prints them, then per memory array a heading and
// a table of its slots (serial numbers are left out of the table), then any warnings.
// Unknown values print as "-" or "unknown". For an unavailable report it prints the
// problem. The only error is a failed write to w.
func WriteText(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	if !r.Available && r.CPU == nil && r.Virtualization == nil {
		fmt.Fprintf(bw, "No hardware report: %s\n", orUnknown(&r.Problem))
		return bw.Flush()
	}

	// Values the firmware does not give (null in the JSON, placeholders included) are
	// left out.
	var lines [][2]string
	add := func(label string, value *string) {
		if value != nil && *value != "" {
			lines = append(lines, [2]string{label, *value})
		}
	}
	add("Source", &r.Source)
	if !r.Available {
		add("SMBIOS", ptr("unavailable: "+orUnknown(&r.Problem)))
	}
	add("SMBIOS Version", r.SMBIOSVersion)
	if b := r.BIOS; b != nil {
		add("BIOS Vendor", b.Vendor)
		add("BIOS Version", b.Version)
		add("BIOS Date", b.ReleaseDate)
	}
	if s := r.System; s != nil {
		add("System Vendor", s.Manufacturer)
		add("System Product", s.Product)
		add("System Version", s.Version)
		add("System Serial", s.Serial)
		add("System UUID", s.UUID)
	}
	if b := r.Baseboard; b != nil {
		add("Board Vendor", b.Manufacturer)
		add("Board Product", b.Product)
		add("Board Version", b.Version)
		add("Board Serial", b.Serial)
	}
	if c := r.Chassis; c != nil {
		add("Chassis Vendor", c.Manufacturer)
		add("Chassis Type", c.Type)
		add("Chassis Serial", c.Serial)
	}
	for i, p := range r.Processors {
		line := processorLine(p)
		add(fmt.Sprintf("Processor %d", i+1), &line)
	}
	if len(r.Memory.Arrays) > 0 {
		line := MemorySummary(r)
		add("Memory", &line)
	}
	if r.CPU != nil {
		line := cpuLine(r.CPU)
		add("CPU", &line)
	}
	if v := r.Virtualization; v != nil {
		line := v.VM
		if v.Container != nil && *v.Container != "none" {
			line += ", container " + *v.Container
		}
		add("Virtualization", ptr(line+" (by "+v.Source+")"))
	}
	width := 0
	for _, l := range lines {
		width = max(width, len(l[0]))
	}
	for _, l := range lines {
		fmt.Fprintf(bw, "%*s: %s\n", width, l[0], l[1])
	}

	for _, a := range r.Memory.Arrays {
		fmt.Fprintf(bw, "\n%s\n", arrayHeading(a))
		if len(a.Devices) == 0 {
			continue
		}
		tw := tabwriter.NewWriter(bw, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "SLOT\tSIZE\tTYPE\tSPEED\tMANUFACTURER\tPART NUMBER")
		for _, d := range a.Devices {
			fmt.Fprintln(tw, deviceRow(d))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	if len(r.Disks) > 0 {
		fmt.Fprintln(bw)
		if err := writeDisks(bw, r.Disks); err != nil {
			return err
		}
	}
	if len(r.Links) > 0 {
		fmt.Fprintln(bw)
		tw := tabwriter.NewWriter(bw, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "LINK\tKIND\tSTATE\tSPEED\tMAC\tADDRESSES")
		for _, l := range r.Links {
			fmt.Fprintln(tw, strings.Join(linkLine(l), "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	if len(r.Warnings) > 0 {
		fmt.Fprintln(bw, "\nWarnings:")
		for _, warning := range r.Warnings {
			fmt.Fprintf(bw, "  %s\n", warning)
		}
	}
	return bw.Flush()
}

// MemorySummary is the one line that answers "what memory is in there": slots used,
// installed and supported sizes over the system memory arrays, then the modules grouped
// by kind, e.g. "4 of 8 slots used, 16 GiB installed, up to 64 GiB supported; modules:
// 4 x 4 GiB DDR3-1333 ECC RDIMM (Samsung M393B5170FH0-CH9)".
func MemorySummary(r *Report) string {
	s := r.Summary()
	line := fmt.Sprintf("%d of %d slots used, %s installed", s.MemorySlotsUsed, s.MemorySlots, humanBytes(s.MemoryInstalledBytes))
	if s.MemoryMaxBytes > 0 {
		line += ", up to " + humanBytes(s.MemoryMaxBytes) + " supported"
	} else {
		line += ", maximum unknown"
	}
	var order []string
	count := map[string]int{}
	for _, a := range r.systemMemoryArrays() {
		for _, d := range a.Devices {
			if d.SizeBytes != nil && *d.SizeBytes == 0 {
				continue
			}
			name := ModuleName(d)
			if count[name] == 0 {
				order = append(order, name)
			}
			count[name]++
		}
	}
	for i, name := range order {
		if i == 0 {
			line += "; modules: "
		} else {
			line += ", "
		}
		line += fmt.Sprintf("%d x %s", count[name], name)
	}
	return line
}

// ModuleName describes an installed module as a buyer would: "4 GiB DDR3-1333 ECC RDIMM
// (Samsung M393B5170FH0-CH9)". What the tables do not say is left out.
func ModuleName(d MemoryDevice) string {
	var parts []string
	if d.SizeBytes != nil {
		parts = append(parts, humanBytes(*d.SizeBytes))
	} else {
		parts = append(parts, "unknown size")
	}
	if d.Type != nil {
		kind := *d.Type
		if d.SpeedMTs != nil {
			kind += "-" + strconv.Itoa(*d.SpeedMTs)
		}
		parts = append(parts, kind)
	}
	if d.TotalWidthBits != nil && d.DataWidthBits != nil && *d.TotalWidthBits > *d.DataWidthBits {
		parts = append(parts, "ECC")
	}
	if form := moduleForm(d); form != "" {
		parts = append(parts, form)
	}
	var who []string
	for _, s := range []*string{d.Manufacturer, d.PartNumber} {
		if s != nil && *s != "" {
			who = append(who, *s)
		}
	}
	if len(who) > 0 {
		parts = append(parts, "("+strings.Join(who, " ")+")")
	}
	return strings.Join(parts, " ")
}

// moduleForm names a module's form as it is sold: RDIMM, LRDIMM and UDIMM for DIMMs
// whose type detail says so, otherwise the form factor ("SODIMM", "DIMM", "Chip").
func moduleForm(d MemoryDevice) string {
	form := deref(d.FormFactor)
	if form == "DIMM" {
		switch reg := registration(d); reg {
		case "registered":
			return "RDIMM"
		case "lrdimm":
			return "LRDIMM"
		case "unbuffered":
			return "UDIMM"
		}
	}
	return form
}

// registration returns "lrdimm", "registered" or "unbuffered" from a device's type
// detail, or "" when the type detail does not say.
func registration(d MemoryDevice) string {
	detail := deref(d.TypeDetail)
	switch {
	case strings.Contains(detail, "LRDIMM"):
		return "lrdimm"
	case strings.Contains(detail, "Registered (Buffered)"):
		return "registered"
	case strings.Contains(detail, "Unbuffered (Unregistered)"):
		return "unbuffered"
	}
	return ""
}

// processorLine describes one socket: "CPU0: Intel(R) Core(TM) i5, 4 cores, 8 threads, 3400 MHz".
func processorLine(p Processor) string {
	socket := orDash(p.Socket)
	if p.Populated != nil && !*p.Populated {
		return socket + ": empty socket"
	}
	parts := []string{orUnknown(p.Version)}
	if p.Cores != nil {
		parts = append(parts, plural(*p.Cores, "core"))
	}
	if p.Threads != nil {
		parts = append(parts, plural(*p.Threads, "thread"))
	}
	if p.MaxSpeedMHz != nil {
		parts = append(parts, fmt.Sprintf("max %d MHz", *p.MaxSpeedMHz))
	}
	return socket + ": " + strings.Join(parts, ", ")
}

// arrayHeading describes one memory array:
// "Memory array 0x1000: System Board Or Motherboard, 4 slots, 2 used, max 32 GiB, ECC None".
func arrayHeading(a MemoryArray) string {
	used := 0
	for _, d := range a.Devices {
		if d.SizeBytes == nil || *d.SizeBytes > 0 {
			used++
		}
	}
	slots := "unknown number of slots"
	if a.Slots != nil {
		slots = plural(*a.Slots, "slot")
	}
	maxCap := "unknown"
	if a.MaxCapacityBytes != nil {
		maxCap = humanBytes(*a.MaxCapacityBytes)
	}
	location := "location unknown"
	if a.Location != nil {
		location = *a.Location
	}
	return fmt.Sprintf("Memory array %s: %s, %s, %d used, max %s, ECC %s",
		hexHandle(&a.Handle), location, slots, used, maxCap, orUnknown(a.ECC))
}

// deviceRow is one tab-separated table row; an empty slot shows "empty" and dashes.
func deviceRow(d MemoryDevice) string {
	slot := orDash(d.Locator)
	if d.BankLocator != nil && *d.BankLocator != "" {
		slot += " (" + *d.BankLocator + ")"
	}
	if d.SizeBytes != nil && *d.SizeBytes == 0 {
		return strings.Join([]string{slot, "empty", "-", "-", "-", "-"}, "\t")
	}
	size := "unknown"
	if d.SizeBytes != nil {
		size = humanBytes(*d.SizeBytes)
	}
	speed := "-"
	if d.SpeedMTs != nil {
		speed = strconv.Itoa(*d.SpeedMTs) + " MT/s"
	}
	return strings.Join([]string{slot, size, orDash(d.Type), speed, orDash(d.Manufacturer), orDash(d.PartNumber)}, "\t")
}

// humanBytes prints n in the largest binary unit it reaches: "8 GiB", "1.5 GiB", "512 MiB".
func humanBytes(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i, unit := 0, uint64(1)
	for i+1 < len(units) && n >= unit<<10 {
		i, unit = i+1, unit<<10
	}
	if n%unit == 0 {
		return fmt.Sprintf("%d %s", n/unit, units[i])
	}
	return fmt.Sprintf("%.1f %s", float64(n)/float64(unit), units[i])
}

// hexHandle prints a structure handle as dmidecode does ("0x1000"), "unknown" for nil.
func hexHandle(h *int) string {
	if h == nil || *h < 0 {
		return "unknown"
	}
	return fmt.Sprintf("0x%04X", *h)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// orDash returns *s, or "-" when s is nil or empty.
func orDash(s *string) string {
	if s == nil || *s == "" {
		return "-"
	}
	return *s
}

// orUnknown returns *s, or "unknown" when s is nil or empty.
func orUnknown(s *string) string {
	if s == nil || *s == "" {
		return "unknown"
	}
	return *s
}

// PrintAdvice prints a as `hostkit-hwd advise` and `hostkitctl hw advise` do: indented
// JSON with asJSON, else WriteAdvice's text, control characters escaped either way.
func PrintAdvice(w io.Writer, a *Advice, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(term.NewJSONWriter(w))
		enc.SetIndent("", "  ")
		return enc.Encode(a)
	}
	return WriteAdvice(term.NewWriter(w), a)
}

// WriteAdvice writes the advisor's answer for people: the verdict, each rule's level
// and message, the sizes, and the slots to use. The only error is a failed write to w.
func WriteAdvice(w io.Writer, a *Advice) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "Verdict: %s\n", strings.ReplaceAll(a.Verdict, "-", " "))
	tw := tabwriter.NewWriter(bw, 0, 8, 2, ' ', 0)
	for _, r := range a.Reasons {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.Level, r.Rule, r.Message)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	maxCap := "maximum unknown"
	if a.MaxCapacityBytes > 0 {
		maxCap = "up to " + humanBytes(a.MaxCapacityBytes) + " supported"
	}
	fmt.Fprintf(bw, "Memory: %s installed, %s; %s after the addition; %d of %d slots free\n",
		humanBytes(a.InstalledBytes), maxCap, humanBytes(a.AfterBytes), a.SlotsFree, a.Slots)
	if len(a.SuggestedSlots) > 0 {
		fmt.Fprintf(bw, "Suggested slots: %s\n", strings.Join(a.SuggestedSlots, ", "))
	}
	return bw.Flush()
}

// writeDisks writes the disks as a table, each followed by its partitions, indented:
// what `fdisk -l` and `smartctl -H` are run for. Serial numbers are left out.
func writeDisks(w io.Writer, disks []Disk) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "DISK\tSIZE\tTRANSPORT\tMEDIA\tMODEL / PARTITION\tSMART / LABEL")
	for _, d := range disks {
		media := "-"
		if d.Rotational != nil {
			media = map[bool]string{true: "HDD", false: "SSD"}[*d.Rotational]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, humanBytes(d.SizeBytes), orDash(d.Transport), media,
			orDash(d.Model), smartText(d.SMART))
		for _, p := range d.Partitions {
			kind := orDash(p.TypeName)
			if p.TypeName == nil && p.Type != nil {
				kind = *p.Type
			}
			var label []string
			if p.Label != nil {
				label = append(label, strconv.Quote(*p.Label))
			}
			if p.Filesystem != nil {
				fs := *p.Filesystem
				if p.FilesystemLabel != nil {
					fs += " " + strconv.Quote(*p.FilesystemLabel)
				}
				label = append(label, fs)
			}
			if label == nil {
				label = []string{"-"}
			}
			fmt.Fprintf(tw, "  %s\t%s\t\t\t%s\t%s\n", p.Name, humanBytes(p.SizeBytes), kind, strings.Join(label, ", "))
		}
	}
	return tw.Flush()
}

// smartText sums up a disk's SMART section: "ok, 34 °C, 31245 h" or the status and why.
func smartText(s *Smart) string {
	if s == nil {
		return "-"
	}
	parts := []string{s.Status}
	if s.TemperatureC != nil {
		parts = append(parts, fmt.Sprintf("%d °C", *s.TemperatureC))
	}
	if s.PowerOnHours != nil {
		parts = append(parts, fmt.Sprintf("%d h", *s.PowerOnHours))
	}
	if s.PercentageUsed != nil {
		parts = append(parts, fmt.Sprintf("%d%% used", *s.PercentageUsed))
	}
	text := strings.Join(parts, ", ")
	if s.Message != nil {
		text += ": " + *s.Message
	}
	return text
}
