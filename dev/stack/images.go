package stack

import (
	"path/filepath"
	"strings"
)

// GuestImagesIn maps the guest images in dir, the folder `go tool task image` writes them
// to, by name: coffer-<datastore>-<version>.qcow2 is the image of the datastore version
// whose image tag (and image name in the devcloud's Glance) is coffer-<datastore>-<version>.
func GuestImagesIn(dir string) (map[string]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "coffer-*.qcow2"))
	if err != nil {
		return nil, err
	}
	images := map[string]string{}
	for _, f := range files {
		images[strings.TrimSuffix(filepath.Base(f), ".qcow2")] = f
	}
	return images, nil
}
