// Package machine is how the guest agent learns about the server it runs on, only as any
// OpenStack VM does: the config drive (label config-2) or else the metadata service for its
// identity, networks and user_data; /proc/meminfo, cgroup v2 limits and the CPU count for its
// size; its Cinder volume by serial under /dev/disk/by-id, formatted on first use, mounted
// and grown after an extend; its address from network_data.json or its interfaces.
//
// A hypervisor that runs servers as processes rather than VMs (the devcloud's) points the
// same code at a config-2 folder, a folder per volume and explicit sizes through Machine's
// fields (the agent's flags); nothing here knows which one it is.
package machine
