package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hostkit/hostkit/internal/lifecycle"
	"github.com/hostkit/hostkit/internal/term"
	hksync "github.com/hostkit/hostkit/services/sync"
)

func init() {
	commands["sync status"] = command{"[--json]", syncStatus}
	commands["sync resync"] = command{"JOB   (compare the whole tree with the target)", syncControl("Resync")}
	commands["sync pause"] = command{"JOB", syncControl("Pause")}
	commands["sync resume"] = command{"JOB", syncControl("Resume")}
	commands["sync id"] = command{"   (this host's fingerprint, for the other host's Peer=)", syncID}
}

const syncName, syncPath = "org.hostkit.Sync1", "/org/hostkit/Sync1"

func syncStatus(busSpec string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hostkitctl sync status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the state as JSON, as Describe() returns it")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	var data string
	if err := callService(busSpec, syncName, syncPath, "Describe", false, nil, &data); err != nil {
		return syncHint(err)
	}
	if *asJSON {
		return writeIndented(stdout, "Describe", data)
	}
	var d hksync.Description
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return fmt.Errorf("Describe() returned a state this hostkitctl cannot read: %w", err)
	}
	f, isFile := stdout.(*os.File)
	return writeSyncStatus(term.NewWriter(stdout), &d, isFile && isTerminal(f), time.Now())
}

// writeSyncStatus prints a line per job (and, at a terminal, a progress bar while a
// job's initial sync runs), then the modules and the senders connected to them.
func writeSyncStatus(w io.Writer, d *hksync.Description, terminal bool, now time.Time) error {
	fmt.Fprintf(w, "This host: %s (dead peers found in %gs)\n", d.Fingerprint, d.KeepAlive.DeadPeerSec)
	if len(d.Jobs) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "JOB\tSTATE\tPENDING\tLAG\tLAST SYNC\tSENT\tTARGET")
		for _, j := range d.Jobs {
			lag, last := "-", "never"
			if !j.OldestPending.IsZero() {
				lag = now.Sub(j.OldestPending).Round(time.Millisecond).String()
			}
			if !j.LastSync.IsZero() {
				last = now.Sub(j.LastSync).Round(time.Second).String() + " ago"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d (%s)\t%s\t%s\t%s\t%s\n", j.Name, j.State, j.PendingFiles, bytesText(j.PendingBytes),
				lag, last, bytesText(j.BytesSent), j.Target)
		}
		tw.Flush()
		for _, j := range d.Jobs {
			if j.LastError != "" && j.State != "idle" && j.State != "syncing" {
				fmt.Fprintf(w, "%s: %s\n", j.Name, j.LastError)
			}
			if j.Note != "" {
				fmt.Fprintf(w, "%s: %s\n", j.Name, j.Note)
			}
			if terminal && j.InitialTotal > 0 && j.InitialDone < j.InitialTotal {
				fmt.Fprintf(w, "%s: initial sync %s\n", j.Name, progressBar(j.InitialDone, j.InitialTotal, 30))
			}
		}
	}
	if len(d.Modules) > 0 {
		fmt.Fprintf(w, "\nReceiving on %s into:\n", strings.Join(d.Listen, " "))
		for _, m := range d.Modules {
			fmt.Fprintf(w, "  %s  %s\n", m.Name, m.Path)
		}
		for _, p := range d.Peers {
			fmt.Fprintf(w, "  connected: %s (%s) -> %s, job %s, %s received, since %s\n", p.Address, p.Fingerprint, p.Module, p.Job,
				bytesText(p.Bytes), p.Since.Format(time.DateTime))
		}
	}
	return nil
}

func progressBar(done, total int64, width int) string {
	n := int(int64(width) * done / total)
	return fmt.Sprintf("[%s%s] %d/%d (%d%%)", strings.Repeat("#", n), strings.Repeat(".", width-n), done, total, 100*done/total)
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// syncHint adds what to do when hostkit-syncd is not running: it is not bus-activated.
func syncHint(err error) error {
	if err == nil {
		return nil
	}
	if strings.Contains(err.Error(), "ServiceUnknown") || strings.Contains(err.Error(), "was not provided by any .service") {
		return fmt.Errorf("%w (hostkit-syncd is not running: systemctl enable --now hostkit-syncd.service, or hostkit-syncd.socket on a host that only receives)", err)
	}
	return err
}

func syncControl(method string) func(string, []string, io.Writer) error {
	return func(busSpec string, args []string, stdout io.Writer) error {
		if len(args) != 1 {
			return lifecycle.UsageError(fmt.Errorf("sync %s takes one job name, e.g. `hostkitctl sync %s www`", strings.ToLower(method), strings.ToLower(method)))
		}
		return syncHint(callService(busSpec, syncName, syncPath, method, true, []any{args[0]}))
	}
}

func syncID(busSpec string, args []string, stdout io.Writer) error {
	if len(args) != 0 {
		return lifecycle.UsageError(errors.New("sync id takes no arguments"))
	}
	conn, err := connect(busSpec)
	if err != nil {
		return err
	}
	v, err := conn.Object(syncName, syncPath).GetProperty(syncName + ".Fingerprint")
	if err != nil {
		return syncHint(fmt.Errorf("%s.Fingerprint: %w", syncName, err))
	}
	fp, ok := v.Value().(string)
	if !ok {
		return fmt.Errorf("%s.Fingerprint is %s, not a string", syncName, v.Signature())
	}
	_, err = fmt.Fprintln(term.NewWriter(stdout), fp)
	return err
}
