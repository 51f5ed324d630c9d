package hardware

import (
	"bufio"
	_ "embed"
	"strings"
)

//go:embed data/placeholders.txt
var placeholderData string

// placeholders holds data/placeholders.txt in lower case.
var placeholders = readPlaceholders(placeholderData)

func readPlaceholders(data string) map[string]bool {
	m := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			m[strings.ToLower(line)] = true
		}
	}
	return m
}

// isPlaceholder reports whether s, a string already trimmed, is what firmware leaves in
// a field instead of a value: empty, one of data/placeholders.txt (in any case), one
// character repeated at least four times ("00000000", "FFFF", "...."), or an ascending
// run of at least six digits from 0 or 1 ("0123456789", "123456").
func isPlaceholder(s string) bool {
	if s == "" || placeholders[strings.ToLower(s)] {
		return true
	}
	if len(s) >= 4 && strings.Count(s, s[:1]) == len(s) {
		return true
	}
	if len(s) >= 6 && (s[0] == '0' || s[0] == '1') {
		for i := 1; i < len(s); i++ {
			if s[i] != '0'+(s[0]-'0'+byte(i))%10 {
				return false
			}
		}
		return true
	}
	return false
}

// rawStrings collects what the firmware said where the report says something else:
// a placeholder reported as null, a JEDEC code reported as a maker's name. Keys are the
// JSON names of the fields. It is nil until something is kept.
type rawStrings map[string]string

// orNil returns r, or nil when it is empty, so that "raw" is left out of the JSON.
func (r rawStrings) orNil() map[string]string {
	if len(r) == 0 {
		return nil
	}
	return r
}
