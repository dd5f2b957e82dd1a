package api

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/danielgtaylor/huma/v2"
)

// TestListJSONIsEncodingJSONs checks that the list of instances, which appends its own JSON
// (listjson.go), writes exactly the bytes huma's JSON format (encoding/json, HTML escaping
// off) would: for the usual shapes, for every optional field set or not, and for strings
// with every kind of character encoding/json escapes.
func TestListJSONIsEncodingJSONs(t *testing.T) {
	strs := []string{
		"", "plain", `quote " and \ backslash`, "<html> & 'amp'", "ctl \x00\x01\b\f\n\r\t\x1f\x7f",
		"utf8 é ß 日本 🙂", "bad \xff\xfe utf8 \xc3", "sep \u2028 and \u2029", "/v1.0/p/instances?limit=20&marker=x",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	str := func() string { return strs[rng.IntN(len(strs))] }
	links := func() []Link {
		switch rng.IntN(4) {
		case 0:
			return nil
		case 1:
			return []Link{}
		}
		ls := make([]Link, 1+rng.IntN(3))
		for i := range ls {
			ls[i] = Link{Href: str(), Rel: str()}
		}
		return ls
	}
	strings := func() []string {
		switch rng.IntN(3) {
		case 0:
			return nil
		case 1:
			return []string{}
		}
		return []string{str(), str()}
	}
	view := func() InstanceView {
		v := InstanceView{
			ID: str(), Name: str(), Status: str(), OperatingStatus: str(), Links: links(),
			Flavor: FlavorView{ID: str(), Links: links()}, Datastore: DatastoreView{Type: str(), Version: str()},
			Region: str(), Volume: VolumeView{Size: rng.IntN(2000) - 10}, IP: strings(),
			Created: str(), Updated: str(), ServiceStatusUpdated: str(),
		}
		if rng.IntN(2) == 0 {
			v.Addresses = []AddressView{{Address: str(), Type: str()}}
		}
		if rng.IntN(3) > 0 {
			v.Access = &AccessView{IsPublic: rng.IntN(2) == 0, AllowedCIDRs: strings()}
		}
		// The rare fields, which go through encoding/json.
		switch rng.IntN(8) {
		case 0:
			used := rng.Float64() * 10
			v.Volume.Used = &used
		case 1:
			v.Fault = &FaultView{Message: str(), Created: str(), Details: str()}
		case 2:
			v.ReplicaOf = &ReplicaRef{ID: str(), Links: links()}
		case 3:
			v.Replicas = []ReplicaRef{{ID: str(), Links: links()}}
		case 4:
			v.ReplicationLag = &ReplicationLagView{Bytes: rng.Int64(), Seconds: rng.Float64() * 1e6, Updated: str()}
		case 5:
			v.Configuration = &ConfigurationRef{ID: str(), Name: str(), Links: links()}
		}
		return v
	}
	bodies := []InstanceListResponseBody{{}, {Instances: []InstanceView{}}}
	for range 2000 {
		b := InstanceListResponseBody{Links: links(), InstancesLinks: links()}
		if rng.IntN(10) > 0 {
			b.Instances = make([]InstanceView, rng.IntN(4))
			for i := range b.Instances {
				b.Instances[i] = view()
			}
		}
		bodies = append(bodies, b)
	}
	for i, b := range bodies {
		var want, got bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(b); err != nil {
			t.Fatal(err)
		}
		if err := troveJSON.Marshal(&got, b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("body %d:\n got %s\nwant %s", i, got.Bytes(), want.Bytes())
		}
	}
}

// BenchmarkListJSON encodes a default page (20 instances) of a list, the way the API does.
func BenchmarkListJSON(b *testing.B) {
	body := InstanceListResponseBody{Instances: make([]InstanceView, 20)}
	for i := range body.Instances {
		body.Instances[i] = InstanceView{
			ID: "8c1f2e4a-3b5d-4f6e-9a7b-0c1d2e3f4a5b", Name: "list-0001", Status: "ACTIVE", OperatingStatus: "HEALTHY",
			Links: []Link{{Href: "http://127.0.0.1:8779/v1.0/0123456789abcdef0123456789abcdef/instances/8c1f2e4a-3b5d-4f6e-9a7b-0c1d2e3f4a5b", Rel: "self"},
				{Href: "http://127.0.0.1:8779/instances/8c1f2e4a-3b5d-4f6e-9a7b-0c1d2e3f4a5b", Rel: "bookmark"}},
			Flavor: FlavorView{ID: "ds2G", Links: []Link{{Href: "http://127.0.0.1:8779/v1.0/0123456789abcdef0123456789abcdef/flavors/ds2G", Rel: "self"},
				{Href: "http://127.0.0.1:8779/flavors/ds2G", Rel: "bookmark"}}},
			Datastore: DatastoreView{Type: "postgresql", Version: "15"}, Region: "RegionOne", Volume: VolumeView{Size: 1},
			IP: []string{"10.99.0.1"}, Addresses: []AddressView{{Address: "10.99.0.1", Type: "private"}},
			Access: &AccessView{AllowedCIDRs: []string{}},
		}
	}
	for _, c := range []struct {
		name string
		f    huma.Format
	}{{"encoding-json", huma.DefaultJSONFormat}, {"appended", troveJSON}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.f.Marshal(io.Discard, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
