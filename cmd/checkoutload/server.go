package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// server is the checkoutd the driver started: its process (for its CPU
// time) and where it keeps its data (for the store report).
type server struct {
	pid     int
	dataDir string
}

// startBinary runs checkoutd on loopback ports in a fresh data directory
// and reads its start-up line for the URL and the demo merchant's key.
// Every defence runs at its defaults (screening, 3-D Secure, the
// card-testing limits, the lockout, the proof of work), except the
// benchmark merchant's own limit (raiseMerchantLimit). The process lives
// until stop, whatever -max-duration says, so that the store can be read
// after the run.
func startBinary(cfg *config, env []string) (srv *server, stop func(), err error) {
	dir, err := os.MkdirTemp("", "checkoutload-")
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(cfg.binary, "serve", "-addr", "127.0.0.1:0", "-demo-addr", "127.0.0.1:0",
		"-data-dir", dir, "-log-level", "warn")
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	stop = func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		os.RemoveAll(dir)
	}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("read start-up line: %w", err)
	}
	go io.Copy(io.Discard, stdout)
	var started struct {
		Checkout string `json:"checkout"`
		DemoShop string `json:"demo_shop"`
		Merchant struct {
			ID  string `json:"merchant_id"`
			Key string `json:"secret_key"`
		} `json:"demo_merchant"`
	}
	if err := json.Unmarshal(line, &started); err != nil {
		stop()
		return nil, nil, fmt.Errorf("start-up line %q: %w", line, err)
	}
	cfg.baseURL, cfg.apiKey, cfg.returnURL = started.Checkout, started.Merchant.Key, started.DemoShop+"/done"
	if err := raiseMerchantLimit(cfg.binary, dir, cmd.Env, started.Merchant.ID); err != nil {
		stop()
		return nil, nil, err
	}
	return &server{pid: cmd.Process.Pid, dataDir: dir}, stop, nil
}

// benchMerchantMax is the benchmark merchant's attempts per minute: one shop
// taking hundreds of payments a second from one machine is what the
// merchant limit exists to stop, so it alone is raised; every other limit
// keeps its default.
const benchMerchantMax = 1000000

// raiseMerchantLimit raises the benchmark merchant's limit the way an
// operator would, with the per-merchant setting (`checkoutd limits set`,
// on the server's own store: its data directory and environment), before
// the first checkout, so the server's limits cache never held the default.
func raiseMerchantLimit(binary, dataDir string, env []string, merchantID string) error {
	cmd := exec.Command(binary, "limits", "set", "--merchant", merchantID,
		"--merchant-max", strconv.Itoa(benchMerchantMax), "-data-dir", dataDir)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("raise the benchmark merchant's limit: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// cpuClock reads a process's CPU time (user + system) from
// /proc/<pid>/stat, in clock ticks of clkTck per second.
type cpuClock struct {
	pid    int
	clkTck int64
}

// newCPUClock is the CPU clock of pid, or nil when pid is 0 or /proc cannot
// be read (not Linux): the benchmark then reports no CPU figure.
func newCPUClock(pid int) *cpuClock {
	if pid == 0 {
		return nil
	}
	c := &cpuClock{pid: pid, clkTck: clockTicks()}
	if _, err := c.read(); err != nil {
		fmt.Fprintln(os.Stderr, "checkoutload: no server CPU figures:", err)
		return nil
	}
	return c
}

// clockTicks is sysconf(_SC_CLK_TCK), which is 100 on every Linux
// architecture Go runs on; getconf confirms it where it is installed.
func clockTicks() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 100
}

// read returns the process's CPU time so far.
func (c *cpuClock) read() (time.Duration, error) {
	if c == nil {
		return 0, nil
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(c.pid), "stat"))
	if err != nil {
		return 0, err
	}
	ticks, err := parseStatCPU(b)
	if err != nil {
		return 0, err
	}
	return time.Duration(ticks) * time.Second / time.Duration(c.clkTck), nil
}

// parseStatCPU returns utime + stime (fields 14 and 15, in clock ticks) of
// a /proc/<pid>/stat line. The command name (field 2) is in parentheses and
// may itself hold spaces and parentheses, so fields are counted after the
// last ')'.
func parseStatCPU(stat []byte) (int64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("proc stat: no command field")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, errors.New("proc stat: too few fields")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("proc stat: %w", err)
	}
	return utime + stime, nil
}
