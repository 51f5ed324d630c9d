package main

import (
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// The shell completions (packaging/completion/) ask hostkitctl itself what may come next:
//
//	hostkitctl __complete WORD... CURRENT
//
// prints the candidates for CURRENT, one a line, after the words before it. So every
// command registered in commands completes, with the flags its usage line names, and a
// new command needs nothing in the completion scripts. An empty answer after -H leaves the
// shell to complete host names itself.
const completeCommand = "__complete"

// globalFlags of hostkitctl, true for those that take a value in the next word (unless
// written --flag=value).
var globalFlags = map[string]bool{"--bus": true, "-H": true, "--host": true, "--timeout": true, "--parallel": true, "--version": false, "--help": false}

// takesValue reports whether the global flag w (-bus, --bus, -H) takes the next word.
func takesValue(w string) bool {
	name := strings.TrimLeft(w, "-")
	return globalFlags["--"+name] || globalFlags["-"+name]
}

// usageFlag finds the flags a command's usage line names: [--json], -o FILE.
var usageFlag = regexp.MustCompile(`(^|[\s\[])(--?[a-z][a-z-]*)`)

func complete(words []string, stdout io.Writer) error {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, before := words[len(words)-1], words[:len(words)-1]
	var positional []string
	for i := 0; i < len(before); i++ {
		w := before[i]
		if len(positional) == 0 && strings.HasPrefix(w, "-") {
			if name, _, hasValue := strings.Cut(w, "="); takesValue(name) && !hasValue {
				i++ // its value
			}
			continue
		}
		if !strings.HasPrefix(w, "-") {
			positional = append(positional, w)
		}
	}
	if len(before) > 0 && len(positional) == 0 {
		if prev := before[len(before)-1]; strings.HasPrefix(prev, "-") && !strings.Contains(prev, "=") && takesValue(prev) {
			return nil // a value: host, bus, duration, number
		}
	}
	var candidates []string
	cmd, found := commands[""], false
	switch {
	case len(positional) >= 1 && commands[positional[0]].run != nil:
		cmd, found = commands[positional[0]], true
	case len(positional) >= 2:
		cmd, found = commands[positional[0]+" "+positional[1]]
	}
	switch {
	case found:
		for _, m := range usageFlag.FindAllStringSubmatch(cmd.usage, -1) {
			candidates = append(candidates, m[2])
		}
		candidates = append(candidates, "--help")
	case len(positional) == 0 && strings.HasPrefix(cur, "-"):
		candidates = slices.Collect(maps.Keys(globalFlags))
	case len(positional) == 0:
		for k := range commands {
			group, _, _ := strings.Cut(k, " ")
			candidates = append(candidates, group)
		}
	case len(positional) == 1:
		for k := range commands {
			if group, verb, ok := strings.Cut(k, " "); ok && group == positional[0] {
				candidates = append(candidates, verb)
			}
		}
	}
	slices.Sort(candidates)
	for _, c := range slices.Compact(candidates) {
		if strings.HasPrefix(c, cur) {
			fmt.Fprintln(stdout, c)
		}
	}
	return nil
}
