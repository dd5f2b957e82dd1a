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
	c, err := config.Load(config.RoleAPI, file, flags)
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
	_, err := config.Load(config.RoleAPI, file, nil)
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
	for _, role := range []config.Role{config.RoleAPI, config.RoleWorker, config.RoleGuestGateway} {
		_, err := config.Load(role, "coffer.example.yaml", nil)
		if err == nil || !strings.Contains(err.Error(), "config key codec_key") {
			t.Fatalf("%s: got %v, want the example to load and only miss a real codec key", role, err)
		}
	}
	t.Setenv("COFFER_CODEC_KEY", key)
	for _, role := range []config.Role{config.RoleAPI, config.RoleWorker, config.RoleGuestGateway, config.RoleMigrate} {
		if _, err := config.Load(role, "coffer.example.yaml", nil); err != nil {
			t.Fatalf("%s: example with a codec key: %v", role, err)
		}
	}
}

func TestEachRoleValidatesOnlyTheKeysItUses(t *testing.T) {
	// Only a catalog URL and a backup segment size that no worker would take.
	file := writeConfig(t, "catalog: {url: \"postgres://coffer:x@127.0.0.1:5432/coffer\"}\nbackup: {segment_size: 1}\n")
	for _, tc := range []struct {
		role     config.Role
		wantBad  []string // keys the error must name
		wantFine []string // keys the error must not name
	}{
		{config.RoleMigrate, nil, []string{"codec_key", "openstack.auth_url", "temporal.host_port", "backup.segment_size"}},
		{config.RoleGuestGateway, []string{"codec_key"}, []string{"openstack.auth_url", "backup.segment_size", "catalog.url"}},
		{config.RoleAPI, []string{"codec_key", "openstack.auth_url"}, []string{"backup.segment_size", "catalog.url"}},
		{config.RoleWorker, []string{"codec_key", "openstack.auth_url", "backup.segment_size"}, []string{"catalog.url"}},
	} {
		_, err := config.Load(tc.role, file, nil)
		if len(tc.wantBad) == 0 {
			if err != nil {
				t.Errorf("%s: got %v, want the catalog URL alone to be enough", tc.role, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: got no error, want %v named", tc.role, tc.wantBad)
			continue
		}
		for _, k := range tc.wantBad {
			if !strings.Contains(err.Error(), "config key "+k) {
				t.Errorf("%s: error %q does not name %s", tc.role, err, k)
			}
		}
		for _, k := range tc.wantFine {
			if strings.Contains(err.Error(), "config key "+k) {
				t.Errorf("%s: error %q names %s, which the role does not use", tc.role, err, k)
			}
		}
	}
}

func TestMigrateNeedsOnlyTheCatalogURL(t *testing.T) {
	_, err := config.Load(config.RoleMigrate, "", nil)
	if err == nil || !strings.Contains(err.Error(), "config key catalog.url") {
		t.Fatalf("migrate with nothing set: got %v, want catalog.url named", err)
	}
	t.Setenv("COFFER_CATALOG_URL", "postgres://coffer:x@127.0.0.1:5432/coffer")
	c, err := config.Load(config.RoleMigrate, "", nil)
	if err != nil || c.Catalog.URL != "postgres://coffer:x@127.0.0.1:5432/coffer" {
		t.Fatalf("migrate with COFFER_CATALOG_URL: got %q, %v", c.Catalog.URL, err)
	}
}

func TestEnvCarriesEveryKeyToAnotherProcess(t *testing.T) {
	want := config.Defaults()
	want.Catalog.URL = "postgres://coffer:x@127.0.0.1:5432/coffer"
	want.CodecKey = key
	want.OpenStack.AuthURL, want.OpenStack.Username, want.OpenStack.Password, want.OpenStack.ProjectName =
		"http://127.0.0.1:5000/identity/v3/", "coffer", "secret", "service"
	want.Guest.HealthInterval, want.Operations.ParkTimeout, want.Quotas.RAM = 2*time.Second, 45*time.Second, 4096
	for _, kv := range want.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	got, err := config.Load(config.RoleAPI, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("got %+v from Env, want %+v", got, want)
	}
}
