package main

import (
	"os"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	rest := " S 1 1 1 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 8 0 123 456 789"
	tests := []struct {
		name, comm string
	}{
		{"plain", "tollgate"},
		{"spaces", "my gateway 2"},
		{"parentheses", "a) (b c)) x"},
		{"only closing", ")"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := parseProcStat([]byte("4242 (" + tt.comm + ")" + rest + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if st.Comm != tt.comm || st.State != 'S' || st.UTime != 250 || st.STime != 37 {
				t.Errorf("got %+v, want comm %q state S utime 250 stime 37", st, tt.comm)
			}
		})
	}
}

func TestParseProcStatErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"4242 tollgate S 1 2 3",
		"4242 (tollgate) S 1 2 3",
		"4242 (tollgate) S 1 1 1 0 -1 4194560 100 0 0 0 x 37 0",
		"4242 (tollgate) S 1 1 1 0 -1 4194560 100 0 0 0 250 -3 0",
	} {
		if st, err := parseProcStat([]byte(in)); err == nil {
			t.Errorf("parseProcStat(%q) = %+v, want an error", in, st)
		}
	}
}

func TestProcCPUSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if _, err := procCPU(os.Getpid(), clockTicks()); err != nil {
		t.Fatal(err)
	}
	rss, err := procRSS(os.Getpid())
	if err != nil || rss <= 0 {
		t.Fatalf("procRSS = %d, %v", rss, err)
	}
}

func TestTicksToDuration(t *testing.T) {
	if got := ticksToDuration(250, 100); got != 2500*time.Millisecond {
		t.Errorf("250 ticks at 100 Hz = %v, want 2.5s", got)
	}
	if got := ticksToDuration(3, 1000); got != 3*time.Millisecond {
		t.Errorf("3 ticks at 1000 Hz = %v, want 3ms", got)
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\ttollgate\nVmPeak:\t  900 kB\nVmRSS:\t   18644 kB\nThreads:\t8\n"
	got, err := parseVmRSS([]byte(status))
	if err != nil || got != 18644*1024 {
		t.Errorf("parseVmRSS = %d, %v; want %d", got, err, 18644*1024)
	}
	for _, bad := range []string{"Name:\tx\n", "VmRSS:\t12 MB\n", "VmRSS:\tlots kB\n"} {
		if _, err := parseVmRSS([]byte(bad)); err == nil {
			t.Errorf("parseVmRSS(%q): want an error", bad)
		}
	}
}

func TestParseSystemBusy(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	stat := "cpu  100 5 50 9000 40 3 2 1 7 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"
	got, err := parseSystemBusy([]byte(stat))
	if err != nil || got != 161 {
		t.Errorf("parseSystemBusy = %d, %v; want 161", got, err)
	}
	if _, err := parseSystemBusy([]byte("intr 1 2 3\n")); err == nil {
		t.Error("want an error without a cpu line")
	}
}

func TestCPUModel(t *testing.T) {
	info := "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz\n"
	if got, want := cpuModel([]byte(info)), "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz"; got != want {
		t.Errorf("cpuModel = %q, want %q", got, want)
	}
	if got := cpuModel(nil); got != "unknown cpu" {
		t.Errorf("cpuModel(nil) = %q", got)
	}
}
