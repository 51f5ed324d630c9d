package hardware

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Request is what the memory upgrade advisor is asked: add Count modules of SizeBytes
// each, and, where given, of a type, speed, form factor, error correction, registration
// and rank. A zero value (or nil, "") leaves that property to the advisor, which then
// says what to buy.
type Request struct {
	Count     int
	SizeBytes uint64
	// Type is a DDR generation as SMBIOS names it ("DDR3", "DDR4"); LowVoltage is set
	// for DDR3L, Type then being "DDR3".
	Type       string
	LowVoltage bool
	SpeedMTs   int
	// FormFactor is as SMBIOS names it: "DIMM", "SODIMM".
	FormFactor string
	ECC        *bool
	// Registration is "registered", "unbuffered", "lrdimm" or "".
	Registration string
	Rank         int
}

// RequestFlags declares the advisor's options on fs and returns the request they fill.
// The command line of `hostkit-hwd advise`, of `hostkitctl hw advise` and the string
// argument of the bus method Advise() are all read through it, so all three take the
// same words. Call Check after fs.Parse.
func RequestFlags(fs *flag.FlagSet) *Request {
	r := &Request{}
	fs.Var(addValue{r}, "add", "the modules to add, as `NxSIZE`: 2x8GiB (GB and G mean GiB, as memory is sold; MiB, MB, M too)")
	fs.Func("type", "memory `TYPE` of the new modules: DDR2, DDR3, DDR3L (1.35 V DDR3), DDR4, DDR5", func(v string) error {
		t, low, err := parseMemoryType(v)
		r.Type, r.LowVoltage = t, low
		return err
	})
	fs.Func("speed", "rated speed of the new modules in `MT/s`, e.g. 2666", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 100000 {
			return fmt.Errorf("%q is not a speed in MT/s (such as 2666)", v)
		}
		r.SpeedMTs = n
		return nil
	})
	fs.Func("form-factor", "`FORM` factor of the new modules: DIMM or SODIMM", func(v string) error {
		f, err := parseFormFactor(v)
		r.FormFactor = f
		return err
	})
	fs.BoolFunc("ecc", "the new modules have ECC (72 bits wide)", func(string) error { return r.setECC(true) })
	fs.BoolFunc("no-ecc", "the new modules have no ECC (64 bits wide)", func(string) error { return r.setECC(false) })
	// Each flag sets Registration to its own name.
	for _, reg := range []struct{ name, usage string }{
		{"registered", "the new modules are registered (RDIMM)"},
		{"unbuffered", "the new modules are unbuffered (UDIMM, most SODIMMs)"},
		{"lrdimm", "the new modules are load-reduced (LRDIMM)"},
	} {
		fs.BoolFunc(reg.name, reg.usage, func(string) error {
			if r.Registration != "" && r.Registration != reg.name {
				return fmt.Errorf("--%s and --%s exclude each other", reg.name, r.Registration)
			}
			r.Registration = reg.name
			return nil
		})
	}
	fs.Func("rank", "ranks per module (`N`) of the new modules: 1, 2, 4 or 8", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n != 1 && n != 2 && n != 4 && n != 8 {
			return fmt.Errorf("%q is not a rank count (1, 2, 4 or 8)", v)
		}
		r.Rank = n
		return nil
	})
	return r
}

// Check reports what a parsed request lacks: --add is required.
func (r *Request) Check() error {
	if r.Count == 0 {
		return errors.New("--add N" + "xSIZE is required, e.g. --add 2x8GiB")
	}
	return nil
}

// ParseRequest reads a request from the words of the advisor's command line, as the bus
// method Advise() receives them ("--add 2x8GiB --type DDR4"); --json is accepted and
// means nothing here. Errors say what is wrong with the words.
func ParseRequest(words []string) (*Request, error) {
	fs := flag.NewFlagSet("advise", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	r := RequestFlags(fs)
	fs.Bool("json", false, "")
	if err := fs.Parse(words); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected word %q", fs.Arg(0))
	}
	return r, r.Check()
}

// String returns the request as the words ParseRequest reads.
func (r *Request) String() string {
	words := []string{"--add", fmt.Sprintf("%dx%s", r.Count, sizeWord(r.SizeBytes))}
	if r.Type != "" {
		t := r.Type
		if r.LowVoltage {
			t += "L"
		}
		words = append(words, "--type", t)
	}
	if r.SpeedMTs != 0 {
		words = append(words, "--speed", strconv.Itoa(r.SpeedMTs))
	}
	if r.FormFactor != "" {
		words = append(words, "--form-factor", r.FormFactor)
	}
	if r.ECC != nil {
		words = append(words, map[bool]string{true: "--ecc", false: "--no-ecc"}[*r.ECC])
	}
	if r.Registration != "" {
		words = append(words, "--"+r.Registration)
	}
	if r.Rank != 0 {
		words = append(words, "--rank", strconv.Itoa(r.Rank))
	}
	return strings.Join(words, " ")
}

func (r *Request) setECC(ecc bool) error {
	if r.ECC != nil && *r.ECC != ecc {
		return errors.New("--ecc and --no-ecc exclude each other")
	}
	r.ECC = &ecc
	return nil
}

// addValue is the flag.Value of --add.
type addValue struct{ r *Request }

func (a addValue) String() string { return "" }

func (a addValue) Set(v string) error {
	n, size, err := parseAdd(v)
	if err != nil {
		return err
	}
	a.r.Count, a.r.SizeBytes = n, size
	return nil
}

// parseAdd reads "2x8GiB", "2X8G", "8GiB" (one module), "4x512MiB".
func parseAdd(v string) (int, uint64, error) {
	bad := fmt.Errorf("%q is not N"+"xSIZE, such as 2x8GiB", v)
	count, sizeText := "1", v
	if i := strings.IndexAny(v, "xX*"); i >= 0 {
		count, sizeText = v[:i], v[i+1:]
	}
	n, err := strconv.Atoi(strings.TrimSpace(count))
	if err != nil || n < 1 || n > 64 {
		return 0, 0, bad
	}
	sizeText = strings.TrimSpace(sizeText)
	num := strings.TrimRight(sizeText, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ")
	unit := strings.ToLower(strings.TrimSpace(sizeText[len(num):]))
	mult := map[string]uint64{"gib": 1 << 30, "gb": 1 << 30, "g": 1 << 30, "mib": 1 << 20, "mb": 1 << 20, "m": 1 << 20,
		"tib": 1 << 40, "tb": 1 << 40, "t": 1 << 40}[unit]
	size, err := strconv.ParseUint(num, 10, 64)
	if err != nil || mult == 0 || size == 0 || size > 1<<20 {
		return 0, 0, bad
	}
	return n, size * mult, nil
}

// sizeWord writes a module size as --add reads it: "8GiB", "512MiB".
func sizeWord(b uint64) string {
	switch {
	case b >= 1<<40 && b%(1<<40) == 0:
		return fmt.Sprintf("%dTiB", b>>40)
	case b >= 1<<30 && b%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", b>>30)
	}
	return fmt.Sprintf("%dMiB", b>>20)
}

// parseMemoryType accepts the DDR generations one can buy modules of.
func parseMemoryType(v string) (string, bool, error) {
	t := strings.ToUpper(strings.TrimSpace(v))
	switch t {
	case "DDR", "DDR2", "DDR3", "DDR4", "DDR5":
		return t, false, nil
	case "DDR3L":
		return "DDR3", true, nil
	}
	return "", false, fmt.Errorf("%q is not a memory type to buy (DDR2, DDR3, DDR3L, DDR4, DDR5)", v)
}

// parseFormFactor accepts DIMM and SODIMM (also SO-DIMM, any case).
func parseFormFactor(v string) (string, error) {
	switch strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(v), "-", "")) {
	case "DIMM":
		return "DIMM", nil
	case "SODIMM":
		return "SODIMM", nil
	}
	return "", fmt.Errorf("%q is not a form factor (DIMM or SODIMM)", v)
}
