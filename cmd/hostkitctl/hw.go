package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/hostkit/hostkit/internal/bus"

	"github.com/hostkit/hostkit/internal/lifecycle"
	"github.com/hostkit/hostkit/internal/term"
	"github.com/hostkit/hostkit/services/hardware"
)

func init() {
	commands["hw report"] = command{"[--json]", hwReport}
	commands["hw serial"] = command{"", hwSerial}
	commands["hw reload"] = command{"", hwReload}
	commands["hw watch"] = command{"", hwWatch}
	commands["hw advise"] = command{"--add NxSIZE [--type TYPE] [--speed MT/s] [--form-factor DIMM|SODIMM] [--ecc|--no-ecc] [--registered|--unbuffered|--lrdimm] [--rank N] [--from-dump FILE] [--json]", hwAdvise}
}

const hwName, hwPath = "org.hostkit.Hardware1", "/org/hostkit/Hardware1"

func hwReport(busSpec string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hostkitctl hw report", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the report as JSON, as Describe() returns it")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	var data string
	if err := callService(busSpec, hwName, hwPath, "Describe", false, nil, &data); err != nil {
		return err
	}
	if *asJSON {
		return writeIndented(stdout, "Describe", data)
	}
	var r hardware.Report
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		return fmt.Errorf("Describe() returned a report this hostkitctl cannot read: %w", err)
	}
	return hardware.WriteText(term.NewWriter(stdout), &r)
}

func hwSerial(busSpec string, args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return lifecycle.UsageError(errors.New("hw serial takes no arguments"))
	}
	var serial string
	if err := callService(busSpec, hwName, hwPath, "GetHardwareSerial", true, nil, &serial); err != nil {
		return err
	}
	_, err := fmt.Fprintln(term.NewWriter(stdout), serial)
	return err
}

func hwReload(busSpec string, args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return lifecycle.UsageError(errors.New("hw reload takes no arguments"))
	}
	return callService(busSpec, hwName, hwPath, "Reload", true, nil)
}

// hwAdvise asks the memory upgrade advisor, with the words of `hostkit-hwd advise`:
// through the service's Advise(), or, with --from-dump, on a dump read here without
// a bus. It prints the advice (JSON with --json) and exits with its status: 0 fits,
// 1 fits with warnings, 2 does not fit, 3 cannot tell (also when there is no answer:
// no service, an unreadable dump), 64 for a wrong command line.
func hwAdvise(busSpec string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hostkitctl hw advise", flag.ContinueOnError)
	req := hardware.RequestFlags(fs)
	dump := fs.String("from-dump", "", "advise on the tables in `FILE` written by dmidecode --dump-bin, without the service")
	asJSON := fs.Bool("json", false, "print the advice as JSON, as Advise() returns it")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if err := req.Check(); err != nil {
		return lifecycle.UsageError(fmt.Errorf("hw advise: %w", err))
	}
	var advice *hardware.Advice
	if *dump != "" {
		r, err := hardware.ReadDump(*dump)
		if err != nil {
			return &lifecycle.ExitStatus{Code: hardware.ExitCannotTell, Err: err}
		}
		advice = hardware.Advise(r, req)
	} else {
		var data string
		if err := callService(busSpec, hwName, hwPath, "Advise", false, []any{req.String()}, &data); err != nil {
			return &lifecycle.ExitStatus{Code: hardware.ExitCannotTell, Err: err}
		}
		advice = &hardware.Advice{}
		if err := json.Unmarshal([]byte(data), advice); err != nil {
			return &lifecycle.ExitStatus{Code: hardware.ExitCannotTell, Err: fmt.Errorf("Advise() returned advice this hostkitctl cannot read: %w", err)}
		}
	}
	if err := hardware.PrintAdvice(stdout, advice, *asJSON); err != nil {
		return err
	}
	if code := advice.ExitStatus(); code != 0 {
		return &lifecycle.ExitStatus{Code: code}
	}
	return nil
}

// hwWatch implements `hostkitctl hw watch`: it asks the service to keep running and
// signalling (Watch()), prints every link, then a line for each link whose state,
// carrier, speed or addresses change, until interrupted. The service may exit again
// once this command ends.
func hwWatch(busSpec string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hostkitctl hw watch", flag.ContinueOnError)
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	conn, err := bus.Connect(busSpec)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.AddMatchSignal(dbus.WithMatchSender(hwName), dbus.WithMatchObjectPath(hwPath),
		dbus.WithMatchInterface("org.freedesktop.DBus.Properties"), dbus.WithMatchMember("PropertiesChanged")); err != nil {
		return err
	}
	signals := make(chan *dbus.Signal, 16)
	conn.Signal(signals)
	obj := conn.Object(hwName, hwPath)
	if err := obj.Call(hwName+".Watch", 0).Err; err != nil {
		return fmt.Errorf("%s.Watch: %w", hwName, err)
	}
	v, err := obj.GetProperty(hwName + ".Links")
	if err != nil {
		return fmt.Errorf("%s.Links: %w", hwName, err)
	}
	var now []hardware.LinkProperty
	if err := dbus.Store([]any{v.Value()}, &now); err != nil {
		return fmt.Errorf("%s.Links is %s: %w", hwName, v.Signature(), err)
	}
	out := term.NewWriter(stdout)
	seen := map[string]string{}
	for _, l := range now {
		seen[l.Name] = l.String()
		fmt.Fprintln(out, l)
	}
	fmt.Fprintln(out, "watching link changes; Ctrl-C ends")
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(stop)
	for {
		select {
		case <-stop:
			return nil
		case <-conn.Context().Done():
			return errors.New("lost the connection to the bus")
		case s := <-signals:
			if len(s.Body) != 3 {
				continue
			}
			changed, _ := s.Body[1].(map[string]dbus.Variant)
			lv, ok := changed["Links"]
			if !ok {
				continue
			}
			var links []hardware.LinkProperty
			if err := dbus.Store([]any{lv.Value()}, &links); err != nil {
				continue
			}
			stamp := time.Now().Format("15:04:05.000")
			present := map[string]bool{}
			for _, l := range links {
				present[l.Name] = true
				if text := l.String(); seen[l.Name] != text {
					seen[l.Name] = text
					fmt.Fprintf(out, "%s %s\n", stamp, text)
				}
			}
			for name := range seen {
				if !present[name] {
					delete(seen, name)
					fmt.Fprintf(out, "%s %s: gone\n", stamp, name)
				}
			}
		}
	}
}
