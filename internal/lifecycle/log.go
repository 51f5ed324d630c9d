package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/hostkit/hostkit/internal/term"
)

// SetupLogging makes slog write to the journal with structured fields when stderr is
// connected to it (a service started by systemd), and plain text to stderr otherwise.
// Attribute keys become journal fields in upper case (display -> DISPLAY=), and every
// entry carries SYSLOG_IDENTIFIER=ident.
func SetupLogging(ident string) {
	if ok, _ := journal.StderrIsJournalStream(); ok && journal.Enabled() {
		toJournal = true
		slog.SetDefault(slog.New(&journalHandler{ident: ident}))
		return
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
}

// toJournal is set when SetupLogging chose the journal.
var toJournal bool

// Fail ends a program that failed with err, with ExitCode(err): under systemd
// (SetupLogging chose the journal) as a journal entry at priority err, so that
// `systemctl status` shows it as an error; otherwise as one "prog: err" line on stderr,
// its control characters escaped (the error may quote a file name or a line of input).
//
// An error Quiet reports ends the program with its code and prints nothing.
func Fail(prog string, err error) {
	switch {
	case Quiet(err):
	case toJournal:
		slog.Error(err.Error())
	default:
		fmt.Fprintf(os.Stderr, "%s: %s\n", prog, term.Escape(err.Error()))
	}
	os.Exit(ExitCode(err))
}

// ExitStatus is the outcome of a command that answers with its exit status rather than
// with success or failure: `hostkit-hwd advise` exits 2 for "does not fit" after
// printing its advice. Err, when not nil, says what went wrong and is printed as any
// error is; without it nothing is printed (see Quiet). ExitCode gives Code.
type ExitStatus struct {
	Code int
	Err  error
}

func (s *ExitStatus) Error() string {
	if s.Err == nil {
		return fmt.Sprintf("exit status %d", s.Code)
	}
	return s.Err.Error()
}

// Quiet reports whether err is an *ExitStatus that carries only a code: the command
// has printed its answer, and there is nothing to say on standard error. Wrapped, it
// is not quiet: the wrapper has something to say ("host: exit status 2").
func Quiet(err error) bool {
	s, ok := err.(*ExitStatus)
	return ok && s.Err == nil
}

func (s *ExitStatus) Unwrap() error { return s.Err }

// ExitUsage is the exit status of a command whose command line is wrong (an unknown
// flag or command, a missing or extra argument): EX_USAGE of sysexits.h, as BSD tools
// and systemd's own tools use it. Any other failure exits 1.
const ExitUsage = 64

// UsageError marks err as a mistake in the command line, for which Fail and ExitCode
// give ExitUsage. It returns nil for nil.
func UsageError(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// ExitCode is the exit status for err: 0 for nil, ExitUsage for an error marked with
// UsageError (also when wrapped), the Code of an *ExitStatus, 1 otherwise.
func ExitCode(err error) int {
	var (
		u usageError
		s *ExitStatus
	)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &u):
		return ExitUsage
	case errors.As(err, &s):
		return s.Code
	}
	return 1
}

type journalHandler struct {
	ident string
	attrs []slog.Attr
}

func (h *journalHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *journalHandler) Handle(_ context.Context, r slog.Record) error {
	vars := map[string]string{"SYSLOG_IDENTIFIER": h.ident}
	msg := r.Message
	add := func(a slog.Attr) {
		key := strings.ToUpper(strings.Map(func(c rune) rune {
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
				return c
			}
			return '_'
		}, a.Key))
		if key == "" || key[0] == '_' || key[0] >= '0' && key[0] <= '9' {
			key = "X" + key
		}
		vars[key] = a.Value.String()
		msg += " " + a.Key + "=" + a.Value.String()
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(func(a slog.Attr) bool { add(a); return true })
	return journal.Send(msg, priority(r.Level), vars)
}

func (h *journalHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &journalHandler{ident: h.ident, attrs: append(append([]slog.Attr{}, h.attrs...), attrs...)}
}

// WithGroup is not used by hostkit; groups are flattened into the field names.
func (h *journalHandler) WithGroup(string) slog.Handler { return h }

func priority(l slog.Level) journal.Priority {
	switch {
	case l >= slog.LevelError:
		return journal.PriErr
	case l >= slog.LevelWarn:
		return journal.PriWarning
	case l >= slog.LevelInfo:
		return journal.PriInfo
	default:
		return journal.PriDebug
	}
}
