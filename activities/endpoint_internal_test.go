package activities

import "testing"

func TestGuestEndpointPutsTheGuestsHostInTheSwiftURL(t *testing.T) {
	const swift = "http://127.0.0.1:5000/object-store/v1/AUTH_p1/"
	for _, tc := range []struct{ hostPort, want string }{
		{"", swift},
		{"10.0.2.2:5000", "http://10.0.2.2:5000/object-store/v1/AUTH_p1/"},
	} {
		if got := guestEndpoint(swift, tc.hostPort); got != tc.want {
			t.Errorf("guestEndpoint(%q, %q): got %q, want %q", swift, tc.hostPort, got, tc.want)
		}
	}
}
