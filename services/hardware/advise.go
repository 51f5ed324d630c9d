package hardware

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Verdicts of the memory upgrade advisor, and the exit status of `hostkit-hwd advise`
// for each.
const (
	VerdictFits             = "fits"               // exit status 0
	VerdictFitsWithWarnings = "fits-with-warnings" // 1
	VerdictDoesNotFit       = "does-not-fit"       // 2
	VerdictCannotTell       = "cannot-tell"        // 3
)

// Levels of a rule's reason.
const (
	LevelOK      = "ok"
	LevelWarning = "warning"
	LevelBlocker = "blocker"
	LevelUnknown = "unknown"
)

// Advice is the advisor's answer. Its JSON form is a contract: exactly these fields.
type Advice struct {
	Verdict string   `json:"verdict"`
	Reasons []Reason `json:"reasons"`
	// InstalledBytes and MaxCapacityBytes are over the system memory arrays, as in the
	// report's summary; MaxCapacityBytes is 0 when the firmware gives no maximum.
	InstalledBytes   uint64 `json:"installed_bytes"`
	MaxCapacityBytes uint64 `json:"max_capacity_bytes"`
	// Slots and SlotsFree count the sockets a module can go into (soldered memory is
	// not a slot); a slot whose state the firmware does not give is not free.
	Slots     int `json:"slots"`
	SlotsFree int `json:"slots_free"`
	// AfterBytes is InstalledBytes plus the modules asked about.
	AfterBytes uint64 `json:"after_bytes"`
	// SuggestedSlots are the slots to put the new modules in, by locator; empty when
	// they do not fit or the tables cannot tell which keep the channels balanced.
	SuggestedSlots []string `json:"suggested_slots"`
}

// Reason is one rule's finding.
type Reason struct {
	Rule    string `json:"rule"`
	Level   string `json:"level"`
	Message string `json:"message"`
}

// ExitCannotTell is the advisor's exit status without an answer: the verdict
// cannot-tell, and also tables or a service that cannot be read, so that status 1
// always means "fits with warnings".
const ExitCannotTell = 3

// ExitStatus is what `hostkit-hwd advise` exits with: 0 fits, 1 fits with warnings,
// 2 does not fit, 3 cannot tell.
func (a *Advice) ExitStatus() int {
	switch a.Verdict {
	case VerdictFits:
		return 0
	case VerdictFitsWithWarnings:
		return 1
	case VerdictDoesNotFit:
		return 2
	}
	return ExitCannotTell
}

// deciding are the rules whose unknown makes the verdict cannot-tell; the others
// (voltage, rank, speed, channels) only warn.
var deciding = map[string]bool{
	"free-slots": true, "max-capacity": true, "type": true, "form-factor": true,
	"registration": true, "ecc": true, "virtual": true,
}

// Advise answers "can I add these modules?" from a report's memory tables and its
// virtualization. Each rule gives one reason, in this order: free-slots, max-capacity,
// type, form-factor, registration, ecc, voltage, rank, speed, channels, virtual. What
// the tables do not say is unknown, never guessed; the few deductions made are named
// in their message. The verdict is cannot-tell on a virtual machine, else does-not-fit
// when a rule blocks, else cannot-tell when a deciding rule is unknown, else
// fits-with-warnings when a rule warns, else fits.
func Advise(r *Report, req *Request) *Advice {
	a := newAdvisor(r, req)
	reasons := []Reason{
		a.freeSlots(), a.maxCapacity(), a.memoryType(), a.formFactor(), a.registration(), a.ecc(),
		a.voltage(), a.rank(), a.speed(), a.channels(), a.virtual(),
	}
	sum := r.Summary()
	advice := &Advice{
		Reasons:          reasons,
		InstalledBytes:   sum.MemoryInstalledBytes,
		MaxCapacityBytes: a.maxBytes(),
		Slots:            len(a.slots),
		SlotsFree:        len(a.free),
		AfterBytes:       sum.MemoryInstalledBytes + uint64(req.Count)*req.SizeBytes,
		SuggestedSlots:   a.suggested,
	}
	if advice.SuggestedSlots == nil {
		advice.SuggestedSlots = []string{}
	}
	levels := map[string]bool{}
	decidingUnknown, virtual := false, false
	for _, reason := range reasons {
		levels[reason.Level] = true
		decidingUnknown = decidingUnknown || reason.Level == LevelUnknown && deciding[reason.Rule]
		virtual = virtual || reason.Rule == "virtual" && reason.Level != LevelOK
	}
	switch {
	case virtual: // the hypervisor decides, whatever the virtual slots say
		advice.Verdict = VerdictCannotTell
	case levels[LevelBlocker]:
		advice.Verdict = VerdictDoesNotFit
	case decidingUnknown:
		advice.Verdict = VerdictCannotTell
	case levels[LevelWarning]:
		advice.Verdict = VerdictFitsWithWarnings
	default:
		advice.Verdict = VerdictFits
	}
	if virtual || advice.Verdict == VerdictDoesNotFit {
		advice.SuggestedSlots = []string{}
	}
	return advice
}

// slot is a socket a module can go into, in a system memory array.
type slot struct {
	array   int // index into advisor.arrays
	device  MemoryDevice
	name    string // locator, as the firmware prints it on the board
	channel string // the channel the bank locator names, "" when it names none
	used    bool   // a module is in it (or something of unknown size)
	known   bool   // the firmware says whether it is used
}

type advisor struct {
	r   *Report
	req *Request
	// arrays are the system memory arrays (systemMemoryArrays).
	arrays []MemoryArray
	// slots are their sockets; soldered, the devices that are no socket (LPDDR,
	// chips); modules, every installed module, soldered or not.
	slots    []slot
	soldered []MemoryDevice
	modules  []MemoryDevice
	// free are the indexes of the free slots, in table order; placed those chosen
	// for the new modules (fewer than req.Count when they do not fit).
	free   []int
	placed []int
	// suggested names the slots to use, when the channels say which.
	suggested []string
}

func newAdvisor(r *Report, req *Request) *advisor {
	a := &advisor{r: r, req: req, arrays: r.systemMemoryArrays()}
	for i, arr := range a.arrays {
		for _, d := range arr.Devices {
			installed := d.SizeBytes == nil || *d.SizeBytes > 0
			if installed {
				a.modules = append(a.modules, d)
			}
			if soldered(d) {
				a.soldered = append(a.soldered, d)
				continue
			}
			a.slots = append(a.slots, slot{array: i, device: d, name: slotName(d), channel: channelOf(d),
				used: installed, known: d.SizeBytes != nil})
		}
	}
	for i, s := range a.slots {
		if !s.used {
			a.free = append(a.free, i)
		}
	}
	a.place()
	return a
}

// soldered reports whether a memory device is soldered to the board rather than a
// module in a socket: LPDDR memory, and the chip form factors.
func soldered(d MemoryDevice) bool {
	switch deref(d.FormFactor) {
	case "Chip", "Row Of Chips", "Die", "TSOP":
		return true
	}
	return strings.HasPrefix(deref(d.Type), "LPDDR")
}

func slotName(d MemoryDevice) string {
	if d.Locator != nil && *d.Locator != "" {
		return *d.Locator
	}
	if d.BankLocator != nil && *d.BankLocator != "" {
		return *d.BankLocator
	}
	return fmt.Sprintf("handle 0x%04X", d.Handle)
}

// channelPatterns find a channel in a bank locator or locator: "ChannelA-DIMM0",
// "P0 CHANNEL A", "P0_Node0_Channel2_Dimm0", "CPU1_DIMM_B2", "P1-DIMMA1".
var channelPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)channel[ _-]?([A-Z0-9]+)`),
	regexp.MustCompile(`(?i)(?:^|[^A-Z])CH[ _-]?([A-Z0-9])(?:$|[^A-Z0-9])`),
	regexp.MustCompile(`(?i)DIMM[ _-]?([A-H])[0-9](?:$|[^0-9])`),
}

// channelOf returns the channel a device's bank locator or locator names, upper case,
// or "" when neither names one.
func channelOf(d MemoryDevice) string {
	for _, s := range []*string{d.BankLocator, d.Locator} {
		if s == nil {
			continue
		}
		for _, p := range channelPatterns {
			if m := p.FindStringSubmatch(*s); m != nil {
				return strings.ToUpper(m[1])
			}
		}
	}
	return ""
}

// place chooses free slots for the new modules, one at a time: the one whose channel
// holds the fewest modules, then the one whose array holds the fewest, then the first
// in table order. Slots without a channel count as one channel each.
func (a *advisor) place() {
	perChannel := map[string]int{}
	perArray := map[int]int{}
	key := func(s slot) string {
		if s.channel == "" {
			return fmt.Sprintf("%d/slot %s", s.array, s.name)
		}
		return fmt.Sprintf("%d/%s", s.array, s.channel)
	}
	for _, s := range a.slots {
		if s.used {
			perChannel[key(s)]++
			perArray[s.array]++
		}
	}
	left := slices.Clone(a.free)
	for n := 0; n < a.req.Count && len(left) > 0; n++ {
		best := 0
		for i := 1; i < len(left); i++ {
			s, b := a.slots[left[i]], a.slots[left[best]]
			if perChannel[key(s)] < perChannel[key(b)] ||
				perChannel[key(s)] == perChannel[key(b)] && perArray[s.array] < perArray[b.array] {
				best = i
			}
		}
		chosen := a.slots[left[best]]
		a.placed = append(a.placed, left[best])
		perChannel[key(chosen)]++
		perArray[chosen.array]++
		left = slices.Delete(left, best, best+1)
	}
}

func (a *advisor) fits() bool { return len(a.placed) == a.req.Count }

func (a *advisor) names(idx []int) string {
	var names []string
	for _, i := range idx {
		names = append(names, a.slots[i].name)
	}
	return strings.Join(names, ", ")
}

func reason(rule, level, format string, args ...any) Reason {
	return Reason{Rule: rule, Level: level, Message: fmt.Sprintf(format, args...)}
}

func plural2(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func (a *advisor) freeSlots() Reason {
	const rule = "free-slots"
	n := a.req.Count
	need := plural2(n, "module needs 1 free slot", fmt.Sprintf("modules need %d free slots", n))
	if len(a.slots) == 0 {
		if len(a.soldered) > 0 {
			return reason(rule, LevelBlocker, "there are no slots: all memory is soldered to the board (%s)", a.solderedText())
		}
		return reason(rule, LevelUnknown, "the tables list no memory slots")
	}
	undescribed, unknown := 0, 0
	for _, arr := range a.arrays {
		if arr.Slots != nil && *arr.Slots > len(arr.Devices) {
			undescribed += *arr.Slots - len(arr.Devices)
		}
	}
	for _, s := range a.slots {
		if !s.known {
			unknown++
		}
	}
	perArray := ""
	if len(a.arrays) > 1 {
		var parts []string
		for i, arr := range a.arrays {
			free, all := 0, 0
			for _, s := range a.slots {
				if s.array == i {
					all++
					if !s.used {
						free++
					}
				}
			}
			parts = append(parts, fmt.Sprintf("array %s: %d of %d", hexHandle(&arr.Handle), free, all))
		}
		perArray = " (" + strings.Join(parts, "; ") + ")"
	}
	switch {
	case len(a.free) >= n:
		return reason(rule, LevelOK, "%s; %d of %d are free%s: %s", need, len(a.free), len(a.slots), perArray, a.names(a.free))
	case unknown > 0 || undescribed > 0:
		return reason(rule, LevelUnknown, "%s; %d of %d are free%s, and the firmware does not say whether %d more are",
			need, len(a.free), len(a.slots), perArray, unknown+undescribed)
	case len(a.free) == 0:
		return reason(rule, LevelBlocker, "%s; all %d slots are in use%s: modules would have to be replaced, not added",
			need, len(a.slots), perArray)
	}
	return reason(rule, LevelBlocker, "%s; only %d of %d are free%s: %s", need, len(a.free), len(a.slots), perArray, a.names(a.free))
}

func (a *advisor) solderedText() string {
	kinds := map[string]int{}
	var order []string
	for _, d := range a.soldered {
		k := ModuleName(MemoryDevice{SizeBytes: d.SizeBytes, Type: d.Type, SpeedMTs: d.SpeedMTs})
		if kinds[k] == 0 {
			order = append(order, k)
		}
		kinds[k]++
	}
	var parts []string
	for _, k := range order {
		parts = append(parts, fmt.Sprintf("%d x %s", kinds[k], k))
	}
	return strings.Join(parts, ", ")
}

// installedIn returns the bytes installed in array i; ok is false when a module's size
// is unknown.
func (a *advisor) installedIn(i int) (uint64, bool) {
	var sum uint64
	for _, d := range a.arrays[i].Devices {
		if d.SizeBytes == nil {
			return sum, false
		}
		sum += *d.SizeBytes
	}
	return sum, true
}

// maxBytes is the sum of the arrays' maxima, 0 when one is unknown.
func (a *advisor) maxBytes() uint64 {
	var sum uint64
	for _, arr := range a.arrays {
		if arr.MaxCapacityBytes == nil {
			return 0
		}
		sum += *arr.MaxCapacityBytes
	}
	return sum
}

func (a *advisor) maxCapacity() Reason {
	const rule = "max-capacity"
	if len(a.arrays) == 0 {
		return reason(rule, LevelUnknown, "the tables list no memory array")
	}
	for _, arr := range a.arrays {
		if arr.MaxCapacityBytes == nil {
			return reason(rule, LevelUnknown, "the firmware does not give the maximum capacity of memory array %s", hexHandle(&arr.Handle))
		}
	}
	added := map[int]uint64{}
	for _, i := range a.placed {
		added[a.slots[i].array] += a.req.SizeBytes
	}
	if !a.fits() {
		added = map[int]uint64{}
	}
	var blockers, warnings, oks []string
	var installedAll uint64
	for i, arr := range a.arrays {
		installed, known := a.installedIn(i)
		installedAll += installed
		max := *arr.MaxCapacityBytes
		where := ""
		if len(a.arrays) > 1 {
			where = "array " + hexHandle(&arr.Handle) + ": "
		}
		switch {
		case !known:
			warnings = append(warnings, where+"a module of unknown size is installed, so the total is not known")
		case max < installed:
			warnings = append(warnings, fmt.Sprintf("%sthe firmware gives a maximum of %s, below the %s installed: believe what is installed; the real maximum is at least that, and the board's manual gives it",
				where, humanBytes(max), humanBytes(installed)))
		case installed+added[i] > max:
			blockers = append(blockers, fmt.Sprintf("%sat most %s; with the new modules it would hold %s", where, humanBytes(max), humanBytes(installed+added[i])))
		case a.fits():
			oks = append(oks, fmt.Sprintf("%s%s of at most %s", where, humanBytes(installed+added[i]), humanBytes(max)))
		}
	}
	after := installedAll + uint64(a.req.Count)*a.req.SizeBytes
	limit := a.maxBytes()
	if !a.fits() && after > limit && len(blockers) == 0 {
		blockers = append(blockers, fmt.Sprintf("at most %s in all; with the new modules there would be %s", humanBytes(limit), humanBytes(after)))
	} else if !a.fits() && len(blockers) == 0 {
		oks = append(oks, fmt.Sprintf("%s of at most %s in all", humanBytes(after), humanBytes(limit)))
	}
	// Old firmware also describes the memory controller (type 5), whose figures need
	// not agree with the array's.
	var ctrlTotal, ctrlModule uint64
	for _, c := range a.r.Memory.Controllers {
		if c.MaxTotalBytes != nil {
			ctrlTotal += *c.MaxTotalBytes
		}
		if c.MaxModuleBytes != nil && (ctrlModule == 0 || *c.MaxModuleBytes < ctrlModule) {
			ctrlModule = *c.MaxModuleBytes
		}
	}
	if ctrlTotal > 0 && ctrlTotal != limit {
		lower, higher := min(ctrlTotal, limit), max(ctrlTotal, limit)
		msg := fmt.Sprintf("the memory array (type 16) allows %s, the memory controller (type 5) %s: believe the smaller, %s, unless the board's manual says more",
			humanBytes(limit), humanBytes(ctrlTotal), humanBytes(lower))
		if after > lower && after <= higher {
			warnings = append(warnings, msg+fmt.Sprintf("; %s would be more than that", humanBytes(after)))
		} else if after <= lower {
			oks = append(oks, "both the memory array (type 16) and the memory controller (type 5) allow that")
		}
	}
	if ctrlModule > 0 && a.req.SizeBytes > ctrlModule {
		warnings = append(warnings, fmt.Sprintf("the memory controller (type 5) takes modules of at most %s, not %s; old firmware often understates this, and the board's manual tells",
			humanBytes(ctrlModule), humanBytes(a.req.SizeBytes)))
	}
	switch {
	case len(blockers) > 0:
		return reason(rule, LevelBlocker, "%s", strings.Join(append(blockers, warnings...), "; "))
	case len(warnings) > 0:
		return reason(rule, LevelWarning, "%s", strings.Join(append(warnings, oks...), "; "))
	}
	return reason(rule, LevelOK, "%s", strings.Join(oks, "; "))
}

// socketedKinds returns the distinct values get gives for the modules in slots, or,
// when no slot holds a module with that value, for the empty slots (firmware often
// gives the type or form factor an empty slot takes).
func (a *advisor) socketedKinds(get func(MemoryDevice) *string) []string {
	collect := func(used bool) []string {
		var kinds []string
		for _, s := range a.slots {
			if v := get(s.device); s.used == used && v != nil && !slices.Contains(kinds, *v) {
				kinds = append(kinds, *v)
			}
		}
		return kinds
	}
	if kinds := collect(true); len(kinds) > 0 {
		return kinds
	}
	return collect(false)
}

// slotType is the one memory type the slots take, "" when the tables do not say or
// disagree.
func (a *advisor) slotType() string {
	kinds := a.socketedKinds(func(d MemoryDevice) *string { return d.Type })
	if len(kinds) == 1 {
		return kinds[0]
	}
	return ""
}

func (a *advisor) memoryType() Reason {
	if len(a.slots) == 0 && len(a.soldered) > 0 {
		return reason("type", LevelBlocker, "the memory is soldered (%s): nothing can be added", a.solderedText())
	}
	return a.slotKind("type", "memory type", func(d MemoryDevice) *string { return d.Type }, a.req.Type)
}

func (a *advisor) formFactor() Reason {
	if len(a.slots) == 0 {
		return reason("form-factor", LevelUnknown, "there are no slots whose form factor to compare")
	}
	return a.slotKind("form-factor", "form factor", func(d MemoryDevice) *string { return d.FormFactor }, a.req.FormFactor)
}

// slotKind is the type and form-factor rules: what the slots take (the one value get
// gives for them, see socketedKinds) against want, what the request names ("" for
// nothing: the rule says what to buy).
func (a *advisor) slotKind(rule, what string, get func(MemoryDevice) *string, want string) Reason {
	kinds := a.socketedKinds(get)
	switch {
	case len(kinds) == 0:
		return reason(rule, LevelUnknown, "the tables do not say which %s the slots take", what)
	case len(kinds) > 1:
		return reason(rule, LevelUnknown, "the tables give different %ss for the slots (%s)", what, strings.Join(kinds, ", "))
	}
	switch have := kinds[0]; want {
	case "":
		return reason(rule, LevelOK, "the slots take %s: buy %s modules", have, have)
	case have:
		return reason(rule, LevelOK, "%s, as the slots take", have)
	default:
		return reason(rule, LevelBlocker, "the slots take %s, not %s: the modules do not fit", have, want)
	}
}

// arrayECC returns "ecc" or "none" when every system memory array says the same about
// error correction, "" when one does not say or they differ, and the arrays' words.
func (a *advisor) arrayECC() (string, string) {
	var kind string
	var words []string
	for _, arr := range a.arrays {
		k := ""
		switch deref(arr.ECC) {
		case "None":
			k = "none"
		case "Parity", "Single-bit ECC", "Multi-bit ECC", "CRC":
			k = "ecc"
		default:
			return "", ""
		}
		if kind != "" && k != kind {
			return "", ""
		}
		kind = k
		if !slices.Contains(words, *arr.ECC) {
			words = append(words, *arr.ECC)
		}
	}
	return kind, strings.Join(words, ", ")
}

var registrationNames = map[string]string{
	"registered": "registered (RDIMM)", "unbuffered": "unbuffered (UDIMM)", "lrdimm": "load-reduced (LRDIMM)",
}

func (a *advisor) registration() Reason {
	const rule = "registration"
	var kinds []string
	for _, d := range a.modules {
		if k := registration(d); k != "" && !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	how := ""
	switch {
	case len(kinds) > 1:
		return reason(rule, LevelUnknown, "the tables give the installed modules as %s at once, which cannot be", strings.Join(kinds, " and "))
	case len(kinds) == 0:
		if ecc, _ := a.arrayECC(); ecc != "none" {
			return reason(rule, LevelUnknown, "the type detail of the installed modules does not say registered or unbuffered; a module's label does (R or U after its size)")
		}
		kinds = []string{"unbuffered"}
		how = "; their type detail does not say, but the array has no error correction, and registered modules always carry ECC"
	}
	have, want := kinds[0], a.req.Registration
	switch {
	case want == "":
		return reason(rule, LevelOK, "the installed modules are %s%s: buy %s modules", registrationNames[have], how, registrationNames[have])
	case want == have:
		return reason(rule, LevelOK, "%s, as the installed modules are%s", registrationNames[have], how)
	}
	return reason(rule, LevelBlocker, "the installed modules are %s%s; %s modules never mix with them", registrationNames[have], how, registrationNames[want])
}

func (a *advisor) ecc() Reason {
	const rule = "ecc"
	array, words := a.arrayECC()
	// The modules' widths: more total than data bits are ECC bits.
	modules := ""
	for _, d := range a.modules {
		if d.TotalWidthBits == nil || d.DataWidthBits == nil {
			modules = ""
			break
		}
		k := "none"
		if *d.TotalWidthBits > *d.DataWidthBits {
			k = "ecc"
		}
		if modules != "" && modules != k {
			modules = "mixed"
			break
		}
		modules = k
	}
	want := ""
	if a.req.ECC != nil {
		want = map[bool]string{true: "ecc", false: "none"}[*a.req.ECC]
	}
	var notes []string
	have := modules
	switch {
	case modules == "mixed":
		notes = append(notes, "the installed modules are ECC and non-ECC at once, so error correction is off")
		have = "none"
	case modules != "" && array != "" && modules != array:
		if array == "ecc" {
			notes = append(notes, fmt.Sprintf("the array says %s, but the installed modules have no ECC bits: believe the modules, error correction is off", words))
		}
	case modules == "":
		have = array
	}
	if have == "" {
		return reason(rule, LevelUnknown, "neither the array's error correction nor the installed modules' widths are given")
	}
	level := LevelOK
	if len(notes) > 0 {
		level = LevelWarning
	}
	// Who says: the modules' widths, or else the array's error correction.
	source := "the installed modules use"
	if modules == "" {
		source = "the array's error correction is " + words + ":"
	}
	switch {
	case want == "" && have == "ecc":
		notes = append(notes, source+" ECC; buy ECC modules (72 bits wide)")
	case want == "" && have == "none":
		notes = append(notes, source+" no ECC; buy non-ECC modules (ECC modules work too, without ECC)")
	case want == have:
		notes = append(notes, map[string]string{"ecc": "ECC", "none": "no ECC"}[want]+", as "+source+" "+
			map[string]string{"ecc": "ECC", "none": "none"}[want])
	case want == "none":
		return reason(rule, LevelBlocker, "%s ECC; non-ECC modules next to them turn error correction off, and boards for registered memory do not start with them", source)
	default:
		level = LevelWarning
		notes = append(notes, source+" no ECC; ECC modules work there, without error correction")
	}
	return reason(rule, level, "%s", strings.Join(notes, "; "))
}

func (a *advisor) voltage() Reason {
	const rule = "voltage"
	// The slots' type decides; a request for another type is the type rule's blocker.
	typ := a.slotType()
	if typ == "" {
		typ = a.req.Type
	}
	switch {
	case typ == "":
		return reason(rule, LevelUnknown, "the memory type is not known, so neither is its voltage")
	case typ != "DDR3":
		return reason(rule, LevelOK, "%s modules all run at the same voltage", typ)
	}
	lowest := 0
	for _, d := range a.modules {
		v := d.ConfiguredVoltageMV
		if v == nil {
			v = d.MinimumVoltageMV
		}
		if v != nil && (lowest == 0 || *v < lowest) {
			lowest = *v
		}
	}
	switch {
	case lowest == 0:
		return reason(rule, LevelUnknown, "the tables give no module voltages (SMBIOS 2.8 and later do): the board's manual says whether it takes 1.5 V DDR3 or only 1.35 V DDR3L")
	case lowest > 1350:
		return reason(rule, LevelOK, "the installed modules run at %s: DDR3 and DDR3L (which also runs at 1.5 V) both work", volts(lowest))
	case a.req.Type != "" && !a.req.LowVoltage:
		return reason(rule, LevelWarning, "the installed modules run at %s (DDR3L): a board that supplies only 1.35 V cannot run 1.5 V DDR3 modules, and one that can runs everything at 1.5 V; buy DDR3L", volts(lowest))
	case a.req.LowVoltage:
		return reason(rule, LevelOK, "DDR3L, as the installed modules run at %s", volts(lowest))
	}
	return reason(rule, LevelOK, "the installed modules run at %s (DDR3L): buy DDR3L modules", volts(lowest))
}

func volts(mv int) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", float64(mv)/1000), "0"), ".") + " V"
}

var rankNames = map[int]string{1: "single-rank", 2: "dual-rank", 4: "quad-rank", 8: "octal-rank"}

func rankName(n int) string {
	if s, ok := rankNames[n]; ok {
		return s
	}
	return fmt.Sprintf("%d-rank", n)
}

func (a *advisor) rank() Reason {
	const rule = "rank"
	count := map[int]int{}
	for _, d := range a.modules {
		if d.Rank != nil {
			count[*d.Rank]++
		}
	}
	if len(count) == 0 {
		return reason(rule, LevelUnknown, "the tables give no ranks for the installed modules")
	}
	ranks := make([]int, 0, len(count))
	for r := range count {
		ranks = append(ranks, r)
	}
	sort.Ints(ranks)
	var parts []string
	for _, r := range ranks {
		parts = append(parts, fmt.Sprintf("%d %s", count[r], rankName(r)))
	}
	installed := "installed: " + strings.Join(parts, ", ")
	switch want := a.req.Rank; {
	case want == 0:
		return reason(rule, LevelOK, "%s; modules of the same rank keep the channels alike", installed)
	case len(ranks) == 1 && ranks[0] == want:
		return reason(rule, LevelOK, "%s, as installed", rankName(want))
	default:
		return reason(rule, LevelWarning, "%s; with %s modules the ranks are mixed, and many boards then lower the speed or take fewer modules per channel: see the board's manual", installed, rankName(want))
	}
}

func (a *advisor) speed() Reason {
	const rule = "speed"
	runs, rated := 0, 0
	for _, d := range a.modules {
		if d.ConfiguredSpeedMTs != nil && (runs == 0 || *d.ConfiguredSpeedMTs < runs) {
			runs = *d.ConfiguredSpeedMTs
		}
		if d.SpeedMTs != nil && (rated == 0 || *d.SpeedMTs < rated) {
			rated = *d.SpeedMTs
		}
	}
	if runs == 0 {
		runs = rated
	}
	if runs == 0 {
		return reason(rule, LevelUnknown, "the tables give no speeds for the installed modules")
	}
	// Firmware writes DDR3-1333's 1333.33 MT/s as 1333 or 1334: speeds within 1% are
	// the same speed.
	same := func(a, b int) bool { return 100*abs(a-b) <= b }
	switch want := a.req.SpeedMTs; {
	case want == 0:
		return reason(rule, LevelOK, "the installed modules run at %d MT/s: modules rated %d MT/s or faster run at that speed too", runs, runs)
	case same(want, runs):
	case want < runs:
		return reason(rule, LevelWarning, "speeds mixed: everything will run at %d MT/s, the new modules' speed, instead of %d MT/s", want, runs)
	case want > runs:
		return reason(rule, LevelWarning, "speeds mixed: the new %d MT/s modules will run at %d MT/s, as the installed ones do", want, runs)
	}
	return reason(rule, LevelOK, "everything runs at %d MT/s, as now", runs)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func (a *advisor) channels() Reason {
	const rule = "channels"
	if len(a.slots) == 0 {
		return reason(rule, LevelUnknown, "there are no slots")
	}
	if !a.fits() {
		return reason(rule, LevelUnknown, "the modules do not fit the free slots, so there is nothing to place")
	}
	arraysUsed := map[int]bool{}
	for _, i := range a.placed {
		arraysUsed[a.slots[i].array] = true
	}
	named := true
	for _, s := range a.slots {
		if arraysUsed[s.array] && s.channel == "" {
			named = false
		}
	}
	if !named {
		if len(a.free) == len(a.placed) {
			a.suggested = strings.Split(a.names(a.placed), ", ")
			return reason(rule, LevelUnknown, "the bank locators do not name channels; every free slot is needed anyway: %s", a.names(a.placed))
		}
		return reason(rule, LevelUnknown, "the bank locators do not name channels: the board's manual says which of the free slots (%s) to fill first", a.names(a.free))
	}
	a.suggested = strings.Split(a.names(a.placed), ", ")
	// Modules per channel after the addition, per array.
	counts := map[int]map[string]int{}
	for _, s := range a.slots {
		if !arraysUsed[s.array] {
			continue
		}
		if counts[s.array] == nil {
			counts[s.array] = map[string]int{}
		}
		n := 0 // an empty channel counts too
		if s.used {
			n = 1
		}
		counts[s.array][s.channel] += n
	}
	for _, i := range a.placed {
		counts[a.slots[i].array][a.slots[i].channel]++
	}
	var uneven []string
	for arr := 0; arr < len(a.arrays); arr++ {
		c := counts[arr]
		if c == nil {
			continue
		}
		chans := make([]string, 0, len(c))
		for ch := range c {
			chans = append(chans, ch)
		}
		sort.Strings(chans)
		lo, hi := c[chans[0]], c[chans[0]]
		var parts []string
		for _, ch := range chans {
			lo, hi = min(lo, c[ch]), max(hi, c[ch])
			parts = append(parts, fmt.Sprintf("channel %s: %d", ch, c[ch]))
		}
		if lo != hi {
			uneven = append(uneven, strings.Join(parts, ", "))
		}
	}
	if len(uneven) > 0 {
		return reason(rule, LevelWarning, "put them in %s; the channels then hold different numbers of modules (%s), which costs bandwidth: add modules in sets that fill every channel alike",
			a.names(a.placed), strings.Join(uneven, "; "))
	}
	return reason(rule, LevelOK, "put them in %s: every channel then holds the same number of modules", a.names(a.placed))
}

var sourceNames = map[string]string{
	"smbios": "the SMBIOS tables", "cpuinfo": "the processor's hypervisor flag", "systemd": "systemd",
}

func (a *advisor) virtual() Reason {
	const rule = "virtual"
	v := a.r.Virtualization
	switch {
	case v == nil:
		return reason(rule, LevelUnknown, "nothing tells whether this is a virtual machine")
	case v.VM != "none":
		return reason(rule, LevelUnknown, "a virtual machine (%s, according to %s): its memory is the hypervisor's setting, not modules in slots; change it there", v.VM, sourceNames[v.Source])
	}
	return reason(rule, LevelOK, "a physical machine, according to %s", sourceNames[v.Source])
}
