package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"golang.org/x/sys/unix"
)

// startPolkitAgent starts pkttyagent for this process, as systemctl and hostnamectl do,
// so that an administrator at a terminal can type a password when polkit asks for one.
// It does nothing for root, without a terminal, or without pkttyagent (polkitd), and
// returns a function that stops the agent.
func startPolkitAgent() (stop func()) {
	stop = func() {}
	if os.Geteuid() == 0 || !isTerminal(os.Stdin) {
		return stop
	}
	path, err := exec.LookPath("pkttyagent")
	if err != nil {
		return stop
	}
	ready, notify, err := os.Pipe()
	if err != nil {
		return stop
	}
	defer ready.Close()
	// The agent closes its copy of notify (fd 3) once it is registered.
	cmd := exec.Command(path, "--notify-fd", "3", "--fallback", "--process", strconv.Itoa(os.Getpid()))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{notify}
	if err := cmd.Start(); err != nil {
		notify.Close()
		fmt.Fprintln(os.Stderr, "hostkitctl: cannot start pkttyagent:", err)
		return stop
	}
	notify.Close()
	ready.Read(make([]byte, 1)) // returns at EOF: registered, or the agent exited
	return func() {
		cmd.Process.Signal(unix.SIGTERM)
		cmd.Wait()
	}
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
