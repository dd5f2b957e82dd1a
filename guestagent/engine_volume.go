package guestagent

import (
	"context"
	"fmt"

	"github.com/coffer-dbaas/coffer/guest"
)

// DataVolume gives a driver the Driver's volume methods over its instance's data volume:
// a driver embeds it, so no engine repeats them.
type DataVolume struct {
	Data Volume
}

// GrowFilesystem grows the data volume's filesystem to sizeGB (see Volume).
func (v DataVolume) GrowFilesystem(ctx context.Context, sizeGB int) error {
	if sizeGB < 1 {
		return fmt.Errorf("grow filesystem to %d GiB: %w: the size must be positive", sizeGB, ErrInvalid)
	}
	return v.Data.Grow(ctx, sizeGB)
}

// VolumeUsage reports the data volume's size and use.
func (v DataVolume) VolumeUsage(ctx context.Context) (guest.VolumeUsage, error) {
	return v.Data.Usage(ctx)
}
