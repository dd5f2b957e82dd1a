// Package devcloud is a small OpenStack-compatible cloud that runs on one machine.
//
// It speaks the real HTTP APIs of Keystone v3, Nova v2.1, Cinder v3, Neutron v2.0, Glance v2
// and Swift v1 on one loopback listener, so that Coffer's control plane talks to it through
// gophercloud exactly as it talks to a real OpenStack: only the Keystone URL and the
// credentials differ. State lives in a folder (Config.DataDir): resource records in
// state.json, volumes as folders, Swift objects as files, and one folder per server with its
// config drive and console log.
//
// The "hypervisor" boots a server by starting a local process (Config.Hypervisor.Command,
// normally `coffer guestagent`) with flags that present what a VM would have: the server's
// config-2 folder (the standard files only, see package configdrive), the folder of volume
// folders in place of block devices and their sizes, and the flavor's RAM and CPUs. Each
// server gets its own address from 127.0.0.0/8, so every engine can listen on its standard
// port; a running cloud leases its /16 (network_lease.go), so that several clouds on one
// machine never share an address. The devcloud binary (dev/cmd/devcloud) runs a cloud alone;
// coffer-dev runs one in-process.
//
// Services are mounted under one listener:
//
//	/identity/v3                       Keystone
//	/compute/v2.1                      Nova
//	/volume/v3/{project_id}            Cinder
//	/network/v2.0                      Neutron
//	/image/v2                          Glance
//	/object-store/v1/AUTH_{project_id} Swift
//	/devcloud                          fault injection and crash simulation (admin role)
//
// Every route has a service and an operation name (for example "volume" and "volume.create")
// that fault rules match on; see Fault.
package devcloud
