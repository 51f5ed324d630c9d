package hardware

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// CPUInfoPath is where the kernel describes the processors it runs on.
const CPUInfoPath = "/proc/cpuinfo"

// CPU is what /proc/cpuinfo says of the processors the kernel runs on, beside the
// firmware's sockets (Report.Processors): what a buyer compares.
type CPU struct {
	// Source is the file read.
	Source string `json:"source"`
	// Model is the first processor's model name ("AMD EPYC 7763 64-Core Processor"),
	// Vendor its vendor ID ("GenuineIntel", "AuthenticAMD").
	Model  *string `json:"model"`
	Vendor *string `json:"vendor"`
	// Sockets, Cores and Threads count distinct physical IDs, distinct (physical ID, core
	// ID) pairs and processor entries; null when the file does not give the IDs (most
	// non-x86 kernels), Threads never.
	Sockets *int `json:"sockets"`
	Cores   *int `json:"cores"`
	Threads int  `json:"threads"`
	// Flags are those of BuyingFlags the first processor has, in that order.
	Flags []string `json:"flags"`
	// HardwareVirtualization is "VT-x" (vmx) or "AMD-V" (svm), null without either (a
	// virtual machine's processor seldom shows them).
	HardwareVirtualization *string `json:"hardware_virtualization"`
	// Hypervisor is the "hypervisor" flag: the kernel runs in a virtual machine.
	Hypervisor bool `json:"hypervisor"`
}

// BuyingFlags are the processor flags that matter when buying hardware or choosing
// where to run something: virtualization, crypto, and the vector extensions software
// is built for.
var BuyingFlags = []string{"vmx", "svm", "aes", "sha_ni", "sse4_2", "avx", "avx2", "fma",
	"avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile", "hypervisor"}

// ParseCPUInfo reads the text of /proc/cpuinfo (source names it in warnings). Blocks of
// "key : value" lines separated by blank lines are processors; a block without a
// "processor" line (the summary some architectures add) only contributes a model name
// when no processor had one. A line that is not "key : value" is skipped with a warning
// naming source and line; so is a block whose processor number repeats. It never fails:
// damage gives fewer facts and more warnings.
func ParseCPUInfo(source string, data []byte) (*CPU, []string) {
	c := &CPU{Source: source, Flags: []string{}}
	var warnings []string
	sockets := map[string]bool{}
	cores := map[string]bool{}
	seen := map[string]bool{}
	idsComplete := true
	var block map[string]string
	var blockLine int
	finish := func() {
		if block == nil {
			return
		}
		defer func() { block = nil }()
		n, isProcessor := block["processor"]
		if !isProcessor {
			if c.Model == nil {
				c.Model = nonEmpty(block["model name"], block["Hardware"], block["cpu model"])
			}
			return
		}
		if seen[n] {
			warnings = append(warnings, fmt.Sprintf("%s:%d: processor %q listed twice; the second is skipped", source, blockLine, n))
			return
		}
		seen[n] = true
		c.Threads++
		if c.Threads == 1 {
			c.Model = nonEmpty(block["model name"], block["cpu model"], block["Processor"])
			c.Vendor = nonEmpty(block["vendor_id"], block["vendor"], block["CPU implementer"])
			flags := strings.Fields(block["flags"] + " " + block["Features"])
			for _, f := range BuyingFlags {
				if slices.Contains(flags, f) {
					c.Flags = append(c.Flags, f)
				}
			}
			switch {
			case slices.Contains(flags, "vmx"):
				c.HardwareVirtualization = ptr("VT-x")
			case slices.Contains(flags, "svm"):
				c.HardwareVirtualization = ptr("AMD-V")
			}
			c.Hypervisor = slices.Contains(flags, "hypervisor")
		}
		socket, ok1 := block["physical id"]
		core, ok2 := block["core id"]
		if !ok1 || !ok2 {
			idsComplete = false
			return
		}
		sockets[socket] = true
		cores[socket+"/"+core] = true
	}

	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			finish()
			continue
		}
		key, value, ok := strings.Cut(text, ":")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !ok || key == "" {
			warnings = append(warnings, fmt.Sprintf("%s:%d: not \"key : value\"; skipped", source, line))
			continue
		}
		if block == nil {
			block, blockLine = map[string]string{}, line
		}
		if _, dup := block[key]; dup && key == "processor" {
			// Two processors without a blank line between them.
			finish()
			block, blockLine = map[string]string{}, line
		}
		block[key] = value
	}
	if err := sc.Err(); err != nil {
		warnings = append(warnings, fmt.Sprintf("%s:%d: %v; the rest is skipped", source, line+1, err))
	}
	finish()
	if idsComplete && c.Threads > 0 {
		s, n := len(sockets), len(cores)
		c.Sockets, c.Cores = &s, &n
	}
	if c.Threads == 0 {
		warnings = append(warnings, fmt.Sprintf("%s: no processor listed", source))
	}
	return c, warnings
}

// ReadCPUInfo reads and parses the file at path (normally CPUInfoPath) as OpenFile opens
// every source; a file that cannot be read gives a nil CPU and a warning saying why.
func ReadCPUInfo(path string) (*CPU, []string) {
	data, err := readSource(path, false)
	if err != nil {
		return nil, []string{fmt.Sprintf("processors from %s skipped: %v", path, err)}
	}
	return ParseCPUInfo(path, data)
}

func nonEmpty(values ...string) *string {
	for _, v := range values {
		if v != "" {
			return &v
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// cpuLine describes the processors for the text report: "AMD EPYC, 1 socket, 2 cores,
// 2 threads; avx2 avx512f aes".
func cpuLine(c *CPU) string {
	parts := []string{orUnknown(c.Model)}
	if c.Sockets != nil {
		parts = append(parts, plural(*c.Sockets, "socket"))
	}
	if c.Cores != nil {
		parts = append(parts, plural(*c.Cores, "core"))
	}
	parts = append(parts, plural(c.Threads, "thread"))
	line := strings.Join(parts, ", ")
	if len(c.Flags) > 0 {
		line += "; " + strings.Join(c.Flags, " ")
	}
	return line
}
