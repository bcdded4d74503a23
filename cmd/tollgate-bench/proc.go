package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procStat is the part of /proc/<pid>/stat the benchmark reads.
type procStat struct {
	Comm  string // the process name, without its parentheses
	State byte
	UTime uint64 // user time, clock ticks
	STime uint64 // system time, clock ticks
}

// parseProcStat parses the text of /proc/<pid>/stat. The process name is
// enclosed in parentheses and may itself contain spaces and parentheses, so
// it runs from the first '(' to the last ')'.
func parseProcStat(data []byte) (procStat, error) {
	open := bytes.IndexByte(data, '(')
	closing := bytes.LastIndexByte(data, ')')
	if open < 0 || closing < open {
		return procStat{}, errors.New("proc stat: no (comm)")
	}
	st := procStat{Comm: string(data[open+1 : closing])}
	// Fields after the name, counting from 3 (state) as in proc(5):
	// utime is field 14 and stime field 15.
	fields := strings.Fields(string(data[closing+1:]))
	if len(fields) < 13 || len(fields[0]) != 1 {
		return procStat{}, fmt.Errorf("proc stat: %d fields after comm", len(fields))
	}
	st.State = fields[0][0]
	var err error
	if st.UTime, err = strconv.ParseUint(fields[11], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("proc stat utime: %w", err)
	}
	if st.STime, err = strconv.ParseUint(fields[12], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("proc stat stime: %w", err)
	}
	return st, nil
}

// procCPU returns the user plus system CPU time of process pid.
func procCPU(pid int, ticksPerSec int64) (time.Duration, error) {
	st, err := readProcStat(pid)
	if err != nil {
		return 0, err
	}
	return ticksToDuration(st.UTime+st.STime, ticksPerSec), nil
}

// ticksToDuration converts clock ticks to a duration.
func ticksToDuration(ticks uint64, ticksPerSec int64) time.Duration {
	return time.Duration(ticks * uint64(time.Second) / uint64(ticksPerSec))
}

// clockTicks returns the kernel's clock ticks per second as `getconf
// CLK_TCK` prints it, or 100 (the value on every common Linux) if getconf
// is not available.
func clockTicks() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 100
}

// parseVmRSS returns VmRSS in bytes from the text of /proc/<pid>/status.
func parseVmRSS(data []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("proc status: odd VmRSS line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc status VmRSS: %w", err)
		}
		return kb << 10, nil
	}
	return 0, errors.New("proc status: no VmRSS line")
}

// procRSS returns the resident set size of process pid in bytes.
func procRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmRSS(data)
}

// selfCPU returns the user plus system CPU time of this process.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// raiseNofile raises this process's open-file limit to at least want (up
// to the hard limit, or beyond it when privileged). Setting it explicitly
// also makes child processes inherit the raised limit: Go otherwise restores
// the original soft limit in children. It returns the limit in force.
func raiseNofile(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < want {
		lim.Cur = min(want, lim.Max)
	}
	if lim.Cur < want {
		raised := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			return want, nil
		}
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Cur, nil
}

// machineInfo describes the machine a run measured.
type machineInfo struct {
	Cores   int    `json:"cores"`
	CPU     string `json:"cpu"`
	Go      string `json:"go"`
	OSArch  string `json:"os_arch"`
	ClkTck  int64  `json:"clk_tck"`
	NoFiles uint64 `json:"nofile_limit"`
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel(cpuinfo []byte) string {
	for line := range strings.Lines(string(cpuinfo)) {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			_, v, _ := strings.Cut(name, ":")
			return strings.TrimSpace(v)
		}
	}
	return "unknown cpu"
}

// readMachineInfo gathers the machine description.
func readMachineInfo(ticks int64, nofile uint64) machineInfo {
	cpuinfo, _ := os.ReadFile("/proc/cpuinfo")
	return machineInfo{
		Cores:   runtime.NumCPU(),
		CPU:     cpuModel(cpuinfo),
		Go:      runtime.Version(),
		OSArch:  runtime.GOOS + "/" + runtime.GOARCH,
		ClkTck:  ticks,
		NoFiles: nofile,
	}
}

// parseSystemBusy returns the busy (not idle, not iowait) CPU time of all
// cores, in clock ticks, from the text of /proc/stat.
func parseSystemBusy(data []byte) (uint64, error) {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, errors.New("proc stat: no cpu line")
	}
	var busy uint64
	// user nice system idle iowait irq softirq steal [guest guest_nice]:
	// guest time is already counted in user and nice.
	for i, f := range fields[1:min(len(fields), 9)] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc stat cpu: %w", err)
		}
		if i != 3 && i != 4 {
			busy += v
		}
	}
	return busy, nil
}

// systemBusy returns the busy CPU time of the whole machine.
func systemBusy(ticksPerSec int64) (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	ticks, err := parseSystemBusy(data)
	if err != nil {
		return 0, err
	}
	return ticksToDuration(ticks, ticksPerSec), nil
}
