package guestagent

import (
	"os"
	"path/filepath"
	"runtime/pprof"
)

// startBackupProfile writes a CPU profile of one backup into the folder named by
// COFFER_BACKUP_CPUPROFILE, when the agent runs as a devcloud server (DEVCLOUD_SERVER is
// set): a measuring aid for the backup bench (where the agent inherits the test's
// environment), never active on a real guest. A profile that cannot start is skipped.
func startBackupProfile(backupID string) (stop func()) {
	dir := os.Getenv("COFFER_BACKUP_CPUPROFILE")
	if dir == "" || os.Getenv("DEVCLOUD_SERVER") == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, "backup-"+backupID+".pprof"))
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
