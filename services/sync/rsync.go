package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hostkit/hostkit/internal/config"
)

// A job with Target=rsync://host/module sends through the rsync program, for targets that
// cannot run hostkit yet. The source is watched and changes are queued as for a hostkit
// target (so the pending count, the lag and a restart behave the same); whenever changes
// wait, one `rsync -a` of the whole source brings the module in step, and the changes it
// covered are done. rsync gets --timeout (and --contimeout) of the dead-peer bound: its
// own protocol timer is all that can bound a stall there, since its socket is not ours.

// maxPasswordFile bounds what is read of PasswordFile=.
const maxPasswordFile = 4 << 10

// rsyncPassword reads PasswordFile= as every hostkit program reads a file an admin names
// (config.OpenFile: a regular file only, without blocking, capped) and as rsync would: its
// first line is the password, and a file that others may read or write is refused. The
// password then reaches rsync in RSYNC_PASSWORD, so that rsync opens nothing itself.
func rsyncPassword(j *Job) (string, error) {
	f, err := config.OpenFile(j.PasswordFile, 0, false)
	if err != nil {
		return "", fmt.Errorf("%s: [Job] %s: PasswordFile=: %w", j.At, j.Name, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("%s: [Job] %s: PasswordFile=: %w", j.At, j.Name, err)
	}
	if info.Mode().Perm()&0o006 != 0 {
		return "", fmt.Errorf("%s: [Job] %s: PasswordFile=%s may be read or written by others (mode %o): chmod o-rw it, as rsync requires", j.At, j.Name, j.PasswordFile, info.Mode().Perm())
	}
	data, err := config.ReadAtMost(f, maxPasswordFile)
	if err != nil {
		return "", fmt.Errorf("%s: [Job] %s: PasswordFile=: %w", j.At, j.Name, err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimSuffix(line, "\r"), nil
}

// rsyncTimeout is the --timeout given to rsync, in seconds.
func rsyncTimeout(k KeepAlive) int { return max(int(k.DeadPeerTimeout().Seconds()), 1) }

// rsyncArgs returns the command line of one run.
func (s *Sender) rsyncArgs() []string {
	j := s.Job
	t := strconv.Itoa(rsyncTimeout(s.KeepAlive))
	args := []string{"rsync", "-a", "--timeout=" + t, "--contimeout=" + t, "--stats"}
	if j.Delete {
		args = append(args, "--delete")
	}
	if j.BandwidthLimit > 0 {
		args = append(args, fmt.Sprintf("--bwlimit=%dk", max(j.BandwidthLimit/1024, 1)))
	}
	for _, e := range j.Exclude {
		args = append(args, "--exclude="+e)
	}
	return append(args, strings.TrimSuffix(j.Source, "/")+"/", "rsync://"+j.Address+"/"+j.Module+"/")
}

var rsyncSent = regexp.MustCompile(`(?m)^Total bytes sent: ([\d,.]+)`)

// runRsync brings the target in step with rsync whenever changes wait, until ctx ends or
// a run fails (the caller retries with backoff).
func (s *Sender) runRsync(ctx context.Context) error {
	if _, err := exec.LookPath("rsync"); err != nil {
		return fmt.Errorf("the rsync program is needed for Target=%s: apt-get install rsync (or dnf install rsync)", s.Job.Target)
	}
	s.mu.Lock()
	s.compare = true // the first run compares everything, as a start does
	s.mu.Unlock()
	for ctx.Err() == nil {
		if s.isPaused() {
			select {
			case <-ctx.Done():
			case <-s.wake:
			}
			continue
		}
		s.mu.Lock()
		due := s.compare
		s.compare = false
		s.mu.Unlock()
		_, wait, pending := s.queue.Next(s.Job.Delay)
		if pending {
			s.queue.Rewind() // Next counted it as sent; rsync sends everything at once
		}
		if !due && !pending {
			if wait <= 0 {
				wait = time.Hour // nothing queued: a change or a Resync wakes it
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-s.queue.Wake():
			case <-s.wake:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		last := s.queue.LastSeq()
		s.update(func(st *JobStatus) { st.State = StateSyncing })
		cmd := exec.CommandContext(ctx, s.rsyncArgs()[0], s.rsyncArgs()[1:]...)
		cmd.Env = slices.DeleteFunc(os.Environ(), func(v string) bool { return strings.HasPrefix(v, "RSYNC_PASSWORD=") })
		if s.Job.PasswordFile != "" {
			pw, err := rsyncPassword(s.Job)
			if err != nil {
				s.mu.Lock()
				s.compare = true
				s.mu.Unlock()
				return err
			}
			cmd.Env = append(cmd.Env, "RSYNC_PASSWORD="+pw)
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			s.mu.Lock()
			s.compare = true
			s.mu.Unlock()
			var ee *exec.ExitError
			if errors.As(err, &ee) && (ee.ExitCode() == 30 || ee.ExitCode() == 35) {
				return fmt.Errorf("%w: rsync timed out after %ds (--timeout): %s", ErrPeerDead, rsyncTimeout(s.KeepAlive), lastLine(out.String()))
			}
			return fmt.Errorf("rsync to %s: %v: %s", s.Job.Target, err, lastLine(out.String()))
		}
		var sent int64
		if m := rsyncSent.FindStringSubmatch(out.String()); m != nil {
			sent, _ = strconv.ParseInt(strings.NewReplacer(",", "", ".", "").Replace(m[1]), 10, 64)
		}
		s.log.Info("rsync run", "took", time.Since(start).Round(time.Millisecond).String(), "bytes_sent", sent)
		s.update(func(st *JobStatus) {
			s.queue.Done(last)
			st.BytesSent += sent
			st.LastError, st.PeerAddress = "", s.Job.Address
			st.State = StateIdle
			if n, _, _ := s.queue.Stats(); n == 0 {
				st.LastSync = time.Now()
			}
		})
	}
	return ctx.Err()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
