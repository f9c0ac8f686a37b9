package stats

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// readUint reads a file holding a single unsigned number, as cgroup and sysfs files do.
func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return v, nil
}

// readKeyValues reads a file of "key value [unit]" lines (memory.stat, cpu.stat,
// /proc/meminfo with its colons and kB, /proc/stat); a line whose value is not a number is
// left out.
func readKeyValues(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			continue
		}
		if len(fields) > 2 && fields[2] == "kB" {
			v *= 1024
		}
		out[strings.TrimSuffix(fields[0], ":")] = v
	}
	return out, nil
}

// memTotalBytes is MemTotal of /proc/meminfo.
func memTotalBytes(meminfo string) (uint64, error) {
	kv, err := readKeyValues(meminfo)
	if err != nil {
		return 0, err
	}
	total, ok := kv["MemTotal"]
	if !ok {
		return 0, fmt.Errorf("no MemTotal in %s", meminfo)
	}
	return total, nil
}

// bootTime is btime of /proc/stat, the node's start time as the kubelet reports it.
func bootTime(procStat string) (time.Time, error) {
	kv, err := readKeyValues(procStat)
	if err != nil {
		return time.Time{}, err
	}
	btime, ok := kv["btime"]
	if !ok {
		return time.Time{}, fmt.Errorf("no btime in %s", procStat)
	}
	return time.Unix(int64(btime), 0), nil
}
