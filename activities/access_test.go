package activities_test

import (
	"context"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"

	"github.com/coffer-dbaas/coffer/activities"
)

// TestAccessRulesFollowTheAllowedCIDRs: the group's rules for the engine's port are one
// per allowed source (0.0.0.0/0 when none), at create and after each change, retried or not.
func TestAccessRulesFollowTheAllowedCIDRs(t *testing.T) {
	c := startCloud(t, sleeper...)
	a := c.acts
	id := uuid.NewString()
	sources := func(group string) []string {
		t.Helper()
		g, err := groups.Get(context.Background(), a.Network, group).Extract()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range g.Rules {
			if r.Direction == "ingress" && r.Protocol == "tcp" && r.PortRangeMin == 5432 && r.PortRangeMax == 5432 {
				got = append(got, r.RemoteIPPrefix)
			}
		}
		slices.Sort(got)
		return got
	}

	var group string
	in := activities.CreateSecurityGroupInput{InstanceID: id, Port: 5432, AllowedCIDRs: []string{"10.1.0.0/16"}}
	c.must(&group, a.CreateSecurityGroup, in)
	c.must(&group, a.CreateSecurityGroup, in)
	if got := sources(group); !slices.Equal(got, []string{"10.1.0.0/16"}) {
		t.Fatalf("sources after create: got %v, want [10.1.0.0/16]", got)
	}
	for _, tc := range []struct {
		cidrs, want []string
	}{
		{[]string{"192.0.2.0/24", "198.51.100.7/32", "2001:db8::/32"}, []string{"192.0.2.0/24", "198.51.100.7/32", "2001:db8::/32"}},
		{nil, []string{"0.0.0.0/0"}},
		{[]string{"10.1.0.0/16"}, []string{"10.1.0.0/16"}},
	} {
		set := activities.SetAccessRulesInput{InstanceID: id, SecurityGroupID: group, Port: 5432, AllowedCIDRs: tc.cidrs}
		c.must(nil, a.SetAccessRules, set)
		c.must(nil, a.SetAccessRules, set)
		if got := sources(group); !slices.Equal(got, tc.want) {
			t.Errorf("sources after SetAccessRules(%v): got %v, want %v", tc.cidrs, got, tc.want)
		}
	}
	c.must(nil, a.DeleteSecurityGroup, activities.ResourceRef{InstanceID: id, ID: group})
}
