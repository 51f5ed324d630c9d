package hardware

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mdlayher/ethtool"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// SysClassNetDir is where the kernel lists network interfaces; speed and duplex are read
// there when the ethtool netlink interface cannot give them.
const SysClassNetDir = "/sys/class/net"

// Link is one network interface: what `ip link`, `ip addr`, mii-tool and ethtool are run
// for.
type Link struct {
	Name  string `json:"name"`
	Index int    `json:"index"`
	// Kind is the netlink link type: "device" (hardware), "veth", "dummy", "bridge",
	// "bond", "vlan", "loopback", ...
	Kind         string  `json:"kind"`
	MAC          *string `json:"mac"`
	PermanentMAC *string `json:"permanent_mac"`
	MTU          int     `json:"mtu"`
	// OperState is RFC 2863's operational state as the kernel gives it: "up", "down",
	// "lowerlayerdown", "dormant", "notpresent", "testing", "unknown".
	OperState string `json:"oper_state"`
	// Carrier is whether the link has a carrier (IFF_LOWER_UP).
	Carrier bool `json:"carrier"`
	// Master is the bond or bridge the link is enslaved to.
	Master *string `json:"master"`
	// Addresses are the link's IPv4 and IPv6 addresses with their prefix length.
	Addresses []string `json:"addresses"`
	// SpeedMbps, Duplex ("full", "half"), Autonegotiation and Port ("twisted-pair",
	// "fibre", "direct-attach", ...) come from the ethtool netlink interface, or from
	// /sys/class/net (speed, duplex) without it; null when the link does not say (no
	// carrier, a virtual link).
	SpeedMbps       *int    `json:"speed_mbps"`
	Duplex          *string `json:"duplex"`
	Autonegotiation *bool   `json:"autonegotiation"`
	Port            *string `json:"port"`
	// Driver is the kernel driver of a hardware link ("e1000e", "virtio_net").
	Driver *string `json:"driver"`
}

// LinkReader reads the links of the network namespace the process runs in.
type LinkReader struct {
	// SysClassNet is where /sys/class/net is; "" reads no sysfs.
	SysClassNet string
	// Ethtool asks the kernel's ethtool netlink interface; nil uses sysfs only.
	Ethtool *ethtool.Client
}

// NewLinkReader opens the ethtool netlink interface; where the kernel has none (before
// 5.6) or the caller may not use it, speed and duplex come from sysfs alone.
func NewLinkReader() *LinkReader {
	c, err := ethtool.New()
	if err != nil {
		c = nil
	}
	return &LinkReader{SysClassNet: SysClassNetDir, Ethtool: c}
}

// Close closes the ethtool connection.
func (lr *LinkReader) Close() error {
	if lr.Ethtool == nil {
		return nil
	}
	return lr.Ethtool.Close()
}

// ReadLinks lists the links with their addresses, by index. A link whose addresses or
// speed cannot be read keeps the rest, with a warning naming it.
func (lr *LinkReader) ReadLinks() ([]Link, []string) {
	nl, err := netlink.LinkList()
	if err != nil {
		return nil, []string{fmt.Sprintf("network links skipped: netlink: %v", err)}
	}
	names := map[int]string{}
	for _, l := range nl {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	var warnings []string
	links := make([]Link, 0, len(nl))
	for _, l := range nl {
		a := l.Attrs()
		link := Link{Name: a.Name, Index: a.Index, Kind: l.Type(), MTU: a.MTU, OperState: a.OperState.String(),
			Carrier: a.RawFlags&netlinkLowerUp != 0, Addresses: []string{}}
		if a.Flags&net.FlagLoopback != 0 {
			link.Kind = "loopback"
		}
		if len(a.HardwareAddr) > 0 {
			link.MAC = ptr(a.HardwareAddr.String())
		}
		if len(a.PermHWAddr) > 0 {
			link.PermanentMAC = ptr(a.PermHWAddr.String())
		}
		if m, ok := names[a.MasterIndex]; ok && a.MasterIndex != 0 {
			link.Master = &m
		}
		addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("addresses of %s skipped: %v", a.Name, err))
		}
		for _, addr := range addrs {
			link.Addresses = append(link.Addresses, addr.IPNet.String())
		}
		sort.Strings(link.Addresses)
		if w := lr.linkMode(&link); w != "" {
			warnings = append(warnings, w)
		}
		links = append(links, link)
	}
	sort.Slice(links, func(i, j int) bool { return links[i].Index < links[j].Index })
	return links, warnings
}

// netlinkLowerUp is IFF_LOWER_UP: the link has a carrier.
const netlinkLowerUp = 1 << 16

// ports names the ethtool port types.
var ports = map[ethtool.Port]string{
	ethtool.TwistedPair: "twisted-pair", ethtool.AUI: "aui", ethtool.MII: "mii", ethtool.Fibre: "fibre",
	ethtool.BNC: "bnc", ethtool.DirectAttach: "direct-attach", ethtool.Other: "other",
}

// linkMode fills speed, duplex, autonegotiation and port from ethtool, else speed and
// duplex from sysfs, and the driver from sysfs. Links that have none of these (the
// loopback, most virtual links) are left with nulls and no warning.
func (lr *LinkReader) linkMode(l *Link) string {
	if lr.SysClassNet != "" {
		if target, err := filepath.EvalSymlinks(filepath.Join(lr.SysClassNet, l.Name, "device", "driver")); err == nil {
			l.Driver = ptr(filepath.Base(target))
		}
	}
	if l.Kind == "loopback" {
		return ""
	}
	if lr.Ethtool != nil {
		ifi := ethtool.Interface{Index: l.Index}
		mode, err := lr.Ethtool.LinkMode(ifi)
		switch {
		case err == nil:
			// The kernel says 0 or 0xFFFFFFFF (SPEED_UNKNOWN) without a carrier.
			if mode.SpeedMegabits > 0 && mode.SpeedMegabits < 0xFFFFFFFF && l.Carrier {
				l.SpeedMbps = ptr(mode.SpeedMegabits)
			}
			switch {
			case !l.Carrier:
			case mode.Duplex == ethtool.Full:
				l.Duplex = ptr("full")
			case mode.Duplex == ethtool.Half:
				l.Duplex = ptr("half")
			}
			l.Autonegotiation = ptr(mode.Autoneg == ethtool.AutonegOn)
			if info, err := lr.Ethtool.LinkInfo(ifi); err == nil {
				if p, ok := ports[info.Port]; ok {
					l.Port = &p
				}
			}
			return ""
		case errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.EOPNOTSUPP):
			// The driver has no link modes (dummy, bridge): sysfs has nothing either.
			return ""
		}
	}
	return lr.sysfsMode(l)
}

// sysfsMode reads speed and duplex from /sys/class/net/NAME, as ethtool's ioctl gives
// them; reading them fails (EINVAL) on links without a carrier or without settings,
// which is no warning.
func (lr *LinkReader) sysfsMode(l *Link) string {
	if lr.SysClassNet == "" || !l.Carrier {
		return ""
	}
	dir := filepath.Join(lr.SysClassNet, l.Name)
	if n, ok := sysfsInt(filepath.Join(dir, "speed")); ok && n > 0 {
		l.SpeedMbps = ptr(int(n))
	}
	if d, ok := sysfsAttr(filepath.Join(dir, "duplex")); ok && (d == "full" || d == "half") {
		l.Duplex = &d
	}
	return ""
}

// WatchLinks calls changed after every link and address change the kernel announces in
// this network namespace (a carrier lost or found, a link up or down, a renegotiated
// speed, an address added or removed), until ctx ends. A subscription that fails calls
// failed with the error; the caller decides whether to carry on without signals.
func WatchLinks(ctx context.Context, changed func(), failed func(error)) error {
	links := make(chan netlink.LinkUpdate, 64)
	addrs := make(chan netlink.AddrUpdate, 64)
	done := make(chan struct{})
	go func() { <-ctx.Done(); close(done) }()
	if err := netlink.LinkSubscribeWithOptions(links, done, netlink.LinkSubscribeOptions{ErrorCallback: failed}); err != nil {
		return fmt.Errorf("subscribing to link changes: %w", err)
	}
	if err := netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{ErrorCallback: failed}); err != nil {
		return fmt.Errorf("subscribing to address changes: %w", err)
	}
	go func() {
		for {
			select {
			case _, ok := <-links:
				if !ok {
					return
				}
				changed()
			case _, ok := <-addrs:
				if !ok {
					return
				}
				changed()
			}
		}
	}()
	return nil
}

// linkLine describes a link for the text report.
func linkLine(l Link) []string {
	speed := "-"
	if l.SpeedMbps != nil {
		speed = fmt.Sprintf("%d Mb/s", *l.SpeedMbps)
		if l.Duplex != nil {
			speed += " " + *l.Duplex
		}
	}
	carrier := "no carrier"
	if l.Carrier {
		carrier = "carrier"
	}
	addrs := strings.Join(l.Addresses, " ")
	if l.Master != nil {
		addrs = strings.TrimSpace("in " + *l.Master + " " + addrs)
	}
	return []string{l.Name, l.Kind, l.OperState + ", " + carrier, speed, orDash(l.MAC), orDash(&addrs)}
}

// LinkProperty is one element of org.hostkit.Hardware1's Links property, a(ssbusas):
// name, operational state, carrier, speed in Mb/s (0 unknown), duplex ("" unknown),
// addresses.
type LinkProperty struct {
	Name      string
	OperState string
	Carrier   bool
	SpeedMbps uint32
	Duplex    string
	Addresses []string
}

// LinkProperties condenses links into the Links property.
func LinkProperties(links []Link) []LinkProperty {
	p := make([]LinkProperty, 0, len(links))
	for _, l := range links {
		lp := LinkProperty{Name: l.Name, OperState: l.OperState, Carrier: l.Carrier, Addresses: l.Addresses}
		if l.SpeedMbps != nil && *l.SpeedMbps > 0 {
			lp.SpeedMbps = uint32(*l.SpeedMbps)
		}
		if l.Duplex != nil {
			lp.Duplex = *l.Duplex
		}
		p = append(p, lp)
	}
	return p
}

// String describes the link on one line: "eth0: up, carrier, 1000 Mb/s full; 10.0.0.2/24".
func (l LinkProperty) String() string {
	carrier := "no carrier"
	if l.Carrier {
		carrier = "carrier"
	}
	speed := ""
	if l.SpeedMbps > 0 {
		speed = fmt.Sprintf(", %d Mb/s %s", l.SpeedMbps, l.Duplex)
	}
	return fmt.Sprintf("%s: %s, %s%s; %s", l.Name, l.OperState, carrier, speed, strings.Join(l.Addresses, " "))
}
