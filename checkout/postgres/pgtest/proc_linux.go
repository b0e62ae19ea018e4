package pgtest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// sysProcAttr runs a server process as cred (nil: as ourselves) in a
// process group of its own, out of reach of the terminal's Ctrl-C. Pdeathsig kills the postmaster if the test
// binary dies without stopping it (a panic, a -timeout), so no server
// outlives its tests; its backends then exit on their own.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	becomeSubreaper()
	return &syscall.SysProcAttr{Setpgid: true, Credential: cred, Pdeathsig: syscall.SIGKILL}
}

var subreaper sync.Once

// becomeSubreaper makes the test binary the parent of the backends that
// Kill orphans, so that it can reap them: where PID 1 does not reap (a
// container's), they would stay zombies.
func becomeSubreaper() {
	subreaper.Do(func() {
		const prSetChildSubreaper = 36 // PR_SET_CHILD_SUBREAPER, linux/prctl.h
		syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	})
}

// killServer crashes the server whose postmaster is pid: SIGKILL to the
// postmaster and to each of its children (every backend is its own process
// group, so one signal to the group would miss them). The postmaster is
// stopped first so that it forks no child while they are being listed. It
// returns once all are dead and reaped: a restart must not find the old
// shared memory still attached.
func killServer(pid int, exited <-chan struct{}, timeout time.Duration) error {
	syscall.Kill(pid, syscall.SIGSTOP)
	kids := children(pid)
	for _, k := range kids {
		syscall.Kill(k, syscall.SIGKILL)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	<-exited
	deadline := time.Now().Add(timeout)
	for len(kids) > 0 {
		left := kids[:0]
		for _, k := range kids {
			// Orphaned by the postmaster, k is ours (becomeSubreaper):
			// reap it. Otherwise wait until it is dead or a zombie.
			var ws syscall.WaitStatus
			wpid, err := syscall.Wait4(k, &ws, syscall.WNOHANG, nil)
			if wpid == k || (err == syscall.ECHILD && !alive(k)) {
				continue
			}
			left = append(left, k)
		}
		kids = left
		if len(kids) > 0 && time.Now().After(deadline) {
			return fmt.Errorf("%d processes of the killed server still running after %v", len(kids), timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// stat reads /proc/<pid>/stat: "pid (comm) state ppid ...". ok is false
// when the process is gone.
func stat(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// comm may hold spaces and parentheses; the fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(string(f[1]))
	return f[0][0], ppid, true
}

// alive reports whether pid is running (not gone, not a zombie).
func alive(pid int) bool {
	state, _, ok := stat(pid)
	return ok && state != 'Z' && state != 'X'
}

// children lists the processes whose parent is pid.
func children(pid int) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, dir := range dirs {
		k, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		if _, ppid, ok := stat(k); ok && ppid == pid {
			out = append(out, k)
		}
	}
	return out
}
