//go:build !linux

package pgtest

import (
	"syscall"
	"time"
)

// sysProcAttr runs a server process as cred (nil: as ourselves) in a
// process group of its own, out of reach of the terminal's Ctrl-C.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: cred}
}

// killServer crashes the server whose postmaster is pid. Its backends,
// each in a process group of its own, exit when they notice the
// postmaster's death; a restart may have to wait for them.
func killServer(pid int, exited <-chan struct{}, timeout time.Duration) error {
	syscall.Kill(pid, syscall.SIGKILL)
	<-exited
	return nil
}
