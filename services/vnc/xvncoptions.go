package vnc

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// XvncOptions= is checked against this list and never passed blindly: an option Xvnc does
// not know makes it exit at start, and some it knows would undo what hostkit sets up (the
// socket, the password file, X's access control). Xvnc takes its VNC parameters as
// "-Name", "-Name=value" or "-Name value", case-insensitively; hostkit writes them back as
// "-Name" or "-Name=value". X server options (-dpi 96) keep their own "-opt value" form.

type optionKind int

const (
	kindBool   optionKind = iota // VNC parameter, on when given without a value
	kindInt                      // VNC parameter with a non-negative integer value
	kindString                   // VNC parameter with a free value
	kindXFlag                    // X server option without argument
	kindXArg                     // X server option with one argument
)

type xvncOption struct {
	name string
	kind optionKind
	// values, when set, are the only arguments allowed (X options).
	values []string
}

// knownXvncOptions are the options of Xvnc 1.12 (Xvnc(1), Xserver(1)) a display may add.
var knownXvncOptions = map[string]xvncOption{}

// refusedXvncOptions are options Xvnc knows that hostkit sets itself or will not pass,
// with the reason given to whoever writes them.
var refusedXvncOptions = map[string]string{}

func init() {
	for _, o := range []xvncOption{
		{name: "AcceptCutText"}, {name: "SendCutText"}, {name: "SendPrimary"}, {name: "SetPrimary"},
		{name: "AcceptPointerEvents"}, {name: "AcceptKeyEvents"}, {name: "AcceptSetDesktopSize"},
		{name: "DisconnectClients"}, {name: "NeverShared"}, {name: "AlwaysShared"},
		{name: "Protocol3.3"}, {name: "ImprovedHextile"}, {name: "UseBlacklist"}, {name: "QueryConnect"},
		{name: "AvoidShiftNumLock"}, {name: "RawKeyboard"},
		{name: "MaxCutText", kind: kindInt}, {name: "FrameRate", kind: kindInt}, {name: "CompareFB", kind: kindInt},
		{name: "ZlibLevel", kind: kindInt}, {name: "BlacklistThreshold", kind: kindInt},
		{name: "BlacklistTimeout", kind: kindInt}, {name: "IdleTimeout", kind: kindInt},
		{name: "MaxDisconnectionTime", kind: kindInt}, {name: "MaxConnectionTime", kind: kindInt},
		{name: "MaxIdleTime", kind: kindInt}, {name: "QueryConnectTimeout", kind: kindInt},
		{name: "desktop", kind: kindString}, {name: "X509Cert", kind: kindString}, {name: "X509Key", kind: kindString},
		{name: "GnuTLSPriority", kind: kindString}, {name: "RemapKeys", kind: kindString},
		{name: "AllowOverride", kind: kindString},
		{name: "dpi", kind: kindXArg}, {name: "fp", kind: kindXArg}, {name: "s", kind: kindXArg},
		{name: "pixelformat", kind: kindXArg},
		{name: "listen", kind: kindXArg, values: []string{"tcp", "unix", "local"}},
		{name: "nolisten", kind: kindXArg, values: []string{"tcp", "unix", "local"}},
		{name: "br", kind: kindXFlag}, {name: "wr", kind: kindXFlag}, {name: "retro", kind: kindXFlag},
		{name: "nocursor", kind: kindXFlag},
	} {
		knownXvncOptions[strings.ToLower(o.name)] = o
	}
	for names, why := range map[string]string{
		"geometry":                          "set by Geometry=",
		"depth":                             "set by Depth=",
		"securitytypes":                     "set by SecurityTypes=",
		"rfbauth passwordfile":              "set by PasswordFile= (default ~/.vnc/passwd)",
		"password":                          "a password on the command line is visible to every user in ps; use vncpasswd and PasswordFile=",
		"plainusers pam_service pamservice": "Plain security types are not offered",
		"rfbport interface localhost useipv4 useipv6 inetd": "the listening socket comes from systemd (Listen= and the display's number)",
		"rfbunixpath rfbunixmode":                           "the display listens on its socket unit only",
		"log":                                               "hostkit reads Xvnc's log to count clients",
		"displayfd auth":                                    "set by hostkit for every display",
		"ac":                                                "it turns X access control off: every local user could read and type into the desktop",
		"query once broadcast indirect":                     "XDMCP is not how hostkit starts sessions (Session=)",
	} {
		for _, n := range strings.Fields(names) {
			refusedXvncOptions[n] = why
		}
	}
}

// ParseXvncOptions splits an XvncOptions= value into words (single or double quotes keep
// spaces) and checks each option. It returns the options normalized.
func ParseXvncOptions(v string) ([]string, error) {
	words, err := splitWords(v)
	if err != nil {
		return nil, err
	}
	var out []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
		if !strings.HasPrefix(w, "-") || name == "" {
			return nil, fmt.Errorf("%q is not an option (options start with -, e.g. -AlwaysShared or -FrameRate=30)", w)
		}
		key := strings.ToLower(name)
		if why, ok := refusedXvncOptions[key]; ok {
			return nil, fmt.Errorf("option -%s is not allowed in XvncOptions=: %s", name, why)
		}
		o, ok := knownXvncOptions[key]
		if !ok {
			return nil, fmt.Errorf("unknown Xvnc option -%s (known: %s)", name, knownOptionNames())
		}
		switch o.kind {
		case kindBool:
			if !hasValue {
				out = append(out, "-"+o.name)
				continue
			}
			b, ok := parseBool(value)
			if !ok {
				return nil, fmt.Errorf("-%s=%s: not a boolean (0 or 1)", o.name, value)
			}
			out = append(out, fmt.Sprintf("-%s=%d", o.name, b))
		case kindInt, kindString:
			if !hasValue {
				if i+1 >= len(words) {
					return nil, fmt.Errorf("-%s needs a value (-%s=VALUE)", o.name, o.name)
				}
				i++
				value = words[i]
			}
			if o.kind == kindInt {
				if n, err := strconv.Atoi(value); err != nil || n < 0 {
					return nil, fmt.Errorf("-%s=%s: not a non-negative integer", o.name, value)
				}
			}
			if value == "" || strings.ContainsAny(value, "\x00\n\r") || strings.Contains(value, `"`) && strings.Contains(value, "'") {
				return nil, fmt.Errorf("-%s: empty value, line break, or both kinds of quotes", o.name)
			}
			out = append(out, "-"+o.name+"="+value)
		case kindXFlag:
			if hasValue {
				return nil, fmt.Errorf("-%s takes no value", o.name)
			}
			out = append(out, "-"+o.name)
		case kindXArg:
			if hasValue {
				return nil, fmt.Errorf("-%s takes its value as the next word (-%s VALUE)", o.name, o.name)
			}
			if i+1 >= len(words) || strings.HasPrefix(words[i+1], "-") || words[i+1] == "" {
				return nil, fmt.Errorf("-%s needs a value", o.name)
			}
			i++
			value = words[i]
			if len(o.values) > 0 && !slices.Contains(o.values, value) {
				return nil, fmt.Errorf("-%s %s: not one of %s", o.name, value, strings.Join(o.values, " "))
			}
			out = append(out, "-"+o.name, value)
		}
	}
	return out, nil
}

// ListensOnTCP reports whether the options make X listen on TCP port 6000+N.
func ListensOnTCP(opts []string) bool {
	on := false
	for i := 0; i+1 < len(opts); i++ {
		if opts[i+1] == "tcp" {
			switch opts[i] {
			case "-listen":
				on = true
			case "-nolisten":
				on = false
			}
		}
	}
	return on
}

func parseBool(v string) (int, bool) {
	switch strings.ToLower(v) {
	case "1", "yes", "true", "on":
		return 1, true
	case "0", "no", "false", "off":
		return 0, true
	}
	return 0, false
}

func knownOptionNames() string {
	var names []string
	for _, o := range knownXvncOptions {
		names = append(names, "-"+o.name)
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

// splitWords splits s at white space outside quotes; quotes group and are removed.
func splitWords(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		quote rune
		in    bool // a word is open, possibly empty ("")
	)
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}
