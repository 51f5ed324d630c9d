package bus

import (
	"fmt"

	"github.com/godbus/dbus/v5"
)

// Authorize reports whether the caller sender may perform the polkit action. Root (uid 0)
// is allowed without asking polkit. Anyone else is asked about through polkit's
// CheckAuthorization with the subject ("system-bus-name", sender); interactive lets polkit
// ask the caller to authenticate. When polkit cannot answer (not installed, not on this
// bus), the answer is (false, error saying why): no polkit means denied unless root.
func Authorize(conn *dbus.Conn, sender dbus.Sender, action string, interactive bool) (bool, error) {
	var uid uint32
	err := conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixUser", 0, string(sender)).Store(&uid)
	if err != nil {
		return false, fmt.Errorf("finding the user of caller %s: %w", sender, err)
	}
	if uid == 0 {
		return true, nil
	}

	subject := struct {
		Kind    string
		Details map[string]dbus.Variant
	}{"system-bus-name", map[string]dbus.Variant{"name": dbus.MakeVariant(string(sender))}}
	var flags uint32
	if interactive {
		flags = 1 // AllowUserInteraction
	}
	var result struct {
		IsAuthorized bool
		IsChallenge  bool
		Details      map[string]string
	}
	authority := conn.Object("org.freedesktop.PolicyKit1", "/org/freedesktop/PolicyKit1/Authority")
	call := authority.Call("org.freedesktop.PolicyKit1.Authority.CheckAuthorization", 0,
		subject, action, map[string]string{}, flags, "")
	if call.Err != nil {
		if dbusErr, ok := call.Err.(dbus.Error); ok && dbusErr.Name == "org.freedesktop.DBus.Error.ServiceUnknown" {
			return false, fmt.Errorf("caller %s (uid %d), action %s: %w", sender, uid, action, errNoPolkit)
		}
		return false, fmt.Errorf("asking polkit about %s for caller %s (uid %d): %w", action, sender, uid, call.Err)
	}
	if err := call.Store(&result); err != nil {
		return false, fmt.Errorf("reading polkit's answer about %s: %w", action, err)
	}
	return result.IsAuthorized, nil
}

// Interactive reports whether the caller of msg allows polkit to ask for authentication
// (the ALLOW_INTERACTIVE_AUTHORIZATION flag, set by hostkitctl and busctl).
func Interactive(msg dbus.Message) bool {
	return msg.Flags&dbus.FlagAllowInteractiveAuthorization != 0
}
