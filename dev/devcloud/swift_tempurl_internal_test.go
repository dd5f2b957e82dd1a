package devcloud

import "testing"

// The signatures below were computed outside Go, with Python's hmac module as Swift's
// documentation does (hmac.new(key, body, sha256).hexdigest(), ...), key "MYKEY".
func TestTempURLSignaturesInSwiftsForms(t *testing.T) {
	const prefixBody = "GET\n1323479485\nprefix:/v1/AUTH_p/backups/backups/abc"
	for _, tt := range []struct {
		name, sig, body string
		want            bool
	}{
		{"hex sha256 over a prefix", "c67942aa0b18e8d416a76cae5de33eba239352837e79221351a760f675ee327d", prefixBody, true},
		{"hex sha1 over a prefix", "4f4709a91ccfb09c169ca90ca780491a98646104", prefixBody, true},
		{"base64 sha512 over a prefix", "sha512:vRBZm98i8XcaByOWMXtk-ph-3kxwoWxJHIWg75C_0iU6nukm3AYNMcfsH8UraAsPRaPe8DX-xE7SkrMcve22MQ", prefixBody, true},
		{"hex sha1 over an object", "8a47e85fbd6f2547536095228c3b64a715d4fdbc", "PUT\n1323479485\n/v1/AUTH_p/c/o", true},
		{"another method", "c67942aa0b18e8d416a76cae5de33eba239352837e79221351a760f675ee327d", "PUT\n1323479485\nprefix:/v1/AUTH_p/backups/backups/abc", false},
		{"another expiry", "c67942aa0b18e8d416a76cae5de33eba239352837e79221351a760f675ee327d", "GET\n1323479486\nprefix:/v1/AUTH_p/backups/backups/abc", false},
		{"another prefix", "c67942aa0b18e8d416a76cae5de33eba239352837e79221351a760f675ee327d", "GET\n1323479485\nprefix:/v1/AUTH_p/backups/backups/", false},
		{"a truncated signature", "c67942aa0b18e8d416a76cae5de33eba239352837e79221351a760f675ee32", prefixBody, false},
		{"an unknown digest", "md5:xyz", prefixBody, false},
		{"no signature", "", prefixBody, false},
	} {
		if got := validTempURLSignature(tt.sig, "MYKEY", tt.body); got != tt.want {
			t.Errorf("%s: valid = %v, want %v", tt.name, got, tt.want)
		}
	}
}
