package hardware

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Smart is a disk's health as smartctl reports it, with the figures that predict
// failure.
type Smart struct {
	// Status is "ok"; "warning" when a figure that predicts failure is not zero (or
	// an SSD is 90% worn); "failing" when the device says it fails its health check;
	// "standby" for a sleeping disk, not woken to ask; "no-smart" for a device without
	// SMART; "not-installed" without smartmontools; "unavailable" when smartctl could
	// not read the device. Message says why for all but "ok".
	Status  string  `json:"status"`
	Message *string `json:"message"`
	// Passed is the device's own overall health verdict.
	Passed       *bool  `json:"passed"`
	TemperatureC *int64 `json:"temperature_c"`
	PowerOnHours *int64 `json:"power_on_hours"`
	// ATA attributes 5, 197 and 198 (raw values).
	ReallocatedSectors   *int64 `json:"reallocated_sectors"`
	PendingSectors       *int64 `json:"pending_sectors"`
	OfflineUncorrectable *int64 `json:"offline_uncorrectable"`
	// NVMe: how much of the rated endurance is used, and unrecovered data errors.
	PercentageUsed *int64 `json:"percentage_used"`
	MediaErrors    *int64 `json:"media_errors"`
	// FailingAttributes names the ATA attributes at or below their threshold now.
	FailingAttributes []string `json:"failing_attributes"`
}

// SmartReader returns smartctl's JSON about the device /dev/NAME.
type SmartReader func(name string) ([]byte, error)

// ErrNoSmartctl is what a SmartReader returns when smartmontools is not installed.
var ErrNoSmartctl = errors.New("smartctl is not installed (apt install smartmontools, dnf install smartmontools)")

// smartctlArgs asks for everything (-x) as compact JSON, without waking a sleeping disk
// (-n standby), for the device path that follows.
var smartctlArgs = []string{"--json=c", "-x", "-n", "standby"}

// smartctlTimeout bounds one smartctl run; a hung device must not hang the report.
const smartctlTimeout = 30 * time.Second

// maxSmartctlBytes caps smartctl's output (-x of a disk with long logs is ~100 KiB).
const maxSmartctlBytes = 4 << 20

// RunSmartctl runs smartctl on /dev/NAME and returns its JSON, whatever its exit status
// (whose bits say what smartctl found, and which the JSON repeats). It needs root (or
// CAP_SYS_RAWIO and CAP_SYS_ADMIN) to read most devices; without, smartctl's JSON says
// so.
func RunSmartctl(name string) ([]byte, error) {
	path, err := exec.LookPath("smartctl")
	if err != nil {
		return nil, ErrNoSmartctl
	}
	if !kernelName.MatchString(name) {
		return nil, fmt.Errorf("%q is not a device name", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), smartctlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append(smartctlArgs, "/dev/"+name)...)
	out, err := cmd.Output()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("smartctl on /dev/%s did not answer within %s", name, smartctlTimeout)
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return nil, fmt.Errorf("smartctl on /dev/%s: %w", name, err)
	}
	if len(out) > maxSmartctlBytes {
		return nil, fmt.Errorf("smartctl on /dev/%s wrote more than %d bytes", name, maxSmartctlBytes)
	}
	return out, nil
}

// SmartHelper returns a SmartReader that asks hostkit-hwd's SMART helper listening on
// socket (hostkit-hwd-smart.socket), which alone has the device access and capabilities
// smartctl needs: one connection per device, the device's name and a newline sent, the
// JSON read to the end.
func SmartHelper(socket string) SmartReader {
	return func(name string) ([]byte, error) {
		conn, err := net.DialTimeout("unix", socket, 5*time.Second)
		if err != nil {
			return nil, fmt.Errorf("SMART helper: %w", err)
		}
		defer conn.Close()
		if err := conn.SetDeadline(time.Now().Add(smartctlTimeout + 5*time.Second)); err != nil {
			return nil, err
		}
		if _, err := fmt.Fprintf(conn, "%s\n", name); err != nil {
			return nil, fmt.Errorf("SMART helper: %w", err)
		}
		data, err := io.ReadAll(io.LimitReader(conn, maxSmartctlBytes+1))
		if err != nil {
			return nil, fmt.Errorf("SMART helper: %w", err)
		}
		if len(data) > maxSmartctlBytes {
			return nil, fmt.Errorf("SMART helper wrote more than %d bytes", maxSmartctlBytes)
		}
		if msg, ok := strings.CutPrefix(string(data), helperError); ok {
			if strings.TrimSpace(msg) == ErrNoSmartctl.Error() {
				return nil, ErrNoSmartctl
			}
			return nil, fmt.Errorf("SMART helper: %s", strings.TrimSpace(msg))
		}
		return data, nil
	}
}

// helperError begins the helper's answer when it has no JSON to give.
const helperError = "error: "

// ServeSmartHelper is the SMART helper's side: it reads one device name (a line of at
// most 64 characters) from in, checks that sysBlock lists it as a device that is not
// virtual, and writes what read (RunSmartctl) gives to out, or helperError and why.
// Nothing else is ever run or opened.
func ServeSmartHelper(in io.Reader, out io.Writer, sysBlock string, read SmartReader) error {
	line, err := bufio.NewReader(io.LimitReader(in, 66)).ReadString('\n')
	name := strings.TrimSpace(line)
	var data []byte
	switch {
	case err != nil:
		err = errors.New("no device name")
	case !kernelName.MatchString(name):
		err = fmt.Errorf("%q is not a device name", name)
	default:
		l := Live{SysBlock: sysBlock}
		d, _ := readDisk(l, name)
		switch {
		case d == nil:
			err = fmt.Errorf("%s is not a block device in %s", name, sysBlock)
		case d.Transport != nil && !smartTransports[*d.Transport]:
			err = fmt.Errorf("%s is a %s device, which has no SMART", name, *d.Transport)
		default:
			data, err = read(name)
		}
	}
	if err != nil {
		_, werr := fmt.Fprintf(out, "%s%s\n", helperError, err)
		return errors.Join(err, werr)
	}
	_, err = out.Write(data)
	return err
}

// smartTransports are the transports whose devices may have SMART; devices of the
// others are not asked.
var smartTransports = map[string]bool{"sata": true, "pata": true, "sas": true, "scsi": true, "nvme": true, "usb": true}

// smartctlJSON is the part of smartctl's JSON (format version 1) read here.
type smartctlJSON struct {
	Smartctl struct {
		Messages []struct {
			String   string `json:"string"`
			Severity string `json:"severity"`
		} `json:"messages"`
		ExitStatus *int `json:"exit_status"`
	} `json:"smartctl"`
	SmartSupport *struct {
		Available *bool `json:"available"`
		Enabled   *bool `json:"enabled"`
	} `json:"smart_support"`
	SmartStatus *struct {
		Passed *bool `json:"passed"`
	} `json:"smart_status"`
	Temperature *struct {
		Current *int64 `json:"current"`
	} `json:"temperature"`
	PowerOnTime *struct {
		Hours *int64 `json:"hours"`
	} `json:"power_on_time"`
	ATA *struct {
		Table []struct {
			ID         int    `json:"id"`
			Name       string `json:"name"`
			Value      *int64 `json:"value"`
			Thresh     *int64 `json:"thresh"`
			WhenFailed string `json:"when_failed"`
			Raw        struct {
				Value *int64 `json:"value"`
			} `json:"raw"`
		} `json:"table"`
	} `json:"ata_smart_attributes"`
	NVMe *struct {
		PercentageUsed *int64 `json:"percentage_used"`
		MediaErrors    *int64 `json:"media_errors"`
		Temperature    *int64 `json:"temperature"`
		PowerOnHours   *int64 `json:"power_on_hours"`
	} `json:"nvme_smart_health_information_log"`
	SCSIGrownDefects *int64 `json:"scsi_grown_defect_list"`
}

// smartctl's exit status bits (smartctl(8), RETURN VALUES).
const (
	smartExitCommandLine = 1 << 0
	smartExitOpenFailed  = 1 << 1
	smartExitFailing     = 1 << 3
)

// ParseSmartctl reads smartctl's JSON about one device (source names it in warnings).
// Output that is not smartctl's JSON gives status "unavailable" and a warning; it
// never fails.
func ParseSmartctl(source string, data []byte) (*Smart, []string) {
	s := &Smart{FailingAttributes: []string{}}
	var j smartctlJSON
	if err := json.Unmarshal(data, &j); err != nil || j.Smartctl.ExitStatus == nil {
		s.Status, s.Message = "unavailable", ptr("smartctl's output could not be read")
		why := "no exit_status"
		if err != nil {
			why = err.Error()
		}
		return s, []string{fmt.Sprintf("%s: not smartctl's JSON (%s); SMART skipped", source, clip(why, 120))}
	}
	var msgs []string
	for _, m := range j.Smartctl.Messages {
		msgs = append(msgs, strings.TrimSpace(m.String))
	}
	message := strings.Join(msgs, "; ")
	exit := *j.Smartctl.ExitStatus
	switch {
	case strings.Contains(message, "STANDBY") || strings.Contains(message, "SLEEP"):
		s.Status, s.Message = "standby", ptr("the disk is in standby; not woken to read SMART")
		return s, nil
	case exit&(smartExitCommandLine|smartExitOpenFailed) != 0:
		if strings.Contains(message, "Unable to detect device type") || strings.Contains(message, "Unknown USB bridge") {
			s.Status = "no-smart"
		} else {
			s.Status = "unavailable"
		}
		s.Message = ptr(clip(orText(message, fmt.Sprintf("smartctl exit status %d", exit)), 300))
		return s, nil
	case j.SmartSupport != nil && j.SmartSupport.Available != nil && !*j.SmartSupport.Available:
		s.Status, s.Message = "no-smart", ptr("the device does not support SMART")
		return s, nil
	}
	if j.SmartStatus != nil {
		s.Passed = j.SmartStatus.Passed
	}
	if j.Temperature != nil {
		s.TemperatureC = j.Temperature.Current
	}
	if j.PowerOnTime != nil {
		s.PowerOnHours = j.PowerOnTime.Hours
	}
	if a := j.ATA; a != nil {
		for _, attr := range a.Table {
			switch attr.ID {
			case 5:
				s.ReallocatedSectors = attr.Raw.Value
			case 197:
				s.PendingSectors = attr.Raw.Value
			case 198:
				s.OfflineUncorrectable = attr.Raw.Value
			}
			if attr.WhenFailed == "now" || attr.Value != nil && attr.Thresh != nil && *attr.Thresh > 0 && *attr.Value <= *attr.Thresh {
				s.FailingAttributes = append(s.FailingAttributes, fmt.Sprintf("%d %s", attr.ID, attr.Name))
			}
		}
	}
	if n := j.NVMe; n != nil {
		s.PercentageUsed, s.MediaErrors = n.PercentageUsed, n.MediaErrors
		if s.TemperatureC == nil {
			s.TemperatureC = n.Temperature
		}
		if s.PowerOnHours == nil {
			s.PowerOnHours = n.PowerOnHours
		}
	}
	if s.ReallocatedSectors == nil && j.SCSIGrownDefects != nil {
		s.ReallocatedSectors = j.SCSIGrownDefects
	}
	var worries []string
	for _, f := range []struct {
		v    *int64
		what string
	}{{s.ReallocatedSectors, "reallocated sectors"}, {s.PendingSectors, "pending sectors"},
		{s.OfflineUncorrectable, "offline uncorrectable sectors"}, {s.MediaErrors, "media errors"}} {
		if f.v != nil && *f.v > 0 {
			worries = append(worries, fmt.Sprintf("%d %s", *f.v, f.what))
		}
	}
	if s.PercentageUsed != nil && *s.PercentageUsed >= 90 {
		worries = append(worries, fmt.Sprintf("%d%% of the rated endurance used", *s.PercentageUsed))
	}
	if len(s.FailingAttributes) > 0 {
		worries = append(worries, "attributes at or below threshold: "+strings.Join(s.FailingAttributes, ", "))
	}
	switch {
	case s.Passed != nil && !*s.Passed || exit&smartExitFailing != 0:
		s.Status = "failing"
		s.Message = ptr(orText(strings.Join(worries, "; "), "the device fails its own health check"))
	case len(worries) > 0:
		s.Status, s.Message = "warning", ptr(strings.Join(worries, "; "))
	case s.Passed == nil:
		s.Status, s.Message = "unavailable", ptr(orText(message, "smartctl gave no health verdict"))
	default:
		s.Status = "ok"
	}
	return s, nil
}

func orText(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// smartAll asks read about every disk that may have SMART, four at a time, and sets
// each disk's SMART section; disks that cannot have SMART get "no-smart" without asking.
func smartAll(read SmartReader, disks []Disk) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range disks {
		d := &disks[i]
		if d.Transport != nil && !smartTransports[*d.Transport] {
			d.SMART = &Smart{Status: "no-smart", Message: ptr(*d.Transport + " devices have no SMART"), FailingAttributes: []string{}}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			d.SMART = smartOf(read, d.Name)
		}()
	}
	wg.Wait()
}

// smartOf reads and parses one device's SMART data.
func smartOf(read SmartReader, name string) *Smart {
	data, err := read(name)
	switch {
	case errors.Is(err, ErrNoSmartctl):
		return &Smart{Status: "not-installed", Message: ptr(err.Error()), FailingAttributes: []string{}}
	case err != nil:
		return &Smart{Status: "unavailable", Message: ptr(err.Error()), FailingAttributes: []string{}}
	}
	s, warnings := ParseSmartctl("smartctl /dev/"+name, data)
	if len(warnings) > 0 {
		s.Message = ptr(strings.Join(warnings, "; "))
	}
	return s
}
