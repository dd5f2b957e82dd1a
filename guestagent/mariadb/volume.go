package mariadb

import (
	"context"
	"fmt"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

// GrowFilesystem grows the data volume's filesystem to sizeGB (see guestagent.Volume).
func (d *Driver) GrowFilesystem(ctx context.Context, sizeGB int) error {
	if sizeGB < 1 {
		return fmt.Errorf("grow filesystem to %d GiB: %w: the size must be positive", sizeGB, guestagent.ErrInvalid)
	}
	return d.data.Grow(ctx, sizeGB)
}

// VolumeUsage reports the data volume's size and use.
func (d *Driver) VolumeUsage(ctx context.Context) (guest.VolumeUsage, error) {
	return d.data.Usage(ctx)
}
