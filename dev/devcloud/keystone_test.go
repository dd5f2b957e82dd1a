package devcloud_test

import (
	"context"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
)

func TestPasswordAuthGivesScopedTokenWithCatalog(t *testing.T) {
	tc := startCloud(t)
	id := tc.identity("demo")
	tok, err := tokens.Get(context.Background(), id, id.TokenID).ExtractToken()
	if err != nil {
		t.Fatal(err)
	}
	if tok.ID == "" {
		t.Fatal("token has no ID")
	}
}
