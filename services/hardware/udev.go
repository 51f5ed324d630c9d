package hardware

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// UdevDataDir is where systemd-udevd keeps what it knows of each device: one file per
// device, named "b" or "c" and MAJOR:MINOR for block and character devices.
const UdevDataDir = "/run/udev/data"

// maxUdevLines caps the lines read from one udev database file.
const maxUdevLines = 4096

// ParseUdevData reads one file of the udev database (source names it in warnings): its
// "E:KEY=VALUE" lines are the device's properties (ID_MODEL, ID_SERIAL_SHORT,
// ID_PART_ENTRY_NAME ...), returned as a map; the other records ("S:" links, "I:" time,
// "G:" tags ...) are not needed and skipped. A line that is no record, or an "E:" line
// without "=", is skipped with a warning naming source and line.
func ParseUdevData(source string, data []byte) (map[string]string, []string) {
	env := map[string]string{}
	var warnings []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	line := 0
	for sc.Scan() {
		line++
		if line > maxUdevLines {
			warnings = append(warnings, fmt.Sprintf("%s:%d: more than %d lines; the rest is skipped", source, line, maxUdevLines))
			break
		}
		text := sc.Text()
		if text == "" {
			continue
		}
		if len(text) < 2 || text[1] != ':' {
			warnings = append(warnings, fmt.Sprintf("%s:%d: not a udev database record; skipped", source, line))
			continue
		}
		if text[0] != 'E' {
			continue
		}
		key, value, ok := strings.Cut(text[2:], "=")
		if !ok || key == "" {
			warnings = append(warnings, fmt.Sprintf("%s:%d: property without \"=\"; skipped", source, line))
			continue
		}
		env[key] = value
	}
	if err := sc.Err(); err != nil {
		warnings = append(warnings, fmt.Sprintf("%s:%d: %v; the rest is skipped", source, line+1, err))
	}
	return env, warnings
}

// udevString returns the property's value with udev's \xNN escapes (the *_ENC
// properties) decoded and surrounding white space removed, or nil when the property is
// missing or empty. Invalid UTF-8 is replaced; control characters are left to the
// writers, which escape them.
func udevString(env map[string]string, keys ...string) *string {
	for _, k := range keys {
		v, ok := env[k]
		if !ok {
			continue
		}
		if strings.HasSuffix(k, "_ENC") || k == "ID_PART_ENTRY_NAME" { // blkid escapes names as udev does *_ENC
			v = decodeUdevEscapes(v)
		}
		v = strings.TrimSpace(strings.ToValidUTF8(v, "\uFFFD"))
		if v != "" {
			return &v
		}
	}
	return nil
}

// decodeUdevEscapes decodes the \xNN sequences udev writes for bytes that are not safe
// in a property (spaces, for one); anything else is kept as it is.
func decodeUdevEscapes(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.HasPrefix(s[i:], `\x`) && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
