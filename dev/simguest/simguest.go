// Package simguest is SIMULATION ONLY: a stand-in server and engine for the real guest agent
// (guestagent.Agent), so that one process can run a thousand light guests for the idle-scale
// simulation (dev/cmd/simidle). The agent's own code runs unchanged (enrolment with the
// guest gateway, its health reporter, its Temporal worker polling through the gateway);
// only what it asks of the machine and of the engine is answered here, from memory. No
// production binary imports this package: cmd/coffer's agent knows real drivers only.
package simguest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/configdrive"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

// Datastore is the datastore name the stand-in driver answers for; a simulated guest's
// user_data names it, so that no real engine's driver could be picked by mistake.
const Datastore = "simulation"

// errSimulation is every answer of the stand-in engine to what a real engine would do: the
// simulation measures idle guests, which are never asked.
var errSimulation = fmt.Errorf("simguest: a simulated engine does not do that: %w", guestagent.ErrInvalid)

// Server is a simulated server: its user_data is the agent's guest.Config, its address and
// size fixed, its data volume a stand-in that reports a fixed usage.
type Server struct {
	Config guest.Config
	// ServerID is the server's UUID in its metadata.
	ServerID string
	IP       string
}

var _ guestagent.Server = (*Server)(nil)

// Metadata is the config drive a hypervisor would give the server.
func (s *Server) Metadata(context.Context) (configdrive.Drive, error) {
	userData, err := json.Marshal(s.Config)
	if err != nil {
		return configdrive.Drive{}, err
	}
	return configdrive.Drive{
		MetaData: configdrive.MetaData{UUID: s.ServerID, Name: "sim-" + s.Config.InstanceID, Hostname: "sim"},
		UserData: userData,
	}, nil
}

// Address is the server's fixed address.
func (s *Server) Address(configdrive.Drive) (string, error) { return s.IP, nil }

// Size is a small flavor's.
func (s *Server) Size() (int, int, error) { return 1024, 1, nil }

// DataVolume is a stand-in volume: nothing is mounted.
func (s *Server) DataVolume(context.Context, string) (guestagent.Volume, error) {
	return volume{}, nil
}

// volume is the stand-in data volume: 10 GB, a quarter used.
type volume struct{}

func (volume) Path() string { return "/nonexistent/simguest" }
func (volume) Usage(context.Context) (guest.VolumeUsage, error) {
	return guest.VolumeUsage{SizeGB: 10, UsedGB: 2.5}, nil
}
func (volume) Grow(context.Context, int) error { return errSimulation }

// NewDriver is the stand-in engine's guestagent.NewDriver: an engine that is always HEALTHY
// and does nothing else.
func NewDriver(guest.Config, guestagent.Host) (guestagent.Driver, error) { return Driver{}, nil }

// Driver is the stand-in engine: Health answers HEALTHY and VolumeUsage the stand-in
// volume's; Start and Stop succeed; every other operation fails as invalid.
type Driver struct{}

var _ guestagent.Driver = Driver{}

func (Driver) Health(context.Context) guest.HealthReport {
	return guest.HealthReport{Status: coffer.ServiceHealthy, At: time.Now().UTC()}
}
func (Driver) VolumeUsage(ctx context.Context) (guest.VolumeUsage, error) {
	return volume{}.Usage(ctx)
}
func (Driver) Start(context.Context) error { return nil }
func (Driver) Stop(context.Context) error  { return nil }

func (Driver) Prepare(context.Context, guest.PrepareInput) error           { return errSimulation }
func (Driver) CreateDatabases(context.Context, []coffer.Database) error    { return errSimulation }
func (Driver) CreateUsers(context.Context, []coffer.User) error            { return errSimulation }
func (Driver) GrowFilesystem(context.Context, int) error                   { return errSimulation }
func (Driver) ListDatabases(context.Context) ([]coffer.Database, error)    { return nil, errSimulation }
func (Driver) DeleteDatabase(context.Context, string) error                { return errSimulation }
func (Driver) ListUsers(context.Context) ([]guest.UserInfo, error)         { return nil, errSimulation }
func (Driver) UpdateUser(context.Context, guest.UpdateUserInput) error     { return errSimulation }
func (Driver) DeleteUser(context.Context, guest.UserRef) error             { return errSimulation }
func (Driver) ChangePasswords(context.Context, []coffer.User) error        { return errSimulation }
func (Driver) GrantAccess(context.Context, guest.AccessInput) error        { return errSimulation }
func (Driver) RevokeAccess(context.Context, guest.AccessInput) error       { return errSimulation }
func (Driver) ListAccess(context.Context, guest.UserRef) ([]string, error) { return nil, errSimulation }
func (Driver) EnableRoot(context.Context, string) error                    { return errSimulation }
func (Driver) DisableRoot(context.Context) error                           { return errSimulation }
func (Driver) RootEnabled(context.Context) (bool, error)                   { return false, errSimulation }
func (Driver) Backup(context.Context, io.Writer) error                     { return errSimulation }
func (Driver) Restore(context.Context, func(io.Writer) error) error        { return errSimulation }
func (Driver) Logs(context.Context) ([]guestagent.EngineLog, error)        { return nil, errSimulation }
func (Driver) SetLog(context.Context, string, bool) error                  { return errSimulation }
func (Driver) GetUser(context.Context, guest.UserRef) (guest.UserInfo, error) {
	return guest.UserInfo{}, errSimulation
}
func (Driver) ApplyConfiguration(context.Context, map[string]string) ([]string, error) {
	return nil, errSimulation
}
func (Driver) Configuration(context.Context) (map[string]string, error) { return nil, errSimulation }

// Agent is the real guest agent with the stand-in engine as its only driver, keeping its
// credential in stateDir.
func Agent(stateDir string) guestagent.Agent {
	return guestagent.Agent{Drivers: map[string]guestagent.NewDriver{Datastore: NewDriver}, StateDir: stateDir}
}
