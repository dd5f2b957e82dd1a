package machine

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"runtime"
	"strconv"
	"strings"
)

// Size is the machine's memory and CPUs, lowered to the cgroup v2 limits (memory.max,
// cpu.max) of this process's cgroup and its parents where they are set. RAMMB and CPUs, when
// positive, stand for them.
func (m *Machine) Size() (ramMB, cpus int, err error) {
	ramMB, cpus = m.RAMMB, m.CPUs
	group, _ := m.cgroup() // no cgroup v2 is no limit
	if ramMB <= 0 {
		b, err := os.ReadFile(m.path("/proc/meminfo"))
		if err != nil {
			return 0, 0, fmt.Errorf("machine memory: %w", err)
		}
		if ramMB, err = memTotalMB(string(b)); err != nil {
			return 0, 0, err
		}
		if limit, ok := m.cgroupLimit(group, "memory.max", parseMemoryMax); ok && limit < ramMB {
			ramMB = limit
		}
	}
	if cpus <= 0 {
		cpus = runtime.NumCPU() // the CPUs this process may run on
		if m.numCPU != nil {
			cpus = m.numCPU()
		}
		if limit, ok := m.cgroupLimit(group, "cpu.max", parseCPUMax); ok && limit < cpus {
			cpus = limit
		}
	}
	return ramMB, cpus, nil
}

// memTotalMB reads MemTotal (in kB) from /proc/meminfo.
func memTotalMB(meminfo string) (int, error) {
	s := bufio.NewScanner(strings.NewReader(meminfo))
	for s.Scan() {
		rest, ok := strings.CutPrefix(s.Text(), "MemTotal:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			break
		}
		kb, err := strconv.Atoi(fields[0])
		if err != nil {
			return 0, fmt.Errorf("machine memory: MemTotal %q: %w", rest, err)
		}
		return kb / 1024, nil
	}
	return 0, fmt.Errorf("machine memory: /proc/meminfo has no MemTotal")
}

// cgroup is this process's cgroup v2 path ("0::/path" in /proc/self/cgroup).
func (m *Machine) cgroup() (string, bool) {
	b, err := os.ReadFile(m.path("/proc/self/cgroup"))
	if err != nil {
		return "", false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return path.Clean("/" + p), true
		}
	}
	return "", false
}

// cgroupLimit is the lowest limit that file sets on group or one of its parents.
func (m *Machine) cgroupLimit(group, file string, parse func(string) (int, bool)) (int, bool) {
	if group == "" {
		return 0, false
	}
	limit, found := 0, false
	for g := group; ; g = path.Dir(g) {
		if b, err := os.ReadFile(m.path(path.Join("/sys/fs/cgroup", g, file))); err == nil {
			if n, ok := parse(strings.TrimSpace(string(b))); ok && (!found || n < limit) {
				limit, found = n, true
			}
		}
		if g == "/" {
			return limit, found
		}
	}
}

// parseMemoryMax reads memory.max ("max", or bytes) as MiB.
func parseMemoryMax(s string) (int, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, false // "max": no limit
	}
	return int(n >> 20), true
}

// parseCPUMax reads cpu.max ("max 100000", or "<quota> <period>") as whole CPUs, rounded up.
func parseCPUMax(s string) (int, bool) {
	quota, period, ok := strings.Cut(s, " ")
	if !ok {
		return 0, false
	}
	q, err1 := strconv.Atoi(quota)
	p, err2 := strconv.Atoi(period)
	if err1 != nil || err2 != nil || q <= 0 || p <= 0 {
		return 0, false
	}
	return max((q+p-1)/p, 1), true
}
