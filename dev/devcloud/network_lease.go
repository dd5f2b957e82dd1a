package devcloud

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Every engine listens on its standard port on its server's address, so two clouds on one
// machine that handed out the same address would give two servers the same address:port.
// A cloud therefore leases, for as long as it runs, each /16 of 127.0.0.0/8 its network
// covers: it holds an exclusive flock on a file named for the /16 in a folder every cloud on
// the machine shares (leaseDir). The kernel drops the lock when the process ends, however it
// ends, so a lease never outlives its cloud. The file also names the data folder of its last
// holder: a cloud that picks its own /16 (network.cidr unset) leaves one alone while that
// folder still exists, so a persistent stack such as coffer-dev's .data finds its range free
// at its next start, while a test's folder frees its range when the test removes it.

// autoNetworkFirst and autoNetworkLast bound the /16s a cloud picks from (127.10.0.0/16 to
// 127.254.0.0/16); 127.0.0.0/16 holds the machine's own 127.0.0.1.
const (
	autoNetworkFirst = 10
	autoNetworkLast  = 254
)

// networkLease is a running cloud's hold on its /16s; release gives them up.
type networkLease struct {
	files []*os.File
}

// leaseDir is the folder the leases of every cloud on the machine live in.
func leaseDir() string { return filepath.Join(os.TempDir(), "coffer-devcloud-networks") }

// leaseFile is the lease of the /16 whose second octet is b.
func leaseFile(b byte) string { return filepath.Join(leaseDir(), fmt.Sprintf("127.%d.0.0-16", b)) }

// sixteens lists the second octets of the /16s prefix covers.
func sixteens(prefix netip.Prefix) []byte {
	a := prefix.Masked().Addr().As4()
	if prefix.Bits() >= 16 {
		return []byte{a[1]}
	}
	n := 1 << (16 - prefix.Bits())
	out := make([]byte, 0, n)
	for i := range n {
		out = append(out, a[1]+byte(i))
	}
	return out
}

// leaseNetwork leases every /16 prefix covers for the cloud whose state is in dataDir. It
// fails, naming the holder, when another running cloud holds one of them.
func leaseNetwork(prefix netip.Prefix, dataDir string) (*networkLease, error) {
	l := &networkLease{}
	for _, b := range sixteens(prefix) {
		f, holder, err := lockSixteen(b, dataDir)
		if err != nil {
			l.release()
			return nil, err
		}
		if f == nil {
			l.release()
			return nil, fmt.Errorf("network %s: 127.%d.0.0/16 is in use by another running devcloud (%s); "+
				"stop it, or give this cloud another network.cidr (for a new data_dir; a data_dir keeps the network it was made with)", prefix, b, holder)
		}
		l.files = append(l.files, f)
	}
	return l, nil
}

// leaseFreeNetwork leases the first /16 from 127.10.0.0/16 up that no running cloud holds
// and whose last holder's data folder is gone (or is dataDir).
func leaseFreeNetwork(dataDir string) (netip.Prefix, *networkLease, error) {
	for b := autoNetworkFirst; b <= autoNetworkLast; b++ {
		if last := lastHolder(byte(b)); last != "" && last != dataDir {
			if _, err := os.Stat(last); err == nil {
				continue // kept for the cloud whose state is there
			}
		}
		f, _, err := lockSixteen(byte(b), dataDir)
		if err != nil {
			return netip.Prefix{}, nil, err
		}
		if f == nil {
			continue
		}
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{127, byte(b), 0, 0}), 16), &networkLease{files: []*os.File{f}}, nil
	}
	return netip.Prefix{}, nil, fmt.Errorf("no free /16 in 127.%d.0.0-127.%d.255.255: every one is held by a running devcloud or kept for a data folder listed in %s",
		autoNetworkFirst, autoNetworkLast, leaseDir())
}

// lockSixteen takes the lease file of 127.b.0.0/16 and writes dataDir into it. When another
// process holds it, it returns a nil file and what that holder wrote.
func lockSixteen(b byte, dataDir string) (*os.File, string, error) {
	dir := leaseDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("network lease folder: %w", err)
	}
	// Every user's clouds share the folder, as they share the loopback addresses.
	_ = os.Chmod(dir, os.ModeSticky|0o777)
	f, err := os.OpenFile(leaseFile(b), os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, "", fmt.Errorf("network lease: %w", err)
	}
	_ = f.Chmod(0o666)
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "pid and data_dir unknown"
			if b, err := os.ReadFile(leaseFile(b)); err == nil && len(b) > 0 {
				holder = strings.Join(strings.Fields(string(b)), " ")
			}
			return nil, holder, nil
		}
		return nil, "", fmt.Errorf("network lease 127.%d.0.0/16: %w", b, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(fmt.Appendf(nil, "data_dir %s\npid %d\n", dataDir, os.Getpid()), 0)
		if err != nil {
			f.Close()
			return nil, "", fmt.Errorf("network lease 127.%d.0.0/16: %w", b, err)
		}
	}
	return f, "", nil
}

// lastHolder is the data folder written in the lease file of 127.b.0.0/16, if any.
func lastHolder(b byte) string {
	f, err := os.Open(leaseFile(b))
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if dir, ok := strings.CutPrefix(sc.Text(), "data_dir "); ok {
			return dir
		}
	}
	return ""
}

// release gives up every /16 of the lease; the files stay, naming their last holder.
func (l *networkLease) release() {
	if l == nil {
		return
	}
	for _, f := range l.files {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
	l.files = nil
}
