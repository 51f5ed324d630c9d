// Package bootorder turns SysV init scripts (chkconfig priorities, LSB headers, rcN.d
// links, rc.local) and the explicit rules of /etc/hostkit/boot-order.conf into systemd
// ordering, and checks after boot that the order happened.
//
// The pipe: Scan reads a root directory into a Tree; PlanOrder turns the Tree into a Plan;
// Generate writes the Plan as drop-ins or wrapper units; Verify compares a booted
// system's unit timestamps with the Plan.
package bootorder

// Plan is the ordering hostkit makes real. Its JSON form is relied on by users' scripts
// (`hostkit-bootorder plan --json`) and by the daemon, which reads the plan the generator
// saved at boot.
type Plan struct {
	// Mode is how the plan is written: ModeDropIns or ModeWrappers.
	Mode string `json:"mode"`
	// BootID is the boot the generator planned for; empty in a plan made offline. The
	// verifier goes by it rather than by /proc: a sandboxed unit in a container can see the
	// host's boot ID there.
	BootID   string    `json:"boot_id,omitempty"`
	Units    []Unit    `json:"units"`
	Warnings []Warning `json:"warnings"`
}

const (
	// ModeDropIns adds ordering to the units systemd-sysv-generator writes.
	ModeDropIns = "drop-ins"
	// ModeWrappers writes complete units for the scripts, where systemd-sysv-generator is
	// gone (systemd 260 and later) or masked.
	ModeWrappers = "wrappers"
)

// Unit is one unit the plan orders: a SysV script, rc.local, or a native unit named by a
// rule or shadowing a script.
type Unit struct {
	Unit   string `json:"unit"`   // e.g. "nginx.service"
	Source string `json:"source"` // path on the target system, e.g. /etc/init.d/nginx
	Kind   string `json:"kind"`   // KindSysV, KindRCLocal or KindNative
	// Priority is the start priority (the S## link, else the chkconfig header); null
	// for a native unit without a configured priority.
	Priority *int `json:"priority"`
	// Targets are the targets that want the unit: runlevel 1 -> rescue.target, 2/3/4 ->
	// multi-user.target, 5 -> graphical.target; empty when not enabled.
	Targets []string `json:"targets"`
	After   []string `json:"after"`  // units this one is ordered after
	Before  []string `json:"before"` // units this one is ordered before
	Wants   []string `json:"wants,omitempty"`
	// Why says, for the priority and each edge, which header, link or rule put it there.
	Why []Reason `json:"why"`

	Description string `json:"description,omitempty"`
	PIDFile     string `json:"pidfile,omitempty"`
	Reload      bool   `json:"reload,omitempty"`   // the script has a reload verb
	Shadowed    bool   `json:"shadowed,omitempty"` // a native unit of the same name replaces the script
}

// Unit kinds.
const (
	KindSysV    = "sysv"
	KindRCLocal = "rc.local"
	KindNative  = "native"
)

// Reason is where one fact of the plan came from.
type Reason struct {
	Fact string `json:"fact"` // "priority 55", "after sshd.service", "wants network-online.target"
	Path string `json:"path"`
	Line int    `json:"line,omitempty"`
	Why  string `json:"why"` // "S55 link in /etc/rc3.d", "Required-Start: $network", ...
}

// Warning is a problem in the input, named by file and line; the plan goes on without
// the broken part.
type Warning struct {
	Path    string `json:"path"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}
