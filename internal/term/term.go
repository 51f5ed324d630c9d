// Package term makes text safe to print on a terminal. What hostkit prints comes in part
// from files it does not trust (an init script's name, a rule in a customer's
// boot-order.conf, a string in an SMBIOS table): a control character in it could move the
// cursor, clear the screen or set the window title of whoever reads the output.
//
// Every command writes its text output through NewWriter, its JSON output through
// NewJSONWriter, and its error line through Escape, so that the escaping is done here and
// nowhere else.
package term

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Escape returns s with every control character and every byte that is not UTF-8 written
// as a Go escape: "\n", "\t", "\x1b", "\u009b" (C1 controls), "\xff". Everything else,
// including non-ASCII letters and the backslash, is unchanged, so that the result is s
// itself whenever s is harmless (unit names such as "dev-sda\x2d1.device" stay as they
// are).
func Escape(s string) string { return escape(s, "") }

// escape is Escape, leaving the characters in keep as they are.
func escape(s, keep string) string {
	if clean(s, keep) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(s[i])&0xF, 16))
		case isControl(r) && !strings.ContainsRune(keep, r):
			q := strconv.QuoteRuneToASCII(r) // '\x1b', '\n', '\u009b'
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// clean reports whether escape would return s unchanged.
func clean(s, keep string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7F {
			if c >= 0x80 {
				return cleanUTF8(s[i:], keep)
			}
			if !strings.ContainsRune(keep, rune(c)) {
				return false
			}
		}
	}
	return true
}

func cleanUTF8(s, keep string) bool {
	for _, r := range s {
		if r == utf8.RuneError || isControl(r) && !strings.ContainsRune(keep, r) {
			return false // a literal U+FFFD is escaped too: it is rare and harmless
		}
	}
	return true
}

// isControl reports whether r is a C0 or C1 control character or DEL.
func isControl(r rune) bool { return r < 0x20 || r >= 0x7F && r < 0xA0 }

// NewWriter returns a writer that passes text to w with the escaping of Escape, except for
// newlines and tabs, which lay out the lines and columns of the text itself. A multi-byte
// character split between two writes is kept whole.
func NewWriter(w io.Writer) io.Writer { return &writer{w: w} }

// NewJSONWriter returns a writer for JSON text that writes DEL and the C1 control
// characters as \u escapes: encoding/json escapes C0 controls in strings but passes these
// through, and a terminal may act on a C1 CSI encoded in UTF-8. Only strings can hold
// them in valid JSON, so the result is the same JSON value.
func NewJSONWriter(w io.Writer) io.Writer { return &writer{w: w, json: true} }

type writer struct {
	w       io.Writer
	json    bool
	pending []byte // the start of a UTF-8 sequence the last write ended in
}

func (t *writer) Write(p []byte) (int, error) {
	data := append(t.pending, p...)
	t.pending = nil
	// Keep an incomplete UTF-8 sequence at the end for the next write.
	if tail := incompleteTail(data); tail > 0 {
		t.pending = append([]byte(nil), data[len(data)-tail:]...)
		data = data[:len(data)-tail]
	}
	out := string(data)
	if t.json {
		out = escapeJSON(out)
	} else {
		out = escape(out, "\n\t")
	}
	if _, err := io.WriteString(t.w, out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// escapeJSON writes DEL and C1 controls in s as JSON \u escapes.
func escapeJSON(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r >= 0x7F && r < 0xA0 }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r >= 0x7F && r < 0xA0 {
			fmt.Fprintf(&b, "\\u%04x", r)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// incompleteTail returns how many bytes at the end of b begin a UTF-8 sequence that b
// does not complete (0 when b ends on a whole character or on bytes that are not UTF-8).
func incompleteTail(b []byte) int {
	for n := 1; n <= 3 && n <= len(b); n++ {
		c := b[len(b)-n]
		if c < 0x80 {
			return 0
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-n:]) {
				return n
			}
			return 0
		}
	}
	return 0
}
