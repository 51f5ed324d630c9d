package term

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestEscape(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain nginx.service", "plain nginx.service"},
		{"dev-sda\\x2d1.device", "dev-sda\\x2d1.device"}, // a backslash stays
		{"Grüße, 日本", "Grüße, 日本"},
		{"\x1b[2J\x1b]0;owned\ax", `\x1b[2J\x1b]0;owned\ax`},
		{"a\nb\tc\r", `a\nb\tc\r`},
		{"del\x7f", `del\x7f`},
		{"csi\u009b31m", `csi\u009b31m`},
		{"bad\xffutf8\xc3", `bad\xffutf8\xc3`},
	}
	for i, c := range cases {
		if got := Escape(c.in); got != c.want {
			t.Errorf("case %d: Escape(%q) = %q, want %q", i, c.in, got, c.want)
		}
	}
}

func TestWriterKeepsLayoutAndSplitCharacters(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	// "ü" (c3 bc) split over two writes must stay one character.
	for _, part := range []string{"UNIT\tA\n\x1b[31mred\n\xc3", "\xbc\n", "\a\n"} {
		if n, err := w.Write([]byte(part)); err != nil || n != len(part) {
			t.Fatalf("Write(%q) = %d, %v", part, n, err)
		}
	}
	if want := "UNIT\tA\n\\x1b[31mred\nü\n\\a\n"; b.String() != want {
		t.Errorf("wrote %q, want %q", b.String(), want)
	}
}

func TestJSONWriterEscapesC1(t *testing.T) {
	var b strings.Builder
	w := NewJSONWriter(&b)
	in := "{\"name\": \"a\u009b2Jb\u007fc\u00e9\"}\n"
	// Written in two pieces that split the two-byte sequence of U+009B.
	cut := strings.Index(in, "\u009b") + 1
	if _, err := w.Write([]byte(in[:cut])); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(in[cut:])); err != nil {
		t.Fatal(err)
	}
	want := "{\"name\": \"a\\u009b2Jb\\u007fc\u00e9\"}\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	var v map[string]string
	if err := json.Unmarshal([]byte(b.String()), &v); err != nil || v["name"] != "a\u009b2Jb\u007fc\u00e9" {
		t.Errorf("the escaped JSON decodes to %q, %v; want the same value as before", v, err)
	}
}
