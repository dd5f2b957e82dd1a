package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/coffer-dbaas/coffer/config"
)

const key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "coffer.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const minimal = `
catalog: {url: "postgres://coffer:x@127.0.0.1:5432/coffer"}
openstack: {auth_url: "http://127.0.0.1:5000/identity/v3/", username: coffer, password: coffer, project_name: service}
codec_key: ` + key + "\n"

func TestLoadLayersFileEnvAndFlagsOverDefaults(t *testing.T) {
	file := writeConfig(t, minimal+"api: {listen: 127.0.0.1:9000}\n")
	t.Setenv("COFFER_API_MAX_VOLUME_SIZE", "7")
	t.Setenv("COFFER_GUEST_START_TIMEOUT", "90s")
	flags := pflag.NewFlagSet("t", pflag.ContinueOnError)
	flags.String("temporal-host-port", "", "")
	if err := flags.Parse([]string{"--temporal-host-port=127.0.0.1:7999"}); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(file, flags)
	if err != nil {
		t.Fatal(err)
	}
	if c.API.Listen != "127.0.0.1:9000" || c.API.MaxVolumeSize != 7 || c.Guest.StartTimeout != 90*time.Second ||
		c.Temporal.HostPort != "127.0.0.1:7999" || c.Temporal.Namespace != "default" || c.OpenStack.Network != "private" {
		t.Fatalf("got %+v, want file, env, flag and default values layered", c)
	}
}

func TestValidateNamesTheBadKeys(t *testing.T) {
	file := writeConfig(t, "api: {max_volume_size: 0}\ncodec_key: c2hvcnQ=\nlog: {level: loud}\n")
	_, err := config.Load(file, nil)
	if err == nil {
		t.Fatal("got no error, want the bad keys named")
	}
	for _, k := range []string{"catalog.url", "api.max_volume_size", "openstack.auth_url", "codec_key", "log.level"} {
		if !strings.Contains(err.Error(), "config key "+k) {
			t.Errorf("error %q does not name %s", err, k)
		}
	}
	if strings.Contains(err.Error(), "c2hvcnQ=") {
		t.Errorf("error %q shows the codec key", err)
	}
}

func TestExampleConfigIsCompleteButForItsSecrets(t *testing.T) {
	_, err := config.Load("coffer.example.yaml", nil)
	if err == nil || !strings.Contains(err.Error(), "config key codec_key") {
		t.Fatalf("got %v, want the example to load and only miss a real codec key", err)
	}
	t.Setenv("COFFER_CODEC_KEY", key)
	if _, err := config.Load("coffer.example.yaml", nil); err != nil {
		t.Fatalf("example with a codec key: %v", err)
	}
}
