package hardware

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hostkit/hostkit/internal/repo"
)

// ruleOrder is the order of the advisor's rules, a contract of its JSON.
var ruleOrder = []string{"free-slots", "max-capacity", "type", "form-factor", "registration", "ecc",
	"voltage", "rank", "speed", "channels", "virtual"}

// checkAdviceShape checks what every advice must be: every rule once, in order, with a
// known level, a verdict that follows from the levels, and sizes that add up.
func checkAdviceShape(t *testing.T, name string, req *Request, a *Advice) {
	t.Helper()
	if len(a.Reasons) != len(ruleOrder) {
		t.Fatalf("%s: %d reasons, want %d", name, len(a.Reasons), len(ruleOrder))
	}
	for i, r := range a.Reasons {
		if r.Rule != ruleOrder[i] {
			t.Errorf("%s: reason %d is rule %q, want %q", name, i, r.Rule, ruleOrder[i])
		}
		switch r.Level {
		case LevelOK, LevelWarning, LevelBlocker, LevelUnknown:
		default:
			t.Errorf("%s: rule %s has level %q", name, r.Rule, r.Level)
		}
		if r.Message == "" {
			t.Errorf("%s: rule %s has no message", name, r.Rule)
		}
	}
	if a.AfterBytes != a.InstalledBytes+uint64(req.Count)*req.SizeBytes || a.SlotsFree > a.Slots {
		t.Errorf("%s: sizes do not add up: %+v", name, a)
	}
	if a.SuggestedSlots == nil || len(a.SuggestedSlots) > 0 && len(a.SuggestedSlots) != req.Count {
		t.Errorf("%s: suggested slots %q for %d modules", name, a.SuggestedSlots, req.Count)
	}
}

// The requests asked of every real dump: one without details, one for laptop DDR3 and
// one for server DDR4.
var dumpRequests = []string{
	"--add 2x8GiB",
	"--add 2x4GiB --type DDR3 --speed 1600 --form-factor SODIMM --no-ecc --unbuffered",
	"--add 1x16GiB --type DDR4 --form-factor DIMM --ecc --registered --rank 2",
}

// TestAdviseDumps: the advice on every real dump for each of dumpRequests, against
// testdata/advise/NAME.json (go test -update rewrites them).
func TestAdviseDumps(t *testing.T) {
	dumps, err := filepath.Glob(filepath.Join(repo.SMBIOSDumpsT(t), "*.bin"))
	if err != nil || len(dumps) == 0 {
		t.Fatalf("no SMBIOS dumps: %v", err)
	}
	for _, dump := range dumps {
		r, err := ReadDump(dump)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(dump), ".bin")
		type answer struct {
			Request string  `json:"request"`
			Advice  *Advice `json:"advice"`
		}
		var answers []answer
		for _, words := range dumpRequests {
			req, err := ParseRequest(strings.Fields(words))
			if err != nil {
				t.Fatal(err)
			}
			a := Advise(r, req)
			checkAdviceShape(t, name+" "+words, req, a)
			answers = append(answers, answer{words, a})
		}
		out, _ := json.MarshalIndent(answers, "", "  ")
		checkGolden(t, filepath.Join("advise", name+".json"), append(out, '\n'))
	}
}

// TestAdviseVerdictsOnDumps pins the verdicts a reader of the README can check by hand.
func TestAdviseVerdictsOnDumps(t *testing.T) {
	cases := []struct {
		dump, request, verdict string
		suggested              []string
	}{
		{"Lenovo-ThinkPad-W510", "--add 2x4GiB", VerdictFits, []string{"DIMM 2", "DIMM 4"}},
		{"Lenovo-ThinkPad-W510", "--add 2x8GiB", VerdictDoesNotFit, nil}, // 24 GiB of at most 16
		{"Lenovo-ThinkPad-W510", "--add 2x4GiB --speed 1600", VerdictFitsWithWarnings, []string{"DIMM 2", "DIMM 4"}},
		{"Lenovo-ThinkPad-W510", "--add 1x4GiB --type DDR4", VerdictDoesNotFit, nil},
		{"SuperMicro-X9DBL", "--add 2x8GiB", VerdictDoesNotFit, nil},                        // all 6 slots used
		{"Asus-UX307LA", "--add 1x4GiB", VerdictDoesNotFit, nil},                            // soldered LPDDR3
		{"VMWare", "--add 1x4GiB", VerdictCannotTell, nil},                                  // the hypervisor's setting
		{"Synology-RS3614xsp", "--add 1x8GiB", VerdictDoesNotFit, nil},                      // full, and at its maximum
		{"Gigabyte-GA-MA74GMT-S2", "--add 2x1GiB", VerdictCannotTell, []string{"A0", "A1"}}, // type not given
	}
	for i, c := range cases {
		r, err := ReadDump(filepath.Join(repo.SMBIOSDumpsT(t), c.dump+".bin"))
		if err != nil {
			t.Fatal(err)
		}
		req, err := ParseRequest(strings.Fields(c.request))
		if err != nil {
			t.Fatal(err)
		}
		a := Advise(r, req)
		if a.Verdict != c.verdict || fmt.Sprint(a.SuggestedSlots) != fmt.Sprint(append([]string{}, c.suggested...)) {
			t.Errorf("case %d (%s %s): verdict %s, suggested %q; want %s, %q", i, c.dump, c.request, a.Verdict, a.SuggestedSlots, c.verdict, c.suggested)
		}
	}
}

// dimm describes one memory device of a synthetic board.
type dimm struct {
	locator, bank string
	sizeMiB       uint16 // 0 empty, 0xFFFF unknown
	form, typ     byte   // SMBIOS codes: 0x09 DIMM, 0x0D SODIMM, 0x05 Chip; 0x18 DDR3, 0x1A DDR4, 0x1E LPDDR4
	detail        uint16 // 0x80 synchronous, 0x2000 registered, 0x4000 unbuffered
	speed, rank   int
	total, data   uint16
	voltageMV     uint16
}

// board is a synthetic machine: one system memory array and its devices.
type board struct {
	vendor  string
	ecc     byte   // 3 None, 6 Multi-bit ECC, 2 unknown
	maxKiB  uint32 // 0x80000000: unknown without the extended field
	dimms   []dimm
	ctrlMax byte // type 5 largest module, 2^n MiB; 0: no type 5
}

func (b board) table() (*Report, error) {
	t := &tableBuilder{}
	vendor := b.vendor
	if vendor == "" {
		vendor = "Board Maker"
	}
	t.add(typeSystem, 0x0001, newArea(0x1B).u8(4, 1).u8(5, 2), vendor, "Synthetic Board")
	if b.ctrlMax > 0 {
		t.add(typeMemoryCtrl, 0x0005, newArea(0x0F).u8(0x08, b.ctrlMax).u8(0x0E, byte(len(b.dimms))))
	}
	t.add(typeMemoryArray, 0x1000, newArea(0x0F).u8(4, 3).u8(5, 3).u8(6, b.ecc).u32(7, b.maxKiB).u16(0x0D, uint16(len(b.dimms))))
	for i, d := range b.dimms {
		a := newArea(0x28).u16(4, 0x1000).u16(8, d.total).u16(0x0A, d.data).u16(0x0C, d.sizeMiB).u8(0x0E, d.form).
			u8(0x10, 1).u8(0x11, 2).u8(0x12, d.typ).u16(0x13, d.detail).u16(0x15, uint16(d.speed)).
			u8(0x1B, byte(d.rank)).u16(0x20, uint16(d.speed)).u16(0x22, d.voltageMV).u16(0x24, d.voltageMV).u16(0x26, d.voltageMV)
		t.add(typeMemory, uint16(0x1001+i), a, d.locator, d.bank)
	}
	t.end()
	return Decode(t.entry32(2, 8), t.bytes())
}

// ddr4 is a populated (or, with size 0, empty) unbuffered non-ECC DDR4 DIMM slot.
func ddr4(locator string, sizeMiB uint16) dimm {
	return dimm{locator: locator, bank: "BANK", sizeMiB: sizeMiB, form: 0x09, typ: 0x1A, detail: 0x4080, speed: 2400,
		rank: 1, total: 64, data: 64, voltageMV: 1200}
}

// TestAdviseRules: a synthetic board for each rule and level, with the request that
// brings it out. The full advice of each is in testdata/advise/synthetic.json.
func TestAdviseRules(t *testing.T) {
	fourSlots := func() []dimm {
		return []dimm{ddr4("ChannelA-DIMM0", 8192), ddr4("ChannelA-DIMM1", 0), ddr4("ChannelB-DIMM0", 8192), ddr4("ChannelB-DIMM1", 0)}
	}
	full := func() []dimm {
		d := fourSlots()
		d[1].sizeMiB, d[3].sizeMiB = 8192, 8192
		return d
	}
	with := func(d []dimm, f func(*dimm)) []dimm {
		for i := range d {
			f(&d[i])
		}
		return d
	}
	ddr3 := func(mv uint16) func(*dimm) {
		return func(d *dimm) { d.typ, d.speed, d.voltageMV, d.form = 0x18, 1600, mv, 0x0D }
	}
	registeredECC := func(d *dimm) { d.detail, d.total = 0x2080, 72 }
	const gib = 1 << 20 // in KiB
	cases := []struct {
		name    string
		board   board
		request string
		rule    string // the rule the case is about
		level   string
		message string // in that rule's message
		verdict string
	}{
		{"fits, channels balanced", board{ecc: 3, maxKiB: 64 * gib, dimms: fourSlots()}, "--add 2x8GiB --type DDR4",
			"channels", LevelOK, "put them in ChannelA-DIMM1, ChannelB-DIMM1", VerdictFits},
		{"no free slot", board{ecc: 3, maxKiB: 64 * gib, dimms: full()}, "--add 1x8GiB",
			"free-slots", LevelBlocker, "all 4 slots are in use", VerdictDoesNotFit},
		{"slot of unknown state", board{ecc: 3, maxKiB: 64 * gib, dimms: with(full(), func(d *dimm) {
			if d.locator == "ChannelB-DIMM1" {
				d.sizeMiB = 0xFFFF
			}
		})}, "--add 1x8GiB", "free-slots", LevelUnknown, "does not say whether 1 more", VerdictCannotTell},
		{"over the maximum", board{ecc: 3, maxKiB: 16 * gib, dimms: fourSlots()}, "--add 2x8GiB",
			"max-capacity", LevelBlocker, "at most 16 GiB; with the new modules it would hold 32 GiB", VerdictDoesNotFit},
		{"maximum below installed", board{ecc: 3, maxKiB: 8 * gib, dimms: fourSlots()}, "--add 2x8GiB",
			"max-capacity", LevelWarning, "below the 16 GiB installed: believe what is installed", VerdictFitsWithWarnings},
		{"maximum unknown", board{ecc: 3, maxKiB: 0x80000000, dimms: fourSlots()}, "--add 2x8GiB",
			"max-capacity", LevelUnknown, "does not give the maximum capacity", VerdictCannotTell},
		{"type 5 says less", board{ecc: 3, maxKiB: 64 * gib, ctrlMax: 13, dimms: fourSlots()}, "--add 2x16GiB",
			"max-capacity", LevelWarning, "believe the smaller, 32 GiB", VerdictFitsWithWarnings},
		{"wrong type", board{ecc: 3, maxKiB: 64 * gib, dimms: fourSlots()}, "--add 2x8GiB --type DDR3",
			"type", LevelBlocker, "the slots take DDR4, not DDR3", VerdictDoesNotFit},
		{"soldered", board{ecc: 3, maxKiB: 16 * gib, dimms: with(fourSlots()[:2], func(d *dimm) { d.typ, d.sizeMiB = 0x1E, 4096 })},
			"--add 1x8GiB", "type", LevelBlocker, "the memory is soldered (2 x 4 GiB LPDDR4-2400)", VerdictDoesNotFit},
		{"wrong form factor", board{ecc: 3, maxKiB: 64 * gib, dimms: with(fourSlots(), func(d *dimm) { d.form = 0x0D })},
			"--add 2x8GiB --form-factor DIMM", "form-factor", LevelBlocker, "the slots take SODIMM, not DIMM", VerdictDoesNotFit},
		{"unbuffered to registered", board{ecc: 6, maxKiB: 64 * gib, dimms: with(fourSlots(), registeredECC)},
			"--add 2x8GiB --unbuffered", "registration", LevelBlocker, "never mix", VerdictDoesNotFit},
		{"registration not given", board{ecc: 6, maxKiB: 64 * gib, dimms: with(fourSlots(), func(d *dimm) { d.detail, d.total = 0x80, 72 })},
			"--add 2x8GiB", "registration", LevelUnknown, "does not say registered or unbuffered", VerdictCannotTell},
		{"registration deduced", board{ecc: 3, maxKiB: 64 * gib, dimms: with(fourSlots(), func(d *dimm) { d.detail = 0x80 })},
			"--add 2x8GiB", "registration", LevelOK, "the array has no error correction", VerdictFits},
		{"non-ECC to ECC", board{ecc: 6, maxKiB: 64 * gib, dimms: with(fourSlots(), registeredECC)},
			"--add 2x8GiB --no-ecc", "ecc", LevelBlocker, "turn error correction off", VerdictDoesNotFit},
		{"ECC to non-ECC", board{ecc: 3, maxKiB: 64 * gib, dimms: fourSlots()}, "--add 2x8GiB --ecc",
			"ecc", LevelWarning, "without error correction", VerdictFitsWithWarnings},
		{"array ECC, modules without", board{ecc: 6, maxKiB: 64 * gib, dimms: fourSlots()}, "--add 2x8GiB",
			"ecc", LevelWarning, "believe the modules", VerdictFitsWithWarnings},
		{"1.5 V DDR3 beside DDR3L", board{ecc: 3, maxKiB: 64 * gib, dimms: with(fourSlots(), ddr3(1350))},
			"--add 2x8GiB --type DDR3", "voltage", LevelWarning, "run at 1.35 V (DDR3L)", VerdictFitsWithWarnings},
		{"DDR3L beside DDR3L", board{ecc: 3, maxKiB: 64 * gib, dimms: with(fourSlots(), ddr3(1350))},
			"--add 2x8GiB --type DDR3L", "voltage", LevelOK, "DDR3L, as the installed modules run at 1.35 V", VerdictFits},
		{"DDR3L beside 1.5 V DDR3", board{ecc: 3, maxKiB: 64 * gib, dimms: with(fourSlots(), ddr3(1500))},
			"--add 2x8GiB --type DDR3L", "voltage", LevelOK, "run at 1.5 V", VerdictFits},
		{"ranks mixed", board{ecc: 3, maxKiB: 64 * gib, dimms: fourSlots()}, "--add 2x8GiB --rank 2",
			"rank", LevelWarning, "ranks are mixed", VerdictFitsWithWarnings},
		{"slower modules", board{ecc: 3, maxKiB: 64 * gib, dimms: fourSlots()}, "--add 2x8GiB --speed 2133",
			"speed", LevelWarning, "everything will run at 2133 MT/s", VerdictFitsWithWarnings},
		{"1% apart is one speed (1333 and 1334)", board{ecc: 3, maxKiB: 64 * gib, dimms: fourSlots()}, "--add 2x8GiB --speed 2401",
			"speed", LevelOK, "everything runs at 2400 MT/s, as now", VerdictFits},
		{"faster modules", board{ecc: 3, maxKiB: 64 * gib, dimms: fourSlots()}, "--add 2x8GiB --speed 3200",
			"speed", LevelWarning, "will run at 2400 MT/s", VerdictFitsWithWarnings},
		{"one module for two channels", board{ecc: 3, maxKiB: 64 * gib, dimms: fourSlots()}, "--add 1x8GiB",
			"channels", LevelWarning, "channel A: 2, channel B: 1", VerdictFitsWithWarnings},
		{"channels not named", board{ecc: 3, maxKiB: 64 * gib, dimms: with(fourSlots(), func(d *dimm) {
			d.locator, d.bank = strings.NewReplacer("ChannelA-DIMM", "SLOT A", "ChannelB-DIMM", "SLOT B").Replace(d.locator), "BANK"
		})}, "--add 1x8GiB", "channels", LevelUnknown, "the board's manual says which", VerdictFits},
		{"virtual machine", board{vendor: "QEMU", ecc: 3, maxKiB: 64 * gib, dimms: fourSlots()}, "--add 2x8GiB",
			"virtual", LevelUnknown, "a virtual machine (qemu", VerdictCannotTell},
	}
	type answer struct {
		Case    string  `json:"case"`
		Request string  `json:"request"`
		Advice  *Advice `json:"advice"`
	}
	var answers []answer
	for i, c := range cases {
		r, err := c.board.table()
		if err != nil {
			t.Fatalf("case %d (%s): %v", i, c.name, err)
		}
		if len(r.Warnings) > 0 {
			t.Fatalf("case %d (%s): the synthetic table has warnings %q", i, c.name, r.Warnings)
		}
		req, err := ParseRequest(strings.Fields(c.request))
		if err != nil {
			t.Fatalf("case %d (%s): %v", i, c.name, err)
		}
		a := Advise(r, req)
		checkAdviceShape(t, c.name, req, a)
		answers = append(answers, answer{c.name, c.request, a})
		var got Reason
		for _, r := range a.Reasons {
			if r.Rule == c.rule {
				got = r
			}
		}
		if got.Level != c.level || !strings.Contains(got.Message, c.message) || a.Verdict != c.verdict {
			t.Errorf("case %d (%s): %s %s %q, verdict %s; want %s with %q, verdict %s\n%+v",
				i, c.name, c.rule, got.Level, got.Message, a.Verdict, c.level, c.message, c.verdict, a.Reasons)
		}
	}
	out, _ := json.MarshalIndent(answers, "", "  ")
	checkGolden(t, filepath.Join("advise", "synthetic.json"), append(out, '\n'))
}

func TestParseRequest(t *testing.T) {
	cases := []struct {
		words string
		want  string // the request's String(), or the error
	}{
		{"--add 2x8GiB", "--add 2x8GiB"},
		{"--add 2X8G --type ddr4 --speed 2666", "--add 2x8GiB --type DDR4 --speed 2666"},
		{"--add 16GB", "--add 1x16GiB"},
		{"--add 4x512MiB --form-factor so-dimm --no-ecc --unbuffered --rank 2", "--add 4x512MiB --form-factor SODIMM --no-ecc --unbuffered --rank 2"},
		{"--add 1x32GiB --type DDR3L --ecc --registered --json", "--add 1x32GiB --type DDR3L --ecc --registered"},
		{"--add 1x1TiB --lrdimm", "--add 1x1TiB --lrdimm"},
		{"", "--add NxSIZE is required"},
		{"--add 0x8GiB", "is not NxSIZE"},
		{"--add 2x8", "is not NxSIZE"},
		{"--add 2x8GiB --type DDR9", "is not a memory type"},
		{"--add 2x8GiB --ecc --no-ecc", "exclude each other"},
		{"--add 2x8GiB --registered --unbuffered", "--unbuffered and --registered exclude each other"},
		{"--add 2x8GiB --speed fast", "is not a speed"},
		{"--add 2x8GiB --form-factor SIMM", "is not a form factor"},
		{"--add 2x8GiB --rank 3", "is not a rank count"},
		{"--add 2x8GiB extra", `unexpected word "extra"`},
		{"--from-dump x --add 2x8GiB", "flag provided but not defined"},
	}
	for i, c := range cases {
		r, err := ParseRequest(strings.Fields(c.words))
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = r.String()
			if again, err := ParseRequest(strings.Fields(got)); err != nil || again.String() != got {
				t.Errorf("case %d (%q): %q does not read back: %v", i, c.words, got, err)
			}
		}
		if !strings.Contains(got, c.want) {
			t.Errorf("case %d (%q): got %q, want %q in it", i, c.words, got, c.want)
		}
	}
}
