package testcontainer

import (
	"context"
	"fmt"
	"time"
)

// Reboot shuts the container down in order and boots it again from the same root, as a
// reboot of the machine: what is on its disk stays, its /run and /tmp start empty, and
// every unit starts as at boot. Commands still running inside are killed first. It
// waits, as BootContext does, until systemd inside reports running or degraded.
func (c *Container) Reboot() error {
	c.mu.Lock()
	if c.leader == 0 {
		c.mu.Unlock()
		return fmt.Errorf("container %s: reboot: not running", c.Name)
	}
	c.leader = 0
	for cmd := range c.running {
		killExec(cmd)
	}
	c.mu.Unlock()
	if err := c.powerOff(); err != nil {
		return fmt.Errorf("container %s: reboot: %w", c.Name, err)
	}
	if c.console != nil {
		c.console.Close()
	}
	start := time.Now()
	if err := c.start(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.BootTimeout)
	defer cancel()
	if err := c.findLeader(ctx); err != nil {
		return fmt.Errorf("container %s: reboot: find its systemd: %w%s", c.Name, err, c.consoleTail())
	}
	if err := c.configureLink(); err != nil {
		return err
	}
	state, err := c.waitRunning(ctx)
	if err != nil {
		return fmt.Errorf("container %s: reboot: wait for boot (last state %q): %w%s", c.Name, state, err, c.consoleTail())
	}
	c.BootTime = time.Since(start)
	c.logf("container %s: rebooted to %q in %s (systemd is PID %d on the host)", c.Name, state, c.BootTime.Round(time.Millisecond), c.Leader)
	return nil
}
