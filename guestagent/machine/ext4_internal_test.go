package machine

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestExt4SizeIsTheFilesystemsWholeSizeNotStatfsBlocks(t *testing.T) {
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip(err)
	}
	for _, gibs := range []int64{1, 2} {
		img := filepath.Join(t.TempDir(), "disk.raw")
		if err := os.WriteFile(img, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(img, gibs*gib); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput(); err != nil {
			t.Fatalf("mkfs.ext4: %v: %s", err, out)
		}
		got, err := ext4Size(img)
		if err != nil || got != gibs*gib {
			t.Errorf("ext4Size of a %d GiB filesystem: got %d, %v; want %d", gibs, got, err, gibs*gib)
		}
	}
	if _, err := ext4Size(os.Args[0]); err == nil {
		t.Error("ext4Size of a program: got no error, want no superblock")
	}
}
