package testcontainer

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
)

// A hostLink is the network link of a container made with Options.HostLink: a veth pair
// (systemd-nspawn --network-veth-extra), the host's end addressed HostAddress and the
// container's end (ContainerIface) Address, in a /30 of its own in 10.231.0.0/16.
// Nothing routes beyond the pair: the container reaches the host and the host the
// container, and nothing else.
type hostLink struct {
	hostIface string
	prefix    netip.Prefix
}

// ContainerIface is the name of the container's end of Options.HostLink.
const ContainerIface = "hk0"

// newHostLink picks an interface name and a /30 that no interface on the host uses.
func newHostLink() (*hostLink, error) {
	out, err := exec.Command("ip", "-4", "-o", "addr", "show").Output()
	if err != nil {
		return nil, fmt.Errorf("ip -4 -o addr show (apt-get install iproute2): %w", err)
	}
	var used []netip.Prefix
	for _, f := range strings.Fields(string(out)) {
		if p, err := netip.ParsePrefix(f); err == nil {
			used = append(used, p)
		}
	}
next:
	for try := 0; try < 64; try++ {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		n := binary.BigEndian.Uint16(b[:2]) &^ 3 // a /30 within 10.231.0.0/16
		prefix := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 231, byte(n >> 8), byte(n)}), 30)
		for _, u := range used {
			if u.Overlaps(prefix) {
				continue next
			}
		}
		return &hostLink{hostIface: fmt.Sprintf("hk-%x", b[2:]), prefix: prefix}, nil
	}
	return nil, fmt.Errorf("no free /30 in 10.231.0.0/16")
}

func (l *hostLink) hostAddr() netip.Addr      { return l.prefix.Addr().Next() }
func (l *hostLink) containerAddr() netip.Addr { return l.prefix.Addr().Next().Next() }

// nspawnArg is the systemd-nspawn option that makes the pair.
func (l *hostLink) nspawnArg() string {
	return "--network-veth-extra=" + l.hostIface + ":" + ContainerIface
}

// configure addresses both ends and brings them up: the host's with the host's ip, the
// container's with the same ip run in the container's network namespace (the container
// need not have iproute2). Called after each boot: the pair goes with the container's
// namespace.
func (l *hostLink) configure(leader int) error {
	pfx := "/" + strconv.Itoa(l.prefix.Bits())
	for _, args := range [][]string{
		{"ip", "addr", "add", l.hostAddr().String() + pfx, "dev", l.hostIface},
		{"ip", "link", "set", l.hostIface, "up"},
		{"nsenter", "-t", strconv.Itoa(leader), "-n", "ip", "addr", "add", l.containerAddr().String() + pfx, "dev", ContainerIface},
		{"nsenter", "-t", strconv.Itoa(leader), "-n", "ip", "link", "set", ContainerIface, "up"},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}
