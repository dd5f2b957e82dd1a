package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/coffer-dbaas/coffer/catalog"
)

// cloud is what the API asks OpenStack, with the service's credentials, to check a request
// before anything is made: the flavor (Nova) and the datastore version's image (Glance).
type cloud struct {
	compute *gophercloud.ServiceClient
	image   *gophercloud.ServiceClient
}

// errNoSuchFlavor and errNoImage are answers, not failures: the request names something the
// cloud does not have.
var (
	errNoSuchFlavor = errors.New("no such flavor")
	errNoImage      = errors.New("no active image")
)

// flavorExists checks that Nova has the flavor.
func (c *cloud) flavorExists(ctx context.Context, id string) error {
	if _, err := flavors.Get(ctx, c.compute, pathSegment(id)).Extract(); err != nil {
		if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return errNoSuchFlavor
		}
		return unavailable("look flavor "+id+" up in Nova", err)
	}
	return nil
}

// imageByTag returns the ID of the newest active image carrying tag.
func (c *cloud) imageByTag(ctx context.Context, tag string) (string, error) {
	page, err := images.List(c.image, images.ListOpts{
		Tags: []string{tag}, Status: images.ImageStatusActive, Limit: 1, Sort: "created_at:desc",
	}).AllPages(ctx)
	if err != nil {
		return "", unavailable(fmt.Sprintf("look image tagged %s up in Glance", tag), err)
	}
	found, err := images.ExtractImages(page)
	if err != nil {
		return "", unavailable(fmt.Sprintf("read images tagged %s from Glance", tag), err)
	}
	if len(found) == 0 {
		return "", errNoImage
	}
	return found[0].ID, nil
}

// pathSegment escapes an ID for the URL path gophercloud builds with it: gophercloud's
// ServiceURL joins its parts unescaped, so an ID holding '/', '?' or '#' would otherwise
// address another resource, with the service's token. IDs from clients are checked
// (coffer.ValidCloudID) before they get here, which also refuses "." and "..".
func pathSegment(id string) string { return url.PathEscape(id) }

// imageActive checks that Glance has the image, active.
func (c *cloud) imageActive(ctx context.Context, id string) error {
	img, err := images.Get(ctx, c.image, pathSegment(id)).Extract()
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return errNoImage
	}
	if err != nil {
		return unavailable("look image "+id+" up in Glance", err)
	}
	if img.Status != images.ImageStatusActive {
		return errNoImage
	}
	return nil
}

// versionImage is the image a datastore version boots: the one it names by ID (which must
// be active), else the newest active image with its tag. errNoImage when there is none.
func (c *cloud) versionImage(ctx context.Context, imageID, tag string) (string, error) {
	if imageID != "" {
		if err := c.imageActive(ctx, imageID); err != nil {
			return "", err
		}
		return imageID, nil
	}
	return c.imageByTag(ctx, tag)
}

// imageOf names a datastore version's image in messages: by ID, or by tag.
func imageOf(dv catalog.DatastoreVersion) string {
	if dv.ImageID != "" {
		return dv.ImageID
	}
	return "tagged " + dv.ImageTag
}
